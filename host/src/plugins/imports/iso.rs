//! Interface `iso`: ISO 9660 images of listed files, bootable from CD and
//! USB stick, made with xorriso.

use wasmtime::component::Resource;

use super::super::grants::Capability;
use super::super::state::{PluginState, RootHandle};
use super::super::v0_2_0::latest::iso::{self, IsoOptions};
use super::super::v0_2_0::latest::types::{Artifact, ImageFile};
use super::{CallError, CallResult};
use crate::toolbox;

impl iso::Host for PluginState {
    fn make(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: IsoOptions,
        files: Vec<ImageFile>,
    ) -> CallResult<Artifact> {
        for capability in [Capability::Iso, Capability::ArtifactWrite] {
            self.need(capability)?;
        }
        let target = self.target_dir()?;
        let mut listed = files;
        // The hybrid MBR is staged like any file, under a name no image path has.
        const MBR: &str = ".builder-hybrid-mbr";
        if let Some(source) = options.hybrid_mbr {
            listed.push(ImageFile {
                path: MBR.to_string(),
                source,
            });
        }
        let mut staged = self.stage_files(&root, &listed)?;
        let hybrid_mbr = staged
            .files
            .iter()
            .position(|(path, _)| path == MBR)
            .map(|i| staged.files.remove(i).1);
        let file = target
            .create_file_artifact(&file_name)
            .map_err(|e| CallError::io(&file_name, e))?;
        toolbox::iso::make(
            &staged,
            file.path(),
            &toolbox::iso::IsoOptions {
                volume_id: options.volume_id,
                bios_boot: options.bios_boot,
                efi_boot: options.efi_boot,
                hybrid_mbr,
                source_date_epoch: self.source_date_epoch,
            },
        )
        .map_err(|e| CallError::tool(&file_name, e))?;
        self.publish(&target, file, &file_name)
    }
}
