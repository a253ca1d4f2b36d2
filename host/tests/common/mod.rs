//! What the command-line test binaries (`cli.rs`, `matrix.rs`) share:
//! running `builder` as a user does, and finding the public KIWI fixtures.

// Each binary uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `builder --cache-dir CACHE ARGS`, without the variables of the test's
/// own environment that would change what it does.
pub fn builder(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_builder"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("BUILDER_INCLUDE_ROOT")
        .output()
        .expect("running builder")
}

/// One cache directory for the tests that only need plugins compiled
/// (compiling every built-in plugin again per command is slow in a debug
/// build); the cache's writes are atomic, so parallel commands share it.
pub fn plugin_cache() -> &'static tempfile::TempDir {
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().unwrap())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The public KIWI descriptions: `$BUILDER_KIWI_FIXTURES`, by default
/// `../shared/fixtures/kiwi` beside the repository; `None`, said on the
/// terminal past the harness's capture, when they are not there.
pub fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("BUILDER_KIWI_FIXTURES")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/kiwi")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: the public KIWI fixtures are not at {} (set BUILDER_KIWI_FIXTURES)",
        dir.display()
    );
    None
}

/// A registry of the test's own: Debian's `docker-registry` (the CNCF
/// distribution registry) serving a temporary directory on 127.0.0.1,
/// stopped when dropped.
pub struct TestRegistry {
    child: std::process::Child,
    /// Where its blobs and manifests are stored.
    pub storage: PathBuf,
    /// `127.0.0.1:PORT`.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts one; `None`, said on the terminal, when `docker-registry` is
    /// not installed (`scripts/setup` installs it).
    pub fn start(test: &str) -> Option<TestRegistry> {
        let program = "/usr/bin/docker-registry";
        if !Path::new(program).exists() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {program} is not installed (scripts/setup installs docker-registry)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        // A free port: bound, then let go for the registry to take.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new(program)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .expect("starting docker-registry");
        let registry = TestRegistry {
            child,
            storage,
            address,
            _dir: dir,
        };
        // Ready once it answers on its port (at most 10 s).
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.address).is_ok() {
                return Some(registry);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("docker-registry did not listen on {}", registry.address);
    }

    /// `oci://127.0.0.1:PORT/REPOSITORY`.
    pub fn location(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.address)
    }

    /// The files of the blob `digest` (`sha256:…`) in its storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
