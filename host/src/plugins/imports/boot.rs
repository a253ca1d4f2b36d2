//! Interface `boot`: the image's kernels and initrds, GRUB images made with
//! the image's own GRUB, and the boot chain's data files.

use wasmtime::component::Resource;

use super::super::grants::Capability;
use super::super::state::{PluginState, RootHandle};
use super::super::v0_2_0::latest::boot::{
    self, GrubPlatform, InitrdOptions, InstallMedia, InstallOptions, Kernel, LiveOptions,
};
use super::super::v0_2_0::latest::types::{Artifact, FileSource, ImageFile};
use super::{CallError, CallResult};
use crate::toolbox;

fn kernel_to(k: toolbox::boot::Kernel) -> Kernel {
    Kernel {
        version: k.version,
        image: k.image,
        initrd: k.initrd,
    }
}

impl boot::Host for PluginState {
    fn write_file(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
        content: Vec<u8>,
        mode: u32,
    ) -> CallResult<()> {
        self.need(Capability::Bootloader)?;
        let dir = self.root_dir(&root)?;
        toolbox::boot::write_boot_file(&dir, &path, &content, mode)
            .map_err(|e| CallError::tool(&path, e))
    }

    fn kernels(&mut self, root: Resource<RootHandle>) -> CallResult<Vec<Kernel>> {
        self.need(Capability::Bootloader)?;
        let tree = self.tree(&root)?;
        let kernels = toolbox::boot::kernels(&tree).map_err(|e| CallError::tool("kernels", e))?;
        Ok(kernels.into_iter().map(kernel_to).collect())
    }

    fn make_initrd(
        &mut self,
        root: Resource<RootHandle>,
        options: InitrdOptions,
    ) -> CallResult<Vec<Kernel>> {
        self.need(Capability::Bootloader)?;
        let tree = self.tree(&root)?;
        let kernels = toolbox::boot::make_initrd(
            tree.host_path(),
            &toolbox::boot::InitrdOptions {
                filesystems: options.filesystems,
                luks: options.luks,
                lvm: options.lvm,
                source_date_epoch: self.source_date_epoch,
                force: false,
            },
        )
        .map_err(|e| CallError::tool("initrd", e))?;
        Ok(kernels.into_iter().map(kernel_to).collect())
    }

    fn prepare_live_initrd(
        &mut self,
        root: Resource<RootHandle>,
        options: LiveOptions,
    ) -> CallResult<Vec<String>> {
        self.need(Capability::Bootloader)?;
        let dir = self.root_dir(&root)?;
        let options = toolbox::live::LiveOptions {
            volume_id: options.volume_id,
            root_filesystem: options.root_filesystem,
            persistent_filesystem: options.persistent_filesystem,
        };
        toolbox::live::prepare(&dir, &options).map_err(|e| CallError::tool("live initrd", e))
    }

    fn prepare_install_initrd(
        &mut self,
        root: Resource<RootHandle>,
        options: InstallOptions,
    ) -> CallResult<InstallMedia> {
        self.need(Capability::Bootloader)?;
        let dir = self.root_dir(&root)?;
        let options = toolbox::install::InstallOptions {
            volume_id: options.volume_id,
            image_file: options.image_file,
            image_size: options.image_size,
            image_sha256: options.image_sha256,
            verify: options.verify,
            unattended: options.unattended,
            target: options.target,
            device_filter: options.device_filter,
            power_off: options.power_off,
        };
        let (kernel_arguments, conf) = toolbox::install::prepare(&dir, &options)
            .map_err(|e| CallError::tool("installer initrd", e))?;
        Ok(InstallMedia {
            kernel_arguments,
            files: vec![ImageFile {
                path: toolbox::install::CONF_FILE.to_string(),
                source: FileSource::Data(conf.into_bytes()),
            }],
        })
    }

    fn grow_volume_at_boot(
        &mut self,
        root: Resource<RootHandle>,
        partition_uuid: String,
        group: String,
        volume: String,
    ) -> CallResult<()> {
        self.need(Capability::Bootloader)?;
        let dir = self.root_dir(&root)?;
        toolbox::boot::grow_volume_at_boot(&dir, &partition_uuid, &group, &volume)
            .map_err(|e| CallError::tool(&format!("{group}/{volume}"), e))
    }

    fn make_grub_image(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        platform: GrubPlatform,
        config: String,
        modules: Vec<String>,
    ) -> CallResult<Artifact> {
        use toolbox::boot::GrubPlatform as P;
        for capability in [Capability::Bootloader, Capability::ArtifactWrite] {
            self.need(capability)?;
        }
        let target = self.target_dir()?;
        let tree = self.tree(&root)?;
        let platform = match platform {
            GrubPlatform::I386Pc => P::I386Pc,
            GrubPlatform::I386PcEltorito => P::I386PcEltorito,
            GrubPlatform::X8664Efi => P::X86_64Efi,
            GrubPlatform::Arm64Efi => P::Arm64Efi,
        };
        let file = target
            .create_file_artifact(&file_name)
            .map_err(|e| CallError::io(&file_name, e))?;
        toolbox::boot::make_grub_image(&tree, file.path(), platform, &config, &modules)
            .map_err(|e| CallError::tool(&file_name, e))?;
        self.publish(&target, file, &file_name)
    }
}
