//! Which plugins a build runs, decided before anything is built: the
//! image-type plugin of the selected type and the hooks and baselines the
//! description names, each loaded (a component file only when its sha256
//! matches the pin, and never under a built-in plugin's name), its options
//! resolved and every capability it declares checked against what the
//! description grants.

use std::fmt;

use super::{Capability, Grants, Plugin, PluginRuntime, PluginSource, Role, Stage, World};
use crate::description::{PluginKind, PluginRef};
use crate::plan::{BuildPlan, PlannedPlugin};

/// The type's attributes the host itself acts on: which type is built.
const HOST_READS: &[&str] = &["image", "primary"];

/// A plugin as one build runs it.
#[derive(Clone)]
pub struct ActivePlugin {
    /// The loaded plugin.
    pub plugin: Plugin,
    /// What it may use: declared and granted.
    pub grants: Grants,
    /// Options, checked against its specs, defaults filled in.
    pub options: Vec<(String, String)>,
    /// Hooks: the stages it runs at, in pipeline order.
    pub stages: Vec<Stage>,
}

impl ActivePlugin {
    /// How `builder plan` shows it.
    pub fn planned(&self) -> PlannedPlugin {
        PlannedPlugin {
            name: self.plugin.info.name.clone(),
            version: self.plugin.info.version.clone(),
            kind: self.plugin.world.to_string(),
            source: self.plugin.source.to_string(),
            grants: self.grants.iter().map(|c| c.name().to_string()).collect(),
            sha256: self.plugin.digest.clone(),
            stages: self.stages.iter().map(|s| s.to_string()).collect(),
            options: crate::description::Options(self.options.clone()),
            not_acted_on: self
                .options
                .iter()
                .filter(|(name, _)| !HOST_READS.contains(&name.as_str()))
                .filter(|(name, _)| !self.plugin.info.options.iter().any(|o| &o.name == name))
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
        }
    }
}

/// Every plugin of one build.
#[derive(Clone, Default)]
pub struct BuildPlugins {
    /// Builds the artifacts of the selected type (none when only preparing
    /// a root and no plugin serves the type).
    pub image_type: Option<ActivePlugin>,
    /// Applied after users and settings, in description order.
    pub baselines: Vec<ActivePlugin>,
    /// Run at their stages, in description order.
    pub hooks: Vec<ActivePlugin>,
}

impl BuildPlugins {
    /// The hooks that run at `stage`.
    pub fn hooks_at(&self, stage: Stage) -> impl Iterator<Item = &ActivePlugin> {
        self.hooks.iter().filter(move |h| h.stages.contains(&stage))
    }

    /// Every plugin, image type first.
    pub fn all(&self) -> impl Iterator<Item = &ActivePlugin> {
        self.image_type
            .iter()
            .chain(&self.baselines)
            .chain(&self.hooks)
    }
}

/// Why the plugins of a build cannot run; nothing was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectError {
    /// Where the description names the plugin (`file:line:column`), if it does.
    pub location: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SelectError {}

fn at(reference: &PluginRef, message: String) -> SelectError {
    SelectError {
        location: Some(reference.origin.location.to_string()),
        message,
    }
}

/// What the build will do with the plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Prepare a root only: a type no plugin builds is not an error.
    Prepare,
    /// Build artifacts: the type's plugin must be there.
    Build,
}

