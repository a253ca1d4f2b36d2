//! `builder gc`: the sweep of leftovers ([`super::sweep`]) on demand, then
//! every cache pruned by age (`--max-age`) and total size (`--max-size`,
//! the least recently used first): prepared roots (`roots/`, one entry per
//! repository state, used when its description's directory was last
//! touched), downloaded packages (`packages/`), compressed xz chunks
//! (`xz/`) and compiled plugins (`plugins/`), each file last used when it
//! was last read or written. A root entry a build holds is never removed;
//! a file is read whole by the build that uses it, so removing one costs
//! at most a download or a compression.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use super::human;
use super::sweep::{self, subdirs, Leftover, Places};

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct GcRequest {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// Where builds make their work directories.
    pub temp_root: PathBuf,
    /// Target directories to sweep partial artifacts from.
    pub target_dirs: Vec<PathBuf>,
    /// Remove cache entries unused for longer than this.
    pub max_age: Option<Duration>,
    /// Then remove the least recently used until the caches hold at most
    /// this many bytes.
    pub max_size: Option<u64>,
}

/// What `builder gc` did.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Leftovers of builds that stopped.
    pub leftovers: Vec<Leftover>,
    /// Cache entries removed.
    pub pruned: Vec<Pruned>,
    /// Entries that were due but are in use, left.
    pub in_use: Vec<PathBuf>,
    /// The bytes the caches hold now.
    pub remaining: u64,
}

impl GcReport {
    /// The bytes freed.
    pub fn freed(&self) -> u64 {
        self.leftovers.iter().map(|l| l.bytes).sum::<u64>()
            + self.pruned.iter().map(|p| p.bytes).sum::<u64>()
    }
}

/// A cache entry removed.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// The entry.
    pub path: PathBuf,
    /// The space it took.
    pub bytes: u64,
    /// How long it had not been used.
    pub unused: Duration,
    /// Why it went.
    pub why: Why,
}

/// Why an entry was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Unused for longer than `--max-age`.
    Age,
    /// Among the least recently used while the caches held more than `--max-size`.
    Size,
}

/// One cache entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its path.
    pub path: PathBuf,
    /// The space it takes.
    pub bytes: u64,
    /// When a build last used it.
    pub last_used: SystemTime,
    /// A prepared root (removed only when no build holds it).
    pub is_root: bool,
}

/// Sweeps leftovers, then prunes the caches of `request.cache_dir`.
pub fn gc(request: &GcRequest) -> GcReport {
    let mut report = GcReport {
        leftovers: sweep::sweep(&Places {
            temp_root: Some(request.temp_root.clone()),
            cache_dir: Some(request.cache_dir.clone()),
            target_dirs: request.target_dirs.clone(),
        }),
        ..GcReport::default()
    };
    let now = SystemTime::now();
    let mut entries = entries(&request.cache_dir);
    entries.sort_by_key(|e| e.last_used);
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    for entry in entries {
        let unused = now.duration_since(entry.last_used).unwrap_or_default();
        let why = if request.max_age.is_some_and(|max| unused > max) {
            Why::Age
        } else if request.max_size.is_some_and(|max| total > max) {
            Why::Size
        } else {
            continue;
        };
        if !remove(&entry) {
            report.in_use.push(entry.path);
            continue;
        }
        total -= entry.bytes;
        tracing::debug!(path = %entry.path.display(), ?why, "cache entry removed");
        report.pruned.push(Pruned {
            path: entry.path,
            bytes: entry.bytes,
            unused,
            why,
        });
    }
    // The directories of descriptions whose every root went.
    for dir in subdirs(&request.cache_dir.join(super::ROOTS)) {
        let _ = fs::remove_dir(dir);
    }
    report.remaining = total;
    report
}

/// Removes one entry; false when it is in use (or cannot be removed).
fn remove(entry: &Entry) -> bool {
    if entry.is_root {
        super::remove_entry(&entry.path)
    } else {
        match fs::remove_file(&entry.path) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("gc: removing {}: {e}", entry.path.display());
                false
            }
        }
    }
}

/// Every entry of every cache in `cache_dir`.
pub fn entries(cache_dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for description in subdirs(&cache_dir.join(super::ROOTS)) {
        let Ok(used) = fs::metadata(&description).and_then(|m| m.modified()) else {
            continue;
        };
        for state in subdirs(&description) {
            if is_hidden(&state) {
                continue; // being written or removed: the sweep's
            }
            let Ok(meta) = fs::symlink_metadata(&state) else {
                continue;
            };
            out.push(Entry {
                bytes: sweep::bytes_below(&state, meta.dev()),
                path: state,
                last_used: used,
                is_root: true,
            });
        }
    }
    let wanted = |path: &Path, ext: &[&str]| {
        !is_hidden(path)
            && path
                .extension()
                .is_some_and(|x| ext.iter().any(|e| x == *e))
    };
    files_below(
        &cache_dir.join(super::PACKAGES),
        &mut |p| wanted(p, &["deb", "rpm"]),
        &mut out,
    );
    files_below(
        &cache_dir.join(super::XZ),
        &mut |p| wanted(p, &["xz"]),
        &mut out,
    );
    files_below(
        &cache_dir.join(super::PLUGINS),
        &mut |p| wanted(p, &["cwasm"]),
        &mut out,
    );
    out
}

