//! The `container` plugin's image types `oci` and `docker` checked with real
//! consumers: skopeo reads both archives and their configs, umoci unpacks the
//! OCI layout into a root that holds the tree with the same types, owners,
//! modes, sizes, link targets, device numbers, hard links and xattrs, and the
//! entrypoint of an unpacked image runs in a chroot. Runs as root (mknod,
//! chown, umoci keeping owners, chroot).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use builder::create::{create, CreateRequest};
use builder::plugins::{ContainerConfig, Setting};
use builder_tests::{
    assert_same_tree, builtin_plugins, runtime, sample_tree, test_limits, tree_listing,
};
use serde_json::Value;

const EPOCH: i64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC

/// The settings of the main test image.
fn golden_config() -> ContainerConfig {
    ContainerConfig {
        name: "golden/base".into(),
        tag: Some("1.0".into()),
        additional_names: vec![
            ":stable".into(),
            "registry.example.com:5000/golden/base:2023".into(),
        ],
        maintainer: Some("Golden Team <golden@example.com>".into()),
        user: Some("1234:1234".into()),
        workingdir: Some("/home/user".into()),
        entrypoint: vec!["/usr/bin/tool".into(), "--flag".into()],
        cmd: vec!["--help".into()],
        expose: vec!["80".into(), "53/udp".into()],
        volumes: vec!["/var/log".into(), "/srv/data".into()],
        stopsignal: Some("SIGTERM".into()),
        environment: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("LANG".into(), "C.UTF-8".into()),
        ],
        labels: vec![
            ("org.opencontainers.image.title".into(), "golden".into()),
            ("com.example.quote".into(), "a \"quoted\" \\ value".into()),
        ],
    }
}

/// `config` as the description would write it below `<type>`: the
/// `<containerconfig>` element and its children, as plugins receive them.
fn container_settings(config: &ContainerConfig) -> Vec<Setting> {
    let mut out = Vec::new();
    let mut add =
        |element: &str, parent: Option<usize>, attributes: &[(&str, &str)], text: &str| {
            out.push(Setting {
                element: element.into(),
                parent: parent.map(|p| p as u32),
                attributes: (attributes.iter())
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                text: text.into(),
            });
            out.len() - 1
        };
    let additional = config.additional_names.join(",");
    let mut attributes = vec![("name", config.name.as_str())];
    for (name, value) in [
        ("tag", &config.tag),
        ("maintainer", &config.maintainer),
        ("user", &config.user),
        ("workingdir", &config.workingdir),
    ] {
        if let Some(value) = value {
            attributes.push((name, value.as_str()));
        }
    }
    if !additional.is_empty() {
        attributes.push(("additionalnames", &additional));
    }
    let top = Some(add("containerconfig", None, &attributes, ""));
    for (element, argv) in [
        ("entrypoint", &config.entrypoint),
        ("subcommand", &config.cmd),
    ] {
        if let Some((program, arguments)) = argv.split_first() {
            let command = Some(add(element, top, &[("execute", program)], ""));
            for argument in arguments {
                add("argument", command, &[("name", argument)], "");
            }
        }
    }
    let expose = Some(add("expose", top, &[], ""));
    for port in &config.expose {
        add("port", expose, &[("number", port)], "");
    }
    let volumes = Some(add("volumes", top, &[], ""));
    for volume in &config.volumes {
        add("volume", volumes, &[("name", volume)], "");
    }
    if let Some(signal) = &config.stopsignal {
        add("stopsignal", top, &[], signal);
    }
    for (outer, inner, pairs) in [
        ("environment", "env", &config.environment),
        ("labels", "label", &config.labels),
    ] {
        let parent = Some(add(outer, top, &[], ""));
        for (name, value) in pairs {
            add(inner, parent, &[("name", name), ("value", value)], "");
        }
    }
    out
}

fn request(
    root: &Path,
    out: &Path,
    type_name: &str,
    container: Option<ContainerConfig>,
    epoch: Option<i64>,
) -> CreateRequest {
    CreateRequest {
        source_date_epoch: epoch,
        settings: container
            .as_ref()
            .map(container_settings)
            .unwrap_or_default(),
        ..crate::create_request(root, out, type_name)
    }
}

fn try_make(request: &CreateRequest) -> anyhow::Result<builder::create::CreateOutcome> {
    let runtime = runtime(builder::plugins::RuntimeLimits {
        call_timeout: std::time::Duration::from_secs(300),
        ..test_limits()
    });
    let plugins = builtin_plugins(&runtime);
    create(&runtime, &plugins, request)
}

