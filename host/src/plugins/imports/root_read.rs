//! Interface `root-read`: walking, stat-ing and reading the image root,
//! confined to it, with the call's handle and size limits.

use std::io::Read;

use wasmtime::component::Resource;

use super::super::limits::HandleKind;
use super::super::state::{PluginState, ReaderHandle, RootHandle, WalkHandle};
use super::super::v0_2_0::latest::root_read::{self, Entry, FileType, Metadata, Xattr};
use super::{CallError, CallResult};
use crate::rootfs::{EntryMeta, FileKind};

/// Largest single read a plugin may ask for.
const MAX_READ: u32 = 16 << 20;
/// Largest walk batch a plugin may ask for.
const MAX_BATCH: u32 = 65536;

/// A file's metadata as the contract shows it.
pub(crate) fn metadata_to(m: EntryMeta) -> Metadata {
    Metadata {
        file_type: match m.kind {
            FileKind::Regular => FileType::Regular,
            FileKind::Directory => FileType::Directory,
            FileKind::Symlink => FileType::Symlink,
            FileKind::CharDevice => FileType::CharDevice,
            FileKind::BlockDevice => FileType::BlockDevice,
            FileKind::Fifo => FileType::Fifo,
            FileKind::Socket => FileType::Socket,
        },
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
        size: m.size,
        mtime_seconds: m.mtime,
        mtime_nanoseconds: m.mtime_nsec,
        nlink: m.nlink,
        inode: m.inode,
        device: m.device,
        rdev_major: m.rdev_major,
        rdev_minor: m.rdev_minor,
        xattrs: m
            .xattrs
            .into_iter()
            .map(|(name, value)| Xattr { name, value })
            .collect(),
    }
}

impl root_read::Host for PluginState {
    fn walk(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
    ) -> CallResult<Resource<WalkHandle>> {
        let root = self.readable_root(&root)?;
        self.acquire(HandleKind::Walk)?;
        let walk = root.walk(&path).map_err(|e| CallError::io(&path, e));
        self.push_counted(HandleKind::Walk, walk.map(WalkHandle))
    }

    fn stat(&mut self, root: Resource<RootHandle>, path: String) -> CallResult<Metadata> {
        let root = self.readable_root(&root)?;
        let meta = root.stat(&path).map_err(|e| CallError::io(&path, e))?;
        Ok(metadata_to(meta))
    }

    fn read_link(&mut self, root: Resource<RootHandle>, path: String) -> CallResult<String> {
        let root = self.readable_root(&root)?;
        root.read_link(&path).map_err(|e| CallError::io(&path, e))
    }

    fn open(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
    ) -> CallResult<Resource<ReaderHandle>> {
        let root = self.readable_root(&root)?;
        self.acquire(HandleKind::Reader)?;
        let file = root.open_file(&path).map_err(|e| CallError::io(&path, e));
        self.push_counted(HandleKind::Reader, file.map(ReaderHandle))
    }

    fn read_file(&mut self, root: Resource<RootHandle>, path: String) -> CallResult<Vec<u8>> {
        let root = self.readable_root(&root)?;
        let (file, size) = root
            .open_regular(&path)
            .map_err(|e| CallError::io(&path, e))?;
        // Never more than the plugin could hold: a huge file is read in chunks.
        let limit = self.max_data_bytes;
        let too_large = || {
            CallError::io(
                &path,
                std::io::Error::other(format!(
                    "larger than {limit} bytes, the most read-file returns (the plugin's memory \
                     limit): read it in chunks through `open`"
                )),
            )
        };
        if size > limit {
            return Err(too_large());
        }
        let mut data = Vec::with_capacity(size as usize);
        file.take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| CallError::io(&path, e))?;
        if data.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(data)
    }
}

impl root_read::HostWalker for PluginState {
    fn next(&mut self, handle: Resource<WalkHandle>, max: u32) -> CallResult<Vec<Entry>> {
        let walk = &mut self.table.get_mut(&handle)?.0;
        let batch = walk
            .next_batch(max.clamp(1, MAX_BATCH) as usize)
            .map_err(|e| CallError::io("", e))?;
        Ok(batch
            .into_iter()
            .map(|e| Entry {
                path: e.path,
                metadata: metadata_to(e.meta),
            })
            .collect())
    }

    fn drop(&mut self, handle: Resource<WalkHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.handles.release(HandleKind::Walk);
        Ok(())
    }
}

impl root_read::HostFileReader for PluginState {
    fn read(&mut self, handle: Resource<ReaderHandle>, max: u32) -> CallResult<Vec<u8>> {
        let file = &mut self.table.get_mut(&handle)?.0;
        let max = max.min(MAX_READ) as usize;
        let mut data = vec![0u8; max];
        let mut filled = 0;
        // Fill the buffer unless at end of file: fewer, larger calls.
        while filled < max {
            match file.read(&mut data[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CallError::io("", e)),
            }
        }
        data.truncate(filled);
        Ok(data)
    }

    fn drop(&mut self, handle: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.handles.release(HandleKind::Reader);
        Ok(())
    }
}
