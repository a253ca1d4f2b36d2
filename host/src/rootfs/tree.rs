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

/// Entries per hand-over from the walking thread.
const WALK_BATCH: usize = 256;
/// Batches the walking thread may run ahead.
const WALK_AHEAD: usize = 8;

/// A walk in progress (see [`RootTree::walk`]). A thread of its own runs
/// ahead (getdents, stat, xattrs) while the caller works on what it has.
#[derive(Debug)]
pub struct Walk {
    batches: std::sync::mpsc::Receiver<io::Result<Vec<TreeEntry>>>,
    pending: std::collections::VecDeque<TreeEntry>,
    done: bool,
}

impl Walk {
    fn start(mut traversal: Traversal) -> io::Result<Walk> {
        let (tx, rx) = std::sync::mpsc::sync_channel(WALK_AHEAD);
        std::thread::Builder::new()
            .name("root-walk".into())
            .spawn(move || loop {
                let batch = traversal.next_batch(WALK_BATCH);
                let last = !matches!(&batch, Ok(b) if !b.is_empty());
                // A dropped walk closes the channel: stop then too.
                if tx.send(batch).is_err() || last {
                    break;
                }
            })?;
        Ok(Walk {
            batches: rx,
            pending: Default::default(),
            done: false,
        })
    }

    /// Up to `max` next entries; empty when the walk is over.
    pub fn next_batch(&mut self, max: usize) -> io::Result<Vec<TreeEntry>> {
        while self.pending.len() < max && !self.done {
            match self.batches.recv() {
                Ok(Ok(batch)) if batch.is_empty() => self.done = true,
                Ok(Ok(batch)) => self.pending.extend(batch),
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        let n = max.min(self.pending.len());
        Ok(self.pending.drain(..n).collect())
    }
}

/// The depth-first traversal a [`Walk`] runs in its thread.
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
