//! KIWI's `<name>.<arch>-<version>.packages` list.

use super::{InstalledPackage, PackageKind};

/// The `.packages` text as KIWI writes it, lines sorted, newline-terminated:
/// `name|None|version|None|arch|None|None` for deb roots,
/// `name|epoch|version|release|arch|disturl|license` for rpm roots (unset
/// fields `None`).
pub fn packages_list(packages: &[InstalledPackage]) -> String {
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "None".into());
    let mut lines: Vec<String> = packages
        .iter()
        .map(|p| match &p.kind {
            PackageKind::Deb => {
                format!("{}|None|{}|None|{}|None|None", p.name, p.version, p.arch)
            }
            PackageKind::Rpm {
                epoch,
                version,
                release,
                disturl,
            } => format!(
                "{}|{}|{version}|{release}|{}|{}|{}",
                p.name,
                or_none(epoch),
                p.arch,
                or_none(disturl),
                or_none(&p.license)
            ),
        })
        .collect();
    lines.sort();
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
