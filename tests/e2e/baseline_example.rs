//! The built-in `baseline-example` plugin (the DevConf.US 2022 demo's
//! organisation baseline): what it asks of the root per distribution family,
//! profile and option, and that it is held to its grants.

use std::fs;
use std::sync::Arc;

use builder::plugins::{
    BaselineRequest, Capability, Family, Grants, GuestError, ImageIdentity, OptionKind, Plugin,
    PluginError, PluginRuntime, RootChange, World,
};
use builder::rootfs::RootTree;
use builder_tests::{builtin_plugins, runtime, test_limits};

fn baseline_example(runtime: &PluginRuntime) -> Plugin {
    builtin_plugins(runtime)
        .into_iter()
        .find(|p| p.info.name == "baseline-example")
        .expect("baseline-example is not a built-in plugin")
}

fn small_root() -> (tempfile::TempDir, Arc<RootTree>) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/hostname"), "golden\n").unwrap();
    let tree = Arc::new(RootTree::open(dir.path()).unwrap());
    (dir, tree)
}

fn all_grants() -> Grants {
    [
        Capability::RootRead,
        Capability::RootWrite,
        Capability::RootExec,
    ]
    .into_iter()
    .collect()
}

/// The request the host makes: options resolved against the plugin's specs,
/// defaults filled in.
fn request(
    plugin: &Plugin,
    family: Family,
    release: &str,
    profiles: &[&str],
    options: &[(&str, &str)],
) -> BaselineRequest {
    let given: Vec<(String, String)> = options
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    BaselineRequest {
        image: ImageIdentity {
            name: "golden".into(),
            version: "1.2.3".into(),
            arch: "x86_64".into(),
        },
        family,
        release: release.into(),
        profiles: profiles.iter().map(|p| p.to_string()).collect(),
        options: plugin.info.resolve_options(&given).unwrap(),
    }
}

fn apply(
    runtime: &PluginRuntime,
    plugin: &Plugin,
    request: &BaselineRequest,
) -> Result<Vec<RootChange>, PluginError> {
    let (_dir, root) = small_root();
    runtime.apply_baseline(plugin, root, request, &all_grants())
}

fn install(names: &[&str]) -> RootChange {
    RootChange::InstallPackages {
        names: names.iter().map(|n| n.to_string()).collect(),
    }
}

fn write(path: &str, content: &str, mode: u32) -> RootChange {
    RootChange::WriteFile {
        path: path.into(),
        content: content.as_bytes().to_vec(),
        mode,
        uid: 0,
        gid: 0,
    }
}

fn enable(unit: &str) -> RootChange {
    RootChange::EnableService { unit: unit.into() }
}

fn cloud_user_cfg(groups: &str) -> RootChange {
    write(
        "etc/cloud/cloud.cfg.d/01_clouduser.cfg",
        &format!(
            "# System and/or distro specific settings
# (not accessible to handlers/transforms)
system_info:
   # Default user name + that default users groups (if added/used)
   default_user:
     name: cloud-user
     lock_passwd: True
     gecos: Cloud User
     groups: {groups}
     sudo: [\"ALL=(ALL) NOPASSWD:ALL\"]
     shell: /bin/bash
"
        ),
        0o644,
    )
}

const DEBIAN_GROUPS: &str =
    "[adm, audio, cdrom, dialout, dip, floppy, netdev, plugdev, sudo, video]";
const RHEL_GROUPS: &str = "[wheel, adm, systemd-journal]";

fn journal() -> RootChange {
    write(
        "etc/systemd/journald.conf.d/50-persistent.conf",
        "[Journal]\nStorage=persistent\n",
        0o644,
    )
}

fn multi_user() -> RootChange {
    RootChange::SetDefaultTarget {
        target: "multi-user.target".into(),
    }
}

fn lock_root() -> RootChange {
    RootChange::RunInRoot {
        argv: ["usermod", "--password", "!", "root"]
            .map(String::from)
            .to_vec(),
    }
}

#[test]
fn it_describes_itself_as_a_baseline_with_the_demos_defaults() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    assert_eq!(plugin.world, World::Baseline);
    assert_eq!(
        plugin.info.capabilities,
        [Capability::RootWrite, Capability::RootExec]
    );
    let options: Vec<(&str, &OptionKind, Option<&str>)> = plugin
        .info
        .options
        .iter()
        .map(|o| (o.name.as_str(), &o.kind, o.default.as_deref()))
        .collect();
    assert_eq!(
        options,
        [
            (
                "cloud-profiles",
                &OptionKind::Text,
                Some("Azure AWSEC2 OpenStack")
            ),
            ("cloud-init", &OptionKind::Boolean, Some("true")),
            ("default-user", &OptionKind::Text, Some("cloud-user")),
        ]
    );
}

#[test]
fn debian_with_a_non_cloud_profile_keeps_root_and_gets_no_cloud_init() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    let changes = apply(
        &runtime,
        &plugin,
        &request(&plugin, Family::Debian, "12", &["Vagrant-libvirt"], &[]),
    )
    .unwrap();
    assert_eq!(
        changes,
        [
            install(&["chrony", "systemd-resolved"]),
            write("etc/hostname", "localhost\n", 0o644),
            write("etc/machine-id", "", 0o444),
            enable("chrony.service"),
            enable("systemd-resolved.service"),
            journal(),
            multi_user(),
        ]
    );
}

