//! `builder prepare` end to end: a real Debian bookworm root from the mirror
//! the build host's apt uses, bootstrapped with mmdebstrap and finished
//! inside the root. Runs as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use builder::packages::MirrorOverride;
use builder::plugins::select::{select, Purpose};
use builder::plugins::PipelinePlugins;
use builder::prepare::memory::MemoryBudget;
use builder::prepare::{prepare, PrepareReport, PrepareRequest};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-minimal")
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("builder-test-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

fn run_prepare(description: &Path, root: &Path) -> anyhow::Result<PrepareReport> {
    prepare_in(
        description,
        root,
        MirrorOverride(std::env::var("BUILDER_MIRROR").ok()),
        None,
        None,
        None,
        MemoryBudget::Auto,
    )
}

fn prepare_in(
    description: &Path,
    root: &Path,
    mirror: MirrorOverride,
    package_cache: Option<&Path>,
    root_cache: Option<&Path>,
    layer_dir: Option<&Path>,
    memory_root: MemoryBudget,
) -> anyhow::Result<PrepareReport> {
    let desc = builder::description::load(description)?;
    let plan = builder::plan::plan(&desc, &builder::plan::PlanRequest::default())?;
    // The plugins the description names, as `builder prepare` selects them.
    let runtime = builder_tests::runtime(builder_tests::test_limits());
    let available = builder_tests::builtin_plugins(&runtime);
    let selected = select(&runtime, &available, &plan, Purpose::Prepare)?;
    let pipeline = PipelinePlugins::new(&runtime, &selected, &plan)?;
    prepare(
        &plan,
        &PrepareRequest {
            root: root.to_path_buf(),
            mirror,
            snapshots: Vec::new(),
            lock: builder::packages::lock::LockMode::Off,
            package_cache: package_cache.map(Path::to_path_buf),
            root_cache: root_cache.map(Path::to_path_buf),
            layer_dir: layer_dir.map(Path::to_path_buf),
            memory_root,
            remote: None,
        },
        &pipeline,
    )
}

/// The Debian mirror: `BUILDER_MIRROR`, or the one the host's apt uses.
fn debian_mirror() -> String {
    std::env::var("BUILDER_MIRROR").unwrap_or_else(|_| {
        let mirrors = builder::packages::host_mirrors().expect("the host's apt mirrors");
        mirrors
            .iter()
            .find(|m| m.trim_end_matches('/').ends_with("/debian"))
            .or(mirrors.first())
            .expect("the host's apt has a mirror")
            .clone()
    })
}

/// `tests/support/counting-proxy.py` in front of the Debian mirror: its URL
/// and the log of every path requested through it.
struct CountingProxy {
    child: std::process::Child,
    url: String,
    log: PathBuf,
}

impl CountingProxy {
    fn start(log: PathBuf) -> Self {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/counting-proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(debian_mirror())
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting the counting proxy");
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        CountingProxy {
            child,
            url: format!("http://127.0.0.1:{}/", port.trim()),
            log,
        }
    }

    /// Package files fetched so far.
    fn debs_fetched(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(".deb"))
            .count()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed_packages(root: &Path) -> Vec<String> {
    let out = Command::new("chroot")
        .arg(root)
        .args(["dpkg-query", "-W", "-f", "${Package} ${Version}\n"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut list: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    list.sort();
    list
}

/// Mount points at or below `root`.
fn mounts_below(root: &Path) -> Vec<String> {
    let out = Command::new("findmnt")
        .args(["-rn", "-o", "TARGET"])
        .output()
        .unwrap();
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let root = root.to_string_lossy().into_owned();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|t| *t == root || t.starts_with(&format!("{root}/")))
        .map(str::to_string)
        .collect()
}

/// Whether something is mounted at `path`.
fn is_mount_point(path: &Path) -> bool {
    let path = path.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == path.to_str())
}

/// How many files and directories are below `dir`.
fn walkdir_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            1 + if e.file_type().unwrap().is_dir() {
                walkdir_count(&e.path())
            } else {
                0
            }
        })
        .sum()
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("/{rel}: {e}"))
}

