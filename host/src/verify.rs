//! `builder verify`: rebuild what a target directory's result manifest and
//! provenance record (the description, its profiles and type, the
//! architecture and `SOURCE_DATE_EPOCH`), then compare every artifact and
//! package list byte for byte, saying per file `identical` or how it
//! differs: diffoscope's report when diffoscope is installed, otherwise
//! the paths of the root that differ (the builds' `.files` manifests).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::provenance::{description_digest, file_sha256, unverified_statement};
use crate::result::Recorded;
use crate::rootfs::manifest::Manifest;

/// How to rebuild a target directory's image.
#[derive(Debug)]
pub struct Rebuild {
    /// The description directory, its digest the one the provenance names.
    pub description: PathBuf,
    /// The selection.
    pub plan: crate::plan::PlanRequest,
    /// `SOURCE_DATE_EPOCH` of the build.
    pub source_date_epoch: Option<i64>,
    /// The files to compare: artifacts, then the package list and SBOMs.
    pub files: Vec<String>,
}

/// Reads what `target_dir` records and finds its description: `description`
/// when given, else the directory of the recorded file or the one above it,
/// whichever has the digest the provenance names.
pub fn plan_rebuild(target_dir: &Path, description: Option<&Path>) -> anyhow::Result<Rebuild> {
    let result_path = target_dir.join(crate::result::RESULT_FILE);
    let recorded = Recorded::read(target_dir)?;
    let provenance = recorded
        .provenance
        .as_deref()
        .with_context(|| format!("{}: no provenance recorded", result_path.display()))?;
    let statement = unverified_statement(&target_dir.join(provenance))?;
    let definition = &statement["predicate"]["buildDefinition"];
    let wanted = definition["externalParameters"]["description"]["digest"]["sha256"]
        .as_str()
        .with_context(|| format!("{provenance}: no description digest"))?
        .to_string();
    let source_date_epoch = definition["internalParameters"]["sourceDateEpoch"].as_i64();
    let candidates: Vec<PathBuf> = match description {
        Some(dir) => vec![dir.to_path_buf()],
        None => recorded
            .description
            .ancestors()
            .take(3)
            .filter(|p| p.is_dir())
            .take(2)
            .map(Path::to_path_buf)
            .collect(),
    };
    let mut seen = Vec::new();
    let description = candidates
        .iter()
        .find(|dir| {
            let digest = description_digest(dir).ok();
            seen.push(format!(
                "{}: {}",
                dir.display(),
                digest.as_deref().unwrap_or("unreadable")
            ));
            digest.as_deref() == Some(wanted.as_str())
        })
        .cloned()
        .with_context(|| {
            format!(
                "the description built (digest {wanted}) is not found: {}\n\
                 hint: it changed since the build, or it moved; give its directory with --description",
                seen.join("; ")
            )
        })?;
    let mut files: Vec<String> = recorded
        .artifacts
        .iter()
        .map(|a| a.file_name.clone())
        .collect();
    files.extend(recorded.sbom.iter().flat_map(|s| s.files.iter().cloned()));
    if files.is_empty() {
        bail!("{}: no artifacts recorded", result_path.display());
    }
    Ok(Rebuild {
        description,
        plan: crate::plan::PlanRequest {
            profiles: recorded.profiles,
            image_type: Some(recorded.image_type),
            arch: Some(recorded.image.arch),
        },
        source_date_epoch,
        files,
    })
}

/// One file compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same bytes.
    Identical,
    /// Other bytes; how, as lines.
    Differs(Vec<String>),
    /// The original or the rebuild does not have it.
    Missing(&'static str),
}

/// How many lines of diffoscope's report or of root paths a verdict keeps.
const DETAIL_LINES: usize = 60;

/// Compares each of `files` in `original` and `rebuilt`.
pub fn compare(original: &Path, rebuilt: &Path, files: &[String]) -> Vec<(String, Verdict)> {
    let manifests = || -> Option<(Manifest, Manifest)> {
        let name = files.iter().find(|f| f.ends_with(".files"))?;
        let read = |dir: &Path| {
            let text = std::fs::read_to_string(dir.join(name)).ok()?;
            Manifest::parse(&text, name).ok()
        };
        Some((read(original)?, read(rebuilt)?))
    };
    let diffoscope = which("diffoscope");
    files
        .iter()
        .map(|name| {
            let (a, b) = (original.join(name), rebuilt.join(name));
            let verdict = match (file_sha256(&a), file_sha256(&b)) {
                (Err(_), _) => Verdict::Missing("not in the target directory"),
                (_, Err(_)) => Verdict::Missing("not made by the rebuild"),
                (Ok(x), Ok(y)) if x == y => Verdict::Identical,
                (Ok(_), Ok(_)) => Verdict::Differs(match &diffoscope {
                    Some(tool) => diffoscope_report(tool, &a, &b),
                    None => root_differences(manifests()),
                }),
            };
            (name.clone(), verdict)
        })
        .collect()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

fn diffoscope_report(tool: &Path, a: &Path, b: &Path) -> Vec<String> {
    match std::process::Command::new(tool)
        .arg("--text")
        .arg("-")
        .arg(a)
        .arg(b)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines: Vec<String> = text
                .lines()
                .take(DETAIL_LINES)
                .map(str::to_string)
                .collect();
            let total = text.lines().count();
            if total > DETAIL_LINES {
                lines.push(format!(
                    "… {} more lines of diffoscope's report",
                    total - DETAIL_LINES
                ));
            }
            lines
        }
        Err(e) => vec![format!("diffoscope could not run: {e}")],
    }
}

fn root_differences(manifests: Option<(Manifest, Manifest)>) -> Vec<String> {
    let Some((original, rebuilt)) = manifests else {
        return vec!["(no root manifests to compare; install diffoscope for a report)".into()];
    };
    let changes = original.changes(&rebuilt);
    if changes.is_empty() {
        return vec![
            "the root's files are identical: the difference is in the artifact's own \
             structure (filesystem, archive or disk metadata); install diffoscope for a report"
                .into(),
        ];
    }
    let mut lines: Vec<String> = changes
        .iter()
        .take(DETAIL_LINES)
        .map(|c| {
            let (mark, what) = crate::diff::change_mark(&c.change);
            format!("{mark} /{} ({what})", c.path)
        })
        .collect();
    if changes.len() > DETAIL_LINES {
        lines.push(format!("… and {} more paths", changes.len() - DETAIL_LINES));
    }
    lines
}
