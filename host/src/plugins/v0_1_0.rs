//! Bindings for contract `builder:plugin@0.1.0` (wit/0.1.0): the host side of
//! its imports, and conversions between its types and the host's own.
//!
//! A later contract version gets a sibling module; plugins built against this
//! one keep loading through this module.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::convert::{same_enum, same_record, world_bindings};
use super::grants::Capability;
use super::imports::{CallError, CallResult};
use super::state::{ArtifactHandle, DiskHandle, PluginState, ReaderHandle, RootHandle, WalkHandle};
use super::v0_2_0::latest as new;
use super::BuildRequest;
use crate::toolbox;

/// The contract version this module speaks.
pub const VERSION: &str = "0.1.0";

world_bindings!(
    /// `image-type` world bindings (also the home of the shared interfaces).
    image_type, "../wit/0.1.0", "builder:plugin/image-type@0.1.0", {
        "builder:plugin/rootfs@0.1.0.root-tree": crate::plugins::state::RootHandle,
        "builder:plugin/rootfs@0.1.0.walker": crate::plugins::state::WalkHandle,
        "builder:plugin/rootfs@0.1.0.file-reader": crate::plugins::state::ReaderHandle,
        "builder:plugin/toolbox@0.1.0.artifact-writer": crate::plugins::state::ArtifactHandle,
    }
);

world_bindings!(
    /// `hook` world bindings.
    hook, "../wit/0.1.0", "builder:plugin/hook@0.1.0", {
        "builder:plugin/types@0.1.0": super::image_type::builder::plugin::types,
        "builder:plugin/host@0.1.0": super::image_type::builder::plugin::host,
        "builder:plugin/rootfs@0.1.0": super::image_type::builder::plugin::rootfs,
        "builder:plugin/toolbox@0.1.0": super::image_type::builder::plugin::toolbox,
    }
);

world_bindings!(
    /// `baseline` world bindings.
    baseline, "../wit/0.1.0", "builder:plugin/baseline@0.1.0", {
        "builder:plugin/types@0.1.0": super::image_type::builder::plugin::types,
        "builder:plugin/host@0.1.0": super::image_type::builder::plugin::host,
        "builder:plugin/rootfs@0.1.0": super::image_type::builder::plugin::rootfs,
        "builder:plugin/changes@0.1.0": super::hook::builder::plugin::changes,
    }
);

use hook::builder::plugin::changes;
use image_type::builder::plugin::{host, rootfs, toolbox as wit_toolbox, types};

/// `plugin-info` of this version, as `describe` returns it.
pub type WitPluginInfo = types::PluginInfo;

/// Linkers for the three worlds of this version, WASI included.
pub struct Linkers {
    pub image_type: Linker<PluginState>,
    pub hook: Linker<PluginState>,
    pub baseline: Linker<PluginState>,
}

impl Linkers {
    /// The linker for components of `world`.
    pub fn for_world(&self, world: super::World) -> &Linker<PluginState> {
        match world {
            super::World::ImageType => &self.image_type,
            super::World::Hook => &self.hook,
            super::World::Baseline => &self.baseline,
        }
    }

    /// Link every import of every world.
    pub fn new(engine: &wasmtime::Engine) -> wasmtime::Result<Linkers> {
        let base = || -> wasmtime::Result<Linker<PluginState>> {
            let mut linker = Linker::new(engine);
            // WASI waits (sleeps, polls) are futures: a call stopped at its
            // deadline or on Ctrl-C is dropped while it waits.
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            Ok(linker)
        };
        let mut image_type = base()?;
        image_type::ImageType::add_to_linker::<_, HasSelf<_>>(&mut image_type, |s| s)?;
        let mut hook = base()?;
        hook::Hook::add_to_linker::<_, HasSelf<_>>(&mut hook, |s| s)?;
        let mut baseline = base()?;
        baseline::Baseline::add_to_linker::<_, HasSelf<_>>(&mut baseline, |s| s)?;
        Ok(Linkers {
            image_type,
            hook,
            baseline,
        })
    }
}

// ---- conversions -------------------------------------------------------

super::convert::contract_conversions!();

