//! What builds keep between them and what they leave while they run: the
//! cache directories, made private and refused when someone else could
//! put things in them ([`private_dir`]); work directories and partial files
//! named after their owner and held by it ([`Owned`], [`incoming_file`]),
//! so that a later build tells a dead owner's leftovers from a live one's;
//! the sweep of those leftovers ([`sweep`]) and `builder gc` ([`gc`]).
//!
//! Ownership: every such entry is named `<prefix><pid>-<random>` and its
//! owner holds a shared `flock` on it for as long as it uses it. The kernel
//! drops the lock when the owner dies, however it dies (SIGKILL included),
//! so an entry whose lock can be taken is no one's; the pid in the name
//! only tells a fresh entry (its owner alive, about to lock it) from a
//! stale one, and names the owner in messages.

pub mod gc;
pub mod remote;
pub mod sweep;

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The sub-directories of the cache directory, one per cache.
pub const ROOTS: &str = "roots";
/// Downloaded packages.
pub const PACKAGES: &str = "packages";
/// Compressed xz chunks.
pub const XZ: &str = "xz";
/// Compiled plugins.
pub const PLUGINS: &str = "plugins";

/// Name prefix of a cache entry or file being written.
pub const INCOMING: &str = ".incoming-";

/// Where builds keep their caches when no `--cache-dir` is given:
/// `/var/cache/builder` for root; for a rootless build the user's own,
/// `$XDG_CACHE_HOME/builder` (`~/.cache/builder`), so that a cache root
/// made is never one an unprivileged build writes to.
pub fn default_dir() -> PathBuf {
    if !crate::rootfs::userns::rootless() {
        return PathBuf::from("/var/cache/builder");
    }
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    match (absolute("XDG_CACHE_HOME"), absolute("HOME")) {
        (Some(cache), _) => cache.join("builder"),
        (None, Some(home)) => home.join(".cache/builder"),
        // No home to put it in: a relative directory would be wherever
        // the build was started.
        (None, None) => PathBuf::from("/var/tmp").join(format!(
            "builder-cache-{}",
            rustix::process::getuid().as_raw()
        )),
    }
}

/// Creates `dir` (and its missing parents) private to this user (mode
/// 0700) and checks it: refused, with an error that names it and says what
/// to do, when it is not a directory, belongs to another user, or others
/// may write to it (anything planted in a cache reaches images).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "creating the cache directory {}: {e} (choose another with --cache-dir)",
                    dir.display()
                ),
            )
        })?;
    check_private(dir)
}

/// Checks that `dir` is a directory of this user that nobody else may
/// write to (see [`private_dir`]).
pub fn check_private(dir: &Path) -> io::Result<()> {
    let shown = dir.display();
    let meta = fs::metadata(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("checking the cache directory {shown}: {e}"),
        )
    })?;
    let refused = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing the cache directory {shown}: {why}"),
        ))
    };
    if !meta.is_dir() {
        return refused("it is not a directory (choose another with --cache-dir)".into());
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && crate::rootfs::userns::rootless() {
        return refused(
            "it belongs to another user (a cache made by root is never written by a rootless \
             build); use a directory of your own (--cache-dir, default $XDG_CACHE_HOME/builder)"
                .into(),
        );
    }
    if meta.uid() != me {
        return refused(format!(
            "it belongs to uid {}, not to this user (uid {me}); \
             use a directory of your own (--cache-dir) or `chown {me} {shown}`",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return refused(format!(
            "others may write to it (mode {:04o}), and what they put there would reach \
             images; `chmod go-w {shown}` (0700 is what builder makes) or use another \
             (--cache-dir)",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

pub use crate::rootfs::owned::{hold, owner_tag, Owned};

/// A new file in the cache directory `dir`, named `.incoming-<pid>-<random>`
/// and held while it is written, to be renamed into place
/// ([`tempfile::NamedTempFile::persist`]); removed when dropped.
pub fn incoming_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{INCOMING}{}", owner_tag()))
        .tempfile_in(dir)?;
    tmp.as_file().try_lock_shared().map_err(io::Error::from)?;
    Ok(tmp)
}

/// `bytes` for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Prefix of an entry renamed aside while it is removed.
pub const REMOVING: &str = ".removing-";

/// A name beside `path` for it while it is removed.
pub fn removing_name(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        "{REMOVING}{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ))
}

/// Removes an entry (or a leftover) unless a build holds it: renamed aside
/// first, so that a removal cut short never leaves half an entry under
/// its name. Returns whether it went.
pub fn remove_entry(path: &Path) -> bool {
    let Ok(dir) = fs::File::open(path) else {
        return false;
    };
    if dir.try_lock().is_err() {
        tracing::debug!(entry = %path.display(), "cache entry in use by another build; left");
        return false;
    }
    let aside = removing_name(path);
    if fs::rename(path, &aside).is_err() {
        return false;
    }
    if let Err(e) = crate::rootfs::mounts::remove_tree(&aside) {
        tracing::warn!("removing cache entry: {e}");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cache_directories_are_made_private_and_others_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache/roots");
        private_dir(&dir).unwrap();
        for made in [&dir, &tmp.path().join("cache")] {
            assert_eq!(fs::metadata(made).unwrap().mode() & 0o7777, 0o700);
        }
        // A directory of the user's that only it may write to is taken as it is.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&dir).unwrap_err().to_string();
        assert!(
            e.contains(&format!("refusing the cache directory {}", dir.display()))
                && e.contains("mode 0777")
                && e.contains("chmod go-w"),
            "{e}"
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
        assert!(private_dir(&dir).is_err());

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        let e = private_dir(&dir).unwrap_err().to_string();
        assert!(
            e.contains("belongs to uid 65534") && e.contains("--cache-dir"),
            "{e}"
        );

        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        let e = private_dir(&file).unwrap_err().to_string();
        assert!(e.contains(&file.display().to_string()), "{e}");
    }

    #[test]
    fn owned_entries_carry_the_pid_and_are_held() {
        let tmp = tempfile::tempdir().unwrap();
        let owned = Owned::new_in(tmp.path(), "builder-", 0o700).unwrap();
        let name = owned
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(&format!("builder-{}-", std::process::id())));
        let other = File::open(owned.path()).unwrap();
        assert!(other.try_lock().is_err(), "held");
        let path = owned.path().to_path_buf();
        drop(owned);
        assert!(!path.exists());

        let file = incoming_file(tmp.path()).unwrap();
        let other = File::open(file.path()).unwrap();
        assert!(other.try_lock().is_err(), "held");
        drop(file);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
