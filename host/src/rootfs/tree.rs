//! Read access to an image root tree, resolved as inside a chroot.
//!
//! An image root is full of absolute symlinks (`/etc/localtime`,
//! `/lib -> usr/lib`, ...). Every lookup here goes through `openat2` with
//! `RESOLVE_IN_ROOT`, so `..` and absolute symlinks resolve against the image
//! root, never against the build host's `/`. Walks descend by directory file
//! descriptor with `O_NOFOLLOW`, one name at a time.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};

/// The type of a file in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

/// What `lstat` and `listxattr` say of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// The file's type.
    pub kind: FileKind,
    /// `mode & 0o7777`.
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Hard link count.
    pub nlink: u64,
    /// Inode number.
    pub inode: u64,
    /// Device the file is on.
    pub device: u64,
    /// For device nodes: major number.
    pub rdev_major: u32,
    /// For device nodes: minor number.
    pub rdev_minor: u32,
    /// Extended attributes of regular files and directories, sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// One file found by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path relative to the root, no leading `/`.
    pub path: String,
    /// Its metadata.
    pub meta: EntryMeta,
}

/// An image root directory, opened once; all access is relative to it.
#[derive(Debug)]
pub struct RootTree {
    root: OwnedFd,
    root_device: u64,
    path: PathBuf,
}

impl RootTree {
    /// Open the root tree at `path` (which must be a directory).
    pub fn open(path: &Path) -> io::Result<RootTree> {
        let root = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| annotate(path, e.into()))?;
        let stat = rfs::fstat(&root).map_err(|e| annotate(path, e.into()))?;
        Ok(RootTree {
            root,
            root_device: stat.st_dev,
            path: path.to_path_buf(),
        })
    }

    /// Where the tree is on the host.
    pub fn host_path(&self) -> &Path {
        &self.path
    }

    /// Open `rel` inside the root, chroot-style. `follow_last` decides
    /// whether a symlink in the last component is followed (inside the root).
    fn resolve(&self, rel: &str, flags: OFlags, follow_last: bool) -> io::Result<OwnedFd> {
        let rel = normalise(rel);
        let mut flags = flags | OFlags::CLOEXEC;
        if !follow_last {
            flags |= OFlags::NOFOLLOW;
        }
        rfs::openat2(
            &self.root,
            rel,
            flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("{rel}: {}", io::Error::from(e)),
            )
        })
    }

    /// Metadata of `rel` itself (symlinks not followed).
    pub fn stat(&self, rel: &str) -> io::Result<EntryMeta> {
        let fd = self.resolve(rel, OFlags::PATH, false)?;
        let stat = rfs::fstat(&fd)?;
        let kind = kind_of(stat.st_mode);
        let xattrs = if matches!(kind, FileKind::Regular | FileKind::Directory) {
            // Through the descriptor's /proc link: the file itself, not a path.
            read_xattrs(&proc_fd_path(&fd, None))
                .map_err(|e| annotate(Path::new(normalise(rel)), e))?
        } else {
            Vec::new()
        };
        Ok(meta_from(&stat, xattrs))
    }

    /// The target of the symlink `rel`, as stored.
    pub fn read_link(&self, rel: &str) -> io::Result<String> {
        let fd = self.resolve(rel, OFlags::PATH, false)?;
        let target = rfs::readlinkat(&fd, c"", Vec::new())
            .map_err(|e| annotate(Path::new(normalise(rel)), e.into()))?;
        utf8(target.into_bytes(), rel)
    }

    /// Open the regular file `rel` for reading, following symlinks inside the
    /// root. Anything but a regular file (a device node above all) is refused
    /// without being opened.
    pub fn open_file(&self, rel: &str) -> io::Result<File> {
        self.open_regular(rel).map(|(file, _)| file)
    }

    /// [`RootTree::open_file`], also returning the file's size.
    pub fn open_regular(&self, rel: &str) -> io::Result<(File, u64)> {
        let fd = self.resolve(rel, OFlags::PATH, true)?;
        let stat = rfs::fstat(&fd)?;
        if kind_of(stat.st_mode) != FileKind::Regular {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a regular file", normalise(rel)),
            ));
        }
        // Reopen the very inode the O_PATH descriptor refers to.
        let file = rfs::open(
            proc_fd_path(&fd, None).as_path(),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        Ok((File::from(file), stat.st_size as u64))
    }

    /// The names in directory `rel` (symlinks followed inside the root),
    /// in byte order.
    pub fn list_dir(&self, rel: &str) -> io::Result<Vec<String>> {
        let dir = self.resolve(rel, OFlags::RDONLY | OFlags::DIRECTORY, true)?;
        sorted_names(&dir)?
            .into_iter()
            .map(|name| utf8(name.into_vec(), rel))
            .collect()
    }

    /// Walk everything below `rel` (not `rel` itself): depth first, each
    /// directory before its contents, names in byte order, staying on the
    /// root's filesystem (mount points are listed, not entered).
    pub fn walk(&self, rel: &str) -> io::Result<Walk> {
        let dir = self.resolve(rel, OFlags::RDONLY | OFlags::DIRECTORY, false)?;
        let prefix = normalise(rel).trim_matches('/');
        let prefix = if prefix == "." {
            String::new()
        } else {
            prefix.to_string()
        };
        let names = sorted_names(&dir)?;
        let traversal = Traversal {
            stack: vec![Frame {
                dir,
                prefix,
                names: names.into_iter(),
            }],
            device: self.root_device,
        };
        Walk::start(traversal)
    }
}

