//! `builder matrix --emit kubernetes`: a `batch/v1` Indexed Job with one
//! completion index per variant; each pod runs `builder run DESCRIPTIONS...
//! --variant $(JOB_COMPLETION_INDEX)`, so the pod of index N builds the
//! variant N of `builder matrix --list`.
//!
//! The pod gets only what a build needs: root and `privileged`, because
//! the build mounts filesystem images through loop devices and prepares
//! roots in mount namespaces of its own (bubblewrap, overlayfs, tmpfs),
//! and Kubernetes has no narrower way to hand a container the host's loop
//! devices (`/dev/loop-control` and `/dev/loopN`) than privileged mode.
//! No host network, host PID namespace or host path.

use std::collections::HashSet;

use super::{builder_command, matrix_args, EmitOptions, TARGET_BASE};
use crate::matrix::Variant;

/// Said at the top of the Job: why privileged, and what must exist.
pub(super) const HEADER: &str = "\
# The pod runs privileged as root: builds mount filesystem images through
# the host's loop devices and make mount namespaces, and privileged mode is
# the only way Kubernetes hands a container loop devices. It needs no host
# network, PID namespace or path. The image must hold builder and the
# descriptions (relative paths are read from its working directory); the
# PersistentVolumeClaim `builder` keeps the caches (`cache/`) and the
# artifacts (`images/<index>/`): create it (ReadWriteMany when pods of
# several nodes share it) before the Job.
";

/// The claim the Job mounts.
const CLAIM: &str = "builder";
/// Where the artifacts of index N go, inside the pod.
const IMAGES: &str = "/var/lib/builder/images";
/// builder's default cache directory.
const CACHE: &str = "/var/cache/builder";
/// Where builds make their work directories (`BUILDER_TMPDIR`'s default):
/// a directory of the node's disk, since an overlay root cannot have its
/// upper layer on the container's own overlay filesystem.
const WORK: &str = "/var/tmp";
/// The variable the Job controller sets to the pod's index.
const INDEX: &str = "JOB_COMPLETION_INDEX";

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Job {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: JobSpec,
}

#[derive(serde::Serialize)]
struct Metadata {
    name: &'static str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JobSpec {
    completion_mode: &'static str,
    completions: usize,
    parallelism: usize,
    /// A failed build is not tried again, and fails its index only.
    backoff_limit_per_index: u32,
    template: PodTemplate,
}

#[derive(serde::Serialize)]
struct PodTemplate {
    spec: PodSpec,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    restart_policy: &'static str,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: &'static str,
    image: String,
    command: Vec<String>,
    env: Vec<EnvVar>,
    security_context: SecurityContext,
    volume_mounts: Vec<VolumeMount>,
}

/// `JOB_COMPLETION_INDEX`, named in the container so `$(...)` in the
/// command expands to it on every Kubernetes release (the controller adds
/// it only when it is not there).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvVar {
    name: &'static str,
    value_from: EnvSource,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvSource {
    field_ref: FieldRef,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct FieldRef {
    field_path: &'static str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityContext {
    privileged: bool,
    run_as_user: u32,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    name: &'static str,
    mount_path: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_path: Option<&'static str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Volume {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    persistent_volume_claim: Option<Claim>,
    #[serde(skip_serializing_if = "Option::is_none")]
    empty_dir: Option<Empty>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    claim_name: &'static str,
}

#[derive(serde::Serialize)]
struct Empty {}

/// The Job for `variants`. As many pods run at once as there are distinct
/// prepared roots: more would only prepare the same root twice.
pub(super) fn job(variants: &[Variant], options: &EmitOptions) -> Job {
    let roots: HashSet<&str> = variants.iter().map(|v| v.root.as_str()).collect();
    let index = format!("$({INDEX})");
    let mut command = builder_command(options);
    command.push("run".into());
    command.extend(matrix_args(&options.request));
    command.extend([
        "--variant".to_string(),
        index.clone(),
        "--target-dir".to_string(),
        format!("{IMAGES}/{index}"),
    ]);
    let mount = |name, mount_path, sub_path| VolumeMount {
        name,
        mount_path,
        sub_path,
    };
    Job {
        api_version: "batch/v1",
        kind: "Job",
        metadata: Metadata {
            name: "builder-matrix",
        },
        spec: JobSpec {
            completion_mode: "Indexed",
            completions: variants.len(),
            parallelism: roots.len().max(1),
            backoff_limit_per_index: 0,
            template: PodTemplate {
                spec: PodSpec {
                    restart_policy: "Never",
                    containers: vec![Container {
                        name: "builder",
                        image: options.image.clone(),
                        command,
                        env: vec![EnvVar {
                            name: INDEX,
                            value_from: EnvSource {
                                field_ref: FieldRef {
                                    field_path: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
                                },
                            },
                        }],
                        security_context: SecurityContext {
                            privileged: true,
                            run_as_user: 0,
                        },
                        volume_mounts: vec![
                            mount("data", CACHE, Some("cache")),
                            mount("data", IMAGES, Some(TARGET_BASE)),
                            mount("work", WORK, None),
                        ],
                    }],
                    volumes: vec![
                        Volume {
                            name: "data",
                            persistent_volume_claim: Some(Claim { claim_name: CLAIM }),
                            empty_dir: None,
                        },
                        Volume {
                            name: "work",
                            persistent_volume_claim: None,
                            empty_dir: Some(Empty {}),
                        },
                    ],
                }
            },
        },
    }
}
