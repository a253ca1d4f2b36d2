//! `builder matrix --emit github`: a GitHub Actions workflow whose one job
//! has a `strategy.matrix` with an `include` entry per variant: each entry
//! runs that variant's `builder run` and uploads its target directory with
//! actions/upload-artifact. It runs on demand or when another workflow
//! calls it, on self-hosted Linux runners (builder needs root, loop
//! devices and mounts, and must be installed there).

use super::{run_command, target_dir, EmitOptions, Ordered};
use crate::matrix::Variant;

/// Said at the top of the workflow: where its jobs can run.
pub(super) const HEADER: &str = "\
# The jobs run on self-hosted Linux runners that have builder and run it as
# root: builds use loop devices and mounts.
";

#[derive(serde::Serialize)]
pub(super) struct Workflow {
    name: &'static str,
    on: On,
    permissions: Permissions,
    jobs: Ordered<Job>,
}

/// Started by hand or by another workflow, never by a push: each build
/// takes a while.
#[derive(serde::Serialize)]
struct On {
    workflow_dispatch: Empty,
    workflow_call: Empty,
}

#[derive(serde::Serialize)]
struct Empty {}

/// The checkout needs no more.
#[derive(serde::Serialize)]
struct Permissions {
    contents: &'static str,
}

#[derive(serde::Serialize)]
struct Job {
    name: &'static str,
    #[serde(rename = "runs-on")]
    runs_on: Vec<String>,
    strategy: Strategy,
    steps: Vec<Step>,
}

#[derive(serde::Serialize)]
struct Strategy {
    /// One variant failing does not cancel the others.
    #[serde(rename = "fail-fast")]
    fail_fast: bool,
    matrix: Matrix,
}

#[derive(serde::Serialize)]
struct Matrix {
    include: Vec<Entry>,
}

/// One variant: its name, its command and where its artifacts are.
#[derive(serde::Serialize)]
struct Entry {
    name: String,
    command: String,
    artifacts: String,
}

#[derive(serde::Serialize)]
struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uses: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    with: Option<Ordered<&'static str>>,
}

/// The runner labels for `arch`: GitHub names x86_64 `X64` and aarch64 `ARM64`.
fn runner_labels(arch: Option<&str>) -> Vec<String> {
    let mut labels = vec!["self-hosted".to_string(), "linux".to_string()];
    match arch {
        Some("x86_64") => labels.push("X64".into()),
        Some("aarch64") => labels.push("ARM64".into()),
        _ => {}
    }
    labels
}

/// The workflow for `variants`.
pub(super) fn workflow(variants: &[Variant], options: &EmitOptions) -> Workflow {
    let include = variants
        .iter()
        .map(|variant| Entry {
            name: variant.slug(),
            command: run_command(variant, options),
            artifacts: target_dir(variant),
        })
        .collect();
    let upload = Ordered(vec![
        ("name".to_string(), "${{ matrix.name }}"),
        ("path".to_string(), "${{ matrix.artifacts }}"),
        ("if-no-files-found".to_string(), "error"),
    ]);
    let job = Job {
        name: "${{ matrix.name }}",
        runs_on: runner_labels(variants.first().map(|v| v.arch.as_str())),
        strategy: Strategy {
            fail_fast: false,
            matrix: Matrix { include },
        },
        steps: vec![
            Step {
                name: None,
                uses: Some("actions/checkout@v4"),
                run: None,
                with: None,
            },
            Step {
                name: Some("builder run"),
                uses: None,
                run: Some("${{ matrix.command }}"),
                with: None,
            },
            Step {
                name: Some("upload the artifacts"),
                uses: Some("actions/upload-artifact@v4"),
                run: None,
                with: Some(upload),
            },
        ],
    };
    Workflow {
        name: "builder images",
        on: On {
            workflow_dispatch: Empty {},
            workflow_call: Empty {},
        },
        permissions: Permissions { contents: "read" },
        jobs: Ordered(vec![("build".to_string(), job)]),
    }
}