#[test]
fn debian_with_a_cloud_profile_gets_cloud_init_and_a_locked_root() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    let changes = apply(
        &runtime,
        &plugin,
        &request(&plugin, Family::Debian, "12", &["AWSEC2"], &[]),
    )
    .unwrap();
    assert_eq!(
        changes,
        [
            install(&["chrony", "systemd-resolved", "cloud-init"]),
            cloud_user_cfg(DEBIAN_GROUPS),
            write("etc/hostname", "localhost\n", 0o644),
            write("etc/machine-id", "", 0o444),
            lock_root(),
            enable("chrony.service"),
            enable("systemd-resolved.service"),
            journal(),
            multi_user(),
        ]
    );
}

#[test]
fn rhel_with_a_cloud_profile_locks_root() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    let changes = apply(
        &runtime,
        &plugin,
        &request(&plugin, Family::Rhel, "9", &["AWSEC2"], &[]),
    )
    .unwrap();
    assert_eq!(
        changes,
        [
            install(&["chrony", "systemd-resolved", "cloud-init"]),
            cloud_user_cfg(RHEL_GROUPS),
            write("etc/hostname", "localhost\n", 0o644),
            write("etc/machine-id", "", 0o444),
            lock_root(),
            enable("chronyd.service"),
            enable("systemd-resolved.service"),
            journal(),
            multi_user(),
        ]
    );
}

#[test]
fn without_cloud_init_there_is_no_cloud_init_package_nor_user() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    let changes = apply(
        &runtime,
        &plugin,
        &request(
            &plugin,
            Family::Rhel,
            "9",
            &["OpenStack"],
            &[("cloud-init", "false")],
        ),
    )
    .unwrap();
    assert_eq!(
        changes,
        [
            install(&["chrony", "systemd-resolved"]),
            write("etc/hostname", "localhost\n", 0o644),
            write("etc/machine-id", "", 0o444),
            lock_root(),
            enable("chronyd.service"),
            enable("systemd-resolved.service"),
            journal(),
            multi_user(),
        ]
    );
}

#[test]
fn suse_and_older_releases_name_resolved_where_it_is_packaged() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    let packages = |family, release: &str| {
        let changes = apply(
            &runtime,
            &plugin,
            &request(&plugin, family, release, &[], &[("cloud-init", "false")]),
        )
        .unwrap();
        changes[0].clone()
    };
    assert_eq!(
        packages(Family::Suse, "15.6"),
        install(&["chrony", "systemd-network"])
    );
    // The demo's own Ubuntu 20.04, Debian 11 and RHEL 8: resolved is in `systemd`.
    assert_eq!(packages(Family::Debian, "20.04"), install(&["chrony"]));
    assert_eq!(packages(Family::Debian, "11"), install(&["chrony"]));
    assert_eq!(packages(Family::Rhel, "8.10"), install(&["chrony"]));
    assert_eq!(
        packages(Family::Debian, "24.04"),
        install(&["chrony", "systemd-resolved"])
    );
    // SUSE's chrony unit is chronyd.service.
    let changes = apply(
        &runtime,
        &plugin,
        &request(&plugin, Family::Suse, "15.6", &[], &[]),
    )
    .unwrap();
    assert!(changes.contains(&enable("chronyd.service")), "{changes:?}");
}

#[test]
fn cloud_profiles_and_the_default_user_follow_the_options() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    // Profiles named by the option lock root; the demo's names then do not.
    let changes = apply(
        &runtime,
        &plugin,
        &request(
            &plugin,
            Family::Debian,
            "12",
            &["GCE"],
            &[("cloud-profiles", "GCE Hetzner"), ("default-user", "ops")],
        ),
    )
    .unwrap();
    assert!(changes.contains(&lock_root()), "{changes:?}");
    let RootChange::WriteFile { content, .. } = &changes[1] else {
        panic!("{changes:?}")
    };
    assert!(
        String::from_utf8_lossy(content).contains("\n     name: ops\n"),
        "{}",
        String::from_utf8_lossy(content)
    );
    let changes = apply(
        &runtime,
        &plugin,
        &request(
            &plugin,
            Family::Debian,
            "12",
            &["AWSEC2"],
            &[("cloud-profiles", "GCE")],
        ),
    )
    .unwrap();
    assert!(!changes.contains(&lock_root()), "{changes:?}");

    // A user name that is none (and would break the YAML) is refused.
    let err = apply(
        &runtime,
        &plugin,
        &request(
            &plugin,
            Family::Debian,
            "12",
            &[],
            &[("default-user", "root\n  evil: yes")],
        ),
    )
    .unwrap_err();
    match err {
        PluginError::Failed {
            error: GuestError::InvalidOption { name, .. },
            ..
        } => assert_eq!(name, "default-user"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_root_exec_granted_nothing_runs() {
    let runtime = runtime(test_limits());
    let plugin = baseline_example(&runtime);
    let (_dir, root) = small_root();
    let grants: Grants = [Capability::RootRead, Capability::RootWrite]
        .into_iter()
        .collect();
    // Even a request that would not lock root: the declared capability is
    // checked before the plugin runs.
    let err = runtime
        .apply_baseline(
            &plugin,
            root,
            &request(&plugin, Family::Debian, "12", &[], &[]),
            &grants,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::NotGranted {
                capability: Capability::RootExec,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("root-exec"), "{err}");
}
