//! Writing into the image root without ever leaving it: every path is
//! resolved with `openat2(RESOLVE_IN_ROOT)`, so `..` and the absolute
//! symlinks an image root is full of (`/bin -> usr/bin`, `/etc/localtime`)
//! resolve inside the image, never on the build host. Overlay trees are
//! copied through the same door.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps};

/// The image root, opened for writing.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// How [`RootDir::copy_tree`] treats ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Everything copied belongs to root (what KIWI's overlay `rsync` gives).
    Root,
    /// Keep the source's uid/gid (unpacked overlay archives).
    Preserve,
}

fn resolve() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// Splits `rel` into its normal components; `..` is refused.
fn components(rel: &str) -> io::Result<Vec<&str>> {
    let mut out = Vec::new();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{rel}: `..` is not allowed in an image path"),
                ))
            }
            part => out.push(part),
        }
    }
    Ok(out)
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl RootDir {
    /// Opens the root directory `path`.
    pub fn open(path: &Path) -> io::Result<RootDir> {
        let fd = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| with_path(e.into(), "opening image root", path))?;
        Ok(RootDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The root on the build host (for messages and chroot).
    pub fn host_path(&self) -> &Path {
        &self.path
    }

    fn display(&self, rel: &str) -> PathBuf {
        self.path.join(rel.trim_start_matches('/'))
    }

    /// Opens directory `rel` (symlinks followed inside the root).
    fn open_dir(&self, rel: &str) -> io::Result<OwnedFd> {
        let rel = components(rel)?.join("/");
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        Ok(rfs::openat2(
            &self.fd,
            rel.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )?)
    }

    /// The directory holding `rel` and the final name.
    fn parent<'a>(&self, rel: &'a str) -> io::Result<(OwnedFd, &'a str)> {
        let parts = components(rel)?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the image root itself is not a file",
            ));
        };
        Ok((self.open_dir(&dirs.join("/"))?, name))
    }

    /// Whether `rel` exists (a dangling symlink counts).
    pub fn exists(&self, rel: &str) -> io::Result<bool> {
        let (dir, name) = match self.parent(rel) {
            Ok(found) => found,
            // A missing parent directory: `rel` is not there either.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        match rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates directory `rel` and its missing parents with `mode`.
    pub fn create_dir_all(&self, rel: &str, mode: u32) -> io::Result<()> {
        let parts = components(rel)?;
        for i in 0..parts.len() {
            let dir = self.open_dir(&parts[..i].join("/"))?;
            match rfs::mkdirat(&dir, parts[i], Mode::from_raw_mode(mode)) {
                Ok(()) => {
                    let fd = self.open_dir(&parts[..=i].join("/"))?;
                    chmod_via_proc(&fd, mode)?;
                }
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(with_path(e.into(), "creating", &self.display(rel))),
            }
        }
        Ok(())
    }

    /// Removes a non-directory at `rel`; missing is fine.
    pub fn remove_file(&self, rel: &str) -> io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        match rfs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(with_path(e.into(), "removing", &self.display(rel))),
        }
    }

    /// Creates `rel` (replacing a file or symlink there) with `mode`, and
    /// returns it open for writing. Parents must exist.
    pub fn create_file(&self, rel: &str, mode: u32) -> io::Result<File> {
        let (dir, name) = self
            .parent(rel)
            .map_err(|e| with_path(e, "opening parent of", &self.display(rel)))?;
        match rfs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(with_path(e.into(), "replacing", &self.display(rel))),
        }
        let fd = rfs::openat(
            &dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode & 0o7777),
        )
        .map_err(|e| with_path(e.into(), "creating", &self.display(rel)))?;
        rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))?;
        Ok(File::from(fd))
    }

    /// Writes `data` to `rel` with `mode`, creating parent directories (0755).
    pub fn write(&self, rel: &str, data: &[u8], mode: u32) -> io::Result<()> {
        let parts = components(rel)?;
        if parts.len() > 1 {
            self.create_dir_all(&parts[..parts.len() - 1].join("/"), 0o755)?;
        }
        use io::Write;
        let mut file = self.create_file(rel, mode)?;
        file.write_all(data)
            .map_err(|e| with_path(e, "writing", &self.display(rel)))
    }

    /// Like [`RootDir::write`], owned by `uid`:`gid` (set before the content
    /// is written, so the file never holds it under another owner).
    pub fn write_owned(
        &self,
        rel: &str,
        data: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> io::Result<()> {
        let parts = components(rel)?;
        if parts.len() > 1 {
            self.create_dir_all(&parts[..parts.len() - 1].join("/"), 0o755)?;
        }
        use io::Write;
        let mut file = self.create_file(rel, mode)?;
        rfs::fchown(
            &file,
            Some(rfs::Uid::from_raw(uid)),
            Some(rfs::Gid::from_raw(gid)),
        )
        .map_err(|e| with_path(e.into(), "changing the owner of", &self.display(rel)))?;
        // chown clears setuid/setgid: set the mode again.
        rfs::fchmod(&file, Mode::from_raw_mode(mode & 0o7777))?;
        file.write_all(data)
            .map_err(|e| with_path(e, "writing", &self.display(rel)))
    }

    /// Makes `rel` a symlink to `target` (replacing a file or symlink there).
    pub fn symlink(&self, rel: &str, target: &str) -> io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        match rfs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(with_path(e.into(), "replacing", &self.display(rel))),
        }
        rfs::symlinkat(target, &dir, name)
            .map_err(|e| with_path(e.into(), "creating symlink", &self.display(rel)))
    }

    /// Reads `rel` as text (symlinks followed inside the root).
    pub fn read_to_string(&self, rel: &str) -> io::Result<String> {
        let rel_norm = components(rel)?.join("/");
        let fd = rfs::openat2(
            &self.fd,
            rel_norm.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        )?;
        io::read_to_string(File::from(fd))
    }

    /// Removes directory `rel` with everything in it (a missing one is fine;
    /// symlinks are removed, never followed).
    pub fn remove_tree(&self, rel: &str) -> io::Result<()> {
        self.empty_dir(rel)?;
        let (dir, name) = match self.parent(rel) {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match rfs::unlinkat(&dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(with_path(e.into(), "removing", &self.display(rel))),
        }
    }

    /// Removes everything inside directory `rel` (the directory stays);
    /// a missing directory is fine. Does not follow symlinks.
    pub fn empty_dir(&self, rel: &str) -> io::Result<()> {
        let dir = match rfs::openat2(
            &self.fd,
            components(rel)?.join("/").as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            resolve(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(with_path(e.into(), "opening", &self.display(rel))),
        };
        empty_dir_fd(&dir).map_err(|e| with_path(e, "emptying", &self.display(rel)))
    }

    /// Copies the host tree `src` over the root (KIWI's `root/` overlay):
    /// directories merged (existing ones, and symlinks to directories, kept),
    /// files and symlinks replaced, modes and mtimes kept.
    pub fn copy_tree(&self, src: &Path, ownership: Ownership) -> io::Result<()> {
        self.copy_dir(src, "", ownership)
    }

    fn copy_dir(&self, src: &Path, rel: &str, ownership: Ownership) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(|e| with_path(e, "reading", src))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a UTF-8 name", entry.path().display()),
                ));
            };
            let child = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let path = entry.path();
            let meta =
                std::fs::symlink_metadata(&path).map_err(|e| with_path(e, "reading", &path))?;
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            if ft.is_dir() {
                if !self.exists(&child)? {
                    self.create_dir_all(&child, mode)?;
                    if ownership == Ownership::Preserve {
                        let fd = self.open_dir(&child)?;
                        chown_fd(&fd, &meta)?;
                    }
                }
                self.copy_dir(&path, &child, ownership)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path)?;
                let target = target.to_str().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "symlink target is not UTF-8")
                })?;
                self.symlink(&child, target)?;
                if ownership == Ownership::Preserve {
                    let (dir, name) = self.parent(&child)?;
                    rfs::chownat(
                        &dir,
                        name,
                        Some(rfs::Uid::from_raw(meta.uid())),
                        Some(rfs::Gid::from_raw(meta.gid())),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                }
            } else if ft.is_file() {
                let mut from = File::open(&path).map_err(|e| with_path(e, "reading", &path))?;
                let mut to = self.create_file(&child, mode)?;
                io::copy(&mut from, &mut to).map_err(|e| with_path(e, "copying", &path))?;
                if ownership == Ownership::Preserve {
                    chown_fd(&to, &meta)?;
                    rfs::fchmod(&to, Mode::from_raw_mode(mode))?;
                }
                let times = Timestamps {
                    last_access: Timespec {
                        tv_sec: meta.atime(),
                        tv_nsec: meta.atime_nsec() as _,
                    },
                    last_modification: Timespec {
                        tv_sec: meta.mtime(),
                        tv_nsec: meta.mtime_nsec() as _,
                    },
                };
                rfs::futimens(&to, &times)?;
            } else {
                tracing::warn!(path = %path.display(), "overlay: skipping a special file");
            }
        }
        Ok(())
    }
}

