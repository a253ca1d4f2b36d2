//! `builder run`: the whole pipeline for one description — plan, prepare the
//! root with the distribution's package manager, let the image-type plugin
//! build the artifacts, then checksums, package list, SBOMs and the result
//! manifest (`builder.result.json`) in the target directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::create::{self, CreateRequest};
use crate::packages::in_root::InRootPackages;
use crate::packages::MirrorOverride;
use crate::plan::{BuildPlan, PlanRequest};
use crate::plugins::select::{select, Purpose};
use crate::plugins::{PipelinePlugins, Plugin, PluginRuntime, Stage};
use crate::prepare::{prepare, run_stage_scripts, PrepareRequest};
use crate::rootfs::files::RootDir;
use crate::toolbox::ArtifactInfo;

pub use crate::result::{PhaseTiming, PluginUse, RunResult};

/// What to build.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The description directory.
    pub description: PathBuf,
    /// Where artifacts go.
    pub target_dir: PathBuf,
    /// Profiles, type and arch.
    pub plan: PlanRequest,
    /// Replaces the `host://` repository lookup.
    pub mirror: MirrorOverride,
    /// Dated snapshots the build repositories are read from instead.
    pub snapshots: Vec<crate::packages::Snapshot>,
    /// A lock the build must install exactly (`--locked`).
    pub locked: Option<std::sync::Arc<crate::packages::lock::Lock>>,
    /// The package cache directory shared between builds (`None`: no cache).
    pub package_cache: Option<PathBuf>,
    /// The prepared-root cache directory (`None`: always bootstrap).
    pub root_cache: Option<PathBuf>,
    /// Where compressed xz chunks are kept between builds (`None`: no cache).
    pub xz_cache: Option<PathBuf>,
    /// Keep the prepared root here instead of a temporary directory.
    pub root: Option<PathBuf>,
    /// `SOURCE_DATE_EPOCH`, if set.
    pub source_date_epoch: Option<i64>,
    /// How much memory a root prepared on a root cache miss may take.
    pub memory_root: crate::prepare::memory::MemoryBudget,
    /// The remote cache prepared roots are shared through.
    pub remote: Option<crate::caches::remote::RemoteSpec>,
    /// Signs the provenance; without it the envelope has no signature.
    pub signing_key: Option<std::sync::Arc<crate::provenance::keys::SigningKey>>,
}

