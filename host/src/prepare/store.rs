//! Where a prepared root comes from: one [`RootStore`] interface over the
//! three ways a build gets the root with its packages, in the spirit of
//! containerd's snapshotters. A store either has the root for the plan
//! (a hit) or has `install` make it and keeps it for the next build.
//!
//! - [`Unstored`]: no root cache; the packages are installed into the
//!   build's root.
//! - [`Copied`]: the root cache, copied to and from the build's root.
//! - [`Layered`]: the root cache as the lower layer of an overlay at the
//!   build's root; a miss is prepared in memory when it fits (and stored
//!   while the initrd is made), else in the cache's incoming directory.

use std::path::Path;

use super::layered::LayeredRoot;
use super::memory::MemoryRoot;
use super::root_cache::{EntryInUse, RootCache};
use super::{unmounted_on_error, PrepareReport, PrepareRequest};
use crate::rootfs::files::RootDir;

/// Installs the packages into a root: bootstrap, post-bootstrap and the
/// image packages; the callback runs once they are in, before the initrd.
pub(crate) type Install<'a> =
    dyn Fn(&mut PrepareReport, &RootDir, &mut dyn FnMut()) -> anyhow::Result<()> + 'a;

/// Where the root with its packages comes from, and where a new one goes.
pub(crate) trait RootStore {
    /// Put the root with the plan's packages at `root_path` (an empty
    /// directory): the stored one on a hit, else one `install` makes,
    /// which the store then keeps. Phases are timed into `report`.
    fn obtain(
        &self,
        report: &mut PrepareReport,
        root_path: &Path,
        install: &Install<'_>,
    ) -> anyhow::Result<()>;
}

/// The store for `request`: with a root cache (looked up for the plan as
/// `cache`), layered when the request has a layer directory, else copied.
pub(crate) fn for_request<'a>(
    request: &'a PrepareRequest,
    cache: Option<&'a RootCache>,
) -> Box<dyn RootStore + 'a> {
    match (cache, &request.layer_dir) {
        (Some(cache), Some(layer_dir)) => Box::new(Layered {
            cache,
            layer_dir,
            request,
        }),
        (Some(cache), None) => Box::new(Copied { cache }),
        (None, _) => Box::new(Unstored),
    }
}

/// No root cache: every build installs its packages.
pub(crate) struct Unstored;

impl RootStore for Unstored {
    fn obtain(
        &self,
        report: &mut PrepareReport,
        root_path: &Path,
        install: &Install<'_>,
    ) -> anyhow::Result<()> {
        install(report, &RootDir::open(root_path)?, &mut || {})
    }
}

/// The root cache, copied: a hit is copied into the build's root (checked
/// against the entry's manifest), a miss copied into the cache.
pub(crate) struct Copied<'a> {
    cache: &'a RootCache,
}

impl RootStore for Copied<'_> {
    fn obtain(
        &self,
        report: &mut PrepareReport,
        root_path: &Path,
        install: &Install<'_>,
    ) -> anyhow::Result<()> {
        if self.cache.is_stored()
            && report.timed("cached-root", || self.cache.restore(root_path))?
        {
            return Ok(());
        }
        install(report, &RootDir::open(root_path)?, &mut || {})?;
        report.timed("cache-root", || {
            // A cache that cannot be written costs speed, not the build.
            if let Err(e) = self.cache.store(root_path) {
                tracing::warn!("root cache: not stored: {e:#}");
            }
            Ok(())
        })
    }
}

/// The root cache under an overlay: the build writes only its upper layer
/// in `layer_dir`.
pub(crate) struct Layered<'a> {
    cache: &'a RootCache,
    layer_dir: &'a Path,
    request: &'a PrepareRequest,
}

impl RootStore for Layered<'_> {
    fn obtain(
        &self,
        report: &mut PrepareReport,
        root_path: &Path,
        install: &Install<'_>,
    ) -> anyhow::Result<()> {
        // A hit only once the entry matches its manifest (checked in the
        // phase, which a discarded entry ends as a miss).
        if self.cache.is_stored() {
            let hit = report.timed("cached-root", || match self.cache.hold_verified() {
                Some(entry) => layered_root(entry, self.layer_dir, root_path).map(Some),
                None => Ok(None),
            })?;
            if let Some(layered) = hit {
                report.layered = layered;
                return Ok(());
            }
        }
        // A miss: in memory if it fits, else on disk.
        if self.prepared_in_memory(report, root_path, install)? {
            return Ok(());
        }
        match self.cache.begin() {
            Ok(incoming) => {
                let dir = RootDir::open(incoming.path())?;
                let installed = install(report, &dir, &mut || {});
                unmounted_on_error(incoming.path(), installed)?;
                report.layered = report.timed("cache-root", || {
                    layered_root(self.cache.commit(incoming), self.layer_dir, root_path)
                })?;
                Ok(())
            }
            Err(e) => {
                // A cache that cannot be written costs speed, not the build.
                tracing::warn!("root cache: not stored: {e:#}");
                install(report, &RootDir::open(root_path)?, &mut || {})
            }
        }
    }
}

impl Layered<'_> {
    /// On a miss, prepares the root in memory when the budget allows it,
    /// storing it in the cache while the initrd is made; the build's root is
    /// then an overlay over it at `root_path`. Returns whether it did (not:
    /// no memory for it, or the root outgrew it and is to be prepared on
    /// disk).
    fn prepared_in_memory(
        &self,
        report: &mut PrepareReport,
        root_path: &Path,
        install: &Install<'_>,
    ) -> anyhow::Result<bool> {
        let Some(mut memory) = MemoryRoot::mount(
            self.request.memory_root,
            self.request.package_cache.as_deref(),
        )?
        else {
            return Ok(false);
        };
        let memory_root = memory.root();
        let dir = RootDir::open(&memory_root)?;
        let installed = install(report, &dir, &mut || memory.start_storing(self.cache));
        match unmounted_on_error(&memory_root, installed) {
            Ok(()) => {
                report.layered =
                    report.timed("cache-root", || memory.into_layered(self.cache, root_path))?;
                Ok(true)
            }
            Err(e) if memory.is_full() => {
                tracing::warn!(
                    "the root outgrew the memory it may take (--memory-root); \
                     preparing it again on disk: {e:#}"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// The cache entry as an overlay at `root`; where the kernel or the
/// filesystems refuse that, a copy of it.
fn layered_root(
    entry: EntryInUse,
    layer_dir: &Path,
    root: &Path,
) -> anyhow::Result<Option<LayeredRoot>> {
    match LayeredRoot::mount(entry, layer_dir, root) {
        Ok(layered) => Ok(Some(layered)),
        Err((entry, e)) => {
            tracing::info!("root cache: copying the prepared root ({e:#})");
            crate::rootfs::tree::copy_tree(entry.path(), root)?;
            Ok(None)
        }
    }
}
