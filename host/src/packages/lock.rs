//! Lock files (`builder lock`, `--locked`): every package a build installs,
//! with version, architecture, SHA-256 and repository, and the state each
//! build repository published (its `InRelease` digest), so that a later
//! build installs the same packages or stops and names what drifted.
//!
//! A lock is made by preparing the root (the only exact answer to "what
//! would this build install": baselines and hooks install packages too),
//! and read back twice by a locked build: before anything is installed,
//! against what the repositories offer now, and after the packages are in
//! (before the root is cleaned up), against what was installed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::Snapshot;
use crate::diff::Format;
use crate::plan::BuildPlan;

/// The version of the lock file format this builder writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// The default lock file name (in the working directory).
pub const DEFAULT_FILE: &str = "builder.lock";

/// A lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Lock {
    /// [`LOCK_VERSION`].
    pub lock_version: u32,
    /// The builder version that wrote it.
    pub builder: String,
    /// What it locks.
    pub image: LockedImage,
    /// The build repositories, as read when the lock was made.
    pub repositories: Vec<LockedRepository>,
    /// Every package in the prepared root, sorted by name and architecture.
    pub packages: Vec<LockedPackage>,
    /// The file it was read from.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The description and selection a lock was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedImage {
    /// The image name.
    pub name: String,
    /// SHA-256 of the description directory (as provenance computes it).
    pub description_sha256: String,
    /// The profiles selected.
    pub profiles: Vec<String>,
    /// The image type.
    pub image_type: String,
    /// The target architecture.
    pub arch: String,
    /// The package format (`deb`, `rpm`).
    pub format: Format,
}

/// A build repository as a lock records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedRepository {
    /// Its alias.
    pub alias: String,
    /// The URI the build read.
    pub uri: String,
    /// Suite (none: a flat repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Components.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// When `uri` is a snapshot: the live URI it stands for. A locked
    /// build without `--snapshot` reads the same snapshot again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_of: Option<String>,
    /// SHA-256 of what it published (`InRelease`, or `Release`;
    /// `repomd.xml` for rpm repositories).
    pub release_sha256: String,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedPackage {
    /// Name.
    pub name: String,
    /// Full version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// SHA-256 of the package file, as the repository's index gives it;
    /// none where the package manager does not keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The alias of the repository it came from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// One difference between a lock and a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The build has (or the repository now offers) another version.
    Version {
        /// The package.
        name: String,
        /// Its architecture.
        arch: String,
        /// The locked version.
        locked: String,
        /// The version now.
        now: String,
    },
    /// Same version, another file.
    Digest {
        /// The package.
        name: String,
        /// Its architecture.
        arch: String,
        /// The version.
        version: String,
        /// The locked SHA-256.
        locked: String,
        /// The SHA-256 now.
        now: String,
    },
    /// The build installs a package the lock does not have.
    Added(LockedPackage),
    /// The build no longer installs (or the repository no longer offers) a
    /// locked package.
    Missing(LockedPackage),
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Version {
                name,
                arch,
                locked,
                now,
            } => write!(f, "{name} ({arch}): locked {locked}, now {now}"),
            Drift::Digest {
                name,
                arch,
                version,
                locked,
                now,
            } => write!(
                f,
                "{name} ({arch}) {version}: locked sha256 {locked}, now {now} (same version, another file)"
            ),
            Drift::Added(p) => write!(f, "{} ({}) {}: not in the lock", p.name, p.arch, p.version),
            Drift::Missing(p) => write!(f, "{} ({}) {}: locked, now missing", p.name, p.arch, p.version),
        }
    }
}

/// How a prepare deals with locks.
#[derive(Debug, Clone, Default)]
pub enum LockMode {
    /// No lock.
    #[default]
    Off,
    /// Record the build repositories' state in the report (`builder lock`).
    Record,
    /// Install exactly what this lock holds, or stop and name the drift.
    Check(std::sync::Arc<Lock>),
}

impl Lock {
    /// The lock of a prepared root: the plan it was prepared from, the
    /// digest of its description, its repositories and packages.
    pub fn new(
        plan: &BuildPlan,
        description_sha256: String,
        repositories: Vec<LockedRepository>,
        mut packages: Vec<LockedPackage>,
    ) -> Lock {
        packages.sort();
        Lock {
            lock_version: LOCK_VERSION,
            builder: env!("CARGO_PKG_VERSION").to_string(),
            image: LockedImage {
                name: plan.name.clone(),
                description_sha256,
                profiles: plan.profiles.clone(),
                image_type: plan.image_type.image.clone(),
                arch: plan.arch.clone(),
                format: format_of(plan),
            },
            repositories,
            packages,
            source: None,
        }
    }

