//! Bindings for contract `builder:plugin@0.1.0` (wit/0.1.0): the host side of
//! its imports, and conversions between its types and the host's own.
//!
//! A later contract version gets a sibling module; plugins built against this
//! one keep loading through this module.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::grants::Capability;
use super::imports::{CallError, CallResult};
use super::info::{self, GuestError, OptionKind, PluginInfo, Role, Stage};
use super::limits::escape_control;
use super::state::{ArtifactHandle, DiskHandle, PluginState, ReaderHandle, RootHandle, WalkHandle};
use super::v0_2_0::latest as new;
use super::{BaselineRequest, BuildRequest, Family, HookRequest, ImageIdentity};
use crate::toolbox;

/// The contract version this module speaks.
pub const VERSION: &str = "0.1.0";

/// `image-type` world bindings (also the home of the shared interfaces).
pub mod image_type {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "builder:plugin/image-type@0.1.0",
        imports: { default: trappable },
        // Calls into plugins are futures, raced against their deadline.
        exports: { default: async },
        with: {
            "builder:plugin/rootfs@0.1.0.root-tree": crate::plugins::state::RootHandle,
            "builder:plugin/rootfs@0.1.0.walker": crate::plugins::state::WalkHandle,
            "builder:plugin/rootfs@0.1.0.file-reader": crate::plugins::state::ReaderHandle,
            "builder:plugin/toolbox@0.1.0.artifact-writer": crate::plugins::state::ArtifactHandle,
        },
    });
}

/// `hook` world bindings.
pub mod hook {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "builder:plugin/hook@0.1.0",
        imports: { default: trappable },
        // Calls into plugins are futures, raced against their deadline.
        exports: { default: async },
        with: {
            "builder:plugin/types@0.1.0": super::image_type::builder::plugin::types,
            "builder:plugin/host@0.1.0": super::image_type::builder::plugin::host,
            "builder:plugin/rootfs@0.1.0": super::image_type::builder::plugin::rootfs,
            "builder:plugin/toolbox@0.1.0": super::image_type::builder::plugin::toolbox,
        },
    });
}

/// `baseline` world bindings.
pub mod baseline {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "builder:plugin/baseline@0.1.0",
        imports: { default: trappable },
        // Calls into plugins are futures, raced against their deadline.
        exports: { default: async },
        with: {
            "builder:plugin/types@0.1.0": super::image_type::builder::plugin::types,
            "builder:plugin/host@0.1.0": super::image_type::builder::plugin::host,
            "builder:plugin/rootfs@0.1.0": super::image_type::builder::plugin::rootfs,
            "builder:plugin/changes@0.1.0": super::hook::builder::plugin::changes,
        },
    });
}

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

pub fn capability_from(c: types::Capability) -> Capability {
    use types::Capability as W;
    match c {
        W::RootRead => Capability::RootRead,
        W::RootWrite => Capability::RootWrite,
        W::RootExec => Capability::RootExec,
        W::ArtifactWrite => Capability::ArtifactWrite,
        W::Compression => Capability::Compression,
        W::Filesystems => Capability::Filesystems,
        W::Partitioning => Capability::Partitioning,
        W::Bootloader => Capability::Bootloader,
        W::Iso => Capability::Iso,
        W::Network => Capability::Network,
    }
}

fn capability_to(c: Capability) -> types::Capability {
    use types::Capability as W;
    match c {
        Capability::RootRead => W::RootRead,
        Capability::RootWrite => W::RootWrite,
        Capability::RootExec => W::RootExec,
        Capability::ArtifactWrite => W::ArtifactWrite,
        Capability::Compression => W::Compression,
        Capability::Filesystems => W::Filesystems,
        Capability::Partitioning => W::Partitioning,
        Capability::Bootloader => W::Bootloader,
        Capability::Iso => W::Iso,
        Capability::Network => W::Network,
    }
}

pub fn stage_from(s: types::Stage) -> Stage {
    match s {
        types::Stage::PostBootstrap => Stage::PostBootstrap,
        types::Stage::Config => Stage::Config,
        types::Stage::PreImage => Stage::PreImage,
        types::Stage::PostImage => Stage::PostImage,
    }
}

