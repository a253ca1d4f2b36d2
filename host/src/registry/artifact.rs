//! `builder push` and `builder pull`: one build's results as one OCI
//! artifact. The manifest's `artifactType` says it is a builder golden
//! image; each file (the artifacts, their checksums, the package list, the
//! SBOMs, the provenance and `builder.result.json`) is a blob of its own
//! media type, named by its `org.opencontainers.image.title`. The SBOMs are
//! also attached to the artifact as referrers (OCI 1.1), so a scanner that
//! asks the registry for an image's SBOMs finds them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use oci_client::manifest::{OciDescriptor, OciImageIndex, OciManifest, OCI_IMAGE_INDEX_MEDIA_TYPE};

use super::{title_of, titled, Artifact, OciLocation, Registry, TITLE};
use crate::result::RESULT_FILE;

/// The `artifactType` of a pushed build.
pub const GOLDEN_IMAGE: &str = "application/vnd.builder.golden-image.v1";

/// What `push` stored.
#[derive(Debug)]
pub struct Pushed {
    /// The manifest's digest.
    pub digest: String,
    /// The files, by name, with their digests.
    pub files: Vec<(String, String)>,
    /// The SBOM referrers' manifest digests.
    pub referrers: Vec<String>,
}

/// Publishes the build in `target_dir` (as its `builder.result.json`
/// lists it) at `location`, which must carry a tag.
pub fn push(target_dir: &Path, location: &OciLocation, insecure: bool) -> anyhow::Result<Pushed> {
    let tag = location
        .tag
        .clone()
        .with_context(|| format!("{location}: say which tag to push to (oci://HOST/REPO:TAG)"))?;
    let recorded = crate::result::Recorded::read(target_dir)?;
    let files = build_files(target_dir, &recorded)?;
    let registry = Registry::connect(location, insecure)?;
    let mut layers = Vec::new();
    let mut pushed_files = Vec::new();
    for (name, media_type) in &files {
        let (digest, size) = registry.push_file(&target_dir.join(name))?;
        tracing::debug!(file = %name, %digest, "pushed");
        pushed_files.push((name.clone(), digest.clone()));
        layers.push(titled(media_type, &digest, size, name));
    }
    let annotations = BTreeMap::from([
        (TITLE.to_string(), recorded.image.name.clone()),
        (
            "org.opencontainers.image.version".to_string(),
            recorded.image.version.clone(),
        ),
        (
            "dev.builder.image-type".to_string(),
            recorded.image_type.clone(),
        ),
        ("dev.builder.arch".to_string(), recorded.image.arch.clone()),
    ]);
    let subject = registry.push_artifact(
        Artifact {
            artifact_type: GOLDEN_IMAGE.to_string(),
            layers: layers.clone(),
            subject: None,
            annotations,
        },
        Some(&tag),
    )?;
    let referrers = attach_sboms(&registry, &subject, &layers)?;
    let digest = subject.digest;
    Ok(Pushed {
        digest,
        files: pushed_files,
        referrers,
    })
}

/// Fetches the build pushed at `location` (a tag, or `@sha256:…` as the
/// tag's place) into `target_dir`, each file checked against its digest.
/// Returns the file names.
pub fn pull(
    location: &OciLocation,
    target_dir: &Path,
    insecure: bool,
) -> anyhow::Result<Vec<String>> {
    let tag = location.tag.clone().unwrap_or_else(|| "latest".to_string());
    let registry = Registry::connect(location, insecure)?;
    let (manifest, _) = registry.pull_manifest(&tag)?;
    anyhow::ensure!(
        manifest.artifact_type.as_deref() == Some(GOLDEN_IMAGE),
        "{location}: not a build builder pushed (artifactType {:?}, expected {GOLDEN_IMAGE})",
        manifest.artifact_type
    );
    let mut names = Vec::new();
    for layer in &manifest.layers {
        names.push(
            safe_title(layer).with_context(|| format!("{location}: layer {}", layer.digest))?,
        );
    }
    std::fs::create_dir_all(target_dir)
        .with_context(|| format!("creating {}", target_dir.display()))?;
    for (layer, name) in manifest.layers.iter().zip(&names) {
        let path = target_dir.join(name);
        anyhow::ensure!(
            !path.exists(),
            "{}: already there; pull into an empty directory",
            path.display()
        );
        registry.pull_to_file(layer, &path)?;
        tracing::debug!(file = %name, digest = %layer.digest, "pulled");
    }
    Ok(names)
}

