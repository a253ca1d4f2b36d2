//! The dnf and zypper backends against a real RPM repository the test builds
//! itself (`tests/support/rpm-repo/build`: rpmbuild, rpmsign, createrepo_c):
//! `builder run` with each, the root checked with `rpm --root -qa`, the
//! `%post` scriptlet, the excluded package, docs, the repository file and
//! key in the image, `.packages` and the SBOMs against the rpm database;
//! untrusted signatures and file conflicts stop the build. Runs as root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use builder::packages::MirrorOverride;
use builder::plan::PlanRequest;
use builder::run::{run, RunRequest};
use builder_tests::{builtin_plugins, runtime, test_limits, validate_cyclonedx, validate_spdx};

/// The fixture repositories, built once per test process into the target
/// directory (the build script rebuilds them in place; nothing is left in
/// /var/tmp).
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let dir = target.join("rpm-fixture");
        fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/rpm-repo/build");
        let out = Command::new(&script).arg(&dir).output().unwrap();
        assert!(
            out.status.success(),
            "{} failed (run scripts/setup for rpm, createrepo-c, gnupg): {}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// A description building from fixture repository `repo` with `manager`.
fn description(dir: &Path, manager: &str, repo: &str, image: &[&str], extra: &str) -> PathBuf {
    let fx = fixture();
    let packages: String = image
        .iter()
        .map(|p| format!("    <package name=\"{p}\"/>\n"))
        .collect();
    let text = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="8.5" name="golden-rpm">
  <description type="system"><author>t</author><contact>t</contact><specification>rpm fixture</specification></description>
  <preferences>
    <version>1.0.0</version>
    <packagemanager>{manager}</packagemanager>
    <release-version>9</release-version>
    <rpm-excludedocs>true</rpm-excludedocs>
    <rpm-check-signatures>true</rpm-check-signatures>
    <type image="tbz"/>
  </preferences>
  <repository type="rpm-md" alias="golden" imageinclude="true" repository_gpgcheck="true">
    <source path="dir://{fx}/{repo}"><signing key="file://{fx}/keys/good.asc"/></source>
  </repository>
  <packages type="image">
{packages}    <ignore name="golden-excluded"/>
  </packages>
{extra}
  <packages type="bootstrap">
    <package name="filesystem"/>
    <package name="golden-release"/>
    <package name="golden-sh"/>
  </packages>
</image>
"#,
        fx = fx.display()
    );
    let desc = dir.join(format!("{manager}-{repo}"));
    fs::create_dir_all(&desc).unwrap();
    fs::write(desc.join("config.xml"), text).unwrap();
    desc
}

fn build(desc: PathBuf, target: &Path, root: &Path) -> anyhow::Result<builder::run::RunResult> {
    let runtime = runtime(builder::plugins::RuntimeLimits {
        call_timeout: std::time::Duration::from_secs(600),
        ..test_limits()
    });
    let plugins = builtin_plugins(&runtime);
    run(
        &runtime,
        &plugins,
        &RunRequest {
            description: desc,
            target_dir: target.to_path_buf(),
            plan: PlanRequest::default(),
            mirror: MirrorOverride::default(),
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
        },
    )
}

/// `rpm --root ROOT -qa` in KIWI's `.packages` format, sorted, without keys.
fn rpm_qa(root: &Path) -> Vec<String> {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm", "-qa", "--qf"])
        .arg("%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{DISTURL}|%{LICENSE}\\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey|"))
        .map(|l| l.replace("(none)", "None"))
        .collect();
    lines.sort();
    lines
}

fn names(lines: &[String]) -> Vec<&str> {
    lines.iter().map(|l| l.split('|').next().unwrap()).collect()
}