/// The regular files below `dir` that `keep` takes, as entries last used
/// when last read or written.
fn files_below(dir: &Path, keep: &mut dyn FnMut(&Path) -> bool, out: &mut Vec<Entry>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            files_below(&path, keep, out);
        } else if meta.is_file() && keep(&path) {
            let read = SystemTime::UNIX_EPOCH + Duration::from_secs(meta.atime().max(0) as u64);
            let written = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.push(Entry {
                path,
                bytes: meta.blocks() * 512,
                last_used: read.max(written),
                is_root: false,
            });
        }
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// A duration for people, in days, hours or minutes.
pub fn ago(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 2 * 86400 => format!("{} days", s / 86400),
        s if s >= 2 * 3600 => format!("{} hours", s / 3600),
        s => format!("{} minutes", s / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_used(path: &Path, days_ago: u64) {
        let when = SystemTime::now() - Duration::from_secs(days_ago * 86400);
        let times = fs::FileTimes::new().set_accessed(when).set_modified(when);
        fs::File::open(path).unwrap().set_times(times).unwrap();
    }

    fn file(path: &Path, bytes: usize, days_ago: u64) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, vec![7u8; bytes]).unwrap();
        set_used(path, days_ago);
    }

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(ago(Duration::from_secs(40 * 86400)), "40 days");
    }

    #[test]
    fn the_least_recently_used_go_first_and_held_roots_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let k = 64 << 10;
        // Oldest first: a chunk (9 days), a package (7), a root no one
        // holds (5), a held root (4), a plugin (3), a chunk (1), a package (0).
        file(&cache.join("xz/aa.xz"), k, 9);
        file(&cache.join("packages/apt/amd64-1/a_1_amd64.deb"), k, 7);
        file(&cache.join("roots/d1/s1/root/etc/file"), k, 0);
        set_used(&cache.join("roots/d1"), 5);
        file(&cache.join("roots/d2/s2/root/etc/file"), k, 0);
        set_used(&cache.join("roots/d2"), 4);
        let held = fs::File::open(cache.join("roots/d2/s2")).unwrap();
        held.try_lock_shared().unwrap();
        file(&cache.join("plugins/p.cwasm"), k, 3);
        file(&cache.join("xz/bb.xz"), k, 1);
        file(&cache.join("packages/apt/amd64-1/b_1_amd64.deb"), k, 0);
        // Never entries: the plugin cache's key, a file being written.
        file(&cache.join("plugins/cache.key"), 32, 30);
        file(&cache.join("xz/.incoming-1-x"), 10, 0);

        let all = entries(&cache);
        assert_eq!(all.len(), 7, "{all:?}");
        let bytes = |rel: &str| {
            all.iter()
                .find(|e| e.path == cache.join(rel))
                .unwrap_or_else(|| panic!("{rel}"))
                .bytes
        };
        // Room for three entries: the four least recently used go, save
        // the held root, and the plugin after it goes instead.
        let room =
            bytes("roots/d2/s2") + bytes("xz/bb.xz") + bytes("packages/apt/amd64-1/b_1_amd64.deb");
        let report = gc(&GcRequest {
            cache_dir: cache.clone(),
            temp_root: tmp.path().join("no-temp"),
            max_size: Some(room),
            ..GcRequest::default()
        });
        let gone: Vec<String> = report
            .pruned
            .iter()
            .map(|p| p.path.strip_prefix(&cache).unwrap().display().to_string())
            .collect();
        let expected = [
            "xz/aa.xz",
            "packages/apt/amd64-1/a_1_amd64.deb",
            "roots/d1/s1",
            "plugins/p.cwasm",
        ];
        assert_eq!(gone, expected);
        assert!(report.pruned.iter().all(|p| p.why == Why::Size));
        assert_eq!(report.in_use, [cache.join("roots/d2/s2")]);
        assert!(
            !cache.join("roots/d1").exists(),
            "an emptied description goes"
        );
        assert!(cache.join("roots/d2/s2/root/etc/file").exists());
        assert!(cache.join("xz/bb.xz").exists() && cache.join("plugins/cache.key").exists());
        assert_eq!(report.remaining, room);
        assert_eq!(
            report.freed(),
            expected.iter().map(|e| bytes(e)).sum::<u64>()
        );

        // By age: what was not used for two days goes, once no build holds it.
        drop(held);
        // A process another test forks in this moment shares the lock's
        // file until it execs: wait until the lock is free for good.
        let free = || fs::File::open(cache.join("roots/d2/s2")).is_ok_and(|f| f.try_lock().is_ok());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !free() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let report = gc(&GcRequest {
            cache_dir: cache.clone(),
            temp_root: tmp.path().join("no-temp"),
            max_age: Some(Duration::from_secs(2 * 86400)),
            ..GcRequest::default()
        });
        let gone: Vec<&Path> = report.pruned.iter().map(|p| p.path.as_path()).collect();
        assert_eq!(gone, [cache.join("roots/d2/s2")]);
        assert_eq!(report.pruned[0].why, Why::Age);
        assert_eq!(entries(&cache).len(), 2);
    }
}
