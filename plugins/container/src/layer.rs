//! The image's one layer: an uncompressed tar of the whole root, written the
//! way the `tbz` image type writes its archive. Owners and modes numeric,
//! xattrs as PAX `SCHILY.xattr.*` records, hard links as links to the first
//! path seen, symlinks never followed, device nodes with their numbers,
//! entries in the walk's byte order, timestamps clamped to
//! `SOURCE_DATE_EPOCH`. File contents go from the root to the artifact inside
//! the host (`append-file`).

use std::collections::HashMap;
use std::io::{self, Write};

use builder_sdk::prelude::*;
use tar::{EntryType, Header};

use crate::sink::{io_error, padding, HostSink};

/// Write the layer of `root` as artifact `file_name` (uncompressed) and finish it.
pub fn write(root: &RootTree, file_name: &str, clamp: Option<i64>) -> Result<Artifact, Error> {
    let writer = toolbox::create_artifact(file_name, Compression::None)?;
    let mut archive = tar::Builder::new(HostSink::new(writer));
    let mut state = LayerState {
        clamp,
        first_path_of_inode: HashMap::new(),
        entries: 0,
    };
    for entry in root.walk_all("")? {
        let entry = entry?;
        state.append(root, &mut archive, &entry)?;
        if state.entries.is_multiple_of(1000) {
            log::progress("layer entries", state.entries, None);
        }
    }
    log::info(&format!("{file_name}: {} entries", state.entries));
    archive.finish().map_err(|e| io_error(file_name, e))?;
    let sink = archive.into_inner().map_err(|e| io_error(file_name, e))?;
    sink.finish()
}

struct LayerState {
    clamp: Option<i64>,
    first_path_of_inode: HashMap<(u64, u64), String>,
    entries: u64,
}

impl LayerState {
    fn append(
        &mut self,
        root: &RootTree,
        archive: &mut tar::Builder<HostSink>,
        entry: &Entry,
    ) -> Result<(), Error> {
        let meta = &entry.metadata;
        let path = entry.path.as_str();
        let fail = |e: io::Error| io_error(path, e);

        // Layer consumers read `.wh.` names as deletions of the layers below:
        // such a file cannot be carried in a layer as itself.
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with(".wh.") {
            return Err(Error::Other(format!(
                "{path}: a file named `.wh.*` reads as a whiteout in a container layer; \
                 remove or rename it"
            )));
        }

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

        // Names byte for byte, never through a path API; what does not fit
        // the header goes into PAX `path`/`linkpath` records.
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
            FileType::Socket => {
                log::warn(&format!("{path}: socket skipped"));
                return Ok(());
            }
        };
        self.entries += 1;
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
        // An empty reader: the header only. The content follows from the host.
        archive.append(&header, io::empty()).map_err(fail)?;
        if data {
            let sink = archive.get_mut();
            sink.append_file(root, path, meta.size)?;
            sink.write_all(padding(meta.size)).map_err(fail)?;
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