/// The example prepared twice through a proxy that counts downloads, with
/// one package cache: the first build fills it, the second downloads no
/// package at all. The first root is then checked in detail.
#[test]
fn prepares_the_debian_example() {
    let tmp = temp_dir();
    let proxy = CountingProxy::start(tmp.path().join("requests.log"));
    let cache = tmp.path().join("cache");
    let root = tmp.path().join("root");
    let started = std::time::Instant::now();
    let report = prepare_in(
        &example(),
        &root,
        MirrorOverride(Some(proxy.url.clone())),
        Some(&cache),
        None,
        None,
        MemoryBudget::Auto,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    eprintln!(
        "prepare took {:.1}s: {:?}",
        started.elapsed().as_secs_f64(),
        report.phases
    );
    let cold = proxy.debs_fetched();
    assert!(cold > 50, "only {cold} packages fetched on a cold cache");

    // Every installed package is in the cache, under apt's own file name.
    let pooled: Vec<String> = std::fs::read_dir(cache.join("apt"))
        .unwrap()
        .flat_map(|pool| std::fs::read_dir(pool.unwrap().path()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for line in installed_packages(&root) {
        let (name, version) = line.split_once(' ').unwrap();
        let prefix = format!("{name}_{}_", version.replace(':', "%3a"));
        assert!(
            pooled
                .iter()
                .any(|f| f.starts_with(&prefix) && f.ends_with(".deb")),
            "{name} {version} is not in the package cache"
        );
    }

    // The later builds, with the package cache and a prepared-root cache.
    let prepare_cached = |root: &Path, roots: &Path, layer: Option<&Path>, memory: MemoryBudget| {
        prepare_in(
            &example(),
            root,
            MirrorOverride(Some(proxy.url.clone())),
            Some(&cache),
            Some(roots),
            layer,
            memory,
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
    };
    // The roots of the entries stored in a prepared-root cache.
    let entries = |roots: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(roots)
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .map(|p| p.join("root"))
            .collect()
    };

    // A second build takes every package from the cache; it stores its
    // root after installation in the prepared-root cache.
    let roots = tmp.path().join("roots");
    let warm_root = tmp.path().join("warm-root");
    let started = std::time::Instant::now();
    let warm = prepare_cached(&warm_root, &roots, None, MemoryBudget::Auto);
    eprintln!(
        "warm prepare took {:.1}s: {:?}",
        started.elapsed().as_secs_f64(),
        warm.phases
    );
    let phases = |report: &PrepareReport| -> Vec<String> {
        report.phases.iter().map(|(p, _)| p.clone()).collect()
    };
    assert!(
        phases(&warm).contains(&"cache-root".to_string()),
        "{:?}",
        warm.phases
    );
    assert_eq!(
        proxy.debs_fetched(),
        cold,
        "the warm build downloaded packages"
    );
    assert_eq!(installed_packages(&warm_root), installed_packages(&root));
    assert_eq!(
        std::fs::read_dir(warm_root.join("var/cache/apt/archives"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".deb"))
            .count(),
        0,
        "packages left in the image"
    );

    // A third build starts from the cached root: no bootstrap, no install,
    // no download, and still every later step.
    let cached_root = tmp.path().join("cached-root");
    let cached = prepare_cached(&cached_root, &roots, None, MemoryBudget::Auto);
    eprintln!("prepare from the cached root: {:?}", cached.phases);
    let ran = phases(&cached);
    assert_eq!(
        ran.first().map(String::as_str),
        Some("cached-root"),
        "{ran:?}"
    );
    assert!(
        !ran.iter().any(|p| p == "bootstrap" || p == "install"),
        "{ran:?}"
    );
    assert_eq!(proxy.debs_fetched(), cold);
    assert_eq!(installed_packages(&cached_root), installed_packages(&root));
    assert_eq!(
        read(&cached_root, "etc/image-release"),
        "debian-minimal-1.0.0\n"
    );
    assert!(read(&cached_root, "etc/passwd").contains("\ndemo:"));
    assert_ne!(
        read(&cached_root, "etc/shadow"),
        read(&warm_root, "etc/shadow"),
        "password salts must differ between builds"
    );
    // Only the root after installation is cached: no user, no overlay.
    let entry = entries(&roots);
    assert_eq!(entry.len(), 1, "{entry:?}");
    assert!(!read(&entry[0], "etc/passwd").contains("\ndemo:"));
    assert!(
        !entry[0].join("etc/motd").exists()
            || read(&entry[0], "etc/motd") != read(&root, "etc/motd")
    );

    // With a layer directory, a build goes on in an overlay over the
    // cached root: nothing copied, the entry left as it was, nothing left
    // mounted once the build is done with it.
    let layer = tmp.path().join("layer");
    let layered_root = tmp.path().join("layered-root");
    let started = std::time::Instant::now();
    let layered = prepare_cached(&layered_root, &roots, Some(&layer), MemoryBudget::Auto);
    eprintln!(
        "layered prepare took {:.1}s: {:?}",
        started.elapsed().as_secs_f64(),
        layered.phases
    );
    let ran = phases(&layered);
    assert_eq!(
        ran.first().map(String::as_str),
        Some("cached-root"),
        "{ran:?}"
    );
    assert!(layered.layered.is_some());
    assert!(is_mount_point(&layered_root));
    assert_eq!(installed_packages(&layered_root), installed_packages(&root));
    assert!(read(&layered_root, "etc/passwd").contains("\ndemo:"));
    assert_eq!(
        read(&layered_root, "etc/motd"),
        read(&example(), "root/etc/motd")
    );
    assert!(!read(&entry[0], "etc/passwd").contains("\ndemo:"));
    // The build's own layer holds what it changed, not the tree.
    let (changed, all) = (
        walkdir_count(&layer.join("upper")),
        walkdir_count(&entry[0]),
    );
    assert!(
        changed * 4 < all,
        "{changed} of {all} files in the upper layer"
    );
    drop(layered);
    assert!(!is_mount_point(&layered_root));
    assert_eq!(std::fs::read_dir(&layered_root).unwrap().count(), 0);
    assert!(!read(&entry[0], "etc/passwd").contains("\ndemo:"));

    // A cache miss with a layer directory: the root is prepared in memory
    // and copied into the cache in the background while the build goes on
    // in an overlay over it (its changes in memory too); the entry is
    // whole once the build lets the root go.
    let memory_roots = tmp.path().join("memory-roots");
    let memory_layer = tmp.path().join("memory-layer");
    let memory_root = tmp.path().join("memory-root");
    let in_memory = prepare_cached(
        &memory_root,
        &memory_roots,
        Some(&memory_layer),
        MemoryBudget::Bytes(4 << 30),
    );
    let ran = phases(&in_memory);
    assert_eq!(
        ran[..4],
        ["bootstrap", "post-bootstrap", "install", "cache-root"],
        "{ran:?}"
    );
    assert!(in_memory.layered.is_some());
    assert!(is_mount_point(&memory_root));
    assert!(!memory_layer.exists(), "the layer went to disk");
    assert_eq!(installed_packages(&memory_root), installed_packages(&root));
    assert!(read(&memory_root, "etc/passwd").contains("\ndemo:"));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let lower = mounts
        .lines()
        .find(|l| l.split(' ').nth(4) == memory_root.to_str())
        .and_then(|l| l.split("lowerdir=").nth(1))
        .and_then(|o| o.split(',').next())
        .expect("the overlay's lower directory")
        .to_string();
    drop(in_memory);
    assert!(!is_mount_point(&memory_root));
    assert_eq!(std::fs::read_dir(&memory_root).unwrap().count(), 0);
    assert!(!Path::new(&lower).exists(), "{lower} stayed");
    let stored = entries(&memory_roots);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        installed_packages(&stored[0]),
        installed_packages(&entry[0])
    );
    assert_eq!(walkdir_count(&stored[0]), walkdir_count(&entry[0]));
    assert!(!read(&stored[0], "etc/passwd").contains("\ndemo:"));
    assert!(
        !std::fs::read_dir(stored[0].join("var/cache/apt/archives"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".deb")),
        "packages stored in the entry"
    );

    // A root that outgrows the memory it may take is prepared again on
    // disk, and stored all the same.
    let small_roots = tmp.path().join("small-roots");
    let small_root = tmp.path().join("small-root");
    let small = prepare_cached(
        &small_root,
        &small_roots,
        Some(&tmp.path().join("small-layer")),
        MemoryBudget::Bytes(160 << 20),
    );
    let ran = phases(&small);
    assert_eq!(
        ran.iter().filter(|p| *p == "bootstrap").count(),
        2,
        "{ran:?}"
    );
    assert!(small.layered.is_some());
    assert_eq!(installed_packages(&small_root), installed_packages(&root));
    drop(small);
    assert_eq!(entries(&small_roots).len(), 1);
    assert_eq!(mounts_below(tmp.path()), Vec::<String>::new());

    // The image package set is installed.
    let out = Command::new("chroot")
        .arg(&root)
        .args(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let installed = String::from_utf8_lossy(&out.stdout);
    for package in [
        "systemd",
        "systemd-sysv",
        "tzdata",
        "ca-certificates",
        "apt",
    ] {
        assert!(
            installed
                .lines()
                .any(|l| l == format!("{package} installed")),
            "{package} not installed:\n{installed}"
        );
    }

    // Overlay, user, settings, script.
    assert_eq!(read(&root, "etc/motd"), read(&example(), "root/etc/motd"));
    let passwd = read(&root, "etc/passwd");
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("demo:") && l.ends_with(":/home/demo:/bin/bash")),
        "{passwd}"
    );
    let shadow = read(&root, "etc/shadow");
    let hash = shadow
        .lines()
        .find_map(|l| l.strip_prefix("demo:"))
        .and_then(|l| l.split(':').next())
        .expect("demo in /etc/shadow");
    assert!(hash.starts_with("$6$"), "{hash}");
    assert!(root.join("home/demo").is_dir());
    assert_eq!(
        std::fs::read_link(root.join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/Europe/Berlin")
    );
    assert_eq!(read(&root, "etc/timezone"), "Europe/Berlin\n");
    assert_eq!(read(&root, "etc/default/locale"), "LANG=en_US.UTF-8\n");
    assert!(read(&root, "etc/default/keyboard").contains("XKBLAYOUT=\"us\""));
    assert_eq!(read(&root, "etc/image-release"), "debian-minimal-1.0.0\n");
    assert_eq!(
        std::fs::read_link(root.join("etc/systemd/system/default.target")).unwrap(),
        Path::new("/lib/systemd/system/multi-user.target")
    );
    assert!(!root.join("config.sh").exists() && !root.join(".profile").exists());

    // Repositories: only the image's, DEB822, signed by a key in the image.
    let sources = read(&root, "etc/apt/sources.list.d/debian.sources");
    assert!(sources.contains("Suites: bookworm\n"), "{sources}");
    let signed_by = sources
        .lines()
        .find_map(|l| l.strip_prefix("Signed-By: "))
        .expect("Signed-By");
    assert!(root.join(signed_by.trim_start_matches('/')).is_file());
    assert!(!root.join("etc/apt/sources.list").exists());

    // Cleanup.
    assert_eq!(
        std::fs::metadata(root.join("etc/machine-id"))
            .unwrap()
            .len(),
        0
    );
    let lists: Vec<_> = std::fs::read_dir(root.join("var/lib/apt/lists"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(lists, ["partial"]);
    assert!(!root.join("usr/sbin/policy-rc.d").exists());
    for build_setting in [
        "etc/apt/apt.conf.d/99mmdebstrap",
        "etc/dpkg/dpkg.cfg.d/99mmdebstrap",
    ] {
        assert!(
            !root.join(build_setting).exists(),
            "/{build_setting} stayed"
        );
    }
    for rel in ["etc/resolv.conf", "etc/hostname"] {
        if let (Ok(host), Ok(image)) = (
            std::fs::read(Path::new("/").join(rel)),
            std::fs::read(root.join(rel)),
        ) {
            assert_ne!(host, image, "the build host's /{rel} stayed in the image");
        }
    }
    assert_eq!(mounts_below(&root), Vec::<String>::new());
}

/// Everything logged by the tests of this binary, at the most verbose level.
#[derive(Clone)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts collecting the log lines of this process as `builder -vv`
/// prints them (builder and plugins at trace level, others from warnings
/// on), once.
fn trace_logs() -> Logs {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs(Default::default());
        let sink = logs.clone();
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("builder", tracing::Level::TRACE)
            .with_target("plugin", tracing::Level::TRACE)
            .with_default(tracing::Level::WARN);
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .with_filter(filter);
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("no other subscriber in this test binary");
        logs
    })
    .clone()
}

/// A failing `config.sh` stops the build and unmounts everything. The
/// same build checks what comes before `config.sh` for the description's
/// `<archive>`s (KIWI's order: after the packages, before the overlay):
/// one in the image section unpacked over the root with its owner and
/// mode, one in the bootstrap section below its `target_dir`.
#[test]
fn failing_config_sh_stops_the_build_and_unmounts() {
    let logs = trace_logs();
    let tmp = temp_dir();
    let description = tmp.path().join("description");
    std::fs::create_dir(&description).unwrap();
    let config = std::fs::read_to_string(example().join("config.xml"))
        .unwrap()
        .replace(
            "        <package name=\"ca-certificates\"/>\n",
            "        <package name=\"ca-certificates\"/>\n        <archive name=\"extra.tar.gz\"/>\n",
        )
        .replace(
            "        <package name=\"debian-archive-keyring\"/>\n",
            "        <package name=\"debian-archive-keyring\"/>\n        \
             <archive name=\"tools.tar\" target_dir=\"/opt/tools\"/>\n",
        );
    assert!(config.contains("extra.tar.gz") && config.contains("tools.tar"));
    std::fs::write(description.join("config.xml"), config).unwrap();
    // the overlay too, so the order between it and the archives shows
    let overlay = description.join("root/etc");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::copy(example().join("root/etc/motd"), overlay.join("motd")).unwrap();
    let content = tmp.path().join("content");
    std::fs::create_dir_all(content.join("etc")).unwrap();
    // replaces a file of a package (base-files), and is replaced by the overlay
    std::fs::write(content.join("etc/debian_version"), "from the archive\n").unwrap();
    std::fs::write(content.join("etc/motd"), "from the archive\n").unwrap();
    std::fs::write(content.join("etc/archived.conf"), "secret=1\n").unwrap();
    let tar = |archive: &Path, args: &[&str]| {
        let status = Command::new("tar")
            .arg("--create")
            .arg("--file")
            .arg(archive)
            .args(["--directory", content.to_str().unwrap()])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success());
    };
    std::fs::set_permissions(
        content.join("etc/archived.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    tar(
        &description.join("extra.tar.gz"),
        &["--gzip", "--owner=root:0", "--group=grp:42", "etc"],
    );
    std::fs::create_dir_all(content.join("bin")).unwrap();
    std::fs::write(content.join("bin/tool"), "#!/bin/sh\n").unwrap();
    tar(&description.join("tools.tar"), &["bin"]);
    std::fs::write(
        description.join("config.sh"),
        "#!/bin/sh\necho 'about to fail on purpose'\necho 'err line' >&2\nexit 3\n",
    )
    .unwrap();
    let root = tmp.path().join("root");
    let err = run_prepare(&description, &root).expect_err("config.sh exits 3");
    let text = format!("{err:#}");
    assert!(text.contains("script config.sh"), "{text}");
    assert!(text.contains("about to fail on purpose"), "{text}");
    assert!(text.contains("err line"), "{text}");
    assert!(text.contains("exit status: 3"), "{text}");
    assert_eq!(mounts_below(&root), Vec::<String>::new());
    assert!(!root.join("config.sh").exists());

    // the archives, applied before config.sh
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(read(&root, "etc/debian_version"), "from the archive\n");
    assert_eq!(read(&root, "etc/motd"), read(&example(), "root/etc/motd"));
    let conf = std::fs::metadata(root.join("etc/archived.conf")).unwrap();
    assert_eq!(read(&root, "etc/archived.conf"), "secret=1\n");
    assert_eq!(conf.permissions().mode() & 0o7777, 0o640);
    assert_eq!((conf.uid(), conf.gid()), (0, 42));
    assert_eq!(read(&root, "opt/tools/bin/tool"), "#!/bin/sh\n");

    // The user's password hash (sha512crypt of the plain password) went to
    // useradd as an argument; no log line at trace level holds it.
    let shadow = read(&root, "etc/shadow");
    let hash = shadow
        .lines()
        .find_map(|l| l.strip_prefix("demo:"))
        .and_then(|l| l.split(':').next())
        .expect("demo in /etc/shadow");
    assert!(hash.starts_with("$6$"), "{hash}");
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("useradd -p <hash> "),
        "the users phase was not logged"
    );
    assert!(!logged.contains(hash), "the hash was logged");
    assert!(!logged.contains("$6$"), "a hash was logged");
    assert!(!text.contains("$6$"), "a hash in the error: {text}");
}

/// A repository whose signatures the description's key does not verify
/// stops the build at once, with an error that says so and names the
/// repository and the key.
#[test]
fn a_repository_that_fails_verification_stops_the_build() {
    let tmp = temp_dir();
    let description = tmp.path().join("description");
    std::fs::create_dir(&description).unwrap();
    // Debian's keyring of retired keys: real keys that do not sign bookworm.
    let config = std::fs::read_to_string(example().join("config.xml"))
        .unwrap()
        .replace(
            "debian-archive-keyring.gpg",
            "debian-archive-removed-keys.gpg",
        );
    std::fs::write(description.join("config.xml"), config).unwrap();
    let root = tmp.path().join("root");
    let err = run_prepare(&description, &root).expect_err("an untrusted repository");
    // The phase, then what failed in it.
    let first = format!("{err:#}");
    assert!(
        first.starts_with("phase `bootstrap`: repository `debian` (")
            && first.contains("failed signature verification")
            && first.contains("debian-archive-removed-keys.gpg")
            && (first.contains("NO_PUBKEY") || first.contains("not signed")),
        "{first}"
    );
    assert_eq!(mounts_below(&root), Vec::<String>::new());
    assert!(
        !root.join("usr/bin/apt-get").exists(),
        "the bootstrap went on"
    );
}

#[test]
fn refuses_a_non_empty_root() {
    let tmp = temp_dir();
    std::fs::write(tmp.path().join("file"), "x").unwrap();
    let err = run_prepare(&example(), tmp.path()).unwrap_err();
    assert!(format!("{err:#}").contains("is not empty"), "{err:#}");
}
