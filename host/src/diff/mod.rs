//! `builder diff`: the change review of a golden image. Two builds' target
//! directories compared: packages added, removed, upgraded and downgraded,
//! licence changes, the root's files added, removed and changed, and the
//! artifacts' sizes; written as text, JSON or a self-contained HTML page.
//!
//! It reads what every build leaves beside its artifacts: the `.packages`
//! list (KIWI's format, so a KIWI build's directory can be compared too),
//! the CycloneDX SBOM for licences, the root's manifest (`.files`) and
//! `builder.result.json` for the artifacts.

mod html;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::rootfs::manifest::{Change, Manifest, PathChange};

pub use html::render as html;

/// One build's target directory, as `diff` reads it.
#[derive(Debug, Clone)]
pub struct Build {
    /// The directory.
    pub dir: PathBuf,
    /// `<name>.<arch>-<version>`: what its files are named after.
    pub base: String,
    /// The image type, when `builder.result.json` says.
    pub image_type: Option<String>,
    /// Installed packages by (name, arch).
    pub packages: BTreeMap<(String, String), Package>,
    /// The root's manifest, when the build wrote one.
    pub files: Option<Manifest>,
    /// Artifacts: name after the base (`.tar.xz`, `.qcow2`) to size.
    pub artifacts: BTreeMap<String, u64>,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Full version: deb's `[epoch:]upstream[-revision]`, rpm's
    /// `[epoch:]version-release`.
    pub version: String,
    /// Which ordering its version follows.
    pub format: Format,
    /// SPDX expression, when known.
    pub license: Option<String>,
}

/// A package format: each orders its versions its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// dpkg's ordering (`~` before everything, letters before symbols).
    Deb,
    /// rpmvercmp's ordering.
    Rpm,
}

impl Format {
    /// `a` against `b` in this format's ordering.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Format::Deb => match (
                a.parse::<debversion::Version>(),
                b.parse::<debversion::Version>(),
            ) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => a.cmp(b),
            },
            Format::Rpm => rpm_version::rpm_evr_compare(a, b),
        }
    }
}

/// The files a build leaves that are not artifacts.
const NOT_ARTIFACTS: &[&str] = &[
    ".packages",
    ".files",
    ".spdx.json",
    ".cdx.json",
    ".intoto.jsonl",
    ".sha256",
    ".verified",
    ".changes",
];

