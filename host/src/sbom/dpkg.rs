//! Installed packages of a Debian-family root, read from dpkg's database
//! (`var/lib/dpkg/status`), with licenses from the packages' DEP-5 copyright
//! files and package checksums from apt's indexes when they are still there.

use std::collections::HashMap;
use std::io;

use super::{licenses, read_text, InstalledPackage};
use crate::rootfs::RootTree;

/// One deb822 paragraph: field names (as written) to values (continuation
/// lines joined with newlines).
pub type Paragraph = Vec<(String, String)>;

/// Split deb822 text (dpkg status, apt `Packages` indexes) into paragraphs.
pub fn paragraphs(text: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current: Paragraph = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn field<'a>(paragraph: &'a Paragraph, name: &str) -> Option<&'a str> {
    paragraph
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The packages dpkg considers installed in `root`, sorted by name and arch.
/// A package whose digest apt's indexes no longer give takes it from
/// `digests` (read by [`index_digests`] before the cleanup).
pub fn installed_packages(
    root: &RootTree,
    digests: &super::PackageDigests,
) -> io::Result<Vec<InstalledPackage>> {
    let status = read_text(root, "var/lib/dpkg/status")?;
    let checksums = apt_index_checksums(root);
    let mut packages = Vec::new();
    for p in paragraphs(&status) {
        let Some((name, version, arch)) = installed(&p) else {
            continue;
        };
        let id = (name.to_string(), version.to_string(), arch.to_string());
        let sha256 = checksums.get(&id).or_else(|| digests.get(&id)).cloned();
        let source = field(&p, "Source")
            .map(|s| s.split_whitespace().next().unwrap_or(s).to_string())
            .filter(|s| s != name);
        packages.push(InstalledPackage {
            name: id.0,
            version: id.1,
            arch: id.2,
            source,
            supplier: field(&p, "Maintainer").map(str::to_string),
            homepage: field(&p, "Homepage").map(str::to_string),
            summary: field(&p, "Description").map(|d| d.lines().next().unwrap_or("").to_string()),
            license: copyright_license(root, name),
            sha256,
            kind: super::PackageKind::Deb,
        });
    }
    packages.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    Ok(packages)
}

/// Name, version and architecture of a status paragraph dpkg considers
/// installed.
fn installed(p: &Paragraph) -> Option<(&str, &str, &str)> {
    let status = field(p, "Status")?;
    if !status.ends_with(" installed") {
        return None;
    }
    Some((
        field(p, "Package")?,
        field(p, "Version")?,
        field(p, "Architecture").unwrap_or("all"),
    ))
}

/// The installed packages' file digests from apt's indexes in `root`, read
/// before the cleanup empties the lists: the status file joined with the
/// indexes, nothing else read.
pub fn index_digests(root: &RootTree) -> io::Result<super::PackageDigests> {
    Ok(installed_from_indexes(root)?
        .into_iter()
        .filter_map(|(id, entry)| Some((id, entry?.sha256)))
        .collect())
}

/// Where apt's indexes list a package: its file's digest, and the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Lower-case hex SHA-256 of the package file.
    pub sha256: String,
    /// The index's file name in `/var/lib/apt/lists` (which names the
    /// repository it came from).
    pub index: String,
}

/// The packages dpkg considers installed in `root`, each with where apt's
/// indexes list it (while the lists are still there), in status order.
pub fn installed_from_indexes(
    root: &RootTree,
) -> io::Result<Vec<(super::PackageId, Option<IndexEntry>)>> {
    let status = read_text(root, "var/lib/dpkg/status")?;
    let mut entries = apt_index_entries(root);
    Ok(paragraphs(&status)
        .iter()
        .filter_map(installed)
        .map(|(name, version, arch)| {
            let id = (name.to_string(), version.to_string(), arch.to_string());
            let entry = entries.remove(&id);
            (id, entry)
        })
        .collect())
}

/// The SPDX expression of a package's DEP-5 copyright file, if it has one.
fn copyright_license(root: &RootTree, package: &str) -> Option<String> {
    let text = read_text(root, &format!("usr/share/doc/{package}/copyright")).ok()?;
    licenses::from_dep5(&text)
}

/// `(name, version, arch) -> SHA256` from apt's `*_Packages` indexes in the
/// root, when apt's lists have not been cleaned up yet.
fn apt_index_checksums(root: &RootTree) -> HashMap<(String, String, String), String> {
    apt_index_entries(root)
        .into_iter()
        .map(|(id, entry)| (id, entry.sha256))
        .collect()
}

/// `(name, version, arch) -> (SHA256, index)` from apt's `*_Packages`
/// indexes in the root.
fn apt_index_entries(root: &RootTree) -> HashMap<(String, String, String), IndexEntry> {
    let mut map = HashMap::new();
    let Ok(mut walk) = root.walk("var/lib/apt/lists") else {
        return map;
    };
    let mut indexes = Vec::new();
    while let Ok(batch) = walk.next_batch(256) {
        if batch.is_empty() {
            break;
        }
        indexes.extend(
            batch
                .into_iter()
                .map(|e| e.path)
                .filter(|p| p.ends_with("_Packages")),
        );
    }
    for index in indexes {
        let Ok(text) = read_text(root, &index) else {
            continue;
        };
        for p in paragraphs(&text) {
            if let (Some(n), Some(v), Some(a), Some(sha)) = (
                field(&p, "Package"),
                field(&p, "Version"),
                field(&p, "Architecture"),
                field(&p, "SHA256"),
            ) {
                let index = index.rsplit('/').next().unwrap_or(&index).to_string();
                map.insert(
                    (n.to_string(), v.to_string(), a.to_string()),
                    IndexEntry {
                        sha256: sha.to_string(),
                        index,
                    },
                );
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machines_real_dpkg_database() {
        // The build host is Debian: its own root is a real dpkg root.
        let root = RootTree::open(std::path::Path::new("/")).unwrap();
        let packages = installed_packages(&root, &Default::default()).unwrap();
        assert!(packages.len() > 50, "{}", packages.len());
        let dpkg = packages
            .iter()
            .find(|p| p.name == "dpkg")
            .expect("dpkg is installed");
        assert!(dpkg.version.starts_with("1."), "{}", dpkg.version);
        let expected = std::process::Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", "dpkg"])
            .output()
            .unwrap();
        assert_eq!(dpkg.version, String::from_utf8_lossy(&expected.stdout));
        assert!(
            dpkg.license
                .as_deref()
                .unwrap_or("")
                .contains("GPL-2.0-or-later"),
            "{:?}",
            dpkg.license
        );
        let names: Vec<_> = packages.iter().map(|p| (&p.name, &p.arch)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn paragraphs_keep_continuation_lines() {
        let text = "Package: a\nDescription: short\n long text\n .\n more\n\nPackage: b\n";
        let ps = paragraphs(text);
        assert_eq!(ps.len(), 2);
        assert_eq!(
            field(&ps[0], "description"),
            Some("short\nlong text\n.\nmore")
        );
        assert_eq!(field(&ps[1], "Package"), Some("b"));
    }
}