    /// Reads a lock file.
    pub fn read(path: &Path) -> anyhow::Result<Lock> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the lock file {} (make it with `builder lock`)",
                path.display()
            )
        })?;
        let mut lock: Lock = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: not a lock file: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        if lock.lock_version != LOCK_VERSION {
            bail!(
                "{}: lock version {} (this builder reads version {LOCK_VERSION}; make it again with `builder lock`)",
                path.display(),
                lock.lock_version
            );
        }
        lock.source = Some(path.to_path_buf());
        Ok(lock)
    }

    /// Writes the lock to `path` (beside, then renamed: never half-written).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .with_context(|| format!("lock file {}: not a file name", path.display()))?;
        crate::toolbox::artifacts::write_file(dir, &name.to_string_lossy(), text.as_bytes())
            .with_context(|| format!("writing the lock file {}", path.display()))
    }

    /// Refuses a lock made for another image, selection or architecture.
    pub fn check_plan(&self, plan: &BuildPlan) -> anyhow::Result<()> {
        let path = self.source.as_deref().unwrap_or(Path::new(DEFAULT_FILE));
        let now = (
            &plan.name,
            &plan.profiles,
            &plan.image_type.image,
            &plan.arch,
        );
        let locked = (
            &self.image.name,
            &self.image.profiles,
            &self.image.image_type,
            &self.image.arch,
        );
        if now != locked {
            bail!(
                "{}: the lock is for image {} (profiles [{}], type {}, {}), this build is image {} (profiles [{}], type {}, {}); \
                 give the matching --profile/--type or make the lock again with `builder lock`",
                path.display(),
                locked.0,
                locked.1.join(", "),
                locked.2,
                locked.3,
                now.0,
                now.1.join(", "),
                now.2,
                now.3,
            );
        }
        Ok(())
    }

    /// The snapshots the lock's repositories were read from, for a locked
    /// build given none.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.repositories
            .iter()
            .filter(|r| r.snapshot_of.is_some())
            .map(|r| Snapshot {
                alias: Some(r.alias.clone()),
                url: r.uri.clone(),
            })
            .collect()
    }

    /// The locked repository of `alias`.
    pub fn repository(&self, alias: &str) -> Option<&LockedRepository> {
        self.repositories.iter().find(|r| r.alias == alias)
    }

    /// What differs between the lock's packages and `installed`.
    pub fn drift(&self, installed: &[LockedPackage]) -> Vec<Drift> {
        let key = |p: &LockedPackage| (p.name.clone(), p.arch.clone());
        let locked: BTreeMap<_, &LockedPackage> =
            self.packages.iter().map(|p| (key(p), p)).collect();
        let now: BTreeMap<_, &LockedPackage> = installed.iter().map(|p| (key(p), p)).collect();
        let mut out = Vec::new();
        for (k, l) in &locked {
            match now.get(k) {
                None => out.push(Drift::Missing((*l).clone())),
                Some(n) if n.version != l.version => out.push(Drift::Version {
                    name: l.name.clone(),
                    arch: l.arch.clone(),
                    locked: l.version.clone(),
                    now: n.version.clone(),
                }),
                Some(n) => {
                    if let (Some(a), Some(b)) = (&l.sha256, &n.sha256) {
                        if a != b {
                            out.push(Drift::Digest {
                                name: l.name.clone(),
                                arch: l.arch.clone(),
                                version: l.version.clone(),
                                locked: a.clone(),
                                now: b.clone(),
                            });
                        }
                    }
                }
            }
        }
        for (k, n) in &now {
            if !locked.contains_key(k) {
                out.push(Drift::Added((*n).clone()));
            }
        }
        out
    }

    /// What differs between the packages the lock took from repository
    /// `alias` and what its index (`Packages` paragraphs: name, version,
    /// architecture, SHA-256) offers now: a newer version apt would take,
    /// a version gone, or the same version with another file.
    pub fn drift_in_index(
        &self,
        alias: &str,
        index: &[(String, String, String, String)],
    ) -> Vec<Drift> {
        let mut offered: BTreeMap<(&str, &str), Vec<(&str, &str)>> = BTreeMap::new();
        for (name, version, arch, sha) in index {
            offered
                .entry((name.as_str(), arch.as_str()))
                .or_default()
                .push((version.as_str(), sha.as_str()));
        }
        let mut out = Vec::new();
        for l in self
            .packages
            .iter()
            .filter(|p| p.repository.as_deref() == Some(alias))
        {
            let versions = offered
                .get(&(l.name.as_str(), l.arch.as_str()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let newest = versions
                .iter()
                .max_by(|a, b| self.image.format.compare(a.0, b.0));
            match newest {
                None => out.push(Drift::Missing(l.clone())),
                Some((version, _)) if self.image.format.compare(version, &l.version).is_gt() => out
                    .push(Drift::Version {
                        name: l.name.clone(),
                        arch: l.arch.clone(),
                        locked: l.version.clone(),
                        now: version.to_string(),
                    }),
                Some(_) => match versions
                    .iter()
                    .find(|(v, _)| self.image.format.compare(v, &l.version).is_eq())
                {
                    None => out.push(Drift::Missing(l.clone())),
                    Some((_, sha)) => {
                        if let Some(locked) = &l.sha256 {
                            if locked != sha {
                                out.push(Drift::Digest {
                                    name: l.name.clone(),
                                    arch: l.arch.clone(),
                                    version: l.version.clone(),
                                    locked: locked.clone(),
                                    now: sha.to_string(),
                                });
                            }
                        }
                    }
                },
            }
        }
        out
    }
}

/// The package format of a plan's package manager.
pub fn format_of(plan: &BuildPlan) -> Format {
    match plan.package_manager {
        crate::description::PackageManager::Apt => Format::Deb,
        _ => Format::Rpm,
    }
}

/// The error a locked build stops with: every drift, one a line, and what
/// to do.
pub fn drift_error(lock: &Lock, when: &str, drift: &[Drift]) -> anyhow::Error {
    let lock = lock
        .source
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    let mut text = format!(
        "{when}, {} package{} drifted from the lock {}:",
        drift.len(),
        if drift.len() == 1 { "" } else { "s" },
        lock.display()
    );
    for d in drift {
        text.push_str("\n  ");
        text.push_str(&d.to_string());
    }
    text.push_str(
        "\nhint: build from the snapshot the lock was made from (--snapshot), \
         or accept the change with `builder lock` and review it",
    );
    anyhow::anyhow!(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, sha: &str, repo: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            sha256: Some(sha.into()),
            repository: Some(repo.into()),
        }
    }

    fn lock(packages: Vec<LockedPackage>) -> Lock {
        Lock {
            lock_version: LOCK_VERSION,
            builder: "0".into(),
            image: LockedImage {
                name: "x".into(),
                description_sha256: "d".into(),
                profiles: vec![],
                image_type: "tbz".into(),
                arch: "x86_64".into(),
                format: Format::Deb,
            },
            repositories: vec![],
            packages,
            source: None,
        }
    }

    #[test]
    fn drift_names_each_changed_added_and_missing_package() {
        let lock = lock(vec![
            package("a", "1.0-1", "aa", "r"),
            package("b", "2.0", "bb", "r"),
            package("c", "1:3", "cc", "r"),
        ]);
        let now = vec![
            package("a", "1.0-2", "a2", "r"),
            package("b", "2.0", "b2", "r"),
            package("d", "4", "dd", "r"),
        ];
        let drift: Vec<String> = lock.drift(&now).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            drift,
            [
                "a (amd64): locked 1.0-1, now 1.0-2",
                "b (amd64) 2.0: locked sha256 bb, now b2 (same version, another file)",
                "c (amd64) 1:3: locked, now missing",
                "d (amd64) 4: not in the lock",
            ]
        );
        assert!(lock.drift(&lock.packages.clone()).is_empty());
    }

    #[test]
    fn an_index_with_a_newer_version_or_without_the_locked_one_is_drift() {
        let lock = lock(vec![
            package("a", "1.0-1", "aa", "r"),
            package("b", "2.0", "bb", "r"),
            package("c", "3", "cc", "r"),
            package("other", "1", "oo", "elsewhere"),
        ]);
        let entry = |n: &str, v: &str, s: &str| {
            (
                n.to_string(),
                v.to_string(),
                "amd64".to_string(),
                s.to_string(),
            )
        };
        let index = vec![
            entry("a", "1.0-1", "aa"),
            entry("a", "1.0-1+deb12u1", "a2"),
            entry("b", "2.0", "bb"),
            entry("b", "1.9", "b1"),
        ];
        let drift: Vec<String> = lock
            .drift_in_index("r", &index)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            drift,
            [
                "a (amd64): locked 1.0-1, now 1.0-1+deb12u1",
                "c (amd64) 3: locked, now missing",
            ]
        );
    }

    #[test]
    fn a_lock_survives_its_file_and_a_bad_one_gets_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("builder.lock");
        let lock = lock(vec![package("a", "1", "aa", "r")]);
        lock.write(&path).unwrap();
        let read = Lock::read(&path).unwrap();
        assert_eq!(read.source.as_deref(), Some(path.as_path()));
        assert_eq!(
            Lock {
                source: None,
                ..read
            },
            lock
        );
        std::fs::write(&path, "{\n  \"lock-version\": 1,\n  \"builder\": 3\n}").unwrap();
        let e = Lock::read(&path).unwrap_err().to_string();
        assert!(e.contains("builder.lock:3:"), "{e}");
    }
}