/// Entries per batch of a walk.
const WALK_BATCH: usize = 256;
/// Entries the read-ahead may hold ready per walk.
const WALK_AHEAD: usize = 4 * WALK_BATCH;
/// Threads that read ahead for all walks of the process.
const READ_AHEAD_THREADS: usize = 2;

/// A walk in progress (see [`RootTree::walk`]). A small pool of threads,
/// shared by every walk of the process, reads ahead (getdents, stat,
/// xattrs) while the caller works on what it has; when the pool is busy
/// the caller reads on demand. However many walks are open, no thread is
/// started for one.
#[derive(Debug)]
pub struct Walk {
    shared: std::sync::Arc<WalkShared>,
}

#[derive(Debug)]
struct WalkShared {
    state: std::sync::Mutex<WalkState>,
    /// Signalled when a reader puts the traversal back.
    ready: std::sync::Condvar,
}

#[derive(Debug)]
struct WalkState {
    /// `None` while a thread reads with it.
    traversal: Option<Traversal>,
    pending: std::collections::VecDeque<TreeEntry>,
    error: Option<io::Error>,
    done: bool,
    /// Queued for (or being served by) the read-ahead pool.
    scheduled: bool,
}

impl Walk {
    fn start(traversal: Traversal) -> io::Result<Walk> {
        let walk = Walk {
            shared: std::sync::Arc::new(WalkShared {
                state: std::sync::Mutex::new(WalkState {
                    traversal: Some(traversal),
                    pending: Default::default(),
                    error: None,
                    done: false,
                    scheduled: false,
                }),
                ready: std::sync::Condvar::new(),
            }),
        };
        walk.shared.schedule(&mut walk.shared.lock());
        Ok(walk)
    }

    /// Up to `max` next entries (what was read ahead, else a batch read
    /// now); empty when the walk is over.
    pub fn next_batch(&mut self, max: usize) -> io::Result<Vec<TreeEntry>> {
        let shared = &self.shared;
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.done {
            match state.traversal.take() {
                // Nothing ready and nobody reading ahead right now: read here.
                Some(traversal) => {
                    state = shared.read_batch(state, traversal, max.clamp(1, WALK_BATCH));
                }
                // The pool reads: wait for its batch.
                None => {
                    state = shared
                        .ready
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
        if state.pending.is_empty() {
            if let Some(e) = state.error.take() {
                return Err(e);
            }
        }
        let n = max.min(state.pending.len());
        let batch = state.pending.drain(..n).collect();
        shared.schedule(&mut state);
        Ok(batch)
    }
}

impl WalkShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, WalkState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Read up to `max` entries with `traversal` (taken out of `state`),
    /// the lock released meanwhile; then put it and the entries back.
    fn read_batch<'a>(
        &'a self,
        state: std::sync::MutexGuard<'a, WalkState>,
        mut traversal: Traversal,
        max: usize,
    ) -> std::sync::MutexGuard<'a, WalkState> {
        drop(state);
        let batch = traversal.next_batch(max.max(1));
        let mut state = self.lock();
        state.traversal = Some(traversal);
        match batch {
            Ok(batch) if batch.is_empty() => state.done = true,
            Ok(batch) => state.pending.extend(batch),
            Err(e) => {
                state.done = true;
                state.error = Some(e);
            }
        }
        self.ready.notify_all();
        state
    }

