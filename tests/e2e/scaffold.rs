//! `builder plugin new`: a crate of each kind scaffolded by the real binary,
//! outside the workspace, built with its own `build-plugin` and passing its
//! own `cargo test` against that binary; bad names and non-empty directories
//! refused.
//!
//! Needs the `builder` binary built (`cargo build -p builder`) and the guest
//! toolchain (`scripts/setup`). The three crates share one target directory
//! (`target/scaffold/` in the workspace) so the wasm std is compiled once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The workspace's target directory: `CARGO_TARGET_DIR` when set (CI keeps
/// it between runs), else the ancestor of this test holding CACHEDIR.TAG.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The `builder` binary: `$BUILDER`, else the one cargo built beside this
/// test (`target/<profile>/builder`).
fn builder_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("BUILDER") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/scaffold-<hash> -> target/<profile>/builder
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("builder"))
        .expect("test binary in target/<profile>/deps");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p builder` first (or set BUILDER)",
        bin.display()
    );
    bin
}

/// `builder ARGS` with a cache directory under the target directory.
fn builder(args: &[&str]) -> Output {
    Command::new(builder_bin())
        .arg("--cache-dir")
        .arg(target_dir().join("scaffold/builder-cache"))
        .args(args)
        .output()
        .expect("running builder")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `builder plugin new --kind KIND NAME DIR`, which must succeed.
fn scaffold(kind: &str, name: &str, dir: &Path) {
    let output = builder(&["plugin", "new", "--kind", kind, name, dir.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "builder plugin new --kind {kind} {name} failed (is target/debug/builder current? \
         run `cargo build -p builder`):\n{}",
        text(&output)
    );
}

/// Whether this `builder` has `plugin run` (hooks and baselines are tested through it).
fn has_plugin_run() -> bool {
    builder(&["plugin", "run", "--help"]).status.success()
}

/// `cargo test` inside a scaffolded crate, with the shared target directory.
fn cargo_test(dir: &Path, filter: Option<&str>) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .arg("test")
        .env("BUILDER", builder_bin())
        .env("CARGO_TARGET_DIR", target_dir().join("scaffold"))
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_MAKEFLAGS");
    if let Some(filter) = filter {
        command.args(["--", filter]);
    }
    command.output().expect("running cargo test")
}

#[test]
fn each_kind_builds_and_passes_its_own_test() {
    let work = tempfile::tempdir().unwrap();
    let plugin_run = has_plugin_run();
    let mut report = Vec::new();
    for (kind, name, tests) in [
        (
            "image-type",
            "golden-manifest",
            &["lists_every_path_with_mode_and_owner"][..],
        ),
        (
            "hook",
            "site-info",
            &[
                "writes_the_info_file_at_config",
                "is_stopped_without_its_grants",
            ][..],
        ),
        (
            "baseline",
            "corp-standard",
            &["writes_banner_and_sysctl", "dry_run_changes_nothing"][..],
        ),
    ] {
        let dir = work.path().join(name);
        scaffold(kind, name, &dir);
        assert!(dir.join("vendor/builder-sdk/src/lib.rs").is_file());
        assert!(dir.join("vendor/wit/0.2.0/worlds.wit").is_file());

        // Without `builder plugin run`, a hook or baseline can only be built and inspected.
        let filter = (kind != "image-type" && !plugin_run).then_some("describes_itself");
        let started = Instant::now();
        let output = cargo_test(&dir, filter);
        let took = started.elapsed();
        assert!(
            output.status.success(),
            "cargo test of the {kind} scaffold failed:\n{}",
            text(&output)
        );
        let out = text(&output);
        assert!(out.contains("test describes_itself ... ok"), "{out}");
        if filter.is_none() {
            for test in tests {
                assert!(
                    out.contains(&format!("test {test} ... ok")),
                    "{test}: {out}"
                );
            }
        }
        report.push(format!(
            "{kind}: cargo test {:.1}s{}",
            took.as_secs_f64(),
            if filter.is_some() {
                " (only describes_itself: this builder has no `plugin run`)"
            } else {
                ""
            }
        ));

        let component = target_dir().join(format!(
            "scaffold/wasm/wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        let inspect = builder(&["plugin", "inspect", component.to_str().unwrap(), "--json"]);
        assert!(inspect.status.success(), "{}", text(&inspect));
        let info: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(info["name"], name);
        assert_eq!(info["world"], kind, "{info}");
    }
    eprintln!("scaffold timings:\n  {}", report.join("\n  "));
    assert!(
        plugin_run,
        "the hook and baseline scaffolds' plugin-run tests were skipped: \
         this builder has no `plugin run`"
    );
}

#[test]
fn refuses_a_non_empty_directory() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine\n").unwrap();
    let output = builder(&[
        "plugin",
        "new",
        "--kind",
        "hook",
        "taken",
        dir.to_str().unwrap(),
    ]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("is not empty"), "{}", text(&output));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(
        left.len(),
        1,
        "files were written into a non-empty directory"
    );
}

#[test]
fn refuses_a_bad_name() {
    let work = tempfile::tempdir().unwrap();
    for (name, says) in [
        ("My_Plugin", "`M` is not allowed"),
        ("9lives", "must start with a letter"),
        ("fn", "Rust keyword"),
    ] {
        let dir = work.path().join("x");
        let output = builder(&[
            "plugin",
            "new",
            "--kind",
            "image-type",
            name,
            dir.to_str().unwrap(),
        ]);
        assert!(!output.status.success(), "{name} accepted");
        let out = text(&output);
        assert!(
            out.contains(&format!("invalid plugin name `{name}`")) && out.contains(says),
            "{name}: {out}"
        );
        assert!(!dir.exists(), "{name}: a directory was created");
    }
    // Without DIR, the crate goes to ./NAME: a bad name must not create it either.
    let output = Command::new(builder_bin())
        .current_dir(work.path())
        .args(["plugin", "new", "--kind", "hook", "Bad"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!work.path().join("Bad").exists());
}