pub fn stage_to(s: Stage) -> types::Stage {
    match s {
        Stage::PostBootstrap => types::Stage::PostBootstrap,
        Stage::Config => types::Stage::Config,
        Stage::PreImage => types::Stage::PreImage,
        Stage::PostImage => types::Stage::PostImage,
    }
}

pub fn info_from(i: types::PluginInfo) -> PluginInfo {
    PluginInfo {
        name: i.name,
        version: escape_control(&i.version, false),
        summary: escape_control(&i.summary, false),
        role: match i.role {
            types::Role::ImageType(names) => Role::ImageType(names),
            types::Role::Hook(stages) => Role::Hook(stages.into_iter().map(stage_from).collect()),
            types::Role::Baseline => Role::Baseline,
        },
        options: i
            .options
            .into_iter()
            .map(|o| info::OptionSpec {
                name: o.name,
                kind: match o.kind {
                    types::OptionKind::Boolean => OptionKind::Boolean,
                    types::OptionKind::Integer => OptionKind::Integer,
                    types::OptionKind::Text => OptionKind::Text,
                    types::OptionKind::Choice(c) => OptionKind::Choice(c),
                },
                default: o.default,
                doc: escape_control(&o.doc, true),
            })
            .collect(),
        capabilities: i.capabilities.into_iter().map(capability_from).collect(),
    }
}

/// A plugin's error, its text made safe for the terminal it is shown on.
pub fn error_from(e: types::Error) -> GuestError {
    let text = |s: String| escape_control(&s, true);
    match e {
        types::Error::InvalidOption(o) => GuestError::InvalidOption {
            name: text(o.name),
            reason: text(o.reason),
        },
        types::Error::CapabilityDenied(c) => GuestError::CapabilityDenied(capability_from(c)),
        types::Error::ToolFailed(t) => GuestError::ToolFailed {
            tool: text(t.tool),
            exit_code: t.exit_code,
            stderr: text(t.stderr),
        },
        types::Error::Io(io) => GuestError::Io {
            path: text(io.path),
            message: text(io.message),
        },
        types::Error::InvalidPath(p) => GuestError::InvalidPath(text(p)),
        types::Error::Other(o) => GuestError::Other(text(o)),
    }
}

pub fn identity_to(image: &ImageIdentity) -> types::ImageIdentity {
    types::ImageIdentity {
        name: image.name.clone(),
        version: image.version.clone(),
        arch: image.arch.clone(),
    }
}

pub fn hook_request_to(request: &HookRequest) -> types::HookRequest {
    types::HookRequest {
        image: identity_to(&request.image),
        options: options_to(&request.options),
        artifacts: request.artifacts.iter().cloned().map(artifact_to).collect(),
    }
}

pub fn baseline_request_to(request: &BaselineRequest) -> types::BaselineRequest {
    types::BaselineRequest {
        image: identity_to(&request.image),
        family: match request.family {
            Family::Debian => types::Family::Debian,
            Family::Rhel => types::Family::Rhel,
            Family::Suse => types::Family::Suse,
        },
        release: request.release.clone(),
        profiles: request.profiles.clone(),
        options: options_to(&request.options),
    }
}

