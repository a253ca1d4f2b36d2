//! Bindings for contract `builder:plugin@0.1.0` (wit/0.1.0): the host side of
//! its imports, and conversions between its types and the host's own.
//!
//! A later contract version gets a sibling module; plugins built against this
//! one keep loading through this module.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker, Resource};

use super::changes::RootChange;
use super::grants::Capability;
use super::info::{self, GuestError, OptionKind, PluginInfo, Role, Stage};
use super::limits::{escape_control, HandleKind};
use super::state::{ArtifactHandle, PluginState, ReaderHandle, RootHandle, WalkHandle};
use super::{BaselineRequest, BuildRequest, Family, HookRequest, ImageIdentity};
use crate::rootfs::{FileKind, RootTree};
use crate::toolbox;

/// The contract version this module speaks.
pub const VERSION: &str = "0.1.0";

/// Largest single read a plugin may ask for.
const MAX_READ: u32 = 16 << 20;
/// Largest walk batch a plugin may ask for.
const MAX_BATCH: u32 = 65536;
/// Longest progress step name shown.
const MAX_STEP_CHARS: usize = 200;

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

fn io_err(path: &str, e: std::io::Error) -> types::Error {
    types::Error::Io(types::IoError {
        path: path.to_string(),
        message: e.to_string(),
    })
}

fn kernel_to(k: toolbox::boot::Kernel) -> wit_toolbox::Kernel {
    wit_toolbox::Kernel {
        version: k.version,
        image: k.image,
        initrd: k.initrd,
    }
}

/// A toolbox primitive's failure as the contract reports it.
fn tool_err(what: &str, e: toolbox::ToolError) -> types::Error {
    match e {
        toolbox::ToolError::Invalid(reason) => types::Error::Other(reason),
        toolbox::ToolError::Io(e) => io_err(what, e),
        toolbox::ToolError::Tool(e) => tool_failure(e),
    }
}

/// A host tool's failure as the contract reports it.
fn tool_failure(e: crate::rootfs::command::CommandError) -> types::Error {
    use crate::rootfs::command::CommandError as C;
    match e {
        C::Failed {
            command,
            status,
            tail,
            ..
        } => types::Error::ToolFailed(types::ToolFailure {
            tool: command,
            exit_code: status.code(),
            stderr: tail,
        }),
        other => types::Error::Other(other.to_string()),
    }
}

fn denied(c: Capability) -> types::Error {
    types::Error::CapabilityDenied(capability_to(c))
}

fn metadata_to(m: crate::rootfs::EntryMeta) -> rootfs::Metadata {
    rootfs::Metadata {
        file_type: match m.kind {
            FileKind::Regular => rootfs::FileType::Regular,
            FileKind::Directory => rootfs::FileType::Directory,
            FileKind::Symlink => rootfs::FileType::Symlink,
            FileKind::CharDevice => rootfs::FileType::CharDevice,
            FileKind::BlockDevice => rootfs::FileType::BlockDevice,
            FileKind::Fifo => rootfs::FileType::Fifo,
            FileKind::Socket => rootfs::FileType::Socket,
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
            .map(|(name, value)| rootfs::Xattr { name, value })
            .collect(),
    }
}

// ---- imports: host ------------------------------------------------------

impl types::Host for PluginState {}

impl host::Host for PluginState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        let plugin = &self.label;
        // Bounded in bytes and lines per second, control characters escaped.
        let admitted = self.log.admit(&message, Instant::now());
        if let Some(notice) = admitted.notice {
            tracing::warn!(target: "plugin", "{plugin}: {notice}");
        }
        let Some(message) = admitted.line else {
            return Ok(());
        };
        match level {
            host::Level::Trace => tracing::trace!(target: "plugin", "{plugin}: {message}"),
            host::Level::Debug => tracing::debug!(target: "plugin", "{plugin}: {message}"),
            host::Level::Info => tracing::info!(target: "plugin", "{plugin}: {message}"),
            host::Level::Warn => tracing::warn!(target: "plugin", "{plugin}: {message}"),
            host::Level::Error => tracing::error!(target: "plugin", "{plugin}: {message}"),
        }
        Ok(())
    }

    fn progress(&mut self, step: String, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        let step: String = step.chars().take(MAX_STEP_CHARS).collect();
        let step = escape_control(&step, false);
        let text = match total {
            Some(total) => format!("{}: {step} {done}/{total}", self.label),
            None => format!("{}: {step} {done}", self.label),
        };
        tracing::debug!(target: "plugin", "{text}");
        crate::progress::detail(text);
        Ok(())
    }
}

