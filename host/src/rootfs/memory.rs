//! A cold build's root prepared in memory. When no root cache entry
//! matches, the bootstrap and the package installation run in a tmpfs
//! ([`MemoryRoot`]), where unpacking tens of thousands of files costs a
//! fraction of what it costs on some disks (ext4 without a journal looks up
//! every recently freed inode when it allocates one). The prepared root is
//! then copied into the root cache by a background thread while the rest of
//! the build works on an overlay over it ([`MemoryLower`]); the copy is
//! waited for when the build lets the root go.
//!
//! How much memory: [`MemoryBudget`], `builder run --memory-root` (`off`,
//! `auto` or a size such as `8G`). `auto`, the default, allows half the
//! memory available (`MemAvailable`) when that holds the package pool plus
//! 2 GiB. A root that outgrows its tmpfs is prepared again on disk, with a
//! warning.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::Context;

use crate::rootfs::layered::LayeredRoot;
use crate::rootfs::mounts::{memory_available, Scratch};
use crate::rootfs::root_cache::{self, RootCache};

/// How much memory a root prepared on a cache miss may take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MemoryBudget {
    /// Half the memory available, when that holds the package pool and 2 GiB.
    #[default]
    Auto,
    /// None: the root is prepared on disk.
    Off,
    /// At most this many bytes, whatever the memory.
    Bytes(u64),
}

impl std::str::FromStr for MemoryBudget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "auto" => Ok(MemoryBudget::Auto),
            "off" | "0" => Ok(MemoryBudget::Off),
            size => parse_size(size).map(MemoryBudget::Bytes).map_err(|e| {
                format!("`{size}`: expected `off`, `auto` or a size such as `8G` or `512M` ({e:#})")
            }),
        }
    }
}

impl MemoryBudget {
    /// The bytes the root may take, given the memory available and the
    /// size of the package pool.
    fn bytes(self, available: Option<u64>, pooled: u64) -> Option<u64> {
        match self {
            MemoryBudget::Auto => available
                .map(|a| a / 2)
                .filter(|half| *half >= pooled + MIN_ROOT),
            MemoryBudget::Off => None,
            MemoryBudget::Bytes(bytes) => Some(bytes),
        }
    }
}
/// `auto` prepares in memory only when a root of this size fits besides the pool.
const MIN_ROOT: u64 = 2 << 30;
/// A tmpfs with less than this free is taken as the reason a step failed.
const FULL_BELOW: u64 = 64 << 20;

/// A tmpfs holding the root being prepared; unmounted when dropped.
#[derive(Debug)]
pub struct MemoryRoot {
    scratch: Scratch,
}

impl MemoryRoot {
    /// A tmpfs for the root, when the memory budget allows one (the
    /// package pool under `package_cache` is copied into the root by the
    /// bootstrap, so it counts).
    pub fn mount(
        budget: MemoryBudget,
        package_cache: Option<&Path>,
    ) -> anyhow::Result<Option<MemoryRoot>> {
        let pooled = package_cache.map(bytes_below).unwrap_or(0);
        let Some(bytes) = budget.bytes(memory_available(), pooled) else {
            tracing::debug!("preparing the root on disk (memory budget)");
            return Ok(None);
        };
        let scratch = match Scratch::mount(bytes) {
            Ok(scratch) => scratch,
            Err(e) => {
                tracing::debug!("preparing the root on disk ({e})");
                return Ok(None);
            }
        };
        let memory = MemoryRoot { scratch };
        std::fs::create_dir(memory.root())
            .with_context(|| format!("creating {}", memory.root().display()))?;
        tracing::debug!(bytes, root = %memory.root().display(), "preparing the root in memory");
        Ok(Some(memory))
    }

    /// The root directory.
    pub fn root(&self) -> PathBuf {
        self.scratch.path().join("root")
    }

    /// Whether the tmpfs is (all but) full: a step that failed then may
    /// well have failed for want of space.
    pub fn is_full(&self) -> bool {
        self.scratch.free_bytes() < FULL_BELOW
    }

    /// The prepared root for the rest of the build: starts copying it into
    /// `cache` as a new entry in the background and mounts it at the empty
    /// directory `target` as an overlay whose upper layer stays in memory.
    /// Where the kernel refuses that overlay, the root is copied to
    /// `target` instead (`None`).
    pub fn into_layered(
        self,
        cache: &RootCache,
        target: &Path,
    ) -> anyhow::Result<Option<LayeredRoot>> {
        let root = self.root();
        // As the entry will be: the build sees the same root, cold or warm.
        root_cache::strip_unneeded(&root);
        let store = match cache.begin() {
            Ok(incoming) => {
                let (cache, root) = (cache.clone(), root.clone());
                let store = std::thread::Builder::new()
                    .name("root-cache-store".into())
                    .spawn(move || {
                        let started = std::time::Instant::now();
                        match root_cache::copy_tree(&root, incoming.path()) {
                            Ok(()) => {
                                drop(cache.commit(incoming));
                                tracing::debug!(elapsed = ?started.elapsed(), "root cache: stored");
                            }
                            // A cache that cannot be written costs speed, not the build.
                            Err(e) => tracing::warn!("root cache: not stored: {e:#}"),
                        }
                    })
                    .context("root cache: starting the copy")?;
                Some(store)
            }
            Err(e) => {
                tracing::warn!("root cache: not stored: {e:#}");
                None
            }
        };
        let lower = MemoryLower {
            store,
            scratch: self.scratch,
        };
        match LayeredRoot::over_memory(lower, target) {
            Ok(layered) => Ok(Some(layered)),
            Err((lower, e)) => {
                tracing::info!("copying the prepared root ({e:#})");
                root_cache::copy_tree(&lower.root(), target)?;
                Ok(None)
            }
        }
    }
}

