//! The image root as an overlay filesystem over a prepared root from the
//! root cache (or one prepared in memory, see [`super::memory`]): the build's
//! changes (overlays, users, `config.sh`, package removals) land in an
//! upper layer in its own work directory, the prepared root below is never
//! written, and nothing is copied, like mkosi's incremental mode on a
//! copy-on-write filesystem.
//!
//! Directories must be renamable (`redirect_dir=on`) and, where the
//! filesystems allow it, hard links stay hard links when one of them
//! changes (`index=on`); where the kernel refuses the first (in a user
//! namespace), the root is copied instead.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rustix::mount::{self as rmount, MountFlags, UnmountFlags};

use crate::prepare::memory::MemoryLower;
use crate::prepare::root_cache::EntryInUse;

/// A root mounted as an overlay over a prepared root; unmounted when
/// dropped, before the prepared root is released.
#[derive(Debug)]
pub struct LayeredRoot {
    target: PathBuf,
    // Field order is drop order: the mount goes before what holds the lower layer.
    _lower: Lower,
}

/// What the lower layer is, held as long as the overlay is mounted.
#[derive(Debug)]
#[allow(dead_code)] // held for what dropping it does
enum Lower {
    /// A root cache entry, in use.
    Entry(EntryInUse),
    /// A root prepared in memory (its tmpfs holds the upper layer too).
    Memory(MemoryLower),
}

impl LayeredRoot {
    /// Mounts `entry` with an upper layer in `layer_dir` (created; on the
    /// same filesystem as the entry, so that inode numbers stay unique and
    /// tools that find hard links by them see the tree as it is) at the
    /// empty directory `target`. On failure the entry is handed back.
    pub fn mount(
        entry: EntryInUse,
        layer_dir: &Path,
        target: &Path,
    ) -> Result<LayeredRoot, (EntryInUse, anyhow::Error)> {
        match mount_overlay(entry.path(), layer_dir, target) {
            Ok(()) => {
                tracing::debug!(lower = %entry.path().display(), target = %target.display(), "mounted the root as an overlay");
                Ok(LayeredRoot {
                    target: target.to_path_buf(),
                    _lower: Lower::Entry(entry),
                })
            }
            Err(e) => Err((entry, e)),
        }
    }

    /// Mounts the root prepared in memory at the empty directory `target`,
    /// its upper layer in the same tmpfs. On failure it is handed back.
    pub(crate) fn over_memory(
        lower: MemoryLower,
        target: &Path,
    ) -> Result<LayeredRoot, (MemoryLower, anyhow::Error)> {
        match mount_overlay(&lower.root(), &lower.layer_dir(), target) {
            Ok(()) => {
                tracing::debug!(lower = %lower.root().display(), target = %target.display(), "mounted the root as an overlay over memory");
                Ok(LayeredRoot {
                    target: target.to_path_buf(),
                    _lower: Lower::Memory(lower),
                })
            }
            Err(e) => Err((lower, e)),
        }
    }
}

impl Drop for LayeredRoot {
    fn drop(&mut self) {
        // Lazily when refused: that also detaches whatever a failed step
        // left mounted inside it.
        if rmount::unmount(&self.target, UnmountFlags::empty()).is_err() {
            tracing::warn!(target = %self.target.display(), "overlay root busy; detaching lazily");
            let _ = rmount::unmount(&self.target, UnmountFlags::DETACH);
        } else {
            tracing::debug!(target = %self.target.display(), "unmounted the overlay root");
        }
    }
}

