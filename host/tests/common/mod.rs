//! What the command-line test binaries (`cli.rs`, `matrix.rs`) share:
//! running `builder` as a user does, and finding the public KIWI fixtures.

// Each binary uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `builder --cache-dir CACHE ARGS`, without the variables of the test's
/// own environment that would change what it does.
pub fn builder(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_builder"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("BUILDER_INCLUDE_ROOT")
        .output()
        .expect("running builder")
}

/// One cache directory for the tests that only need plugins compiled
/// (compiling every built-in plugin again per command is slow in a debug
/// build); the cache's writes are atomic, so parallel commands share it.
pub fn plugin_cache() -> &'static tempfile::TempDir {
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().unwrap())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The public KIWI descriptions: `$BUILDER_KIWI_FIXTURES`, by default
/// `../shared/fixtures/kiwi` beside the repository; `None`, said on the
/// terminal past the harness's capture, when they are not there.
pub fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("BUILDER_KIWI_FIXTURES")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/kiwi")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: the public KIWI fixtures are not at {} (set BUILDER_KIWI_FIXTURES)",
        dir.display()
    );
    None
}
