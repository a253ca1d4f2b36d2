//! Bindings for contract `builder:plugin@0.2.0` (wit/0.2.0), the newest: its
//! generated types are the host's own (`super::latest`), its imports are
//! carried out in `super::imports`, and a plugin is linked with the
//! interfaces of its granted capabilities only.

use std::collections::HashMap;
use std::sync::Mutex;

use wasmtime::component::{HasSelf, Linker};

use super::grants::{Capability, Grants};
use super::info::{self, GuestError, OptionKind, PluginInfo, Role, Stage};
use super::limits::escape_control;
use super::state::PluginState;
use super::{BaselineRequest, BuildRequest, Family, HookRequest, ImageIdentity, World};
use crate::toolbox;

/// The contract version this module speaks.
pub const VERSION: &str = "0.2.0";

/// `image-type` world bindings (also the home of the shared interfaces).
pub mod image_type {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "builder:plugin/image-type@0.2.0",
        imports: { default: trappable },
        // Calls into plugins are futures, raced against their deadline.
        exports: { default: async },
        trappable_error_type: {
            "builder:plugin/types.error" => crate::plugins::imports::CallError,
        },
        with: {
            "builder:plugin/types@0.2.0.root-tree": crate::plugins::state::RootHandle,
            "builder:plugin/root-read@0.2.0.walker": crate::plugins::state::WalkHandle,
            "builder:plugin/root-read@0.2.0.file-reader": crate::plugins::state::ReaderHandle,
            "builder:plugin/artifacts@0.2.0.artifact-writer": crate::plugins::state::ArtifactHandle,
            "builder:plugin/disks@0.2.0.disk": crate::plugins::state::DiskHandle,
        },
    });
}

/// `hook` world bindings.
pub mod hook {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "builder:plugin/hook@0.2.0",
        imports: { default: trappable },
        exports: { default: async },
        trappable_error_type: {
            "builder:plugin/types.error" => crate::plugins::imports::CallError,
        },
        with: {
            "builder:plugin/types@0.2.0": super::image_type::builder::plugin::types,
            "builder:plugin/log@0.2.0": super::image_type::builder::plugin::log,
            "builder:plugin/root-read@0.2.0": super::image_type::builder::plugin::root_read,
            "builder:plugin/artifacts@0.2.0": super::image_type::builder::plugin::artifacts,
            "builder:plugin/filesystems@0.2.0": super::image_type::builder::plugin::filesystems,
            "builder:plugin/disks@0.2.0": super::image_type::builder::plugin::disks,
            "builder:plugin/boot@0.2.0": super::image_type::builder::plugin::boot,
            "builder:plugin/iso@0.2.0": super::image_type::builder::plugin::iso,
        },
    });
}

/// `baseline` world bindings.
pub mod baseline {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "builder:plugin/baseline@0.2.0",
        imports: { default: trappable },
        exports: { default: async },
        trappable_error_type: {
            "builder:plugin/types.error" => crate::plugins::imports::CallError,
        },
        with: {
            "builder:plugin/types@0.2.0": super::image_type::builder::plugin::types,
            "builder:plugin/log@0.2.0": super::image_type::builder::plugin::log,
            "builder:plugin/root-read@0.2.0": super::image_type::builder::plugin::root_read,
            "builder:plugin/changes@0.2.0": super::hook::builder::plugin::changes,
            "builder:plugin/root-exec@0.2.0": super::hook::builder::plugin::root_exec,
        },
    });
}

/// The newest contract's interfaces: the types the host works with.
pub mod latest {
    pub use super::hook::builder::plugin::{changes, root_exec};
    pub use super::image_type::builder::plugin::{
        artifacts, boot, disks, filesystems, iso, log, root_read, types,
    };
}

use latest::types;

/// `plugin-info` of this version, as `describe` returns it.
pub type WitPluginInfo = types::PluginInfo;

/// The interface a component imports, and the capability that links it;
/// none for those every plugin gets.
pub fn interface_capability(interface: &str) -> Result<Option<Capability>, String> {
    Ok(Some(match interface {
        "types" | "log" => return Ok(None),
        "root-read" => Capability::RootRead,
        "changes" => Capability::RootWrite,
        "root-exec" => Capability::RootExec,
        "artifacts" => Capability::ArtifactWrite,
        "filesystems" => Capability::Filesystems,
        "disks" => Capability::Partitioning,
        "boot" => Capability::Bootloader,
        "iso" => Capability::Iso,
        other => {
            return Err(format!(
                "it imports `{other}`, which contract {VERSION} has not"
            ))
        }
    }))
}

