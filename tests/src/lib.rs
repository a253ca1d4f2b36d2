//! Helpers for the end-to-end tests: fixture plugins, runtimes, sample trees.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use builder::plugins::{Catalog, Plugin, PluginRuntime, PluginSource, RuntimeLimits};
use rustix::fs::{self as rfs, Mode};

pub mod boot;

/// Says on the terminal, past the test harness's capture, that the
/// calling test did not run and why.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The public KIWI descriptions (the DevConf.US 2022 golden-image demo in
/// `datto/` and KIWI's example descriptions): `$BUILDER_KIWI_FIXTURES`,
/// by default `../shared/fixtures/kiwi` beside the repository. `None`, with
/// a visible line naming `test`, when they are not there.
pub fn kiwi_fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("BUILDER_KIWI_FIXTURES")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/kiwi")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    skip(
        test,
        &format!(
            "the public KIWI fixtures are not at {} (set BUILDER_KIWI_FIXTURES)",
            dir.display()
        ),
    );
    None
}

/// The compiled fixture component `name` (`tests/plugins/<name>`).
pub fn fixture_plugin(name: &str) -> PathBuf {
    let path = Path::new(builder::GUEST_BUILD_DIR)
        .join(format!("fixture_{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "fixture plugin {} was not built",
        path.display()
    );
    path
}

/// Builds the Python hook fixture (tests/fixtures/python-hook, componentize-py
/// from the project's `.venv`) into `out`; fails with what to run when the
/// tool is missing.
pub fn build_python_hook(out: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let componentize_py = repo.join(".venv/bin/componentize-py");
    assert!(
        componentize_py.is_file(),
        "{} is missing: run `scripts/setup --tools-only` to install componentize-py \
         (the Python hook fixture cannot be built without it)",
        componentize_py.display()
    );
    let output = std::process::Command::new(repo.join("tests/fixtures/python-hook/build"))
        .arg(out)
        .output()
        .expect("running tests/fixtures/python-hook/build");
    assert!(
        output.status.success(),
        "tests/fixtures/python-hook/build failed ({}); if componentize-py is missing or \
         of another version, run `scripts/setup --tools-only`\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Python hook fixture, built once per test process into a private
/// temporary directory: the tests that load it share these bytes, so a
/// runtime on [`shared_code_cache`] compiles it once.
pub fn python_hook() -> &'static Path {
    static BUILT: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a directory for the Python hook");
            let wasm = dir.path().join("python_hook.wasm");
            build_python_hook(&wasm);
            (dir, wasm)
        })
        .1
}

/// A compiled-code cache shared by the runtimes of this test process that
/// load large components: the Python hook (the CPython interpreter and its
/// standard library, 18 MiB) takes about a minute of CPU to compile, which
/// the second test to load it would pay again. Private to this process
/// (made afresh by each run), so every run still compiles it once.
pub fn shared_code_cache() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("builder-test-code-")
            .tempdir()
            .expect("a directory for compiled plugins")
    })
    .path()
}

/// A runtime with the given limits on [`shared_code_cache`].
pub fn runtime_sharing_code(limits: RuntimeLimits) -> PluginRuntime {
    PluginRuntime::new(Some(shared_code_cache()), limits).expect("creating the plugin runtime")
}

/// A runtime without a compiled-code cache and the given limits.
pub fn runtime(limits: RuntimeLimits) -> PluginRuntime {
    PluginRuntime::new(None, limits).expect("creating the plugin runtime")
}

/// Default limits, with a shorter call deadline for tests.
pub fn test_limits() -> RuntimeLimits {
    RuntimeLimits {
        call_timeout: Duration::from_secs(3),
        ..RuntimeLimits::default()
    }
}

/// Load a fixture plugin.
pub fn load_fixture(runtime: &PluginRuntime, name: &str) -> Plugin {
    let path = fixture_plugin(name);
    let bytes = fs::read(&path).unwrap();
    runtime
        .load(&bytes, PluginSource::File(path))
        .unwrap_or_else(|e| panic!("loading fixture {name}: {e}"))
}

