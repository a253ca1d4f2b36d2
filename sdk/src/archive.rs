//! Tar archives of the image root for image types (feature `tar`): every
//! entry with its owner and mode (numeric), xattrs as PAX `SCHILY.xattr.*`
//! records (what GNU tar's `--xattrs` reads), hard links as links to the
//! first path seen, symlinks never followed, device nodes with their
//! numbers, names byte for byte (PAX `path`/`linkpath` when they do not fit),
//! entries in the walk's byte order and timestamps clamped to
//! `SOURCE_DATE_EPOCH`: the same tree always gives the same bytes. File
//! contents go from the root into the artifact inside the host
//! (`append-file`), never through the plugin.
//!
//! ```ignore
//! let writer = artifacts::create(&name, Compression::Xz)?;
//! let mut archive = tar::Builder::new(HostSink::new(writer));
//! let entries = archive_tree(root, &mut archive, &TreeArchive::new(request.source_date_epoch))?;
//! archive.finish().map_err(|e| io_error(&name, e))?;
//! let artifact = archive.into_inner().map_err(|e| io_error(&name, e))?.finish()?;
//! ```

use std::collections::HashMap;
use std::io::{self, Write};

use tar::{EntryType, Header};

use crate::artifacts::ArtifactWriter;
use crate::{log, Artifact, Entry, Error, FileType, RootTree};

/// Flush to the host in chunks this large: few calls, little memory.
const CHUNK: usize = 1 << 20;

/// A `Write` over the host's artifact writer: buffers small writes (headers,
/// JSON) and lets root files and finished artifacts go from host to host.
pub struct HostSink {
    writer: ArtifactWriter,
    buffer: Vec<u8>,
}

impl HostSink {
    /// A sink writing into `writer`.
    pub fn new(writer: ArtifactWriter) -> Self {
        HostSink {
            writer,
            buffer: Vec::with_capacity(CHUNK * 2),
        }
    }

