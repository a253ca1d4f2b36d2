//! Mounts the build makes in the host's mount namespace: [`Scratch`], a
//! tmpfs for work that creates and replaces many files, and the sweep of
//! what an interrupted tool left mounted ([`unmount_below`]). Programs run
//! inside the root get their `/proc`, `/sys` and `/dev` from their sandbox
//! ([`super::sandbox`]), in a mount namespace of their own.

use std::path::{Path, PathBuf};

use rustix::fs::StatVfsMountFlags;
use rustix::mount::{self as rmount, MountFlags, UnmountFlags};

/// A filesystem could not be mounted.
#[derive(Debug, thiserror::Error)]
#[error("mounting {what} on {}: {source}", target.display())]
pub struct MountError {
    /// What was mounted.
    pub what: &'static str,
    /// The mount point.
    pub target: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// A private tmpfs in a new temporary directory (under the build's temp
/// root) for work that creates and replaces many thousands of files, such
/// as a bootstrap, whose result is then copied where it belongs: on some
/// filesystems (ext4 without a journal) creating files right after others
/// were replaced costs several times more. Unmounted (lazily if refused)
/// and removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: Option<super::owned::Owned>,
    /// The tmpfs's root held too: a process that sees the mount (where
    /// mount namespaces are not available) finds it in use as well.
    held: Option<std::fs::File>,
}

impl Scratch {
    /// Mounts a tmpfs of at most `max_bytes`.
    pub fn mount(max_bytes: u64) -> Result<Scratch, MountError> {
        let dir = super::command::temp_dir().map_err(|source| MountError {
            what: "tmpfs",
            target: super::command::temp_root(),
            source,
        })?;
        let options = std::ffi::CString::new(format!("mode=0755,size={max_bytes}"))
            .expect("no NUL in tmpfs options");
        rmount::mount(
            "tmpfs",
            dir.path(),
            "tmpfs",
            // Reads leave access times alone. A root prepared here is
            // read (copied into the root cache by a background thread)
            // while the build reads it through an overlay: under
            // `relatime` the first read of a file whose access time is
            // not after its modification time (a symlink dpkg unpacked)
            // moves it to now, and whether the copy or the image came
            // first decided the access time the image kept.
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOATIME,
            Some(options.as_c_str()),
        )
        .map_err(|e| MountError {
            what: "tmpfs",
            target: dir.path().to_path_buf(),
            source: e.into(),
        })?;
        tracing::debug!(target = %dir.path().display(), "mounted a scratch tmpfs");
        let held = super::owned::hold(dir.path()).ok();
        Ok(Scratch {
            dir: Some(dir),
            held,
        })
    }

    /// Its mount point.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("mounted until dropped").path()
    }

    /// The bytes still free in it.
    pub fn free_bytes(&self) -> u64 {
        rustix::fs::statvfs(self.path())
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0)
    }
}

/// Moves this process into a mount namespace of its own whose mounts the
/// host's still reach (`/` made a recursive slave), so that every mount a
/// build makes (its memory root, overlays, scratch tmpfs, a loop mount)
/// lives and dies with it: a build killed with SIGKILL leaves nothing
/// mounted, and nothing it mounts shows, or can be removed through, from
/// outside. Must run before any thread starts (a threaded process cannot
/// leave its mount namespace). Does nothing, and says so at debug level,
/// where it is refused (not root).
pub fn enter_private_namespace() {
    let entered = (|| -> rustix::io::Result<()> {
        // SAFETY: called from `main` before any thread starts.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
        rmount::mount_change(
            "/",
            rmount::MountPropagationFlags::DOWNSTREAM | rmount::MountPropagationFlags::REC,
        )
    })();
    match entered {
        Ok(()) => {
            let _ = PRIVATE.set(true);
        }
        Err(e) => tracing::debug!("mounts stay in the host's namespace: {e}"),
    }
}

