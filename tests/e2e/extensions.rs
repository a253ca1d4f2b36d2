//! Plugins named in a description's `<extension>`: a real Debian build of
//! `examples/debian-minimal` (cloud profile) applies the `baseline-example`
//! baseline and runs the Python hook fixture at `config`, and every effect
//! is checked inside the image; grants, pins and references that are wrong
//! stop the build before anything is installed. Runs as root.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use builder::packages::MirrorOverride;
use builder::plan::PlanRequest;
use builder::plugins::select::{select, Purpose};
use builder::run::{run, RunRequest};
use builder_tests::{builtin_plugins, runtime, test_limits};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-minimal")
}

fn var_tmp(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// A copy of the example whose extension section also holds `extra`.
fn example_copy(dir: &Path, extra: &str) -> PathBuf {
    let desc = dir.join("desc");
    let status = Command::new("cp")
        .arg("-a")
        .arg(example())
        .arg(&desc)
        .status()
        .unwrap();
    assert!(status.success());
    let config = desc.join("config.xml");
    let text = fs::read_to_string(&config).unwrap();
    let text = text.replace("    </extension>", &format!("{extra}\n    </extension>"));
    fs::write(&config, text).unwrap();
    desc
}

fn long_runtime() -> builder::plugins::PluginRuntime {
    builder_tests::runtime_sharing_code(builder::plugins::RuntimeLimits {
        call_timeout: std::time::Duration::from_secs(600),
        ..test_limits()
    })
}

fn request(description: PathBuf, target: &Path, root: &Path, profiles: &[&str]) -> RunRequest {
    RunRequest {
        description,
        target_dir: target.to_path_buf(),
        plan: PlanRequest {
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
            ..PlanRequest::default()
        },
        mirror: MirrorOverride(std::env::var("BUILDER_MIRROR").ok()),
        snapshots: Vec::new(),
        locked: None,
        package_cache: None,
        root_cache: None,
        xz_cache: crate::xz_cache(),
        root: Some(root.to_path_buf()),
        source_date_epoch: Some(1_700_000_000),
        memory_root: builder::prepare::memory::MemoryBudget::Auto,
        remote: None,
        signing_key: None,
    }
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("/{rel}: {e}"))
}

fn link(root: &Path, rel: &str) -> String {
    fs::read_link(root.join(rel))
        .unwrap_or_else(|e| panic!("/{rel}: {e}"))
        .display()
        .to_string()
}

fn installed(root: &Path, package: &str) -> bool {
    let out = Command::new("dpkg-query")
        .arg("--admindir")
        .arg(root.join("var/lib/dpkg"))
        .args(["-W", "-f=${Status}", package])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout) == "install ok installed"
}

#[test]
fn a_debian_build_applies_the_baseline_and_runs_a_python_hook() {
    let tmp = var_tmp("builder-test-ext-");
    let hook = tmp.path().join("python-hook.wasm");
    // The python_hook tests' build: compiled once for both (the runtime
    // shares their code cache).
    fs::copy(builder_tests::python_hook(), &hook).unwrap();
    let digest = builder::toolbox::sha256_hex(&fs::read(&hook).unwrap());
    let desc = example_copy(
        tmp.path(),
        &format!(
            r#"        <builder:plugin name="python-hook" kind="hook" stages="config"
                path="../python-hook.wasm" sha256="{digest}" grants="root-read, root-write">
            <builder:option name="marker" value="golden"/>
        </builder:plugin>"#
        ),
    );
    let target = tmp.path().join("out");
    let root = tmp.path().join("root");
    let runtime = long_runtime();
    let plugins = builtin_plugins(&runtime);
    let result = run(
        &runtime,
        &plugins,
        &request(desc, &target, &root, &["cloud"]),
    )
    .expect("builder run");

    // The baseline, step by step (plugins/baseline-example).
    assert_eq!(read(&root, "etc/hostname"), "localhost\n");
    assert_eq!(fs::metadata(root.join("etc/machine-id")).unwrap().len(), 0);
    let shadow = read(&root, "etc/shadow");
    let root_entry = shadow.lines().find(|l| l.starts_with("root:")).unwrap();
    assert!(
        root_entry.starts_with("root:!"),
        "root is not locked on the cloud profile: {root_entry}"
    );
    for package in ["chrony", "systemd-resolved", "cloud-init"] {
        assert!(installed(&root, package), "{package} is not installed");
    }
    assert_eq!(
        link(
            &root,
            "etc/systemd/system/multi-user.target.wants/chrony.service"
        ),
        "/lib/systemd/system/chrony.service"
    );
    assert_eq!(
        link(
            &root,
            "etc/systemd/system/sysinit.target.wants/systemd-resolved.service"
        ),
        "/lib/systemd/system/systemd-resolved.service"
    );
    assert_eq!(
        link(&root, "etc/systemd/system/default.target"),
        "/lib/systemd/system/multi-user.target"
    );
    assert_eq!(
        read(&root, "etc/systemd/journald.conf.d/50-persistent.conf"),
        "[Journal]\nStorage=persistent\n"
    );
    let cloud_user = read(&root, "etc/cloud/cloud.cfg.d/01_clouduser.cfg");
    assert!(cloud_user.contains("name: admin"), "{cloud_user}");
    let meta = fs::metadata(root.join("etc/cloud/cloud.cfg.d/01_clouduser.cfg")).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o644, 0, 0)
    );

    // The Python hook ran at `config`, over the root as the baseline left it.
    assert_eq!(
        read(&root, "etc/python-hook"),
        "golden on Debian GNU/Linux 12 (bookworm)\n"
    );
    // config.sh still ran after them.
    assert_eq!(
        link(&root, "etc/systemd/system/systemd-timesyncd.service"),
        "/dev/null"
    );

    // The package list and the manifest say what ran.
    let names: Vec<&str> = result.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["tbz", "baseline-example", "python-hook"]);
    assert_eq!(result.plugins[2].sha256, digest);
    assert!(result
        .phases
        .iter()
        .any(|p| p.phase == "prepare: baselines"));
    let sbom = result.sbom.as_ref().expect("an SBOM");
    let list = sbom
        .files
        .iter()
        .find(|f| f.ends_with(".packages"))
        .expect("a .packages file");
    let packages = fs::read_to_string(target.join(list)).unwrap();
    assert!(
        packages.lines().any(|l| l.starts_with("chrony|")),
        "{packages}"
    );
}