fn mount_overlay(lower: &Path, layer_dir: &Path, target: &Path) -> anyhow::Result<()> {
    let upper = layer_dir.join("upper");
    let work = layer_dir.join("work");
    for dir in [&upper, &work] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("overlay root: creating {}", dir.display()))?;
    }
    let (lower_meta, layer_meta) = (
        std::fs::metadata(lower).with_context(|| format!("overlay root: {}", lower.display()))?,
        std::fs::metadata(layer_dir)
            .with_context(|| format!("overlay root: {}", layer_dir.display()))?,
    );
    if lower_meta.dev() != layer_meta.dev() {
        bail!(
            "{} and {} are on different filesystems",
            lower.display(),
            layer_dir.display()
        );
    }
    // The merged root directory takes the upper one's owner and mode.
    std::fs::set_permissions(&upper, std::fs::Permissions::from_mode(lower_meta.mode()))
        .and_then(|()| {
            std::os::unix::fs::chown(&upper, Some(lower_meta.uid()), Some(lower_meta.gid()))
        })
        .with_context(|| format!("overlay root: {}", upper.display()))?;
    let mut options = Vec::new();
    for (key, path) in [
        ("lowerdir", lower),
        ("upperdir", &upper),
        ("workdir", &work),
    ] {
        let text = path
            .to_str()
            .filter(|t| !t.contains([',', ':', '\\', '\n']));
        let Some(text) = text else {
            bail!("{} cannot be named in overlay options", path.display());
        };
        options.push(format!("{key}={text}"));
    }
    // Hard links kept where the filesystems allow it (file handles,
    // xattrs). Directories must be renamable (package managers rename
    // them): without `redirect_dir` (refused in a user namespace, as in a
    // rootless build, and on filesystems without trusted xattrs) a rename
    // of a directory of the lower layer fails with EXDEV, so the overlay is
    // refused and the caller copies the root instead.
    let mut refused = None;
    for extra in [&["index=on", "redirect_dir=on"][..], &["redirect_dir=on"]] {
        let all: Vec<&str> = options
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .collect();
        let data = std::ffi::CString::new(all.join(","))?;
        match rmount::mount(
            "builder-root",
            target,
            "overlay",
            // Reads leave access times alone, as in a memory root's
            // tmpfs: an image keeps them (see `mounts::Scratch::mount`).
            MountFlags::NOATIME,
            Some(data.as_c_str()),
        ) {
            Ok(()) => return Ok(()),
            Err(e) => refused = Some(e),
        }
    }
    let error = std::io::Error::from(refused.expect("tried at least once"));
    Err(error).with_context(|| format!("overlay root: mounting at {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare::root_cache::RootCache;
    use std::fs;

    fn is_mounted(path: &Path) -> bool {
        let path = path.canonicalize().unwrap();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == path.to_str())
    }

    #[test]
    fn changes_go_to_the_layer_and_the_entry_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = RootCache::at(&tmp.path().join("roots/base"), "entry");
        let incoming = cache.begin().unwrap();
        let lower = incoming.path();
        fs::create_dir_all(lower.join("etc/dir")).unwrap();
        fs::write(lower.join("etc/file"), "cached").unwrap();
        fs::hard_link(lower.join("etc/file"), lower.join("etc/link")).unwrap();
        fs::write(lower.join("etc/dir/inner"), "inner").unwrap();
        let entry = cache.commit(incoming);
        let entry_path = entry.path().to_path_buf();

        let (layer, root) = (tmp.path().join("layer"), tmp.path().join("root"));
        fs::create_dir(&root).unwrap();
        let layered = LayeredRoot::mount(entry, &layer, &root)
            .map_err(|(_, e)| e)
            .unwrap();
        assert!(is_mounted(&root));
        // Writes, a rename of a directory, a removal: all in the layer.
        fs::write(root.join("etc/file"), "changed").unwrap();
        fs::rename(root.join("etc/dir"), root.join("etc/moved")).unwrap();
        fs::remove_file(root.join("etc/moved/inner")).unwrap();
        fs::write(root.join("new"), "new").unwrap();
        assert_eq!(
            fs::read_to_string(root.join("etc/link")).unwrap(),
            "changed"
        );
        assert!(!root.join("etc/dir").exists());
        assert!(layer.join("upper/new").is_file());
        // Another build holding the same entry is not disturbed.
        assert!(cache.hold().is_some());

        drop(layered);
        assert!(!is_mounted(&root));
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        assert_eq!(
            fs::read_to_string(entry_path.join("etc/file")).unwrap(),
            "cached"
        );
        assert!(entry_path.join("etc/dir/inner").is_file());
        assert!(!entry_path.join("new").exists());
    }

    #[test]
    fn a_layer_on_another_filesystem_is_refused_and_the_entry_handed_back() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = RootCache::at(&tmp.path().join("roots/base"), "entry");
        let entry = cache.commit(cache.begin().unwrap());
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        // /dev/shm: a tmpfs, never the filesystem of a temporary directory here.
        let other = tempfile::tempdir_in("/dev/shm").unwrap();
        let (entry, error) = LayeredRoot::mount(entry, other.path(), &root).unwrap_err();
        assert!(
            format!("{error:#}").contains("different filesystems"),
            "{error:#}"
        );
        assert!(entry.path().is_dir());
        assert!(!is_mounted(&root));
    }
}
