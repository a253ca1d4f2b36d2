//! The plugin sandbox's walls, tried by a hostile plugin (tests/plugins/evil):
//! every option that names a host file or program, every value that breaks
//! out of a tool's syntax, every boot file a tool would source, every name
//! that leaves the target directory is refused, naming the plugin and the
//! refused thing, and nothing on the build host changes.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use builder::plugins::{BuildRequest, Grants, ImageIdentity};
use builder::rootfs::RootTree;
use builder::toolbox::TargetDir;
use builder_tests::{load_fixture, runtime, test_limits};

/// Where a successful attack would leave its mark (tests/plugins/evil).
const MARKER: &str = "/var/tmp/builder-evil-marker";

/// Each attack of the fixture and what its refusal must name.
const ATTACKS: &[(&str, &str)] = &[
    ("squashfs-pseudo-file", "-p"),
    ("squashfs-pseudo-definitions-file", "-pf"),
    ("squashfs-sort-file", "-sort"),
    ("squashfs-exclude-file", "-ef"),
    ("squashfs-compression", "-pf"),
    ("ext4-host-directory", "-d"),
    ("ext4-host-directory-glued", "-d"),
    ("ext4-offset", "offset"),
    ("ext4-journal-device", "device"),
    ("ext4-bad-blocks-file", "-l"),
    ("xfs-protofile", "-p"),
    ("xfs-data-file", "name"),
    ("btrfs-rootdir", "--rootdir"),
    ("btrfs-rootdir-glued", "--rootdir"),
    ("erofs-file-contexts", "--file-contexts"),
    ("vfat-boot-sector-file", "-B"),
    ("vfat-uuid", "x"),
    ("label-newline", "label"),
    ("grub-module-option", "-o"),
    ("initrd-conf", "etc/initramfs-tools/conf.d/pwn"),
    ("initrd-hook", "etc/initramfs-tools/hooks/pwn"),
    (
        "dracut-module",
        "usr/lib/dracut/modules.d/99pwn/module-setup.sh",
    ),
    ("partition-name", "partition name"),
    ("iso-path", "../"),
    ("artifact-traversal", "../builder-evil-marker"),
    ("artifact-newline", "a\\nb"),
];

fn request(attack: &str) -> BuildRequest {
    BuildRequest {
        image: ImageIdentity {
            name: "evil".into(),
            version: "1.0.0".into(),
            arch: "x86_64".into(),
        },
        type_name: "evil".into(),
        options: vec![("attack".into(), attack.into())],
        source_date_epoch: None,
        size: None,
        vagrant: None,
        settings: Vec::new(),
        files: Vec::new(),
    }
}

#[test]
fn a_hostile_plugin_is_refused_everything_that_reaches_the_host() {
    let marker = Path::new(MARKER);
    let _ = fs::remove_file(marker);
    let runtime = runtime(test_limits());
    let evil = load_fixture(&runtime, "evil");
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/hostname"), "evil\n").unwrap();
    let root = Arc::new(RootTree::open(dir.path()).unwrap());
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("target");
    let target = TargetDir::create(&out).unwrap();
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    for (attack, named) in ATTACKS {
        let result = runtime.build_image(
            &evil,
            root.clone(),
            &target,
            &request(attack),
            &Grants::image_type_defaults(),
        );
        let message = match result {
            Ok(artifacts) => {
                failures.push(format!("{attack}: accepted, made {artifacts:?}"));
                for artifact in artifacts {
                    let _ = fs::remove_file(out.join(artifact.file_name));
                }
                continue;
            }
            Err(e) => e.to_string(),
        };
        if !message.contains("`evil`") || !message.contains(named) {
            failures.push(format!("{attack}: `{named}` not named in: {message}"));
        }
        assert!(!marker.exists(), "{attack} wrote {MARKER}");
        let left: Vec<_> = fs::read_dir(&out).unwrap().collect();
        assert!(
            left.is_empty(),
            "{attack} left {left:?} in the target directory"
        );
        let beside: Vec<_> = fs::read_dir(parent.path()).unwrap().collect();
        assert_eq!(
            beside.len(),
            1,
            "{attack} wrote beside the target: {beside:?}"
        );
        refused.push(*attack);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing of the boot files reached the root either.
    assert!(!dir.path().join("etc/initramfs-tools").exists());
    assert!(!dir.path().join("usr").exists());
    println!("{} attacks refused: {}", refused.len(), refused.join(", "));
}
