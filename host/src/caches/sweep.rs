//! The sweep of what builds that stopped (killed, crashed, the power lost)
//! left behind: work directories under the temp root (`builder-*`),
//! partial artifacts in a target directory (`.builder-partial-*`,
//! `.builder-*`) and half-written cache entries (`.incoming-*`,
//! `.removing-*`). Each is removed when its owner is gone (see
//! [`super`]: its lock is free and the process its name gives is dead, or
//! it is old), after unmounting whatever is mounted below it; nothing is
//! ever removed through a mount point. Runs when a build starts and in
//! `builder gc`.

use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::REMOVING;
use crate::rootfs::mounts;

/// Where to look.
#[derive(Debug, Clone, Default)]
pub struct Places {
    /// The directory builds make their work directories in
    /// ([`crate::rootfs::command::temp_root`]).
    pub temp_root: Option<PathBuf>,
    /// The cache directory (`--cache-dir`).
    pub cache_dir: Option<PathBuf>,
    /// Target directories (`--target-dir`).
    pub target_dirs: Vec<PathBuf>,
}

/// Something the sweep removed.
#[derive(Debug, Clone)]
pub struct Leftover {
    /// What it was.
    pub path: PathBuf,
    /// The space it took.
    pub bytes: u64,
    /// Mount points below it that were unmounted first.
    pub unmounted: Vec<PathBuf>,
    /// Who left it: a dead process, or an owner unknown.
    pub owner: Option<u32>,
}

/// An entry whose owner process is alive but that is not held yet (just
/// made) is left alone this long.
const FRESH: Duration = Duration::from_secs(10 * 60);
/// An entry whose name gives no owner (made by an older builder, or by a
/// library such as `tempfile` with its own names) is left alone this long.
const UNTAGGED: Duration = Duration::from_secs(24 * 3600);
/// The prefix of builder's work directories and files under the temp root.
const WORK: &str = crate::rootfs::command::TEMP_PREFIX;
/// Name prefixes in a target directory: an artifact's private directory,
/// a file being written (the longest first: the pid follows the prefix).
const PARTIAL: [&str; 2] = [".builder-partial-", ".builder-"];

/// Removes every leftover in `places` whose owner is gone; logs each (info)
/// and returns them. What cannot be removed is warned about and left.
pub fn sweep(places: &Places) -> Vec<Leftover> {
    let mut found = Vec::new();
    if let Some(temp) = &places.temp_root {
        // Those of tests (`builder-test-*`) are the tests' own to remove.
        sweep_dir(temp, &[WORK], &["builder-test"], &mut found);
    }
    if let Some(cache) = &places.cache_dir {
        let incoming = super::INCOMING;
        for dir in subdirs(&cache.join(super::ROOTS)) {
            sweep_dir(&dir, &[incoming, REMOVING], &[], &mut found);
        }
        for kind in subdirs(&cache.join(super::PACKAGES)) {
            for pool in subdirs(&kind) {
                sweep_dir(&pool, &[incoming], &[], &mut found);
            }
        }
        sweep_dir(&cache.join(super::XZ), &[incoming], &[], &mut found);
        // `.tmp`: what `tempfile` names files by default (older builders).
        sweep_dir(
            &cache.join(super::PLUGINS),
            &[incoming, ".tmp"],
            &[],
            &mut found,
        );
    }
    for target in &places.target_dirs {
        sweep_dir(target, &PARTIAL, &[], &mut found);
    }
    found
}

/// The sweep when a build starts: the temp root, the cache directory, and
/// the build's target directory when it has one.
pub fn at_startup(cache_dir: &Path, target_dir: Option<&Path>) -> Vec<Leftover> {
    sweep(&Places {
        temp_root: Some(crate::rootfs::command::temp_root()),
        cache_dir: Some(cache_dir.to_path_buf()),
        target_dirs: target_dir.map(Path::to_path_buf).into_iter().collect(),
    })
}

