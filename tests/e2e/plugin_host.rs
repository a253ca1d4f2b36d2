//! The plugin host with real components: loading, describing, caching,
//! limits, capability checks, and the three worlds.

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use builder::plugins::{
    BaselineRequest, BuildRequest, CacheOutcome, Capability, Catalog, DescriptionPlugins, Family,
    Grants, GuestError, HookRequest, ImageIdentity, OptionKind, Pin, PluginError, PluginRuntime,
    PluginSource, Role, RootChange, RuntimeLimits, Stage, World,
};
use builder::rootfs::RootTree;
use builder::toolbox::TargetDir;
use builder_tests::{builtin_plugins, load_fixture, runtime, test_limits};

fn identity() -> ImageIdentity {
    ImageIdentity {
        name: "golden".into(),
        version: "1.2.3".into(),
        arch: "x86_64".into(),
    }
}

fn request(type_name: &str, options: Vec<(String, String)>) -> BuildRequest {
    BuildRequest {
        image: identity(),
        type_name: type_name.into(),
        options,
        source_date_epoch: None,
        size: None,
        vagrant: None,
        settings: Vec::new(),
        files: Vec::new(),
    }
}

fn small_root() -> (tempfile::TempDir, Arc<RootTree>) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/hostname"), "golden\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/passwd-link")).unwrap();
    let tree = Arc::new(RootTree::open(dir.path()).unwrap());
    (dir, tree)
}

#[test]
fn every_first_party_plugin_loads_and_describes() {
    let runtime = runtime(test_limits());
    let plugins = builtin_plugins(&runtime);
    let builtin: Vec<&str> = Catalog::builtin_names().collect();
    assert!(builtin.contains(&"tbz"), "tbz is not built in: {builtin:?}");
    assert_eq!(plugins.len(), builtin.len());
    for plugin in &plugins {
        assert_eq!(plugin.source, PluginSource::BuiltIn);
        assert_eq!(plugin.api_version, "0.2.0");
        assert!(
            builtin.contains(&plugin.info.name.as_str()),
            "{}",
            plugin.info.name
        );
        assert!(
            !plugin.info.summary.is_empty(),
            "{} has no summary",
            plugin.info.name
        );
    }
    let tbz = plugins.iter().find(|p| p.info.name == "tbz").unwrap();
    assert_eq!(tbz.world, World::ImageType);
    assert_eq!(tbz.info.role, Role::ImageType(vec!["tbz".into()]));
    assert_eq!(
        tbz.info.capabilities,
        [
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Compression
        ]
    );
    let compression = &tbz.info.options[0];
    assert_eq!(compression.name, "compression");
    assert_eq!(compression.default.as_deref(), Some("xz"));
    assert!(matches!(&compression.kind, OptionKind::Choice(c) if c.len() == 4));
}

#[test]
fn compiled_plugins_come_back_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = fs::read(fixture_0_1_0("trespass-0.1.0.wasm")).unwrap();
    let first = PluginRuntime::new(Some(cache.path()), test_limits()).unwrap();
    let cold = first.load(&bytes, PluginSource::BuiltIn).unwrap();
    assert_eq!(cold.cache, CacheOutcome::Compiled);
    assert_eq!(compiled_entries(cache.path()).len(), 1);
    // A new runtime (a new process, in effect) finds the compiled code.
    let second = PluginRuntime::new(Some(cache.path()), test_limits()).unwrap();
    let warm = second.load(&bytes, PluginSource::BuiltIn).unwrap();
    assert_eq!(warm.cache, CacheOutcome::Hit);
    assert_eq!(warm.info, cold.info);
    assert_eq!(warm.digest, cold.digest);
}

fn compiled_entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    entries.sort();
    entries
}

