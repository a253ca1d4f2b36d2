//! Directories and files of this build's own (work directories, partial
//! files, cache entries being written), named `<prefix><pid>-<random>` and
//! held with a shared `flock` while their owner lives, so that a later
//! build tells a dead owner's leftovers from a live one's (the sweep is the
//! `caches` module's).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The part of an owned entry's name after its prefix and before the
/// random rest: this process's id and a dash.
pub fn owner_tag() -> String {
    format!("{}-", std::process::id())
}

/// A directory of this build's own: `<prefix><pid>-<random>` in `parent`,
/// held (a shared lock) as long as this lives, then removed.
#[derive(Debug)]
pub struct Owned {
    dir: Option<tempfile::TempDir>,
    lock: File,
}

impl Owned {
    /// Creates it, mode `mode`.
    pub fn new_in(parent: &Path, prefix: &str, mode: u32) -> io::Result<Owned> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}", owner_tag()))
            .permissions(fs::Permissions::from_mode(mode))
            .tempdir_in(parent)?;
        let lock = hold(dir.path())?;
        Ok(Owned {
            dir: Some(dir),
            lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("owned until dropped").path()
    }

    /// Leaves the directory where it is, no longer held: the sweep
    /// removes it once this process is gone.
    pub fn keep(mut self) -> PathBuf {
        self.dir.take().expect("owned until dropped").keep()
    }

    /// Leaves the directory where it is (not removed when dropped), still
    /// held while the lock returned lives.
    pub fn keep_held(mut self) -> (PathBuf, File) {
        let path = self.dir.take().expect("owned until dropped").keep();
        (path, self.lock)
    }
}

/// Opens `path` (a directory or a file, never through a symlink) and takes
/// a shared lock on it: what marks it as in use by a live process.
pub fn hold(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    file.try_lock_shared().map_err(io::Error::from)?;
    Ok(file)
}
