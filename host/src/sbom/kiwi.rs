//! KIWI's `<name>.<arch>-<version>.packages` list.

use super::InstalledPackage;

/// The `.packages` text as KIWI writes it for deb roots:
/// `name|None|version|None|arch|None|None`, lines sorted, newline-terminated.
pub fn deb_packages_list(packages: &[InstalledPackage]) -> String {
    let mut lines: Vec<String> = packages
        .iter()
        .map(|p| format!("{}|None|{}|None|{}|None|None", p.name, p.version, p.arch))
        .collect();
    lines.sort();
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