// ---- imports: rootfs ----------------------------------------------------

impl rootfs::Host for PluginState {}

impl PluginState {
    fn root(
        &mut self,
        handle: &Resource<RootHandle>,
    ) -> wasmtime::Result<Result<Arc<RootTree>, types::Error>> {
        if let Err(c) = self.require(Capability::RootRead) {
            return Ok(Err(denied(c)));
        }
        Ok(Ok(self.table.get(handle)?.0.clone()))
    }

    /// The host's form of a plugin's filesystem options.
    fn filesystem_options(
        &self,
        options: wit_toolbox::FilesystemOptions,
    ) -> toolbox::filesystems::FilesystemOptions {
        use toolbox::filesystems::FsType;
        use wit_toolbox::FilesystemType as W;
        toolbox::filesystems::FilesystemOptions {
            fs_type: match options.fs_type {
                W::Ext2 => FsType::Ext2,
                W::Ext3 => FsType::Ext3,
                W::Ext4 => FsType::Ext4,
                W::Xfs => FsType::Xfs,
                W::Btrfs => FsType::Btrfs,
                W::Squashfs => FsType::Squashfs,
                W::Erofs => FsType::Erofs,
                W::Vfat => FsType::Vfat,
            },
            label: options.label,
            uuid: options.uuid,
            size_bytes: options.size_bytes,
            extra_bytes: options.extra_bytes,
            compression: options.compression,
            create_options: options.create_options,
            source_date_epoch: self.source_date_epoch,
        }
    }
}

/// Return the guest error from a `Result<_, types::Error>` early.
macro_rules! guest_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

