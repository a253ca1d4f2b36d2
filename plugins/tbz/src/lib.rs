//! The `tbz` image type: the whole root tree as one tarball, like KIWI's `tbz`.
//!
//! Owners and modes are stored numerically, xattrs as PAX `SCHILY.xattr.*`
//! records (what GNU tar's `--xattrs` reads), hard links as links to the first
//! path seen, symlinks as links (never followed), device nodes with their
//! numbers. Entries come in the walk's byte order and timestamps are clamped to
//! `SOURCE_DATE_EPOCH`, so the same tree always gives the same bytes.

use std::collections::HashMap;
use std::io::{self, Write};

use builder_sdk::prelude::*;
use tar::{EntryType, Header};

struct Tbz;

/// Flush to the host in chunks this large: few calls, little memory.
const CHUNK: usize = 1 << 20;

impl ImageType for Tbz {
    const NAME: &'static str = "tbz";
    const SUMMARY: &'static str =
        "The image root as a tarball, keeping owners, modes, xattrs, links and devices";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::choice(
            "compression",
            &["xz", "zstd", "gzip", "none"],
            "xz",
            "How the tarball is compressed (xz gives KIWI's `.tar.xz`)",
        )]
    }

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Compression,
        ]
    }

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let (compression, extension) = match request.options.value("compression") {
            None | Some("xz") => (Compression::Xz, "tar.xz"),
            Some("zstd") => (Compression::Zstd, "tar.zst"),
            Some("gzip") => (Compression::Gzip, "tar.gz"),
            Some("none") => (Compression::None, "tar"),
            Some(other) => {
                return Err(Error::invalid_option(
                    "compression",
                    format!("`{other}` is not one of xz, zstd, gzip, none"),
                ))
            }
        };
        let name = request.artifact_name(extension);
        let writer = toolbox::create_artifact(&name, compression)?;
        let mut archive = tar::Builder::new(HostSink::new(writer));
        let mut state = ArchiveState {
            clamp: request.source_date_epoch,
            first_path_of_inode: HashMap::new(),
            entries: 0,
        };
        for entry in root.walk_all("")? {
            let entry = entry?;
            state.append(root, &mut archive, &entry)?;
            if state.entries % 1000 == 0 {
                log::progress("entries archived", state.entries, None);
            }
        }
        log::info(&format!("{name}: {} entries", state.entries));
        archive.finish().map_err(|e| io_error(&name, e))?;
        let sink = archive.into_inner().map_err(|e| io_error(&name, e))?;
        Ok(vec![sink.finish()?])
    }
}

builder_sdk::export_image_type!(Tbz);

struct ArchiveState {
    clamp: Option<i64>,
    first_path_of_inode: HashMap<(u64, u64), String>,
    entries: u64,
}

impl ArchiveState {
    fn append(
        &mut self,
        root: &RootTree,
        archive: &mut tar::Builder<HostSink>,
        entry: &Entry,
    ) -> Result<(), Error> {
        let meta = &entry.metadata;
        let path = entry.path.as_str();
        let fail = |e: io::Error| io_error(path, e);
        self.entries += 1;

        let mut header = Header::new_gnu();
        header.set_mode(meta.mode);
        header.set_uid(meta.uid.into());
        header.set_gid(meta.gid.into());
        let mtime = match self.clamp {
            Some(epoch) => meta.mtime_seconds.min(epoch),
            None => meta.mtime_seconds,
        };
        header.set_mtime(mtime.max(0) as u64);
        header.set_size(0);

        // Names are written byte for byte: never through a path API, which
        // would reinterpret characters such as a backslash (systemd's unit names
        // are full of them). What does not fit the header goes into PAX
        // `path`/`linkpath` records, beside the `SCHILY.xattr.*` ones.
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
                return Ok(());
            }
        };
        if meta.file_type != FileType::Directory && meta.nlink > 1 {
            let key = (meta.device, meta.inode);
            match self.first_path_of_inode.get(&key) {
                Some(first) => {
                    kind = EntryType::Link;
                    link = Some(first.clone());
                }
                None => {
                    self.first_path_of_inode.insert(key, path.to_string());
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
        // With an empty reader the tar crate writes the header and no data
        // or padding. File content then goes from the root to the artifact
        // inside the host, never through this plugin.
        archive.append(&header, io::empty()).map_err(fail)?;
        if data {
            let sink = archive.get_mut();
            sink.append_file(root, path, meta.size)?;
            let padding = (512 - (meta.size % 512) as usize) % 512;
            sink.write_all(&[0u8; 512][..padding]).map_err(fail)?;
        }
        Ok(())
    }
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

fn io_error(path: &str, e: io::Error) -> Error {
    Error::Io(builder_sdk::IoError {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Buffers the tar stream and hands it to the host's artifact writer in large chunks.
struct HostSink {
    writer: ArtifactWriter,
    buffer: Vec<u8>,
}

impl HostSink {
    fn new(writer: ArtifactWriter) -> Self {
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
    fn append_file(&mut self, root: &RootTree, path: &str, size: u64) -> Result<(), Error> {
        self.flush_buffer()?;
        self.writer.append_file(root, path, size)
    }

    fn finish(mut self) -> Result<Artifact, Error> {
        self.flush_buffer()?;
        ArtifactWriter::finish(self.writer)
    }
}

impl Write for HostSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush_buffer().map_err(to_io)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn to_io(e: Error) -> io::Error {
    io::Error::other(format!("{e:?}"))
}
