//! The `tbz` image type over a tree with every kind of file, checked with
//! GNU tar: listing, extraction, reproducibility, and no host file read.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use builder::create::{create, CreateRequest};
use builder::rootfs::{FileKind, RootTree};
use builder_tests::{builtin_plugins, runtime, sample_tree, test_limits};

const EPOCH: i64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC

fn build(root: &Path, out: &Path, compression: &str, epoch: Option<i64>) -> std::path::PathBuf {
    let runtime = runtime(test_limits());
    let plugins = builtin_plugins(&runtime);
    let request = CreateRequest {
        options: vec![("compression".into(), compression.into())],
        source_date_epoch: epoch,
        ..crate::create_request(root, out, "tbz")
    };
    let outcome = create(&runtime, &plugins, &request).expect("tbz build");
    assert_eq!(outcome.artifacts.len(), 1);
    let artifact = &outcome.artifacts[0];
    let path = out.join(&artifact.file_name);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(artifact.size, bytes.len() as u64);
    assert_eq!(artifact.sha256, builder::toolbox::sha256_hex(&bytes));
    let sums = fs::read_to_string(out.join(format!("{}.sha256", artifact.file_name))).unwrap();
    assert_eq!(
        sums,
        format!("{}  {}\n", artifact.sha256, artifact.file_name)
    );
    path
}