pub fn build_request_to(request: &BuildRequest) -> types::BuildRequest {
    types::BuildRequest {
        image: identity_to(&request.image),
        type_name: request.type_name.clone(),
        options: options_to(&request.options),
        source_date_epoch: request.source_date_epoch,
        size: request
            .size
            .map(|size| same_record!(size => types::ImageSize: bytes, additive)),
        container: super::ContainerConfig::from_settings(&request.settings).map(|c| {
            same_record!(c => types::ContainerConfig: name, tag, additional_names, maintainer,
                user, workingdir, entrypoint, cmd, expose, volumes, stopsignal, environment, labels)
        }),
        vagrant: request.vagrant.clone().map(|v| {
            same_record!(v => types::VagrantConfig: provider, virtual_size,
                virtualbox_guest_additions, embedded_vagrantfile)
        }),
    }
}

// ---- imports: carried out by the newest contract's host functions -------
//
// Each 0.1.0 import converts its arguments to the newest contract's types,
// calls the host function of `super::imports` and converts the result
// back: one implementation, two contracts. Errors are the newest
// contract's until `convert_error` hands them to the plugin.

impl types::Host for PluginState {
    fn convert_error(&mut self, error: CallError) -> wasmtime::Result<types::Error> {
        use new::types::Error as N;
        Ok(match error {
            CallError::Trap(trap) => return Err(trap),
            CallError::Guest(N::InvalidOption(o)) => {
                types::Error::InvalidOption(same_record!(o => types::InvalidOption: name, reason))
            }
            CallError::Guest(N::CapabilityDenied(c)) => {
                types::Error::CapabilityDenied(capability_to(super::v0_2_0::capability_from(c)))
            }
            CallError::Guest(N::ToolFailed(t)) => types::Error::ToolFailed(
                same_record!(t => types::ToolFailure: tool, exit_code, stderr),
            ),
            CallError::Guest(N::Io(io)) => {
                types::Error::Io(same_record!(io => types::IoError: path, message))
            }
            CallError::Guest(N::InvalidPath(p)) => types::Error::InvalidPath(p),
            CallError::Guest(N::Other(o)) => types::Error::Other(o),
        })
    }
}

fn artifact_back(a: new::types::Artifact) -> types::Artifact {
    same_record!(a => types::Artifact: file_name, size, sha256)
}

fn metadata_to(m: new::root_read::Metadata) -> rootfs::Metadata {
    same_record!(m => rootfs::Metadata: mode, uid, gid, size, mtime_seconds, mtime_nanoseconds,
        nlink, inode, device, rdev_major, rdev_minor;
        file_type: same_enum!(m.file_type, new::root_read::FileType => rootfs::FileType:
            Regular, Directory, Symlink, CharDevice, BlockDevice, Fifo, Socket),
        xattrs: (m.xattrs.into_iter())
            .map(|x| same_record!(x => rootfs::Xattr: name, value))
            .collect())
}

fn filesystem_options_to_new(o: wit_toolbox::FilesystemOptions) -> new::types::FilesystemOptions {
    same_record!(o => new::types::FilesystemOptions: label, uuid, size_bytes, extra_bytes,
        compression, create_options;
        fs_type: same_enum!(o.fs_type, wit_toolbox::FilesystemType => new::types::FilesystemType:
            Ext2, Ext3, Ext4, Xfs, Btrfs, Squashfs, Erofs, Vfat))
}

fn file_source_to_new(s: wit_toolbox::FileSource) -> new::types::FileSource {
    same_enum!(s, wit_toolbox::FileSource => new::types::FileSource: RootFile(p), Artifact(a), Data(d))
}

fn image_files_to_new(files: Vec<wit_toolbox::ImageFile>) -> Vec<new::types::ImageFile> {
    (files.into_iter())
        .map(|f| new::types::ImageFile {
            path: f.path,
            source: file_source_to_new(f.source),
        })
        .collect()
}

fn kernels_to(kernels: Vec<new::boot::Kernel>) -> Vec<wit_toolbox::Kernel> {
    (kernels.into_iter())
        .map(|k| same_record!(k => wit_toolbox::Kernel: version, image, initrd))
        .collect()
}

/// The whole root, but for what the named mount points hold.
fn tree(path: &str, mount_points: &[&str]) -> new::types::TreePart {
    new::types::TreePart {
        path: path.into(),
        mount_points: mount_points.iter().map(|m| m.to_string()).collect(),
    }
}

impl host::Host for PluginState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        let level =
            same_enum!(level, host::Level => new::log::Level: Trace, Debug, Info, Warn, Error);
        new::log::Host::log(self, level, message)
    }

    fn progress(&mut self, step: String, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        new::log::Host::progress(self, step, done, total)
    }
}

impl rootfs::Host for PluginState {}

type Root = Resource<RootHandle>;

impl rootfs::HostRootTree for PluginState {
    fn walk(&mut self, root: Root, path: String) -> CallResult<Resource<WalkHandle>> {
        new::root_read::Host::walk(self, root, path)
    }