/// Load the built-in plugins.
pub fn builtin_plugins(runtime: &PluginRuntime) -> Vec<Plugin> {
    let catalog = Catalog::discover(&[], &[]).unwrap();
    runtime
        .load_catalog(&catalog)
        .expect("loading built-in plugins")
}

/// The tree the `tbz` test archives: every kind of file an image root has,
/// with the metadata that must survive. Needs root (chown, mknod).
pub fn sample_tree(root: &Path) {
    let mkdir = |p: &str| fs::create_dir_all(root.join(p)).unwrap();
    let write = |p: &str, data: &[u8], mode: u32| {
        fs::write(root.join(p), data).unwrap();
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(mode)).unwrap();
    };
    mkdir("etc");
    mkdir("usr/bin");
    mkdir("dev");
    mkdir("home/user");
    write("etc/hostname", b"golden\n", 0o644);
    // An absolute symlink to a file of the build host: must stay a link.
    symlink("/etc/passwd", root.join("etc/passwd-link")).unwrap();
    // A hard link pair.
    write("usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-alias")).unwrap();
    // setuid root.
    write("usr/bin/su", b"pretend setuid binary\n", 0o4755);
    // Owned by uid/gid 1234.
    write("home/user/notes", b"owned by 1234\n", 0o600);
    rfs::chown(
        root.join("home/user/notes"),
        Some(rfs::Uid::from_raw(1234)),
        Some(rfs::Gid::from_raw(1234)),
    )
    .unwrap();
    rfs::chown(
        root.join("home/user"),
        Some(rfs::Uid::from_raw(1234)),
        Some(rfs::Gid::from_raw(1234)),
    )
    .unwrap();
    // An xattr.
    write("usr/bin/ping", b"pretend ping\n", 0o755);
    rfs::setxattr(
        root.join("usr/bin/ping"),
        "user.comment",
        b"needs net_raw",
        rfs::XattrFlags::empty(),
    )
    .unwrap();
    // Device nodes and a fifo.
    rfs::mknodat(
        rfs::CWD,
        root.join("dev/null"),
        rfs::FileType::CharacterDevice,
        Mode::from_bits_truncate(0o666),
        rfs::makedev(1, 3),
    )
    .unwrap();
    rfs::mknodat(
        rfs::CWD,
        root.join("dev/loop0"),
        rfs::FileType::BlockDevice,
        Mode::from_bits_truncate(0o660),
        rfs::makedev(7, 0),
    )
    .unwrap();
    rfs::mknodat(
        rfs::CWD,
        root.join("dev/initctl"),
        rfs::FileType::Fifo,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
    // mknod's mode went through the umask: set the modes exactly.
    for (node, mode) in [
        ("dev/null", 0o666),
        ("dev/loop0", 0o660),
        ("dev/initctl", 0o600),
    ] {
        fs::set_permissions(root.join(node), fs::Permissions::from_mode(mode)).unwrap();
    }
    // A path longer than the 100 bytes of a plain tar header, and a long link target.
    let deep = "usr/share/doc/a-package-with-a-rather-long-name/examples/and-a-deeply-nested-directory/with-more";
    mkdir(deep);
    write(
        &format!("{deep}/README.with-a-long-file-name.txt"),
        b"long path\n",
        0o644,
    );
    symlink(
        format!("/{deep}/README.with-a-long-file-name.txt"),
        root.join("etc/long-link"),
    )
    .unwrap();
    // A name with a backslash, as systemd's unit names have.
    mkdir("usr/lib/systemd/system");
    write(
        "usr/lib/systemd/system/system-systemd\\x2dcryptsetup.slice",
        b"[Unit]\n",
        0o644,
    );
    // A larger file, to cross chunk boundaries.
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    write("usr/bin/big", &big, 0o755);
}

/// A tool of the Python environment `scripts/setup` makes (`.venv`).
pub fn venv_tool(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    path
}

/// Check an SPDX JSON document with the SPDX project's validator; the
/// validator's report on failure.
pub fn validate_spdx(file: &Path) -> Result<(), String> {
    let check = std::process::Command::new(venv_tool("pyspdxtools"))
        .arg("-i")
        .arg(file)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    if check.status.success() && !report.to_lowercase().contains("invalid") {
        Ok(())
    } else {
        Err(report)
    }
}