/// The compiled code of one plugin put where another's belongs (what made
/// `tbz` run as `filesystem`) is not run: its MAC is for the other
/// component, so the plugin is compiled again from its own bytes.
#[test]
fn another_plugins_compiled_code_swapped_in_is_compiled_again() {
    let cache = tempfile::tempdir().unwrap();
    let trespass = fs::read(fixture_0_1_0("trespass-0.1.0.wasm")).unwrap();
    let listing = fs::read(builder_tests::fixture_plugin("listing")).unwrap();
    let runtime = PluginRuntime::new(Some(cache.path()), test_limits()).unwrap();
    runtime.load(&listing, PluginSource::BuiltIn).unwrap();
    let listing_entry = compiled_entries(cache.path());
    runtime.load(&trespass, PluginSource::BuiltIn).unwrap();
    let trespass_entry: Vec<_> = compiled_entries(cache.path())
        .into_iter()
        .filter(|p| !listing_entry.contains(p))
        .collect();
    assert_eq!((listing_entry.len(), trespass_entry.len()), (1, 1));
    fs::copy(&listing_entry[0], &trespass_entry[0]).unwrap();
    let runtime = PluginRuntime::new(Some(cache.path()), test_limits()).unwrap();
    let loaded = runtime.load(&trespass, PluginSource::BuiltIn).unwrap();
    assert_eq!(loaded.info.name, "trespass");
    assert_eq!(loaded.cache, CacheOutcome::Compiled);
    // Overwritten with its own code: a hit from now on.
    let runtime = PluginRuntime::new(Some(cache.path()), test_limits()).unwrap();
    let loaded = runtime.load(&trespass, PluginSource::BuiltIn).unwrap();
    assert_eq!(
        (loaded.info.name.as_str(), loaded.cache),
        ("trespass", CacheOutcome::Hit)
    );
}

#[test]
fn a_plugin_that_loops_forever_is_stopped_and_named() {
    let runtime = runtime(test_limits());
    let spin = load_fixture(&runtime, "spin");
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = runtime
        .build_image(
            &spin,
            root,
            &TargetDir::create(out.path()).unwrap(),
            &request("spin", vec![]),
            &Grants::image_type_defaults(),
        )
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("plugin `spin` 0.1.0"), "{message}");
    assert!(message.contains("did not finish within 3.0 s"), "{message}");
}

#[test]
fn a_plugin_that_allocates_without_bound_fails_and_the_host_goes_on() {
    let runtime = runtime(RuntimeLimits {
        memory_bytes: 64 << 20,
        ..test_limits()
    });
    let hog = load_fixture(&runtime, "hog");
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    let target = TargetDir::create(out.path()).unwrap();
    let err = runtime
        .build_image(
            &hog,
            root.clone(),
            &target,
            &request("hog", vec![]),
            &Grants::image_type_defaults(),
        )
        .unwrap_err();
    assert!(
        matches!(err, PluginError::OutOfMemory { mib: 64, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("plugin `hog` 0.1.0 exceeded its memory limit of 64 MiB"),
        "{err}"
    );
    // The same runtime still builds with another plugin.
    let plugins = builtin_plugins(&runtime);
    let tbz = plugins.iter().find(|p| p.info.name == "tbz").unwrap();
    let options = vec![("compression".to_string(), "none".to_string())];
    let artifacts = runtime
        .build_image(
            tbz,
            root,
            &target,
            &request("tbz", options),
            &Grants::image_type_defaults(),
        )
        .unwrap();
    assert_eq!(artifacts[0].file_name, "golden.x86_64-1.2.3.tar");
}

/// A component built against `builder:plugin@0.1.0` and kept as it was
/// (tests/fixtures/plugins).
fn fixture_0_1_0(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/plugins")
        .join(file)
}

/// Loads [`fixture_0_1_0`] `file`.
fn load_0_1_0(runtime: &PluginRuntime, file: &str) -> builder::plugins::Plugin {
    let path = fixture_0_1_0(file);
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    runtime
        .load(&bytes, PluginSource::File(path))
        .unwrap_or_else(|e| panic!("loading {file}: {e}"))
}

#[test]
fn contract_0_1_0_a_plugin_built_before_0_2_0_still_loads_and_builds() {
    let runtime = runtime(test_limits());
    let listing = load_0_1_0(&runtime, "listing-0.1.0.wasm");
    assert_eq!(listing.api_version, "0.1.0");
    assert_eq!(listing.world, World::ImageType);
    assert_eq!(listing.info.role, Role::ImageType(vec!["listing".into()]));
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    let artifacts = runtime
        .build_image(
            &listing,
            root,
            &TargetDir::create(out.path()).unwrap(),
            &request("listing", vec![]),
            &Grants::image_type_defaults(),
        )
        .unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0].file_name, "golden.x86_64-1.2.3.txt");
    let listed = fs::read_to_string(out.path().join(&artifacts[0].file_name)).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines, ["etc", "etc/hostname", "etc/passwd-link"]);
}