    fn stat(&mut self, root: Root, path: String) -> CallResult<rootfs::Metadata> {
        new::root_read::Host::stat(self, root, path).map(metadata_to)
    }

    fn read_link(&mut self, root: Root, path: String) -> CallResult<String> {
        new::root_read::Host::read_link(self, root, path)
    }

    fn open(&mut self, root: Root, path: String) -> CallResult<Resource<ReaderHandle>> {
        new::root_read::Host::open(self, root, path)
    }

    fn read_file(&mut self, root: Root, path: String) -> CallResult<Vec<u8>> {
        new::root_read::Host::read_file(self, root, path)
    }

    fn drop(&mut self, root: Root) -> wasmtime::Result<()> {
        new::types::HostRootTree::drop(self, root)
    }
}

impl rootfs::HostWalker for PluginState {
    fn next(&mut self, walk: Resource<WalkHandle>, max: u32) -> CallResult<Vec<rootfs::Entry>> {
        let entries = new::root_read::HostWalker::next(self, walk, max)?;
        Ok((entries.into_iter())
            .map(|e| rootfs::Entry {
                path: e.path,
                metadata: metadata_to(e.metadata),
            })
            .collect())
    }

    fn drop(&mut self, walk: Resource<WalkHandle>) -> wasmtime::Result<()> {
        new::root_read::HostWalker::drop(self, walk)
    }
}

impl rootfs::HostFileReader for PluginState {
    fn read(&mut self, file: Resource<ReaderHandle>, max: u32) -> CallResult<Vec<u8>> {
        new::root_read::HostFileReader::read(self, file, max)
    }

    fn drop(&mut self, file: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        new::root_read::HostFileReader::drop(self, file)
    }
}

type Artifact = CallResult<types::Artifact>;

impl wit_toolbox::Host for PluginState {
    fn create_artifact(
        &mut self,
        file_name: String,
        compression: wit_toolbox::Compression,
    ) -> CallResult<Resource<ArtifactHandle>> {
        let compression = same_enum!(compression,
            wit_toolbox::Compression => new::artifacts::Compression: None, Gzip, Xz, Zstd);
        new::artifacts::Host::create(self, file_name, compression)
    }

    fn make_filesystem(
        &mut self,
        root: Root,
        file_name: String,
        options: wit_toolbox::FilesystemOptions,
    ) -> Artifact {
        let options = filesystem_options_to_new(options);
        new::filesystems::Host::make(self, root, tree("", &[]), file_name, options)
            .map(artifact_back)
    }

    fn make_disk(
        &mut self,
        root: Root,
        file_name: String,
        table: wit_toolbox::PartitionTable,
        size_bytes: Option<u64>,
        partitions: Vec<wit_toolbox::Partition>,
        bios_boot: Option<String>,
    ) -> CallResult<wit_toolbox::Disk> {
        let table = same_enum!(table, wit_toolbox::PartitionTable => new::disks::PartitionTable: Gpt, Msdos);
        let disk = self
            .make_disk_through_draft(root, file_name, table, size_bytes, partitions, bios_boot)?;
        Ok(wit_toolbox::Disk {
            artifact: artifact_back(disk.artifact),
            disk_id: disk.disk_id,
            partitions: (disk.partitions.into_iter())
                .map(|p| {
                    same_record!(p => wit_toolbox::PlacedPartition: number, name, start_bytes,
                        size_bytes, uuid)
                })
                .collect(),
        })
    }

    fn convert_disk(
        &mut self,
        source: String,
        file_name: String,
        format: wit_toolbox::DiskFormat,
    ) -> Artifact {
        let format = same_enum!(format, wit_toolbox::DiskFormat => new::disks::DiskFormat:
            Qcow2, Vmdk, Vhdx, Vhd, VhdFixed);
        new::disks::Host::convert(self, source, file_name, format).map(artifact_back)
    }

    fn pack_disk(
        &mut self,
        source: String,
        file_name: String,
        packaging: wit_toolbox::DiskPackaging,
    ) -> Artifact {
        use new::disks as n;
        use wit_toolbox::DiskPackaging as W;
        let packaging = match packaging {
            W::Gce(license) => n::DiskPackaging::Gce(license),
            W::Ova(ovf) => {
                n::DiskPackaging::Ova(same_record!(ovf => n::OvfSettings: name, secure_boot;
                firmware: same_enum!(ovf.firmware, wit_toolbox::VmFirmware => n::VmFirmware: Bios, Efi)))
            }
            W::Vagrant(v) => n::DiskPackaging::Vagrant(same_record!(v => n::VagrantSettings:
                name, virtual_size_gb, vagrantfile, guest_additions;
                provider: same_enum!(v.provider, wit_toolbox::VagrantProvider => n::VagrantProvider:
                    Libvirt, Virtualbox))),
        };
        new::disks::Host::pack(self, source, file_name, packaging).map(artifact_back)
    }

