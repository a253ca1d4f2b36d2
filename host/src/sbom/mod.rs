//! What is installed in an image root, and the package lists and SBOMs that
//! go beside every artifact: KIWI's `.packages`, SPDX 2.3 JSON, CycloneDX 1.6 JSON.

pub mod cyclonedx;
pub mod dpkg;
pub mod kiwi;
pub mod licenses;
pub mod rpm;
pub mod spdx;

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::rootfs::RootTree;

/// One installed package, as the image's package database records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPackage {
    /// Package name.
    pub name: String,
    /// Full version (`epoch:upstream-revision` for deb).
    pub version: String,
    /// Architecture (`amd64`, `all`, ...).
    pub arch: String,
    /// Source package name, when it differs from the binary's.
    pub source: Option<String>,
    /// Maintainer or packager.
    pub supplier: Option<String>,
    /// Upstream homepage.
    pub homepage: Option<String>,
    /// One-line summary.
    pub summary: Option<String>,
    /// SPDX license expression, when the package declares its licenses in a
    /// machine-readable way; none otherwise.
    pub license: Option<String>,
    /// Lower-case hex SHA-256 of the package file, when the package manager
    /// still knows it.
    pub sha256: Option<String>,
    /// The packaging format, with what only it records.
    pub kind: PackageKind,
}

/// A package's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "format")]
pub enum PackageKind {
    /// A Debian package (dpkg).
    Deb,
    /// An RPM package.
    Rpm {
        /// `EPOCH`, when set.
        epoch: Option<String>,
        /// `VERSION`.
        version: String,
        /// `RELEASE`.
        release: String,
        /// `DISTURL`, when set.
        disturl: Option<String>,
    },
}

/// The operating system of the image, from its `/etc/os-release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    /// `ID` (`debian`, `ubuntu`).
    pub id: String,
    /// `VERSION_ID` (`12`), if any.
    pub version_id: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
    /// `ID_LIKE` (`rhel fedora`), if any.
    pub id_like: Option<String>,
}

impl OsRelease {
    /// Read `/etc/os-release` (or `/usr/lib/os-release`) of the root.
    pub fn read(root: &RootTree) -> std::io::Result<OsRelease> {
        let text =
            read_text(root, "etc/os-release").or_else(|_| read_text(root, "usr/lib/os-release"))?;
        let value = |key: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        Ok(OsRelease {
            id: value("ID").unwrap_or_else(|| "linux".into()),
            version_id: value("VERSION_ID"),
            pretty_name: value("PRETTY_NAME"),
            id_like: value("ID_LIKE"),
        })
    }
}

/// The image an SBOM describes.
#[derive(Debug, Clone)]
pub struct SbomSubject<'a> {
    /// Image name.
    pub name: &'a str,
    /// Image version.
    pub version: &'a str,
    /// Target architecture.
    pub arch: &'a str,
    /// Its operating system.
    pub os: &'a OsRelease,
    /// Creation time, seconds since the epoch (`SOURCE_DATE_EPOCH` when set).
    pub created: i64,
}

/// The package list and SBOM files written beside an image's artifacts.
#[derive(Debug, Clone, Serialize)]
pub struct SbomOutputs {
    /// Packages found.
    pub packages: usize,
    /// File names written in the target directory.
    pub files: Vec<String>,
    /// The packages, as provenance names them.
    #[serde(skip)]
    pub dependencies: Vec<Dependency>,
}

/// A package's name, version and architecture.
pub type PackageId = (String, String, String);

/// The SHA-256 of each installed package's file, as the repository's index
/// gives it, read while apt's lists are still in the root (see
/// [`dpkg::index_digests`]).
pub type PackageDigests = std::collections::HashMap<PackageId, String>;

/// A package as provenance names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Its package URL (see [`purl`]).
    pub purl: String,
    /// Name, version and architecture, as the package database has them.
    pub id: PackageId,
    /// SHA-256 of the package file, when known.
    pub sha256: Option<String>,
}

