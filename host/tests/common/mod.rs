//! What the command-line test binaries (`cli.rs`, `matrix.rs`) share:
//! running `builder` as a user does, and finding the public KIWI fixtures.

// Each binary uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The boot harness of the end-to-end tests.
#[allow(unused_imports)] // matrix.rs boots nothing
pub use builder_tests::boot;

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

/// An unprivileged user made for one test, with a subordinate id range of
/// its own after every range the host gives (issue 19); removed, with its
/// ranges, when dropped.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// A world-readable directory holding a copy of `builder` the user may
    /// run (the target directory may be closed to others).
    programs: tempfile::TempDir,
}

/// Adding and removing users, one at a time in this process: `useradd`
/// locks the passwd files, and each range is chosen after the others.
static USERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl TestUser {
    /// A new user for `test`; `None`, said on the terminal, where this
    /// host cannot make one (not root, no `useradd`, no `newuidmap`).
    pub fn add(test: &str) -> Option<TestUser> {
        use std::io::Write;
        let missing = ["/usr/sbin/useradd", "/usr/bin/newuidmap"]
            .into_iter()
            .find(|p| !Path::new(p).exists());
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root || missing.is_some() {
            let why = missing.map_or("the tests do not run as root".to_string(), |p| {
                format!("{p} is missing (scripts/setup installs it)")
            });
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: no unprivileged user: {why}"
            );
            return None;
        }
        let _one = USERS.lock().unwrap_or_else(|e| e.into_inner());
        // The users of test runs that were killed before they removed them.
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        for stale in passwd.lines().filter_map(|l| l.split(':').next()) {
            let pid = stale
                .strip_prefix("bt")
                .and_then(|r| r.split_once('-'))
                .map(|(p, _)| p);
            if pid.is_some_and(|p| p.parse::<u32>().is_ok() && !Path::new("/proc").join(p).exists())
            {
                let _ = Command::new("userdel").arg(stale).output();
            }
        }
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("bt{}-{n}", std::process::id());
        let start = ["/etc/subuid", "/etc/subgid"]
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter_map(|l| {
                let mut f = l.split(':').skip(1);
                let start: u64 = f.next()?.parse().ok()?;
                let count: u64 = f.next()?.parse().ok()?;
                Some(start + count)
            })
            .max()
            .unwrap_or(0)
            .max(1 << 20)
            .next_multiple_of(1 << 16);
        let range = format!("{start}-{}", start + 65535);
        let run = |program: &str, args: &[&str]| {
            let out = Command::new(program).args(args).output().unwrap();
            assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
        };
        run(
            "useradd",
            &[
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ],
        );
        run(
            "usermod",
            &["--add-subuids", &range, "--add-subgids", &range, &name],
        );
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            stdout(&out).trim().parse().unwrap()
        };
        let programs = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(programs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy(
            env!("CARGO_BIN_EXE_builder"),
            programs.path().join("builder"),
        )
        .unwrap();
        Some(TestUser {
            uid: id("-u"),
            gid: id("-g"),
            name,
            programs,
        })
    }

    /// `builder`, to be run as this user, with no supplementary groups,
    /// `HOME` at `home` and the `PATH` Debian gives a user (no `sbin`).
    pub fn builder(&self, home: &Path) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.programs.path().join("builder"));
        cmd.uid(self.uid)
            .gid(self.gid)
            .env("HOME", home)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir(home);
        cmd
    }

    /// Gives `path` (not what is below it) to this user.
    pub fn give(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).unwrap();
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _one = USERS.lock().unwrap_or_else(|e| e.into_inner());
        // userdel also removes the user's subordinate ranges and group.
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}
