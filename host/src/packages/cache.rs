//! The package cache shared between builds: downloaded `.deb` files kept in
//! the cache directory (`/var/cache/builder/packages` by default), one pool
//! per set of build repositories and architecture.
//!
//! A build copies the pool into its root's `/var/cache/apt/archives` before
//! apt runs (apt then skips the downloads), and afterwards adds what apt
//! fetched. Nothing enters the pool unchecked: a file is taken only if its
//! SHA-256 equals the one the repository's signed index gives for that file
//! name, read from the root's apt lists. Files are copied, never linked, so
//! what runs inside one image root cannot touch the pool.
//!
//! Concurrent builds share a pool without locks: a file is written under a
//! temporary name and renamed into place, so readers see whole files or
//! none; a file that disappears while being copied in (another build pruned
//! it) is simply downloaded again. Files no longer in the repository's index
//! are pruned when a build adds to the pool.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::packages::AptRepository;

/// Where apt keeps downloaded packages, relative to a root.
pub const APT_ARCHIVES: &str = "var/cache/apt/archives";
/// Where apt keeps repository indexes, relative to a root.
pub const APT_LISTS: &str = "var/lib/apt/lists";

/// One pool of `.deb` files.
#[derive(Debug, Clone)]
pub struct PackageCache {
    dir: PathBuf,
}

/// What [`PackageCache::collect`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Files added to the pool.
    pub added: usize,
    /// Files not added: not in the index, or their checksum did not match.
    pub rejected: usize,
    /// Stale files removed from the pool.
    pub pruned: usize,
}

impl PackageCache {
    /// The pool under `cache_root` for these build repositories and Debian
    /// architecture, created if missing.
    pub fn apt(
        cache_root: &Path,
        repositories: &[&AptRepository],
        deb_arch: &str,
    ) -> anyhow::Result<Self> {
        let mut key: Vec<String> = repositories
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.uri.trim_end_matches('/'),
                    r.suite.as_deref().unwrap_or("./"),
                    r.components.join(",")
                )
            })
            .collect();
        key.sort();
        let digest = hex::encode(Sha256::digest(key.join("\n").as_bytes()));
        let dir = cache_root
            .join("apt")
            .join(format!("{deb_arch}-{}", &digest[..16]));
        crate::caches::private_dir(&dir).context("package cache")?;
        Ok(PackageCache { dir })
    }

    /// The pool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bytes of the packages in the pool (what [`PackageCache::seed`]
    /// copies into an empty root).
    pub fn pooled_bytes(&self) -> io::Result<u64> {
        Ok(Self::debs(&self.dir)?.iter().map(|(_, size)| size).sum())
    }

    /// The `.deb` files in the pool.
    fn debs(dir: &Path) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".deb") || name.starts_with('.') {
                continue;
            }
            let meta = entry.metadata()?;
            if meta.is_file() {
                out.push((name, meta.len()));
            }
        }
        Ok(out)
    }

    /// Copies every pooled package into `archives` (a root's apt archive
    /// directory, created if missing) that is not there yet. Returns how
    /// many were copied.
    pub fn seed(&self, archives: &Path) -> anyhow::Result<usize> {
        self.seed_only(archives, None)
    }

    /// Like [`PackageCache::seed`], only the files named in `wanted` (apt's
    /// archive file names) when given.
    pub fn seed_only(
        &self,
        archives: &Path,
        wanted: Option<&std::collections::HashSet<String>>,
    ) -> anyhow::Result<usize> {
        fs::create_dir_all(archives.join("partial"))
            .with_context(|| format!("package cache: creating {}", archives.display()))?;
        let present: HashMap<String, u64> = Self::debs(archives)
            .with_context(|| format!("package cache: listing {}", archives.display()))?
            .into_iter()
            .collect();
        let mut copied = 0;
        for (name, size) in Self::debs(&self.dir)
            .with_context(|| format!("package cache: listing {}", self.dir.display()))?
        {
            if present.get(&name) == Some(&size) || wanted.is_some_and(|w| !w.contains(&name)) {
                continue;
            }
            match fs::copy(self.dir.join(&name), archives.join(&name)) {
                Ok(_) => copied += 1,
                // Pruned by a concurrent build: apt downloads it again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let _ = fs::remove_file(archives.join(&name));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("package cache: copying {name} into {}", archives.display())
                    })
                }
            }
        }
        Ok(copied)
    }

    /// Adds the packages in `archives` that the pool lacks, each verified
    /// against the SHA-256 of the indexes in `lists`, and prunes pooled
    /// files those indexes no longer list.
    pub fn collect(&self, archives: &Path, lists: &Path) -> anyhow::Result<Collected> {
        let index = PackageIndex::read(lists).with_context(|| {
            format!("package cache: reading the indexes in {}", lists.display())
        })?;
        let pooled: HashMap<String, u64> = Self::debs(&self.dir)
            .with_context(|| format!("package cache: listing {}", self.dir.display()))?
            .into_iter()
            .collect();
        let mut done = Collected::default();
        for (name, size) in Self::debs(archives)
            .with_context(|| format!("package cache: listing {}", archives.display()))?
        {
            if pooled.get(&name) == Some(&size) {
                continue;
            }
            let Some(expected) = index.sha256(&name) else {
                tracing::warn!(file = %name, "package cache: not in the index; not cached");
                done.rejected += 1;
                continue;
            };
            if self.store(&archives.join(&name), &name, expected)? {
                done.added += 1;
            } else {
                tracing::warn!(file = %name, "package cache: checksum differs from the index; not cached");
                done.rejected += 1;
            }
        }
        if !index.is_empty() {
            for (name, _) in pooled {
                if index.sha256(&name).is_none() && fs::remove_file(self.dir.join(&name)).is_ok() {
                    done.pruned += 1;
                }
            }
        }
        Ok(done)
    }

    /// Copies `source` into the pool as `name`, atomically, if the bytes
    /// copied have the SHA-256 `expected` (hashed as they are copied, so
    /// what is checked is what is stored); false if they do not.
    fn store(&self, source: &Path, name: &str, expected: &str) -> anyhow::Result<bool> {
        let tmp = crate::caches::incoming_file(&self.dir)
            .with_context(|| format!("package cache: creating a file in {}", self.dir.display()))?;
        let mut from = File::open(source)
            .with_context(|| format!("package cache: opening {}", source.display()))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut to = tmp.as_file();
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).with_context(|| format!("package cache: reading {name}")),
            };
            hasher.update(&buffer[..n]);
            to.write_all(&buffer[..n])
                .with_context(|| format!("package cache: copying {name}"))?;
        }
        if hex::encode(hasher.finalize()) != expected {
            return Ok(false);
        }
        tmp.persist(self.dir.join(name))
            .with_context(|| format!("package cache: storing {name}"))?;
        Ok(true)
    }
}

