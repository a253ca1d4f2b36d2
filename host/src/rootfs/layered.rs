//! The image root as an overlay filesystem over a prepared root from the
//! root cache: the build's changes (overlays, users, `config.sh`, package
//! removals) land in an upper layer in its own work directory, the cache
//! entry below is never written, and nothing is copied, like mkosi's
//! incremental mode on a copy-on-write filesystem. Hard links stay hard
//! links when one of them changes (`index=on`), and directories can be
//! renamed (`redirect_dir=on`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rustix::mount::{self as rmount, MountFlags, UnmountFlags};

use crate::rootfs::root_cache::EntryInUse;

/// A root mounted as an overlay over a cache entry; unmounted when dropped,
/// before the entry is released.
#[derive(Debug)]
pub struct LayeredRoot {
    target: PathBuf,
    // Field order is drop order: the mount goes before the entry's lock.
    _entry: EntryInUse,
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
                    _entry: entry,
                })
            }
            Err(e) => Err((entry, e)),
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
    let mut options = String::new();
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
        options.push_str(&format!("{key}={text},"));
    }
    options.push_str("index=on,redirect_dir=on");
    rmount::mount(
        "builder-root",
        target,
        "overlay",
        MountFlags::empty(),
        Some(std::ffi::CString::new(options)?.as_c_str()),
    )
    .with_context(|| format!("overlay root: mounting at {}", target.display()))?;
    Ok(())
}
