//! `builder create`: run an image-type plugin over a prepared root tree and
//! write its artifacts (with `.sha256` files) into the target directory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};

use crate::plugins::{BuildRequest, Grants, ImageIdentity, Plugin, PluginRuntime, Role};
use crate::rootfs::RootTree;
use crate::sbom::{OsRelease, SbomOutputs, SbomSubject};
use crate::toolbox::xz_chunks::ChunkCache;
use crate::toolbox::{ArtifactInfo, TargetDir};

/// What to create.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// The prepared root tree.
    pub root: PathBuf,
    /// Where artifacts go.
    pub target_dir: PathBuf,
    /// The image type (`tbz`, ...).
    pub type_name: String,
    /// The image's name, version and arch.
    pub image: ImageIdentity,
    /// Type options (`name=value`), checked against the plugin's specs.
    pub options: Vec<(String, String)>,
    /// Options come from a description's `<type>` attributes: those the
    /// plugin does not declare pass through unchecked (KIWI attributes no
    /// plugin reads yet); from the command line they are errors.
    pub options_from_description: bool,
    /// Grants beyond the image-type defaults.
    pub extra_grants: Grants,
    /// `SOURCE_DATE_EPOCH`, if set.
    pub source_date_epoch: Option<i64>,
    /// Where compressed xz chunks are kept between builds (`None`: no cache).
    pub xz_cache: Option<PathBuf>,
    /// The type's `<size>`, if any.
    pub size: Option<crate::plugins::ImageSize>,
    /// The type's first `<vagrantconfig>`, if any.
    pub vagrant: Option<crate::plugins::VagrantConfig>,
    /// The type's child elements, flattened.
    pub settings: Vec<crate::plugins::Setting>,
    /// Files of the description the settings name.
    pub files: Vec<(String, Vec<u8>)>,
    /// Package files' digests read before `prepare` emptied apt's lists
    /// (`PrepareReport::package_digests`): the SBOMs carry them. Empty when
    /// the root was prepared by an earlier command.
    pub package_digests: crate::sbom::PackageDigests,
}

/// What `create` produced.
#[derive(Debug, Clone)]
pub struct CreateOutcome {
    /// The plugin that built the artifacts, `name version`.
    pub plugin: String,
    /// The artifacts.
    pub artifacts: Vec<ArtifactInfo>,
    /// The package list and SBOMs, when the root has a package database.
    pub sbom: Option<SbomOutputs>,
}

/// The image-type plugin serving `type_name` among `plugins`.
pub fn plugin_for_type<'a>(plugins: &'a [Plugin], type_name: &str) -> anyhow::Result<&'a Plugin> {
    let serves = |p: &&Plugin| matches!(&p.info.role, Role::ImageType(types) if types.iter().any(|t| t == type_name));
    plugins.iter().find(serves).ok_or_else(|| {
        let known: Vec<String> = plugins
            .iter()
            .filter_map(|p| match &p.info.role {
                Role::ImageType(types) => Some(types.join(", ")),
                _ => None,
            })
            .collect();
        anyhow!(
            "no plugin builds image type `{type_name}` (available: {})",
            known.join(", ")
        )
    })
}

pub use crate::rootfs::sandbox::source_date_epoch_from_env;

/// Build the artifacts of `request.type_name` from `request.root`.
pub fn create(
    runtime: &PluginRuntime,
    plugins: &[Plugin],
    request: &CreateRequest,
) -> anyhow::Result<CreateOutcome> {
    let plugin = plugin_for_type(plugins, &request.type_name)?;
    if !request.root.is_dir() {
        bail!("root {}: not a directory", request.root.display());
    }
    // The initrd the install made, made again if the overlay, a script or
    // a removal changed what it is made from.
    crate::packages::initrd::refresh(&request.root)?;
    let root = Arc::new(
        RootTree::open(&request.root)
            .with_context(|| format!("opening root {}", request.root.display()))?,
    );
    let xz_cache = match &request.xz_cache {
        Some(dir) => Some(
            ChunkCache::open(dir)
                .with_context(|| format!("opening the xz chunk cache {}", dir.display()))?,
        ),
        None => None,
    };
    let target = TargetDir::create(&request.target_dir)
        .with_context(|| format!("creating target directory {}", request.target_dir.display()))?
        .with_xz_cache(xz_cache);
    let info = plugin.info.for_type(&request.type_name);
    let options = if request.options_from_description {
        info.resolve_description_options(&request.options)
    } else {
        info.resolve_options(&request.options)
    }
    .map_err(|e| anyhow!("type `{}`: {e}", request.type_name))?;
    let build = BuildRequest {
        image: request.image.clone(),
        type_name: request.type_name.clone(),
        options,
        source_date_epoch: request.source_date_epoch,
        size: request.size,
        vagrant: request.vagrant.clone(),
        settings: request.settings.clone(),
        files: request.files.clone(),
    };
    let mut grants = Grants::image_type_defaults();
    for c in request.extra_grants.iter() {
        grants.insert(c);
    }
    tracing::info!(
        "building {} with plugin {} from {}",
        request.type_name,
        plugin.label(),
        plugin.source
    );
    let artifacts = runtime.build_image(plugin, root.clone(), &target, &build, &grants)?;
    for artifact in &artifacts {
        write_checksum(&target, artifact)?;
    }
    let sbom = write_sbom(&root, &target, request)?;
    Ok(CreateOutcome {
        plugin: plugin.label(),
        artifacts,
        sbom,
    })
}

/// `.packages`, SPDX and CycloneDX files of the root's installed packages,
/// and the root's manifest (`.files`).
fn write_sbom(
    root: &RootTree,
    target: &TargetDir,
    request: &CreateRequest,
) -> anyhow::Result<Option<SbomOutputs>> {
    let os = match OsRelease::read(root) {
        Ok(os) => os,
        Err(_) => return Ok(None),
    };
    let created = match request.source_date_epoch {
        Some(epoch) => epoch,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let subject = SbomSubject {
        name: &request.image.name,
        version: &request.image.version,
        arch: &request.image.arch,
        os: &os,
        created,
    };
    let base = format!(
        "{}.{}-{}",
        request.image.name, request.image.arch, request.image.version
    );
    let outputs = crate::sbom::write_outputs(
        root,
        target.path(),
        &base,
        &subject,
        &request.package_digests,
    )
    .with_context(|| {
        format!(
            "writing the package list and SBOMs of {}",
            root.host_path().display()
        )
    })?;
    let Some(mut outputs) = outputs else {
        return Ok(None);
    };
    // Every path of the root with its digest: what `builder diff` compares.
    let name = format!("{base}.files");
    let listing = crate::rootfs::manifest::Manifest::of(root.host_path())
        .with_context(|| format!("listing the root {}", root.host_path().display()))?;
    crate::toolbox::artifacts::write_file(target.path(), &name, listing.to_text().as_bytes())
        .with_context(|| format!("writing {}", target.path().join(&name).display()))?;
    outputs.files.push(name);
    tracing::info!(
        "{} packages listed in {}",
        outputs.packages,
        outputs.files.join(", ")
    );
    Ok(Some(outputs))
}

/// `<artifact>.sha256` in `sha256sum`'s format.
fn write_checksum(target: &TargetDir, artifact: &ArtifactInfo) -> anyhow::Result<()> {
    let name = format!("{}.sha256", artifact.file_name);
    crate::toolbox::artifacts::write_file(
        target.path(),
        &name,
        format!("{}  {}\n", artifact.sha256, artifact.file_name).as_bytes(),
    )
    .with_context(|| format!("writing {}", target.path().join(&name).display()))
}
