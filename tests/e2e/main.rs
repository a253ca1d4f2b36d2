//! builder's end-to-end tests: the real plugin host, real plugins and real
//! tools (apt, dnf, zypper, mkfs, qemu, skopeo), one module a subject, all
//! in one test binary so that the harness runs them side by side.
//! `cargo test -p builder-tests --test e2e MODULE::` runs one module; each
//! module's own header says what it covers.

use std::path::PathBuf;

/// The xz chunk cache every build of this run shares, emptied when the run
/// starts: many tests compress roots made of the same packages, and a
/// chunk compressed once is only checked (decompressed) after that. A
/// build writes the same bytes with the cache as without it
/// (`host/src/toolbox/xz_chunks.rs`).
pub(crate) fn xz_cache() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-xz-cache");
        let _ = std::fs::remove_dir_all(&dir);
        dir
    });
    Some(dir.clone())
}

/// A `builder create` request of `type_name` over `root` into `out`, for
/// the image `golden` 1.0.0 (x86_64) with `SOURCE_DATE_EPOCH` 1700000000,
/// the run's xz chunk cache and no options: tests change what they need
/// with struct update syntax.
pub(crate) fn create_request(
    root: &std::path::Path,
    out: &std::path::Path,
    type_name: &str,
) -> builder::create::CreateRequest {
    builder::create::CreateRequest {
        root: root.to_path_buf(),
        target_dir: out.to_path_buf(),
        type_name: type_name.into(),
        image: builder::plugins::ImageIdentity {
            name: "golden".into(),
            version: "1.0.0".into(),
            arch: "x86_64".into(),
        },
        options: Vec::new(),
        options_from_description: false,
        extra_grants: builder::plugins::Grants::none(),
        source_date_epoch: Some(1_700_000_000),
        xz_cache: xz_cache(),
        size: None,
        vagrant: None,
        settings: Vec::new(),
        files: Vec::new(),
        package_digests: Default::default(),
    }
}

mod baseline_example;
mod boot;
mod containers;
mod demo_profiles;
mod description;
mod extensions;
mod filesystems;
mod plan;
mod plugin_host;
mod prepare;
mod python_hook;
mod rpm;
mod run;
mod sbom;
mod scaffold;
mod security;
mod tbz;
