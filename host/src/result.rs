//! `builder.result.json`, the result manifest of a build: what `builder
//! run` writes ([`RunResult`]), and what `builder diff`, `builder verify`
//! and rebuilds read back from it ([`Recorded`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plugins::ImageIdentity;
use crate::sbom::SbomOutputs;
use crate::toolbox::ArtifactInfo;

/// The result manifest's file name in the target directory.
pub const RESULT_FILE: &str = "builder.result.json";

/// The result manifest, written as `builder.result.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Version of this JSON form.
    pub result_version: u32,
    /// The builder that made it.
    pub builder: String,
    /// The description file.
    pub description: PathBuf,
    /// Image name, version, arch.
    pub image: ImageIdentity,
    /// The image type built.
    pub image_type: String,
    /// Profiles in effect.
    pub profiles: Vec<String>,
    /// Artifacts with sizes and digests.
    pub artifacts: Vec<ArtifactInfo>,
    /// Package list and SBOM files.
    pub sbom: Option<SbomOutputs>,
    /// The provenance file (an in-toto Statement in a DSSE envelope).
    pub provenance: Option<String>,
    /// Plugins that ran: name, version, world, source, sha256.
    pub plugins: Vec<PluginUse>,
    /// Each phase and its duration in seconds, in order.
    pub phases: Vec<PhaseTiming>,
    /// KIWI's boot packages the description names that builder left out,
    /// and what it does in their place.
    pub substituted: Vec<crate::plan::kiwi_boot::Substitution>,
}

/// A plugin that took part.
#[derive(Debug, Clone, Serialize)]
pub struct PluginUse {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// World.
    pub world: String,
    /// Contract version.
    pub api: String,
    /// Where it came from.
    pub source: String,
    /// SHA-256 of the component.
    pub sha256: String,
}

/// One phase's duration.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    /// Phase name.
    pub phase: String,
    /// Seconds.
    pub seconds: f64,
}

/// What `builder.result.json` records that a rebuild (and `builder diff`)
/// needs.
#[derive(Debug, Deserialize)]
pub struct Recorded {
    /// The description file built.
    pub description: PathBuf,
    /// Profiles in effect.
    pub profiles: Vec<String>,
    /// The image type (`image` attribute).
    pub image_type: String,
    /// Name, version, arch.
    pub image: RecordedImage,
    /// Artifacts.
    pub artifacts: Vec<RecordedFile>,
    /// Package list, SBOMs, root manifest.
    pub sbom: Option<RecordedSbom>,
    /// The provenance file's name.
    pub provenance: Option<String>,
}

impl Recorded {
    /// What the result manifest in `target_dir` records.
    pub fn read(target_dir: &Path) -> anyhow::Result<Recorded> {
        use anyhow::Context;
        let path = target_dir.join(RESULT_FILE);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "reading {} (hint: `builder run --target-dir` writes it)",
                path.display()
            )
        })?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a builder result", path.display()))
    }
}

/// The image's identity as recorded.
#[derive(Debug, Deserialize)]
pub struct RecordedImage {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
}

/// An artifact as recorded.
#[derive(Debug, Deserialize)]
pub struct RecordedFile {
    /// File name in the target directory.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
}

/// The SBOM files as recorded.
#[derive(Debug, Deserialize)]
pub struct RecordedSbom {
    /// File names in the target directory.
    pub files: Vec<String>,
}
