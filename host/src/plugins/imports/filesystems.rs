//! Interface `filesystems`: filesystem images of a part of the root, and
//! FAT images of listed files, made with the host's tools.

use wasmtime::component::Resource;

use super::super::grants::Capability;
use super::super::state::{PluginState, RootHandle};
use super::super::v0_2_0::latest::filesystems::{self, FatOptions};
use super::super::v0_2_0::latest::types::{Artifact, FilesystemOptions, ImageFile, TreePart};
use super::{tree_part, CallError, CallResult};
use crate::toolbox;

impl filesystems::Host for PluginState {
    fn make(
        &mut self,
        root: Resource<RootHandle>,
        part: TreePart,
        file_name: String,
        options: FilesystemOptions,
    ) -> CallResult<Artifact> {
        for capability in [Capability::Filesystems, Capability::ArtifactWrite] {
            self.need(capability)?;
        }
        let tree = self.readable_root(&root)?;
        let target = self.target_dir()?;
        let options = self.filesystem_options(&file_name, options)?;
        let (dir, hidden) = tree_part(&tree, &part)?;
        let file = target
            .create_file_artifact(&file_name)
            .map_err(|e| CallError::io(&file_name, e))?;
        toolbox::filesystems::make_hiding(&dir, &hidden, file.path(), &options)
            .map_err(|e| CallError::tool(&file_name, e))?;
        self.publish(&target, file, &file_name)
    }

    fn make_fat(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: FatOptions,
        files: Vec<ImageFile>,
    ) -> CallResult<Artifact> {
        for capability in [Capability::Filesystems, Capability::ArtifactWrite] {
            self.need(capability)?;
        }
        let target = self.target_dir()?;
        self.check_image_size(&file_name, options.size_bytes)?;
        let staged = self.stage_files(&root, &files)?;
        let file = target
            .create_file_artifact(&file_name)
            .map_err(|e| CallError::io(&file_name, e))?;
        toolbox::filesystems::make_fat_image(
            &staged,
            file.path(),
            &toolbox::filesystems::FatOptions {
                label: options.label,
                volume_id: options.volume_id,
                size_bytes: options.size_bytes,
                source_date_epoch: self.source_date_epoch,
            },
        )
        .map_err(|e| CallError::tool(&file_name, e))?;
        self.publish(&target, file, &file_name)
    }
}
