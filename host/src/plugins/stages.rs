//! Baselines and hooks at their places in the pipeline: each plugin is called
//! over the root as it is at that point, and the root changes it asked for are
//! carried out right after, before the next plugin runs.

use std::sync::Arc;

use anyhow::Context;

use super::carry_out;
use super::{
    ActivePlugin, BaselineRequest, BuildPlugins, Family, HookRequest, ImageIdentity, PluginRuntime,
    Stage,
};
use crate::description::PackageManager;
use crate::packages::in_root::InRootPackages;
use crate::packages::PackageTool;
use crate::plan::BuildPlan;
use crate::rootfs::files::RootDir;
use crate::rootfs::RootTree;
use crate::toolbox::ArtifactInfo;

impl Family {
    /// The family a package manager belongs to (none for apk and pacman).
    pub fn of(package_manager: PackageManager) -> Option<Family> {
        match package_manager {
            PackageManager::Apt => Some(Family::Debian),
            PackageManager::Dnf4 | PackageManager::Dnf5 | PackageManager::Microdnf => {
                Some(Family::Rhel)
            }
            PackageManager::Zypper => Some(Family::Suse),
            PackageManager::Apk | PackageManager::Pacman => None,
        }
    }

    /// The family of a root, from `/etc/os-release` `ID` and `ID_LIKE`.
    pub fn from_os_release(id: &str, id_like: &str) -> Option<Family> {
        std::iter::once(id)
            .chain(id_like.split_whitespace())
            .find_map(|word| match word {
                "debian" | "ubuntu" => Some(Family::Debian),
                "rhel" | "centos" | "fedora" | "rocky" | "almalinux" => Some(Family::Rhel),
                "suse" | "opensuse" | "sles" | "sled" => Some(Family::Suse),
                _ => None,
            })
    }
}

/// The plugins of one build with what every call is passed.
pub struct PipelinePlugins<'a> {
    /// Runs them.
    pub runtime: &'a PluginRuntime,
    /// Which run where.
    pub plugins: &'a BuildPlugins,
    /// The image.
    pub image: ImageIdentity,
    /// Its family.
    pub family: Family,
    /// Selected profiles.
    pub profiles: Vec<String>,
}

impl<'a> PipelinePlugins<'a> {
    /// The plugins of `plan`'s build.
    pub fn new(
        runtime: &'a PluginRuntime,
        plugins: &'a BuildPlugins,
        plan: &BuildPlan,
    ) -> anyhow::Result<Self> {
        let family = Family::of(plan.package_manager).with_context(|| {
            format!(
                "package manager {:?} belongs to no distribution family plugins know",
                plan.package_manager
            )
        })?;
        Ok(PipelinePlugins {
            runtime,
            plugins,
            image: ImageIdentity {
                name: plan.name.clone(),
                version: plan.version.clone(),
                arch: plan.arch.clone(),
            },
            family,
            profiles: plan.profiles.clone(),
        })
    }

    /// Whether any baseline or hook runs at all.
    pub fn is_empty(&self) -> bool {
        self.plugins.baselines.is_empty() && self.plugins.hooks.is_empty()
    }

    /// What makes the root after `post-bootstrap` differ: each hook of that
    /// stage, its component, options and grants (for the root cache key).
    pub fn post_bootstrap_fingerprint(&self) -> Vec<String> {
        self.plugins
            .hooks_at(Stage::PostBootstrap)
            .map(|h| {
                let grants: Vec<&str> = h.grants.iter().map(|c| c.name()).collect();
                format!("{} {:?} {}", h.plugin.digest, h.options, grants.join(","))
            })
            .collect()
    }

    /// Applies every baseline, in order, carrying out each one's changes
    /// before the next baseline reads the root.
    pub fn apply_baselines(
        &self,
        root: &RootDir,
        packages: &dyn PackageTool,
    ) -> anyhow::Result<()> {
        for baseline in &self.plugins.baselines {
            let tree = open_tree(root)?;
            let release = crate::sbom::OsRelease::read(&tree)
                .ok()
                .and_then(|os| os.version_id)
                .unwrap_or_default();
            let request = BaselineRequest {
                image: self.image.clone(),
                family: self.family,
                release,
                profiles: self.profiles.clone(),
                options: baseline.options.clone(),
            };
            let label = baseline.plugin.label();
            tracing::info!("baseline {label}");
            let requested =
                self.runtime
                    .apply_baseline(&baseline.plugin, tree, &request, &baseline.grants)?;
            carry(root, packages, baseline, &requested)?;
        }
        Ok(())
    }

    /// Runs the hooks of `stage`, in order, carrying out each one's changes
    /// before the next hook reads the root.
    pub fn run_hooks(
        &self,
        stage: Stage,
        root: &RootDir,
        packages: &dyn PackageTool,
        artifacts: &[ArtifactInfo],
    ) -> anyhow::Result<()> {
        for hook in self.plugins.hooks_at(stage) {
            let tree = open_tree(root)?;
            let request = HookRequest {
                image: self.image.clone(),
                options: hook.options.clone(),
                artifacts: artifacts.to_vec(),
            };
            tracing::info!("hook {} at {stage}", hook.plugin.label());
            let requested =
                self.runtime
                    .run_hook(&hook.plugin, stage, tree, &request, &hook.grants)?;
            carry(root, packages, hook, &requested)?;
        }
        Ok(())
    }
}