    /// Queue this walk for the read-ahead pool if it is short of entries.
    fn schedule(self: &std::sync::Arc<Self>, state: &mut WalkState) {
        if state.scheduled || state.done || state.pending.len() >= WALK_AHEAD {
            return;
        }
        state.scheduled = true;
        read_ahead_pool().push(std::sync::Arc::downgrade(self));
    }

    /// Read ahead until [`WALK_AHEAD`] entries are ready, by a pool thread,
    /// a batch at a time (each handed over as soon as it is read).
    fn read_ahead(self: &std::sync::Arc<Self>) {
        let mut state = self.lock();
        state.scheduled = false;
        while !state.done && state.pending.len() < WALK_AHEAD {
            // The caller reads on demand right now: it queues the walk again.
            let Some(traversal) = state.traversal.take() else {
                return;
            };
            state = self.read_batch(state, traversal, WALK_BATCH);
        }
    }
}

/// The threads that read ahead for walks, and their queue of walks. A walk
/// is queued by weak reference: one dropped meanwhile is skipped.
struct ReadAheadPool {
    queue: std::sync::Mutex<std::collections::VecDeque<std::sync::Weak<WalkShared>>>,
    ready: std::sync::Condvar,
}

fn read_ahead_pool() -> &'static ReadAheadPool {
    static POOL: std::sync::OnceLock<&'static ReadAheadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let pool: &'static ReadAheadPool = Box::leak(Box::new(ReadAheadPool {
            queue: Default::default(),
            ready: std::sync::Condvar::new(),
        }));
        for _ in 0..READ_AHEAD_THREADS {
            // Without the pool (no thread could be started), callers read on demand.
            let _ = std::thread::Builder::new()
                .name("root-walk".into())
                .spawn(move || pool.serve());
        }
        pool
    })
}

impl ReadAheadPool {
    fn push(&self, walk: std::sync::Weak<WalkShared>) {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push_back(walk);
        self.ready.notify_one();
    }

    fn serve(&self) {
        loop {
            let next = {
                let mut queue = self
                    .queue
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                loop {
                    match queue.pop_front() {
                        Some(walk) => break walk,
                        None => {
                            queue = self
                                .ready
                                .wait(queue)
                                .unwrap_or_else(|poisoned| poisoned.into_inner())
                        }
                    }
                }
            };
            if let Some(walk) = next.upgrade() {
                walk.read_ahead();
            }
        }
    }
}

/// The depth-first traversal a [`Walk`] reads with.
#[derive(Debug)]
struct Traversal {
    stack: Vec<Frame>,
    device: u64,
}

#[derive(Debug)]
struct Frame {
    dir: OwnedFd,
    prefix: String,
    names: std::vec::IntoIter<OsString>,
}

impl Traversal {
    /// Up to `max` next entries; empty when the traversal is over.
    fn next_batch(&mut self, max: usize) -> io::Result<Vec<TreeEntry>> {
        let mut out = Vec::with_capacity(max.min(4096));
        while out.len() < max {
            let Some(frame) = self.stack.last_mut() else {
                break;
            };
            let Some(name) = frame.names.next() else {
                self.stack.pop();
                continue;
            };
            let path = if frame.prefix.is_empty() {
                utf8(name.as_bytes().to_vec(), &frame.prefix)?
            } else {
                format!(
                    "{}/{}",
                    frame.prefix,
                    utf8(name.as_bytes().to_vec(), &frame.prefix)?
                )
            };
            let stat = rfs::statat(&frame.dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| annotate(Path::new(&path), e.into()))?;
            let kind = kind_of(stat.st_mode);
            let xattrs = if matches!(kind, FileKind::Regular | FileKind::Directory) {
                read_xattrs(&proc_fd_path(&frame.dir, Some(&name)))
                    .map_err(|e| annotate(Path::new(&path), e))?
            } else {
                Vec::new()
            };
            let meta = meta_from(&stat, xattrs);
            let descend = kind == FileKind::Directory && meta.device == self.device;
            if descend {
                let dir = rfs::openat(
                    &frame.dir,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| annotate(Path::new(&path), e.into()))?;
                let names = sorted_names(&dir).map_err(|e| annotate(Path::new(&path), e))?;
                out.push(TreeEntry {
                    path: path.clone(),
                    meta,
                });
                self.stack.push(Frame {
                    dir,
                    prefix: path,
                    names: names.into_iter(),
                });
            } else {
                out.push(TreeEntry { path, meta });
            }
        }
        Ok(out)
    }
}