#[test]
fn a_plugin_importing_an_interface_it_does_not_declare_is_not_started() {
    // tests/plugins/trespass, built now: 0.2.0 links `artifacts` only into a
    // plugin declaring `artifact-write`, so this one never runs.
    let runtime = runtime(test_limits());
    let bytes = fs::read(builder_tests::fixture_plugin("trespass")).unwrap();
    let err = runtime
        .load(&bytes, PluginSource::File("trespass.wasm".into()))
        .map(|p| p.api_version)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("imports interface `artifacts`")
            && err.contains("does not declare capability `artifact-write`"),
        "{err}"
    );
}

#[test]
fn an_ungranted_toolbox_call_is_refused_with_plugin_and_capability() {
    let runtime = runtime(test_limits());
    // Under 0.1.0 every interface is linked and each call checks its grant.
    let trespass = load_0_1_0(&runtime, "trespass-0.1.0.wasm");
    assert_eq!(trespass.info.capabilities, [Capability::RootRead]);
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    // Even with artifact-write on offer, the plugin did not declare it, so it
    // is not among its effective grants.
    let err = runtime
        .build_image(
            &trespass,
            root,
            &TargetDir::create(out.path()).unwrap(),
            &request("trespass", vec![]),
            &Grants::image_type_defaults(),
        )
        .unwrap_err();
    match &err {
        PluginError::Failed { plugin, error } => {
            assert_eq!(plugin, "`trespass` 0.1.0");
            assert_eq!(
                *error,
                GuestError::CapabilityDenied(Capability::ArtifactWrite)
            );
        }
        other => panic!("unexpected error: {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("`trespass`") && message.contains("`artifact-write`"),
        "{message}"
    );
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        0,
        "something was written"
    );
}

