//! Bindings for contract `builder:plugin@0.2.0` (wit/0.2.0), the newest: its
//! generated types are the host's own (`super::latest`), its imports are
//! carried out in `super::imports`, and a plugin is linked with the
//! interfaces of its granted capabilities only.

use std::collections::HashMap;
use std::sync::Mutex;

use wasmtime::component::{HasSelf, Linker};

use super::convert::world_bindings;
use super::grants::{Capability, Grants};
use super::state::PluginState;
use super::{BuildRequest, World};

/// The contract version this module speaks.
pub const VERSION: &str = "0.2.0";

world_bindings!(
    /// `image-type` world bindings (also the home of the shared interfaces).
    image_type, "../wit/0.2.0", "builder:plugin/image-type@0.2.0", {
        "builder:plugin/types@0.2.0.root-tree": crate::plugins::state::RootHandle,
        "builder:plugin/root-read@0.2.0.walker": crate::plugins::state::WalkHandle,
        "builder:plugin/root-read@0.2.0.file-reader": crate::plugins::state::ReaderHandle,
        "builder:plugin/artifacts@0.2.0.artifact-writer": crate::plugins::state::ArtifactHandle,
        "builder:plugin/disks@0.2.0.disk": crate::plugins::state::DiskHandle,
    }
);

world_bindings!(
    /// `hook` world bindings.
    hook, "../wit/0.2.0", "builder:plugin/hook@0.2.0", {
        "builder:plugin/types@0.2.0": super::image_type::builder::plugin::types,
        "builder:plugin/log@0.2.0": super::image_type::builder::plugin::log,
        "builder:plugin/root-read@0.2.0": super::image_type::builder::plugin::root_read,
        "builder:plugin/artifacts@0.2.0": super::image_type::builder::plugin::artifacts,
        "builder:plugin/filesystems@0.2.0": super::image_type::builder::plugin::filesystems,
        "builder:plugin/disks@0.2.0": super::image_type::builder::plugin::disks,
        "builder:plugin/boot@0.2.0": super::image_type::builder::plugin::boot,
        "builder:plugin/iso@0.2.0": super::image_type::builder::plugin::iso,
    }
);

world_bindings!(
    /// `baseline` world bindings.
    baseline, "../wit/0.2.0", "builder:plugin/baseline@0.2.0", {
        "builder:plugin/types@0.2.0": super::image_type::builder::plugin::types,
        "builder:plugin/log@0.2.0": super::image_type::builder::plugin::log,
        "builder:plugin/root-read@0.2.0": super::image_type::builder::plugin::root_read,
        "builder:plugin/changes@0.2.0": super::hook::builder::plugin::changes,
        "builder:plugin/root-exec@0.2.0": super::hook::builder::plugin::root_exec,
    }
);

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

/// A linker's key: the world and the capabilities granted (none: every
/// interface, for `describe`).
type LinkerKey = (World, Option<Vec<Capability>>);

/// Linkers by world and granted capabilities, made when first asked for.
pub struct Linkers {
    engine: wasmtime::Engine,
    made: Mutex<HashMap<LinkerKey, Linker<PluginState>>>,
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

super::convert::contract_conversions!();

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
