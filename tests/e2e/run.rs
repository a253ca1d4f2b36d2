//! `builder run` end to end on `examples/debian-minimal`: a real Debian
//! bookworm build from the mirror the build host's apt uses, its tarball
//! extracted and checked, its package list and SBOMs checked against dpkg
//! and the official validators. Runs as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use builder::packages::MirrorOverride;
use builder::plan::PlanRequest;
use builder::run::{run, RunRequest};
use builder_tests::{
    builtin_plugins, dpkg_installed_kiwi_lines, runtime, test_limits, validate_cyclonedx,
    validate_spdx,
};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-minimal")
}

#[test]
fn run_builds_the_debian_minimal_example() {
    // That a build leaves no mount and no work directory is checked where a
    // build runs in a process of its own (host/tests/cli.rs): here builds
    // of other tests run beside this one in the same process.
    let target = tempfile::Builder::new()
        .prefix("builder-test-run-")
        .tempdir_in("/var/tmp")
        .unwrap();
    // A symlink planted under every name the build writes in the target
    // directory, pointing outside it: each is replaced, none followed.
    let base = format!("debian-minimal.{}-1.0.0", builder::plan::host_arch());
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let mut planted: Vec<String> = [
        "tar.xz",
        "tar.xz.sha256",
        "packages",
        "spdx.json",
        "cdx.json",
        "intoto.jsonl",
        "files",
    ]
    .iter()
    .map(|ending| format!("{base}.{ending}"))
    .chain(["builder.result.json".to_string()])
    .collect();
    planted.sort();
    for name in &planted {
        std::os::unix::fs::symlink(&victim, target.path().join(name)).unwrap();
    }
    let runtime = runtime(builder::plugins::RuntimeLimits {
        call_timeout: std::time::Duration::from_secs(1800),
        ..test_limits()
    });
    let plugins = builtin_plugins(&runtime);
    let request = RunRequest {
        description: example(),
        target_dir: target.path().to_path_buf(),
        plan: PlanRequest::default(),
        mirror: MirrorOverride(std::env::var("BUILDER_MIRROR").ok()),
        snapshots: Vec::new(),
        locked: None,
        package_cache: None,
        root_cache: None,
        xz_cache: crate::xz_cache(),
        root: None,
        source_date_epoch: Some(1_700_000_000),
        memory_root: builder::prepare::memory::MemoryBudget::Auto,
        remote: None,
        signing_key: None,
    };
    let result = run(&runtime, &plugins, &request).expect("builder run");
    let out = target.path();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let mut written: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, planted, "the names planted are the names written");
    for name in &written {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is still a link");
    }

    // The artifact, its checksum, the manifest.
    let tarball = out.join(format!("{base}.tar.xz"));
    assert_eq!(result.artifacts.len(), 1);
    assert_eq!(result.artifacts[0].file_name, format!("{base}.tar.xz"));
    let sums = Command::new("sha256sum")
        .arg("-c")
        .arg(format!("{base}.tar.xz.sha256"))
        .current_dir(out)
        .status()
        .unwrap();
    assert!(sums.success());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("builder.result.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["artifacts"][0]["sha256"],
        result.artifacts[0].sha256
    );
    assert_eq!(manifest["plugins"][0]["name"], "tbz");
    let phases: Vec<&str> = manifest["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert!(
        phases.contains(&"plan") && phases.contains(&"create"),
        "{phases:?}"
    );
    assert!(
        phases.iter().any(|p| p.starts_with("prepare: ")),
        "{phases:?}"
    );

    // The image, extracted.
    let image = tempfile::Builder::new()
        .prefix("builder-test-image-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let untar = Command::new("tar")
        .args([
            "--extract",
            "--numeric-owner",
            "--same-permissions",
            "--xattrs",
            "--xattrs-include=*",
            "-f",
        ])
        .arg(&tarball)
        .arg("-C")
        .arg(image.path())
        .status()
        .unwrap();
    assert!(untar.success());
    let root = image.path();

    // dpkg inside the image agrees with the .packages list (KIWI's format).
    let installed = dpkg_installed_kiwi_lines(&root.join("var/lib/dpkg"));
    let listed = std::fs::read_to_string(out.join(format!("{base}.packages"))).unwrap();
    assert_eq!(listed.lines().collect::<Vec<_>>(), installed);
    for wanted in ["systemd", "systemd-sysv", "tzdata", "ca-certificates"] {
        assert!(
            installed
                .iter()
                .any(|l| l.starts_with(&format!("{wanted}|"))),
            "{wanted} missing"
        );
    }

    // Repositories, keys, overlay, users, timezone, config.sh.
    let sources =
        std::fs::read_to_string(root.join("etc/apt/sources.list.d/debian.sources")).unwrap();
    assert!(sources.contains("Suites: bookworm"), "{sources}");
    let signed_by = sources
        .lines()
        .find_map(|l| l.strip_prefix("Signed-By:"))
        .expect("Signed-By")
        .trim();
    assert!(
        root.join(signed_by.trim_start_matches('/')).is_file(),
        "key {signed_by} missing"
    );
    let motd = std::fs::read_to_string(example().join("root/etc/motd")).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("etc/motd")).unwrap(),
        motd
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("demo:") && l.ends_with(":/home/demo:/bin/bash")),
        "{passwd}"
    );
    let shadow = std::fs::read_to_string(root.join("etc/shadow")).unwrap();
    assert!(
        shadow.lines().any(|l| l.starts_with("demo:$6$")),
        "demo has no sha512crypt hash"
    );
    let localtime = std::fs::read_link(root.join("etc/localtime")).unwrap();
    assert!(
        localtime.ends_with("Europe/Berlin"),
        "{}",
        localtime.display()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/image-release"))
            .unwrap()
            .trim(),
        "debian-minimal-1.0.0"
    );
    assert_eq!(std::fs::read(root.join("etc/machine-id")).unwrap(), b"");
    // config.sh used the /.kconfig helpers; images.sh ran before the image
    // was made; neither they nor KIWI's environment files stay.
    assert_eq!(
        std::fs::read_link(root.join("etc/systemd/system/systemd-timesyncd.service")).unwrap(),
        Path::new("/dev/null")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/image-type")).unwrap(),
        "tbz\n"
    );
    assert!(root.join("usr/share/doc/systemd/copyright").is_file());
    let docs = Command::new("find")
        .arg(root.join("usr/share/doc"))
        .args(["!", "-type", "d", "!", "-name", "copyright"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&docs.stdout),
        "",
        "baseStripDocs left these"
    );
    for gone in ["config.sh", "images.sh", ".profile", ".kconfig"] {
        assert!(!root.join(gone).exists(), "/{gone} is in the image");
    }

    // The SBOMs pass the official validators.
    validate_spdx(&out.join(format!("{base}.spdx.json"))).unwrap_or_else(|r| panic!("SPDX: {r}"));
    validate_cyclonedx(&out.join(format!("{base}.cdx.json")))
        .unwrap_or_else(|r| panic!("CycloneDX: {r}"));
}