impl rootfs::HostRootTree for PluginState {
    fn walk(
        &mut self,
        handle: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<WalkHandle>, types::Error>> {
        let root = guest_try!(self.root(&handle)?);
        guest_try!(self.acquire(HandleKind::Walk));
        let walk = root.walk(&path).map_err(|e| io_err(&path, e));
        self.push_counted(HandleKind::Walk, walk.map(WalkHandle))
    }

    fn stat(
        &mut self,
        handle: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<rootfs::Metadata, types::Error>> {
        let root = guest_try!(self.root(&handle)?);
        Ok(root
            .stat(&path)
            .map(metadata_to)
            .map_err(|e| io_err(&path, e)))
    }

    fn read_link(
        &mut self,
        handle: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<String, types::Error>> {
        let root = guest_try!(self.root(&handle)?);
        Ok(root.read_link(&path).map_err(|e| io_err(&path, e)))
    }

    fn open(
        &mut self,
        handle: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<ReaderHandle>, types::Error>> {
        let root = guest_try!(self.root(&handle)?);
        guest_try!(self.acquire(HandleKind::Reader));
        let file = root.open_file(&path).map_err(|e| io_err(&path, e));
        self.push_counted(HandleKind::Reader, file.map(ReaderHandle))
    }

    fn read_file(
        &mut self,
        handle: Resource<RootHandle>,
        path: String,
    ) -> wasmtime::Result<Result<Vec<u8>, types::Error>> {
        let root = guest_try!(self.root(&handle)?);
        let (file, size) = guest_try!(root.open_regular(&path).map_err(|e| io_err(&path, e)));
        // Never more than the plugin could hold: a huge file is read in chunks.
        let limit = self.max_data_bytes;
        let too_large = || {
            Ok(Err(io_err(
                &path,
                std::io::Error::other(format!(
                    "larger than {limit} bytes, the most read-file returns (the plugin's memory \
                     limit): read it in chunks through `open`"
                )),
            )))
        };
        if size > limit {
            return too_large();
        }
        let mut data = Vec::with_capacity(size as usize);
        guest_try!(file
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| io_err(&path, e)));
        if data.len() as u64 > limit {
            return too_large();
        }
        Ok(Ok(data))
    }

    fn drop(&mut self, handle: Resource<RootHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl rootfs::HostWalker for PluginState {
    fn next(
        &mut self,
        handle: Resource<WalkHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<rootfs::Entry>, types::Error>> {
        let walk = &mut self.table.get_mut(&handle)?.0;
        let batch = guest_try!(walk
            .next_batch(max.clamp(1, MAX_BATCH) as usize)
            .map_err(|e| io_err("", e)));
        Ok(Ok(batch
            .into_iter()
            .map(|e| rootfs::Entry {
                path: e.path,
                metadata: metadata_to(e.meta),
            })
            .collect()))
    }

    fn drop(&mut self, handle: Resource<WalkHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.handles.release(HandleKind::Walk);
        Ok(())
    }
}

impl rootfs::HostFileReader for PluginState {
    fn read(
        &mut self,
        handle: Resource<ReaderHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, types::Error>> {
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
                Err(e) => return Ok(Err(io_err("", e))),
            }
        }
        data.truncate(filled);
        Ok(Ok(data))
    }

    fn drop(&mut self, handle: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.handles.release(HandleKind::Reader);
        Ok(())
    }
}

// ---- imports: toolbox ---------------------------------------------------

impl wit_toolbox::Host for PluginState {
    fn create_artifact(
        &mut self,
        file_name: String,
        compression: wit_toolbox::Compression,
    ) -> wasmtime::Result<Result<Resource<ArtifactHandle>, types::Error>> {
        guest_try!(self.require(Capability::ArtifactWrite).map_err(denied));
        let compression = match compression {
            wit_toolbox::Compression::None => toolbox::Compression::None,
            wit_toolbox::Compression::Gzip => toolbox::Compression::Gzip,
            wit_toolbox::Compression::Xz => toolbox::Compression::Xz,
            wit_toolbox::Compression::Zstd => toolbox::Compression::Zstd,
        };
        if compression != toolbox::Compression::None {
            guest_try!(self.require(Capability::Compression).map_err(denied));
        }
        let target = guest_try!(self.target_dir());
        guest_try!(self.acquire(HandleKind::Writer));
        let writer = target
            .create_artifact(&file_name, compression)
            .map_err(|e| io_err(&file_name, e));
        self.push_counted(HandleKind::Writer, writer.map(ArtifactHandle))
    }

    fn make_filesystem(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: wit_toolbox::FilesystemOptions,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        use toolbox::filesystems;
        for capability in [
            Capability::Filesystems,
            Capability::ArtifactWrite,
            Capability::RootRead,
        ] {
            guest_try!(self.require(capability).map_err(denied));
        }
        let target = guest_try!(self.target_dir());
        guest_try!(self.check_filesystem_size(&file_name, &options));
        let tree = self.table.get(&root)?.0.clone();
        let request = self.filesystem_options(options);
        let file = guest_try!(target
            .create_file_artifact(&file_name)
            .map_err(|e| io_err(&file_name, e)));
        guest_try!(filesystems::make(tree.host_path(), file.path(), &request)
            .map_err(|e| tool_err(&file_name, e)));
        self.publish(&target, file, &file_name)
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
        use toolbox::disks::{self, Content, PartitionKind, PartitionSpec, Table};
        use wit_toolbox::PartitionKind as K;
        for capability in [Capability::Partitioning, Capability::ArtifactWrite] {
            guest_try!(self.require(capability).map_err(denied));
        }
        let tree = self.table.get(&root)?.0.clone();
        let target = guest_try!(self.target_dir());
        guest_try!(self.check_image_size(&file_name, size_bytes));
        // A filesystem partition for /boot: the root's filesystem holds
        // /boot empty, as its mount point.
        let separate_boot = partitions.iter().any(|p| {
            p.kind == K::Xbootldr
                && matches!(
                    p.content,
                    Some(wit_toolbox::PartitionContent::Filesystem(_))
                )
        });
        let mut specs = Vec::new();
        for p in partitions {
            guest_try!(self.check_image_size(&format!("partition {}", p.name), p.size_bytes));
            let content = match p.content {
                Some(wit_toolbox::PartitionContent::Image(name)) => {
                    Some(Content::Image(guest_try!(self.published_artifact(&name))))
                }
                Some(wit_toolbox::PartitionContent::Filesystem(options)) => {
                    for capability in [Capability::Filesystems, Capability::RootRead] {
                        guest_try!(self.require(capability).map_err(denied));
                    }
                    guest_try!(
                        self.check_filesystem_size(&format!("partition {}", p.name), &options)
                    );
                    let boot = std::path::PathBuf::from("boot");
                    let (root, hidden) = match p.kind {
                        K::Xbootldr => (
                            guest_try!(crate::rootfs::mounts::real_directory_below(
                                tree.host_path(),
                                &boot
                            )
                            .map_err(|e| io_err(&format!("partition {}", p.name), e))),
                            Vec::new(),
                        ),
                        K::Root if separate_boot => (tree.host_path().to_path_buf(), vec![boot]),
                        _ => (tree.host_path().to_path_buf(), Vec::new()),
                    };
                    Some(Content::Filesystem {
                        root,
                        hidden,
                        options: self.filesystem_options(options),
                    })
                }
                // Swap is usable only with its signature: KIWI's label,
                // and a UUID stable with SOURCE_DATE_EPOCH.
                None if p.kind == K::Swap => Some(Content::Swap {
                    label: Some("SWAP".to_string()),
                    uuid: self.source_date_epoch.map(|epoch| {
                        toolbox::stable_uuid(&["builder-swap", &p.name, &epoch.to_string()])
                    }),
                }),
                None => None,
            };
            specs.push(PartitionSpec {
                name: p.name,
                kind: match p.kind {
                    K::BiosBoot => PartitionKind::BiosBoot,
                    K::Esp => PartitionKind::Esp,
                    K::Root => PartitionKind::Root,
                    K::Linux => PartitionKind::Linux,
                    K::Swap => PartitionKind::Swap,
                    K::Xbootldr => PartitionKind::Xbootldr,
                },
                size_bytes: p.size_bytes,
                content,
                bootable: p.bootable,
            });
        }
        let core = match &bios_boot {
            Some(core) => {
                guest_try!(self.require(Capability::Bootloader).map_err(denied));
                Some(guest_try!(self.published_artifact(core)))
            }
            None => None,
        };
        let table = match table {
            wit_toolbox::PartitionTable::Gpt => Table::Gpt,
            wit_toolbox::PartitionTable::Msdos => Table::Msdos,
        };
        let file = guest_try!(target
            .create_file_artifact(&file_name)
            .map_err(|e| io_err(&file_name, e)));
        let layout = guest_try!(disks::make_within(
            file.path(),
            table,
            size_bytes,
            &specs,
            self.arch.as_deref().unwrap_or(std::env::consts::ARCH),
            self.source_date_epoch,
            self.max_disk_bytes,
        )
        .map_err(|e| tool_err(&file_name, e)));
        if let Some(core) = core {
            let offset = match table {
                Table::Msdos => 512,
                Table::Gpt => guest_try!(specs
                    .iter()
                    .zip(&layout.partitions)
                    .find(|(spec, _)| spec.kind == PartitionKind::BiosBoot)
                    .map(|(_, placed)| placed.start_bytes)
                    .ok_or_else(|| types::Error::Other(format!(
                        "{file_name}: GRUB's BIOS boot code needs a BIOS boot partition on a GPT disk"
                    )))),
            };
            guest_try!(
                toolbox::boot::install_grub_bios(&tree, file.path(), &core, offset)
                    .map_err(|e| tool_err(&file_name, e))
            );
        }
        let info = guest_try!(file.publish().map_err(|e| io_err(&file_name, e)));
        self.published.push(target.path().join(&info.file_name));
        Ok(Ok(wit_toolbox::Disk {
            artifact: artifact_to(info),
            disk_id: layout.disk_id,
            partitions: layout
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
        }))
    }

    fn convert_disk(
        &mut self,
        source: String,
        file_name: String,
        format: wit_toolbox::DiskFormat,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        use toolbox::disks::{self, DiskFormat};
        use wit_toolbox::DiskFormat as F;
        for capability in [Capability::Partitioning, Capability::ArtifactWrite] {
            guest_try!(self.require(capability).map_err(denied));
        }
        let target = guest_try!(self.target_dir());
        let from = guest_try!(self.published_artifact(&source));
        let format = match format {
            F::Qcow2 => DiskFormat::Qcow2,
            F::Vmdk => DiskFormat::Vmdk,
            F::Vhdx => DiskFormat::Vhdx,
            F::Vhd => DiskFormat::Vhd,
            F::VhdFixed => DiskFormat::VhdFixed,
        };
        let file = guest_try!(target
            .create_file_artifact(&file_name)
            .map_err(|e| io_err(&file_name, e)));
        guest_try!(disks::convert(
            &from,
            file.path(),
            format,
            self.source_date_epoch,
            &file_name
        )
        .map_err(|e| tool_err(&file_name, e)));
        self.publish(&target, file, &file_name)
    }

    fn pack_disk(
        &mut self,
        source: String,
        file_name: String,
        packaging: wit_toolbox::DiskPackaging,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        use toolbox::packing::{self, Packaging};
        use wit_toolbox::DiskPackaging as W;
        for capability in [Capability::Partitioning, Capability::ArtifactWrite] {
            guest_try!(self.require(capability).map_err(denied));
        }
        if !matches!(packaging, W::Ova(_)) {
            guest_try!(self.require(Capability::Compression).map_err(denied));
        }
        let target = guest_try!(self.target_dir());
        let from = guest_try!(self.published_artifact(&source));
        let packaging = match packaging {
            W::Gce(license) => Packaging::Gce { license },
            W::Ova(ovf) => Packaging::Ova(packing::OvfSettings {
                name: ovf.name,
                firmware: match ovf.firmware {
                    wit_toolbox::VmFirmware::Bios => packing::VmFirmware::Bios,
                    wit_toolbox::VmFirmware::Efi => packing::VmFirmware::Efi,
                },
                secure_boot: ovf.secure_boot,
            }),
            W::Vagrant(box_settings) => Packaging::Vagrant(packing::VagrantSettings {
                provider: match box_settings.provider {
                    wit_toolbox::VagrantProvider::Libvirt => packing::VagrantProvider::Libvirt,
                    wit_toolbox::VagrantProvider::Virtualbox => {
                        packing::VagrantProvider::Virtualbox
                    }
                },
                name: box_settings.name,
                virtual_size_gb: box_settings.virtual_size_gb,
                vagrantfile: box_settings.vagrantfile,
                guest_additions: box_settings.guest_additions,
            }),
        };
        let info = guest_try!(packing::pack(
            &from,
            &target,
            &file_name,
            &packaging,
            self.source_date_epoch
        )
        .map_err(|e| tool_err(&file_name, e)));
        self.published.push(target.path().join(&info.file_name));
        Ok(Ok(artifact_to(info)))
    }

    fn make_fat_image(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: wit_toolbox::FatOptions,
        files: Vec<wit_toolbox::ImageFile>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        for capability in [Capability::Filesystems, Capability::ArtifactWrite] {
            guest_try!(self.require(capability).map_err(denied));
        }
        let target = guest_try!(self.target_dir());
        guest_try!(self.check_image_size(&file_name, options.size_bytes));
        let staged = guest_try!(self.stage_files(&root, &files)?);
        let file = guest_try!(target
            .create_file_artifact(&file_name)
            .map_err(|e| io_err(&file_name, e)));
        guest_try!(toolbox::filesystems::make_fat_image(
            &staged,
            file.path(),
            &toolbox::filesystems::FatOptions {
                label: options.label,
                volume_id: options.volume_id,
                size_bytes: options.size_bytes,
                source_date_epoch: self.source_date_epoch,
            },
        )
        .map_err(|e| tool_err(&file_name, e)));
        self.publish(&target, file, &file_name)
    }

    fn write_boot_file(
        &mut self,
        root: Resource<RootHandle>,
        path: String,
        content: Vec<u8>,
        mode: u32,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        guest_try!(self.require(Capability::Bootloader).map_err(denied));
        let tree = self.table.get(&root)?.0.clone();
        let dir = guest_try!(
            crate::rootfs::files::RootDir::open(tree.host_path()).map_err(|e| io_err("/", e))
        );
        Ok(toolbox::boot::write_boot_file(&dir, &path, &content, mode)
            .map_err(|e| tool_err(&path, e)))
    }

    fn kernels(
        &mut self,
        root: Resource<RootHandle>,
    ) -> wasmtime::Result<Result<Vec<wit_toolbox::Kernel>, types::Error>> {
        let tree = guest_try!(self.root(&root)?);
        let kernels = guest_try!(toolbox::boot::kernels(&tree).map_err(|e| tool_err("kernels", e)));
        Ok(Ok(kernels.into_iter().map(kernel_to).collect()))
    }

    fn make_initrd(
        &mut self,
        root: Resource<RootHandle>,
        options: wit_toolbox::InitrdOptions,
    ) -> wasmtime::Result<Result<Vec<wit_toolbox::Kernel>, types::Error>> {
        guest_try!(self.require(Capability::Bootloader).map_err(denied));
        let tree = self.table.get(&root)?.0.clone();
        let kernels = guest_try!(toolbox::boot::make_initrd(
            tree.host_path(),
            &toolbox::boot::InitrdOptions {
                filesystems: options.filesystems,
                source_date_epoch: self.source_date_epoch,
                force: false,
            },
        )
        .map_err(|e| tool_err("initrd", e)));
        Ok(Ok(kernels.into_iter().map(kernel_to).collect()))
    }

    fn make_grub_image(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        platform: wit_toolbox::GrubPlatform,
        config: String,
        modules: Vec<String>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        use toolbox::boot::GrubPlatform as P;
        use wit_toolbox::GrubPlatform as W;
        for capability in [Capability::Bootloader, Capability::ArtifactWrite] {
            guest_try!(self.require(capability).map_err(denied));
        }
        let target = guest_try!(self.target_dir());
        let tree = self.table.get(&root)?.0.clone();
        let platform = match platform {
            W::I386Pc => P::I386Pc,
            W::I386PcEltorito => P::I386PcEltorito,
            W::X8664Efi => P::X86_64Efi,
            W::Arm64Efi => P::Arm64Efi,
        };
        let file = guest_try!(target
            .create_file_artifact(&file_name)
            .map_err(|e| io_err(&file_name, e)));
        guest_try!(
            toolbox::boot::make_grub_image(&tree, file.path(), platform, &config, &modules)
                .map_err(|e| tool_err(&file_name, e))
        );
        self.publish(&target, file, &file_name)
    }

    fn make_iso(
        &mut self,
        root: Resource<RootHandle>,
        file_name: String,
        options: wit_toolbox::IsoOptions,
        files: Vec<wit_toolbox::ImageFile>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        for capability in [Capability::Iso, Capability::ArtifactWrite] {
            guest_try!(self.require(capability).map_err(denied));
        }
        let target = guest_try!(self.target_dir());
        let mut listed = files;
        // The hybrid MBR is staged like any file, under a name no image path has.
        const MBR: &str = ".builder-hybrid-mbr";
        if let Some(source) = options.hybrid_mbr {
            listed.push(wit_toolbox::ImageFile {
                path: MBR.to_string(),
                source,
            });
        }
        let mut staged = guest_try!(self.stage_files(&root, &listed)?);
        let hybrid_mbr = staged
            .files
            .iter()
            .position(|(path, _)| path == MBR)
            .map(|i| staged.files.remove(i).1);
        let file = guest_try!(target
            .create_file_artifact(&file_name)
            .map_err(|e| io_err(&file_name, e)));
        guest_try!(toolbox::iso::make(
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
        .map_err(|e| tool_err(&file_name, e)));
        self.publish(&target, file, &file_name)
    }

    fn remove_artifact(&mut self, file_name: String) -> wasmtime::Result<Result<(), types::Error>> {
        guest_try!(self.require(Capability::ArtifactWrite).map_err(denied));
        let path = guest_try!(self.published_artifact(&file_name));
        let Some(target) = &self.target else {
            return Ok(Err(types::Error::Other(
                "no target directory in this call".into(),
            )));
        };
        // What is gone from the disk no longer counts against the budget.
        guest_try!(target.remove(&file_name).map_err(|e| io_err(&file_name, e)));
        self.published.retain(|p| *p != path);
        Ok(Ok(()))
    }

    fn sha256(&mut self, data: Vec<u8>) -> wasmtime::Result<String> {
        Ok(toolbox::sha256_hex(&data))
    }

    fn sha256_artifact(
        &mut self,
        file_name: String,
    ) -> wasmtime::Result<Result<String, types::Error>> {
        guest_try!(self.require(Capability::ArtifactWrite).map_err(denied));
        let Some(target) = &self.target else {
            return Ok(Err(types::Error::Other(
                "no target directory in this call".into(),
            )));
        };
        Ok(target
            .sha256_of(&file_name)
            .map_err(|e| io_err(&file_name, e)))
    }
}

impl wit_toolbox::HostArtifactWriter for PluginState {
    fn write(
        &mut self,
        handle: Resource<ArtifactHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        let writer = &mut self.table.get_mut(&handle)?.0;
        let name = writer.file_name().to_string();
        Ok(writer.write_all(&data).map_err(|e| io_err(&name, e)))
    }

    fn finish(
        &mut self,
        handle: Resource<ArtifactHandle>,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        let writer = self.table.delete(handle)?.0;
        self.handles.release(HandleKind::Writer);
        let name = writer.file_name().to_string();
        let info = guest_try!(writer.finish().map_err(|e| io_err(&name, e)));
        if let Some(target) = &self.target {
            self.published.push(target.path().join(&info.file_name));
        }
        Ok(Ok(artifact_to(info)))
    }

    fn append_file(
        &mut self,
        handle: Resource<ArtifactHandle>,
        root: Resource<RootHandle>,
        path: String,
        size: u64,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        let root = guest_try!(self.root(&root)?);
        let (mut file, actual) = guest_try!(root.open_regular(&path).map_err(|e| io_err(&path, e)));
        if actual != size {
            return Ok(Err(io_err(
                &path,
                std::io::Error::other(format!(
                    "is {actual} bytes, not the {size} expected (it changed)"
                )),
            )));
        }
        let writer = &mut self.table.get_mut(&handle)?.0;
        Ok(writer
            .copy_from(&mut file, size)
            .map_err(|e| io_err(&path, e)))
    }

    fn append_artifact(
        &mut self,
        handle: Resource<ArtifactHandle>,
        file_name: String,
    ) -> wasmtime::Result<Result<u64, types::Error>> {
        guest_try!(self.require(Capability::ArtifactWrite).map_err(denied));
        let path = guest_try!(self.published_artifact(&file_name));
        let mut file = guest_try!(std::fs::File::open(&path).map_err(|e| io_err(&file_name, e)));
        let size = guest_try!(file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| io_err(&file_name, e)));
        let writer = &mut self.table.get_mut(&handle)?.0;
        guest_try!(writer
            .copy_from(&mut file, size)
            .map_err(|e| io_err(&file_name, e)));
        Ok(Ok(size))
    }

    fn drop(&mut self, handle: Resource<ArtifactHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.handles.release(HandleKind::Writer);
        Ok(())
    }
}

impl PluginState {
    /// Take a handle of `kind` against the call's limit: an error naming the
    /// limit when the plugin has as many open as it may.
    fn acquire(&mut self, kind: HandleKind) -> Result<(), types::Error> {
        self.handles.acquire(kind).map_err(types::Error::Other)
    }

    /// Hand a handle of `kind` (taken with [`Self::acquire`]) to the plugin;
    /// if it could not be opened, the count is given back.
    fn push_counted<R: Send + 'static>(
        &mut self,
        kind: HandleKind,
        opened: Result<R, types::Error>,
    ) -> wasmtime::Result<Result<Resource<R>, types::Error>> {
        let pushed = match opened {
            Ok(value) => self.table.push(value),
            Err(e) => {
                self.handles.release(kind);
                return Ok(Err(e));
            }
        };
        match pushed {
            Ok(resource) => Ok(Ok(resource)),
            Err(e) => {
                self.handles.release(kind);
                Err(e.into())
            }
        }
    }

    /// Refuse a disk or filesystem image size (`what`) past the limit.
    fn check_image_size(&self, what: &str, bytes: Option<u64>) -> Result<(), types::Error> {
        match bytes {
            Some(bytes) if bytes > self.max_disk_bytes => Err(types::Error::Other(format!(
                "{what}: {bytes} bytes is larger than the {} bytes a plugin may ask for \
                 (--max-disk-bytes)",
                self.max_disk_bytes
            ))),
            _ => Ok(()),
        }
    }

    /// Refuse filesystem options whose size is past the limit.
    fn check_filesystem_size(
        &self,
        what: &str,
        options: &wit_toolbox::FilesystemOptions,
    ) -> Result<(), types::Error> {
        self.check_image_size(what, options.size_bytes)?;
        self.check_image_size(what, Some(options.extra_bytes))
    }

    /// The path of artifact `file_name` if this call published it.
    fn target_dir(&self) -> Result<toolbox::TargetDir, types::Error> {
        self.target
            .clone()
            .ok_or_else(|| types::Error::Other("no target directory in this call".into()))
    }

    /// Publishes a finished file artifact and remembers it for this call.
    fn publish(
        &mut self,
        target: &toolbox::TargetDir,
        file: toolbox::FileArtifact,
        file_name: &str,
    ) -> wasmtime::Result<Result<types::Artifact, types::Error>> {
        let info = guest_try!(file.publish().map_err(|e| io_err(file_name, e)));
        self.published.push(target.path().join(&info.file_name));
        Ok(Ok(artifact_to(info)))
    }

    /// The listed files of a FAT or ISO image, staged on the host: root
    /// files need `root-read`, artifacts must be this call's.
    fn stage_files(
        &mut self,
        root: &Resource<RootHandle>,
        files: &[wit_toolbox::ImageFile],
    ) -> wasmtime::Result<Result<toolbox::staging::Staged, types::Error>> {
        use toolbox::staging::{ListedFile, Source};
        let mut listed = Vec::new();
        let mut needs_root = false;
        for file in files {
            let source = match &file.source {
                wit_toolbox::FileSource::RootFile(path) => {
                    needs_root = true;
                    Source::RootFile(path.clone())
                }
                wit_toolbox::FileSource::Artifact(name) => {
                    Source::Artifact(guest_try!(self.published_artifact(name)))
                }
                wit_toolbox::FileSource::Data(bytes) => Source::Data(bytes.clone()),
            };
            listed.push(ListedFile {
                path: file.path.clone(),
                source,
            });
        }
        let tree = if needs_root {
            Some(guest_try!(self.root(root)?))
        } else {
            None
        };
        Ok(
            toolbox::staging::stage(tree.as_deref(), &listed)
                .map_err(|e| tool_err("image file", e)),
        )
    }

    fn published_artifact(&self, file_name: &str) -> Result<std::path::PathBuf, types::Error> {
        self.published
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == file_name))
            .cloned()
            .ok_or_else(|| {
                types::Error::InvalidPath(format!(
                    "`{file_name}` is not an artifact this call finished"
                ))
            })
    }
}

// ---- imports: changes ---------------------------------------------------

impl PluginState {
    fn record(
        &mut self,
        capability: Capability,
        action: RootChange,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        guest_try!(self.require(capability).map_err(denied));
        if !self.changes_allowed {
            return Ok(Err(types::Error::Other(
                "the root is final at this stage: changes are refused".into(),
            )));
        }
        guest_try!(action.check().map_err(types::Error::Other));
        self.changes.push(action);
        Ok(Ok(()))
    }
}

/// A path a baseline names, as the host keeps it.
fn root_path(path: &str) -> Result<String, types::Error> {
    toolbox::names::root_path(path).map_err(types::Error::InvalidPath)
}

impl changes::Host for PluginState {
    fn install_packages(
        &mut self,
        names: Vec<String>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(Capability::RootWrite, RootChange::InstallPackages { names })
    }

    fn remove_packages(
        &mut self,
        names: Vec<String>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(Capability::RootWrite, RootChange::RemovePackages { names })
    }

    fn write_file(
        &mut self,
        path: String,
        content: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        let path = guest_try!(root_path(&path));
        // Recorded changes are held until the call returns: bounded like
        // the plugin's own memory.
        let bytes = self.changes_bytes.saturating_add(content.len() as u64);
        if bytes > self.max_data_bytes {
            return Ok(Err(types::Error::Other(format!(
                "too much file content requested: a plugin call may ask for at most {} bytes \
                 of files (the plugin's memory limit, --plugin-memory)",
                self.max_data_bytes
            ))));
        }
        self.changes_bytes = bytes;
        self.record(
            Capability::RootWrite,
            RootChange::WriteFile {
                path,
                content,
                mode: mode & 0o7777,
                uid,
                gid,
            },
        )
    }

    fn enable_service(&mut self, unit: String) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(Capability::RootWrite, RootChange::EnableService { unit })
    }

    fn mask_service(&mut self, unit: String) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(Capability::RootWrite, RootChange::MaskService { unit })
    }