/// The files of the build in `target_dir` with their media types: the
/// artifacts and their `.sha256`, the SBOM files, the provenance, and the
/// result manifest, as `builder.result.json` lists them.
fn build_files(
    target_dir: &Path,
    recorded: &crate::result::Recorded,
) -> anyhow::Result<Vec<(String, String)>> {
    let result_path = target_dir.join(RESULT_FILE);
    let mut names: Vec<String> = Vec::new();
    for artifact in &recorded.artifacts {
        names.push(artifact.file_name.clone());
        let checksum = format!("{}.sha256", artifact.file_name);
        if target_dir.join(&checksum).is_file() {
            names.push(checksum);
        }
    }
    names.extend(recorded.sbom.iter().flat_map(|s| s.files.iter().cloned()));
    names.extend(recorded.provenance.iter().cloned());
    names.push(RESULT_FILE.to_string());
    let mut files = Vec::new();
    for name in names {
        anyhow::ensure!(
            is_plain_name(&name),
            "{}: `{name}` is not a file name in the target directory",
            result_path.display()
        );
        anyhow::ensure!(
            target_dir.join(&name).is_file(),
            "{}: lists `{name}`, which is not in {}",
            result_path.display(),
            target_dir.display()
        );
        let stem = format!(
            "{}.{}-{}.",
            recorded.image.name, recorded.image.arch, recorded.image.version
        );
        let media_type = media_type_of(&name, &stem);
        files.push((name, media_type));
    }
    Ok(files)
}

/// The media type a file of a build is pushed with; `stem` is the image's
/// `NAME.ARCH-VERSION.` its artifacts' names start with.
pub fn media_type_of(name: &str, stem: &str) -> String {
    let known = [
        (RESULT_FILE, "application/vnd.builder.result.v1+json"),
        (".cdx.json", "application/vnd.cyclonedx+json"),
        (".spdx.json", "application/spdx+json"),
        (".intoto.jsonl", "application/vnd.dsse.envelope.v1+json"),
        (".packages", "application/vnd.builder.packages.v1"),
        (".files", "application/vnd.builder.files.v1"),
        (".sha256", "application/vnd.builder.sha256.v1"),
    ];
    if let Some((_, media_type)) = known.iter().find(|(end, _)| name.ends_with(end)) {
        return media_type.to_string();
    }
    // An image: its format is what follows the stem.
    let format = name
        .strip_prefix(stem)
        .filter(|f| !f.is_empty())
        .unwrap_or("file");
    let format: String = format
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("application/vnd.builder.image.{format}")
}