impl Build {
    /// Reads the build in `dir`.
    pub fn read(dir: &Path) -> anyhow::Result<Build> {
        let result_path = dir.join("builder.result.json");
        let result: Option<crate::result::Recorded> = match std::fs::read(&result_path) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{}: not a builder result", result_path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", result_path.display())),
        };
        let names = file_names(dir)?;
        let base = match &result {
            Some(r) => format!("{}.{}-{}", r.image.name, r.image.arch, r.image.version),
            None => {
                let lists: Vec<&String> =
                    names.iter().filter(|n| n.ends_with(".packages")).collect();
                match lists.as_slice() {
                    [one] => one.trim_end_matches(".packages").to_string(),
                    [] => bail!(
                        "{}: no builder.result.json and no .packages list: not a build's target directory",
                        dir.display()
                    ),
                    more => bail!(
                        "{}: {} package lists and no builder.result.json to say which build to compare: {}",
                        dir.display(),
                        more.len(),
                        more.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                }
            }
        };
        let packages_path = dir.join(format!("{base}.packages"));
        let text = std::fs::read_to_string(&packages_path).with_context(|| {
            format!(
                "reading {} (hint: builds without a package database have none to compare)",
                packages_path.display()
            )
        })?;
        let mut packages = parse_packages(&text, &packages_path)?;
        let cdx = dir.join(format!("{base}.cdx.json"));
        if cdx.exists() {
            add_cyclonedx_licenses(&cdx, &mut packages)?;
        }
        let files_path = dir.join(format!("{base}.files"));
        let files = match std::fs::read_to_string(&files_path) {
            Ok(text) => Some(Manifest::parse(&text, &files_path.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", files_path.display())),
        };
        let suffix = |name: &str| name.strip_prefix(&base).unwrap_or(name).to_string();
        let artifacts = match &result {
            Some(r) => r
                .artifacts
                .iter()
                .map(|a| (suffix(&a.file_name), a.size))
                .collect(),
            None => {
                let mut artifacts = BTreeMap::new();
                for name in names.iter().filter(|n| {
                    n.starts_with(&base) && !NOT_ARTIFACTS.iter().any(|s| n.ends_with(s))
                }) {
                    let size = std::fs::metadata(dir.join(name))
                        .with_context(|| format!("reading {}", dir.join(name).display()))?
                        .len();
                    artifacts.insert(suffix(name), size);
                }
                artifacts
            }
        };
        Ok(Build {
            dir: dir.to_path_buf(),
            base,
            image_type: result.map(|r| r.image_type),
            packages,
            files,
            artifacts,
        })
    }
}

fn file_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("reading the target directory {}", dir.display()))?
    {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// KIWI's `name|epoch|version|release|arch|disturl|license` lines.
fn parse_packages(text: &str, path: &Path) -> anyhow::Result<BTreeMap<(String, String), Package>> {
    let none = |v: &str| (v != "None" && !v.is_empty()).then(|| v.to_string());
    let mut packages = BTreeMap::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let fields: Vec<&str> = line.split('|').collect();
        let [name, epoch, version, release, arch, _disturl, license] = fields[..] else {
            bail!(
                "{}:{}: not a package line (`name|epoch|version|release|arch|disturl|license`)",
                path.display(),
                number + 1
            );
        };
        let (version, format) = match (none(epoch), none(release)) {
            (None, None) => (version.to_string(), Format::Deb),
            (epoch, release) => {
                let mut evr = String::new();
                if let Some(epoch) = epoch {
                    evr.push_str(&format!("{epoch}:"));
                }
                evr.push_str(version);
                if let Some(release) = release {
                    evr.push_str(&format!("-{release}"));
                }
                (evr, Format::Rpm)
            }
        };
        packages.insert(
            (name.to_string(), arch.to_string()),
            Package {
                version,
                format,
                license: none(license),
            },
        );
    }
    Ok(packages)
}

/// Licences from a CycloneDX BOM's components, matched by name and the
/// purl's `arch`.
fn add_cyclonedx_licenses(
    path: &Path,
    packages: &mut BTreeMap<(String, String), Package>,
) -> anyhow::Result<()> {
    let bom: serde_json::Value = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{}: not JSON", path.display()))?;
    for component in bom["components"].as_array().into_iter().flatten() {
        let (Some(name), Some(purl)) = (component["name"].as_str(), component["purl"].as_str())
        else {
            continue;
        };
        let arch = purl
            .split_once('?')
            .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("arch=")))
            .unwrap_or("");
        let license = component["licenses"][0]["expression"].as_str();
        if let (Some(package), Some(license)) = (
            packages.get_mut(&(name.to_string(), arch.to_string())),
            license,
        ) {
            package.license = Some(license.to_string());
        }
    }
    Ok(())
}

/// One side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// The target directory.
    pub dir: PathBuf,
    /// `<name>.<arch>-<version>`.
    pub image: String,
    /// The image type, when known.
    pub image_type: Option<String>,
    /// Packages installed.
    pub packages: usize,
    /// Paths in the root, when its manifest is there.
    pub paths: Option<usize>,
    /// Bytes of the root's regular files, when its manifest is there.
    pub file_bytes: Option<u64>,
}

/// A package on one side only.
#[derive(Debug, Clone, Serialize)]
pub struct PackageRef {
    /// Name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Version.
    pub version: String,
}

/// A package on both sides at other versions.
#[derive(Debug, Clone, Serialize)]
pub struct VersionChange {
    /// Name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Version before.
    pub old: String,
    /// Version after.
    pub new: String,
}

/// A package whose licence changed.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseChange {
    /// Name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Licence before (none: not declared).
    pub old: Option<String>,
    /// Licence after.
    pub new: Option<String>,
}

/// An artifact's size on either side.
#[derive(Debug, Clone, Serialize)]
pub struct SizeChange {
    /// The artifact's name after the image's (`.tar.xz`), or `root files`.
    pub what: String,
    /// Bytes before; none when only the newer build has it.
    pub old: Option<u64>,
    /// Bytes after; none when only the older build has it.
    pub new: Option<u64>,
}

