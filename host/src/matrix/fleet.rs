//! `builder matrix --run`: every variant built on this machine, N at a
//! time, each by a `builder run` of its own. Variants that prepare the same
//! root (the same [`Variant::root`] key) wait for the first of them, which
//! fills the prepared-root cache: the root is prepared once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::Variant;

/// How to run the variants.
#[derive(Debug, Clone)]
pub struct FleetRequest {
    /// The `builder` program to run (this one).
    pub program: PathBuf,
    /// Arguments before `run` (the cache directory, the include root).
    pub global_args: Vec<String>,
    /// Arguments after `run ... --target-dir DIR` (`--mirror`, ...).
    pub run_args: Vec<String>,
    /// Each variant's artifacts go to `target_dir/<slug>/`, its log to
    /// `target_dir/<slug>.log`.
    pub target_dir: PathBuf,
    /// How many builds run at once (at least 1).
    pub jobs: usize,
}

/// How one variant's build went.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The variant's slug (its directory and log name).
    pub slug: String,
    /// Whether `builder run` succeeded.
    pub built: bool,
    /// How long it took.
    pub seconds: f64,
}

struct Running {
    index: usize,
    child: Child,
    started: Instant,
}

/// Builds every variant, `request.jobs` at a time, a root's first variant
/// before the others of that root; calls `done` as each finishes.
pub fn run(
    variants: &[Variant],
    request: &FleetRequest,
    mut done: impl FnMut(&Variant, &Outcome),
) -> anyhow::Result<Vec<Outcome>> {
    std::fs::create_dir_all(&request.target_dir)
        .with_context(|| format!("creating {}", request.target_dir.display()))?;
    let jobs = request.jobs.max(1);
    // The first variant of each root prepares it; the others start once it
    // has finished, built or not (then the next of them prepares it).
    let mut first_of_root: Vec<usize> = Vec::new();
    let mut roots_seen = HashSet::new();
    for v in variants {
        if roots_seen.insert(v.root.clone()) {
            first_of_root.push(v.index);
        }
    }
    let mut roots_ready: HashSet<String> = HashSet::new();
    let mut waiting: Vec<usize> = (0..variants.len()).collect();
    let mut running: Vec<Running> = Vec::new();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; variants.len()];
    while !waiting.is_empty() || !running.is_empty() {
        if crate::interrupt::requested() {
            stop_all(&mut running);
            bail!("matrix --run: interrupted; the builds that ran were stopped");
        }
        while running.len() < jobs {
            let busy: HashSet<&str> = running
                .iter()
                .map(|r| variants[r.index].root.as_str())
                .collect();
            let next = waiting.iter().position(|&i| {
                let root = variants[i].root.as_str();
                roots_ready.contains(root) || (first_of_root.contains(&i) && !busy.contains(root))
            });
            let Some(position) = next else { break };
            let index = waiting.remove(position);
            running.push(start(&variants[index], request)?);
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut still = Vec::new();
        for mut r in running.drain(..) {
            match r.child.try_wait() {
                Ok(Some(status)) => {
                    let variant = &variants[r.index];
                    let outcome = Outcome {
                        slug: variant.slug(),
                        built: status.success(),
                        seconds: r.started.elapsed().as_secs_f64(),
                    };
                    roots_ready.insert(variant.root.clone());
                    done(variant, &outcome);
                    outcomes[r.index] = Some(outcome);
                }
                Ok(None) => still.push(r),
                Err(e) => {
                    still.push(r);
                    stop_all(&mut still);
                    return Err(e).context("matrix --run: waiting for a build");
                }
            }
        }
        running = still;
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Starts `builder run` for `variant`, its output going to its log.
fn start(variant: &Variant, request: &FleetRequest) -> anyhow::Result<Running> {
    let slug = variant.slug();
    let target = request.target_dir.join(&slug);
    let log_path = log_of(&request.target_dir, &slug);
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("matrix --run: creating {}", log_path.display()))?;
    let err = log
        .try_clone()
        .with_context(|| format!("matrix --run: {}", log_path.display()))?;
    let child = Command::new(&request.program)
        .args(&request.global_args)
        .arg("run")
        .args(variant.run_args())
        .arg("--target-dir")
        .arg(&target)
        .args(&request.run_args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .with_context(|| {
            format!(
                "matrix --run: starting {} for variant {slug}",
                request.program.display()
            )
        })?;
    tracing::info!(variant = %slug, "building");
    Ok(Running {
        index: variant.index,
        child,
        started: Instant::now(),
    })
}

/// Where the log of the variant `slug` goes.
pub fn log_of(target_dir: &Path, slug: &str) -> PathBuf {
    target_dir.join(format!("{slug}.log"))
}

/// Asks every running build to stop (SIGTERM: each sweeps its own mounts
/// and partial artifacts) and waits for them.
fn stop_all(running: &mut Vec<Running>) {
    for r in running.iter() {
        if let Ok(pid) = i32::try_from(r.child.id()) {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    for mut r in running.drain(..) {
        let _ = r.child.wait();
    }
}