/// The directories in `dir` (none when it cannot be read).
pub(super) fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Sweeps the entries of `dir` whose names start with one of `prefixes`
/// and none of `except`.
fn sweep_dir(dir: &Path, prefixes: &[&str], except: &[&str], found: &mut Vec<Leftover>) {
    // Mount points are absolute and resolved: so must the paths be that
    // are compared with them.
    let Ok(dir) = fs::canonicalize(dir) else {
        return;
    };
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = prefixes.iter().find_map(|p| name.strip_prefix(p)) else {
            continue;
        };
        if except.iter().any(|e| name.starts_with(e)) {
            continue;
        }
        if let Some(leftover) = sweep_entry(&entry.path(), rest) {
            found.push(leftover);
        }
    }
}

/// The process id an owned entry's name gives (the digits before the first
/// dash after its prefix).
fn owner_of(rest: &str) -> Option<u32> {
    let (digits, _) = rest.split_once('-')?;
    digits.parse().ok().filter(|pid| *pid > 0)
}

/// Whether process `pid` is running.
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the entry at `path` if its owner is gone.
fn sweep_entry(path: &Path, rest: &str) -> Option<Leftover> {
    let meta = fs::symlink_metadata(path).ok()?;
    let owner = owner_of(rest);
    let age = SystemTime::now()
        .duration_since(meta.modified().ok()?)
        .unwrap_or_default();
    if meta.file_type().is_symlink() {
        // Never made by builder: a planted link, removed (never followed).
        return remove(path, &meta, None, owner);
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .ok()?;
    // Held by a live build: in use. Taken: no one's, and kept from any
    // other sweep while it is removed.
    file.try_lock().ok()?;
    let gone = match owner {
        Some(pid) => !alive(pid) || age > FRESH,
        None => age > UNTAGGED,
    };
    if !gone {
        return None;
    }
    remove(path, &meta, Some(file), owner)
}

/// Unmounts what is below `path` and removes it; `_lock` is held meanwhile.
fn remove(
    path: &Path,
    meta: &fs::Metadata,
    _lock: Option<fs::File>,
    owner: Option<u32>,
) -> Option<Leftover> {
    let unmounted = if meta.is_dir() {
        mounts::unmount_below(path)
    } else {
        Vec::new()
    };
    let bytes = if meta.is_dir() {
        bytes_below(path, meta.dev())
    } else {
        meta.blocks() * 512
    };
    let removed = if meta.is_dir() {
        mounts::remove_tree(path)
    } else {
        fs::remove_file(path)
    };
    let who = match owner {
        Some(pid) => format!("process {pid}, which is gone"),
        None => "a build that stopped".to_string(),
    };
    if let Err(e) = removed {
        tracing::warn!(
            "not removing {} (left by {who}): {e}; remove it by hand once nothing uses it",
            path.display()
        );
        return None;
    }
    let mounted = if unmounted.is_empty() {
        String::new()
    } else {
        format!(", {} mount(s) below it unmounted", unmounted.len())
    };
    tracing::info!(
        "removed {} ({}), left by {who}{mounted}",
        path.display(),
        super::human(bytes)
    );
    Some(Leftover {
        path: path.to_path_buf(),
        bytes,
        unmounted,
        owner,
    })
}

/// The space the files below `dir` take on its filesystem (hard links
/// counted once).
pub(crate) fn bytes_below(dir: &Path, device: u64) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.dev() != device {
                continue;
            }
            if meta.nlink() > 1 && !seen.insert(meta.ino()) {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A process id that is not running (a child that exited).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
        pid
    }

    fn age(path: &Path, by: Duration) {
        let file = fs::File::open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn only_what_no_live_build_holds_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let temp = tmp.path().join("tmp");
        let cache = tmp.path().join("cache");
        let target = tmp.path().join("target");
        let dead = dead_pid();
        let me = std::process::id();
        for dir in [&temp, &cache.join("roots/abc"), &cache.join("xz"), &target] {
            fs::create_dir_all(dir).unwrap();
        }
        // Stale: a dead owner's work directory, incoming entry, partial file.
        let work = temp.join(format!("builder-{dead}-aaaa"));
        fs::create_dir_all(work.join("root/etc")).unwrap();
        fs::write(work.join("root/etc/file"), vec![1u8; 10000]).unwrap();
        let incoming = cache.join(format!("roots/abc/.incoming-{dead}-bbbb"));
        fs::create_dir_all(incoming.join("root")).unwrap();
        let chunk = cache.join(format!("xz/.incoming-{dead}-cccc"));
        fs::write(&chunk, "half a chunk").unwrap();
        let partial = target.join(format!(".builder-partial-{dead}-dddd"));
        fs::create_dir(&partial).unwrap();
        fs::write(partial.join("disk.raw"), "partial").unwrap();
        // Stale: no owner named, and a day old; a planted link.
        let old = temp.join("builder-Xy12ab");
        fs::create_dir(&old).unwrap();
        age(&old, Duration::from_secs(25 * 3600));
        let link = target.join(".builder-link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();

        // Kept: held by a live build; fresh (owner alive, not held yet);
        // no owner named but recent; a test's own; not builder's.
        let held = crate::caches::Owned::new_in(&temp, "builder-", 0o700).unwrap();
        let fresh = temp.join(format!("builder-{me}-eeee"));
        fs::create_dir(&fresh).unwrap();
        let recent = temp.join("builder-Zz98zz");
        fs::create_dir(&recent).unwrap();
        let test = temp.join(format!("builder-test-{dead}-ffff"));
        fs::create_dir(&test).unwrap();
        let other = temp.join("other");
        fs::create_dir(&other).unwrap();
        age(&other, Duration::from_secs(30 * 24 * 3600));
        let artifact = target.join("image.raw");
        fs::write(&artifact, "done").unwrap();

        let removed = sweep(&Places {
            temp_root: Some(temp.clone()),
            cache_dir: Some(cache.clone()),
            target_dirs: vec![target.clone()],
        });
        let mut paths: Vec<&Path> = removed.iter().map(|l| l.path.as_path()).collect();
        paths.sort();
        let mut expected = vec![
            work.as_path(),
            incoming.as_path(),
            chunk.as_path(),
            partial.as_path(),
            old.as_path(),
            link.as_path(),
        ];
        expected.sort();
        assert_eq!(paths, expected);
        for gone in expected {
            assert!(fs::symlink_metadata(gone).is_err(), "{}", gone.display());
        }
        assert!(Path::new("/etc/passwd").exists());
        for kept in [held.path(), &fresh, &recent, &test, &other, &artifact] {
            assert!(kept.exists(), "{}", kept.display());
        }
        let work_leftover = removed.iter().find(|l| l.path == work).unwrap();
        assert_eq!(work_leftover.owner, Some(dead));
        assert!(work_leftover.bytes >= 10000, "{}", work_leftover.bytes);

        // A live owner that took long to lock it: stale once old enough.
        age(&fresh, FRESH + Duration::from_secs(60));
        let removed = sweep(&Places {
            temp_root: Some(temp.clone()),
            ..Places::default()
        });
        assert_eq!(removed.len(), 1);
        assert!(!fresh.exists() && held.path().exists());
    }

    #[test]
    fn a_mount_below_a_leftover_is_unmounted_never_removed_through() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let work = tmp.path().join(format!("builder-{dead}-mnt"));
        let dev = work.join("root/dev");
        fs::create_dir_all(&dev).unwrap();
        let canary = tempfile::tempdir().unwrap();
        fs::write(canary.path().join("node"), "keep").unwrap();
        fs::set_permissions(canary.path(), fs::Permissions::from_mode(0o755)).unwrap();
        rustix::mount::mount_bind(canary.path(), &dev).unwrap();
        let removed = sweep(&Places {
            temp_root: Some(tmp.path().to_path_buf()),
            ..Places::default()
        });
        assert_eq!(removed.len(), 1);
        assert_eq!(
            removed[0].unmounted,
            vec![fs::canonicalize(tmp.path())
                .unwrap()
                .join(format!("builder-{dead}-mnt/root/dev"))]
        );
        assert!(!work.exists());
        assert_eq!(
            fs::read_to_string(canary.path().join("node")).unwrap(),
            "keep"
        );
        assert!(mounts::mounts_below(tmp.path()).is_empty());
    }
}
