//! Provenance of a build: an in-toto Statement with a SLSA v1.0 predicate,
//! naming every artifact with its SHA-256 and what it was made from, in a
//! DSSE envelope beside the artifacts (`<image>.<arch>-<version>.intoto.jsonl`);
//! and the check `builder verify-attestation` runs. The fields are
//! documented in `docs/provenance.md`.

pub mod dsse;
pub mod keys;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::result::RunResult;
use crate::sbom::Dependency;
use dsse::Envelope;
use keys::{SigningKey, VerifyingKey};

/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA provenance predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What `buildDefinition` describes: a `builder run` of a description; its
/// parameters are documented in `docs/provenance.md`.
pub const BUILD_TYPE: &str = "urn:builder:build-type:run:v1";
/// Who built: this program (its version goes beside the id).
pub const BUILDER_ID: &str = "urn:builder:builder:run";

/// The file name of a build's provenance.
pub fn file_name(base: &str) -> String {
    format!("{base}.intoto.jsonl")
}

/// What a statement is made of, besides the result manifest.
pub struct Inputs<'a> {
    /// The build's result (artifacts, image, type, profiles, plugins).
    pub result: &'a RunResult,
    /// The description directory.
    pub description_dir: &'a Path,
    /// The installed packages, as the SBOMs name them.
    pub packages: &'a [Dependency],
    /// `SOURCE_DATE_EPOCH`, when set.
    pub source_date_epoch: Option<i64>,
    /// The target directory, holding the artifacts and SBOM files.
    pub target_dir: &'a Path,
}

/// The in-toto Statement of a build.
pub fn statement(inputs: &Inputs<'_>) -> anyhow::Result<Value> {
    let result = inputs.result;
    let mut subjects = Vec::new();
    for artifact in &result.artifacts {
        subjects.push(subject(&artifact.file_name, &artifact.sha256));
    }
    for file in result.sbom.iter().flat_map(|sbom| &sbom.files) {
        let sha256 = file_sha256(&inputs.target_dir.join(file))
            .with_context(|| format!("provenance: hashing {file}"))?;
        subjects.push(subject(file, &sha256));
    }
    let description = description_digest(inputs.description_dir)?;
    let description_name = inputs
        .description_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut external = json!({
        "description": {
            "name": description_name,
            "digest": { "sha256": description },
        },
        "profiles": result.profiles,
        "imageType": result.image_type,
        "image": {
            "name": result.image.name,
            "version": result.image.version,
            "arch": result.image.arch,
        },
    });
    if let Some(file) = result.description.file_name() {
        external["description"]["file"] = json!(file.to_string_lossy());
    }
    let mut dependencies: Vec<Value> = inputs
        .packages
        .iter()
        .map(|package| {
            let mut entry = json!({ "uri": package.purl });
            if let Some(sha256) = &package.sha256 {
                entry["digest"] = json!({ "sha256": sha256 });
            }
            entry
        })
        .collect();
    dependencies.extend(result.plugins.iter().map(|plugin| {
        json!({
            "name": format!("plugin:{}", plugin.name),
            "digest": { "sha256": plugin.sha256 },
            "annotations": {
                "version": plugin.version,
                "world": plugin.world,
                "api": plugin.api,
            },
        })
    }));
    let mut definition = json!({
        "buildType": BUILD_TYPE,
        "externalParameters": external,
        "resolvedDependencies": dependencies,
    });
    if let Some(epoch) = inputs.source_date_epoch {
        definition["internalParameters"] = json!({ "sourceDateEpoch": epoch });
    }
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": definition,
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": { "builder": result.builder },
                },
            },
        },
    }))
}

fn subject(name: &str, sha256: &str) -> Value {
    json!({ "name": name, "digest": { "sha256": sha256 } })
}

/// Writes the statement, in its envelope (signed with `key` when given),
/// as `name` in `target_dir`: one JSON line.
pub fn write(
    target_dir: &Path,
    name: &str,
    statement: &Value,
    key: Option<&SigningKey>,
) -> anyhow::Result<()> {
    let payload = serde_json::to_vec(statement)?;
    let envelope = Envelope::new(dsse::IN_TOTO, &payload, key);
    let mut line = serde_json::to_string(&envelope)?;
    line.push('\n');
    crate::toolbox::artifacts::write_file(target_dir, name, line.as_bytes())
        .with_context(|| format!("provenance: writing {}", target_dir.join(name).display()))
}

/// What `builder verify-attestation` found for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The artifact's file name.
    pub name: String,
    /// Its SHA-256, as the statement and the file agree.
    pub sha256: String,
}

