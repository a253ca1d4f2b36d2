//! `builder matrix --emit gitlab`: a GitLab CI child pipeline with one job
//! per variant. Variants that prepare the same root share a
//! `resource_group` (one of them runs at a time on that cache) and the
//! later ones `need` the first, which fills the prepared-root cache they
//! start from.

use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{run_command, target_dir, EmitOptions, Ordered};
use crate::matrix::Variant;

/// Said at the top of the pipeline: where its jobs can run.
pub(super) const HEADER: &str = "\
# Each job runs builder as root on a runner that has it (a shell executor,
# or a privileged container: builds use loop devices and mounts); jobs of
# one resource_group share a prepared-root cache entry, so they run one
# after the other, the first filling the cache.
";

/// The one stage every job is in.
const STAGE: &str = "build";

/// The pipeline: `stages`, then the jobs in variant order.
pub(super) struct Pipeline {
    stages: Vec<&'static str>,
    jobs: Ordered<Job>,
}

impl Serialize for Pipeline {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.jobs.0.len()))?;
        map.serialize_entry("stages", &self.stages)?;
        for (name, job) in &self.jobs.0 {
            map.serialize_entry(name, job)?;
        }
        map.end()
    }
}

/// One variant's job.
#[derive(serde::Serialize)]
struct Job {
    stage: &'static str,
    /// Serialises the jobs that use one prepared-root cache entry.
    resource_group: String,
    /// The first job of the same root, or none: start at once.
    needs: Vec<Need>,
    script: Vec<String>,
    artifacts: Artifacts,
}

/// A job this one waits for, without its artifacts (images are large).
#[derive(serde::Serialize)]
struct Need {
    job: String,
    artifacts: bool,
}

#[derive(serde::Serialize)]
struct Artifacts {
    name: String,
    paths: Vec<String>,
}

/// The pipeline for `variants`.
pub(super) fn pipeline(variants: &[Variant], options: &EmitOptions) -> Pipeline {
    // the first job of each root
    let mut first: HashMap<&str, String> = HashMap::new();
    let jobs = variants
        .iter()
        .map(|variant| {
            let name = variant.slug();
            let needs = match first.get(variant.root.as_str()) {
                Some(warms) => vec![Need {
                    job: warms.clone(),
                    artifacts: false,
                }],
                None => {
                    first.insert(&variant.root, name.clone());
                    Vec::new()
                }
            };
            let job = Job {
                stage: STAGE,
                resource_group: format!("builder-root-{}", variant.root),
                needs,
                script: vec![run_command(variant, options)],
                artifacts: Artifacts {
                    name: name.clone(),
                    paths: vec![target_dir(variant)],
                },
            };
            (name, job)
        })
        .collect();
    Pipeline {
        stages: vec![STAGE],
        jobs: Ordered(jobs),
    }
}