fn prepares_a_root_with(manager: &str, tool_package: &str) {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-rpm-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let desc = description(
        tmp.path(),
        manager,
        "repo",
        &["golden-tool", "golden-docs", "golden-lib"],
        r#"  <packages type="delete">
    <package name="golden-lib"/>
  </packages>"#,
    );
    let (target, root) = (tmp.path().join("out"), tmp.path().join("root"));
    let result = build(desc, &target, &root).unwrap_or_else(|e| panic!("{manager}: {e:#}"));

    // Exactly the packages asked for and what they need; golden-lib deleted
    // without its dependents (KIWI's `delete`), the excluded one absent.
    let installed = rpm_qa(&root);
    let mut expected = vec![
        "filesystem",
        "golden-base",
        "golden-docs",
        "golden-release",
        "golden-sh",
        "golden-tool",
        tool_package,
    ];
    expected.sort();
    assert_eq!(names(&installed), expected, "{manager}");
    // The description's key is the only one in the image's rpm database.
    let keys = Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-q", "gpg-pubkey"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&keys.stdout).lines().count(), 1);

    // The %post scriptlet ran inside the root; docs were left out.
    assert_eq!(
        fs::read_to_string(root.join("var/lib/golden/post-ran")).unwrap(),
        "post ran\n"
    );
    assert!(!root.join("usr/share/doc/golden-docs").exists());
    assert!(root.join("usr/bin/golden-tool").is_file());
    // The scriptlet ran in the package manager's sandbox: a /proc it
    // mounts shows that sandbox's PID namespace (PID 1 is bwrap, a handful
    // of processes), never the build host's.
    let seen = fs::read(root.join("var/lib/golden/post-proc")).unwrap();
    let seen = String::from_utf8_lossy(&seen);
    let (count, pid1) = seen.split_once('\n').unwrap_or((&seen, ""));
    let count: usize = count.trim().parse().unwrap_or_else(|_| panic!("{seen:?}"));
    assert!(
        count < 20,
        "{manager}: the scriptlet saw {count} processes: {seen:?}"
    );
    let pid1 = pid1.split('\0').next().unwrap_or("");
    assert!(pid1.ends_with("bwrap"), "{manager}: PID 1 is {pid1:?}");
    // Nothing it mounted outlives the sandbox.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&root.display().to_string()), "{mounts}");

    // The repository file and its key, in the image.
    let repo_file = match manager {
        "dnf4" => "etc/yum.repos.d/golden.repo",
        _ => "etc/zypp/repos.d/golden.repo",
    };
    let text = fs::read_to_string(root.join(repo_file)).unwrap();
    assert!(text.contains("gpgcheck=1\n"), "{text}");
    assert!(
        text.contains("gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-golden"),
        "{text}"
    );
    assert_eq!(
        fs::read(root.join("etc/pki/rpm-gpg/RPM-GPG-KEY-golden")).unwrap(),
        fs::read(fixture().join("keys/good.asc")).unwrap()
    );
    // Nothing of the host tools' work directories stays in the image.
    let leftovers: Vec<_> = fs::read_dir(root.join("var/tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!root.join("etc/zypp/locks").exists());
    assert!(!root.join("root/.rpmdb").exists());

    // .packages and the SBOMs say what the rpm database says.
    let base = format!("golden-rpm.{}-1.0.0", builder::plan::host_arch());
    let listed = fs::read_to_string(target.join(format!("{base}.packages"))).unwrap();
    assert_eq!(listed.lines().collect::<Vec<_>>(), installed, "{manager}");
    let spdx = target.join(format!("{base}.spdx.json"));
    let cdx = target.join(format!("{base}.cdx.json"));
    validate_spdx(&spdx).unwrap();
    validate_cyclonedx(&cdx).unwrap();
    let bom: serde_json::Value = serde_json::from_str(&fs::read_to_string(&cdx).unwrap()).unwrap();
    let mut purls: Vec<String> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap().to_string())
        .collect();
    purls.sort();
    assert_eq!(purls.len(), installed.len());
    assert!(
        purls.contains(&"pkg:rpm/golden/golden-tool@1.0-1?arch=noarch&distro=golden-9".to_string()),
        "{purls:?}"
    );
    assert_eq!(result.sbom.unwrap().packages, installed.len());
    // Each package's file digest, from the repository's primary metadata
    // (the rpm database keeps none).
    let tool = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "golden-tool")
        .unwrap();
    let file = fixture().join("repo/golden-tool-1.0-1.noarch.rpm");
    assert_eq!(
        tool["hashes"][0]["content"],
        builder::provenance::file_sha256(&file).unwrap(),
        "{tool:#}"
    );
    assert!(
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["hashes"][0]["alg"] == "SHA-256"),
        "every package has its digest"
    );
}