/// Strip leading slashes: paths are relative to the root; empty means the root.
fn normalise(rel: &str) -> &str {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        "."
    } else {
        rel
    }
}

fn sorted_names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// `/proc/self/fd/N[/name]`: a path the kernel resolves through descriptor N.
fn proc_fd_path(fd: &impl AsFd, name: Option<&OsStr>) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()));
    if let Some(name) = name {
        path.push(name);
    }
    path
}

/// All xattrs of the file at `path` (the last component is not followed when
/// it is a plain name; descriptor links in /proc are followed to their file).
fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let via_fd_link = path.parent() == Some(Path::new("/proc/self/fd"));
    let list = |buf: &mut [u8]| -> rustix::io::Result<usize> {
        if via_fd_link {
            rfs::listxattr(cpath.as_c_str(), buf)
        } else {
            rfs::llistxattr(cpath.as_c_str(), buf)
        }
    };
    let names = match read_growing(list) {
        Ok(names) => names,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).map_err(|_| io::Error::other("bad xattr name"))?;
        let value = read_growing(|buf: &mut [u8]| {
            if via_fd_link {
                rfs::getxattr(cpath.as_c_str(), cname.as_c_str(), buf)
            } else {
                rfs::lgetxattr(cpath.as_c_str(), cname.as_c_str(), buf)
            }
        })?;
        out.push((xattr_name(&cname)?, value));
    }
    out.sort();
    Ok(out)
}

/// Call an xattr syscall with a buffer that grows until the answer fits
/// (rustix answers 0 for an empty buffer instead of the needed size).
fn read_growing(
    mut call: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>,
) -> rustix::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    loop {
        match call(&mut buf) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < (1 << 24) => {
                let bigger = buf.len() * 8;
                buf.resize(bigger, 0);
            }
            Err(e) => return Err(e),
        }
    }
}

fn xattr_name(name: &CStr) -> io::Result<String> {
    name.to_str()
        .map(str::to_string)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "xattr name is not UTF-8"))
}

fn kind_of(mode: u32) -> FileKind {
    match mode & libc_s_ifmt() {
        0o100000 => FileKind::Regular,
        0o040000 => FileKind::Directory,
        0o120000 => FileKind::Symlink,
        0o020000 => FileKind::CharDevice,
        0o060000 => FileKind::BlockDevice,
        0o010000 => FileKind::Fifo,
        _ => FileKind::Socket,
    }
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}

fn meta_from(stat: &rfs::Stat, xattrs: Vec<(String, Vec<u8>)>) -> EntryMeta {
    EntryMeta {
        kind: kind_of(stat.st_mode),
        mode: stat.st_mode & 0o7777,
        uid: stat.st_uid,
        gid: stat.st_gid,
        size: stat.st_size as u64,
        mtime: stat.st_mtime,
        mtime_nsec: stat.st_mtime_nsec as u32,
        nlink: stat.st_nlink,
        inode: stat.st_ino,
        device: stat.st_dev,
        rdev_major: rfs::major(stat.st_rdev),
        rdev_minor: rfs::minor(stat.st_rdev),
        xattrs,
    }
}