/// Check a CycloneDX JSON BOM against the official 1.6 schema (strict).
pub fn validate_cyclonedx(file: &Path) -> Result<(), String> {
    let script = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
if error:
    print(error)
    sys.exit(1)
"#;
    let check = std::process::Command::new(venv_tool("python"))
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    if check.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        ))
    }
}

/// What dpkg itself says is installed in the root whose database is
/// `admin_dir` (`var/lib/dpkg`), in KIWI's `.packages` line format, sorted.
pub fn dpkg_installed_kiwi_lines(admin_dir: &Path) -> Vec<String> {
    let query = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin_dir.display()))
        .args([
            "-W",
            "-f",
            "${db:Status-Status}|${Package}|None|${Version}|None|${Architecture}|None|None\n",
        ])
        .output()
        .expect("running dpkg-query");
    let mut lines: Vec<String> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("installed|").map(str::to_string))
        .collect();
    lines.sort();
    lines
}

/// One entry of a tree as the image tests compare it.
#[derive(Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// `st_mode & S_IFMT`.
    pub kind: u32,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size of a regular file.
    pub size: Option<u64>,
    /// Target of a symlink.
    pub target: Option<String>,
    /// Device number of a device node.
    pub rdev: u64,
    /// `user.*` extended attributes, sorted.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// A tree as the image tests compare it.
#[derive(Debug, Default)]
pub struct TreeListing {
    /// Every path below the root (without `lost+found`, which mkfs tools add).
    pub entries: std::collections::BTreeMap<String, TreeEntry>,
    /// Groups of paths that are hard links of one file, sorted.
    pub links: Vec<Vec<String>>,
    /// Modification times of regular files.
    pub mtimes: std::collections::BTreeMap<String, i64>,
}

fn user_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rfs::llistxattr(path, &mut names) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = names[..n]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        // Only what the tree set: filesystems and hosts add their own (selinux, ...).
        .filter(|n| n.starts_with("user."))
        .map(|name| {
            let mut value = vec![0u8; 65536];
            let len = rfs::lgetxattr(path, name.as_str(), &mut value).unwrap_or(0);
            value.truncate(len);
            (name, value)
        })
        .collect();
    out.sort();
    out
}

/// Every path below `root` with its metadata, hard links and mtimes.
pub fn tree_listing(root: &Path) -> TreeListing {
    use std::os::unix::fs::MetadataExt;
    let mut listing = TreeListing::default();
    let mut inodes: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == "lost+found" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            if meta.is_file() {
                listing.mtimes.insert(rel.clone(), meta.mtime());
                if meta.nlink() > 1 {
                    inodes.entry(meta.ino()).or_default().push(rel.clone());
                }
            }
            listing.entries.insert(
                rel,
                TreeEntry {
                    kind: meta.mode() & 0o170000,
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    size: meta.is_file().then_some(meta.len()),
                    target: meta
                        .is_symlink()
                        .then(|| fs::read_link(&path).unwrap().display().to_string()),
                    rdev: meta.rdev(),
                    xattrs: user_xattrs(&path),
                },
            );
        }
    }
    listing.links = inodes
        .into_values()
        .map(|mut group| {
            group.sort();
            group
        })
        .collect();
    listing.links.sort();
    listing
}

/// Asserts that `found` holds exactly `expected`'s paths, metadata and hard
/// links (`what` names the image in messages).
pub fn assert_same_tree(expected: &TreeListing, found: &TreeListing, what: &str) {
    for (path, entry) in &expected.entries {
        assert_eq!(found.entries.get(path), Some(entry), "{what}: /{path}");
    }
    let extra: Vec<&String> = found
        .entries
        .keys()
        .filter(|p| !expected.entries.contains_key(*p))
        .collect();
    assert!(extra.is_empty(), "{what}: extra paths {extra:?}");
    assert_eq!(found.links, expected.links, "{what}: hard links");
}