#[test]
fn dnf_prepares_a_root_from_a_signed_rpm_repository() {
    prepares_a_root_with("dnf4", "dnf");
}

#[test]
fn zypper_prepares_a_root_from_a_signed_rpm_repository() {
    prepares_a_root_with("zypper", "zypper");
}

#[test]
fn untrusted_signatures_stop_the_build() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-rpm-")
        .tempdir_in("/var/tmp")
        .unwrap();
    for manager in ["dnf4", "zypper"] {
        // Metadata signed by another key, then packages signed by another key.
        for repo in ["untrusted", "untrusted-pkgs"] {
            let desc = description(tmp.path(), manager, repo, &["golden-tool"], "");
            let root = tmp.path().join(format!("root-{manager}-{repo}"));
            let err = build(desc, &tmp.path().join("out"), &root)
                .err()
                .unwrap_or_else(|| panic!("{manager} accepted {repo}"));
            let text = format!("{err:#}");
            assert!(
                text.contains(
                    "failed signature verification with the keys its description gives: golden"
                ),
                "{manager} {repo}: {text}"
            );
            assert!(
                rpm_qa(&root).is_empty(),
                "{manager} {repo} installed packages"
            );
        }
    }
}

#[test]
fn a_file_conflict_stops_the_build() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-rpm-")
        .tempdir_in("/var/tmp")
        .unwrap();
    for manager in ["dnf4", "zypper"] {
        let desc = description(
            tmp.path(),
            manager,
            "repo",
            &["golden-base", "golden-conflict"],
            "",
        );
        let err = build(
            desc,
            &tmp.path().join("out"),
            &tmp.path().join(format!("root-{manager}")),
        )
        .err()
        .unwrap_or_else(|| panic!("{manager} installed conflicting packages"));
        let text = format!("{err:#}");
        assert!(
            text.contains("/usr/share/golden/base.txt") && text.contains("conflict"),
            "{manager}: {text}"
        );
    }
}

#[test]
fn uninstall_takes_unneeded_dependencies_along() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-rpm-")
        .tempdir_in("/var/tmp")
        .unwrap();
    for (manager, tool) in [("dnf4", "dnf"), ("zypper", "zypper")] {
        let desc = description(
            tmp.path(),
            manager,
            "repo",
            &["golden-tool"],
            r#"  <packages type="uninstall">
    <package name="golden-tool"/>
  </packages>"#,
        );
        let root = tmp.path().join(format!("root-{manager}"));
        build(desc, &tmp.path().join(format!("out-{manager}")), &root)
            .unwrap_or_else(|e| panic!("{manager}: {e:#}"));
        let installed = rpm_qa(&root);
        let left = names(&installed);
        assert!(
            !left.contains(&"golden-tool") && !left.contains(&"golden-base"),
            "{manager}: {left:?}"
        );
        assert!(
            left.contains(&"golden-release") && left.contains(&tool),
            "{manager}: {left:?}"
        );
    }
}

#[test]
fn the_centos9_demo_plans_with_dnf_and_its_seven_keyed_repositories() {
    let Some(fixtures) = builder_tests::kiwi_fixtures(
        "the_centos9_demo_plans_with_dnf_and_its_seven_keyed_repositories",
    ) else {
        return;
    };
    let dir = fixtures.join("datto/kiwi-desc/centos9");
    // its includes reach `../platforms`
    let description = builder::description::load_within(&dir, dir.parent()).unwrap();
    let plan = builder::plan::plan(
        &description,
        &PlanRequest {
            profiles: vec!["AWSEC2".into()],
            ..PlanRequest::default()
        },
    )
    .unwrap();
    assert_eq!(
        plan.package_manager,
        builder::description::PackageManager::Dnf4
    );
    assert_eq!(
        builder::plugins::Family::of(plan.package_manager),
        Some(builder::plugins::Family::Rhel)
    );
    assert_eq!(plan.repositories.len(), 7);
    for repo in &plan.repositories {
        assert_eq!(repo.kind.as_deref(), Some("rpm-md"));
        assert_eq!(repo.source_type.as_deref(), Some("metalink"));
        assert_eq!(repo.signing_keys.len(), 1, "{:?}", repo.alias);
    }
}