/// Why a component may not load: an interface it imports whose capability
/// it does not declare (it would never be linked).
pub fn undeclared_import(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    declared: &[Capability],
) -> Result<(), String> {
    for (name, _) in component.component_type().imports(engine) {
        let Some(interface) = name
            .strip_prefix("builder:plugin/")
            .and_then(|rest| rest.split_once('@'))
            .map(|(interface, _)| interface)
        else {
            continue;
        };
        if let Some(capability) = interface_capability(interface)? {
            if !declared.contains(&capability) {
                return Err(format!(
                    "it imports interface `{interface}` but does not declare capability \
                     `{capability}`, which links it: add it to the capabilities `describe` returns"
                ));
            }
        }
    }
    Ok(())
}

/// Linkers by world and granted capabilities, made when first asked for.
pub struct Linkers {
    engine: wasmtime::Engine,
    made: Mutex<HashMap<(World, Option<Vec<Capability>>), Linker<PluginState>>>,
}

impl Linkers {
    /// No linker made yet.
    pub fn new(engine: &wasmtime::Engine) -> Linkers {
        Linkers {
            engine: engine.clone(),
            made: Mutex::new(HashMap::new()),
        }
    }

    /// The linker of `world` holding WASI, `types`, `log` and the interfaces
    /// of `grants`; with none, every interface of the world (for `describe`,
    /// called before anything is granted: each call is refused then).
    pub fn get(
        &self,
        world: World,
        grants: Option<&Grants>,
    ) -> wasmtime::Result<Linker<PluginState>> {
        let key = (world, grants.map(|g| g.iter().collect::<Vec<_>>()));
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(linker) = made.get(&key) {
            return Ok(linker.clone());
        }
        let linker = self.make(world, grants)?;
        made.insert(key, linker.clone());
        Ok(linker)
    }

    fn make(&self, world: World, grants: Option<&Grants>) -> wasmtime::Result<Linker<PluginState>> {
        use latest::*;
        let mut linker = Linker::new(&self.engine);
        // WASI waits are futures: a call stopped at its deadline or on
        // Ctrl-C is dropped while it waits.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let has = |c: Capability| grants.is_none_or(|g| g.contains(c));
        let l = &mut linker;
        types::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
        log::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
        if has(Capability::RootRead) {
            root_read::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
        }
        if world != World::ImageType {
            if has(Capability::RootWrite) {
                changes::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
            }
            if has(Capability::RootExec) {
                root_exec::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
            }
        }
        if world != World::Baseline {
            if has(Capability::ArtifactWrite) {
                artifacts::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
            }
            if has(Capability::Filesystems) {
                filesystems::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
            }
            if has(Capability::Partitioning) {
                disks::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
            }
            if has(Capability::Bootloader) {
                boot::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
            }
            if has(Capability::Iso) {
                iso::add_to_linker::<_, HasSelf<_>>(l, |s| s)?;
            }
        }
        Ok(linker)
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

pub fn capability_to(c: Capability) -> types::Capability {
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

fn identity_to(image: &ImageIdentity) -> types::ImageIdentity {
    types::ImageIdentity {
        name: image.name.clone(),
        version: image.version.clone(),
        arch: image.arch.clone(),
    }
}

fn options_to(options: &[(String, String)]) -> Vec<types::OptionValue> {
    options
        .iter()
        .map(|(name, value)| types::OptionValue {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
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
        settings: request
            .settings
            .iter()
            .map(|s| types::Setting {
                element: s.element.clone(),
                parent: s.parent,
                attributes: options_to(&s.attributes),
                text: s.text.clone(),
            })
            .collect(),
        files: request
            .files
            .iter()
            .map(|(name, content)| types::DescriptionFile {
                name: name.clone(),
                content: content.clone(),
            })
            .collect(),
    }
}

pub fn artifact_from(a: types::Artifact) -> toolbox::ArtifactInfo {
    toolbox::ArtifactInfo {
        file_name: a.file_name,
        size: a.size,
        sha256: a.sha256,
    }
}

pub fn artifact_to(a: toolbox::ArtifactInfo) -> types::Artifact {
    types::Artifact {
        file_name: a.file_name,
        size: a.size,
        sha256: a.sha256,
    }
}
