//! Interface `artifacts`: files a plugin writes into the target directory,
//! published under their names only when finished, within the call's budget.

use wasmtime::component::Resource;

use super::super::grants::Capability;
use super::super::limits::HandleKind;
use super::super::state::{ArtifactHandle, PluginState, RootHandle};
use super::super::v0_2_0::artifact_to;
use super::super::v0_2_0::latest::artifacts::{self, Compression};
use super::super::v0_2_0::latest::types::Artifact;
use super::{CallError, CallResult};
use crate::toolbox;

impl artifacts::Host for PluginState {
    fn create(
        &mut self,
        file_name: String,
        compression: Compression,
    ) -> CallResult<Resource<ArtifactHandle>> {
        self.need(Capability::ArtifactWrite)?;
        let compression = match compression {
            Compression::None => toolbox::Compression::None,
            Compression::Gzip => toolbox::Compression::Gzip,
            Compression::Xz => toolbox::Compression::Xz,
            Compression::Zstd => toolbox::Compression::Zstd,
        };
        if compression != toolbox::Compression::None {
            self.need(Capability::Compression)?;
        }
        let target = self.target_dir()?;
        self.acquire(HandleKind::Writer)?;
        let writer = target
            .create_artifact(&file_name, compression)
            .map_err(|e| CallError::io(&file_name, e));
        self.push_counted(HandleKind::Writer, writer.map(ArtifactHandle))
    }

    fn remove(&mut self, file_name: String) -> CallResult<()> {
        self.need(Capability::ArtifactWrite)?;
        let path = self.published_artifact(&file_name)?;
        let target = self.target_dir()?;
        // What is gone from the disk no longer counts against the budget.
        target
            .remove(&file_name)
            .map_err(|e| CallError::io(&file_name, e))?;
        self.published.retain(|p| *p != path);
        Ok(())
    }

    fn sha256(&mut self, file_name: String) -> CallResult<String> {
        self.need(Capability::ArtifactWrite)?;
        let target = self.target_dir()?;
        target
            .sha256_of(&file_name)
            .map_err(|e| CallError::io(&file_name, e))
    }
}

impl artifacts::HostArtifactWriter for PluginState {
    fn write(&mut self, handle: Resource<ArtifactHandle>, data: Vec<u8>) -> CallResult<()> {
        let writer = &mut self.table.get_mut(&handle)?.0;
        let name = writer.file_name().to_string();
        writer.write_all(&data).map_err(|e| CallError::io(&name, e))
    }

    fn append_file(
        &mut self,
        handle: Resource<ArtifactHandle>,
        root: Resource<RootHandle>,
        path: String,
        size: u64,
    ) -> CallResult<()> {
        let root = self.readable_root(&root)?;
        let (mut file, actual) = root
            .open_regular(&path)
            .map_err(|e| CallError::io(&path, e))?;
        if actual != size {
            return Err(CallError::io(
                &path,
                std::io::Error::other(format!(
                    "is {actual} bytes, not the {size} expected (it changed)"
                )),
            ));
        }
        let writer = &mut self.table.get_mut(&handle)?.0;
        writer
            .copy_from(&mut file, size)
            .map_err(|e| CallError::io(&path, e))
    }

    fn append_artifact(
        &mut self,
        handle: Resource<ArtifactHandle>,
        file_name: String,
    ) -> CallResult<u64> {
        self.need(Capability::ArtifactWrite)?;
        let path = self.published_artifact(&file_name)?;
        let io = |e| CallError::io(&file_name, e);
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let size = file.metadata().map(|m| m.len()).map_err(io)?;
        let writer = &mut self.table.get_mut(&handle)?.0;
        writer.copy_from(&mut file, size).map_err(io)?;
        Ok(size)
    }

    fn finish(&mut self, handle: Resource<ArtifactHandle>) -> CallResult<Artifact> {
        let writer = self.table.delete(handle)?.0;
        self.handles.release(HandleKind::Writer);
        let name = writer.file_name().to_string();
        let info = writer.finish().map_err(|e| CallError::io(&name, e))?;
        if let Some(target) = &self.target {
            self.published.push(target.path().join(&info.file_name));
        }
        Ok(artifact_to(info))
    }

    fn drop(&mut self, handle: Resource<ArtifactHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.handles.release(HandleKind::Writer);
        Ok(())
    }
}