/// Counts of what changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Packages only in the newer build.
    pub packages_added: usize,
    /// Packages only in the older build.
    pub packages_removed: usize,
    /// Packages at a newer version.
    pub packages_upgraded: usize,
    /// Packages at an older version.
    pub packages_downgraded: usize,
    /// Packages whose licence changed.
    pub licenses_changed: usize,
    /// Paths only in the newer root.
    pub files_added: usize,
    /// Paths only in the older root.
    pub files_removed: usize,
    /// Paths in both that differ.
    pub files_changed: usize,
}

/// Everything that differs between two builds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Form of this JSON.
    pub diff_version: u32,
    /// The older build.
    pub old: Side,
    /// The newer build.
    pub new: Side,
    /// How many of each.
    pub counts: Counts,
    /// Packages added.
    pub added: Vec<PackageRef>,
    /// Packages removed.
    pub removed: Vec<PackageRef>,
    /// Packages upgraded.
    pub upgraded: Vec<VersionChange>,
    /// Packages downgraded.
    pub downgraded: Vec<VersionChange>,
    /// Licence changes.
    pub licenses: Vec<LicenseChange>,
    /// Paths that differ; empty when either side has no manifest.
    pub files: Vec<PathChange>,
    /// Whether both sides had a manifest to compare.
    pub files_compared: bool,
    /// Artifact sizes, and the root's file bytes.
    pub sizes: Vec<SizeChange>,
}

impl Report {
    /// Whether anything differs (sizes of identical artifacts aside).
    pub fn differs(&self) -> bool {
        self.counts != Counts::default() || self.sizes.iter().any(|s| s.old != s.new)
    }
}

fn side(build: &Build) -> Side {
    Side {
        dir: build.dir.clone(),
        image: build.base.clone(),
        image_type: build.image_type.clone(),
        packages: build.packages.len(),
        paths: build.files.as_ref().map(Manifest::len),
        file_bytes: build.files.as_ref().map(Manifest::file_bytes),
    }
}

/// Compares two builds.
pub fn compare(old: &Build, new: &Build) -> Report {
    let mut report = Report {
        diff_version: 1,
        old: side(old),
        new: side(new),
        counts: Counts::default(),
        added: Vec::new(),
        removed: Vec::new(),
        upgraded: Vec::new(),
        downgraded: Vec::new(),
        licenses: Vec::new(),
        files: Vec::new(),
        files_compared: false,
        sizes: Vec::new(),
    };
    for ((name, arch), was) in &old.packages {
        let Some(now) = new.packages.get(&(name.clone(), arch.clone())) else {
            report.removed.push(PackageRef {
                name: name.clone(),
                arch: arch.clone(),
                version: was.version.clone(),
            });
            continue;
        };
        if was.version != now.version {
            let change = VersionChange {
                name: name.clone(),
                arch: arch.clone(),
                old: was.version.clone(),
                new: now.version.clone(),
            };
            match now.format.compare(&now.version, &was.version) {
                Ordering::Less => report.downgraded.push(change),
                // Equal in ordering, other spelling (`1.0` and `1.00`):
                // listed as an upgrade, the versions show it.
                _ => report.upgraded.push(change),
            }
        }
        if was.license != now.license {
            report.licenses.push(LicenseChange {
                name: name.clone(),
                arch: arch.clone(),
                old: was.license.clone(),
                new: now.license.clone(),
            });
        }
    }
    for ((name, arch), now) in &new.packages {
        if !old.packages.contains_key(&(name.clone(), arch.clone())) {
            report.added.push(PackageRef {
                name: name.clone(),
                arch: arch.clone(),
                version: now.version.clone(),
            });
        }
    }
    if let (Some(was), Some(now)) = (&old.files, &new.files) {
        report.files = was.changes(now);
        report.files_compared = true;
    }
    let mut names: Vec<&String> = old.artifacts.keys().chain(new.artifacts.keys()).collect();
    names.sort();
    names.dedup();
    report.sizes = names
        .into_iter()
        .map(|name| SizeChange {
            what: name.clone(),
            old: old.artifacts.get(name).copied(),
            new: new.artifacts.get(name).copied(),
        })
        .collect();
    if let (Some(was), Some(now)) = (&report.old.file_bytes, &report.new.file_bytes) {
        report.sizes.push(SizeChange {
            what: "root files".into(),
            old: Some(*was),
            new: Some(*now),
        });
    }
    let count = |kind: fn(&Change) -> bool| report.files.iter().filter(|c| kind(&c.change)).count();
    report.counts = Counts {
        packages_added: report.added.len(),
        packages_removed: report.removed.len(),
        packages_upgraded: report.upgraded.len(),
        packages_downgraded: report.downgraded.len(),
        licenses_changed: report.licenses.len(),
        files_added: count(|c| matches!(c, Change::Added)),
        files_removed: count(|c| matches!(c, Change::Removed)),
        files_changed: count(|c| matches!(c, Change::Changed(_))),
    };
    report
}