fn open_tree(root: &RootDir) -> anyhow::Result<Arc<RootTree>> {
    let tree = RootTree::open(root.host_path())
        .with_context(|| format!("opening root {}", root.host_path().display()))?;
    Ok(Arc::new(tree))
}

fn carry(
    root: &RootDir,
    packages: &dyn PackageTool,
    plugin: &ActivePlugin,
    requested: &[super::RootChange],
) -> anyhow::Result<()> {
    carry_out::carry_out(
        root,
        packages,
        &plugin.plugin.label(),
        &plugin.plugin.info.name,
        requested,
    )
}

/// What `builder plugin run` asks: one hook or baseline over a root directory.
#[derive(Debug, Clone)]
pub struct TryRequest {
    /// The root directory.
    pub root: std::path::PathBuf,
    /// A hook's stage (`None`: the first it serves).
    pub stage: Option<String>,
    /// Options as given.
    pub options: Vec<(String, String)>,
    /// What is granted.
    pub grants: super::Grants,
    /// The family (`None`: read from the root's `/etc/os-release`).
    pub family: Option<Family>,
    /// Print the requested changes instead of carrying them out.
    pub dry_run: bool,
}

/// Runs `plugin` (a hook or a baseline) once over `request.root`, then
/// carries out (or prints) the root changes it asked for.
pub fn try_plugin(
    runtime: &PluginRuntime,
    plugin: &super::Plugin,
    request: &TryRequest,
) -> anyhow::Result<()> {
    let root = RootDir::open(&request.root)?;
    let tree = open_tree(&root)?;
    let options = plugin
        .info
        .resolve_options(&request.options)
        .map_err(|e| anyhow::anyhow!("plugin {}: {e}", plugin.label()))?;
    let os = crate::sbom::OsRelease::read(&tree).ok();
    let family = request.family.or_else(|| {
        let os = os.as_ref()?;
        Family::from_os_release(&os.id, os.id_like.as_deref().unwrap_or_default())
    });
    let image = ImageIdentity {
        name: os
            .as_ref()
            .map_or_else(|| "image".into(), |os| os.id.clone()),
        version: os
            .as_ref()
            .and_then(|os| os.version_id.clone())
            .unwrap_or_else(|| "0".into()),
        arch: std::env::consts::ARCH.to_string(),
    };
    let requested = match &plugin.info.role {
        super::Role::Hook(served) => {
            let stage = match &request.stage {
                None => *served.first().context("the hook serves no stage")?,
                Some(name) => *served
                    .iter()
                    .find(|s| s.to_string() == *name)
                    .with_context(|| {
                        let names: Vec<String> = served.iter().map(|s| s.to_string()).collect();
                        format!(
                            "plugin {} does not run at stage `{name}` (it serves: {})",
                            plugin.label(),
                            names.join(", ")
                        )
                    })?,
            };
            let hook_request = HookRequest {
                image,
                options,
                artifacts: Vec::new(),
            };
            runtime.run_hook(plugin, stage, tree, &hook_request, &request.grants)?
        }
        super::Role::Baseline => {
            let family = family.context(
                "the root's /etc/os-release names no family this host knows: give --family",
            )?;
            let baseline_request = BaselineRequest {
                release: image.version.clone(),
                image,
                family,
                profiles: Vec::new(),
                options,
            };
            runtime.apply_baseline(plugin, tree, &baseline_request, &request.grants)?
        }
        super::Role::ImageType(_) => anyhow::bail!(
            "plugin {} is an image type: build with `builder create`",
            plugin.label()
        ),
    };
    if request.dry_run {
        for change in &requested {
            println!("{}", serde_json::to_string(change)?);
        }
        return Ok(());
    }
    let in_root;
    let packages: &dyn PackageTool = match family {
        Some(family) => {
            in_root = InRootPackages::new(&root, family);
            &in_root
        }
        None => &UnknownFamily,
    };
    let result = carry_out::carry_out(
        &root,
        packages,
        &plugin.label(),
        &plugin.info.name,
        &requested,
    );
    if result.is_err() {
        crate::rootfs::mounts::unmount_below(root.host_path());
    }
    result?;
    for change in &requested {
        println!("{}", carry_out::describe(change));
    }
    Ok(())
}

/// Packages for a root whose family is unknown: every request fails.
struct UnknownFamily;

impl PackageTool for UnknownFamily {
    fn install(&self, _: &[String]) -> anyhow::Result<()> {
        anyhow::bail!("the root's /etc/os-release names no family this host knows: give --family")
    }

    fn remove(&self, names: &[String]) -> anyhow::Result<()> {
        self.install(names)
    }
}
