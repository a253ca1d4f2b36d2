//! The packages an RPM-based root has installed, read from its rpm database
//! with the build host's `rpm --root` (Debian's `rpm` package).

use std::io;
use std::path::Path;
use std::process::Command;

use super::{InstalledPackage, PackageKind};

/// The query: one line per package, tab-separated fields.
const QUERY: &str = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{DISTURL}\\t\
                     %{LICENSE}\\t%{SUMMARY}\\t%{URL}\\t%{VENDOR}\\t%{SOURCERPM}\\n";

/// Where rpm keeps its database inside `root`, if it has one.
pub fn database(root: &Path) -> Option<&'static str> {
    ["var/lib/rpm", "usr/lib/sysimage/rpm"]
        .into_iter()
        .find(|db| {
            ["rpmdb.sqlite", "Packages", "Packages.db"]
                .iter()
                .any(|f| root.join(db).join(f).is_file())
        })
}

/// The packages rpm considers installed in `root`, sorted by name and arch.
/// A package whose digest the database does not keep takes it from
/// `digests` (read from the repositories' metadata during the build).
pub fn installed_packages(
    root: &Path,
    digests: &super::PackageDigests,
) -> io::Result<Vec<InstalledPackage>> {
    let Some(db) = database(root) else {
        return Ok(Vec::new());
    };
    let output = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .arg("--dbpath")
        .arg(format!("/{db}"))
        .args(["-qa", "--qf", QUERY])
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running rpm --root: {e}")))?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "rpm --root {} -qa failed: {}",
            root.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let mut packages: Vec<InstalledPackage> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(parse_line)
        // The keys rpm imported are pseudo-packages, not software.
        .filter(|p| p.name != "gpg-pubkey")
        .map(|mut p| {
            let id = (p.name.clone(), p.version.clone(), p.arch.clone());
            p.sha256 = digests.get(&id).cloned();
            p
        })
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    Ok(packages)
}

fn some(value: &str) -> Option<String> {
    (!value.is_empty() && value != "(none)").then(|| value.to_string())
}

fn parse_line(line: &str) -> Option<InstalledPackage> {
    let f: Vec<&str> = line.split('\t').collect();
    let [name, epoch, version, release, arch, disturl, license, summary, url, vendor, source_rpm] =
        f[..]
    else {
        return None;
    };
    let epoch = some(epoch);
    let full = match &epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    // `golden-base-1.0-1.src.rpm` -> `golden-base`.
    let source = some(source_rpm).and_then(|s| {
        let stem = s
            .strip_suffix(".src.rpm")
            .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
        let mut parts = stem.rsplitn(3, '-');
        parts.next()?; // release
        parts.next()?; // version
        parts.next().map(str::to_string)
    });
    Some(InstalledPackage {
        name: name.to_string(),
        version: full,
        arch: arch.to_string(),
        source: source.filter(|s| s != name),
        supplier: some(vendor),
        homepage: some(url),
        summary: some(summary),
        license: some(license),
        sha256: None,
        kind: PackageKind::Rpm {
            epoch,
            version: version.to_string(),
            release: release.to_string(),
            disturl: some(disturl),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lines_become_packages() {
        let p = parse_line(
            "bash\t(none)\t5.1.8\t9.el9\tx86_64\t(none)\tGPLv3+\tThe GNU Bourne Again shell\thttps://www.gnu.org/software/bash\tCentOS\tbash-5.1.8-9.el9.src.rpm",
        )
        .unwrap();
        assert_eq!(p.name, "bash");
        assert_eq!(p.version, "5.1.8-9.el9");
        assert_eq!(p.license.as_deref(), Some("GPLv3+"));
        assert_eq!(p.source, None);
        let q = parse_line(
            "glibc-langpack-en\t2\t2.34\t100.el9\tx86_64\t(none)\tLGPLv2+\tx\t(none)\t(none)\tglibc-2.34-100.el9.src.rpm",
        )
        .unwrap();
        assert_eq!(q.version, "2:2.34-100.el9");
        assert_eq!(q.source.as_deref(), Some("glibc"));
        assert_eq!(q.homepage, None);
        assert!(parse_line("too\tfew").is_none());
    }
}