pub use crate::caches::human as human_bytes;

/// `+1.2 MiB`, `-512 B`, `±0 B`.
pub fn human_delta(old: u64, new: u64) -> String {
    match new.cmp(&old) {
        Ordering::Greater => format!("+{}", human_bytes(new - old)),
        Ordering::Less => format!("-{}", human_bytes(old - new)),
        Ordering::Equal => "±0 B".into(),
    }
}

/// A path change's one-letter mark and what changed.
pub fn change_mark(change: &Change) -> (&'static str, String) {
    match change {
        Change::Added => ("+", "added".into()),
        Change::Removed => ("-", "removed".into()),
        Change::Changed(what) => ("~", what.join(", ")),
    }
}

/// How many file lines the text form shows before it says how many more.
const TEXT_FILE_LINES: usize = 200;

/// The report as text for a terminal or a log.
pub fn text(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let c = &report.counts;
    let label = |s: &Side| match &s.image_type {
        Some(t) => format!("{} ({t})", s.image),
        None => s.image.clone(),
    };
    let _ = writeln!(
        out,
        "old: {}  {}",
        label(&report.old),
        report.old.dir.display()
    );
    let _ = writeln!(
        out,
        "new: {}  {}",
        label(&report.new),
        report.new.dir.display()
    );
    let _ = writeln!(
        out,
        "\npackages: {} added, {} removed, {} upgraded, {} downgraded ({} -> {})",
        c.packages_added,
        c.packages_removed,
        c.packages_upgraded,
        c.packages_downgraded,
        report.old.packages,
        report.new.packages
    );
    for p in &report.added {
        let _ = writeln!(out, "  + {} {} ({})", p.name, p.version, p.arch);
    }
    for p in &report.removed {
        let _ = writeln!(out, "  - {} {} ({})", p.name, p.version, p.arch);
    }
    for p in &report.upgraded {
        let _ = writeln!(out, "  ↑ {} {} -> {} ({})", p.name, p.old, p.new, p.arch);
    }
    for p in &report.downgraded {
        let _ = writeln!(out, "  ↓ {} {} -> {} ({})", p.name, p.old, p.new, p.arch);
    }
    let _ = writeln!(out, "\nlicences: {} changed", c.licenses_changed);
    let none = |l: &Option<String>| l.clone().unwrap_or_else(|| "(none declared)".into());
    for l in &report.licenses {
        let _ = writeln!(
            out,
            "  ~ {} ({}): {} -> {}",
            l.name,
            l.arch,
            none(&l.old),
            none(&l.new)
        );
    }
    if report.files_compared {
        let _ = writeln!(
            out,
            "\nfiles: {} added, {} removed, {} changed",
            c.files_added, c.files_removed, c.files_changed
        );
        for change in report.files.iter().take(TEXT_FILE_LINES) {
            let (mark, what) = change_mark(&change.change);
            let _ = writeln!(out, "  {mark} /{} ({what})", change.path);
        }
        if report.files.len() > TEXT_FILE_LINES {
            let _ = writeln!(
                out,
                "  … and {} more (--json or --html lists them all)",
                report.files.len() - TEXT_FILE_LINES
            );
        }
    } else {
        let _ = writeln!(
            out,
            "\nfiles: not compared (a build without a .files manifest: made by KIWI or an older builder)"
        );
    }
    let _ = writeln!(out, "\nsizes:");
    for size in &report.sizes {
        let line = match (size.old, size.new) {
            (Some(o), Some(n)) => format!(
                "{} -> {} ({})",
                human_bytes(o),
                human_bytes(n),
                human_delta(o, n)
            ),
            (Some(o), None) => format!("{} -> (not built)", human_bytes(o)),
            (None, Some(n)) => format!("(not built) -> {}", human_bytes(n)),
            (None, None) => continue,
        };
        let _ = writeln!(out, "  {}: {line}", size.what);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_their_formats_ordering() {
        assert_eq!(Format::Deb.compare("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(Format::Deb.compare("1:0.9", "2.0"), Ordering::Greater);
        assert_eq!(
            Format::Deb.compare("2.36-9+deb12u4", "2.36-9+deb12u10"),
            Ordering::Less
        );
        assert_eq!(
            Format::Rpm.compare("1.0-1.el9", "1.0-1.el9_2"),
            Ordering::Less
        );
        assert_eq!(Format::Rpm.compare("1:1.0-1", "2.0-1"), Ordering::Greater);
        assert_eq!(
            Format::Rpm.compare("1.0^git1-1", "1.0-1"),
            Ordering::Greater
        );
    }

    fn build(dir: &Path, packages: &str, extra: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("img.x86_64-1.packages"), packages).unwrap();
        for (name, text) in extra {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn two_kiwi_style_directories_compare_by_their_package_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
        build(
            &old,
            "bash|None|5.2.15-2+b2|None|amd64|None|None\n\
             gone|None|1|None|all|None|None\n\
             libc6|None|2.36-9+deb12u10|None|amd64|None|None\n\
             kernel|0|6.1|1.el9|x86_64|None|GPL-2.0-only\n",
            &[("img.x86_64-1.raw", "0123456789")],
        );
        build(
            &new,
            "bash|None|5.2.15-2+b7|None|amd64|None|None\n\
             hello|None|2.10-3|None|amd64|None|None\n\
             libc6|None|2.36-9+deb12u4|None|amd64|None|None\n\
             kernel|0|6.1|1.el9|x86_64|None|GPL-2.0-only WITH Linux-syscall-note\n",
            &[
                ("img.x86_64-1.raw", "01234"),
                ("img.x86_64-1.raw.sha256", "x"),
            ],
        );
        let report = compare(&Build::read(&old).unwrap(), &Build::read(&new).unwrap());
        assert_eq!(
            report.counts,
            Counts {
                packages_added: 1,
                packages_removed: 1,
                packages_upgraded: 1,
                packages_downgraded: 1,
                licenses_changed: 1,
                ..Counts::default()
            }
        );
        assert_eq!(report.added[0].name, "hello");
        assert_eq!(report.removed[0].name, "gone");
        assert_eq!(report.upgraded[0].name, "bash");
        assert_eq!(report.downgraded[0].name, "libc6");
        assert_eq!(report.sizes.len(), 1, "{:?}", report.sizes);
        assert_eq!(
            (report.sizes[0].old, report.sizes[0].new),
            (Some(10), Some(5))
        );
        assert!(report.differs());
        let text = text(&report);
        assert!(
            text.contains("  ↓ libc6 2.36-9+deb12u10 -> 2.36-9+deb12u4 (amd64)"),
            "{text}"
        );
        assert!(text.contains("files: not compared"), "{text}");
        assert!(!compare(&Build::read(&old).unwrap(), &Build::read(&old).unwrap()).differs());

        std::fs::write(old.join("img.x86_64-1.packages"), "bash|5\n").unwrap();
        let error = format!("{:#}", Build::read(&old).unwrap_err());
        assert!(error.ends_with("img.x86_64-1.packages:1: not a package line (`name|epoch|version|release|arch|disturl|license`)"), "{error}");
        let error = format!("{:#}", Build::read(tmp.path()).unwrap_err());
        assert!(error.contains("not a build's target directory"), "{error}");
    }
}