    fn flush_buffer(&mut self) -> Result<(), Error> {
        if !self.buffer.is_empty() {
            self.writer.write(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Append a root file's content after what is buffered.
    pub fn append_file(&mut self, root: &RootTree, path: &str, size: u64) -> Result<(), Error> {
        self.flush_buffer()?;
        self.writer.append_file(root, path, size)
    }

    /// Append a finished artifact of this call after what is buffered;
    /// returns the bytes appended.
    pub fn append_artifact(&mut self, file_name: &str) -> Result<u64, Error> {
        self.flush_buffer()?;
        self.writer.append_artifact(file_name)
    }

    /// Flush and publish the artifact.
    pub fn finish(mut self) -> Result<Artifact, Error> {
        self.flush_buffer()?;
        ArtifactWriter::finish(self.writer)
    }
}

impl Write for HostSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush_buffer()
                .map_err(|e| io::Error::other(format!("{e:?}")))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An I/O error of `path` as the contract reports it.
pub fn io_error(path: &str, e: io::Error) -> Error {
    Error::Io(crate::IoError {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Zeros that pad `size` bytes of entry data to a whole 512-byte block.
pub fn padding(size: u64) -> &'static [u8] {
    const ZEROS: [u8; 512] = [0; 512];
    &ZEROS[..(512 - (size % 512) as usize) % 512]
}

/// How a tree is archived.
#[derive(Debug, Clone, Default)]
pub struct TreeArchive {
    /// Clamp timestamps to this (`SOURCE_DATE_EPOCH`).
    pub clamp: Option<i64>,
    /// Refuse `.wh.*` names (container layers read them as deletions).
    pub refuse_whiteouts: bool,
    /// The progress step reported every 1000 entries.
    pub progress: &'static str,
}

impl TreeArchive {
    /// Timestamps clamped to `clamp`, progress as "entries archived".
    pub fn new(clamp: Option<i64>) -> Self {
        TreeArchive {
            clamp,
            refuse_whiteouts: false,
            progress: "entries archived",
        }
    }
}

/// Appends every entry of `root` to `archive`; returns how many.
pub fn archive_tree(
    root: &RootTree,
    archive: &mut tar::Builder<HostSink>,
    how: &TreeArchive,
) -> Result<u64, Error> {
    let mut first_path_of_inode = HashMap::new();
    let mut entries = 0u64;
    for entry in root.walk_all("")? {
        let entry = entry?;
        if append_entry(root, archive, how, &entry, &mut first_path_of_inode)? {
            entries += 1;
            if entries.is_multiple_of(1000) {
                log::progress(how.progress, entries, None);
            }
        }
    }
    Ok(entries)
}

/// One entry; false when it was skipped (a socket).
fn append_entry(
    root: &RootTree,
    archive: &mut tar::Builder<HostSink>,
    how: &TreeArchive,
    entry: &Entry,
    first_path_of_inode: &mut HashMap<(u64, u64), String>,
) -> Result<bool, Error> {
    let meta = &entry.metadata;
    let path = entry.path.as_str();
    let fail = |e: io::Error| io_error(path, e);
    if how.refuse_whiteouts {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with(".wh.") {
            return Err(Error::Other(format!(
                "{path}: a file named `.wh.*` reads as a whiteout in a container layer; \
                 remove or rename it"
            )));
        }
    }
    let mut header = Header::new_gnu();
    header.set_mode(meta.mode);
    header.set_uid(meta.uid.into());
    header.set_gid(meta.gid.into());
    let mtime = match how.clamp {
        Some(epoch) => meta.mtime_seconds.min(epoch),
        None => meta.mtime_seconds,
    };
    header.set_mtime(mtime.max(0) as u64);
    header.set_size(0);

    // Names byte for byte, never through a path API, which would
    // reinterpret characters such as a backslash (systemd's unit names are
    // full of them).
    let mut name = path.to_string();
    let mut link: Option<String> = None;
    let mut kind = match meta.file_type {
        FileType::Regular => EntryType::Regular,
        FileType::Directory => {
            name.push('/');
            EntryType::Directory
        }
        FileType::Symlink => {
            link = Some(root.read_link(path)?);
            EntryType::Symlink
        }
        FileType::CharDevice => EntryType::Char,
        FileType::BlockDevice => EntryType::Block,
        FileType::Fifo => EntryType::Fifo,
        // Sockets cannot be archived (GNU tar skips them too).
        FileType::Socket => {
            log::warn(&format!("{path}: socket skipped"));
            return Ok(false);
        }
    };
    if meta.file_type != FileType::Directory && meta.nlink > 1 {
        let key = (meta.device, meta.inode);
        match first_path_of_inode.get(&key) {
            Some(first) => {
                kind = EntryType::Link;
                link = Some(first.clone());
            }
            None => {
                first_path_of_inode.insert(key, path.to_string());
            }
        }
    }
    header.set_entry_type(kind);
    if matches!(kind, EntryType::Char | EntryType::Block) {
        header.set_device_major(meta.rdev_major).map_err(fail)?;
        header.set_device_minor(meta.rdev_minor).map_err(fail)?;
    }
    let mut pax: Vec<(String, &[u8])> = Vec::new();
    if !put_name(&mut header.as_old_mut().name, &name) {
        pax.push(("path".into(), name.as_bytes()));
    }
    if let Some(link) = &link {
        if !put_name(&mut header.as_old_mut().linkname, link) {
            pax.push(("linkpath".into(), link.as_bytes()));
        }
    }
    for x in &meta.xattrs {
        pax.push((format!("SCHILY.xattr.{}", x.name), x.value.as_slice()));
    }
    if !pax.is_empty() {
        archive
            .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(fail)?;
    }
    let data = kind == EntryType::Regular;
    if data {
        header.set_size(meta.size);
    }
    header.set_cksum();
    // With an empty reader the tar crate writes the header and no data or
    // padding: the content follows from the host.
    archive.append(&header, io::empty()).map_err(fail)?;
    if data {
        let sink = archive.get_mut();
        sink.append_file(root, path, meta.size)?;
        sink.write_all(padding(meta.size)).map_err(fail)?;
    }
    Ok(true)
}

/// Put `name` into a header field if it fits (NUL-padded); false if not.
fn put_name(field: &mut [u8], name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.len() > field.len() {
        // Keep a truncated name for readers without PAX support.
        field.copy_from_slice(&bytes[..field.len()]);
        return false;
    }
    field.fill(0);
    field[..bytes.len()].copy_from_slice(bytes);
    true
}