    fn set_default_target(&mut self, target: String) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(
            Capability::RootWrite,
            RootChange::SetDefaultTarget { target },
        )
    }

    fn add_group(&mut self, group: changes::Group) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(
            Capability::RootWrite,
            RootChange::AddGroup {
                name: group.name,
                gid: group.gid,
            },
        )
    }

    fn add_user(&mut self, user: changes::User) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(
            Capability::RootWrite,
            RootChange::AddUser {
                name: user.name,
                uid: user.uid,
                group: user.group,
                groups: user.groups,
                home: user.home,
                shell: user.shell,
                password_hash: user.password_hash,
            },
        )
    }

    fn set_sysctl(
        &mut self,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        self.record(Capability::RootWrite, RootChange::SetSysctl { key, value })
    }

    fn load_kernel_module(&mut self, name: String) -> wasmtime::Result<Result<(), types::Error>> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Ok(Err(types::Error::Other(format!(
                "`{name}` is not a kernel module name"
            ))));
        }
        self.record(Capability::RootWrite, RootChange::LoadKernelModule { name })
    }

    fn run_in_root(&mut self, argv: Vec<String>) -> wasmtime::Result<Result<(), types::Error>> {
        if argv.is_empty() {
            return Ok(Err(types::Error::Other(
                "run-in-root needs a command".into(),
            )));
        }
        self.record(Capability::RootExec, RootChange::RunInRoot { argv })
    }
}