/// Loads and checks the plugins `plan` needs, from the description's own
/// references and the `available` ones (built-in, `--plugin`, `plugins/`).
pub fn select(
    runtime: &PluginRuntime,
    available: &[Plugin],
    plan: &BuildPlan,
    purpose: Purpose,
) -> Result<BuildPlugins, SelectError> {
    let mut baselines = Vec::new();
    let mut hooks = Vec::new();
    // Image types the description brings itself take precedence.
    let mut image_types: Vec<(Plugin, &PluginRef)> = Vec::new();
    for reference in &plan.plugin_refs {
        let plugin = load(runtime, available, reference)?;
        let expected = match reference.kind {
            PluginKind::ImageType => World::ImageType,
            PluginKind::Hook => World::Hook,
            PluginKind::Baseline => World::Baseline,
        };
        if plugin.world != expected {
            return Err(at(
                reference,
                format!(
                    "plugin {} is a {} plugin, but the description uses it as a {}",
                    plugin.label(),
                    plugin.world,
                    reference.kind.name()
                ),
            ));
        }
        match reference.kind {
            PluginKind::ImageType => image_types.push((plugin, reference)),
            PluginKind::Baseline => {
                baselines.push(activate(plugin, reference, Grants::none())?);
            }
            PluginKind::Hook => hooks.push(activate(plugin, reference, Grants::none())?),
        }
    }
    let type_name = &plan.image_type.image;
    let serves = |p: &Plugin| matches!(&p.info.role, Role::ImageType(t) if t.contains(type_name));
    let image_type = match image_types.iter().find(|(p, _)| serves(p)) {
        Some((plugin, reference)) => Some(activate(
            plugin.clone(),
            reference,
            Grants::image_type_defaults(),
        )?),
        None => {
            let plugin = match available.iter().find(|p| serves(p)) {
                Some(plugin) => plugin,
                None if purpose == Purpose::Prepare => {
                    return Ok(BuildPlugins {
                        image_type: None,
                        baselines,
                        hooks,
                    })
                }
                None => return Err(no_image_type(type_name, available)),
            };
            let granted = Grants::image_type_defaults();
            if let Some(capability) = granted.first_missing(&plugin.info.capabilities) {
                return Err(SelectError {
                    location: None,
                    message: not_granted(plugin, capability, "an image type is granted by default"),
                });
            }
            // The plugin as it serves this type (its options of this type).
            let mut plugin = plugin.clone();
            plugin.info = plugin.info.for_type(type_name);
            let options = plugin
                .info
                .resolve_description_options(&plan.image_type_options())
                .map_err(|e| SelectError {
                    location: Some(plan.image_type.origin.location.to_string()),
                    message: format!("type `{type_name}`: {e}"),
                })?;
            Some(ActivePlugin {
                grants: granted.effective(&plugin.info.capabilities),
                plugin,
                options,
                stages: Vec::new(),
            })
        }
    };
    Ok(BuildPlugins {
        image_type,
        baselines,
        hooks,
    })
}