fn chown_fd<Fd: std::os::fd::AsFd>(fd: Fd, meta: &std::fs::Metadata) -> io::Result<()> {
    // The empty path works for O_PATH descriptors too.
    rfs::chownat(
        fd,
        "",
        Some(rfs::Uid::from_raw(meta.uid())),
        Some(rfs::Gid::from_raw(meta.gid())),
        AtFlags::EMPTY_PATH,
    )?;
    Ok(())
}

fn chmod_via_proc(fd: &OwnedFd, mode: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    std::fs::set_permissions(
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        std::fs::Permissions::from_mode(mode),
    )
}

fn empty_dir_fd(dir: &OwnedFd) -> io::Result<()> {
    let names: Vec<(std::ffi::CString, bool)> = {
        let dup = rfs::openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut list = Vec::new();
        for entry in rfs::Dir::read_from(&dup)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let is_dir = entry.file_type() == rfs::FileType::Directory;
            list.push((name.to_owned(), is_dir));
        }
        list
    };
    for (name, is_dir) in names {
        if is_dir {
            let sub = rfs::openat(
                dir,
                name.as_c_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            empty_dir_fd(&sub)?;
            rfs::unlinkat(dir, name.as_c_str(), AtFlags::REMOVEDIR)?;
        } else {
            rfs::unlinkat(dir, name.as_c_str(), AtFlags::empty())?;
        }
    }
    Ok(())
}

