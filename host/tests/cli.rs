//! The `builder` command line, run as a user runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{builder, fixtures, plugin_cache, stderr, stdout};

fn fixture(name: &str) -> PathBuf {
    Path::new(builder::GUEST_BUILD_DIR).join(format!("fixture_{name}.wasm"))
}

#[test]
fn plugin_list_shows_the_built_in_plugins() {
    let cache = tempfile::tempdir().unwrap();
    let out = builder(cache.path(), &["plugin", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let tbz = text
        .lines()
        .find(|l| l.starts_with("tbz "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        tbz.contains("image-type: tbz") && tbz.contains("built-in"),
        "{tbz}"
    );
    // Every built-in component is now compiled and cached.
    assert_eq!(
        std::fs::read_dir(cache.path().join("plugins"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cwasm"))
            .count(),
        builder::plugins::Catalog::builtin_names().count()
    );
}

#[test]
fn plugin_inspect_shows_capabilities_and_options() {
    let cache = plugin_cache();
    let out = builder(cache.path(), &["plugin", "inspect", "tbz"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("api:          builder:plugin@0.2.0"),
        "{text}"
    );
    assert!(
        text.contains("capabilities: root-read, artifact-write, compression"),
        "{text}"
    );
    assert!(
        text.contains("compression    one of xz|zstd|gzip|none, default xz"),
        "{text}"
    );

    let json = builder(cache.path(), &["plugin", "inspect", "tbz", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        value["capabilities"],
        serde_json::json!(["root-read", "artifact-write", "compression"])
    );
    assert_eq!(value["options"][0]["default"], "xz");

    // A component file of the older contract, kept as it was built.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/plugins/trespass-0.1.0.wasm");
    let out = builder(cache.path(), &["plugin", "inspect", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("name:         trespass"), "{text}");
    assert!(
        text.contains("api:          builder:plugin@0.1.0"),
        "{text}"
    );

    // One of 0.2.0 that imports an interface it does not declare.
    let out = builder(
        cache.path(),
        &["plugin", "inspect", fixture("trespass").to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "imports interface `artifacts` but does not declare capability `artifact-write`"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn create_writes_the_tarball_and_its_checksum() {
    let cache = plugin_cache();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/hostname"), "golden\n").unwrap();
    let target = tempfile::tempdir().unwrap();
    let out = builder(
        cache.path(),
        &[
            "create",
            "--root",
            root.path().to_str().unwrap(),
            "--target-dir",
            target.path().to_str().unwrap(),
            "--type",
            "tbz",
            "--name",
            "golden",
            "--image-version",
            "2.0",
            "--arch",
            "aarch64",
            "-o",
            "compression=gzip",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let artifact = target.path().join("golden.aarch64-2.0.tar.gz");
    assert!(artifact.is_file());
    let check = Command::new("sha256sum")
        .arg("-c")
        .arg("golden.aarch64-2.0.tar.gz.sha256")
        .current_dir(target.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stdout(&check));
    let list = Command::new("tar")
        .arg("-tzf")
        .arg(&artifact)
        .output()
        .unwrap();
    assert_eq!(stdout(&list), "etc/\netc/hostname\n");
}

/// A build run from a directory below its temporary directory, with a
/// relative target directory: the build binds the temporary directory onto
/// itself (`noatime`) and must then reach the working directory through
/// that bind, or publishing an artifact would rename across mounts.
#[test]
fn a_relative_target_dir_below_the_temporary_directory_is_written() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-cwd-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hostname"), "golden\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_builder"))
        .env(builder::rootfs::command::TEMP_DIR_VAR, tmp.path())
        .current_dir(tmp.path())
        .arg("--cache-dir")
        .arg(plugin_cache().path())
        .args([
            "create",
            "--root",
            "root",
            "--target-dir",
            "out",
            "--type",
            "tbz",
        ])
        .args(["--name", "golden", "-o", "compression=gzip"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let made: Vec<String> = std::fs::read_dir(tmp.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar.gz"))
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
}

/// Run by a user the host gives no subordinate ids (`nobody`, through
/// `setpriv`), a build stops before anything else with one error that
/// names the file and the user, and a hint with the command an
/// administrator runs; `plan`, which needs no namespace, still works
/// (issue 19).
#[test]
fn an_unprivileged_user_without_subordinate_ids_is_told_the_fix() {
    let nobody = 65534;
    let has_range = |file: &str| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let owner = l.split(':').next().unwrap_or_default();
                owner == "nobody" || owner == nobody.to_string()
            })
    };
    if has_range("/etc/subuid") || has_range("/etc/subgid") {
        eprintln!("SKIPPED an_unprivileged_user_without_subordinate_ids_is_told_the_fix: nobody has subordinate ids here");
        return;
    }
    // Where `nobody` may run and read it: a copy in a world-readable directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let program = dir.path().join("builder");
    std::fs::copy(env!("CARGO_BIN_EXE_builder"), &program).unwrap();
    let example = dir.path().join("debian-minimal");
    std::fs::create_dir(&example).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-minimal/config.xml"),
        example.join("config.xml"),
    )
    .unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(&program)
            .args(["--cache-dir", "/nonexistent/builder-cache"])
            .args(args)
            .current_dir(dir.path())
            .env("HOME", "/nonexistent")
            .output()
            .unwrap()
    };
    let out = as_nobody(&["run", "debian-minimal", "--target-dir", "/nonexistent/out"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(
        err.starts_with("error: rootless build: /etc/subuid gives user nobody no range of 65536 subordinate user ids"),
        "{err}"
    );
    assert!(
        err.contains("hint: an administrator gives the user subordinate ids once: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody`"),
        "{err}"
    );
    let out = as_nobody(&["plan", "debian-minimal"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let cache = plugin_cache();
    let root = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "create",
            "--root",
            root.path().to_str().unwrap(),
            "--target-dir",
            target.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        builder(cache.path(), &args)
    };
    let out = create(&["--type", "tbz", "-o", "compression=lz4"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "error: type `tbz`: option `compression`: `lz4` is not one of xz|zstd|gzip|none"
        ),
        "{}",
        stderr(&out)
    );
    let out = create(&["--type", "qcow9"]);
    assert!(
        stderr(&out).contains("error: no plugin builds image type `qcow9` (available: ")
            && stderr(&out).contains("tbz)"),
        "{}",
        stderr(&out)
    );
    let out = create(&["--type", "tbz", "--grant", "everything"]);
    assert!(
        stderr(&out).contains("unknown capability `everything`"),
        "{}",
        stderr(&out)
    );
    let out = builder(cache.path(), &["plugin", "inspect", "nope"]);
    assert!(
        stderr(&out).contains("error: no plugin named `nope` (available: baseline-example, ")
            && stderr(&out).contains("tbz)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0);
}

#[test]
fn a_stuck_plugin_given_with_plugin_is_stopped_and_named() {
    let cache = plugin_cache();
    let root = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let spin = fixture("spin");
    let out = builder(
        cache.path(),
        &[
            "create",
            "--root",
            root.path().to_str().unwrap(),
            "--target-dir",
            target.path().to_str().unwrap(),
            "--type",
            "spin",
            "--plugin",
            spin.to_str().unwrap(),
            "--plugin-timeout",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: plugin `spin` 0.1.0 did not finish within 1.0 s"),
        "{}",
        stderr(&out)
    );
}

/// `builder create` with the flood fixture in `mode`, and further arguments.
fn create_flood(root: &Path, target: &Path, mode: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_builder"));
    cmd.arg("--cache-dir")
        .arg(plugin_cache().path())
        .args(["create", "--root"])
        .arg(root)
        .arg("--target-dir")
        .arg(target)
        .args(["--type", "flood", "--grant", "partitioning", "--plugin"])
        .arg(fixture("flood"))
        .args(["-o", &format!("mode={mode}")])
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

#[test]
fn a_plugin_log_flood_is_cut_and_its_escape_sequences_never_reach_the_terminal() {
    let root = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let out = create_flood(root.path(), target.path(), "log", &["-o", "count=5000"])
        .output()
        .unwrap();
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    for raw in ['\x1b', '\x07', '\r', '\u{9b}', '\x7f'] {
        assert!(!text.contains(raw), "{raw:?} reached the terminal: {text}");
    }
    assert!(
        text.contains(
            "line 0: \\x1b[31mred\\x1b[0m bell\\x07 csi\\u{9b}2J cr\\r nl\\n del\\x7f end"
        ),
        "{text}"
    );
    let shown = text.lines().filter(|l| l.contains(": line ")).count();
    assert!((100..1000).contains(&shown), "{shown} lines shown: {text}");
    assert!(
        text.contains("log lines dropped (a plugin may log at most 100 lines per second"),
        "{text}"
    );

    // The byte budget of a call, whatever the rate.
    let out = create_flood(
        root.path(),
        target.path(),
        "log",
        &[
            "-o",
            "count=5000",
            "--plugin-log-rate",
            "1000000",
            "--plugin-log-bytes",
            "4K",
        ],
    )
    .output()
    .unwrap();
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    let shown: usize = text
        .lines()
        .filter(|l| l.contains(": line "))
        .map(|l| l.len())
        .sum();
    assert!(shown < 8192, "{shown} bytes of lines shown: {text}");
    assert!(
        text.contains("a plugin call may log at most 4096 bytes (--plugin-log-bytes)"),
        "{text}"
    );
    assert!(
        text.contains("log lines dropped after the log limit was reached"),
        "{text}"
    );
}

#[test]
fn sigint_stops_a_plugin_sleeping_in_wasi_at_once_and_removes_its_artifacts() {
    let root = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = create_flood(
        root.path(),
        target.path(),
        "sleep",
        &["--plugin-timeout", "600"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(log.reopen().unwrap())
    .spawn()
    .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(log.path())
        .unwrap()
        .contains("sleeping forever")
    {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "builder ended ({status}) before the plugin slept: {}",
                std::fs::read_to_string(log.path()).unwrap()
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the plugin never slept"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // It finished an artifact before sleeping.
    assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 1);
    let kill = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let signalled = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < std::time::Duration::from_secs(10),
            "builder did not stop within 10 s of SIGINT"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let stopped_after = signalled.elapsed();
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        stopped_after < std::time::Duration::from_secs(1),
        "stopped {stopped_after:?} after SIGINT: {text}"
    );
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("plugin `flood` 0.1.0 stopped: the build was interrupted"),
        "{text}"
    );
    let left: Vec<_> = std::fs::read_dir(target.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "artifacts left: {left:?}");
}

#[test]
fn plan_resolves_a_kiwi_description_and_names_its_plugins() {
    let cache = plugin_cache();
    let Some(fixtures) = fixtures("plan_resolves_a_kiwi_description_and_names_its_plugins") else {
        return;
    };
    let desc = fixtures.join("datto/kiwi-desc/ubuntu2004");
    // its includes reach `../platforms`
    let include_root = fixtures.join("datto/kiwi-desc");
    let out = builder(
        cache.path(),
        &[
            "--include-root",
            include_root.to_str().unwrap(),
            "plan",
            desc.to_str().unwrap(),
            "--profile",
            "AWSEC2",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["type"]["image"], "oem");
    assert_eq!(plan["profiles"], serde_json::json!(["AWSEC2"]));
    // The built-in `bootable` plugin builds oem disks, with the type's,
    // `<bootloader>`'s and `<oemconfig>`'s attributes as its options.
    let plugins = plan["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1, "{plugins:?}");
    assert_eq!(plugins[0]["name"], "bootable");
    assert_eq!(plugins[0]["kind"], "image-type");
    assert_eq!(plugins[0]["options"]["firmware"], "uefi");
    assert_eq!(plugins[0]["options"]["bootloader.timeout"], "1");
    assert_eq!(plugins[0]["options"]["oem-resize"], "false");
    let warnings = plan["warnings"].to_string();
    assert!(!warnings.contains("no plugin builds"), "{warnings}");

    // A description of type tbz plans with the built-in plugin and its grants.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.xml"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="8.5" name="mini">
  <description type="system">
    <author>Ops</author>
    <contact>ops@example.org</contact>
    <specification>tarball</specification>
  </description>
  <preferences>
    <version>1.0.0</version>
    <packagemanager>apt</packagemanager>
    <type image="tbz"/>
  </preferences>
  <repository type="apt-deb">
    <source path="file:///srv/debian"/>
  </repository>
  <packages type="bootstrap">
    <package name="apt"/>
  </packages>
</image>
"#,
    )
    .unwrap();
    let out = builder(
        cache.path(),
        &["plan", dir.path().to_str().unwrap(), "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plugins = plan["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1, "{plugins:?}");
    for (field, value) in [
        ("name", serde_json::json!("tbz")),
        ("version", serde_json::json!("0.1.0")),
        ("kind", serde_json::json!("image-type")),
        ("source", serde_json::json!("built-in")),
        (
            "grants",
            serde_json::json!(["root-read", "artifact-write", "compression"]),
        ),
        (
            "options",
            serde_json::json!({"compression": "xz", "image": "tbz"}),
        ),
    ] {
        assert_eq!(plugins[0][field], value, "{field}");
    }
    assert_eq!(plugins[0]["sha256"].as_str().unwrap().len(), 64);
    let text = builder(cache.path(), &["plan", dir.path().to_str().unwrap()]);
    assert!(
        stdout(&text).contains(
            "tbz 0.1.0 (image-type, built-in; grants: root-read, artifact-write, compression)"
        ),
        "{}",
        stdout(&text)
    );

    let out = builder(
        cache.path(),
        &[
            "--include-root",
            include_root.to_str().unwrap(),
            "plan",
            desc.to_str().unwrap(),
            "--profile",
            "Nope",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("Nope") && err.lines().count() <= 2,
        "{err}"
    );
}

/// A KIWI setting the image-type plugin does not declare is named in the
/// plan, with the plugin, rather than dropped without a word.
#[test]
fn the_plan_names_settings_no_plugin_acts_on() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("debian-cloud");
    let status = Command::new("cp")
        .arg("-a")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-cloud"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let config = copy.join("config.xml");
    let text = std::fs::read_to_string(&config).unwrap();
    let changed = text.replacen(
        "firmware=\"efi\" format=\"qcow2\"",
        "firmware=\"efi\" format=\"qcow2\" installpxe=\"true\"",
        1,
    );
    assert_ne!(text, changed);
    std::fs::write(&config, changed).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_builder"))
        .arg("plan")
        .arg(&copy)
        .output()
        .unwrap();
    let said = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        said.contains("not acted on:    installpxe=true by bootable"),
        "{said}"
    );
    let json = Command::new(env!("CARGO_BIN_EXE_builder"))
        .args(["plan", "--json"])
        .arg(&copy)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        plan["plugins"][0]["not_acted_on"],
        serde_json::json!(["installpxe=true"])
    );
}

/// `builder plan` of every profile run of the DevConf.US demo (both
/// distributions, five cloud and Vagrant profiles each) is clean: no
/// warning, and no KIWI setting the image-type plugin would leave undone
/// (issue 16).
#[test]
fn the_demo_profiles_plan_without_a_warning_or_a_setting_left_undone() {
    let Some(fixtures) = fixtures("the_demo_profiles_plan_without_a_warning") else {
        return;
    };
    let root = fixtures.join("datto/kiwi-desc");
    for distribution in ["ubuntu2004", "centos9"] {
        for profile in [
            "Vagrant-libvirt",
            "Vagrant-vbox",
            "Azure",
            "AWSEC2",
            "OpenStack",
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_builder"))
                .arg("plan")
                .arg(root.join(distribution))
                .arg("--include-root")
                .arg(&root)
                .args(["--profile", profile])
                .output()
                .unwrap();
            let (said, err) = (stdout(&out), stderr(&out));
            assert!(out.status.success(), "{distribution} {profile}: {err}");
            assert!(said.contains("plugins:         bootable "), "{said}");
            for text in [&said, &err] {
                assert!(
                    !text.to_lowercase().contains("warn") && !text.contains("not acted on"),
                    "{distribution} {profile}:\n{said}{err}"
                );
            }
        }
    }
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-minimal")
}

/// Mounts below the work directories in `tmp`.
fn mounts_below_builder_dirs(tmp: &Path, cache: &Path) -> Vec<String> {
    mounts_seen_by(None, tmp, cache)
}

/// The mounts below builder's directories in the mount namespace of
/// process `task` (a build has one of its own), or of this process.
fn mounts_seen_by(task: Option<u32>, tmp: &Path, cache: &Path) -> Vec<String> {
    let mut findmnt = Command::new("findmnt");
    findmnt.args(["-rn", "-o", "TARGET"]);
    if let Some(task) = task {
        findmnt.args(["--task", &task.to_string()]);
    }
    let out = findmnt.output().unwrap();
    let prefixes = [
        format!("{}/builder-", tmp.display()),
        format!("{}/", cache.display()),
    ];
    // The root cache bound onto itself `noatime` is the build's whole life
    // long, not a mount of the root being prepared.
    let roots = format!("{}/roots", cache.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|m| prefixes.iter().any(|p| m.starts_with(p)) && *m != roots)
        .map(str::to_string)
        .collect()
}

/// Command lines of the sandboxes (bwrap) running over a root under one of
/// `places` whose command line holds `word`.
fn sandboxed_processes(places: &[&Path], word: &str) -> Vec<String> {
    let places: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("bwrap") || c.contains("/bwrap "))
        .filter(|c| places.iter().any(|p| c.contains(p.as_str())) && c.contains(word))
        .collect()
}

/// Roots left half-prepared in the prepared-root cache.
fn incoming_roots(cache: &Path) -> Vec<String> {
    std::fs::read_dir(cache.join("roots"))
        .into_iter()
        .flatten()
        .flat_map(|base| std::fs::read_dir(base.unwrap().path()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// Builder's work directories in `tmp`.
fn work_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("builder-"))
        .collect()
}

/// Starts `builder run` on the example with `cache` and `tmp`, waits until
/// packages are being installed (the root's mounts and a sandboxed apt-get
/// exist) and sends `signal`; returns how it ended and what it logged.
fn interrupt_during_install(
    cache: &Path,
    target: &Path,
    tmp: &Path,
    signal: &str,
    memory_root: &str,
) -> (std::process::ExitStatus, String) {
    let root = Command::new(env!("CARGO_BIN_EXE_builder"));
    interrupt_install_of(root, &example(), cache, target, tmp, signal, memory_root)
}

/// [`interrupt_during_install`], `builder` started as `builder`
/// (a [`common::TestUser::builder`]) on `description`.
fn interrupt_install_of(
    mut builder: Command,
    description: &Path,
    cache: &Path,
    target: &Path,
    tmp: &Path,
    signal: &str,
    memory_root: &str,
) -> (std::process::ExitStatus, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = builder
        .env(builder::rootfs::command::TEMP_DIR_VAR, tmp)
        .arg("--cache-dir")
        .arg(cache)
        .arg("run")
        .arg(description)
        .arg("--target-dir")
        .arg(target)
        .args(["--memory-root", memory_root])
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    // Packages are installed into the root prepared for the root cache (in
    // memory, a tmpfs under the work directory root, or on disk in the
    // cache), by apt-get in the root's sandbox, with the root's mounts in
    // the build's own mount namespace.
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(log.path()).unwrap();
        // The packages of the image, not those a baseline adds later.
        let installing = text.contains("phase{name=\"install\"}")
            && !text.contains("phase{name=\"cache-root\"}");
        if installing
            // A root in memory is a tmpfs mounted in the build's namespace;
            // one on disk is a directory of the cache.
            && (memory_root == "off" || !mounts_seen_by(Some(child.id()), tmp, cache).is_empty())
            && !sandboxed_processes(&[tmp, cache], " install ").is_empty()
        {
            // Nothing of it shows in the host's mount namespace.
            assert_eq!(mounts_below_builder_dirs(tmp, cache), Vec::<String>::new());
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "builder ended ({status}) before installing packages: {}",
                std::fs::read_to_string(log.path()).unwrap()
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "installation never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let kill = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "builder did not stop within 60 s of SIG{signal}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let log_text = std::fs::read_to_string(log.path()).unwrap();
    assert!(!status.success(), "{log_text}");
    // No program of the build's sandboxes outlives it (they die with it,
    // SIGKILL included); give the kernel a moment to deliver that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sandboxed_processes(&[tmp, cache], "").is_empty() && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let orphans = sandboxed_processes(&[tmp, cache], "");
    assert!(orphans.is_empty(), "SIG{signal}: left running: {orphans:?}");
    // Its mounts lived in its own mount namespace, gone with it.
    assert_eq!(
        mounts_below_builder_dirs(tmp, cache),
        Vec::<String>::new(),
        "SIG{signal}: {log_text}"
    );
    let written: Vec<_> = std::fs::read_dir(target)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(
        written.is_empty(),
        "artifacts after an interrupted build: {written:?}"
    );
    (status, log_text)
}

/// A build interrupted with SIGINT cleans up after itself; builds killed
/// with SIGKILL (root prepared in memory, then on disk) leave no mount and
/// no process, and the next build sweeps their directories away and works
/// from the same caches (issue 22).
#[test]
fn interrupted_and_killed_builds_leave_nothing_and_the_next_build_works() {
    let cache = tempfile::tempdir().unwrap();
    let target = tempfile::Builder::new()
        .prefix("builder-test-sigint-")
        .tempdir_in("/var/tmp")
        .unwrap();
    // Its own work directory root: builds running beside the test are not
    // taken for its mounts or leftovers.
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-tmp-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let tmp = tmp.path();

    let (_, log_text) = interrupt_during_install(cache.path(), target.path(), tmp, "INT", "auto");
    assert!(log_text.contains("interrupted"), "{log_text}");
    assert_eq!(incoming_roots(cache.path()), Vec::<String>::new());
    let leaked = work_dirs(tmp);
    assert!(leaked.is_empty(), "work directories left: {leaked:?}");

    let mut logs = String::new();
    for memory_root in ["auto", "off"] {
        let (status, log_text) =
            interrupt_during_install(cache.path(), target.path(), tmp, "KILL", memory_root);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{log_text}");
        logs += &log_text;
    }
    // What the killed builds left: their work directories, and the root
    // the one on disk was preparing in the cache.
    assert!(!work_dirs(tmp).is_empty(), "{logs}");
    assert!(!incoming_roots(cache.path()).is_empty(), "{logs}");

    // The next build sweeps both away and succeeds.
    let out = Command::new(env!("CARGO_BIN_EXE_builder"))
        .env(builder::rootfs::command::TEMP_DIR_VAR, tmp)
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("run")
        .arg(example())
        .arg("--target-dir")
        .arg(target.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let artifacts: Vec<_> = std::fs::read_dir(target.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar.xz"))
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert_eq!(incoming_roots(cache.path()), Vec::<String>::new());
    let leaked = work_dirs(tmp);
    assert!(leaked.is_empty(), "work directories left: {leaked:?}");
    assert_eq!(
        mounts_below_builder_dirs(tmp, cache.path()),
        Vec::<String>::new()
    );
}

/// A plugin next to a description runs only when the description pins it;
/// no component file, pinned or given with `--plugin`, takes a built-in
/// plugin's name.
#[test]
fn plugins_next_to_a_description_need_a_pin_and_built_in_names_are_reserved() {
    let cache = plugin_cache();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let listing = std::fs::read(fixture("listing")).unwrap();
    std::fs::write(plugins.join("listing.wasm"), &listing).unwrap();
    let digest = builder::toolbox::sha256_hex(&listing);
    let description = |extension: &str| {
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="8.5" name="mini">
  <description type="system">
    <author>Ops</author>
    <contact>ops@example.org</contact>
    <specification>listing</specification>
  </description>
  <preferences>
    <version>1.0.0</version>
    <packagemanager>apt</packagemanager>
    <type image="listing"/>
  </preferences>
  <repository type="apt-deb">
    <source path="file:///srv/debian"/>
  </repository>
  <packages type="bootstrap">
    <package name="apt"/>
  </packages>
  {extension}
</image>
"#
            ),
        )
        .unwrap()
    };
    let plan = || {
        builder(
            cache.path(),
            &["plan", dir.path().to_str().unwrap(), "--json"],
        )
    };

    description("");
    let out = plan();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("listing.wasm: plugin refused: a plugin next to the description loads only when the description pins it")
            && err.contains(&format!(r#"path="plugins/listing.wasm" sha256="{digest}""#)),
        "{err}"
    );

    description(&format!(
        r#"<extension xmlns:builder="urn:builder:plugins:1">
    <builder:plugin name="listing" kind="image-type" path="plugins/listing.wasm" sha256="{digest}"/>
  </extension>"#
    ));
    let out = plan();
    assert!(out.status.success(), "{}", stderr(&out));
    let planned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(planned["plugins"][0]["name"], "listing", "{planned}");
    assert_eq!(planned["plugins"][0]["sha256"], digest.as_str());

    // A built-in plugin's component under another file name, pinned.
    let tbz = builder::plugins::Catalog::discover(&[], &[])
        .unwrap()
        .candidates()
        .iter()
        .find(|c| c.hint == "tbz")
        .unwrap()
        .bytes()
        .unwrap()
        .into_owned();
    std::fs::remove_file(plugins.join("listing.wasm")).unwrap();
    std::fs::write(plugins.join("fast-tar.wasm"), &tbz).unwrap();
    description(&format!(
        r#"<extension xmlns:builder="urn:builder:plugins:1">
    <builder:plugin name="tbz" kind="image-type" path="plugins/fast-tar.wasm" sha256="{}"/>
  </extension>"#,
        builder::toolbox::sha256_hex(&tbz)
    ));
    let out = plan();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("fast-tar.wasm: plugin refused: it calls itself `tbz`, the name of a plugin built into builder"),
        "{err}"
    );
    let out = builder(
        cache.path(),
        &[
            "plugin",
            "list",
            "--plugin",
            plugins.join("fast-tar.wasm").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("plugin refused: it calls itself `tbz`"),
        "{}",
        stderr(&out)
    );
    // Inspecting that one file replaces nothing: it works.
    let out = builder(
        cache.path(),
        &[
            "plugin",
            "inspect",
            plugins.join("fast-tar.wasm").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Errors say where: each failure below names the operation or the path it
/// concerns, never only the operating system's message, and a full
/// filesystem comes with a hint.
#[test]
fn failures_name_their_operation_and_path_never_a_bare_os_error() {
    let cache = plugin_cache();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    // Random bytes: the compressed tarball stays as large as they are.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..2_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(root.join("etc/noise"), noise).unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let create = |root: &str, target: &str, cache: &Path, extra: &[&str]| {
        let mut args = vec![
            "create",
            "--root",
            root,
            "--target-dir",
            target,
            "--type",
            "tbz",
        ];
        args.extend_from_slice(extra);
        builder(cache, &args)
    };
    let missing = tmp.path().join("missing");
    let cases: Vec<(&str, Output, String)> = vec![
        (
            "a target directory that is a file",
            create(&path(&root), &path(&file), cache.path(), &[]),
            path(&file),
        ),
        (
            "a root that is not there",
            create(
                &path(&missing),
                &path(&tmp.path().join("out")),
                cache.path(),
                &[],
            ),
            path(&missing),
        ),
        (
            "a description that is not there",
            builder(
                cache.path(),
                &["run", &path(&missing), "--target-dir", &path(&file)],
            ),
            path(&missing),
        ),
        (
            "a cache directory that is a file",
            create(&path(&root), &path(&tmp.path().join("out")), &file, &[]),
            path(&file),
        ),
    ];
    for (what, out, place) in &cases {
        assert!(!out.status.success(), "{what}: succeeded");
        let text = stderr(out);
        let error = text
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{what}: no error line in {text}"));
        assert!(error.contains(place.as_str()), "{what}: {error}");
        assert!(!bare_os_error(error), "{what}: {error}");
    }

    // A target filesystem that fills up mid-write: the error names the
    // artifact, the hint says what to do, and no artifact is left.
    if !has_root() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the full-filesystem case: it needs root to mount a tmpfs"
        );
        return;
    }
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=256k none {full} && exec {builder} --cache-dir {cache} \
         create --root {root} --target-dir {full} --type tbz --max-artifact-bytes 1G",
        full = full.display(),
        builder = env!("CARGO_BIN_EXE_builder"),
        cache = cache.path().display(),
        root = root.display(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    let error = text
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or("");
    assert!(error.contains("image.") && !bare_os_error(error), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("hint: a filesystem is full")),
        "{text}"
    );
}

/// Whether `line` is `error: ` and nothing but an OS error's own words.
fn bare_os_error(line: &str) -> bool {
    let rest = line.trim_start_matches("error: ");
    match rest.rsplit_once(" (os error ") {
        Some((words, _)) => !words.contains(':') && !words.contains('/'),
        None => false,
    }
}

fn has_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Two cold builds (empty caches, work directories of their own, at
/// different times) with `SOURCE_DATE_EPOCH` write the same bytes: the
/// tarball, its checksum, the package list, the SBOMs and the signed
/// provenance (issue 18). The provenance is then checked by builder and by
/// an independent implementation (securesystemslib), and a tampered
/// artifact is caught by both.
#[test]
fn two_cold_builds_of_the_minimal_example_are_identical_attested_and_published() {
    let dirs: Vec<tempfile::TempDir> = (0..2)
        .map(|_| {
            tempfile::Builder::new()
                .prefix("builder-test-repro-")
                .tempdir_in("/var/tmp")
                .unwrap()
        })
        .collect();
    // The second machine builds without root (issue 19), from a copy of
    // the example it may read.
    let user = common::TestUser::add("the rootless half of the cold builds' test");
    let users = [None, user.as_ref()];
    let shared = readable_copy(&example());
    let example = || shared.path().join("description");
    let keys = readable_dir();
    let ed25519 = signing_key(keys.path(), "ed25519", &["-algorithm", "ed25519"]);
    let p256 = signing_key(
        keys.path(),
        "p256",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    // A private key is its owner's alone: the user signs with a copy of its own.
    let key_for = |machine: usize, key: &Path| -> PathBuf {
        let Some(user) = users[machine] else {
            return key.to_path_buf();
        };
        let copy = dirs[machine].path().join(key.file_name().unwrap());
        std::fs::copy(key, &copy).unwrap();
        user.give(&copy);
        copy
    };
    let run_description = |description: &Path, machine: usize, target: &Path, key: &Path| {
        let key = key_for(machine, key);
        let key = key.to_str().unwrap();
        build_as(
            users[machine],
            dirs[machine].path(),
            description,
            target,
            &["--signing-key", key],
        );
    };
    let run = |machine: usize, target: &Path, key: &Path| {
        run_description(&example(), machine, target, key)
    };
    // The first machine also fills a remote cache (when this host has a
    // registry to run); the second stays cold.
    let registry = common::TestRegistry::start("the remote cache part of the cold builds' test");
    let remote = registry.as_ref().map(|r| r.location("builder-cache"));
    let mut outputs = Vec::new();
    for (machine, dir) in dirs.iter().enumerate() {
        let target = dir.path().join("out");
        match (&remote, machine) {
            (Some(remote), 0) => {
                build_with_caches(
                    dir.path(),
                    &example(),
                    &target,
                    &signed_with_remote(&ed25519.0, remote),
                );
            }
            // The cold machine is given a remote cache no one listens
            // on: it costs the cache, not the build, with one warning.
            _ => {
                let closed = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap();
                let nowhere = format!("oci://{closed}/builder-cache");
                let out = build_as(
                    users[machine],
                    dir.path(),
                    &example(),
                    &target,
                    &signed_with_remote(&key_for(machine, &ed25519.0), &nowhere),
                );
                let log = stderr(&out);
                let warnings: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("WARN") && l.contains("remote cache"))
                    .collect();
                assert_eq!(warnings.len(), 1, "{log}");
                assert!(warnings[0].contains("local cache only"), "{log}");
            }
        }
        outputs.push(target);
    }
    let names = assert_same_files(&outputs[0], &outputs[1], 7);
    if let Some(registry) = &registry {
        shared_through_the_remote_cache(registry, &example(), &outputs[0], &ed25519.0);
    }
    published_and_fetched_back(&outputs[0]);

    // One container type from the same two machines: the root each
    // prepared from empty caches, packed as a docker archive.
    let docker: Vec<PathBuf> = (0..2)
        .map(|machine| {
            let target = dirs[machine].path().join("out-docker");
            let args = ["--type", "docker"];
            build_as(
                users[machine],
                dirs[machine].path(),
                &example(),
                &target,
                &args,
            );
            target
        })
        .collect();
    assert_same_files(&docker[0], &docker[1], 7);

    // Filesystem images from the same root (its root cache entry):
    // ext4, squashfs and erofs the same bytes with and without root (ext4
    // too, though a rootless build's reads of its root cache move access
    // times the kernel does not let it bind away); xfs and btrfs, filled
    // through a loop mount, refused without root before anything is
    // installed, with the reason.
    let with_filesystems = shared.path().join("filesystems");
    copy_tree(&example(), &with_filesystems);
    let config = with_filesystems.join("config.xml");
    let xml = std::fs::read_to_string(&config).unwrap().replacen(
        "<type image=\"tbz\"/>",
        "<type image=\"tbz\"/>\n        <type image=\"squashfs\"/>\n        \
         <type image=\"erofs\"/>\n        <type image=\"ext4\"/>\n        \
         <type image=\"xfs\"/>\n        <type image=\"btrfs\"/>",
        1,
    );
    std::fs::write(&config, xml).unwrap();
    for fs in ["ext4", "squashfs", "erofs"] {
        let made: Vec<PathBuf> = (0..2)
            .map(|machine| {
                let target = dirs[machine].path().join(format!("out-{fs}"));
                let args = ["--type", fs];
                build_as(
                    users[machine],
                    dirs[machine].path(),
                    &with_filesystems,
                    &target,
                    &args,
                );
                target
            })
            .collect();
        assert_same_files(&made[0], &made[1], 7);
    }
    if let Some(user) = &user {
        for fs in ["xfs", "btrfs"] {
            let target = dirs[1].path().join(format!("out-{fs}"));
            let started = std::time::Instant::now();
            let out = user
                .builder(dirs[1].path())
                .env("XDG_CACHE_HOME", dirs[1].path().join("cache"))
                .arg("run")
                .arg(&with_filesystems)
                .arg("--target-dir")
                .arg(&target)
                .args(["--type", fs])
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(
                err.contains(&format!(
                    "error: rootless build: <type image=\"{fs}\"> image=\"{fs}\": a {fs} filesystem is \
                     filled through a loop mount, which needs root"
                )),
                "{err}"
            );
            assert!(!err.contains("prepare"), "refused after preparing: {err}");
            assert!(started.elapsed().as_secs() < 60, "{err}");
        }
    }

    // The statement: every artifact and SBOM with its digest, the packages
    // with theirs, the plugins, the description's digest.
    let provenance = names.iter().find(|n| n.ends_with(".intoto.jsonl")).unwrap();
    let statement = statement_of(&outputs[0].join(provenance));
    let subjects: Vec<&str> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in names
        .iter()
        .filter(|n| !n.ends_with(".sha256") && *n != provenance)
    {
        assert!(
            subjects.contains(&name.as_str()),
            "{name} not in {subjects:?}"
        );
    }
    let definition = &statement["predicate"]["buildDefinition"];
    let dependencies = definition["resolvedDependencies"].as_array().unwrap();
    let bash = dependencies
        .iter()
        .find(|d| {
            d["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("pkg:deb/debian/bash@"))
        })
        .unwrap_or_else(|| panic!("no bash in {definition:#}"));
    assert_eq!(
        bash["digest"]["sha256"].as_str().unwrap().len(),
        64,
        "{bash}"
    );
    // The SBOM gives bash the same digest.
    let cdx = names.iter().find(|n| n.ends_with(".cdx.json")).unwrap();
    let bom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outputs[0].join(cdx)).unwrap()).unwrap();
    let component = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bash")
        .unwrap();
    assert_eq!(
        component["hashes"][0]["content"], bash["digest"]["sha256"],
        "{component:#}"
    );
    assert!(
        dependencies.iter().any(|d| d["name"] == "plugin:tbz"),
        "{definition:#}"
    );
    assert_eq!(
        definition["externalParameters"]["description"]["digest"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(
        definition["internalParameters"]["sourceDateEpoch"],
        1700000000
    );

    // Checked by builder and by securesystemslib; the wrong key is refused.
    verify_attestation(&outputs[0], &ed25519.1).unwrap();
    independent_check(&outputs[0], &ed25519.1).unwrap();
    let wrong = verify_attestation(&outputs[0], &p256.1).unwrap_err();
    assert!(wrong.contains("no signature"), "{wrong}");
    assert!(independent_check(&outputs[0], &p256.1).is_err());

    // Signed with P-256 (a warm build), then one artifact changed.
    let warm = dirs[0].path().join("p256");
    run(0, &warm, &p256.0);
    verify_attestation(&warm, &p256.1).unwrap();
    independent_check(&warm, &p256.1).unwrap();
    let tarball = names
        .iter()
        .find(|n| n.ends_with(".tar.xz") || n.ends_with(".tbz"))
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(warm.join(tarball))
        .unwrap();
    std::io::Write::write_all(&mut file, b"x").unwrap();
    let tampered = verify_attestation(&warm, &p256.1).unwrap_err();
    assert!(tampered.contains(tarball.as_str()), "{tampered}");
    let independent = independent_check(&warm, &p256.1).unwrap_err();
    assert!(independent.contains(tarball.as_str()), "{independent}");

    // Rebuilt from what it records: the appended byte is the one difference,
    // and the root behind it is the same.
    let tmp = dirs[0].path().join("tmp");
    let verified = Command::new(env!("CARGO_BIN_EXE_builder"))
        .env(builder::rootfs::command::TEMP_DIR_VAR, &tmp)
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("--cache-dir")
        .arg(dirs[0].path().join("cache"))
        .arg("verify")
        .arg(&warm)
        .output()
        .unwrap();
    let report = stdout(&verified);
    assert_eq!(
        verified.status.code(),
        Some(1),
        "{report}{}",
        stderr(&verified)
    );
    assert!(
        report.contains(&format!("differs    {tarball}\n")),
        "{report}"
    );
    if !Path::new("/usr/bin/diffoscope").exists() {
        assert!(
            report.contains("the root's files are identical"),
            "{report}"
        );
    }
    for name in names
        .iter()
        .filter(|n| n.ends_with(".packages") || n.ends_with(".files") || n.ends_with(".cdx.json"))
    {
        assert!(report.contains(&format!("identical  {name}\n")), "{report}");
    }
    assert!(report.contains("4 of 5 files identical"), "{report}");

    // The change review: the two cold builds do not differ; a build with
    // one package more differs by that package and its files.
    let diff = |old: &Path, new: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_builder"))
            .arg("diff")
            .arg(old)
            .arg(new)
            .args(args)
            .output()
            .unwrap()
    };
    let same = diff(&outputs[0], &outputs[1], &["--exit-code"]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}{}",
        stdout(&same),
        stderr(&same)
    );
    assert!(
        stdout(&same).contains("packages: 0 added, 0 removed, 0 upgraded, 0 downgraded"),
        "{}",
        stdout(&same)
    );
    let description = keys.path().join("with-hello");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(example())
        .arg(&description)
        .status()
        .unwrap();
    assert!(copied.success());
    let config = description.join("config.xml");
    let xml = std::fs::read_to_string(&config).unwrap();
    let xml = xml.replacen(
        "<package name=\"tzdata\"/>",
        "<package name=\"tzdata\"/>\n        <package name=\"hello\"/>",
        1,
    );
    std::fs::write(&config, xml).unwrap();
    let hello = dirs[1].path().join("hello");
    if let Some(user) = &user {
        // SIGINT while the unprivileged build installs: it leaves no
        // mount, process, work directory, half-made root or artifact.
        let tmp = dirs[1].path().join("tmp");
        let cache = dirs[1].path().join("builder");
        let target = dirs[1].path().join("interrupted");
        std::fs::create_dir(&target).unwrap();
        user.give(&target);
        let builder = user.builder(dirs[1].path());
        let (_, log) =
            interrupt_install_of(builder, &description, &cache, &target, &tmp, "INT", "auto");
        assert!(log.contains("interrupted"), "{log}");
        assert_eq!(incoming_roots(&cache), Vec::<String>::new(), "{log}");
        assert_eq!(work_dirs(&tmp), Vec::<String>::new(), "{log}");
    }
    run_description(&description, 1, &hello, &ed25519.0);
    let differs = diff(&outputs[1], &hello, &["--exit-code", "--json"]);
    assert_eq!(differs.status.code(), Some(1), "{}", stderr(&differs));
    let report: serde_json::Value = serde_json::from_slice(&differs.stdout).unwrap();
    let counts = &report["counts"];
    assert_eq!(
        (
            &counts["packages_added"],
            &counts["packages_removed"],
            &counts["packages_upgraded"],
            &counts["packages_downgraded"],
            &counts["licenses_changed"]
        ),
        (&1.into(), &0.into(), &0.into(), &0.into(), &0.into()),
        "{report:#}"
    );
    assert_eq!(report["added"][0]["name"], "hello", "{report:#}");
    let files: Vec<(&str, &str)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["change"].as_str().unwrap_or("changed"),
            )
        })
        .collect();
    assert!(files.contains(&("usr/bin/hello", "added")), "{files:?}");
    assert!(
        files.contains(&("var/lib/dpkg/status", "changed")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|(p, _)| p.starts_with("usr/lib/systemd/")),
        "only hello's files and the package database change: {files:?}"
    );
    let text = stdout(&diff(&outputs[1], &hello, &[]));
    assert!(text.contains("  + hello "), "{text}");

    // The page a reviewer opens, rendered by a real browser.
    let page = keys.path().join("review.html");
    let written = diff(
        &outputs[1],
        &hello,
        &["--html", "--output", page.to_str().unwrap()],
    );
    assert!(written.status.success(), "{}", stderr(&written));
    let Some(dom) = render_in_chromium(&page) else {
        return;
    };
    assert!(dom.contains("id=\"packages-added\">1<"), "{dom}");
    assert!(dom.contains("id=\"packages-removed\">0<"), "{dom}");
    let files_added = counts["files_added"].as_u64().unwrap();
    assert!(files_added > 0);
    assert!(
        dom.contains(&format!("id=\"files-added\">{files_added}<")),
        "{dom}"
    );
    assert!(dom.contains("/usr/bin/hello"), "{dom}");
}

/// The DOM headless Chromium made of the page at `path`, after checking
/// that it also painted it (a screenshot); `None`, said in one line, when
/// Chromium is not installed.
fn render_in_chromium(path: &Path) -> Option<String> {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("SKIPPED rendering builder diff --html: no chromium (scripts/setup installs it)");
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let browse = |extra: &[&str]| {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", path.display()))
            .output()
            .unwrap()
    };
    let shot = profile.path().join("page.png");
    let painted = browse(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}): {}", stderr(&painted)));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let dom = browse(&["--dump-dom"]);
    assert!(dom.status.success(), "{}", stderr(&dom));
    Some(stdout(&dom))
}

/// A new private key (openssl genpkey ARGS) and its public key: paths.
fn signing_key(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let made = Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&private)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let made = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    (private, public)
}

/// The in-toto Statement in the first envelope of a provenance file.
fn statement_of(path: &Path) -> serde_json::Value {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let envelope: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// `builder verify-attestation DIR --key KEY`: its output, or its error.
fn verify_attestation(dir: &Path, key: &Path) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_builder"))
        .arg("verify-attestation")
        .arg(dir)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(stdout(&out))
    } else {
        Err(stderr(&out))
    }
}

/// `tests/support/verify-provenance.py` (securesystemslib, hashlib).
fn independent_check(dir: &Path, key: &Path) -> Result<String, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = repo.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup",
        python.display()
    );
    let out = Command::new(python)
        .arg(repo.join("tests/support/verify-provenance.py"))
        .arg(dir)
        .arg(key)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// A process id that is not running: a child that exited.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(!Path::new("/proc").join(pid.to_string()).exists());
    pid
}

/// A directory held as a live build holds its work directories.
fn held(path: &Path) -> std::fs::File {
    std::fs::create_dir_all(path).unwrap();
    let file = std::fs::File::open(path).unwrap();
    file.try_lock_shared().unwrap();
    file
}

#[test]
fn gc_removes_what_dead_builds_left_unmounting_first_and_keeps_what_live_ones_hold() {
    let base = tempfile::Builder::new()
        .prefix("builder-test-gc-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let (tmp, cache, target) = (
        base.path().join("tmp"),
        base.path().join("cache"),
        base.path().join("target"),
    );
    let (dead, me) = (dead_pid(), std::process::id());
    // A killed build's work directory with a tmpfs still mounted below it,
    // its half-made root cache entry and its partial artifact.
    let work = tmp.join(format!("builder-{dead}-aaaaaa"));
    let mount_point = work.join("root/dev");
    std::fs::create_dir_all(&mount_point).unwrap();
    let incoming = cache.join(format!("roots/abcdef/.incoming-{dead}-bbbbbb"));
    std::fs::create_dir_all(incoming.join("root/etc")).unwrap();
    std::fs::write(incoming.join("root/etc/issue"), "half").unwrap();
    let partial = target.join(format!(".builder-partial-{dead}-cccccc"));
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("image.raw"), vec![0u8; 4096]).unwrap();
    // A live build's: held.
    let live_work = tmp.join(format!("builder-{me}-dddddd"));
    let _live_work = held(&live_work);
    let live_incoming = cache.join(format!("roots/abcdef/.incoming-{me}-eeeeee"));
    let _live_incoming = held(&live_incoming);
    let artifact = target.join("image.raw");
    std::fs::write(&artifact, "published").unwrap();

    // The tmpfs lives in a mount namespace of the test's own, where
    // builder runs; whether it is still mounted there is printed after.
    let script = r#"
        mount -t tmpfs -o size=1m leftover "$1" || exit 99
        echo canary > "$1/node"
        "$2" --cache-dir "$3" gc --target-dir "$4"
        status=$?
        if grep -qF " $1 " /proc/self/mountinfo; then echo "STILL MOUNTED"; fi
        exit $status
    "#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&mount_point)
        .arg(env!("CARGO_BIN_EXE_builder"))
        .arg(&cache)
        .arg(&target)
        .env(builder::rootfs::command::TEMP_DIR_VAR, &tmp)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(!text.contains("STILL MOUNTED"), "{text}");
    for gone in [&work, &incoming, &partial] {
        assert!(!gone.exists(), "{} stayed: {text}", gone.display());
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("removed {} (", gone.display())))
            .unwrap_or_else(|| panic!("{} not reported: {text}", gone.display()));
        assert!(
            line.contains(&format!("left by process {dead}, which is gone")),
            "{line}"
        );
    }
    let work_line = text
        .lines()
        .find(|l| l.starts_with(&format!("removed {} (", work.display())))
        .unwrap();
    assert!(
        work_line.ends_with("; unmounted 1 mount(s) below it"),
        "{work_line}"
    );
    for kept in [&live_work, &live_incoming, &artifact] {
        assert!(kept.exists(), "{} removed: {text}", kept.display());
    }
    assert!(text.lines().last().unwrap().starts_with("freed "), "{text}");
}

#[test]
fn a_build_starts_by_sweeping_what_dead_builds_left() {
    let base = tempfile::Builder::new()
        .prefix("builder-test-startup-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let (tmp, target) = (base.path().join("tmp"), base.path().join("target"));
    let dead = dead_pid();
    let work = tmp.join(format!("builder-{dead}-aaaaaa"));
    std::fs::create_dir_all(work.join("root/etc")).unwrap();
    let partial = target.join(format!(".builder-{dead}-bbbbbb"));
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(&partial, "half a checksum file").unwrap();
    // The build itself fails at once (no such root); the sweep came first.
    let out = Command::new(env!("CARGO_BIN_EXE_builder"))
        .env(builder::rootfs::command::TEMP_DIR_VAR, &tmp)
        .arg("--cache-dir")
        .arg(base.path().join("cache"))
        .args(["create", "--type", "tbz", "--root"])
        .arg(base.path().join("no-root"))
        .arg("--target-dir")
        .arg(&target)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(!work.exists() && !partial.exists(), "{err}");
    assert!(
        err.contains(&format!("removed {}", work.display()))
            && err.contains(&format!("removed {}", partial.display())),
        "{err}"
    );
    // The cache directory was made private to this user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(base.path().join("cache"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o700);
}

#[test]
fn a_cache_directory_others_may_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let cache = tempfile::tempdir().unwrap();
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = builder(cache.path(), &["gc"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "refusing the cache directory {}: others may write to it (mode 0777)",
            cache.path().display()
        )) && err.contains("chmod go-w"),
        "{err}"
    );
}

#[test]
fn gc_max_size_removes_the_least_recently_used_first() {
    let cache = tempfile::tempdir().unwrap();
    let days_ago = |path: &Path, days: u64| {
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86400);
        let times = std::fs::FileTimes::new()
            .set_accessed(when)
            .set_modified(when);
        std::fs::File::open(path).unwrap().set_times(times).unwrap();
    };
    let mut planted = Vec::new();
    for (rel, days) in [
        ("xz/new.xz", 0),
        ("packages/apt/amd64-x/old_1_amd64.deb", 20),
        ("xz/oldest.xz", 30),
        ("plugins/middle.cwasm", 10),
    ] {
        let path = cache.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![1u8; 64 << 10]).unwrap();
        days_ago(&path, days);
        planted.push(path);
    }
    use std::os::unix::fs::MetadataExt;
    let newest = std::fs::metadata(&planted[0]).unwrap().blocks() * 512;
    // Room for one: the other three go, oldest first.
    let out = builder(cache.path(), &["gc", "--max-size", &newest.to_string()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let removed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("removed "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let expected: Vec<String> = [&planted[2], &planted[1], &planted[3]]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(removed, expected, "{text}");
    assert!(
        text.contains("unused for 30 days, over --max-size"),
        "{text}"
    );
    assert!(planted[0].exists());
    assert!(text.contains("freed 192.0 KiB (3 removed)"), "{text}");
    // An age limit: what was not used for a day goes next time.
    days_ago(&planted[0], 2);
    let out = builder(cache.path(), &["gc", "--max-age", "1"]);
    assert!(
        stdout(&out).contains("older than --max-age"),
        "{}",
        stdout(&out)
    );
    assert!(!planted[0].exists());
}

/// The first SIGTERM stops `builder plan` while it reads a large
/// description: the loader polls the stop flag instead of running to the end.
#[test]
fn the_first_sigterm_stops_plan_on_a_large_description() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "<image schemaversion=\"8.5\" name=\"large\">\n  <description type=\"system\"><author>a</author>\
         <contact>c</contact><specification>s</specification></description>\n  <preferences>\
         <version>1</version><packagemanager>apt</packagemanager><type image=\"tbz\"/></preferences>\n  \
         <packages type=\"image\">\n",
    );
    // over 10 s to plan in a debug build: long enough to be signalled midway
    for i in 0..1_000_000 {
        text.push_str(&format!("    <package name=\"pkg{i}\"/>\n"));
    }
    text.push_str("  </packages>\n  <packages type=\"bootstrap\"><package name=\"b\"/></packages>\n</image>\n");
    std::fs::write(dir.path().join("config.xml"), text).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_builder"))
        .arg("--cache-dir")
        .arg(cache.path())
        .arg("-v")
        .arg("plan")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    /// Kills the child when the test fails before it ends.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reap(child);
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(log.path())
        .unwrap()
        .contains("reading the description")
    {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "builder ended before reading: {}",
            std::fs::read_to_string(log.path()).unwrap()
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let signalled = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < std::time::Duration::from_secs(10),
            "builder plan did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(2),
        "stopped {:?} after SIGTERM: {text}",
        signalled.elapsed()
    );
    // stopped by builder itself (exit 1 with a message), not by the signal
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("interrupted:"), "{text}");
}

/// A static HTTP server for a directory, on 127.0.0.1 only (Python's
/// `http.server`), stopped when dropped.
struct LocalHttp {
    child: std::process::Child,
    url: String,
}

impl LocalHttp {
    fn serve(dir: &Path) -> LocalHttp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs");
        let server = LocalHttp {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the HTTP server on 127.0.0.1:{port} did not start");
    }
}

impl Drop for LocalHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_of(path: &Path) -> String {
    builder::provenance::file_sha256(path).unwrap()
}

/// `builder lock` records every package with its digest and repository and
/// each repository's InRelease digest; a newer package in a repository then
/// stops `run --locked` before anything is installed, naming the package;
/// the dated snapshot the lock was made from builds it again, and a lock
/// made from a snapshot brings it along. A package the description gains is
/// caught once installed (issue 18).
#[test]
fn a_lock_pins_packages_and_names_what_drifted() {
    let dir = tempfile::Builder::new()
        .prefix("builder-test-lock-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let repo = dir.path().join("repo");
    let publish = |version: &str, timestamp: &str| {
        let out = Command::new(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/apt-repo/build"),
        )
        .arg(&repo)
        .args([version, timestamp])
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let (t1, t2) = ("20261201T000000Z", "20261202T000000Z");
    publish("1.0", t1);
    let http = LocalHttp::serve(&repo);
    let snapshot_t1 = format!("probe={}/archive/probe/{t1}/", http.url);

    let description = dir.path().join("description");
    std::fs::create_dir(&description).unwrap();
    let config = |extra: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="8.5" name="lock-probe">
    <description type="system">
        <author>builder tests</author>
        <contact>builder@example.invalid</contact>
        <specification>The smallest root a lock can pin</specification>
    </description>
    <preferences>
        <version>1.0.0</version>
        <packagemanager>apt</packagemanager>
        <type image="tbz"/>
    </preferences>
    <repository type="apt-deb" alias="debian" distribution="bookworm" components="main">
        <source path="host://debian">
            <signing key="file:///usr/share/keyrings/debian-archive-keyring.gpg"/>
        </source>
    </repository>
    <repository type="apt-deb" alias="probe" distribution="stable" components="main" imageinclude="true">
        <source path="{}/live/">
            <signing key="file://{}"/>
        </source>
    </repository>
    <packages type="image">
        <package name="builder-lock-probe"/>{extra}
    </packages>
</image>
"#,
            http.url,
            repo.join("key.gpg").display()
        )
    };
    std::fs::write(description.join("config.xml"), config("")).unwrap();
    let builder = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_builder"))
            .env(builder::rootfs::command::TEMP_DIR_VAR, dir.path())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| {
        let out = builder(args);
        assert!(out.status.success(), "builder {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let read_lock = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap()
    };
    let in_tarball = |target: &str, path: &str| {
        let tarball = std::fs::read_dir(dir.path().join(target))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tar.xz"))
            .unwrap();
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(&tarball)
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        (stdout(&out), tarball)
    };

    // The lock, from the live repository.
    let said = ok(&["lock", "description", "-o", "live.lock"]);
    assert!(said.contains("live.lock: "), "{said}");
    let lock = read_lock("live.lock");
    let packages = lock["packages"].as_array().unwrap();
    let probe = packages
        .iter()
        .find(|p| p["name"] == "builder-lock-probe")
        .expect("the probe package is locked");
    assert_eq!(probe["version"], "1.0");
    assert_eq!(probe["repository"], "probe");
    let deb = repo.join(format!(
        "archive/probe/{t1}/pool/main/builder-lock-probe_1.0_all.deb"
    ));
    assert_eq!(probe["sha256"], sha256_of(&deb));
    let bash = packages.iter().find(|p| p["name"] == "bash").unwrap();
    assert_eq!(bash["repository"], "debian");
    assert_eq!(bash["sha256"].as_str().unwrap().len(), 64);
    assert!(
        packages.iter().all(|p| p["sha256"].is_string()),
        "every package has its digest"
    );
    let repositories = lock["repositories"].as_array().unwrap();
    assert_eq!(repositories.len(), 2);
    assert_eq!(
        repositories[1]["release-sha256"],
        sha256_of(&repo.join(format!("archive/probe/{t1}/dists/stable/InRelease")))
    );

    // The repository moves on: the locked build stops before installing
    // anything and names the package.
    publish("1.1", t2);
    let out = builder(&[
        "run",
        "description",
        "--locked",
        "live.lock",
        "--target-dir",
        "drifted",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success(), "a drifted build fails");
    assert!(err.contains("before anything was installed"), "{err}");
    assert!(
        err.contains("builder-lock-probe (all): locked 1.0, now 1.1"),
        "{err}"
    );
    assert!(err.contains("live.lock"), "{err}");
    assert!(!err.contains("phase `bootstrap`"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("drifted"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing written: {left:?}");

    // The dated snapshot the lock saw builds it again; the image keeps the
    // live repository in its sources.
    ok(&[
        "run",
        "description",
        "--locked",
        "live.lock",
        "--snapshot",
        &snapshot_t1,
        "--target-dir",
        "from-snapshot",
    ]);
    let (version, first) = in_tarball("from-snapshot", "usr/share/builder-lock-probe/version");
    assert_eq!(version, "1.0\n");
    let (sources, _) = in_tarball("from-snapshot", "etc/apt/sources.list.d/probe.sources");
    assert!(
        sources.contains(&format!("URIs: {}/live/\n", http.url)),
        "{sources}"
    );

    // A lock made from the snapshot records it; a locked build then reads
    // it without being told, and makes the same bytes.
    ok(&[
        "lock",
        "description",
        "--snapshot",
        &snapshot_t1,
        "-o",
        "snapshot.lock",
    ]);
    let lock = read_lock("snapshot.lock");
    assert_eq!(
        lock["repositories"][1]["snapshot-of"],
        format!("{}/live/", http.url)
    );
    assert_eq!(lock["packages"], read_lock("live.lock")["packages"]);
    ok(&[
        "run",
        "description",
        "--locked",
        "snapshot.lock",
        "--target-dir",
        "locked-again",
    ]);
    let (_, second) = in_tarball("locked-again", "usr/share/builder-lock-probe/version");
    assert_eq!(sha256_of(&first), sha256_of(&second));

    // A package the description gains shows only once installed.
    std::fs::write(
        description.join("config.xml"),
        config("\n        <package name=\"hello\"/>"),
    )
    .unwrap();
    let out = builder(&[
        "run",
        "description",
        "--locked",
        "snapshot.lock",
        "--target-dir",
        "grown",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success(), "a grown build fails");
    assert!(err.contains("once installed"), "{err}");
    assert!(err.contains("hello (amd64)"), "{err}");
    assert!(err.contains("not in the lock"), "{err}");
}

/// A machine with an empty cache directory and the remote cache the first
/// machine filled skips bootstrap and install, and makes the same bytes;
/// with the root's blob corrupted in the registry, another such machine
/// says so, prepares the root itself, and makes the same bytes again
/// (issue 17).
fn shared_through_the_remote_cache(
    registry: &common::TestRegistry,
    description: &Path,
    first: &Path,
    key: &Path,
) {
    let remote = registry.location("builder-cache");
    let args = signed_with_remote(key, &remote);
    let phases = |target: &Path| -> Vec<String> {
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(target.join("builder.result.json")).unwrap())
                .unwrap();
        result["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        phases(first).contains(&"share-root".to_string()),
        "{:?}",
        phases(first)
    );
    let machine = tempfile::Builder::new()
        .prefix("builder-test-remote-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let target = machine.path().join("out");
    let out = build_with_caches(machine.path(), description, &target, &args);
    // The tarball's xz chunks come from the registry too.
    let log = stderr(&out);
    assert!(
        log.lines()
            .any(|l| l.contains("remote cache: pulled files") && l.contains("tag=\"xz-")),
        "{log}"
    );
    let done = phases(&target);
    assert!(
        done.contains(&"prepare: remote-root".to_string()),
        "{done:?}"
    );
    assert!(
        done.contains(&"prepare: cached-root".to_string()),
        "{done:?}"
    );
    assert!(
        !done
            .iter()
            .any(|p| p == "prepare: bootstrap" || p == "prepare: install"),
        "{done:?}"
    );
    assert_same_files(first, &target, 7);

    // Corrupt the root's blob: the one layer of the `root-*` manifest.
    let tags = std::fs::read_dir(
        registry
            .storage
            .join("docker/registry/v2/repositories/builder-cache/_manifests/tags"),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .find(|t| t.starts_with("root-"))
    .expect("a root entry in the remote cache");
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!(
            "docker://{}/builder-cache:{tags}",
            registry.address
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = registry.blob_path(digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let machine = tempfile::Builder::new()
        .prefix("builder-test-remote-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let target = machine.path().join("out");
    let tmp = machine.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_builder"))
        .env(builder::rootfs::command::TEMP_DIR_VAR, &tmp)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("--cache-dir")
        .arg(machine.path().join("cache"))
        .arg("run")
        .arg(description)
        .arg("--target-dir")
        .arg(&target)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("remote cache") && err.contains(digest),
        "{err}"
    );
    let done = phases(&target);
    assert!(done.contains(&"prepare: bootstrap".to_string()), "{done:?}");
    // Prepared here, from the packages the registry keeps.
    assert!(
        err.lines()
            .any(|l| l.contains("remote cache: pulled files") && l.contains("tag=\"pool-")),
        "{err}"
    );
    assert_same_files(first, &target, 7);
}

/// `builder run`'s arguments to sign with `key` and use the remote cache
/// `remote` (a registry of the test's, over plain HTTP).
fn signed_with_remote<'a>(key: &'a Path, remote: &'a str) -> [&'a str; 5] {
    [
        "--signing-key",
        key.to_str().unwrap(),
        "--cache-remote",
        remote,
        "--cache-remote-insecure",
    ]
}

/// Each file in `dir` by name, with its SHA-256.
fn digests_in(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                sha256_of(&p),
            )
        })
        .collect()
}

/// `builder push` of the build in `target` to a registry of the test's
/// own, then: `skopeo inspect` reads the artifact's manifest, with every
/// file of the build as a titled blob of its digest and the SBOMs as
/// referrers; `builder pull` into an empty directory gives back every file
/// with the same SHA-256; and a blob corrupted in the registry is refused
/// by the pull, leaving no file of its name (issue 17).
fn published_and_fetched_back(target: &Path) {
    let Some(registry) = common::TestRegistry::start("published_and_fetched_back") else {
        return;
    };
    let location = format!("{}:v1", registry.location("golden/debian-minimal"));
    let cache = plugin_cache().path();
    // Four machines pushing the same thing at once all succeed (the
    // registry's momentary refusals while they race are asked again).
    let pushes: Vec<std::process::Child> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_builder"))
                .arg("--cache-dir")
                .arg(cache)
                .args(["push", target.to_str().unwrap(), &location, "--insecure"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = pushes
        .into_iter()
        .map(|p| p.wait_with_output().unwrap())
        .collect();
    for out in &outs {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let out = &outs[0];
    let built = digests_in(target);

    let skopeo = |reference: &str| -> serde_json::Value {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!(
                "docker://{}/golden/debian-minimal{reference}",
                registry.address
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let manifest = skopeo(":v1");
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.builder.golden-image.v1"
    );
    let layers: BTreeMap<String, String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["annotations"]["org.opencontainers.image.title"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                l["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(layers, built, "the manifest's blobs are the build's files");
    // No referrers API in this registry: the SBOMs are in the tag schema's
    // index for the manifest's digest.
    let digest = stdout(out)
        .lines()
        .find_map(|l| {
            l.strip_prefix("pushed ")
                .and_then(|l| l.split_once('@'))
                .map(|(_, d)| d.to_string())
        })
        .expect("the pushed digest");
    let referrers = skopeo(&format!(":{}", digest.replace(':', "-")));
    let mut kinds: Vec<&str> = referrers["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["artifactType"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["application/spdx+json", "application/vnd.cyclonedx+json"]
    );

    let pulled = tempfile::tempdir().unwrap();
    let into = pulled.path().join("build");
    let out = builder(
        cache,
        &["pull", &location, into.to_str().unwrap(), "--insecure"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(digests_in(&into), built, "pulled back the same files");

    // A blob whose bytes changed in the registry is never used.
    let (name, hex) = built
        .iter()
        .find(|(n, _)| n.ends_with(".packages"))
        .unwrap();
    let blob = registry.blob_path(hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let again = pulled.path().join("again");
    let out = builder(
        cache,
        &["pull", &location, again.to_str().unwrap(), "--insecure"],
    );
    assert!(!out.status.success(), "a corrupted blob was pulled");
    let err = stderr(&out);
    assert!(err.contains(hex.as_str()), "names the blob: {err}");
    assert!(
        !again.join(name).exists(),
        "no file of a blob that did not check out"
    );
    let left: Vec<_> = std::fs::read_dir(&again)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with(".incoming-")),
        "a partial file was left: {left:?}"
    );
}

/// `builder run DESCRIPTION --target-dir TARGET ARGS` as a machine whose
/// caches and work directories are under `machine`, with
/// `SOURCE_DATE_EPOCH` set.
fn build_with_caches(machine: &Path, description: &Path, target: &Path, args: &[&str]) -> Output {
    build_as(None, machine, description, target, args)
}

/// [`build_with_caches`], run by `user` when given: an unprivileged user
/// whose machine directory is given to it, the cache in its default place
/// (`$XDG_CACHE_HOME/builder`).
fn build_as(
    user: Option<&common::TestUser>,
    machine: &Path,
    description: &Path,
    target: &Path,
    args: &[&str],
) -> Output {
    let tmp = machine.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = match user {
        None => {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_builder"));
            cmd.arg("--cache-dir").arg(machine.join("cache"));
            cmd
        }
        Some(user) => {
            user.give(machine);
            user.give(&tmp);
            let mut cmd = user.builder(machine);
            cmd.env("XDG_CACHE_HOME", machine);
            cmd
        }
    };
    let out = cmd
        .env(builder::rootfs::command::TEMP_DIR_VAR, &tmp)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("run")
        .arg(description)
        .arg("--target-dir")
        .arg(target)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

/// A directory every user may read, removed when dropped.
fn readable_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("builder-test-shared-")
        .tempdir_in("/var/tmp")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `from` copied to `to`, owners and modes kept, readable by every user.
fn copy_tree(from: &Path, to: &Path) {
    let copied = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(copied.success());
    let opened = Command::new("chmod")
        .arg("-R")
        .arg("a+rX")
        .arg(to)
        .status()
        .unwrap();
    assert!(opened.success());
}

/// A copy of the description directory `from` at `description` in a
/// directory every user may read: the source tree may be closed to others.
fn readable_copy(from: &Path) -> tempfile::TempDir {
    let dir = readable_dir();
    copy_tree(from, &dir.path().join("description"));
    dir
}

/// Every file but the result manifest (which holds timings) is in both
/// directories, `count` of them, byte for byte the same; their names. The
/// artifacts are compared before what is derived from them (checksums,
/// provenance), so a failure names the file that differs first. On a
/// difference both directories are kept and, for a disk, the failure says
/// which partition holds the first differing bytes.
fn assert_same_files(a: &Path, b: &Path, count: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "builder.result.json")
        .collect();
    names.sort();
    assert_eq!(names.len(), count, "{names:?}");
    let derived = |n: &String| {
        [
            ".sha256",
            ".intoto.jsonl",
            ".packages",
            ".cdx.json",
            ".spdx.json",
        ]
        .iter()
        .any(|end| n.ends_with(end))
    };
    let mut order: Vec<&String> = names.iter().filter(|n| !derived(n)).collect();
    order.extend(names.iter().filter(|n| derived(n)));
    for name in order {
        let same = Command::new("cmp")
            .arg("-s")
            .arg(a.join(name))
            .arg(b.join(name))
            .status()
            .unwrap()
            .success();
        if !same {
            let where_ = first_difference(&a.join(name), &b.join(name));
            keep_for_inspection(a);
            keep_for_inspection(b);
            panic!(
                "{name} differs between {} and {} (both kept): {where_}",
                a.display(),
                b.display()
            );
        }
    }
    names
}

/// Where two files first differ: the byte offset, and for a disk image
/// (qcow2 or raw, read through `qemu-img`) the partition it falls in.
fn first_difference(a: &Path, b: &Path) -> String {
    let raw = |p: &Path| -> PathBuf {
        if p.extension().is_some_and(|e| e == "qcow2") {
            let out = p.with_extension("difference.raw");
            let ok = Command::new("qemu-img")
                .args(["convert", "-O", "raw"])
                .arg(p)
                .arg(&out)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return out;
            }
        }
        p.to_path_buf()
    };
    let (ra, rb) = (raw(a), raw(b));
    let cmp = Command::new("cmp")
        .arg("-l")
        .arg(&ra)
        .arg(&rb)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&cmp.stdout);
    let offsets: Vec<u64> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .map(|one_based| one_based - 1)
        .collect();
    let Some(&first) = offsets.first() else {
        return String::from_utf8_lossy(&cmp.stderr).into_owned();
    };
    let mut said = format!(
        "{} differing bytes, first at {first}, last at {}",
        offsets.len(),
        offsets.last().unwrap()
    );
    let table = Command::new("sfdisk").arg("-J").arg(&ra).output().unwrap();
    if let Ok(table) = serde_json::from_slice::<serde_json::Value>(&table.stdout) {
        let parts = table["partitiontable"]["partitions"].as_array().cloned();
        for part in parts.unwrap_or_default() {
            let start = part["start"].as_u64().unwrap_or(0) * 512;
            let end = start + part["size"].as_u64().unwrap_or(0) * 512;
            let inside = offsets.iter().filter(|o| (start..end).contains(o)).count();
            if inside > 0 {
                said.push_str(&format!(
                    "; {} ({}): {inside} bytes, first at +{}",
                    part["node"].as_str().unwrap_or("?"),
                    part["type"].as_str().unwrap_or("?"),
                    offsets.iter().find(|o| (start..end).contains(o)).unwrap() - start
                ));
            }
        }
    }
    said
}

/// Copies `dir`, which its test's `TempDir` removes, to
/// `/var/tmp/builder-kept/` for a look after the test.
fn keep_for_inspection(dir: &Path) {
    let parent = dir.parent().and_then(|p| p.file_name()).unwrap_or_default();
    let kept = Path::new("/var/tmp/builder-kept").join(parent);
    std::fs::create_dir_all(&kept).unwrap();
    let _ = Command::new("cp").arg("-a").arg(dir).arg(&kept).status();
    eprintln!("kept for inspection: {}", kept.display());
}

/// Two machines, each starting from empty caches of its own in a work
/// directory of its own, build the cloud example's qcow2 disk and then its
/// live ISO (a root of its own, prepared with the packages the first build
/// downloaded), with `SOURCE_DATE_EPOCH`: both make the same bytes, the
/// disk, the ISO, their checksums, package lists, SBOMs, root manifests
/// and provenance (issue 18).
#[test]
fn two_cold_machines_make_the_same_disk_and_iso() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-cloud");
    let machines: Vec<tempfile::TempDir> = (0..2)
        .map(|_| {
            tempfile::Builder::new()
                .prefix("builder-test-cold-")
                .tempdir_in("/var/tmp")
                .unwrap()
        })
        .collect();
    // The second machine builds without root (issue 19).
    let user = common::TestUser::add("the rootless half of the cold disk and ISO test");
    let shared = readable_copy(&example);
    let example = shared.path().join("description");
    let mut made: Vec<Vec<PathBuf>> = Vec::new();
    for (machine, user) in machines.iter().zip([None, user.as_ref()]) {
        let qcow2 = machine.path().join("out-qcow2");
        build_as(user, machine.path(), &example, &qcow2, &[]);
        let iso = machine.path().join("out-iso");
        build_as(user, machine.path(), &example, &iso, &["--profile", "iso"]);
        made.push(vec![qcow2, iso]);
    }
    for (a, b) in made[0].iter().zip(&made[1]) {
        assert_same_files(a, b, 7);
    }
    // The disk the second machine made boots.
    let disk = common::boot::Medium::Disk {
        path: made[1][0].join("debian-cloud.x86_64-1.0.0.qcow2"),
        format: "qcow2",
    };
    let boot = common::boot::boot_until(
        &disk,
        common::boot::Firmware::Bios,
        "BUILDER-BOOT-OK",
        std::time::Duration::from_secs(600),
    )
    .unwrap_or_else(|e| panic!("the second machine's disk did not boot: {e}"));
    eprintln!(
        "the second machine's disk: marker after {:.1} s",
        boot.seconds
    );
    // Warm: the first machine again, its root from its root cache (read
    // whole when stored and when checked before use): the same disk, down
    // to the access times its ext4 keeps.
    let warm = machines[0].path().join("out-qcow2-warm");
    build_with_caches(machines[0].path(), &example, &warm, &[]);
    assert_same_files(&made[1][0], &warm, 7);
}

/// `builder matrix --run` builds every variant here, two at a time: the
/// two variants of one root prepare it once (the second starts from the
/// root cache), the variant of another root prepares its own, and each
/// variant's artifacts and log land under the target directory (issue 17).
#[test]
fn matrix_run_builds_every_variant_and_a_shared_root_once() {
    let dir = tempfile::Builder::new()
        .prefix("builder-test-fleet-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let description = dir.path().join("fleet");
    std::fs::create_dir(&description).unwrap();
    std::fs::write(
        description.join("config.xml"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="8.5" name="fleet">
    <description type="system">
        <author>builder tests</author>
        <contact>builder@example.invalid</contact>
        <specification>Three variants, two roots</specification>
    </description>
    <profiles>
        <profile name="tarball" description="The root as a tarball"/>
        <profile name="container" description="The same root as a docker archive"/>
        <profile name="greeter" description="Another root: with hello"/>
    </profiles>
    <preferences>
        <version>1.0.0</version>
        <packagemanager>apt</packagemanager>
    </preferences>
    <preferences profiles="tarball"><type image="tbz" primary="true"/></preferences>
    <preferences profiles="container"><type image="docker" primary="true"/></preferences>
    <preferences profiles="greeter"><type image="tbz" primary="true"/></preferences>
    <repository type="apt-deb" alias="debian" distribution="bookworm" components="main">
        <source path="host://debian">
            <signing key="file:///usr/share/keyrings/debian-archive-keyring.gpg"/>
        </source>
    </repository>
    <packages type="image">
        <package name="zstd"/>
    </packages>
    <packages type="image" profiles="greeter">
        <package name="hello"/>
    </packages>
    <packages type="bootstrap"/>
</image>
"#,
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_builder"))
        .env(builder::rootfs::command::TEMP_DIR_VAR, dir.path())
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("matrix")
        .arg(&description)
        .args(["--run", "--jobs", "2", "--target-dir"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let said = stdout(&out);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(said.contains("3 of 3 variants built"), "{said}");
    let phases = |slug: &str| -> Vec<String> {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_dir.join(slug).join("builder.result.json")).unwrap(),
        )
        .unwrap();
        manifest["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap().to_string())
            .collect()
    };
    let slugs = [
        "0-fleet-tarball-tbz",
        "1-fleet-container-docker",
        "2-fleet-greeter-tbz",
    ];
    for slug in slugs {
        assert!(
            said.contains(&out_dir.join(slug).display().to_string()),
            "{slug}: {said}"
        );
        assert!(out_dir.join(format!("{slug}.log")).is_file(), "{slug}");
    }
    let bootstrapped = |slug: &str| phases(slug).iter().any(|p| p == "prepare: bootstrap");
    assert!(bootstrapped(slugs[0]), "{:?}", phases(slugs[0]));
    assert!(!bootstrapped(slugs[1]), "{:?}", phases(slugs[1]));
    assert!(
        phases(slugs[1]).iter().any(|p| p == "prepare: cached-root"),
        "{:?}",
        phases(slugs[1])
    );
    assert!(bootstrapped(slugs[2]), "{:?}", phases(slugs[2]));
    let docker = std::fs::read_dir(out_dir.join(slugs[1])).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".docker.tar.xz")
    });
    assert!(docker, "the container variant made a docker archive");
}