/// Whether [`enter_private_namespace`] moved this process into a mount
/// namespace of its own (set once, before any thread starts).
static PRIVATE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Makes reads below each of `dirs` (where roots are prepared, stored and
/// read: the temporary directory and the root cache) leave access times as
/// they are, by binding each directory onto itself with `noatime` in the
/// build's own mount namespace (the host's view is untouched; the binds go
/// with the process).
///
/// Why: an xfs or btrfs image filled through a mount keeps each file's
/// access time (ext2/3/4 get the epoch as every access time), and
/// `SOURCE_DATE_EPOCH` clamps only the times after it. Under `relatime`
/// the first read of a file whose access time is not after its
/// modification time (a symlink dpkg unpacked) moves it to now. A root
/// cache entry is read whole when it is stored and checked against its
/// manifest before each use, so without this the access times a warm
/// build's image keeps would be those of its cache's history, not those
/// the packages were unpacked with.
///
/// Does nothing outside a private namespace (a bind there would be the
/// host's); a bind the kernel refuses costs only that guarantee, with a
/// warning.
pub fn keep_access_times(dirs: &[&Path]) {
    if PRIVATE.get() != Some(&true) {
        return;
    }
    let refused: Vec<String> = dirs
        .iter()
        .filter_map(|dir| {
            let e = bind_without_access_times(dir).err()?;
            Some(format!("{} ({e})", dir.display()))
        })
        .collect();
    if !refused.is_empty() {
        // In a user namespace the kernel locks a mount's access-time flags.
        // Rootless builds make no xfs or btrfs, and ext4 images get the
        // epoch as every access time whatever the tree has
        // (`toolbox::filesystems`), so nothing they make keeps these times.
        if super::userns::rootless() {
            tracing::debug!(
                "rootless build: reads below {} may change access times",
                refused.join(" and ")
            );
        } else {
            tracing::warn!(
                "reads below {} may change access times, so a warm build's xfs and btrfs \
                 images may differ from a cold build's in them",
                refused.join(" and ")
            );
        }
    }
    // The working directory was entered before the binds: below one of
    // them it is still the directory under it, another mount, and a rename
    // from a path relative to it to an absolute one would cross mounts.
    if let Ok(cwd) = std::env::current_dir() {
        let _ = std::env::set_current_dir(cwd);
    }
}

fn bind_without_access_times(dir: &Path) -> rustix::io::Result<()> {
    rmount::mount_bind_recursive(dir, dir)?;
    // A remount replaces the bind's flags: keep those the mount had
    // (`nosuid` and the like, which a user namespace may not drop).
    let had = rustix::fs::statvfs(dir)?.f_flag;
    let mut flags = MountFlags::BIND | MountFlags::NOATIME;
    for (st, flag) in [
        (StatVfsMountFlags::RDONLY, MountFlags::RDONLY),
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
    ] {
        if had.contains(st) {
            flags |= flag;
        }
    }
    rmount::mount_remount(dir, flags, "")
}

/// The mount points at or below `path`, from this process's mountinfo.
pub fn mounts_below(path: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|point| point.starts_with(path))
        .collect()
}

/// Removes the directory tree `path`, refusing when anything is mounted at
/// or below it (a removal must never reach into a mounted filesystem, such
/// as a bind of the host's `/dev` a killed tool left) and never leaving the
/// filesystem `path` is on.
pub fn remove_tree(path: &Path) -> std::io::Result<()> {
    let mounted = mounts_below(path);
    if let Some(point) = mounted.first() {
        return Err(std::io::Error::other(format!(
            "not removing {}: {} is mounted there (unmount it first)",
            path.display(),
            point.display()
        )));
    }
    let top = std::fs::symlink_metadata(path)?;
    if !top.is_dir() {
        return std::fs::remove_file(path);
    }
    remove_within(path, std::os::unix::fs::MetadataExt::dev(&top))
}

fn remove_within(dir: &Path, device: u64) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            if meta.dev() != device {
                return Err(std::io::Error::other(format!(
                    "not removing {}: it is another filesystem",
                    path.display()
                )));
            }
            remove_within(&path, device)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    std::fs::remove_dir(dir)
}

/// Whether `path` lies on a tmpfs (in memory already: no [`Scratch`] needed).
pub fn on_tmpfs(path: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC)
}

/// The memory the kernel reckons available for new work without swapping
/// (`MemAvailable`), in bytes.
pub fn memory_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        drop(self.held.take()); // an open directory keeps it busy
        if rmount::unmount(dir.path(), UnmountFlags::empty()).is_err() {
            if let Err(e) = rmount::unmount(dir.path(), UnmountFlags::DETACH) {
                tracing::error!(target = %dir.path().display(), error = %e, "could not detach the scratch tmpfs");
                // Never remove what may still be a mounted tree.
                let _ = dir.keep();
                return;
            }
        }
        tracing::debug!(target = %dir.path().display(), "unmounted the scratch tmpfs");
    }
}

