//! Benchmark harness for the plugin platform (`cargo bench -p builder --bench platform`).
//!
//! 1. Plugin load + describe: cold (compiling the component) and warm (from
//!    the compiled-code cache), in-process and as a whole `builder` process.
//! 2. `tbz` throughput against GNU tar on the same tree, uncompressed, both
//!    storing numeric owners and xattrs, alternating runs, page cache warm.
//!
//! Every figure is a median over several runs; ratios compare medians taken
//! in the same run. Environment: BENCH_TREE (default /usr/share), BENCH_RUNS.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use builder::plugins::{
    BuildRequest, Catalog, Grants, ImageIdentity, PluginRuntime, PluginSource, RuntimeLimits,
};
use builder::rootfs::RootTree;
use builder::toolbox::TargetDir;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn tbz_bytes() -> Vec<u8> {
    let catalog = Catalog::discover(&[], &[]).unwrap();
    let candidate = catalog
        .candidates()
        .iter()
        .find(|c| c.hint == "tbz")
        .expect("tbz is built in");
    candidate.bytes().unwrap().into_owned()
}

fn bench_load(runs: usize) {
    let bytes = tbz_bytes();
    let limits = RuntimeLimits::default;
    let mut cold = Vec::new();
    for _ in 0..runs.min(5) {
        let cache = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let runtime = PluginRuntime::new(Some(cache.path()), limits()).unwrap();
        runtime.load(&bytes, PluginSource::BuiltIn).unwrap();
        cold.push(t.elapsed());
    }
    let cache = tempfile::tempdir().unwrap();
    PluginRuntime::new(Some(cache.path()), limits())
        .unwrap()
        .load(&bytes, PluginSource::BuiltIn)
        .unwrap();
    let (mut warm, mut warm_load_only) = (Vec::new(), Vec::new());
    for _ in 0..runs * 4 {
        let t = Instant::now();
        let runtime = PluginRuntime::new(Some(cache.path()), limits()).unwrap();
        let t_load = Instant::now();
        runtime.load(&bytes, PluginSource::BuiltIn).unwrap();
        warm_load_only.push(t_load.elapsed());
        warm.push(t.elapsed());
    }
    let binary = env!("CARGO_BIN_EXE_builder");
    let process = |cache: &Path| {
        let t = Instant::now();
        let status = Command::new(binary)
            .args(["--quiet", "--cache-dir"])
            .arg(cache)
            .args(["plugin", "inspect", "tbz"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        t.elapsed()
    };
    let process_cache = tempfile::tempdir().unwrap();
    process(process_cache.path());
    let process_warm: Vec<_> = (0..runs * 4)
        .map(|_| process(process_cache.path()))
        .collect();
    println!("plugin load + describe (tbz, {} bytes)", bytes.len());
    println!(
        "  cold, engine + compile + describe:      median {}",
        ms(median(cold))
    );
    println!(
        "  warm, engine + cache load + describe:  median {}",
        ms(median(warm))
    );
    println!(
        "  warm, cache load + describe only:      median {}",
        ms(median(warm_load_only))
    );
    println!(
        "  warm, whole `builder plugin inspect`:  median {}",
        ms(median(process_warm))
    );
}

fn tree_bytes(root: &RootTree) -> (u64, u64) {
    let mut walk = root.walk("").unwrap();
    let (mut files, mut bytes) = (0, 0);
    loop {
        let batch = walk.next_batch(4096).unwrap();
        if batch.is_empty() {
            return (files, bytes);
        }
        for e in batch {
            files += 1;
            if e.meta.kind == builder::rootfs::FileKind::Regular {
                bytes += e.meta.size;
            }
        }
    }
}

fn bench_tbz(runs: usize) {
    let tree = PathBuf::from(std::env::var("BENCH_TREE").unwrap_or_else(|_| "/usr/share".into()));
    let root = Arc::new(RootTree::open(&tree).unwrap());
    let (files, bytes) = tree_bytes(&root);
    let work = tempfile::Builder::new()
        .prefix("builder-bench-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let runtime = PluginRuntime::new(None, RuntimeLimits::default()).unwrap();
    let tbz = runtime.load(&tbz_bytes(), PluginSource::BuiltIn).unwrap();
    let target = TargetDir::create(work.path()).unwrap();
    let request = BuildRequest {
        image: ImageIdentity {
            name: "bench".into(),
            version: "1".into(),
            arch: "x86_64".into(),
        },
        type_name: "tbz".into(),
        options: vec![("compression".into(), "none".into())],
        source_date_epoch: None,
        size: None,
        vagrant: None,
        settings: Vec::new(),
        files: Vec::new(),
    };
    let gnu_out = work.path().join("gnu.tar");
    let artifact = work.path().join("bench.x86_64-1.tar");
    let gnu = || {
        let _ = std::fs::remove_file(&gnu_out);
        let t = Instant::now();
        let status = Command::new("tar")
            .args(["--xattrs", "--numeric-owner", "-cf"])
            .arg(&gnu_out)
            .arg("-C")
            .arg(&tree)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        t.elapsed()
    };
    // GNU tar, then the checksum every artifact gets (KIWI runs it afterwards too).
    let gnu_and_sum = || {
        let t = gnu();
        let t2 = Instant::now();
        let sum = Command::new("sha256sum")
            .arg(&gnu_out)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(sum.success());
        t + t2.elapsed()
    };
    let ours = || {
        let _ = std::fs::remove_file(&artifact);
        let t = Instant::now();
        runtime
            .build_image(
                &tbz,
                root.clone(),
                &target,
                &request,
                &Grants::image_type_defaults(),
            )
            .unwrap();
        t.elapsed()
    };
    // Warm the page cache and the code once each.
    gnu();
    ours();
    let (mut gnu_runs, mut sum_runs, mut our_runs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        gnu_runs.push(gnu());
        our_runs.push(ours());
        sum_runs.push(gnu_and_sum());
    }
    let (g, gs, o) = (median(gnu_runs), median(sum_runs), median(our_runs));
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    println!("tbz vs GNU tar, uncompressed, {} ({files} entries, {:.0} MB of file data), {runs} runs each", tree.display(), bytes as f64 / 1e6);
    println!(
        "  GNU tar --xattrs --numeric-owner:  median {} ({:.0} MB/s)",
        ms(g),
        mbps(g)
    );
    println!(
        "  GNU tar, then sha256sum:           median {} ({:.0} MB/s)",
        ms(gs),
        mbps(gs)
    );
    println!(
        "  builder tbz (wasm plugin, sha256): median {} ({:.0} MB/s)",
        ms(o),
        mbps(o)
    );
    println!(
        "  tbz / GNU tar throughput:             {:.2}",
        g.as_secs_f64() / o.as_secs_f64()
    );
    println!(
        "  tbz / (GNU tar + sha256sum) throughput: {:.2}",
        gs.as_secs_f64() / o.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes --bench; take no other options.
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    bench_load(runs);
    bench_tbz(runs);
}
