//! What plugins import: the host side of each interface of the newest
//! contract, one file per capability, over the host's toolbox. Older
//! contract versions call these too, through their bindings' conversions.
//!
//! Every function returns [`CallError`]: an error the plugin receives as the
//! contract's `error`, or a trap that ends the call (a bad handle, a host
//! failure). The capability of the interface itself is checked again at
//! the call ([`PluginState::require`]): a 0.2.0 plugin is only linked with
//! its granted interfaces, but `describe` and 0.1.0 plugins see them all.

mod artifacts;
mod boot;
mod changes;
pub mod disks;
mod filesystems;
mod iso;
mod log;
mod root_read;

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::Resource;

use super::grants::Capability;
use super::limits::HandleKind;
use super::state::{PluginState, RootHandle};
use super::v0_2_0::latest::types::{self, Error};
use super::v0_2_0::{artifact_to, capability_to};
use crate::rootfs::RootTree;
use crate::toolbox;

/// Why a host function failed: an error for the plugin, or a trap.
#[derive(Debug)]
pub enum CallError {
    /// Returned to the plugin as the contract's `error`.
    Guest(Error),
    /// Ends the call (a handle that is not the plugin's, a host failure).
    Trap(wasmtime::Error),
}

impl CallError {
    /// A failed file operation on `path`.
    pub fn io(path: &str, e: std::io::Error) -> CallError {
        CallError::Guest(Error::Io(types::IoError {
            path: path.to_string(),
            message: e.to_string(),
        }))
    }

    /// Anything else, in the host's words.
    pub fn other(message: impl Into<String>) -> CallError {
        CallError::Guest(Error::Other(message.into()))
    }

    /// A capability the call needs and the plugin was not granted.
    pub fn denied(capability: Capability) -> CallError {
        CallError::Guest(Error::CapabilityDenied(capability_to(capability)))
    }

    /// A toolbox primitive's failure, about `what`.
    pub fn tool(what: &str, e: toolbox::ToolError) -> CallError {
        match e {
            toolbox::ToolError::Invalid(reason) => CallError::other(reason),
            toolbox::ToolError::Io(e) => CallError::io(what, e),
            toolbox::ToolError::Tool(e) => CallError::command(e),
        }
    }

    /// A host tool's failure.
    pub fn command(e: crate::rootfs::command::CommandError) -> CallError {
        use crate::rootfs::command::CommandError as C;
        match e {
            C::Failed {
                command,
                status,
                tail,
                ..
            } => CallError::Guest(Error::ToolFailed(types::ToolFailure {
                tool: command,
                exit_code: status.code(),
                stderr: tail,
            })),
            other => CallError::other(other.to_string()),
        }
    }
}

impl From<wasmtime::Error> for CallError {
    fn from(e: wasmtime::Error) -> Self {
        CallError::Trap(e)
    }
}

impl From<wasmtime::component::ResourceTableError> for CallError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        CallError::Trap(e.into())
    }
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Guest(e)
    }
}

/// A host function's result.
pub type CallResult<T> = Result<T, CallError>;

impl types::Host for PluginState {
    fn convert_error(&mut self, err: CallError) -> wasmtime::Result<Error> {
        match err {
            CallError::Guest(e) => Ok(e),
            CallError::Trap(e) => Err(e),
        }
    }
}