fn gnu_tar(args: &[&str]) -> String {
    let output = Command::new("tar")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("running GNU tar");
    assert!(
        output.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `path -> the rest of its line` from `tar -tvv`, with xattr lines attached.
fn listing(archive: &Path) -> BTreeMap<String, String> {
    let text = gnu_tar(&[
        "--list",
        "-vv",
        "--xattrs",
        "--quoting-style=literal",
        "--numeric-owner",
        "-f",
        archive.to_str().unwrap(),
    ]);
    let mut entries = BTreeMap::new();
    let mut last = String::new();
    for line in text.lines() {
        if let Some(xattr) = line.strip_prefix("  x: ") {
            entries.entry(last.clone()).and_modify(|l: &mut String| {
                l.push_str(" | x: ");
                l.push_str(xattr)
            });
            continue;
        }
        // mode owner size date time name...
        let columns: Vec<&str> = line.split_whitespace().collect();
        let name = columns[5..].join(" ");
        let key = name
            .split(" -> ")
            .next()
            .unwrap()
            .split(" link to ")
            .next()
            .unwrap()
            .to_string();
        let summary = format!(
            "{} {} {} {} {}",
            columns[0], columns[1], columns[2], columns[3], columns[4]
        );
        entries.insert(key.clone(), format!("{summary} {name}"));
        last = key;
    }
    entries
}

#[test]
fn tbz_keeps_every_kind_of_file_and_gnu_tar_agrees() {
    let tree = tempfile::tempdir().unwrap();
    sample_tree(tree.path());
    let out = tempfile::tempdir().unwrap();
    let archive = build(tree.path(), out.path(), "xz", Some(EPOCH));
    assert_eq!(archive.file_name().unwrap(), "golden.x86_64-1.0.0.tar.xz");
    let entries = listing(&archive);
    let date = "2023-11-14 22:13";
    let expect = |path: &str, line: &str| {
        let got = entries
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {entries:#?}"));
        assert_eq!(got, line, "{path}");
    };
    expect(
        "etc/passwd-link",
        &format!("lrwxrwxrwx 0/0 0 {date} etc/passwd-link -> /etc/passwd"),
    );
    expect(
        "usr/bin/tool",
        &format!("-rwxr-xr-x 0/0 20 {date} usr/bin/tool"),
    );
    expect(
        "usr/bin/tool-alias",
        &format!("hrwxr-xr-x 0/0 0 {date} usr/bin/tool-alias link to usr/bin/tool"),
    );
    expect(
        "usr/bin/su",
        &format!("-rwsr-xr-x 0/0 22 {date} usr/bin/su"),
    );
    expect(
        "home/user/notes",
        &format!("-rw------- 1234/1234 14 {date} home/user/notes"),
    );
    expect(
        "home/user/",
        &format!("drwxr-xr-x 1234/1234 0 {date} home/user/"),
    );
    expect(
        "usr/bin/ping",
        &format!("-rwxr-xr-x* 0/0 13 {date} usr/bin/ping | x: 13 user.comment"),
    );
    expect("dev/null", &format!("crw-rw-rw- 0/0 1,3 {date} dev/null"));
    expect("dev/loop0", &format!("brw-rw---- 0/0 7,0 {date} dev/loop0"));
    expect(
        "dev/initctl",
        &format!("prw------- 0/0 0 {date} dev/initctl"),
    );
    let long = "usr/share/doc/a-package-with-a-rather-long-name/examples/and-a-deeply-nested-directory/with-more/README.with-a-long-file-name.txt";
    expect(long, &format!("-rw-r--r-- 0/0 10 {date} {long}"));
    expect(
        "etc/long-link",
        &format!("lrwxrwxrwx 0/0 0 {date} etc/long-link -> /{long}"),
    );
    let unit = r"usr/lib/systemd/system/system-systemd\x2dcryptsetup.slice";
    expect(unit, &format!("-rw-r--r-- 0/0 7 {date} {unit}"));

    // Nothing else, nothing missing: the listing has exactly the tree's paths.
    let root = RootTree::open(tree.path()).unwrap();
    let mut walk = root.walk("").unwrap();
    let mut walked = Vec::new();
    loop {
        let batch = walk.next_batch(1000).unwrap();
        if batch.is_empty() {
            break;
        }
        walked.extend(batch.into_iter().map(|e| {
            if e.meta.kind == FileKind::Directory {
                format!("{}/", e.path)
            } else {
                e.path
            }
        }));
    }
    let listed: Vec<String> = entries.keys().cloned().collect();
    walked.sort();
    assert_eq!(listed, walked);
}

#[test]
fn extracting_with_gnu_tar_gives_back_the_tree() {
    let tree = tempfile::tempdir().unwrap();
    sample_tree(tree.path());
    let out = tempfile::tempdir().unwrap();
    let archive = build(tree.path(), out.path(), "zstd", None);
    let back = tempfile::tempdir().unwrap();
    gnu_tar(&[
        "--extract",
        "--xattrs",
        "--xattrs-include=*",
        "--numeric-owner",
        "--same-permissions",
        "-f",
        archive.to_str().unwrap(),
        "-C",
        back.path().to_str().unwrap(),
    ]);
    let original = RootTree::open(tree.path()).unwrap();
    let restored = RootTree::open(back.path()).unwrap();
    let all = |t: &RootTree| {
        let mut w = t.walk("").unwrap();
        let mut v = Vec::new();
        loop {
            let b = w.next_batch(1000).unwrap();
            if b.is_empty() {
                break v;
            }
            v.extend(b);
        }
    };
    let (a, b) = (all(&original), all(&restored));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.path, y.path);
        let (m, n) = (&x.meta, &y.meta);
        assert_eq!(
            (m.kind, m.mode, m.uid, m.gid),
            (n.kind, n.mode, n.uid, n.gid),
            "{}",
            x.path
        );
        assert_eq!(
            (m.rdev_major, m.rdev_minor, m.nlink),
            (n.rdev_major, n.rdev_minor, n.nlink),
            "{}",
            x.path
        );
        assert_eq!(m.xattrs, n.xattrs, "{}", x.path);
        if m.kind != FileKind::Directory {
            assert_eq!((m.size, m.mtime), (n.size, n.mtime), "{}", x.path);
        }
        match m.kind {
            FileKind::Regular => assert_eq!(
                fs::read(tree.path().join(&x.path)).unwrap(),
                fs::read(back.path().join(&y.path)).unwrap(),
                "{}",
                x.path
            ),
            FileKind::Symlink => assert_eq!(
                original.read_link(&x.path).unwrap(),
                restored.read_link(&y.path).unwrap()
            ),
            _ => {}
        }
    }
    let tool = fs::metadata(back.path().join("usr/bin/tool")).unwrap();
    let alias = fs::metadata(back.path().join("usr/bin/tool-alias")).unwrap();
    assert_eq!(tool.ino(), alias.ino(), "hard link lost");
}

#[test]
fn same_tree_same_epoch_same_bytes_and_no_host_file_inside() {
    let tree = tempfile::tempdir().unwrap();
    sample_tree(tree.path());
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for compression in ["xz", "none"] {
        let a = fs::read(build(tree.path(), one.path(), compression, Some(EPOCH))).unwrap();
        let b = fs::read(build(tree.path(), two.path(), compression, Some(EPOCH))).unwrap();
        assert!(a == b, "{compression}: two runs differ");
    }
    // The uncompressed archive holds the symlink, never the host file it names.
    let plain = fs::read(one.path().join("golden.x86_64-1.0.0.tar")).unwrap();
    let host_passwd = fs::read_to_string("/etc/passwd").unwrap();
    let first_line = host_passwd.lines().next().unwrap();
    assert!(first_line.len() > 8);
    assert!(
        !plain
            .windows(first_line.len())
            .any(|w| w == first_line.as_bytes()),
        "the host's /etc/passwd ended up in the archive"
    );
}