/// Checks every `*.intoto.jsonl` in `target_dir`: each envelope is signed
/// by `key`, holds an in-toto Statement with SLSA provenance, and every
/// subject is a file of `target_dir` with the SHA-256 it names. Returns the
/// subjects checked; fails naming each subject that differs or is missing.
pub fn verify(target_dir: &Path, key: &VerifyingKey) -> anyhow::Result<Vec<Checked>> {
    let mut files: Vec<_> = std::fs::read_dir(target_dir)
        .with_context(|| format!("verify-attestation: reading {}", target_dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".intoto.jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "verify-attestation: no provenance (*.intoto.jsonl) in {}; `builder run` writes it \
             beside the artifacts",
            target_dir.display()
        );
    }
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        let path = target_dir.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("verify-attestation: reading {}", path.display()))?;
        for (number, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let place = format!("{}:{}", path.display(), number + 1);
            let envelope: Envelope = serde_json::from_str(line)
                .with_context(|| format!("{place}: not a DSSE envelope"))?;
            if envelope.payload_type != dsse::IN_TOTO {
                bail!(
                    "{place}: payload type `{}` is not in-toto's",
                    envelope.payload_type
                );
            }
            let payload = envelope
                .verified_payload(key)
                .with_context(|| format!("{place}: signature"))?;
            let statement: Value = serde_json::from_slice(&payload)
                .with_context(|| format!("{place}: the payload is not JSON"))?;
            if statement["_type"] != STATEMENT_TYPE || statement["predicateType"] != PREDICATE_TYPE
            {
                bail!("{place}: not an in-toto Statement with SLSA v1 provenance");
            }
            let subjects = statement["subject"].as_array().cloned().unwrap_or_default();
            if subjects.is_empty() {
                bail!("{place}: the statement names no subject");
            }
            for subject in subjects {
                let name = subject["name"].as_str().unwrap_or_default().to_string();
                let Some(expected) = subject["digest"]["sha256"].as_str() else {
                    problems.push(format!("{name}: no SHA-256 in the statement"));
                    continue;
                };
                // Subjects are files of this directory, never paths out of it.
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    problems.push(format!("`{name}`: not a file name of the target directory"));
                    continue;
                }
                match file_sha256(&target_dir.join(&name)) {
                    Ok(actual) if actual == expected => checked.push(Checked {
                        name,
                        sha256: actual,
                    }),
                    Ok(actual) => problems.push(format!(
                        "{name}: SHA-256 {actual}, the provenance says {expected}"
                    )),
                    Err(e) => problems.push(format!("{name}: {e}")),
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "verify-attestation: {} of the attested files in {} do not match:\n  {}",
            problems.len(),
            target_dir.display(),
            problems.join("\n  ")
        );
    }
    Ok(checked)
}

/// The statement of the first envelope of a provenance file, its signature
/// not checked (`builder verify` rebuilds from it; `verify` above is what
/// establishes trust).
pub fn unverified_statement(path: &Path) -> anyhow::Result<Value> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the provenance {}", path.display()))?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("{}: no envelope", path.display()))?;
    let envelope: Envelope = serde_json::from_str(line)
        .with_context(|| format!("{}:1: not a DSSE envelope", path.display()))?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&envelope.payload)
        .with_context(|| format!("{}:1: the payload is not base64", path.display()))?;
    serde_json::from_slice(&payload)
        .with_context(|| format!("{}:1: the payload is not JSON", path.display()))
}

/// The SHA-256 (hex) of a file's bytes.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    crate::toolbox::sha256_reader(std::io::BufReader::new(file))
}

/// SHA-256 of a listing of the description directory: each entry's path,
/// kind, and content digest (files, with the executable bit) or target
/// (symlinks), in byte order of the paths. Symlinks are not followed.
pub fn description_digest(dir: &Path) -> anyhow::Result<String> {
    let mut entries = BTreeMap::new();
    list(dir, Path::new(""), &mut entries)
        .with_context(|| format!("provenance: reading the description {}", dir.display()))?;
    let mut listing = Vec::new();
    for (path, line) in entries {
        writeln!(listing, "{line} {}", path.escape_default())?;
    }
    Ok(crate::toolbox::sha256_hex(&listing))
}

fn list(base: &Path, rel: &Path, out: &mut BTreeMap<String, String>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for entry in std::fs::read_dir(base.join(rel))? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        let path = base.join(&rel);
        let meta = std::fs::symlink_metadata(&path)?;
        let key = rel.to_string_lossy().into_owned();
        if meta.is_dir() {
            out.insert(key, "dir".into());
            list(base, &rel, out)?;
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            out.insert(
                key,
                format!("link {}", target.to_string_lossy().escape_default()),
            );
        } else if meta.is_file() {
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                "exec"
            } else {
                "file"
            };
            out.insert(key, format!("{mode} {}", file_sha256(&path)?));
        } else {
            out.insert(key, "special".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_digest_follows_content_names_links_and_the_exec_bit() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.xml"), "<image/>").unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("root/a"), "a").unwrap();
        let first = description_digest(dir.path()).unwrap();
        assert_eq!(first, description_digest(dir.path()).unwrap());

        let mut seen = vec![first];
        let mut changed = |f: &dyn Fn(&Path)| {
            f(dir.path());
            let digest = description_digest(dir.path()).unwrap();
            assert!(!seen.contains(&digest));
            seen.push(digest);
        };
        changed(&|d| std::fs::write(d.join("root/a"), "b").unwrap());
        changed(&|d| std::fs::rename(d.join("root/a"), d.join("root/c")).unwrap());
        changed(&|d| {
            std::fs::set_permissions(d.join("root/c"), std::fs::Permissions::from_mode(0o755))
                .unwrap()
        });
        changed(&|d| std::os::unix::fs::symlink("/etc/passwd", d.join("l")).unwrap());
        changed(&|d| std::fs::create_dir(d.join("empty")).unwrap());
    }
}