/// Unmount everything mounted at or below `root` (deepest first, lazily when
/// a plain unmount is refused): the sweep after a failed or interrupted
/// step, which also catches what a killed tool (mmdebstrap) left behind.
/// Returns the mount points it unmounted.
pub fn unmount_below(root: &Path) -> Vec<PathBuf> {
    let mut points = mounts_below(root);
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for point in &points {
        if rmount::unmount(point, UnmountFlags::empty()).is_err() {
            let _ = rmount::unmount(point, UnmountFlags::DETACH);
        }
        tracing::warn!(
            "unmounted {} left behind by an interrupted step",
            point.display()
        );
    }
    points
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo("/var/tmp/a\\040b"), "/var/tmp/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn a_scratch_is_a_tmpfs_of_the_size_asked_and_goes_when_dropped() {
        let scratch = Scratch::mount(8 << 20).unwrap();
        let path = scratch.path().to_path_buf();
        assert!(on_tmpfs(&path));
        assert!(!on_tmpfs(Path::new("/proc")));
        let free = scratch.free_bytes();
        assert!(free > 7 << 20 && free <= 8 << 20, "{free}");
        std::fs::write(path.join("file"), vec![0u8; 2 << 20]).unwrap();
        assert!(scratch.free_bytes() <= free - (2 << 20));
        drop(scratch);
        assert!(!path.exists());
        assert!(memory_available().is_some_and(|m| m > 0));
    }

    /// A root in a scratch keeps the access times it was written with:
    /// reading a symlink or a file whose access time is not after its
    /// modification time (as dpkg leaves them) would move it under
    /// `relatime`, and the image keeps it.
    #[test]
    fn reads_in_a_scratch_leave_access_times_alone() {
        use std::os::unix::fs::MetadataExt;
        let scratch = Scratch::mount(8 << 20).unwrap();
        let link = scratch.path().join("nawk");
        let file = scratch.path().join("file");
        std::os::unix::fs::symlink("/etc/alternatives/nawk", &link).unwrap();
        std::fs::write(&file, b"data").unwrap();
        let long_ago = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 1_655_480_126,
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 1_655_480_126,
                tv_nsec: 0,
            },
        };
        for path in [&link, &file] {
            rustix::fs::utimensat(
                rustix::fs::CWD,
                path,
                &long_ago,
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .unwrap();
        }
        std::fs::read_link(&link).unwrap();
        std::fs::read(&file).unwrap();
        for path in [&link, &file] {
            let meta = std::fs::symlink_metadata(path).unwrap();
            assert_eq!(meta.atime(), 1_655_480_126, "{}", path.display());
        }
    }

    #[test]
    fn a_tree_with_a_mount_below_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a/dev");
        std::fs::create_dir_all(&inner).unwrap();
        let canary = tempfile::tempdir().unwrap();
        std::fs::write(canary.path().join("node"), "keep").unwrap();
        rmount::mount_bind(canary.path(), &inner).unwrap();
        let err = remove_tree(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is mounted there"), "{err}");
        assert_eq!(
            std::fs::read_to_string(canary.path().join("node")).unwrap(),
            "keep"
        );
        rmount::unmount(&inner, UnmountFlags::empty()).unwrap();
        remove_tree(dir.path()).unwrap();
        assert!(!dir.path().exists());
        assert!(canary.path().join("node").exists());
    }

    #[test]
    fn sweeping_a_tree_with_nothing_mounted_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(unmount_below(dir.path()).is_empty());
    }
}

/// Stand-ins for directories a program must see empty: see [`hide_from`].
/// Removed when dropped; keep it until the program has ended.
#[derive(Debug)]
pub struct Hidden {
    _standins: Option<super::owned::Owned>,
}

/// Shows each of `dirs` (relative paths of real directories below `root`)
/// empty to the program `cmd` will run: in a mount namespace of the child's
/// own, each is covered by a bind mount of an empty directory with the
/// same owner, mode and times. A filesystem made of `root` by that program
/// keeps the mount points and none of what other partitions hold (KIWI's
/// separate `/boot`). Nothing changes in the tree or in the build's mounts.
pub fn hide_from(
    cmd: &mut std::process::Command,
    root: &Path,
    dirs: &[PathBuf],
) -> std::io::Result<Hidden> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    if dirs.is_empty() {
        return Ok(Hidden { _standins: None });
    }
    let standins = super::command::temp_dir()?;
    let mut binds = Vec::new();
    for (index, dir) in dirs.iter().enumerate() {
        let target = real_directory_below(root, dir)?;
        let meta = std::fs::symlink_metadata(&target)?;
        let standin = standins.path().join(index.to_string());
        std::fs::create_dir(&standin)?;
        std::os::unix::fs::lchown(&standin, Some(meta.uid()), Some(meta.gid()))?;
        std::fs::set_permissions(
            &standin,
            std::os::unix::fs::PermissionsExt::from_mode(meta.mode() & 0o7777),
        )?;
        std::fs::File::open(&standin)?.set_times(
            std::fs::FileTimes::new()
                .set_accessed(meta.accessed()?)
                .set_modified(meta.modified()?),
        )?;
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
        binds.push((c(&standin)?, c(&target)?));
    }
    // SAFETY: between fork and exec only system calls run, on strings
    // made before the fork: nothing allocates or takes a lock.
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            rmount::mount_change(
                c"/",
                rmount::MountPropagationFlags::PRIVATE | rmount::MountPropagationFlags::REC,
            )?;
            for (standin, target) in &binds {
                rmount::mount_bind(standin.as_c_str(), target.as_c_str())?;
            }
            Ok(())
        });
    }
    Ok(Hidden {
        _standins: Some(standins),
    })
}

/// `root/dir`, when `dir` is a relative path without `..` and every
/// component of it is a real directory (no symlink leads out of the tree).
pub fn real_directory_below(root: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    use std::path::Component;
    let mut path = root.to_path_buf();
    let mut any = false;
    for component in dir.components() {
        match component {
            Component::Normal(name) => path.push(name),
            _ => {
                return Err(std::io::Error::other(format!(
                    "`{}` is not a plain relative path",
                    dir.display()
                )))
            }
        }
        any = true;
        if !std::fs::symlink_metadata(&path)?.is_dir() {
            return Err(std::io::Error::other(format!(
                "/{} in the root is not a directory (a symlink or file there is refused)",
                dir.display()
            )));
        }
    }
    if !any {
        return Err(std::io::Error::other("an empty path names the whole root"));
    }
    Ok(path)
}