    fn make_fat_image(
        &mut self,
        root: Root,
        file_name: String,
        options: wit_toolbox::FatOptions,
        files: Vec<wit_toolbox::ImageFile>,
    ) -> Artifact {
        let options =
            same_record!(options => new::filesystems::FatOptions: label, volume_id, size_bytes);
        let files = image_files_to_new(files);
        new::filesystems::Host::make_fat(self, root, file_name, options, files).map(artifact_back)
    }

    fn write_boot_file(
        &mut self,
        root: Root,
        path: String,
        data: Vec<u8>,
        mode: u32,
    ) -> CallResult<()> {
        new::boot::Host::write_file(self, root, path, data, mode)
    }

    fn kernels(&mut self, root: Root) -> CallResult<Vec<wit_toolbox::Kernel>> {
        // 0.1.0 lists kernels with `root-read`, 0.2.0 with `bootloader`.
        self.require(Capability::RootRead)
            .map_err(CallError::denied)?;
        let tree = self.table.get(&root)?.0.clone();
        let kernels = toolbox::boot::kernels(&tree).map_err(|e| CallError::tool("kernels", e))?;
        Ok((kernels.into_iter())
            .map(|k| same_record!(k => wit_toolbox::Kernel: version, image, initrd))
            .collect())
    }

    fn make_initrd(
        &mut self,
        root: Root,
        options: wit_toolbox::InitrdOptions,
    ) -> CallResult<Vec<wit_toolbox::Kernel>> {
        let options = new::boot::InitrdOptions {
            filesystems: options.filesystems,
            luks: false,
            lvm: false,
        };
        new::boot::Host::make_initrd(self, root, options).map(kernels_to)
    }

    fn make_grub_image(
        &mut self,
        root: Root,
        file_name: String,
        platform: wit_toolbox::GrubPlatform,
        config: String,
        modules: Vec<String>,
    ) -> Artifact {
        let platform = same_enum!(platform, wit_toolbox::GrubPlatform => new::boot::GrubPlatform:
            I386Pc, I386PcEltorito, X8664Efi, Arm64Efi);
        new::boot::Host::make_grub_image(self, root, file_name, platform, config, modules)
            .map(artifact_back)
    }

    fn make_iso(
        &mut self,
        root: Root,
        file_name: String,
        options: wit_toolbox::IsoOptions,
        files: Vec<wit_toolbox::ImageFile>,
    ) -> Artifact {
        let options = same_record!(options => new::iso::IsoOptions: volume_id, bios_boot, efi_boot;
            hybrid_mbr: options.hybrid_mbr.map(file_source_to_new));
        let files = image_files_to_new(files);
        new::iso::Host::make(self, root, file_name, options, files).map(artifact_back)
    }

    fn remove_artifact(&mut self, file_name: String) -> CallResult<()> {
        new::artifacts::Host::remove(self, file_name)
    }

    fn sha256(&mut self, data: Vec<u8>) -> wasmtime::Result<String> {
        Ok(toolbox::sha256_hex(&data))
    }

    fn sha256_artifact(&mut self, file_name: String) -> CallResult<String> {
        new::artifacts::Host::sha256(self, file_name)
    }
}

type Writer = Resource<ArtifactHandle>;

impl wit_toolbox::HostArtifactWriter for PluginState {
    fn write(&mut self, writer: Writer, data: Vec<u8>) -> CallResult<()> {
        new::artifacts::HostArtifactWriter::write(self, writer, data)
    }

    fn append_file(
        &mut self,
        writer: Writer,
        root: Root,
        path: String,
        size: u64,
    ) -> CallResult<()> {
        new::artifacts::HostArtifactWriter::append_file(self, writer, root, path, size)
    }

    fn append_artifact(&mut self, writer: Writer, file_name: String) -> CallResult<u64> {
        new::artifacts::HostArtifactWriter::append_artifact(self, writer, file_name)
    }

    fn finish(&mut self, writer: Writer) -> Artifact {
        new::artifacts::HostArtifactWriter::finish(self, writer).map(artifact_back)
    }