#[test]
fn a_declared_capability_that_is_not_granted_stops_the_call_before_it_runs() {
    let runtime = runtime(test_limits());
    let plugins = builtin_plugins(&runtime);
    let tbz = plugins.iter().find(|p| p.info.name == "tbz").unwrap();
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    let grants: Grants = [Capability::RootRead, Capability::ArtifactWrite]
        .into_iter()
        .collect();
    let err = runtime
        .build_image(
            tbz,
            root,
            &TargetDir::create(out.path()).unwrap(),
            &request("tbz", vec![]),
            &grants,
        )
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::NotGranted { capability: Capability::Compression, plugin } if plugin == "`tbz` 0.1.0"),
        "{err:?}"
    );
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn hooks_read_the_root_inside_it_and_never_the_host() {
    let runtime = runtime(test_limits());
    let hook = load_fixture(&runtime, "probe-hook");
    assert_eq!(hook.world, World::Hook);
    assert_eq!(
        hook.info.role,
        Role::Hook(vec![Stage::PreImage, Stage::PostImage])
    );
    let (_dir, root) = small_root();
    let grants: Grants = [Capability::RootRead].into_iter().collect();
    let hook_request = |file: &str| HookRequest {
        image: identity(),
        options: hook
            .info
            .resolve_options(&[("file".into(), file.into())])
            .unwrap(),
        artifacts: vec![],
    };
    // The fixture reports what it read by failing with it.
    let err = runtime
        .run_hook(
            &hook,
            Stage::PreImage,
            root.clone(),
            &hook_request("/etc/hostname"),
            &grants,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `probe-hook` 0.1.0 failed: pre-image saw /etc/hostname=golden for golden"
    );
    // A symlink to the host's /etc/passwd resolves inside the root: not found.
    let err = runtime
        .run_hook(
            &hook,
            Stage::PreImage,
            root.clone(),
            &hook_request("etc/passwd-link"),
            &grants,
        )
        .unwrap_err();
    match err {
        PluginError::Failed {
            error: GuestError::Io { path, message },
            ..
        } => {
            assert_eq!(path, "etc/passwd-link");
            assert!(message.contains("No such file"), "{message}");
        }
        other => panic!("unexpected: {other:?}"),
    }
    // Without root-read granted, nothing runs.
    let err = runtime
        .run_hook(
            &hook,
            Stage::PreImage,
            root,
            &hook_request("etc/hostname"),
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
fn baselines_state_their_requests_and_are_held_to_their_grants() {
    let runtime = runtime(test_limits());
    let baseline = load_fixture(&runtime, "probe-baseline");
    assert_eq!(baseline.world, World::Baseline);
    let (_dir, root) = small_root();
    let grants: Grants = [Capability::RootRead, Capability::RootWrite]
        .into_iter()
        .collect();
    let request = BaselineRequest {
        image: identity(),
        family: Family::Debian,
        release: "12".into(),
        profiles: vec![],
        options: vec![],
    };
    let actions = runtime
        .apply_baseline(&baseline, root, &request, &grants)
        .unwrap();
    assert_eq!(
        actions,
        [
            RootChange::InstallPackages {
                names: vec!["chrony".into(), "systemd-resolved".into()]
            },
            RootChange::EnableService {
                unit: "chronyd.service".into()
            },
            RootChange::WriteFile {
                path: "etc/hostname".into(),
                content: b"localhost\n".to_vec(),
                mode: 0o644,
                uid: 0,
                gid: 0
            },
            RootChange::SetDefaultTarget {
                target: "multi-user.target".into()
            },
        ]
    );
}

#[test]
fn bytes_that_are_not_a_plugin_are_refused_clearly() {
    let runtime = runtime(test_limits());
    let err = runtime
        .load(b"\0asm\x01\0\0\0", PluginSource::File("junk.wasm".into()))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("junk.wasm: not a builder plugin:"),
        "{err}"
    );
    let err = runtime
        .load(b"not wasm at all", PluginSource::File("text.wasm".into()))
        .err()
        .unwrap();
    assert!(matches!(err, PluginError::NotAPlugin { .. }), "{err:?}");
}

#[test]
fn the_readme_minimal_plugin_builds_its_listing() {
    let runtime = runtime(test_limits());
    let listing = load_fixture(&runtime, "listing");
    assert_eq!(
        listing.info.capabilities,
        [Capability::RootRead, Capability::ArtifactWrite]
    );
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    let artifacts = runtime
        .build_image(
            &listing,
            root,
            &TargetDir::create(out.path()).unwrap(),
            &request("listing", vec![]),
            &Grants::image_type_defaults(),
        )
        .unwrap();
    assert_eq!(artifacts[0].file_name, "golden.x86_64-1.2.3.txt");
    let text = fs::read_to_string(out.path().join("golden.x86_64-1.2.3.txt")).unwrap();
    assert_eq!(text, "etc\netc/hostname\netc/passwd-link\n");
}

#[test]
fn a_trap_is_reported_as_a_plugin_bug_and_leaves_no_artifact() {
    let runtime = runtime(test_limits());
    let crash = load_fixture(&runtime, "crash");
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    let err = runtime
        .build_image(
            &crash,
            root,
            &TargetDir::create(out.path()).unwrap(),
            &request("crash", vec![]),
            &Grants::image_type_defaults(),
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, PluginError::Crashed { .. }), "{err:?}");
    assert!(
        message.starts_with("plugin `crash` 0.1.0 crashed (a bug in the plugin):"),
        "{message}"
    );
    assert!(
        message.contains("index 7 is out of range for 0 bytes"),
        "{message}"
    );
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        0,
        "a half-written artifact is left"
    );
}