/// The lower layer of a root prepared in memory, with the background copy
/// into the root cache: dropping it waits for the copy, then unmounts the
/// tmpfs.
#[derive(Debug)]
pub struct MemoryLower {
    store: Option<JoinHandle<()>>,
    // Dropped after the store is joined (see Drop).
    scratch: Scratch,
}

impl MemoryLower {
    /// The prepared root (never written once the overlay is mounted).
    pub fn root(&self) -> PathBuf {
        self.scratch.path().join("root")
    }

    /// Where the overlay keeps its upper and work directories.
    pub fn layer_dir(&self) -> PathBuf {
        self.scratch.path().join("layer")
    }
}

impl Drop for MemoryLower {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            if !store.is_finished() {
                tracing::info!("root cache: waiting for the prepared root to be stored");
            }
            if store.join().is_err() {
                tracing::warn!("root cache: the copy of the prepared root panicked");
            }
        }
    }
}

/// `8G`, `512M`, `1024K` or plain bytes (binary units).
fn parse_size(text: &str) -> anyhow::Result<u64> {
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        Some(b'T' | b't') => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    let number: u64 = digits
        .parse()
        .with_context(|| format!("`{digits}` is not a whole number"))?;
    let bytes = number
        .checked_mul(1 << shift)
        .context("more bytes than can be counted")?;
    anyhow::ensure!(bytes > 0, "a size of zero (say `off`)");
    Ok(bytes)
}

/// The size of the regular files below `dir` (0 when it cannot be read).
fn bytes_below(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => bytes_below(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_budget_follows_the_setting_and_the_memory() {
        const G: u64 = 1 << 30;
        let budget = |text: &str| text.parse::<MemoryBudget>();
        // auto: half the available memory, when it holds the pool and 2 GiB.
        assert_eq!(budget("auto").unwrap().bytes(Some(16 * G), G), Some(8 * G));
        assert_eq!(budget("").unwrap().bytes(Some(6 * G), G), Some(3 * G));
        assert_eq!(MemoryBudget::default().bytes(Some(5 * G), 2 * G), None);
        assert_eq!(MemoryBudget::Auto.bytes(None, 0), None);
        assert_eq!(budget("off").unwrap().bytes(Some(64 * G), 0), None);
        assert_eq!(budget("0").unwrap(), MemoryBudget::Off);
        // A size is taken as it is, whatever the memory.
        assert_eq!(budget("512M").unwrap().bytes(Some(G), 0), Some(512 << 20));
        assert_eq!(budget(" 3g ").unwrap().bytes(None, 0), Some(3 * G));
        assert_eq!(budget("4096").unwrap(), MemoryBudget::Bytes(4096));
        for bad in ["lots", "8GB", "-1G", "1.5G", "99999999999T"] {
            let e = budget(bad).unwrap_err();
            assert!(e.starts_with(&format!("`{bad}`: expected `off`")), "{e}");
        }
    }

    #[test]
    fn a_root_in_memory_is_stored_in_the_background_and_layered() {
        let tmp = tempfile::tempdir().unwrap();
        let memory = MemoryRoot {
            scratch: Scratch::mount(256 << 20).unwrap(),
        };
        let root = memory.root();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join(crate::packages::cache::APT_ARCHIVES)).unwrap();
        fs::write(root.join("etc/os-release"), "prepared").unwrap();
        fs::write(
            root.join(crate::packages::cache::APT_ARCHIVES)
                .join("a_1_all.deb"),
            "pooled",
        )
        .unwrap();
        assert!(!memory.is_full());

        let cache = RootCache::at(&tmp.path().join("roots/base"), "entry");
        let target = tmp.path().join("root");
        fs::create_dir(&target).unwrap();
        let layered = memory.into_layered(&cache, &target).unwrap().unwrap();
        // The build sees the root as the entry will hold it, and writes in memory.
        assert_eq!(
            fs::read_to_string(target.join("etc/os-release")).unwrap(),
            "prepared"
        );
        assert!(!target
            .join(crate::packages::cache::APT_ARCHIVES)
            .join("a_1_all.deb")
            .exists());
        fs::write(target.join("etc/hostname"), "build").unwrap();

        drop(layered);
        // Unmounted, stored without the build's changes.
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
        assert!(cache.is_stored());
        let entry = cache.hold().unwrap();
        assert_eq!(
            fs::read_to_string(entry.path().join("etc/os-release")).unwrap(),
            "prepared"
        );
        assert!(!entry.path().join("etc/hostname").exists());
    }

    #[test]
    fn a_full_root_in_memory_says_so() {
        let memory = MemoryRoot {
            scratch: Scratch::mount(32 << 20).unwrap(),
        };
        assert!(memory.is_full()); // 32 MiB: below the 64 MiB mark from the start
        let roomy = MemoryRoot {
            scratch: Scratch::mount(256 << 20).unwrap(),
        };
        fs::create_dir(roomy.root()).unwrap();
        assert!(!roomy.is_full());
        let mut file = fs::File::create(roomy.root().join("big")).unwrap();
        let chunk = vec![1u8; 1 << 20];
        while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
        assert!(roomy.is_full());
    }
}
