//! The plugin contract is language-neutral: a `hook` written in Python
//! (tests/fixtures/python-hook, built with componentize-py) is loaded,
//! described, granted and run by the real host like any Rust plugin.
//!
//! The component is built and compiled once per test process (it is large:
//! the CPython interpreter and its standard library); every test shares it,
//! and the extensions test loads the same build from the same code cache.

use std::fs;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use builder::plugins::{
    Capability, Grants, GuestError, HookRequest, ImageIdentity, OptionKind, OptionSpec, Plugin,
    PluginError, PluginRuntime, PluginSource, Role, RootChange, Stage, World,
};
use builder::rootfs::RootTree;
use builder_tests::{runtime_sharing_code, test_limits};

const PRETTY_NAME: &str = "Debian GNU/Linux 12 (bookworm)";

/// The runtime and the loaded Python hook, shared by every test.
struct Loaded {
    runtime: PluginRuntime,
    plugin: Plugin,
}

fn python_hook() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        let started = Instant::now();
        let wasm = builder_tests::python_hook();
        eprintln!("python-hook: build script took {:.1?}", started.elapsed());
        let bytes = fs::read(wasm).unwrap();
        let runtime = runtime_sharing_code(test_limits());
        let started = Instant::now();
        let plugin = runtime
            .load(&bytes, PluginSource::File(wasm.to_path_buf()))
            .unwrap_or_else(|e| panic!("loading the Python hook: {e}"));
        eprintln!(
            "python-hook: first load (compile {} MiB, describe) took {:.1?}",
            bytes.len() >> 20,
            started.elapsed()
        );
        Loaded { runtime, plugin }
    })
}

fn request(plugin: &Plugin, marker: &str) -> HookRequest {
    HookRequest {
        image: ImageIdentity {
            name: "golden".into(),
            version: "1.0.0".into(),
            arch: "x86_64".into(),
        },
        options: plugin
            .info
            .resolve_options(&[("marker".into(), marker.into())])
            .unwrap(),
        artifacts: vec![],
    }
}

/// A small root; with `etc/os-release` when `os_release` is set.
fn root(os_release: bool) -> (tempfile::TempDir, Arc<RootTree>) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/hostname"), "golden\n").unwrap();
    if os_release {
        fs::write(
            dir.path().join("etc/os-release"),
            format!("NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"{PRETTY_NAME}\"\nID=debian\n"),
        )
        .unwrap();
    }
    let tree = Arc::new(RootTree::open(dir.path()).unwrap());
    (dir, tree)
}

fn grants(capabilities: &[Capability]) -> Grants {
    capabilities.iter().copied().collect()
}

fn read_write() -> Grants {
    grants(&[Capability::RootRead, Capability::RootWrite])
}

#[test]
fn describes_itself_as_a_hook() {
    let Loaded { plugin, .. } = python_hook();
    assert_eq!(plugin.world, World::Hook);
    assert_eq!(plugin.api_version, "0.1.0");
    assert_eq!(plugin.info.name, "python-hook");
    assert_eq!(plugin.info.version, "0.1.0");
    assert!(!plugin.info.summary.is_empty());
    assert_eq!(
        plugin.info.role,
        Role::Hook(vec![Stage::Config, Stage::PostImage])
    );
    assert_eq!(
        plugin.info.capabilities,
        [Capability::RootRead, Capability::RootWrite]
    );
    assert_eq!(plugin.info.options.len(), 1);
    let OptionSpec {
        name,
        kind,
        default,
        doc,
    } = &plugin.info.options[0];
    assert_eq!(name, "marker");
    assert_eq!(*kind, OptionKind::Text);
    assert_eq!(default.as_deref(), Some("built-by-python"));
    assert!(!doc.is_empty());
    // The default fills in when the option is not given.
    assert_eq!(
        plugin.info.resolve_options(&[]).unwrap(),
        [("marker".to_string(), "built-by-python".to_string())]
    );
}

#[test]
fn at_config_it_reads_os_release_and_asks_for_a_file() {
    let Loaded { runtime, plugin } = python_hook();
    let (_dir, tree) = root(true);
    let started = Instant::now();
    let changes = runtime
        .run_hook(
            plugin,
            Stage::Config,
            tree,
            &request(plugin, "golden"),
            &read_write(),
        )
        .unwrap_or_else(|e| panic!("running the Python hook at config: {e}"));
    eprintln!("python-hook: run at config took {:.1?}", started.elapsed());
    assert_eq!(
        changes,
        [RootChange::WriteFile {
            path: "etc/python-hook".into(),
            content: format!("golden on {PRETTY_NAME}\n").into_bytes(),
            mode: 0o644,
            uid: 0,
            gid: 0,
        }]
    );
}

#[test]
fn without_root_write_nothing_runs() {
    let Loaded { runtime, plugin } = python_hook();
    let (_dir, tree) = root(true);
    let err = runtime
        .run_hook(
            plugin,
            Stage::Config,
            tree.clone(),
            &request(plugin, "golden"),
            &grants(&[Capability::RootRead]),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::NotGranted {
                capability: Capability::RootWrite,
                ..
            }
        ),
        "{err:?}"
    );
    let err = runtime
        .run_hook(
            plugin,
            Stage::Config,
            tree,
            &request(plugin, "golden"),
            &Grants::none(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::NotGranted {
                capability: Capability::RootRead,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn at_post_image_the_hosts_refusal_is_its_error() {
    let Loaded { runtime, plugin } = python_hook();
    let (_dir, tree) = root(true);
    let err = runtime
        .run_hook(
            plugin,
            Stage::PostImage,
            tree,
            &request(plugin, "golden"),
            &read_write(),
        )
        .expect_err("the host must refuse changes at post-image");
    match &err {
        PluginError::Failed {
            plugin: label,
            error,
        } => {
            assert!(label.contains("python-hook"), "{label}");
            assert!(
                matches!(error, GuestError::Other(m) if m.contains("the root is final at this stage")),
                "{error:?}"
            );
        }
        other => panic!("expected a plugin failure, got {other:?}"),
    }
    assert!(
        err.to_string().contains("the root is final at this stage"),
        "{err}"
    );
}

#[test]
fn without_os_release_it_fails_naming_the_file() {
    let Loaded { runtime, plugin } = python_hook();
    let (_dir, tree) = root(false);
    let err = runtime
        .run_hook(
            plugin,
            Stage::Config,
            tree,
            &request(plugin, "golden"),
            &read_write(),
        )
        .unwrap_err();
    match &err {
        PluginError::Failed {
            error: GuestError::Io { path, .. },
            ..
        } => assert_eq!(path, "etc/os-release"),
        other => panic!("expected an io failure naming etc/os-release, got {other:?}"),
    }
    assert!(err.to_string().contains("etc/os-release"), "{err}");
}