/// The SBOMs among `layers`, each attached to `subject` by a referrer
/// manifest; where the registry has no referrers API, the referrers tag
/// schema's index (`sha256-<hex>`) is written too.
fn attach_sboms(
    registry: &Registry,
    subject: &OciDescriptor,
    layers: &[OciDescriptor],
) -> anyhow::Result<Vec<String>> {
    let sboms: Vec<&OciDescriptor> = layers
        .iter()
        .filter(|l| {
            l.media_type == "application/vnd.cyclonedx+json"
                || l.media_type == "application/spdx+json"
        })
        .collect();
    let mut referrers = Vec::new();
    for sbom in &sboms {
        referrers.push(registry.push_artifact(
            Artifact {
                artifact_type: sbom.media_type.clone(),
                layers: vec![(*sbom).clone()],
                subject: Some(subject.clone()),
                annotations: BTreeMap::new(),
            },
            None,
        )?);
    }
    if referrers.is_empty() {
        return Ok(Vec::new());
    }
    // A registry with the referrers API lists them now; else keep the
    // tag schema's index, adding to what it held.
    let listed = registry.referrers(&subject.digest)?;
    let missing: Vec<&OciDescriptor> = referrers
        .iter()
        .filter(|r| !listed.manifests.iter().any(|m| m.digest == r.digest))
        .collect();
    if !missing.is_empty() {
        let mut index = listed.clone();
        for (referrer, sbom) in referrers.iter().zip(&sboms) {
            if !index.manifests.iter().any(|m| m.digest == referrer.digest) {
                index.manifests.push(oci_client::manifest::ImageIndexEntry {
                    media_type: referrer.media_type.clone(),
                    digest: referrer.digest.clone(),
                    size: referrer.size,
                    platform: None,
                    annotations: None,
                    artifact_type: Some(sbom.media_type.clone()),
                });
            }
        }
        let index = OciImageIndex {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_INDEX_MEDIA_TYPE.to_string()),
            manifests: index.manifests,
            artifact_type: None,
            annotations: None,
        };
        let tag = subject.digest.replace(':', "-");
        registry.push_manifest(&OciManifest::ImageIndex(index), Some(&tag))?;
    }
    Ok(referrers.into_iter().map(|r| r.digest).collect())
}

/// A layer's title, when it is a plain file name (a pulled artifact never
/// names a path outside the target directory).
fn safe_title(layer: &OciDescriptor) -> anyhow::Result<String> {
    let title = title_of(layer).context("has no title (org.opencontainers.image.title)")?;
    anyhow::ensure!(
        is_plain_name(title),
        "its title `{title}` is not a plain file name"
    );
    Ok(title.to_string())
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
        && Path::new(name).components().count() == 1
}

/// Where `builder pull` puts the files when no directory is given.
pub fn default_pull_dir(location: &OciLocation) -> PathBuf {
    PathBuf::from(location.repository.rsplit('/').next().unwrap_or("pulled"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_of_a_build_gets_its_media_type() {
        for (name, media_type) in [
            (
                "builder.result.json",
                "application/vnd.builder.result.v1+json",
            ),
            (
                "debian-cloud.x86_64-1.0.0.cdx.json",
                "application/vnd.cyclonedx+json",
            ),
            (
                "debian-cloud.x86_64-1.0.0.spdx.json",
                "application/spdx+json",
            ),
            (
                "debian-cloud.x86_64-1.0.0.intoto.jsonl",
                "application/vnd.dsse.envelope.v1+json",
            ),
            (
                "debian-cloud.x86_64-1.0.0.qcow2",
                "application/vnd.builder.image.qcow2",
            ),
            (
                "debian-cloud.x86_64-1.0.0.tar.xz",
                "application/vnd.builder.image.tar.xz",
            ),
            (
                "Demo.x86_64-1.0.0.vagrant.libvirt.box",
                "application/vnd.builder.image.vagrant.libvirt.box",
            ),
            (
                "debian-cloud.x86_64-1.0.0.qcow2.sha256",
                "application/vnd.builder.sha256.v1",
            ),
        ] {
            let stem = if name.starts_with("Demo") {
                "Demo.x86_64-1.0.0."
            } else {
                "debian-cloud.x86_64-1.0.0."
            };
            assert_eq!(media_type_of(name, stem), media_type, "{name}");
        }
    }

    #[test]
    fn only_plain_titles_are_pulled() {
        let layer = |title: &str| titled("x", "sha256:00", 1, title);
        assert_eq!(safe_title(&layer("a.qcow2")).unwrap(), "a.qcow2");
        for bad in ["../x", "/etc/passwd", "a/b", "..", ".", ""] {
            assert!(safe_title(&layer(bad)).is_err(), "{bad}");
        }
        assert!(safe_title(&OciDescriptor::default()).is_err());
    }
}
