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

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::prepare::layered::LayeredRoot;
use crate::prepare::root_cache::{self, RootCache};
use crate::rootfs::mounts::{memory_available, Scratch};

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
    // Field order is drop order: the copy is waited for before the tmpfs goes.
    store: Option<Store>,
    tried_storing: bool,
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
        let memory = MemoryRoot::on(scratch);
        std::fs::create_dir(memory.root())
            .with_context(|| format!("creating {}", memory.root().display()))?;
        tracing::debug!(bytes, root = %memory.root().display(), "preparing the root in memory");
        Ok(Some(memory))
    }

    fn on(scratch: Scratch) -> MemoryRoot {
        MemoryRoot {
            store: None,
            tried_storing: false,
            scratch,
        }
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

    /// Starts copying the root into `cache` as a new entry, in the
    /// background, once its packages are in (the initrd, still to be made,
    /// takes longer than the copy). What changes in the root after this is
    /// copied again once it is final ([`MemoryRoot::into_layered`]).
    pub fn start_storing(&mut self, cache: &RootCache) {
        if std::mem::replace(&mut self.tried_storing, true) {
            return;
        }
        let root = self.root();
        // As the entry will be: the build sees the same root, cold or warm.
        root_cache::strip_unneeded(&root);
        match Store::start(root, cache) {
            Ok(store) => self.store = Some(store),
            // A cache that cannot be written costs speed, not the build.
            Err(e) => tracing::warn!("root cache: not stored: {e:#}"),
        }
    }

    /// The prepared root for the rest of the build, mounted at the empty
    /// directory `target` as an overlay whose upper layer stays in memory;
    /// the copy into `cache` is finished in the background. Where the
    /// kernel refuses that overlay, the root is copied to `target` instead
    /// (`None`).
    pub fn into_layered(
        mut self,
        cache: &RootCache,
        target: &Path,
    ) -> anyhow::Result<Option<LayeredRoot>> {
        self.start_storing(cache);
        if let Some(store) = &mut self.store {
            store.root_is_final();
        }
        let lower = MemoryLower {
            _store: self.store,
            scratch: self.scratch,
        };
        match LayeredRoot::over_memory(lower, target) {
            Ok(layered) => Ok(Some(layered)),
            Err((lower, e)) => {
                tracing::info!("copying the prepared root ({e:#})");
                crate::rootfs::tree::copy_tree(&lower.root(), target)?;
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
    // Field order is drop order: the copy is waited for before the tmpfs goes.
    _store: Option<Store>,
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

/// The copy of a root into a new root cache entry, in a thread of its own:
/// the whole tree first, then, once told the root is final, what changed
/// in it meanwhile ([`sync_changed`]); then the entry is committed. Dropped
/// without being told, it abandons the entry.
#[derive(Debug)]
struct Store {
    thread: Option<JoinHandle<()>>,
    final_root: Option<mpsc::Sender<()>>,
}

impl Store {
    fn start(root: PathBuf, cache: &RootCache) -> anyhow::Result<Store> {
        let incoming = cache.begin()?;
        // Kernels stamp files with a clock that may lag the one read here
        // by a tick: a second's margin takes in more, never less.
        let since = SystemTime::now() - Duration::from_secs(1);
        let (final_root, is_final) = mpsc::channel();
        let cache = cache.clone();
        let thread = std::thread::Builder::new()
            .name("root-cache-store".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let copied = copy_while_changing(&root, incoming.path());
                let copy_time = started.elapsed();
                if is_final.recv().is_err() {
                    return; // the build failed: the entry goes with `incoming`
                }
                let stored = match copied {
                    Ok(()) => sync_changed(&root, incoming.path(), since),
                    Err(e) => {
                        tracing::debug!("root cache: copying again, the root is final now: {e:#}");
                        root_cache::empty_dir(incoming.path())
                            .and_then(|()| crate::rootfs::tree::copy_tree(&root, incoming.path()))
                            .map(|()| 0)
                    }
                };
                match stored {
                    Ok(again) => {
                        drop(cache.commit(incoming));
                        tracing::debug!(?copy_time, again, elapsed = ?started.elapsed(), "root cache: stored");
                    }
                    Err(e) => tracing::warn!("root cache: not stored: {e:#}"),
                }
            })
            .context("root cache: starting the copy")?;
        Ok(Store {
            thread: Some(thread),
            final_root: Some(final_root),
        })
    }

    /// Lets the copy finish: the root will not change any more.
    fn root_is_final(&mut self) {
        if let Some(final_root) = self.final_root.take() {
            let _ = final_root.send(());
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.final_root.take();
        if let Some(thread) = self.thread.take() {
            if !thread.is_finished() {
                tracing::info!("root cache: waiting for the prepared root to be stored");
            }
            if thread.join().is_err() {
                tracing::warn!("root cache: the copy of the prepared root panicked");
            }
        }
    }
}

/// Copies the tree `from` into the empty directory `to` while the tree may
/// still change: files that vanish meanwhile are no error ([`sync_changed`]
/// catches up with them), any other failure is.
fn copy_while_changing(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new("cp");
    cmd.env("LC_ALL", "C")
        .args([
            "-a",
            "--preserve=all",
            "--one-file-system",
            "--no-target-directory",
        ])
        .arg(from)
        .arg(to);
    match crate::rootfs::command::run("root cache: copying", &mut cmd) {
        Ok(_) => Ok(()),
        Err(crate::rootfs::command::CommandError::Failed { tail, .. })
            if tail.lines().count() < 50
                && tail
                    .lines()
                    .all(|l| l.ends_with(": No such file or directory")) =>
        {
            tracing::debug!("root cache: files vanished while copied: {tail}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes the copy `to` of the tree `from` whole again after `from` changed
/// while it was copied: every entry whose status changed since `since` (its
/// ctime, which no tool can set back) is copied again, entries gone from a
/// changed directory are removed from the copy, and the directories
/// touched get their modes, owners and times back. Returns how many
/// entries were copied again or removed. (A hard link made meanwhile
/// becomes a file of its own in the copy.)
fn sync_changed(from: &Path, to: &Path, since: SystemTime) -> anyhow::Result<usize> {
    let device = std::fs::symlink_metadata(from)
        .with_context(|| format!("root cache: {}", from.display()))?
        .dev();
    let mut sync = Sync {
        from,
        to,
        since,
        device,
        touched: Vec::new(),
        count: 0,
    };
    sync.dir(Path::new(""))?;
    let mut touched = std::mem::take(&mut sync.touched);
    touched.sort_by_key(|rel| std::cmp::Reverse(rel.components().count()));
    touched.dedup();
    for rel in touched {
        copy_dir_attributes(&from.join(&rel), &to.join(&rel))
            .with_context(|| format!("root cache: /{}", rel.display()))?;
    }
    Ok(sync.count)
}

/// One [`sync_changed`] walk.
struct Sync<'a> {
    from: &'a Path,
    to: &'a Path,
    since: SystemTime,
    device: u64,
    /// Directories whose attributes to copy once their entries are done.
    touched: Vec<PathBuf>,
    count: usize,
}

impl Sync<'_> {
    fn changed(&self, meta: &std::fs::Metadata) -> bool {
        let ctime = UNIX_EPOCH
            + Duration::new(
                u64::try_from(meta.ctime()).unwrap_or(0),
                u32::try_from(meta.ctime_nsec()).unwrap_or(0),
            );
        ctime >= self.since
    }

    fn dir(&mut self, rel: &Path) -> anyhow::Result<()> {
        let (from, to) = (self.from.join(rel), self.to.join(rel));
        let context = || format!("root cache: syncing /{}", rel.display());
        let meta = std::fs::symlink_metadata(&from).with_context(context)?;
        let entries: Vec<(std::ffi::OsString, std::fs::Metadata)> = std::fs::read_dir(&from)
            .and_then(|dir| {
                dir.map(|e| e.and_then(|e| Ok((e.file_name(), e.metadata()?))))
                    .collect()
            })
            .with_context(context)?;
        if self.changed(&meta) {
            let present: std::collections::HashSet<&std::ffi::OsStr> =
                entries.iter().map(|(name, _)| name.as_os_str()).collect();
            for entry in std::fs::read_dir(&to).with_context(context)? {
                let entry = entry.with_context(context)?;
                if !present.contains(entry.file_name().as_os_str()) {
                    remove_any(&entry.path()).with_context(context)?;
                    self.count += 1;
                }
            }
            self.touched.push(rel.to_path_buf());
        }
        for (name, meta) in entries {
            let child = rel.join(&name);
            if meta.is_dir() {
                // A mount point: not the root's (as `cp --one-file-system`).
                if meta.dev() != self.device {
                    continue;
                }
                let target = self.to.join(&child);
                match std::fs::symlink_metadata(&target) {
                    // A directory that was a mount point while copied has
                    // the mounted filesystem's mode and times there.
                    Ok(m) if m.is_dir() => {
                        if !same_attributes(&m, &meta) {
                            self.touched.push(child.clone());
                        }
                    }
                    other => {
                        if other.is_ok() {
                            remove_any(&target).with_context(context)?;
                        }
                        std::fs::create_dir(&target).with_context(context)?;
                        self.touched.push(child.clone());
                        self.count += 1;
                    }
                }
                self.dir(&child)?;
            } else if self.changed(&meta) || !exists(&self.to.join(&child)) {
                // (Missing: hidden under a mount point while copied.)
                let target = self.to.join(&child);
                // A file over a file is rewritten in place; anything else replaced.
                if let Ok(old) = std::fs::symlink_metadata(&target) {
                    if !(old.is_file() && meta.is_file()) {
                        remove_any(&target).with_context(context)?;
                    }
                }
                let mut cmd = std::process::Command::new("cp");
                cmd.args(["-a", "--preserve=all", "--no-target-directory"])
                    .arg(self.from.join(&child))
                    .arg(&target);
                crate::rootfs::command::run("root cache: copying a changed file", &mut cmd)?;
                self.touched.push(rel.to_path_buf());
                self.count += 1;
            }
        }
        Ok(())
    }
}

/// Whether `path` exists (as a symlink, if it is one).
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Whether two directories have the same mode, owner and modification time.
fn same_attributes(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    (a.mode(), a.uid(), a.gid(), a.mtime(), a.mtime_nsec())
        == (b.mode(), b.uid(), b.gid(), b.mtime(), b.mtime_nsec())
}

/// Removes a file, symlink or whole directory.
fn remove_any(path: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        crate::rootfs::mounts::remove_tree(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Gives the directory `to` the mode, owner and times of `from`.
fn copy_dir_attributes(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(to, meta.permissions())?;
    let times = std::fs::FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    std::fs::File::open(to)?.set_times(times)
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
    use std::os::unix::fs::PermissionsExt;

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
        let memory = MemoryRoot::on(Scratch::mount(256 << 20).unwrap());
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
        let memory = MemoryRoot::on(Scratch::mount(32 << 20).unwrap());
        assert!(memory.is_full()); // 32 MiB: below the 64 MiB mark from the start
        let roomy = MemoryRoot::on(Scratch::mount(256 << 20).unwrap());
        fs::create_dir(roomy.root()).unwrap();
        assert!(!roomy.is_full());
        let mut file = fs::File::create(roomy.root().join("big")).unwrap();
        let chunk = vec![1u8; 1 << 20];
        while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
        assert!(roomy.is_full());
    }

    /// Every entry below `root`: path, type, mode, owner, mtime, and the
    /// content or link target.
    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![PathBuf::new()];
        while let Some(rel) = dirs.pop() {
            for entry in fs::read_dir(root.join(&rel)).unwrap() {
                let entry = entry.unwrap();
                let child = rel.join(entry.file_name());
                let meta = entry.metadata().unwrap();
                let what = if meta.is_dir() {
                    dirs.push(child.clone());
                    "dir".to_string()
                } else if meta.is_symlink() {
                    format!("-> {}", fs::read_link(root.join(&child)).unwrap().display())
                } else {
                    String::from_utf8_lossy(&fs::read(root.join(&child)).unwrap()).into_owned()
                };
                out.push(format!(
                    "{} {:o} {}:{} {}.{} {what}",
                    child.display(),
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    meta.mtime(),
                    meta.mtime_nsec()
                ));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn what_changes_while_the_root_is_copied_is_copied_again() {
        // Changed at once (racing the copy), and after it is surely done.
        for pause in [0, 300] {
            let tmp = tempfile::tempdir().unwrap();
            let mut memory = MemoryRoot::on(Scratch::mount(256 << 20).unwrap());
            let root = memory.root();
            for dir in [
                "boot",
                "etc",
                "usr/bin",
                "var/lib/x",
                "old/deep",
                "keep/dir",
            ] {
                fs::create_dir_all(root.join(dir)).unwrap();
            }
            for (file, text) in [
                ("etc/a", "a"),
                ("etc/b", "b"),
                ("usr/bin/tool", "tool"),
                ("var/lib/x/state", "before"),
                ("old/deep/file", "old"),
                ("keep/dir/file", "kept"),
            ] {
                fs::write(root.join(file), text).unwrap();
            }
            std::os::unix::fs::symlink("a", root.join("etc/link")).unwrap();
            std::os::unix::fs::symlink("b", root.join("etc/swapped")).unwrap();
            // A mount point while the copy runs (as /proc is while the
            // initrd is made), over a file of the root's own.
            fs::create_dir(root.join("proc")).unwrap();
            fs::write(root.join("proc/under"), "hidden").unwrap();
            fs::create_dir(root.join("sys")).unwrap(); // empty below the mount
                                                       // Older times than the copy's, everywhere: cp -a keeps them.
            let long_ago = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
            for rel in [
                "",
                "boot",
                "etc",
                "usr/bin",
                "var/lib/x",
                "keep/dir",
                "keep/dir/file",
                "proc",
                "sys",
            ] {
                fs::File::open(root.join(rel))
                    .unwrap()
                    .set_times(std::fs::FileTimes::new().set_modified(long_ago))
                    .unwrap();
            }

            rustix::mount::mount(
                "proc",
                root.join("proc"),
                "proc",
                rustix::mount::MountFlags::empty(),
                None,
            )
            .unwrap();
            rustix::mount::mount(
                "tmpfs",
                root.join("sys"),
                "tmpfs",
                rustix::mount::MountFlags::empty(),
                Some(c"mode=0555"),
            )
            .unwrap();

            // Older than the copy's start by more than its margin: only
            // what changes after it counts as changed.
            std::thread::sleep(Duration::from_millis(1100));
            let cache = RootCache::at(&tmp.path().join("roots/base"), "entry");
            memory.start_storing(&cache);
            std::thread::sleep(Duration::from_millis(pause));
            for dir in ["proc", "sys"] {
                rustix::mount::unmount(root.join(dir), rustix::mount::UnmountFlags::empty())
                    .unwrap();
            }
            // What an initrd step does, and more.
            fs::write(root.join("boot/initrd.img.new"), "initrd").unwrap();
            fs::rename(
                root.join("boot/initrd.img.new"),
                root.join("boot/initrd.img"),
            )
            .unwrap();
            fs::write(root.join("var/lib/x/state"), "after").unwrap();
            fs::rename(root.join("usr/bin/tool"), root.join("usr/bin/tool2")).unwrap();
            fs::remove_dir_all(root.join("old")).unwrap();
            fs::remove_file(root.join("etc/swapped")).unwrap();
            std::os::unix::fs::symlink("a", root.join("etc/swapped")).unwrap();
            fs::set_permissions(root.join("etc/b"), fs::Permissions::from_mode(0o600)).unwrap();
            fs::create_dir_all(root.join("new/sub")).unwrap();
            fs::write(root.join("new/sub/file"), "new").unwrap();
            fs::write(root.join(".note"), "noted").unwrap();
            let expected = listing(&root);

            let target = tmp.path().join("root");
            fs::create_dir(&target).unwrap();
            let layered = memory.into_layered(&cache, &target).unwrap().unwrap();
            assert_eq!(listing(&target), expected);
            drop(layered);
            let entry = cache.hold().unwrap();
            assert_eq!(listing(entry.path()), expected, "paused {pause} ms");
        }
    }

    #[test]
    fn a_failed_build_abandons_the_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let mut memory = MemoryRoot::on(Scratch::mount(64 << 20).unwrap());
        fs::create_dir(memory.root()).unwrap();
        fs::write(memory.root().join("file"), "data").unwrap();
        let cache = RootCache::at(&tmp.path().join("roots/base"), "entry");
        memory.start_storing(&cache);
        let scratch = memory.scratch.path().to_path_buf();
        drop(memory);
        assert!(!cache.is_stored());
        assert!(!scratch.exists());
        // Nothing left beside the entries either.
        assert_eq!(
            fs::read_dir(tmp.path().join("roots/base")).unwrap().count(),
            0
        );
    }
}
