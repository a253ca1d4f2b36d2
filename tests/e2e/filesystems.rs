//! The `filesystem` plugin's image types (ext2, ext3, ext4, xfs, btrfs,
//! squashfs, erofs) over a tree with every kind of file: each image passes
//! its own checker, and, mounted read-only, holds the same paths with the
//! same types, owners, modes, sizes, link targets, device numbers, hard
//! links and xattrs as the tree. Runs as root (mknod, chown, mount).

use std::fs;
use std::path::Path;
use std::process::Command;

use builder::create::{create, CreateRequest};
use builder::plugins::ImageSize;
use builder_tests::{
    assert_same_tree, builtin_plugins, runtime, sample_tree, test_limits, tree_listing,
};

fn make(root: &Path, out: &Path, type_name: &str, size: Option<ImageSize>) -> std::path::PathBuf {
    let runtime = runtime(builder::plugins::RuntimeLimits {
        call_timeout: std::time::Duration::from_secs(300),
        ..test_limits()
    });
    let plugins = builtin_plugins(&runtime);
    let outcome = create(
        &runtime,
        &plugins,
        &CreateRequest {
            size,
            ..crate::create_request(root, out, type_name)
        },
    )
    .unwrap_or_else(|e| panic!("{type_name}: {e:#}"));
    assert_eq!(outcome.artifacts.len(), 1);
    let artifact = &outcome.artifacts[0];
    assert_eq!(
        artifact.file_name,
        format!("golden.x86_64-1.0.0.{type_name}")
    );
    let path = out.join(&artifact.file_name);
    assert_eq!(fs::metadata(&path).unwrap().len(), artifact.size);
    path
}

fn run(program: &str, args: &[&str], image: &Path) {
    let out = Command::new(program)
        .args(args)
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} {}: {}{}",
        image.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The image's own consistency checker, read-only.
fn check(type_name: &str, image: &Path) {
    match type_name {
        "ext2" | "ext3" | "ext4" => run("e2fsck", &["-f", "-n"], image),
        "xfs" => run("xfs_repair", &["-n", "-f"], image),
        "btrfs" => run("btrfs", &["check", "--readonly"], image),
        "squashfs" => run("unsquashfs", &["-s"], image),
        "erofs" => run("fsck.erofs", &[], image),
        other => panic!("no checker for {other}"),
    }
}

/// The image mounted read-only for the duration of `f`.
fn mounted<T>(type_name: &str, image: &Path, f: impl FnOnce(&Path) -> T) -> T {
    let dir = tempfile::Builder::new()
        .prefix("builder-test-mnt-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let status = Command::new("mount")
        .args(["-t", type_name, "-o", "loop,ro,nosuid,nodev"])
        .arg(image)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "mounting the {type_name} image");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(dir.path());
    f(dir.path())
}

#[test]
fn every_filesystem_image_holds_the_tree() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-fs-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    sample_tree(&root);
    let expected = tree_listing(&root);
    assert!(!expected.links.is_empty(), "the sample tree has hard links");
    for type_name in ["ext2", "ext3", "ext4", "xfs", "btrfs", "squashfs", "erofs"] {
        let out = tmp.path().join(type_name);
        let image = make(&root, &out, type_name, None);
        check(type_name, &image);
        let found = mounted(type_name, &image, tree_listing);
        assert_same_tree(&expected, &found, type_name);
    }
}

#[test]
fn the_description_size_is_used_and_an_additive_one_added() {
    let tmp = tempfile::Builder::new()
        .prefix("builder-test-fs-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    sample_tree(&root);
    let fixed = make(
        &root,
        &tmp.path().join("fixed"),
        "ext4",
        Some(ImageSize {
            bytes: 200 << 20,
            additive: false,
        }),
    );
    assert_eq!(fs::metadata(&fixed).unwrap().len(), 200 << 20);
    let computed = make(&root, &tmp.path().join("computed"), "ext4", None);
    let added = make(
        &root,
        &tmp.path().join("added"),
        "ext4",
        Some(ImageSize {
            bytes: 32 << 20,
            additive: true,
        }),
    );
    assert_eq!(
        fs::metadata(&added).unwrap().len(),
        fs::metadata(&computed).unwrap().len() + (32 << 20)
    );
    check("ext4", &added);
}