/// Write `<base>.packages`, `<base>.spdx.json` and `<base>.cdx.json` for the
/// dpkg or rpm database of `root` into `target_dir`; `Ok(None)` when the
/// root has no package database this host can read. `digests` gives the
/// package files' digests the root's own indexes no longer hold.
pub fn write_outputs(
    root: &RootTree,
    target_dir: &Path,
    base: &str,
    subject: &SbomSubject<'_>,
    digests: &PackageDigests,
) -> std::io::Result<Option<SbomOutputs>> {
    let packages = if root.stat("var/lib/dpkg/status").is_ok() {
        dpkg::installed_packages(root, digests)?
    } else if rpm::database(root.host_path()).is_some() {
        rpm::installed_packages(root.host_path(), digests)?
    } else {
        return Ok(None);
    };
    let files = [
        (format!("{base}.packages"), kiwi::packages_list(&packages)),
        (
            format!("{base}.spdx.json"),
            pretty(&spdx::document(subject, &packages))?,
        ),
        (
            format!("{base}.cdx.json"),
            pretty(&cyclonedx::bom(subject, &packages))?,
        ),
    ];
    for (name, text) in &files {
        crate::toolbox::artifacts::write_file(target_dir, name, text.as_bytes())?;
    }
    Ok(Some(SbomOutputs {
        packages: packages.len(),
        files: files.into_iter().map(|(name, _)| name).collect(),
        dependencies: packages
            .iter()
            .map(|package| Dependency {
                purl: purl(subject.os, package),
                id: (
                    package.name.clone(),
                    package.version.clone(),
                    package.arch.clone(),
                ),
                sha256: package.sha256.clone(),
            })
            .collect(),
    }))
}

fn pretty(value: &serde_json::Value) -> std::io::Result<String> {
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    Ok(text)
}

/// Write beside, then rename: never a half-written file under the final name.
/// Read a small text file of the root.
pub(crate) fn read_text(root: &RootTree, path: &str) -> std::io::Result<String> {
    let mut text = String::new();
    root.open_file(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// RFC 3339 UTC time of `seconds` since the epoch.
pub(crate) fn rfc3339(seconds: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A package URL (purl) for a package of `os`: `pkg:deb/...` or `pkg:rpm/...`.
pub fn purl(os: &OsRelease, package: &InstalledPackage) -> String {
    // The purl spec: deb versions carry their epoch, rpm's goes in `epoch=`.
    let (kind, version, epoch) = match &package.kind {
        PackageKind::Deb => ("deb", package.version.clone(), None),
        PackageKind::Rpm {
            epoch,
            version,
            release,
            ..
        } => ("rpm", format!("{version}-{release}"), epoch.as_deref()),
    };
    let mut purl = format!(
        "pkg:{kind}/{}/{}@{}?arch={}",
        purl_escape(&os.id),
        purl_escape(&package.name),
        purl_escape(&version),
        purl_escape(&package.arch)
    );
    if let Some(epoch) = epoch {
        purl.push_str(&format!("&epoch={}", purl_escape(epoch)));
    }
    if let Some(version) = &os.version_id {
        purl.push_str(&format!(
            "&distro={}-{}",
            purl_escape(&os.id),
            purl_escape(version)
        ));
    }
    purl
}

fn purl_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::toolbox::stable_uuid;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = stable_uuid(&["img", "1.0"]);
        assert_eq!(a, stable_uuid(&["img", "1.0"]));
        assert_ne!(a, stable_uuid(&["img", "1.1"]));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
    }

    #[test]
    fn purls_escape_versions() {
        let os = OsRelease {
            id: "debian".into(),
            version_id: Some("12".into()),
            pretty_name: None,
            id_like: None,
        };
        let p = InstalledPackage {
            name: "libstdc++6".into(),
            version: "1:12.2.0-14+deb12u1".into(),
            arch: "amd64".into(),
            source: None,
            supplier: None,
            homepage: None,
            summary: None,
            license: None,
            sha256: None,
            kind: PackageKind::Deb,
        };
        assert_eq!(
            purl(&os, &p),
            "pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"
        );
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