fn no_image_type(type_name: &str, available: &[Plugin]) -> SelectError {
    let known: Vec<&str> = available
        .iter()
        .filter_map(|p| match &p.info.role {
            Role::ImageType(types) => Some(types.iter().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect();
    // A near miss is most likely a typo.
    let close = crate::description::closest(type_name, &known);
    let hint = match close {
        Some(k) => format!("`{k}`? "),
        None => String::new(),
    };
    SelectError {
        location: None,
        message: format!(
            "no plugin builds image type `{type_name}` ({hint}available: {}; a plugin from a \
             file is named in the description's <extension>)",
            known.join(", ")
        ),
    }
}

fn not_granted(plugin: &Plugin, capability: Capability, what: &str) -> String {
    format!(
        "plugin {} needs capability `{capability}`, which {what}; nothing was built",
        plugin.label()
    )
}

/// The plugin a reference names: a pinned component file, or one of `available`.
fn load(
    runtime: &PluginRuntime,
    available: &[Plugin],
    reference: &PluginRef,
) -> Result<Plugin, SelectError> {
    let Some(path) = &reference.resolved_path else {
        return available
            .iter()
            .find(|p| p.info.name == reference.name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = available.iter().map(|p| p.info.name.as_str()).collect();
                at(
                    reference,
                    format!(
                        "no plugin named `{}` (available: {}; a plugin from a file needs path= and sha256=)",
                        reference.name,
                        names.join(", ")
                    ),
                )
            });
    };
    let shown = reference.path.as_deref().unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|e| {
        at(
            reference,
            format!(
                "plugin `{}`: reading {shown} ({}): {e}",
                reference.name,
                path.display()
            ),
        )
    })?;
    let digest = crate::toolbox::sha256_hex(&bytes);
    match &reference.sha256 {
        None => {
            return Err(at(
                reference,
                format!(
                    "plugin `{}`: {shown} is not pinned: a plugin from a file needs sha256=\"…\" \
                     (this file's is {digest}; pin it once you trust the file)",
                    reference.name
                ),
            ))
        }
        Some(pinned) if *pinned != digest => {
            return Err(at(
                reference,
                format!(
                    "plugin `{}` refused: {shown} has sha256 {digest}, but the description pins {pinned}",
                    reference.name
                ),
            ))
        }
        Some(_) => {}
    }
    let plugin = runtime
        .load(&bytes, PluginSource::File(path.clone()))
        .map_err(|e| at(reference, e.to_string()))?;
    if plugin.info.name != reference.name {
        return Err(at(
            reference,
            format!(
                "{shown} is plugin `{}`, not `{}`",
                plugin.info.name, reference.name
            ),
        ));
    }
    if super::catalog::is_builtin(&plugin.info.name) {
        return Err(at(
            reference,
            format!(
                "plugin refused: {shown} calls itself `{}`, the name of a plugin built into \
                 builder; a component file never takes a built-in plugin's place (give it a \
                 name of its own, or drop path= and sha256= to use the built-in one)",
                plugin.info.name
            ),
        ));
    }
    Ok(plugin)
}

/// Checks grants, options and stages of a referenced plugin.
fn activate(
    plugin: Plugin,
    reference: &PluginRef,
    defaults: Grants,
) -> Result<ActivePlugin, SelectError> {
    let mut granted = defaults;
    for grant in &reference.grants {
        let capability: Capability = grant.value.parse().map_err(|e: String| SelectError {
            location: Some(grant.location.to_string()),
            message: format!("plugin {}: grants: {e}", plugin.label()),
        })?;
        granted.insert(capability);
    }
    if let Some(capability) = granted.first_missing(&plugin.info.capabilities) {
        return Err(at(
            reference,
            not_granted(
                &plugin,
                capability,
                "the description does not grant (add it to the plugin's grants=)",
            ),
        ));
    }
    let options = plugin
        .info
        .resolve_options(&reference.options)
        .map_err(|e| at(reference, format!("plugin {}: {e}", plugin.label())))?;
    let stages = match &plugin.info.role {
        Role::Hook(served) if reference.stages.is_empty() => served.clone(),
        Role::Hook(served) => {
            let mut stages = Vec::new();
            for stage in &reference.stages {
                let found = served.iter().find(|s| s.to_string() == stage.value);
                let Some(found) = found else {
                    let names: Vec<String> = served.iter().map(|s| s.to_string()).collect();
                    return Err(SelectError {
                        location: Some(stage.location.to_string()),
                        message: format!(
                            "plugin {} does not run at stage `{}` (it serves: {})",
                            plugin.label(),
                            stage.value,
                            names.join(", ")
                        ),
                    });
                };
                stages.push(*found);
            }
            stages
        }
        _ => Vec::new(),
    };
    Ok(ActivePlugin {
        grants: granted.effective(&plugin.info.capabilities),
        plugin,
        options,
        stages,
    })
}

/// Fills `plan.plugins` with what a build of it would run. A description's
/// plugin references that cannot run are errors; a type no plugin builds is a
/// warning in the plan (the build stops there).
pub fn attach(
    plan: &mut BuildPlan,
    runtime: &PluginRuntime,
    available: &[Plugin],
) -> Result<(), SelectError> {
    match select(runtime, available, plan, Purpose::Build) {
        Ok(plugins) => {
            plan.plugins = plugins.all().map(ActivePlugin::planned).collect();
            Ok(())
        }
        Err(e) if e.location.is_none() => {
            plan.warnings
                .push(format!("{e}: a build of this plan would stop there"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}