impl types::HostRootTree for PluginState {
    fn drop(&mut self, handle: Resource<RootHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl PluginState {
    /// Check `capability` at the call.
    pub(crate) fn need(&mut self, capability: Capability) -> CallResult<()> {
        self.require(capability).map_err(CallError::denied)
    }

    /// The tree behind a root handle, once `root-read` is checked.
    pub(crate) fn readable_root(
        &mut self,
        handle: &Resource<RootHandle>,
    ) -> CallResult<Arc<RootTree>> {
        self.need(Capability::RootRead)?;
        self.tree(handle)
    }

    /// The tree behind a root handle, for calls that make something of it
    /// with the host's tools rather than show it to the plugin.
    pub(crate) fn tree(&mut self, handle: &Resource<RootHandle>) -> CallResult<Arc<RootTree>> {
        Ok(self.table.get(handle)?.0.clone())
    }

    /// The root behind `handle`, opened for the writes a host function makes
    /// into it (every path resolved inside the root).
    pub(crate) fn root_dir(
        &mut self,
        handle: &Resource<RootHandle>,
    ) -> CallResult<crate::rootfs::files::RootDir> {
        let tree = self.tree(handle)?;
        crate::rootfs::files::RootDir::open(tree.host_path()).map_err(|e| CallError::io("/", e))
    }

    /// Take a handle of `kind` against the call's limit: an error naming the
    /// limit when the plugin has as many open as it may.
    pub(crate) fn acquire(&mut self, kind: HandleKind) -> CallResult<()> {
        self.handles.acquire(kind).map_err(CallError::other)
    }

    /// Hand a handle of `kind` (taken with [`Self::acquire`]) to the plugin;
    /// if it could not be opened, the count is given back.
    pub(crate) fn push_counted<R: Send + 'static>(
        &mut self,
        kind: HandleKind,
        opened: CallResult<R>,
    ) -> CallResult<Resource<R>> {
        let pushed = opened.and_then(|value| Ok(self.table.push(value)?));
        if pushed.is_err() {
            self.handles.release(kind);
        }
        pushed
    }

    /// Refuse a disk or filesystem image size (`what`) past the limit.
    pub(crate) fn check_image_size(&self, what: &str, bytes: Option<u64>) -> CallResult<()> {
        match bytes {
            Some(bytes) if bytes > self.max_disk_bytes => Err(CallError::other(format!(
                "{what}: {bytes} bytes is larger than the {} bytes a plugin may ask for \
                 (--max-disk-bytes)",
                self.max_disk_bytes
            ))),
            _ => Ok(()),
        }
    }

    /// The target directory of this call.
    pub(crate) fn target_dir(&self) -> CallResult<toolbox::TargetDir> {
        self.target
            .clone()
            .ok_or_else(|| CallError::other("no target directory in this call"))
    }

    /// Publishes a finished file artifact and remembers it for this call.
    pub(crate) fn publish(
        &mut self,
        target: &toolbox::TargetDir,
        file: toolbox::FileArtifact,
        file_name: &str,
    ) -> CallResult<types::Artifact> {
        let info = file.publish().map_err(|e| CallError::io(file_name, e))?;
        self.published.push(target.path().join(&info.file_name));
        Ok(artifact_to(info))
    }

    /// The path of artifact `file_name` if this call published it.
    pub(crate) fn published_artifact(&self, file_name: &str) -> CallResult<PathBuf> {
        self.published
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == file_name))
            .cloned()
            .ok_or_else(|| {
                CallError::Guest(Error::InvalidPath(format!(
                    "`{file_name}` is not an artifact this call finished"
                )))
            })
    }

    /// The listed files of a FAT or ISO image, staged on the host: root
    /// files need `root-read`, artifacts must be this call's.
    pub(crate) fn stage_files(
        &mut self,
        root: &Resource<RootHandle>,
        files: &[types::ImageFile],
    ) -> CallResult<toolbox::staging::Staged> {
        use toolbox::staging::{ListedFile, Source};
        let mut listed = Vec::new();
        let mut needs_root = false;
        for file in files {
            let source = match &file.source {
                types::FileSource::RootFile(path) => {
                    needs_root = true;
                    Source::RootFile(path.clone())
                }
                types::FileSource::Artifact(name) => {
                    Source::Artifact(self.published_artifact(name)?)
                }
                types::FileSource::Data(bytes) => Source::Data(bytes.clone()),
            };
            listed.push(ListedFile {
                path: file.path.clone(),
                source,
            });
        }
        let tree = if needs_root {
            Some(self.readable_root(root)?)
        } else {
            None
        };
        toolbox::staging::stage(tree.as_deref(), &listed)
            .map_err(|e| CallError::tool("image file", e))
    }

    /// The host's form of a plugin's filesystem options, its sizes checked.
    pub(crate) fn filesystem_options(
        &self,
        what: &str,
        options: types::FilesystemOptions,
    ) -> CallResult<toolbox::filesystems::FilesystemOptions> {
        use toolbox::filesystems::FsType;
        use types::FilesystemType as W;
        self.check_image_size(what, options.size_bytes)?;
        self.check_image_size(what, Some(options.extra_bytes))?;
        Ok(toolbox::filesystems::FilesystemOptions {
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
        })
    }
}

/// A part of `tree` as a directory on the host and the directories below
/// it left empty: the path and mount points resolve inside the root, so
/// none leads out of it.
pub(crate) fn tree_part(
    tree: &RootTree,
    part: &types::TreePart,
) -> CallResult<(PathBuf, Vec<PathBuf>)> {
    let invalid = |e: String| CallError::Guest(Error::InvalidPath(e));
    let top = match part.path.trim_matches('/') {
        "" => String::new(),
        _ => toolbox::names::root_path(&part.path).map_err(invalid)?,
    };
    let dir = if top.is_empty() {
        tree.host_path().to_path_buf()
    } else {
        crate::rootfs::mounts::real_directory_below(tree.host_path(), std::path::Path::new(&top))
            .map_err(|e| CallError::io(&part.path, e))?
    };
    let mut hidden = Vec::new();
    for point in &part.mount_points {
        let point_path = toolbox::names::root_path(point).map_err(invalid)?;
        let below = match top.as_str() {
            "" => Some(point_path.as_str()),
            top => point_path
                .strip_prefix(top)
                .and_then(|rest| rest.strip_prefix('/')),
        };
        match below {
            Some(rest) if !rest.is_empty() => hidden.push(PathBuf::from(rest)),
            _ => {
                return Err(CallError::Guest(Error::InvalidPath(format!(
                    "mount point `{point}` is not below `{}`",
                    part.path
                ))))
            }
        }
    }
    Ok((dir, hidden))
}