/// Build `type_name` and check what the target directory holds: the archive
/// and its checksum, no intermediate layer.
fn make(
    root: &Path,
    out: &Path,
    type_name: &str,
    container: Option<ContainerConfig>,
    epoch: Option<i64>,
) -> PathBuf {
    let started = std::time::Instant::now();
    let outcome = try_make(&request(root, out, type_name, container, epoch))
        .unwrap_or_else(|e| panic!("{type_name}: {e:#}"));
    eprintln!("{type_name}: built in {:.1?}", started.elapsed());
    assert_eq!(outcome.artifacts.len(), 1);
    let artifact = &outcome.artifacts[0];
    assert_eq!(
        artifact.file_name,
        format!("golden.x86_64-1.0.0.{type_name}.tar.xz")
    );
    let path = out.join(&artifact.file_name);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(artifact.size, bytes.len() as u64);
    assert_eq!(artifact.sha256, builder::toolbox::sha256_hex(&bytes));
    let mut names: Vec<String> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            artifact.file_name.clone(),
            format!("{}.sha256", artifact.file_name)
        ],
        "the target directory holds the archive and its checksum only (no layer left)"
    );
    path
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `xz -dc archive > <dir>/<name>.tar`.
fn decompress(archive: &Path, dir: &Path) -> PathBuf {
    let name = archive.file_name().unwrap().to_str().unwrap();
    let tar = dir.join(name.strip_suffix(".xz").unwrap());
    let out = Command::new("xz").arg("-dc").arg(archive).output().unwrap();
    assert!(
        out.status.success(),
        "xz -dc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(&tar, out.stdout).unwrap();
    tar
}

fn skopeo_json(args: &[&str]) -> Value {
    let text = run("skopeo", args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("skopeo {args:?}: {e}: {text}"))
}

fn tar_listing(tar: &Path) -> Vec<String> {
    run("tar", &["-tf", tar.to_str().unwrap()])
        .lines()
        .map(str::to_string)
        .collect()
}

fn tar_member(tar: &Path, member: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .args(["-xOf", tar.to_str().unwrap(), member])
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -xOf {member}");
    out.stdout
}

fn sha256_hex(path: &Path) -> String {
    builder::toolbox::sha256_hex(&fs::read(path).unwrap())
}

/// `umoci unpack --image <layout>:<tag> <bundle>`; the bundle's runtime config.
fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> Value {
    run(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:{tag}", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn workdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// Check the image config skopeo reads (`inspect --config`) against `golden_config`.
fn check_golden_config(config: &Value, what: &str) {
    let c = &config["config"];
    assert_eq!(
        strings(&c["Entrypoint"]),
        ["/usr/bin/tool", "--flag"],
        "{what}"
    );
    assert_eq!(strings(&c["Cmd"]), ["--help"], "{what}");
    assert_eq!(
        strings(&c["Env"]),
        ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
        "{what}"
    );
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("{what}: not an object: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(&c["ExposedPorts"]), ["53/udp", "80/tcp"], "{what}");
    assert_eq!(keys(&c["Volumes"]), ["/srv/data", "/var/log"], "{what}");
    assert_eq!(c["User"], "1234:1234", "{what}");
    assert_eq!(c["WorkingDir"], "/home/user", "{what}");
    assert_eq!(c["StopSignal"], "SIGTERM", "{what}");
    assert_eq!(
        c["Labels"]["com.example.quote"], "a \"quoted\" \\ value",
        "{what}"
    );
    assert_eq!(config["architecture"], "amd64", "{what}");
    assert_eq!(config["os"], "linux", "{what}");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z", "{what}");
    assert_eq!(
        config["author"], "Golden Team <golden@example.com>",
        "{what}"
    );
    assert_eq!(config["rootfs"]["type"], "layers", "{what}");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        1,
        "{what}"
    );
}

/// Check what `skopeo inspect` says of an image built with `golden_config`.
fn check_golden_inspect(inspect: &Value, what: &str) {
    assert_eq!(inspect["Architecture"], "amd64", "{what}");
    assert_eq!(inspect["Os"], "linux", "{what}");
    assert_eq!(
        inspect["Labels"]["org.opencontainers.image.title"], "golden",
        "{what}"
    );
    assert_eq!(
        inspect["Labels"]["com.example.quote"], "a \"quoted\" \\ value",
        "{what}"
    );
    assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z", "{what}");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1, "{what}");
}

#[test]
fn oci_archive_is_read_by_skopeo_and_unpacked_by_umoci_into_the_tree() {
    let tmp = workdir("builder-test-oci-");
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    sample_tree(&root);
    let out = tmp.path().join("out");
    let archive = make(&root, &out, "oci", Some(golden_config()), Some(EPOCH));
    let tar = decompress(&archive, tmp.path());
    let tar_arg = tar.to_str().unwrap();

    // The layout: oci-layout, index.json, and three blobs.
    let members = tar_listing(&tar);
    eprintln!("oci archive: {members:#?}");
    assert_eq!(members.len(), 7, "{members:?}");
    assert_eq!(members[0], "blobs/");
    assert_eq!(members[1], "blobs/sha256/");
    assert_eq!(&members[5..], ["index.json", "oci-layout"]);
    assert_eq!(
        tar_member(&tar, "oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: Value = serde_json::from_slice(&tar_member(&tar, "index.json")).unwrap();
    let refs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(refs, ["1.0", "stable", "2023"]);

    let inspect = skopeo_json(&["inspect", &format!("oci-archive:{tar_arg}:1.0")]);
    eprintln!("skopeo inspect oci-archive: {inspect:#}");
    check_golden_inspect(&inspect, "oci");
    let stable = skopeo_json(&["inspect", &format!("oci-archive:{tar_arg}:stable")]);
    assert_eq!(stable["Digest"], inspect["Digest"]);
    let config = skopeo_json(&["inspect", "--config", &format!("oci-archive:{tar_arg}:1.0")]);
    eprintln!("skopeo inspect --config oci-archive: {config:#}");
    check_golden_config(&config, "oci");

    // Unpack the layout with umoci and compare the root with the tree.
    let layout = tmp.path().join("layout");
    fs::create_dir(&layout).unwrap();
    run("tar", &["-xf", tar_arg, "-C", layout.to_str().unwrap()]);
    // The layer is an uncompressed tar: its digest is its diff id.
    let layer_digest = inspect["Layers"][0].as_str().unwrap();
    let layer_file = layout
        .join("blobs/sha256")
        .join(layer_digest.trim_start_matches("sha256:"));
    assert_eq!(format!("sha256:{}", sha256_hex(&layer_file)), layer_digest);
    assert_eq!(config["rootfs"]["diff_ids"][0], layer_digest);
    let bundle = tmp.path().join("bundle");
    let runtime_config = umoci_unpack(&layout, "1.0", &bundle);
    assert_eq!(
        strings(&runtime_config["process"]["args"]),
        ["/usr/bin/tool", "--flag", "--help"]
    );
    assert_eq!(runtime_config["process"]["cwd"], "/home/user");
    assert_eq!(runtime_config["process"]["user"]["uid"], 1234);

    let expected = tree_listing(&root);
    let found = tree_listing(&bundle.join("rootfs"));
    assert!(!expected.links.is_empty(), "the sample tree has hard links");
    assert_same_tree(&expected, &found, "umoci rootfs");
    // Timestamps were clamped to SOURCE_DATE_EPOCH (the tree's are newer).
    for (path, mtime) in &found.mtimes {
        assert_eq!(*mtime, EPOCH, "umoci rootfs: mtime of /{path}");
    }
}

#[test]
fn docker_archive_carries_the_entrypoint_and_labels() {
    let tmp = workdir("builder-test-docker-");
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    sample_tree(&root);
    let out = tmp.path().join("out");
    let archive = make(&root, &out, "docker", Some(golden_config()), Some(EPOCH));
    let tar = decompress(&archive, tmp.path());
    let tar_arg = tar.to_str().unwrap();

    let members = tar_listing(&tar);
    eprintln!("docker archive: {members:#?}");
    let manifest: Value = serde_json::from_slice(&tar_member(&tar, "manifest.json")).unwrap();
    let manifest = &manifest.as_array().unwrap()[0];
    assert_eq!(
        strings(&manifest["RepoTags"]),
        [
            "golden/base:1.0",
            "golden/base:stable",
            "registry.example.com:5000/golden/base:2023"
        ]
    );
    let config_file = manifest["Config"].as_str().unwrap();
    let layer_file = strings(&manifest["Layers"]);
    assert_eq!(layer_file.len(), 1);
    for member in [config_file, &layer_file[0], "manifest.json", "repositories"] {
        assert!(
            members.iter().any(|m| m == member),
            "{member} in {members:?}"
        );
    }
    let config_bytes = tar_member(&tar, config_file);
    assert_eq!(
        format!("{}.json", builder::toolbox::sha256_hex(&config_bytes)),
        config_file,
        "the config is stored under its digest"
    );
    let repositories: Value = serde_json::from_slice(&tar_member(&tar, "repositories")).unwrap();
    let layer_id = layer_file[0].trim_end_matches("/layer.tar");
    assert_eq!(repositories["golden/base"]["1.0"], layer_id);
    assert_eq!(repositories["golden/base"]["stable"], layer_id);

    let inspect = skopeo_json(&["inspect", &format!("docker-archive:{tar_arg}")]);
    eprintln!("skopeo inspect docker-archive: {inspect:#}");
    check_golden_inspect(&inspect, "docker");
    assert_eq!(
        inspect["Layers"][0],
        format!("sha256:{layer_id}"),
        "the layer digest"
    );
    let by_name = skopeo_json(&[
        "inspect",
        &format!("docker-archive:{tar_arg}:golden/base:stable"),
    ]);
    assert_eq!(by_name["Digest"], inspect["Digest"]);
    let config = skopeo_json(&["inspect", "--config", &format!("docker-archive:{tar_arg}")]);
    check_golden_config(&config, "docker");
}

/// A small root whose entrypoint is a shell script: busybox as /bin/sh.
fn script_tree(root: &Path) {
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static's /bin/busybox");
    symlink("busybox", root.join("bin/sh")).unwrap();
    let hello = root.join("usr/local/bin/hello");
    fs::write(
        &hello,
        "#!/bin/sh\necho \"hello $GREETING from $(pwd) as $(/bin/busybox id -u): $*\"\n",
    )
    .unwrap();
    fs::set_permissions(&hello, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(root.join("srv/app")).unwrap();
}

fn script_config() -> ContainerConfig {
    ContainerConfig {
        name: "hello".into(),
        workingdir: Some("/srv/app".into()),
        entrypoint: vec!["/usr/local/bin/hello".into(), "--from-entrypoint".into()],
        cmd: vec!["world".into()],
        environment: vec![
            ("PATH".into(), "/usr/local/bin:/bin".into()),
            ("GREETING".into(), "golden".into()),
        ],
        labels: vec![("purpose".into(), "entrypoint test".into())],
        ..Default::default()
    }
}

/// Run the process of an unpacked bundle in a chroot of its rootfs, as its
/// config says (args, env, cwd); its output.
fn run_bundle(bundle: &Path) -> String {
    let config: Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &config["process"];
    let args = strings(&process["args"]);
    let env = strings(&process["env"]);
    let cwd = process["cwd"].as_str().unwrap();
    let script = format!("cd '{cwd}' && exec \"$@\"");
    let out = Command::new("/usr/sbin/chroot")
        .arg(bundle.join("rootfs"))
        .args(["/bin/sh", "-c", &script, "sh"])
        .args(&args)
        .env_clear()
        .envs(env.iter().map(|e| e.split_once('=').unwrap()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "running {args:?} in the unpacked image: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_entrypoint_script_runs_from_both_archives() {
    let tmp = workdir("builder-test-entrypoint-");
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    script_tree(&root);
    let expected = "hello golden from /srv/app as 0: --from-entrypoint world\n";

    // oci: the layout straight to umoci.
    let archive = make(
        &root,
        &tmp.path().join("oci"),
        "oci",
        Some(script_config()),
        Some(EPOCH),
    );
    let tar = decompress(&archive, tmp.path());
    let inspect = skopeo_json(&["inspect", &format!("oci-archive:{}:latest", tar.display())]);
    assert_eq!(inspect["Labels"]["purpose"], "entrypoint test");
    let layout = tmp.path().join("oci-layout");
    fs::create_dir(&layout).unwrap();
    run(
        "tar",
        &["-xf", tar.to_str().unwrap(), "-C", layout.to_str().unwrap()],
    );
    let bundle = tmp.path().join("oci-bundle");
    umoci_unpack(&layout, "latest", &bundle);
    assert_eq!(run_bundle(&bundle), expected);

    // docker: skopeo copies the archive into an OCI layout, then umoci.
    let archive = make(
        &root,
        &tmp.path().join("docker"),
        "docker",
        Some(script_config()),
        Some(EPOCH),
    );
    let tar = decompress(&archive, tmp.path());
    let config = skopeo_json(&[
        "inspect",
        "--config",
        &format!("docker-archive:{}", tar.display()),
    ]);
    assert_eq!(
        strings(&config["config"]["Entrypoint"]),
        ["/usr/local/bin/hello", "--from-entrypoint"]
    );
    assert_eq!(config["config"]["Labels"]["purpose"], "entrypoint test");
    let layout = tmp.path().join("docker-layout");
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            &format!("docker-archive:{}", tar.display()),
            &format!("oci:{}:latest", layout.display()),
        ],
    );
    let bundle = tmp.path().join("docker-bundle");
    umoci_unpack(&layout, "latest", &bundle);
    assert_eq!(run_bundle(&bundle), expected);
}

#[test]
fn same_epoch_same_bytes_defaults_and_bad_settings_refused() {
    let tmp = workdir("builder-test-containers-");
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    sample_tree(&root);
    for type_name in ["oci", "docker"] {
        let one = make(
            &root,
            &tmp.path().join(format!("{type_name}-1")),
            type_name,
            Some(golden_config()),
            Some(EPOCH),
        );
        let two = make(
            &root,
            &tmp.path().join(format!("{type_name}-2")),
            type_name,
            Some(golden_config()),
            Some(EPOCH),
        );
        assert!(
            fs::read(&one).unwrap() == fs::read(&two).unwrap(),
            "{type_name}: two builds with the same epoch differ"
        );
    }

    // No <containerconfig>: KIWI's name and tag; no SOURCE_DATE_EPOCH: now.
    let out = tmp.path().join("defaults");
    let archive = make(&root, &out, "docker", None, None);
    let tar = decompress(&archive, tmp.path());
    let manifest: Value = serde_json::from_slice(&tar_member(&tar, "manifest.json")).unwrap();
    assert_eq!(strings(&manifest[0]["RepoTags"]), ["kiwi-container:latest"]);
    let inspect = skopeo_json(&["inspect", &format!("docker-archive:{}", tar.display())]);
    let created = inspect["Created"].as_str().unwrap();
    assert!(created > "2024-01-01T00:00:00Z", "created {created}");
    assert_eq!(inspect["Labels"], Value::Null);

    // A file named like a whiteout cannot be carried in a layer: refused,
    // and the unfinished layer is not left behind.
    let whiteout = tmp.path().join("whiteout-root");
    fs::create_dir_all(whiteout.join("etc")).unwrap();
    fs::write(whiteout.join("etc/.wh.hostname"), b"x").unwrap();
    let out = tmp.path().join("whiteout");
    let error = try_make(&request(&whiteout, &out, "oci", None, Some(EPOCH)))
        .expect_err("a .wh. file was archived");
    assert!(format!("{error:#}").contains("whiteout"), "{error:#}");
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0, "files left behind");

    // Bad settings: refused with the option named, nothing left behind.
    let bad = |type_name: &str, config: ContainerConfig, option: &str| {
        let out = tmp.path().join(format!("bad-{option}"));
        let error = try_make(&request(&root, &out, type_name, Some(config), Some(EPOCH)))
            .err()
            .unwrap_or_else(|| panic!("{option}: a bad value was accepted"));
        let message = format!("{error:#}");
        eprintln!("{option}: {message}");
        assert!(message.contains(&format!("option `{option}`")), "{message}");
        let left: Vec<_> = fs::read_dir(&out)
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{option}: left behind {left:?}");
    };
    bad(
        "oci",
        ContainerConfig {
            tag: Some("1.0\"}".into()),
            ..golden_config()
        },
        "tag",
    );
    bad(
        "docker",
        ContainerConfig {
            tag: Some("-starts-with-a-dash".into()),
            ..golden_config()
        },
        "tag",
    );
    bad(
        "docker",
        ContainerConfig {
            name: "Golden Image".into(),
            ..golden_config()
        },
        "name",
    );
    bad(
        "oci",
        ContainerConfig {
            labels: vec![("bad\nkey".into(), "x".into())],
            ..golden_config()
        },
        "labels",
    );
    bad(
        "oci",
        ContainerConfig {
            additional_names: vec!["other:bad tag".into()],
            ..golden_config()
        },
        "additionalnames",
    );
    bad(
        "oci",
        ContainerConfig {
            expose: vec!["http".into()],
            ..golden_config()
        },
        "expose",
    );
}