/// KIWI 11 builds an image whose description sets a time zone, a locale
/// and a keyboard without the image holding tzdata, locales or kbd: the
/// settings are written and `/etc/localtime` points at the zone anyway.
#[test]
fn settings_without_tzdata_locales_or_kbd_build_as_with_kiwi() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-rpm-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let desc = description(tmp.path(), "dnf4", "repo", &["golden-base"], "");
    let config = desc.join("config.xml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "<version>1.0.0</version>",
        "<version>1.0.0</version>\n    <timezone>Europe/Berlin</timezone>\n    \
         <locale>en_US</locale>\n    <keytable>de-latin1-nodeadkeys</keytable>",
    );
    fs::write(&config, text).unwrap();
    let root = tmp.path().join("root");
    build(desc, &tmp.path().join("out"), &root).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!root.join("usr/share/zoneinfo").exists());
    assert_eq!(
        fs::read_link(root.join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/Europe/Berlin")
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/default/locale")).unwrap(),
        "LANG=en_US.UTF-8\n"
    );
    let keyboard = fs::read_to_string(root.join("etc/default/keyboard")).unwrap();
    assert!(keyboard.contains("XKBLAYOUT=\"de\"\n"), "{keyboard}");
}

/// A lock whose rpm repository has moved on stops the build before
/// anything is installed, naming the package the repository's primary
/// metadata now offers in a newer version (issue 18).
#[test]
fn a_locked_rpm_build_names_the_newer_package_before_installing() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-rpm-lock-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let desc = description(tmp.path(), "dnf4", "repo", &["golden-tool"], "");
    let plan = builder::plan::plan(
        &builder::description::load(&desc).unwrap(),
        &PlanRequest::default(),
    )
    .unwrap();
    let package = |name: &str, version: &str| builder::packages::lock::LockedPackage {
        name: name.into(),
        version: version.into(),
        arch: "noarch".into(),
        sha256: None,
        repository: Some("golden".into()),
    };
    let lock = builder::packages::lock::Lock::new(
        &plan,
        "an older description".into(),
        vec![builder::packages::lock::LockedRepository {
            alias: "golden".into(),
            uri: "file:///older".into(),
            suite: None,
            components: vec![],
            snapshot_of: None,
            release_sha256: "0".repeat(64),
        }],
        vec![
            package("golden-tool", "0.9-1"),
            package("golden-gone", "1-1"),
        ],
    );
    let (target, root) = (tmp.path().join("out"), tmp.path().join("root"));
    let runtime = runtime(test_limits());
    let plugins = builtin_plugins(&runtime);
    let error = run(
        &runtime,
        &plugins,
        &RunRequest {
            description: desc,
            target_dir: target.clone(),
            plan: PlanRequest::default(),
            mirror: MirrorOverride::default(),
            snapshots: Vec::new(),
            locked: Some(std::sync::Arc::new(lock)),
            package_cache: None,
            root_cache: None,
            xz_cache: crate::xz_cache(),
            root: Some(root.clone()),
            source_date_epoch: Some(1_700_000_000),
            memory_root: builder::prepare::memory::MemoryBudget::Off,
            remote: None,
            signing_key: None,
        },
    )
    .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("before anything was installed"), "{text}");
    assert!(
        text.contains("golden-tool (noarch): locked 0.9-1, now 1.0-1"),
        "{text}"
    );
    assert!(
        text.contains("golden-gone (noarch) 1-1: locked, now missing"),
        "{text}"
    );
    assert!(
        !root.join("usr").exists(),
        "nothing installed: {:?}",
        fs::read_dir(&root).map(|d| d.count())
    );
}