/// The names in `/etc/passwd` or `/etc/group` of the image (`file` relative to the root).
pub fn account_names(root: &RootDir, file: &str) -> anyhow::Result<Vec<String>> {
    let text = anyhow::Context::with_context(root.read_to_string(file), || {
        format!("reading /{file} of the image")
    })?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // /bin -> usr/bin (merged /usr) and /escape -> the host directory.
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let dir = RootDir::open(&root).unwrap();
        dir.write("bin/tool", b"x", 0o755).unwrap();
        assert!(root.join("usr/bin/tool").is_file());
        // The link dangles inside the root: the write fails, the host is untouched.
        assert!(dir.write("escape/file", b"x", 0o644).is_err());
        assert!(!outside.join("file").exists());
        assert!(dir.write("../file", b"x", 0o644).is_err());
    }

    #[test]
    fn copy_tree_merges_and_keeps_modes_and_links() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::create_dir_all(src.join("etc/new")).unwrap();
        std::fs::write(src.join("bin/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(src.join("bin/run"), std::fs::Permissions::from_mode(0o750))
            .unwrap();
        std::os::unix::fs::symlink("/etc/motd", src.join("etc/link")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/usr/bin", root.join("bin")).unwrap();
        let dir = RootDir::open(&root).unwrap();
        dir.copy_tree(&src, Ownership::Root).unwrap();
        let meta = std::fs::metadata(root.join("usr/bin/run")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
        assert!(std::fs::symlink_metadata(root.join("bin"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_link(root.join("etc/link")).unwrap(),
            Path::new("/etc/motd")
        );
        assert!(root.join("etc/new").is_dir());
        dir.empty_dir("etc").unwrap();
        assert_eq!(std::fs::read_dir(root.join("etc")).unwrap().count(), 0);
    }
}