/// File name → SHA-256 from apt's `Packages` indexes.
#[derive(Debug, Default)]
struct PackageIndex {
    sha256: HashMap<String, String>,
}

impl PackageIndex {
    /// Reads every uncompressed `*_Packages` file in `lists`.
    fn read(lists: &Path) -> io::Result<Self> {
        let mut index = PackageIndex::default();
        for entry in fs::read_dir(lists)? {
            let entry = entry?;
            let name = entry.file_name();
            if entry.file_type()?.is_file() && name.to_string_lossy().ends_with("_Packages") {
                index.add(BufReader::new(File::open(entry.path())?))?;
            }
        }
        Ok(index)
    }

    fn add(&mut self, reader: impl BufRead) -> io::Result<()> {
        let mut fields: HashMap<&'static str, String> = HashMap::new();
        let mut flush = |fields: &mut HashMap<&'static str, String>| {
            if let (Some(package), Some(version), Some(arch), Some(sha)) = (
                fields.get("Package"),
                fields.get("Version"),
                fields.get("Architecture"),
                fields.get("SHA256"),
            ) {
                // apt's name in its archive directory: the epoch colon escaped.
                let file = format!("{package}_{}_{arch}.deb", version.replace(':', "%3a"));
                self.sha256.insert(file, sha.clone());
            }
            fields.clear();
        };
        for line in reader.lines() {
            let line = line?;
            if line.is_empty() {
                flush(&mut fields);
                continue;
            }
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                let key = match key {
                    "Package" => "Package",
                    "Version" => "Version",
                    "Architecture" => "Architecture",
                    "SHA256" => "SHA256",
                    _ => continue,
                };
                fields.insert(key, value.trim().to_string());
            }
        }
        flush(&mut fields);
        Ok(())
    }

    fn sha256(&self, file: &str) -> Option<&str> {
        self.sha256.get(file).map(String::as_str)
    }

    fn is_empty(&self) -> bool {
        self.sha256.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "\
Package: hello
Version: 2.10-3
Architecture: amd64
Description: example
 continued: not a field
SHA256: SHAHELLO

Package: epochy
Version: 1:2.0-1
Architecture: all
SHA256: SHAEPOCH
";

    #[test]
    fn index_names_files_as_apt_does() {
        let mut index = PackageIndex::default();
        index.add(INDEX.as_bytes()).unwrap();
        assert_eq!(index.sha256("hello_2.10-3_amd64.deb"), Some("SHAHELLO"));
        assert_eq!(index.sha256("epochy_1%3a2.0-1_all.deb"), Some("SHAEPOCH"));
        assert_eq!(index.sha256("epochy_2.0-1_all.deb"), None);
    }

    fn lists_with(dir: &Path, name: &str, content: &[u8]) {
        let sha = hex::encode(Sha256::digest(content));
        fs::write(
            dir.join("example_dists_x_main_binary-amd64_Packages"),
            format!("Package: {name}\nVersion: 1.0\nArchitecture: amd64\nSHA256: {sha}\n"),
        )
        .unwrap();
    }

    #[test]
    fn collects_only_verified_files_and_seeds_copies() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = PackageCache {
            dir: tmp.path().join("pool"),
        };
        fs::create_dir_all(cache.dir()).unwrap();
        let lists = tmp.path().join("lists");
        let archives = tmp.path().join("archives");
        fs::create_dir_all(&lists).unwrap();
        fs::create_dir_all(&archives).unwrap();
        lists_with(&lists, "good", b"good deb");
        fs::write(archives.join("good_1.0_amd64.deb"), b"good deb").unwrap();
        fs::write(archives.join("forged_1.0_amd64.deb"), b"anything").unwrap();
        fs::write(cache.dir().join("stale_0.1_amd64.deb"), b"old").unwrap();

        let done = cache.collect(&archives, &lists).unwrap();
        assert_eq!(
            done,
            Collected {
                added: 1,
                rejected: 1,
                pruned: 1
            }
        );
        assert_eq!(
            fs::read(cache.dir().join("good_1.0_amd64.deb")).unwrap(),
            b"good deb"
        );
        assert!(!cache.dir().join("forged_1.0_amd64.deb").exists());

        // A changed file is checked again and refused; the pool keeps its copy.
        fs::write(archives.join("good_1.0_amd64.deb"), b"evil deb, longer").unwrap();
        let again = cache.collect(&archives, &lists).unwrap();
        assert_eq!((again.added, again.rejected), (0, 2));
        assert_eq!(
            fs::read(cache.dir().join("good_1.0_amd64.deb")).unwrap(),
            b"good deb"
        );

        let fresh = tmp.path().join("fresh");
        assert_eq!(cache.seed(&fresh).unwrap(), 1);
        assert_eq!(
            fs::read(fresh.join("good_1.0_amd64.deb")).unwrap(),
            b"good deb"
        );
        // Copies, not links: writing the seeded file leaves the pool alone.
        fs::write(fresh.join("good_1.0_amd64.deb"), b"changed!").unwrap();
        assert_eq!(
            fs::read(cache.dir().join("good_1.0_amd64.deb")).unwrap(),
            b"good deb"
        );
        assert!(fresh.join("partial").is_dir());
    }

    /// Builds running at once share one pool: every collect and seed
    /// succeeds and the pool only ever holds whole, verified files.
    #[test]
    fn concurrent_builds_share_a_pool() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = PackageCache {
            dir: tmp.path().join("pool"),
        };
        fs::create_dir_all(cache.dir()).unwrap();
        let lists = tmp.path().join("lists");
        fs::create_dir_all(&lists).unwrap();
        let mut index = String::new();
        let mut files = Vec::new();
        for i in 0..40 {
            let content = format!("package {i} ").repeat(5000 + i * 100).into_bytes();
            let sha = hex::encode(Sha256::digest(&content));
            index.push_str(&format!(
                "Package: p{i}\nVersion: 1.0\nArchitecture: amd64\nSHA256: {sha}\n\n"
            ));
            files.push((format!("p{i}_1.0_amd64.deb"), content));
        }
        fs::write(lists.join("x_Packages"), index).unwrap();
        let files = std::sync::Arc::new(files);
        let handles: Vec<_> = (0..6)
            .map(|build| {
                let cache = cache.clone();
                let lists = lists.clone();
                let files = files.clone();
                let root = tmp.path().join(format!("build-{build}"));
                std::thread::spawn(move || {
                    for round in 0..3 {
                        let archives = root.join(format!("round-{round}"));
                        cache.seed(&archives).unwrap();
                        for (name, content) in files.iter().skip(build * 5).take(20) {
                            fs::write(archives.join(name), content).unwrap();
                        }
                        cache.collect(&archives, &lists).unwrap();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let mut pooled: Vec<String> = fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        pooled.sort();
        assert_eq!(pooled.len(), 40, "{pooled:?}");
        for (name, content) in files.iter() {
            assert_eq!(
                &fs::read(cache.dir().join(name)).unwrap(),
                content,
                "{name}"
            );
        }
    }
}