fn timing(phase: &str, d: Duration) -> PhaseTiming {
    PhaseTiming {
        phase: phase.to_string(),
        seconds: (d.as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

/// Plan, prepare, create: one image from one description.
pub fn run(
    runtime: &PluginRuntime,
    plugins: &[Plugin],
    request: &RunRequest,
) -> anyhow::Result<RunResult> {
    let started = Instant::now();
    let description = crate::description::load(&request.description)?;
    let plan: BuildPlan = crate::plan::plan(&description, &request.plan)?;
    if let Some(lock) = &request.locked {
        lock.check_plan(&plan)?;
    }
    let type_name = plan.image_type.image.clone();
    // Everything that can be checked is checked before any package is
    // installed: every plugin found, pinned, granted, its options valid.
    let selected = select(runtime, plugins, &plan, Purpose::Build)?;
    let Some(image_type) = selected.image_type.as_ref() else {
        anyhow::bail!("no plugin builds image type `{type_name}`");
    };
    refuse_what_needs_root(&plan.image_type)?;
    let pipeline = PipelinePlugins::new(runtime, &selected, &plan)?;
    let vagrant = crate::plugins::VagrantConfig::from_plan(&plan)?;
    let mut phases = vec![timing("plan", started.elapsed())];

    let work =
        crate::rootfs::command::temp_dir().context("creating a work directory in /var/tmp")?;
    let root = request
        .root
        .clone()
        .unwrap_or_else(|| work.path().join("root"));
    let mut report = prepare(
        &plan,
        &PrepareRequest {
            root: root.clone(),
            mirror: request.mirror.clone(),
            snapshots: locked_snapshots(request),
            lock: match &request.locked {
                Some(lock) => crate::packages::lock::LockMode::Check(lock.clone()),
                None => crate::packages::lock::LockMode::Off,
            },
            package_cache: request.package_cache.clone(),
            root_cache: request.root_cache.clone(),
            // A root of its own only when asked to keep it.
            layer_dir: request.root.is_none().then(|| work.path().join("layer")),
            memory_root: request.memory_root,
            remote: request.remote.clone(),
        },
        &pipeline,
    )?;
    phases.extend(
        report
            .phases
            .iter()
            .map(|(phase, d)| timing(&format!("prepare: {phase}"), *d)),
    );

    let pre_image_started = Instant::now();
    crate::interrupt::check("pre-image")?;
    crate::progress::phase("pre-image");
    run_stage_scripts(&plan, &root, "pre-image")
        .and_then(|()| run_hooks(&pipeline, Stage::PreImage, &root, &[]))
        .context("phase `pre-image`")?;
    phases.push(timing("pre-image", pre_image_started.elapsed()));

    // The xz chunks other machines made of this root's images.
    let xz_shared = match (&report.remote, &request.xz_cache) {
        (Some(shared), Some(dir)) => Some((shared.xz_tag(), dir.clone())),
        _ => None,
    };
    if let (Some(shared), Some((tag, dir))) = (&report.remote, &xz_shared) {
        let started = Instant::now();
        shared.remote.fetch_files(tag, dir);
        phases.push(timing("remote-xz", started.elapsed()));
    }

    let create_started = Instant::now();
    crate::progress::phase("create");
    let outcome = create::create(
        runtime,
        std::slice::from_ref(&image_type.plugin),
        &CreateRequest {
            root: root.clone(),
            target_dir: request.target_dir.clone(),
            type_name: type_name.clone(),
            image: pipeline.image.clone(),
            options: image_type.options.clone(),
            options_from_description: true,
            extra_grants: image_type.grants.clone(),
            source_date_epoch: request.source_date_epoch,
            xz_cache: request.xz_cache.clone(),
            size: plan
                .image_type
                .size
                .as_ref()
                .map(|size| crate::plugins::ImageSize {
                    bytes: size.mbytes << 20,
                    additive: size.additive.unwrap_or(false),
                }),
            settings: crate::plugins::Setting::flatten(&plan.image_type.elements),
            files: vagrant
                .as_ref()
                .and_then(|v| v.embedded_vagrantfile_file())
                .into_iter()
                .collect(),
            vagrant,
            package_digests: std::mem::take(&mut report.package_digests),
        },
    )
    .context("phase `create`")?;
    phases.push(timing("create", create_started.elapsed()));

    if selected.hooks_at(Stage::PostImage).next().is_some() {
        let post_image_started = Instant::now();
        crate::interrupt::check("post-image")?;
        crate::progress::phase("post-image");
        run_hooks(&pipeline, Stage::PostImage, &root, &outcome.artifacts)
            .context("phase `post-image`")?;
        phases.push(timing("post-image", post_image_started.elapsed()));
    }
    // The root is let go; its cache entry, the packages and the xz chunks
    // go to the remote cache.
    if let Some(took) = report.share_root() {
        phases.push(timing("share-root", took));
    }
    if let (Some(shared), Some((tag, dir))) = (&report.remote, &xz_shared) {
        shared.remote.store_files(tag, dir, "xz");
    }
    let sbom = outcome.sbom;
    let mut result = RunResult {
        result_version: 1,
        builder: env!("CARGO_PKG_VERSION").to_string(),
        description: plan.description.clone(),
        image: pipeline.image.clone(),
        image_type: type_name,
        profiles: plan.profiles.clone(),
        artifacts: outcome.artifacts,
        sbom,
        provenance: None,
        plugins: selected
            .all()
            .map(|active| PluginUse {
                name: active.plugin.info.name.clone(),
                version: active.plugin.info.version.clone(),
                world: active.plugin.world.to_string(),
                api: format!("builder:plugin@{}", active.plugin.api_version),
                source: active.plugin.source.to_string(),
                sha256: active.plugin.digest.clone(),
            })
            .collect(),
        phases,
        substituted: plan.packages.substituted.clone(),
    };
    result.provenance = Some(write_provenance(request, &result)?);
    write_manifest(&request.target_dir, &result)?;
    Ok(result)
}

/// Refuses, in a rootless build and before anything is installed, an
/// image type with a filesystem only root can fill (issue 19).
fn refuse_what_needs_root(image_type: &crate::description::ImageType) -> anyhow::Result<()> {
    let mut named = vec![("image", image_type.image.as_str())];
    for key in ["filesystem", "bootfilesystem", "spare_part_fs"] {
        named.extend(image_type.attributes.get(key).map(|fs| (key, fs)));
    }
    for partition in image_type.partitions.iter().flat_map(|p| &p.children) {
        let fs = partition.attributes.get("filesystem");
        named.extend(fs.map(|fs| ("<partition filesystem>", fs)));
    }
    for (setting, fs) in named {
        if let Some(why) = crate::toolbox::filesystems::rootless_refusal(fs) {
            anyhow::bail!(
                "rootless build: <type image=\"{}\"> {setting}=\"{fs}\": {why}",
                image_type.image
            );
        }
    }
    Ok(())
}

/// The snapshots a build reads: those given, or, for a locked build given
/// none, the ones its lock was made from.
pub fn locked_snapshots(request: &RunRequest) -> Vec<crate::packages::Snapshot> {
    match &request.locked {
        Some(lock) if request.snapshots.is_empty() => lock.snapshots(),
        _ => request.snapshots.clone(),
    }
}

/// Hooks of a stage after prepare: packages they ask for come from the
/// repositories the finished image is configured with.
fn run_hooks(
    pipeline: &PipelinePlugins<'_>,
    stage: Stage,
    root: &Path,
    artifacts: &[ArtifactInfo],
) -> anyhow::Result<()> {
    if pipeline.plugins.hooks_at(stage).next().is_none() {
        return Ok(());
    }
    let dir = RootDir::open(root).with_context(|| format!("opening root {}", root.display()))?;
    let packages = InRootPackages::new(&dir, pipeline.family);
    let result = pipeline.run_hooks(stage, &dir, &packages, artifacts);
    if result.is_err() {
        crate::rootfs::mounts::unmount_below(root);
    }
    result
}

/// `<image>.<arch>-<version>.intoto.jsonl` in the target directory: what
/// was made, from what, signed when a key was given.
fn write_provenance(request: &RunRequest, result: &RunResult) -> anyhow::Result<String> {
    let statement = crate::provenance::statement(&crate::provenance::Inputs {
        result,
        description_dir: &request.description,
        packages: result
            .sbom
            .as_ref()
            .map(|sbom| sbom.dependencies.as_slice())
            .unwrap_or_default(),
        source_date_epoch: request.source_date_epoch,
        target_dir: &request.target_dir,
    })?;
    let image = &result.image;
    let name =
        crate::provenance::file_name(&format!("{}.{}-{}", image.name, image.arch, image.version));
    crate::provenance::write(
        &request.target_dir,
        &name,
        &statement,
        request.signing_key.as_deref(),
    )?;
    Ok(name)
}

fn write_manifest(target_dir: &Path, result: &RunResult) -> anyhow::Result<()> {
    let path = target_dir.join("builder.result.json");
    let mut text = serde_json::to_string_pretty(result)?;
    text.push('\n');
    crate::toolbox::artifacts::write_file(target_dir, "builder.result.json", text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