#[test]
fn plugins_next_to_a_description_and_given_explicitly_take_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    fs::create_dir(&plugins_dir).unwrap();
    fs::copy(
        builder_tests::fixture_plugin("listing"),
        plugins_dir.join("listing.wasm"),
    )
    .unwrap();
    fs::write(plugins_dir.join("README"), "not a plugin").unwrap();
    // Pinned by the description, as `path="plugins/listing.wasm" sha256=` does.
    let pins = vec![Pin {
        path: dir.path().join("plugins/listing.wasm"),
        sha256: builder::toolbox::sha256_hex(&fs::read(plugins_dir.join("listing.wasm")).unwrap()),
    }];
    let described = DescriptionPlugins {
        dir: plugins_dir.clone(),
        pins,
    };
    let explicit = fixture_0_1_0("trespass-0.1.0.wasm");
    let catalog = Catalog::discover(
        std::slice::from_ref(&explicit),
        std::slice::from_ref(&described),
    )
    .unwrap();
    let sources: Vec<_> = catalog
        .candidates()
        .iter()
        .map(|c| c.source.clone())
        .collect();
    assert_eq!(sources[0], PluginSource::File(explicit));
    assert_eq!(
        sources[1],
        PluginSource::File(plugins_dir.join("listing.wasm"))
    );
    assert!(sources[2..].iter().all(|s| *s == PluginSource::BuiltIn));
    let runtime = runtime(test_limits());
    let names: Vec<_> = runtime
        .load_catalog(&catalog)
        .unwrap()
        .into_iter()
        .map(|p| p.info.name)
        .collect();
    assert_eq!(names[..2], ["trespass", "listing"]);
    // Then every built-in plugin, under the name it is built in as.
    assert_eq!(names[2..], Catalog::builtin_names().collect::<Vec<_>>()[..]);
}

// ---- limits on host work (the `flood` fixture) -------------------------

fn flood_request(plugin: &builder::plugins::Plugin, mode: &str, count: i64) -> BuildRequest {
    let options = plugin
        .info
        .resolve_options(&[
            ("mode".into(), mode.into()),
            ("count".into(), count.to_string()),
        ])
        .unwrap();
    request("flood", options)
}

fn flood_grants() -> Grants {
    let mut grants = Grants::image_type_defaults();
    grants.insert(Capability::Partitioning);
    grants
}

/// Runs the flood fixture in `mode` against `root`, into a fresh directory;
/// returns the error (or the artifacts) and what is left in the directory.
fn flood(
    runtime: &PluginRuntime,
    root: Arc<RootTree>,
    mode: &str,
    count: i64,
) -> (
    Result<Vec<builder::toolbox::ArtifactInfo>, PluginError>,
    Vec<String>,
) {
    let plugin = load_fixture(runtime, "flood");
    let out = tempfile::tempdir().unwrap();
    let result = runtime.build_image(
        &plugin,
        root,
        &TargetDir::create(out.path()).unwrap(),
        &flood_request(&plugin, mode, count),
        &flood_grants(),
    );
    let mut left: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    (result, left)
}

fn guest_message(err: &PluginError) -> String {
    match err {
        PluginError::Failed {
            error: GuestError::Other(message),
            ..
        } => message.clone(),
        other => panic!("not the plugin's own error: {other:?}"),
    }
}

fn threads() -> usize {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn open_walks_and_readers_are_bounded_by_name() {
    let runtime = runtime(test_limits());
    let (_dir, root) = small_root();
    let (result, _) = flood(&runtime, root.clone(), "walks", 3000);
    let message = guest_message(&result.unwrap_err());
    assert!(
        message.contains("too many open walks")
            && message.contains("at most 64")
            && message.contains("--plugin-max-walks"),
        "{message}"
    );
    let (result, _) = flood(&runtime, root.clone(), "readers", 3000);
    let message = guest_message(&result.unwrap_err());
    assert!(
        message.contains("too many open file readers")
            && message.contains("at most 256")
            && message.contains("--plugin-max-readers"),
        "{message}"
    );
    // Artifact writers (threads of their own each) too; the partial files go.
    let (result, left) = flood(&runtime, root, "writers", 100);
    let message = guest_message(&result.unwrap_err());
    assert!(
        message.contains("too many open artifact writers") && message.contains("at most 16"),
        "{message}"
    );
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn hundreds_of_open_walks_share_a_few_threads() {
    // A root large enough that every walk's read-ahead fills up and waits
    // (a thread of its own per walk stayed for as long as the walk).
    let dir = tempfile::tempdir().unwrap();
    for d in 0..10 {
        let sub = dir.path().join(format!("dir{d}"));
        fs::create_dir(&sub).unwrap();
        for f in 0..250 {
            fs::write(sub.join(format!("file{f:03}")), b"x").unwrap();
        }
    }
    let root = Arc::new(RootTree::open(dir.path()).unwrap());
    let runtime = runtime(RuntimeLimits {
        max_open_walks: 1000,
        call_timeout: Duration::from_secs(60),
        ..test_limits()
    });
    let plugin = load_fixture(&runtime, "flood");
    let before = threads();
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let running = running.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(threads());
                std::thread::sleep(Duration::from_millis(2));
            }
            most
        })
    };
    let out = tempfile::tempdir().unwrap();
    let result = runtime.build_image(
        &plugin,
        root,
        &TargetDir::create(out.path()).unwrap(),
        &flood_request(&plugin, "walks", 400),
        &flood_grants(),
    );
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().unwrap();
    // One thread per walk would be 400 more; tests running beside this one
    // start a few of their own.
    assert!(
        most < before + 60,
        "{most} threads during 400 open walks ({before} before)"
    );
    result.unwrap();
}