#[test]
fn a_missing_grant_stops_the_build_before_anything_is_installed() {
    let tmp = var_tmp("builder-test-ext-");
    let desc = example_copy(tmp.path(), "");
    let config = desc.join("config.xml");
    let text = fs::read_to_string(&config).unwrap().replace(
        r#"grants="root-write, root-exec""#,
        r#"grants="root-write""#,
    );
    fs::write(&config, text).unwrap();
    let runtime = long_runtime();
    let plugins = builtin_plugins(&runtime);
    let root = tmp.path().join("root");
    let err = run(
        &runtime,
        &plugins,
        &request(desc, &tmp.path().join("out"), &root, &[]),
    )
    .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("config.xml:")
            && message.contains("plugin `baseline-example` 0.1.0 needs capability `root-exec`"),
        "{message}"
    );
    assert!(
        !root.exists(),
        "the build started: {} exists",
        root.display()
    );
}

#[test]
fn component_files_are_pinned_by_sha256() {
    let tmp = var_tmp("builder-test-ext-");
    let fixture = builder_tests::fixture_plugin("probe-hook");
    let bytes = fs::read(&fixture).unwrap();
    let digest = builder::toolbox::sha256_hex(&bytes);
    fs::write(tmp.path().join("probe.wasm"), &bytes).unwrap();
    let runtime = runtime(test_limits());
    let plugins = builtin_plugins(&runtime);
    let plan_of = |reference: &str| {
        let dir = tempfile::tempdir_in(tmp.path()).unwrap();
        let desc = example_copy(dir.path(), reference);
        let description = builder::description::load(&desc)?;
        let plan = builder::plan::plan(&description, &PlanRequest::default())?;
        select(&runtime, &plugins, &plan, Purpose::Build)
            .map(|selected| {
                selected
                    .hooks
                    .iter()
                    .map(|h| h.planned())
                    .collect::<Vec<_>>()
            })
            .map_err(anyhow::Error::from)
    };
    let hook = |extra: &str| {
        format!(
            r#"        <builder:plugin name="probe-hook" kind="hook" path="../../probe.wasm" grants="root-read"{extra}/>"#
        )
    };

    // Pinned: loaded, with the stages it serves.
    let planned = plan_of(&hook(&format!(r#" sha256="{digest}""#))).unwrap();
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].sha256, digest);
    assert_eq!(planned[0].stages, ["pre-image", "post-image"]);

    // Another digest: refused, both digests named.
    let other = "0".repeat(64);
    let err = plan_of(&hook(&format!(r#" sha256="{other}""#)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plugin `probe-hook` refused")
            && err.contains(&digest)
            && err.contains(&other),
        "{err}"
    );
    // Not pinned: refused, with the digest to check and pin.
    let err = plan_of(&hook("")).unwrap_err().to_string();
    assert!(
        err.contains("is not pinned") && err.contains(&digest),
        "{err}"
    );
    // A capability it declares but is not granted: named with the plugin.
    let err = plan_of(&hook(&format!(r#" sha256="{digest}""#)).replace("root-read", ""))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plugin `probe-hook` 0.1.0 needs capability `root-read`"),
        "{err}"
    );
    // An unknown capability: where it is written.
    let err = plan_of(&hook(&format!(r#" sha256="{digest}""#)).replace("root-read", "root"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config.xml:") && err.contains("unknown capability `root`"),
        "{err}"
    );
    // A stage the hook does not serve.
    let err = plan_of(&hook(&format!(r#" sha256="{digest}" stages="config""#)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not run at stage `config`"), "{err}");
    // A hook used as a baseline.
    let err = plan_of(
        &hook(&format!(r#" sha256="{digest}""#)).replace(r#"kind="hook""#, r#"kind="baseline""#),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("is a hook plugin, but the description uses it as a baseline"),
        "{err}"
    );
    // A name no plugin has.
    let err = plan_of(r#"        <builder:plugin name="nope" kind="hook" grants="root-read"/>"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no plugin named `nope`"), "{err}");
}

#[test]
fn yaml_descriptions_name_plugins_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("config.yaml"),
        r#"image:
  '@schemaversion': '8.5'
  '@name': yaml-plugins
  description:
    '@type': system
    author: a
    contact: c
    specification: s
  preferences:
    version: 1.0.0
    packagemanager: apt
    type:
      '@image': tbz
  extension:
    '@xmlns:builder': urn:builder:plugins:1
    'builder:plugin':
      - '@name': baseline-example
        '@kind': baseline
        '@grants': root-write, root-exec
        'builder:option':
          - '@name': default-user
            '@value': ops
      - '@name': stamp
        '@kind': hook
        '@stages': config pre-image
        '@grants': root-read
        '@bogus': x
"#,
    )
    .unwrap();
    let err = builder::description::load(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config.yaml:27:") && err.contains("unknown attribute `bogus`"),
        "{err}"
    );
    let text = fs::read_to_string(dir.path().join("config.yaml"))
        .unwrap()
        .replace("        '@bogus': x\n", "");
    fs::write(dir.path().join("config.yaml"), text).unwrap();
    let description = builder::description::load(dir.path()).unwrap();
    let refs = &description.plugins;
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0].name, "baseline-example");
    assert_eq!(
        refs[0].options,
        [("default-user".to_string(), "ops".to_string())]
    );
    let grants: Vec<&str> = refs[0].grants.iter().map(|g| g.value.as_str()).collect();
    assert_eq!(grants, ["root-write", "root-exec"]);
    let stages: Vec<&str> = refs[1].stages.iter().map(|g| g.value.as_str()).collect();
    assert_eq!(stages, ["config", "pre-image"]);
    assert_eq!(refs[1].origin.location.line, 23);
}

#[test]
fn an_image_type_from_a_file_serves_a_type_kiwi_does_not_know() {
    let tmp = var_tmp("builder-test-ext-");
    let bytes = fs::read(builder_tests::fixture_plugin("listing")).unwrap();
    let digest = builder::toolbox::sha256_hex(&bytes);
    fs::write(tmp.path().join("listing.wasm"), &bytes).unwrap();
    let desc = example_copy(
        tmp.path(),
        &format!(
            r#"        <builder:plugin name="listing" kind="image-type" path="../listing.wasm" sha256="{digest}"/>"#
        ),
    );
    let config = desc.join("config.xml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace(r#"<type image="tbz"/>"#, r#"<type image="listing"/>"#),
    )
    .unwrap();
    let runtime = runtime(test_limits());
    let plugins = builtin_plugins(&runtime);
    let plan_for = |desc: &Path| {
        let description = builder::description::load(desc).unwrap();
        builder::plan::plan(&description, &PlanRequest::default()).unwrap()
    };
    let selected = select(&runtime, &plugins, &plan_for(&desc), Purpose::Build).unwrap();
    let image_type = selected.image_type.expect("an image-type plugin");
    assert_eq!(image_type.plugin.info.name, "listing");
    assert_eq!(image_type.plugin.digest, digest);

    // A type nothing serves: the nearest name is suggested.
    fs::write(
        &config,
        text.replace(r#"<type image="tbz"/>"#, r#"<type image="tbx"/>"#),
    )
    .unwrap();
    let err = select(&runtime, &plugins, &plan_for(&desc), Purpose::Build)
        .err()
        .expect("no plugin serves tbx")
        .to_string();
    assert!(
        err.contains("no plugin builds image type `tbx` (`tbz`? available: "),
        "{err}"
    );
}