pub fn options_to(options: &[(String, String)]) -> Vec<types::OptionValue> {
    options
        .iter()
        .map(|(name, value)| types::OptionValue {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

pub fn build_request_to(request: &BuildRequest) -> types::BuildRequest {
    types::BuildRequest {
        image: identity_to(&request.image),
        type_name: request.type_name.clone(),
        options: options_to(&request.options),
        source_date_epoch: request.source_date_epoch,
        size: request.size.map(|size| types::ImageSize {
            bytes: size.bytes,
            additive: size.additive,
        }),
        container: request.container.as_ref().map(container_to),
        vagrant: request.vagrant.as_ref().map(|v| types::VagrantConfig {
            provider: v.provider.clone(),
            virtual_size: v.virtual_size,
            virtualbox_guest_additions: v.virtualbox_guest_additions,
            embedded_vagrantfile: v.embedded_vagrantfile.clone(),
        }),
    }
}

fn container_to(c: &super::ContainerConfig) -> types::ContainerConfig {
    types::ContainerConfig {
        name: c.name.clone(),
        tag: c.tag.clone(),
        additional_names: c.additional_names.clone(),
        maintainer: c.maintainer.clone(),
        user: c.user.clone(),
        workingdir: c.workingdir.clone(),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        expose: c.expose.clone(),
        volumes: c.volumes.clone(),
        stopsignal: c.stopsignal.clone(),
        environment: c.environment.clone(),
        labels: c.labels.clone(),
    }
}

pub fn artifact_from(a: types::Artifact) -> toolbox::ArtifactInfo {
    toolbox::ArtifactInfo {
        file_name: a.file_name,
        size: a.size,
        sha256: a.sha256,
    }
}

fn artifact_to(a: toolbox::ArtifactInfo) -> types::Artifact {
    types::Artifact {
        file_name: a.file_name,
        size: a.size,
        sha256: a.sha256,
    }
}

// ---- imports: carried out by the newest contract's host functions -------
//
// Each 0.1.0 import converts its arguments to the newest contract's types,
// calls the host function of `super::imports` and converts the result
// back: one implementation, two contracts.

/// A newest-contract result as this contract returns it.
fn back<T, U>(
    result: CallResult<T>,
    convert: impl FnOnce(T) -> U,
) -> wasmtime::Result<Result<U, types::Error>> {
    match result {
        Ok(value) => Ok(Ok(convert(value))),
        Err(CallError::Guest(error)) => Ok(Err(error_to(error))),
        Err(CallError::Trap(trap)) => Err(trap),
    }
}

fn error_to(e: new::types::Error) -> types::Error {
    use new::types::Error as N;
    match e {
        N::InvalidOption(o) => types::Error::InvalidOption(types::InvalidOption {
            name: o.name,
            reason: o.reason,
        }),
        N::CapabilityDenied(c) => {
            types::Error::CapabilityDenied(capability_to(super::v0_2_0::capability_from(c)))
        }
        N::ToolFailed(t) => types::Error::ToolFailed(types::ToolFailure {
            tool: t.tool,
            exit_code: t.exit_code,
            stderr: t.stderr,
        }),
        N::Io(io) => types::Error::Io(types::IoError {
            path: io.path,
            message: io.message,
        }),
        N::InvalidPath(p) => types::Error::InvalidPath(p),
        N::Other(o) => types::Error::Other(o),
    }
}

fn artifact_back(a: new::types::Artifact) -> types::Artifact {
    types::Artifact {
        file_name: a.file_name,
        size: a.size,
        sha256: a.sha256,
    }
}

fn metadata_to(m: new::root_read::Metadata) -> rootfs::Metadata {
    use new::root_read::FileType as N;
    rootfs::Metadata {
        file_type: match m.file_type {
            N::Regular => rootfs::FileType::Regular,
            N::Directory => rootfs::FileType::Directory,
            N::Symlink => rootfs::FileType::Symlink,
            N::CharDevice => rootfs::FileType::CharDevice,
            N::BlockDevice => rootfs::FileType::BlockDevice,
            N::Fifo => rootfs::FileType::Fifo,
            N::Socket => rootfs::FileType::Socket,
        },
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
        size: m.size,
        mtime_seconds: m.mtime_seconds,
        mtime_nanoseconds: m.mtime_nanoseconds,
        nlink: m.nlink,
        inode: m.inode,
        device: m.device,
        rdev_major: m.rdev_major,
        rdev_minor: m.rdev_minor,
        xattrs: m
            .xattrs
            .into_iter()
            .map(|x| rootfs::Xattr {
                name: x.name,
                value: x.value,
            })
            .collect(),
    }
}

fn filesystem_options_to_new(o: wit_toolbox::FilesystemOptions) -> new::types::FilesystemOptions {
    use new::types::FilesystemType as N;
    use wit_toolbox::FilesystemType as W;
    new::types::FilesystemOptions {
        fs_type: match o.fs_type {
            W::Ext2 => N::Ext2,
            W::Ext3 => N::Ext3,
            W::Ext4 => N::Ext4,
            W::Xfs => N::Xfs,
            W::Btrfs => N::Btrfs,
            W::Squashfs => N::Squashfs,
            W::Erofs => N::Erofs,
            W::Vfat => N::Vfat,
        },
        label: o.label,
        uuid: o.uuid,
        size_bytes: o.size_bytes,
        extra_bytes: o.extra_bytes,
        compression: o.compression,
        create_options: o.create_options,
    }
}

fn file_source_to_new(s: wit_toolbox::FileSource) -> new::types::FileSource {
    match s {
        wit_toolbox::FileSource::RootFile(p) => new::types::FileSource::RootFile(p),
        wit_toolbox::FileSource::Artifact(a) => new::types::FileSource::Artifact(a),
        wit_toolbox::FileSource::Data(d) => new::types::FileSource::Data(d),
    }
}

fn image_files_to_new(files: Vec<wit_toolbox::ImageFile>) -> Vec<new::types::ImageFile> {
    files
        .into_iter()
        .map(|f| new::types::ImageFile {
            path: f.path,
            source: file_source_to_new(f.source),
        })
        .collect()
}

fn kernel_to(k: new::boot::Kernel) -> wit_toolbox::Kernel {
    wit_toolbox::Kernel {
        version: k.version,
        image: k.image,
        initrd: k.initrd,
    }
}

/// The whole root, or none of it.
fn whole_root() -> new::types::TreePart {
    new::types::TreePart {
        path: String::new(),
        mount_points: Vec::new(),
    }
}

impl types::Host for PluginState {}

impl host::Host for PluginState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        use new::log::Level as N;
        let level = match level {
            host::Level::Trace => N::Trace,
            host::Level::Debug => N::Debug,
            host::Level::Info => N::Info,
            host::Level::Warn => N::Warn,
            host::Level::Error => N::Error,
        };
        new::log::Host::log(self, level, message)
    }

    fn progress(&mut self, step: String, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        new::log::Host::progress(self, step, done, total)
    }
}

impl rootfs::Host for PluginState {}

impl rootfs::HostRootTree for PluginState {
    fn walk(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<WalkHandle>, types::Error>> {
        back(new::root_read::Host::walk(self, root, path), |w| w)
    }

    fn stat(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<rootfs::Metadata, types::Error>> {
        back(new::root_read::Host::stat(self, root, path), metadata_to)
    }

    fn read_link(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<String, types::Error>> {
        back(new::root_read::Host::read_link(self, root, path), |l| l)
    }

    fn open(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<ReaderHandle>, types::Error>> {
        back(new::root_read::Host::open(self, root, path), |r| r)
    }

    fn read_file(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<Vec<u8>, types::Error>> {
        back(new::root_read::Host::read_file(self, root, path), |d| d)
    }

    fn drop(&mut self, root: Resource<RootHandle>) -> wasmtime::Result<()> {
        new::types::HostRootTree::drop(self, root)
    }
}

impl rootfs::HostWalker for PluginState {
    fn next(
        &mut self,
        walk: Resource<WalkHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<rootfs::Entry>, types::Error>> {
        back(
            new::root_read::HostWalker::next(self, walk, max),
            |entries| {
                entries
                    .into_iter()
                    .map(|e| rootfs::Entry {
                        path: e.path,
                        metadata: metadata_to(e.metadata),
                    })
                    .collect()
            },
        )
    }

    fn drop(&mut self, walk: Resource<WalkHandle>) -> wasmtime::Result<()> {
        new::root_read::HostWalker::drop(self, walk)
    }
}

impl rootfs::HostFileReader for PluginState {
    fn read(
        &mut self,
        file: Resource<ReaderHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, types::Error>> {
        back(new::root_read::HostFileReader::read(self, file, max), |d| d)
    }

    fn drop(&mut self, file: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        new::root_read::HostFileReader::drop(self, file)
    }
}

impl wit_toolbox::Host for PluginState {
    fn create_artifact(
        &mut self,
        file_name: String,
        compression: wit_toolbox::Compression,
    ) -> wasmtime::Result<Result<Resource<ArtifactHandle>, types::Error>> {
        use new::artifacts::Compression as N;
        let compression = match compression {
            wit_toolbox::Compression::None => N::None,
            wit_toolbox::Compression::Gzip => N::Gzip,
            wit_toolbox::Compression::Xz => N::Xz,
            wit_toolbox::Compression::Zstd => N::Zstd,
        };
        back(
            new::artifacts::Host::create(self, file_name, compression),
            |w| w,
        )
    }

    fn make_filesystem(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: wit_toolbox::FilesystemOptions,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        let options = filesystem_options_to_new(options);
        back(
            new::filesystems::Host::make(self, root, whole_root(), file_name, options),
            artifact_back,
        )
    }

    fn make_disk(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        table: wit_toolbox::PartitionTable,
        size_bytes: Option<u64>,
        partitions: Vec<wit_toolbox::Partition>,
        bios_boot: Option<String>,
    ) -> wasmtime::Result<Result<wit_toolbox::Disk, types::Error>> {
        back(
            self.make_disk_through_draft(root, file_name, table, size_bytes, partitions, bios_boot),
            |disk| wit_toolbox::Disk {
                artifact: artifact_back(disk.artifact),
                disk_id: disk.disk_id,
                partitions: disk
                    .partitions
                    .into_iter()
                    .map(|p| wit_toolbox::PlacedPartition {
                        number: p.number,
                        name: p.name,
                        start_bytes: p.start_bytes,
                        size_bytes: p.size_bytes,
                        uuid: p.uuid,
                    })
                    .collect(),
            },
        )
    }

    fn convert_disk(
        &mut self,
        source: String,
        file_name: String,
        format: wit_toolbox::DiskFormat,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        use new::disks::DiskFormat as N;
        use wit_toolbox::DiskFormat as F;
        let format = match format {
            F::Qcow2 => N::Qcow2,
            F::Vmdk => N::Vmdk,
            F::Vhdx => N::Vhdx,
            F::Vhd => N::Vhd,
            F::VhdFixed => N::VhdFixed,
        };
        back(
            new::disks::Host::convert(self, source, file_name, format),
            artifact_back,
        )
    }

    fn pack_disk(
        &mut self,
        source: String,
        file_name: String,
        packaging: wit_toolbox::DiskPackaging,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        use new::disks as n;
        use wit_toolbox::DiskPackaging as W;
        let packaging = match packaging {
            W::Gce(license) => n::DiskPackaging::Gce(license),
            W::Ova(ovf) => n::DiskPackaging::Ova(n::OvfSettings {
                name: ovf.name,
                firmware: match ovf.firmware {
                    wit_toolbox::VmFirmware::Bios => n::VmFirmware::Bios,
                    wit_toolbox::VmFirmware::Efi => n::VmFirmware::Efi,
                },
                secure_boot: ovf.secure_boot,
            }),
            W::Vagrant(v) => n::DiskPackaging::Vagrant(n::VagrantSettings {
                provider: match v.provider {
                    wit_toolbox::VagrantProvider::Libvirt => n::VagrantProvider::Libvirt,
                    wit_toolbox::VagrantProvider::Virtualbox => n::VagrantProvider::Virtualbox,
                },
                name: v.name,
                virtual_size_gb: v.virtual_size_gb,
                vagrantfile: v.vagrantfile,
                guest_additions: v.guest_additions,
            }),
        };
        back(
            new::disks::Host::pack(self, source, file_name, packaging),
            artifact_back,
        )
    }

    fn make_fat_image(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: wit_toolbox::FatOptions,
        files: Vec<wit_toolbox::ImageFile>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        let options = new::filesystems::FatOptions {
            label: options.label,
            volume_id: options.volume_id,
            size_bytes: options.size_bytes,
        };
        let files = image_files_to_new(files);
        back(
            new::filesystems::Host::make_fat(self, root, file_name, options, files),
            artifact_back,
        )
    }

    fn write_boot_file(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
        content: Vec<u8>,
        mode: u32,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        back(
            new::boot::Host::write_file(self, root, path, content, mode),
            |()| (),
        )
    }

    fn kernels(
        &mut self,
        root: Resource<RootHandle>,
    ) -> wasmtime::Result<Result<Vec<wit_toolbox::Kernel>, types::Error>> {
        // 0.1.0 lists kernels with `root-read`.
        if let Err(c) = self.require(Capability::RootRead) {
            return Ok(Err(types::Error::CapabilityDenied(capability_to(c))));
        }
        let tree = self.table.get(&root)?.0.clone();
        Ok(toolbox::boot::kernels(&tree)
            .map(|kernels| {
                kernels
                    .into_iter()
                    .map(|k| wit_toolbox::Kernel {
                        version: k.version,
                        image: k.image,
                        initrd: k.initrd,
                    })
                    .collect()
            })
            .map_err(|e| match CallError::tool("kernels", e) {
                CallError::Guest(e) => error_to(e),
                CallError::Trap(t) => types::Error::Other(t.to_string()),
            }))
    }

    fn make_initrd(
        &mut self,
        root: Resource<RootHandle>,
        options: wit_toolbox::InitrdOptions,
    ) -> wasmtime::Result<Result<Vec<wit_toolbox::Kernel>, types::Error>> {
        let options = new::boot::InitrdOptions {
            filesystems: options.filesystems,
            luks: false,
            lvm: false,
        };
        back(
            new::boot::Host::make_initrd(self, root, options),
            |kernels| kernels.into_iter().map(kernel_to).collect(),
        )
    }

    fn make_grub_image(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        platform: wit_toolbox::GrubPlatform,
        config: String,
        modules: Vec<String>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        use new::boot::GrubPlatform as N;
        use wit_toolbox::GrubPlatform as W;
        let platform = match platform {
            W::I386Pc => N::I386Pc,
            W::I386PcEltorito => N::I386PcEltorito,
            W::X8664Efi => N::X8664Efi,
            W::Arm64Efi => N::Arm64Efi,
        };
        back(
            new::boot::Host::make_grub_image(self, root, file_name, platform, config, modules),
            artifact_back,
        )
    }

    fn make_iso(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: wit_toolbox::IsoOptions,
        files: Vec<wit_toolbox::ImageFile>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        let options = new::iso::IsoOptions {
            volume_id: options.volume_id,
            bios_boot: options.bios_boot,
            efi_boot: options.efi_boot,
            hybrid_mbr: options.hybrid_mbr.map(file_source_to_new),
        };
        let files = image_files_to_new(files);
        back(
            new::iso::Host::make(self, root, file_name, options, files),
            artifact_back,
        )
    }

    fn remove_artifact(&mut self, file_name: String) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::artifacts::Host::remove(self, file_name), |()| ())
    }

    fn sha256(&mut self, data: Vec<u8>) -> wasmtime::Result<String> {
        Ok(toolbox::sha256_hex(&data))
    }

    fn sha256_artifact(
        &mut self,
        file_name: String,
    ) -> wasmtime::Result<Result<String, types::Error>> {
        back(new::artifacts::Host::sha256(self, file_name), |d| d)
    }
}

impl wit_toolbox::HostArtifactWriter for PluginState {
    fn write(
        &mut self,
        writer: Resource<ArtifactHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        back(
            new::artifacts::HostArtifactWriter::write(self, writer, data),
            |()| (),
        )
    }

    fn append_file(
        &mut self,
        writer: Resource<ArtifactHandle>,
        root: Resource<RootHandle>,
        path: String,
        size: u64,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        back(
            new::artifacts::HostArtifactWriter::append_file(self, writer, root, path, size),
            |()| (),
        )
    }

    fn append_artifact(
        &mut self,
        writer: Resource<ArtifactHandle>,
        file_name: String,
    ) -> wasmtime::Result<Result<u64, types::Error>> {
        back(
            new::artifacts::HostArtifactWriter::append_artifact(self, writer, file_name),
            |n| n,
        )
    }

    fn finish(
        &mut self,
        writer: Resource<ArtifactHandle>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        back(
            new::artifacts::HostArtifactWriter::finish(self, writer),
            artifact_back,
        )
    }

    fn drop(&mut self, writer: Resource<ArtifactHandle>) -> wasmtime::Result<()> {
        new::artifacts::HostArtifactWriter::drop(self, writer)
    }
}

impl PluginState {
    /// 0.1.0's one-call disk through the newest contract's disk resource:
    /// a filesystem partition holds the whole root, but an `xbootldr` one
    /// holds its `/boot`, which the root's filesystem then holds empty.
    fn make_disk_through_draft(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        table: wit_toolbox::PartitionTable,
        size_bytes: Option<u64>,
        partitions: Vec<wit_toolbox::Partition>,
        bios_boot: Option<String>,
    ) -> CallResult<new::disks::DiskInfo> {
        use new::disks as n;
        use wit_toolbox::PartitionKind as K;
        let separate_boot = partitions.iter().any(|p| {
            p.kind == K::Xbootldr
                && matches!(
                    p.content,
                    Some(wit_toolbox::PartitionContent::Filesystem(_))
                )
        });
        let table = match table {
            wit_toolbox::PartitionTable::Gpt => n::PartitionTable::Gpt,
            wit_toolbox::PartitionTable::Msdos => n::PartitionTable::Msdos,
        };
        let disk = n::Host::create(self, file_name, table, size_bytes)?;
        let disk_rep = disk.rep();
        let handle = || Resource::<DiskHandle>::new_own(disk_rep);
        let result = (|| {
            for p in partitions {
                let content = match p.content {
                    Some(wit_toolbox::PartitionContent::Image(name)) => {
                        n::PartitionContent::Image(name)
                    }
                    Some(wit_toolbox::PartitionContent::Filesystem(options)) => {
                        let part = match p.kind {
                            K::Xbootldr => new::types::TreePart {
                                path: "boot".into(),
                                mount_points: Vec::new(),
                            },
                            K::Root if separate_boot => new::types::TreePart {
                                path: String::new(),
                                mount_points: vec!["boot".into()],
                            },
                            _ => whole_root(),
                        };
                        n::PartitionContent::Filesystem(n::TreeFilesystem {
                            part,
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
                let partition = n::Partition {
                    name: p.name,
                    kind: match p.kind {
                        K::BiosBoot => n::PartitionKind::BiosBoot,
                        K::Esp => n::PartitionKind::Esp,
                        K::Root => n::PartitionKind::Root,
                        K::Linux => n::PartitionKind::Linux,
                        K::Swap => n::PartitionKind::Swap,
                        K::Xbootldr => n::PartitionKind::Xbootldr,
                    },
                    size_bytes: p.size_bytes,
                    content,
                    encryption: None,
                    bootable: p.bootable,
                };
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
    fn install_packages(
        &mut self,
        names: Vec<String>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::changes::Host::install_packages(self, names), |()| ())
    }

    fn remove_packages(
        &mut self,
        names: Vec<String>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::changes::Host::remove_packages(self, names), |()| ())
    }

    fn write_file(
        &mut self,
        path: String,
        content: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        back(
            new::changes::Host::write_file(self, path, content, mode, uid, gid),
            |()| (),
        )
    }

    fn enable_service(&mut self, unit: String) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::changes::Host::enable_service(self, unit), |()| ())
    }

    fn mask_service(&mut self, unit: String) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::changes::Host::mask_service(self, unit), |()| ())
    }

    fn set_default_target(&mut self, target: String) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::changes::Host::set_default_target(self, target), |()| {
            ()
        })
    }

    fn add_group(&mut self, group: changes::Group) -> wasmtime::Result<Result<(), types::Error>> {
        let group = new::changes::Group {
            name: group.name,
            gid: group.gid,
        };
        back(new::changes::Host::add_group(self, group), |()| ())
    }

    fn add_user(&mut self, user: changes::User) -> wasmtime::Result<Result<(), types::Error>> {
        let user = new::changes::User {
            name: user.name,
            uid: user.uid,
            group: user.group,
            groups: user.groups,
            home: user.home,
            shell: user.shell,
            password_hash: user.password_hash,
        };
        back(new::changes::Host::add_user(self, user), |()| ())
    }

    fn set_sysctl(
        &mut self,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::changes::Host::set_sysctl(self, key, value), |()| ())
    }

    fn load_kernel_module(&mut self, name: String) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::changes::Host::load_kernel_module(self, name), |()| ())
    }

    fn run_in_root(&mut self, argv: Vec<String>) -> wasmtime::Result<Result<(), types::Error>> {
        back(new::root_exec::Host::run_in_root(self, argv), |()| ())
    }
}