#[test]
fn an_artifact_past_the_byte_budget_fails_the_call_and_is_removed() {
    let runtime = runtime(RuntimeLimits {
        max_artifact_bytes: Some(8 << 20),
        ..test_limits()
    });
    let (_dir, root) = small_root();
    let (result, left) = flood(&runtime, root.clone(), "artifact", 64);
    let err = result.unwrap_err();
    assert!(matches!(err, PluginError::LimitExceeded { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("plugin `flood` 0.1.0 was stopped: artifact limit exceeded")
            && message.contains("at most 8388608 bytes of artifacts (--max-artifact-bytes)"),
        "{message}"
    );
    // Neither the artifact finished before nor the partial one is left.
    assert_eq!(left, Vec::<String>::new());
    // Within the budget, the same plugin writes its artifacts.
    let (result, left) = flood(&runtime, root, "artifact", 4);
    assert_eq!(result.unwrap().len(), 2);
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn disks_larger_than_the_limit_are_refused_before_anything_is_written() {
    let runtime = runtime(test_limits());
    let (_dir, root) = small_root();
    // A PiB, given outright.
    let (result, left) = flood(&runtime, root.clone(), "disk", 1 << 50);
    let message = guest_message(&result.unwrap_err());
    assert!(
        message.contains("larger than the 2199023255552 bytes")
            && message.contains("--max-disk-bytes"),
        "{message}"
    );
    assert_eq!(left, Vec::<String>::new());
    // A size computed from partitions that each fit.
    let runtime = runtime_with_disk_limit(64 << 20);
    let (result, left) = flood(&runtime, root, "disk-computed", 63 << 20);
    let err = result.unwrap_err();
    let message = match &err {
        PluginError::Failed {
            error: GuestError::Other(message),
            ..
        } => message.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        message.contains("the disk would be 68157440 bytes, larger than the 67108864 bytes"),
        "{message}"
    );
    assert_eq!(left, Vec::<String>::new());
}

/// `pack-disk` through the contract: each archive under its name with
/// its members, the raw disk gone, nothing else left.
#[test]
fn a_disk_is_packed_every_way_through_the_contract() {
    let runtime = runtime(test_limits());
    let (_dir, root) = small_root();
    let (result, left) = flood(&runtime, root, "packed", 16 << 20);
    let artifacts = result.unwrap();
    let base = "golden.x86_64-1.2.3";
    let names: Vec<&str> = artifacts.iter().map(|a| a.file_name.as_str()).collect();
    let expected = [
        format!("{base}.tar.gz"),
        format!("{base}.ova"),
        format!("{base}.vagrant.libvirt.box"),
        format!("{base}.vagrant.virtualbox.box"),
    ];
    assert_eq!(names, expected);
    let mut sorted = expected.to_vec();
    sorted.sort();
    assert_eq!(left, sorted, "only the archives are left");
}

fn runtime_with_disk_limit(bytes: u64) -> PluginRuntime {
    runtime(RuntimeLimits {
        max_disk_bytes: bytes,
        ..test_limits()
    })
}

#[test]
fn hostile_values_get_errors_not_a_host_panic() {
    let (_dir, root) = small_root();
    for runtime in [
        runtime(test_limits()),
        // No disk limit: the sizes themselves must not overflow.
        runtime_with_disk_limit(u64::MAX),
    ] {
        let (result, left) = flood(&runtime, root.clone(), "hostile", 0);
        let message = guest_message(&result.unwrap_err());
        assert_eq!(
            message,
            "survived: read 7 bytes, 3 entries, append refused true, \
             huge partition refused true, huge disk refused true"
        );
        assert_eq!(left, Vec::<String>::new());
    }
}

#[test]
fn what_a_crashing_plugin_printed_is_shown_escaped() {
    let runtime = runtime(test_limits());
    let (_dir, root) = small_root();
    let (result, _) = flood(&runtime, root, "panic", 0);
    let err = result.unwrap_err();
    assert!(matches!(err, PluginError::Crashed { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("\\x1b[2J\\x1b]0;title\\x07 screen cleared"),
        "{message}"
    );
    assert!(message.contains("boom \\x1b[31m in red"), "{message}");
    assert!(
        !message.contains('\x1b') && !message.contains('\x07'),
        "{message}"
    );
}

#[test]
fn a_plugin_sleeping_in_wasi_is_stopped_at_its_deadline_and_cleaned_up() {
    let runtime = runtime(RuntimeLimits {
        call_timeout: Duration::from_secs(2),
        ..test_limits()
    });
    let plugin = load_fixture(&runtime, "flood");
    let (_dir, root) = small_root();
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = runtime
        .build_image(
            &plugin,
            root,
            &TargetDir::create(out.path()).unwrap(),
            &flood_request(&plugin, "sleep", 0),
            &flood_grants(),
        )
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("plugin `flood` 0.1.0 did not finish within 2.0 s"),
        "{err}"
    );
    // Stopped within a second of its deadline, though it waits in WASI.
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(3),
        "took {elapsed:?}"
    );
    // The artifact it finished before sleeping is gone.
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn an_unpinned_plugin_next_to_a_description_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    fs::create_dir(&plugins_dir).unwrap();
    fs::copy(
        builder_tests::fixture_plugin("listing"),
        plugins_dir.join("listing.wasm"),
    )
    .unwrap();
    let digest = builder::toolbox::sha256_hex(&fs::read(plugins_dir.join("listing.wasm")).unwrap());
    let described = DescriptionPlugins {
        dir: plugins_dir.clone(),
        pins: Vec::new(),
    };
    let err = Catalog::discover(&[], std::slice::from_ref(&described))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("listing.wasm: plugin refused: a plugin next to the description loads only when the description pins it"),
        "{err}"
    );
    assert!(
        err.contains(&format!(r#"path="plugins/listing.wasm" sha256="{digest}""#)),
        "{err}"
    );
    // Pinned to other bytes: refused when read, before it is compiled.
    let described = DescriptionPlugins {
        dir: plugins_dir.clone(),
        pins: vec![Pin {
            path: plugins_dir.join("listing.wasm"),
            sha256: "0".repeat(64),
        }],
    };
    let catalog = Catalog::discover(&[], std::slice::from_ref(&described)).unwrap();
    let err = runtime(test_limits())
        .load_catalog(&catalog)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!(
            "plugin refused: it has sha256 {digest}, but the description pins {}",
            "0".repeat(64)
        )),
        "{err}"
    );
}

/// A component calling itself like a built-in plugin never takes its place:
/// not from a description's folder (pinned or not), not from `--plugin`.
#[test]
fn a_plugin_file_named_like_a_built_in_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    fs::create_dir(&plugins_dir).unwrap();
    let builtin = Catalog::discover(&[], &[]).unwrap().candidates()[0].clone();
    let bytes = builtin.bytes().unwrap();
    let file = plugins_dir.join("innocent.wasm");
    fs::write(&file, &bytes).unwrap();
    let described = DescriptionPlugins {
        dir: plugins_dir.clone(),
        pins: vec![Pin {
            path: file.clone(),
            sha256: builder::toolbox::sha256_hex(&bytes),
        }],
    };
    let runtime = runtime(test_limits());
    for catalog in [
        Catalog::discover(&[], std::slice::from_ref(&described)).unwrap(),
        Catalog::discover(std::slice::from_ref(&file), &[]).unwrap(),
    ] {
        let err = runtime.load_catalog(&catalog).err().unwrap();
        assert!(matches!(err, PluginError::Refused { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: plugin refused: it calls itself `{}`, the name of a plugin built into builder",
                file.display(),
                builtin.hint
            )),
            "{message}"
        );
    }
}