    fn drop(&mut self, writer: Writer) -> wasmtime::Result<()> {
        new::artifacts::HostArtifactWriter::drop(self, writer)
    }
}

impl PluginState {
    /// 0.1.0's one-call disk through the newest contract's disk resource:
    /// a filesystem partition holds the whole root, but an `xbootldr` one
    /// holds its `/boot`, which the root's filesystem then holds empty.
    fn make_disk_through_draft(
        &mut self,
        root: Root,
        file_name: String,
        table: new::disks::PartitionTable,
        size_bytes: Option<u64>,
        partitions: Vec<wit_toolbox::Partition>,
        bios_boot: Option<String>,
    ) -> CallResult<new::disks::DiskInfo> {
        use new::disks as n;
        use wit_toolbox::PartitionContent as C;
        use wit_toolbox::PartitionKind as K;
        let separate_boot = (partitions.iter())
            .any(|p| p.kind == K::Xbootldr && matches!(p.content, Some(C::Filesystem(_))));
        let disk = n::Host::create(self, file_name, table, size_bytes)?;
        let disk_rep = disk.rep();
        let handle = || Resource::<DiskHandle>::new_own(disk_rep);
        let result = (|| {
            for p in partitions {
                let content = match p.content {
                    Some(C::Image(name)) => n::PartitionContent::Image(name),
                    Some(C::Filesystem(options)) => {
                        n::PartitionContent::Filesystem(n::TreeFilesystem {
                            part: match p.kind {
                                K::Xbootldr => tree("boot", &[]),
                                K::Root if separate_boot => tree("", &["boot"]),
                                _ => tree("", &[]),
                            },
                            options: filesystem_options_to_new(options),
                        })
                    }
                    // Swap is usable only with its signature: KIWI's label.
                    None if p.kind == K::Swap => n::PartitionContent::Swap(n::SwapOptions {
                        label: Some("SWAP".into()),
                        uuid: super::imports::disks::swap_uuid(self.source_date_epoch, &p.name),
                    }),
                    None => n::PartitionContent::Empty,
                };
                let partition = same_record!(p => n::Partition: name, size_bytes, bootable;
                    kind: same_enum!(p.kind, K => n::PartitionKind:
                        BiosBoot, Esp, Root, Linux, Swap, Xbootldr),
                    content: content,
                    encryption: None);
                n::HostDisk::add_partition(self, handle(), partition)?;
            }
            if let Some(core) = bios_boot {
                n::HostDisk::install_bios_boot(self, handle(), core)?;
            }
            n::HostDisk::finish(self, handle(), root)
        })();
        if result.is_err() {
            // Not finished: the draft goes with nothing written.
            let _ = self.table.delete(handle());
        }
        result
    }
}

// ---- imports: changes ---------------------------------------------------

impl changes::Host for PluginState {
    fn install_packages(&mut self, names: Vec<String>) -> CallResult<()> {
        new::changes::Host::install_packages(self, names)
    }

    fn remove_packages(&mut self, names: Vec<String>) -> CallResult<()> {
        new::changes::Host::remove_packages(self, names)
    }

    fn write_file(
        &mut self,
        path: String,
        data: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> CallResult<()> {
        new::changes::Host::write_file(self, path, data, mode, uid, gid)
    }

    fn enable_service(&mut self, unit: String) -> CallResult<()> {
        new::changes::Host::enable_service(self, unit)
    }

    fn mask_service(&mut self, unit: String) -> CallResult<()> {
        new::changes::Host::mask_service(self, unit)
    }

    fn set_default_target(&mut self, target: String) -> CallResult<()> {
        new::changes::Host::set_default_target(self, target)
    }

    fn add_group(&mut self, group: changes::Group) -> CallResult<()> {
        let group = same_record!(group => new::changes::Group: name, gid);
        new::changes::Host::add_group(self, group)
    }

    fn add_user(&mut self, user: changes::User) -> CallResult<()> {
        let user = same_record!(user => new::changes::User: name, uid, group, groups, home, shell,
            password_hash);
        new::changes::Host::add_user(self, user)
    }

    fn set_sysctl(&mut self, key: String, value: String) -> CallResult<()> {
        new::changes::Host::set_sysctl(self, key, value)
    }

    fn load_kernel_module(&mut self, name: String) -> CallResult<()> {
        new::changes::Host::load_kernel_module(self, name)
    }

    fn run_in_root(&mut self, argv: Vec<String>) -> CallResult<()> {
        new::root_exec::Host::run_in_root(self, argv)
    }
}