fn utf8(bytes: Vec<u8>, context: &str) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: file name is not UTF-8 ({})",
                if context.is_empty() { "/" } else { context },
                String::from_utf8_lossy(e.as_bytes())
            ),
        )
    })
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `cp -a` of everything in `from` into `to`: owners, modes, times, hard
/// links, xattrs, device nodes; reflinks where the filesystem has them.
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new("cp");
    cmd.args([
        "-a",
        "--preserve=all",
        "--reflink=auto",
        "--one-file-system",
        "--no-target-directory",
    ])
    .arg(from)
    .arg(to);
    super::command::run("copying a tree", &mut cmd)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, RootTree) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("usr/lib/os-release"), b"ID=test\n").unwrap();
        symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
        symlink("/etc/passwd", root.join("etc/evil")).unwrap();
        symlink(
            "../../../../../../etc/passwd",
            root.join("etc/evil-relative"),
        )
        .unwrap();
        std::fs::write(root.join("etc/b"), b"b").unwrap();
        std::fs::write(root.join("etc/a"), b"a").unwrap();
        let tree = RootTree::open(root).unwrap();
        (dir, tree)
    }

    fn read(tree: &RootTree, rel: &str) -> io::Result<Vec<u8>> {
        let mut f = tree.open_file(rel)?;
        let mut buf = Vec::new();
        io::Read::read_to_end(&mut f, &mut buf)?;
        Ok(buf)
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let (_dir, tree) = tree();
        assert_eq!(read(&tree, "/etc/os-release").unwrap(), b"ID=test\n");
        // An absolute symlink to a host file resolves against the image root,
        // where there is no etc/passwd: the host's file is never reached.
        let err = read(&tree, "etc/evil").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        let err = read(&tree, "etc/evil-relative").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        let err = read(&tree, "../../../../etc/passwd").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert_eq!(tree.read_link("etc/evil").unwrap(), "/etc/passwd");
        assert_eq!(tree.stat("etc/evil").unwrap().kind, FileKind::Symlink);
    }

    #[test]
    fn walk_is_sorted_depth_first() {
        let (_dir, tree) = tree();
        let mut walk = tree.walk("").unwrap();
        let mut paths = Vec::new();
        loop {
            let batch = walk.next_batch(2).unwrap();
            if batch.is_empty() {
                break;
            }
            paths.extend(batch.into_iter().map(|e| e.path));
        }
        assert_eq!(
            paths,
            [
                "etc",
                "etc/a",
                "etc/b",
                "etc/evil",
                "etc/evil-relative",
                "etc/os-release",
                "usr",
                "usr/lib",
                "usr/lib/os-release"
            ]
        );
        let below: Vec<_> = tree
            .walk("/usr")
            .unwrap()
            .next_batch(100)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(below, ["usr/lib", "usr/lib/os-release"]);
    }

    fn threads() -> usize {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn many_walks_share_a_few_read_ahead_threads() {
        let dir = tempfile::tempdir().unwrap();
        // Enough entries for several batches per walk.
        for d in 0..8 {
            let sub = dir.path().join(format!("d{d}"));
            std::fs::create_dir(&sub).unwrap();
            for f in 0..100 {
                std::fs::write(sub.join(format!("f{f:03}")), b"x").unwrap();
            }
        }
        let tree = RootTree::open(dir.path()).unwrap();
        let _warm = tree.walk("").unwrap();
        let before = threads();
        let mut walks: Vec<Walk> = (0..300).map(|_| tree.walk("").unwrap()).collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        // Tests beside this one start threads too: a generous bound, far
        // below one thread per walk.
        assert!(threads() < before + 50, "{} threads", threads());
        for walk in &mut walks {
            let mut count = 0;
            let mut last = String::new();
            loop {
                let batch = walk.next_batch(77).unwrap();
                if batch.is_empty() {
                    break;
                }
                for entry in batch {
                    assert!(entry.path > last, "{} after {last}", entry.path);
                    last = entry.path;
                    count += 1;
                }
            }
            assert_eq!(count, 8 * 101);
        }
    }

    #[test]
    fn device_nodes_are_never_opened() {
        let (dir, tree) = tree();
        rfs::mknodat(
            rfs::CWD,
            dir.path().join("null"),
            rfs::FileType::CharacterDevice,
            Mode::from_bits_truncate(0o666),
            rfs::makedev(1, 3),
        )
        .unwrap();
        let meta = tree.stat("null").unwrap();
        assert_eq!(
            (meta.kind, meta.rdev_major, meta.rdev_minor),
            (FileKind::CharDevice, 1, 3)
        );
        let err = tree.open_file("null").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
