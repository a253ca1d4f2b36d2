//! `builder prepare`: a planned description made into a root tree, following
//! `kiwi-ng system prepare`: bootstrap, install, overlays, users, locale,
//! keytable, timezone, `config.sh`, package removal, image repositories,
//! cleanup. Every chrooted step mounts `/proc`, `/sys` and `/dev` for itself
//! and unmounts them whatever happens; a failed build leaves the root as it
//! was at the failure, for inspection.
//!
//! It owns the root's stores and steps: on a root cache miss the root is
//! made in [`memory`] when it fits, an entry of the [`root_cache`] is used
//! copied or with the build's changes in a [`layered`] overlay over it;
//! then [`users`] and [`scripts`] (`config.sh`, `images.sh`).

pub mod host_keys;
pub mod layered;
pub mod memory;
pub mod root_cache;
pub mod scripts;
mod store;
pub mod users;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::packages::lock::{LockMode, LockedPackage, LockedRepository};
use crate::packages::PackageManager;
use crate::packages::{MirrorOverride, Snapshot};
use crate::plan::{BuildPlan, Overlay, OverlayKind};
use crate::plugins::{PipelinePlugins, Stage};
use crate::rootfs::command;
use crate::rootfs::files::{Ownership, RootDir};
use layered::LayeredRoot;
use memory::MemoryBudget;
use root_cache::RootCache;
use scripts::ScriptEnv;

/// What to prepare where.
#[derive(Debug, Clone)]
pub struct PrepareRequest {
    /// The root directory: created if missing, must be empty.
    pub root: PathBuf,
    /// Replaces the `host://` repository lookup.
    pub mirror: MirrorOverride,
    /// Dated snapshots the build repositories are read from instead.
    pub snapshots: Vec<Snapshot>,
    /// Record a lock, or install exactly what one holds.
    pub lock: LockMode,
    /// The package cache directory shared between builds (`None`: no cache).
    pub package_cache: Option<PathBuf>,
    /// The prepared-root cache directory (`None`: always bootstrap).
    pub root_cache: Option<PathBuf>,
    /// A directory of the build's own for the root's upper layer: with it,
    /// a root from the root cache is an overlay over the cache entry
    /// (nothing copied), which lasts as long as the [`PrepareReport`].
    /// Without it, the root is a tree of its own that outlives the build.
    pub layer_dir: Option<PathBuf>,
    /// With a layer directory and a root cache that has no entry yet: how
    /// much memory the root may be prepared in.
    pub memory_root: MemoryBudget,
    /// The remote cache the root cache's entries are pulled from and
    /// pushed to (`--cache-remote`).
    pub remote: Option<crate::caches::remote::RemoteSpec>,
}

/// How a prepare went.
#[derive(Debug, Default)]
pub struct PrepareReport {
    /// The root that was prepared.
    pub root: PathBuf,
    /// Each phase and how long it took, in order.
    pub phases: Vec<(String, Duration)>,
    /// The overlay the root is, when it is one: dropping it unmounts the root.
    pub layered: Option<LayeredRoot>,
    /// The installed packages' file digests, read before the cleanup
    /// removed the repository indexes (Debian family).
    pub package_digests: crate::sbom::PackageDigests,
    /// The packages in the root before the cleanup, as a lock records them.
    pub installed: Vec<LockedPackage>,
    /// With [`LockMode::Record`]: the build repositories as a lock records them.
    pub repositories: Vec<LockedRepository>,
    /// The remote cache and what this build shares through it, once it
    /// lets the root go ([`PrepareReport::share_root`]).
    pub remote: Option<Shared>,
}

/// What a build shares through the remote cache: its root cache entry and
/// the package pool it downloaded into (xz chunks: [`Shared::xz_tag`]).
#[derive(Debug)]
pub struct Shared {
    /// The connection.
    pub remote: crate::caches::remote::RemoteCache,
    /// The root cache entry.
    pub root: RootCache,
    /// The package pool, its packages' extension, and its tag.
    pub pool: Option<(PathBuf, &'static str, String)>,
}

impl Shared {
    /// The tag of the xz chunks of this root's images.
    pub fn xz_tag(&self) -> String {
        crate::caches::remote::file_set_tag("xz", &self.root.key())
    }
}

impl PrepareReport {
    /// Lets the root go (an overlay is unmounted, and a root prepared in
    /// memory is then stored in the root cache) and pushes the root cache
    /// entry to the remote cache when it lacks it. Returns how long that
    /// took, when there is a remote cache.
    pub fn share_root(&mut self) -> Option<Duration> {
        drop(self.layered.take());
        let shared = self.remote.as_ref()?;
        let started = Instant::now();
        crate::progress::phase("share-root");
        shared.remote.store_root(&shared.root);
        if let Some((pool, extension, tag)) = &shared.pool {
            shared.remote.store_files(tag, pool, extension);
        }
        Some(started.elapsed())
    }

    fn timed<T>(
        &mut self,
        phase: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        crate::interrupt::check(phase)?;
        let _span = tracing::info_span!("phase", name = phase).entered();
        tracing::info!("{phase}");
        crate::progress::phase(phase);
        let started = Instant::now();
        let out = f().with_context(|| format!("phase `{phase}`"));
        self.phases.push((phase.to_string(), started.elapsed()));
        out
    }
}

/// Prepares `plan` into `request.root`, running `plugins`' baselines and
/// their hooks of the `post-bootstrap` and `config` stages.
pub fn prepare(
    plan: &BuildPlan,
    request: &PrepareRequest,
    plugins: &PipelinePlugins<'_>,
) -> anyhow::Result<PrepareReport> {
    unmounted_on_error(&request.root, prepare_steps(plan, request, plugins))
}

/// Whatever failed or was interrupted, nothing stays mounted below `root`.
fn unmounted_on_error<T>(root: &Path, result: anyhow::Result<T>) -> anyhow::Result<T> {
    if result.is_err() {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        crate::rootfs::mounts::unmount_below(&root);
    }
    result
}

fn prepare_steps(
    plan: &BuildPlan,
    request: &PrepareRequest,
    plugins: &PipelinePlugins<'_>,
) -> anyhow::Result<PrepareReport> {
    let root_path = empty_root(&request.root)?;
    let mut report = PrepareReport {
        root: root_path.clone(),
        phases: Vec::new(),
        layered: None,
        package_digests: Default::default(),
        installed: Vec::new(),
        repositories: Vec::new(),
        remote: None,
    };
    let plain = RootDir::open(&root_path)?;
    let packages = crate::packages::open(
        plan,
        &plain,
        &request.mirror,
        &request.snapshots,
        request.package_cache.as_deref(),
    )
    .context("repositories")?;
    match &request.lock {
        LockMode::Off => {}
        LockMode::Record => {
            report.repositories = report.timed("lock", || packages.locked_repositories())?;
        }
        LockMode::Check(lock) => {
            report.timed("locked", || match packages.drift_before_install(lock)? {
                Some(drift) if !drift.is_empty() => Err(crate::packages::lock::drift_error(
                    lock,
                    "before anything was installed",
                    &drift,
                )),
                Some(_) => Ok(()),
                None => {
                    tracing::info!("the locked packages are checked once installed");
                    Ok(())
                }
            })?
        }
    }
    let root_cache = match &request.root_cache {
        Some(dir) => RootCache::lookup(
            dir,
            plan,
            packages.repository_state()?.as_ref(),
            &plugins.post_bootstrap_fingerprint(),
            crate::rootfs::sandbox::source_date_epoch_from_env()?,
        )?,
        None => None,
    };
    if let (Some(spec), Some(cache)) = (&request.remote, &root_cache) {
        let remote = crate::caches::remote::RemoteCache::connect(spec);
        // The pool's tag: its place in the package cache, the same on
        // every machine.
        let pool = packages.package_pool().and_then(|(pool, extension)| {
            let base = request.package_cache.as_deref()?;
            let place = pool.strip_prefix(base).ok()?.to_string_lossy().into_owned();
            let tag = crate::caches::remote::file_set_tag("pool", &place);
            Some((pool, extension, tag))
        });
        if !cache.is_stored() && !report.timed("remote-root", || Ok(remote.fetch_root(cache)))? {
            // Prepared here: the packages from the registry where it has them.
            if let Some((pool, _, tag)) = &pool {
                report.timed("remote-packages", || Ok(remote.fetch_files(tag, pool)))?;
            }
        }
        report.remote = Some(Shared {
            remote,
            root: cache.clone(),
            pool,
        });
    }
    let env = ScriptEnv::from_plan(plan);

    // The root with its packages: from the cache or installed, and kept
    // in the cache.
    let install = |report: &mut PrepareReport, root: &RootDir, installed: &mut dyn FnMut()| {
        let packages = packages.over(root);
        install_packages(plan, root, &*packages, plugins, &env, report, installed)
    };
    store::for_request(request, root_cache.as_ref()).obtain(&mut report, &root_path, &install)?;

    // The rest goes to the root as this build alone sees it.
    let root = RootDir::open(&root_path)?;
    let packages = packages.over(&root);
    let run_scripts = |stage: &str| scripts::run_stage(&root, plan, &env, stage);
    if plan_has_archives(plan) {
        report.timed("archives", || apply_archives(&root, plan))?;
    }
    report.timed("overlay", || {
        host_keys::drop_generated(&root)?;
        apply_overlays(&root, plan)
    })?;
    report.timed("users", || {
        users::apply(&root, &*packages, &plan.groups, &plan.users)
    })?;
    report.timed("settings", || apply_settings(&root, plan))?;
    if !plugins.plugins.baselines.is_empty() {
        report.timed("baselines", || plugins.apply_baselines(&root, &*packages))?;
    }
    report.timed("config", || {
        run_scripts("config")?;
        plugins.run_hooks(Stage::Config, &root, &*packages, &[])
    })?;
    report.timed("remove", || {
        packages.remove_sets(&plan.packages.uninstall, &plan.packages.delete)
    })?;
    // What the root holds, read while the package manager's indexes are
    // still there: the digests the SBOMs give, what a lock records.
    report.installed = packages.installed().context("cleanup")?;
    report.package_digests = report
        .installed
        .iter()
        .filter_map(|p| {
            let id = (p.name.clone(), p.version.clone(), p.arch.clone());
            Some((id, p.sha256.clone()?))
        })
        .collect();
    if let LockMode::Check(lock) = &request.lock {
        let drift = lock.drift(&report.installed);
        if !drift.is_empty() {
            return Err(crate::packages::lock::drift_error(
                lock,
                "once installed",
                &drift,
            ));
        }
    }
    report.timed("cleanup", || {
        packages.configure_image_repositories()?;
        packages.cleanup()?;
        root.write("etc/machine-id", b"", 0o444)
            .context("cleanup: emptying /etc/machine-id")?;
        link_dbus_machine_id(&root)?;
        drop_host_copies(&root)?;
        drop_build_records(&root)?;
        host_keys::made_at_boot(&root)?;
        Ok(())
    })?;
    for script in &plan.scripts {
        if !matches!(
            script.stage.as_str(),
            "post-bootstrap" | "config" | "pre-image"
        ) {
            tracing::warn!(script = %script.name, stage = %script.stage, "this script is not run yet");
        }
    }
    Ok(report)
}

/// Bootstrap, `post_bootstrap.sh` and its hooks, the image packages
/// (`installed` is called once they are in, before the initrd is made).
fn install_packages(
    plan: &BuildPlan,
    root: &RootDir,
    packages: &dyn PackageManager,
    plugins: &PipelinePlugins<'_>,
    env: &ScriptEnv,
    report: &mut PrepareReport,
    installed: &mut dyn FnMut(),
) -> anyhow::Result<()> {
    report.timed("bootstrap", || packages.bootstrap(&plan.packages.bootstrap))?;
    report.timed("post-bootstrap", || {
        scripts::run_stage(root, plan, env, "post-bootstrap")?;
        plugins.run_hooks(Stage::PostBootstrap, root, packages, &[])
    })?;
    report.timed("install", || {
        packages.install_set(&plan.packages.image, installed)
    })
}

/// Runs the description's in-image scripts of `stage` (`pre-image`:
/// `images.sh`, which `builder run` runs between prepare and create, as
/// `kiwi-ng system build` does) in the prepared root.
pub fn run_stage_scripts(plan: &BuildPlan, root: &Path, stage: &str) -> anyhow::Result<()> {
    if !plan.scripts.iter().any(|s| s.stage == stage && s.in_image) {
        return Ok(());
    }
    let result = RootDir::open(root)
        .map_err(anyhow::Error::from)
        .and_then(|dir| scripts::run_stage(&dir, plan, &ScriptEnv::from_plan(plan), stage));
    unmounted_on_error(root, result)
}

/// Removes the build host's `/etc/resolv.conf` and `/etc/hostname` that the
/// bootstrap copied in for name resolution during the build, unless
/// something (a package, the overlay, a script) replaced them since.
fn drop_host_copies(root: &RootDir) -> anyhow::Result<()> {
    for rel in ["etc/resolv.conf", "etc/hostname"] {
        let Ok(host) = std::fs::read(Path::new("/").join(rel)) else {
            continue;
        };
        let in_image = std::fs::symlink_metadata(root.host_path().join(rel));
        let is_file = in_image.map(|m| m.is_file()).unwrap_or(false);
        if is_file && root.read_to_string(rel).ok().map(String::into_bytes) == Some(host) {
            root.remove_file(rel)
                .with_context(|| format!("cleanup: removing the build host's /{rel}"))?;
        }
    }
    Ok(())
}

/// dbus's own copy of the machine id, which its package writes when it is
/// installed, becomes a link to `/etc/machine-id` (as systemd-machine-id-setup
/// expects): otherwise every machine made from the image shares one id.
fn link_dbus_machine_id(root: &RootDir) -> anyhow::Result<()> {
    const DBUS_ID: &str = "var/lib/dbus/machine-id";
    let is_file = std::fs::symlink_metadata(root.host_path().join(DBUS_ID))
        .map(|m| m.is_file())
        .unwrap_or(false);
    if is_file {
        root.remove_file(DBUS_ID)
            .and_then(|()| root.symlink(DBUS_ID, "/etc/machine-id"))
            .context("cleanup: linking /var/lib/dbus/machine-id to /etc/machine-id")?;
    }
    Ok(())
}

/// Files the package tools write that record when and on which host this
/// build ran, not what the image is: with them, two builds of the same
/// packages differ. mkosi drops the same ones.
const BUILD_RECORDS: &[&str] = &[
    "var/log/dpkg.log",
    "var/log/alternatives.log",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/apt/eipp.log.xz",
    "var/log/bootstrap.log",
    "var/log/dnf.log",
    "var/log/dnf.librepo.log",
    "var/log/dnf.rpm.log",
    "var/log/hawkey.log",
    "var/log/zypper.log",
    // ldconfig's cache of the libraries' inode numbers and times.
    "var/cache/ldconfig/aux-cache",
];

fn drop_build_records(root: &RootDir) -> anyhow::Result<()> {
    for rel in BUILD_RECORDS {
        let is_file = std::fs::symlink_metadata(root.host_path().join(rel))
            .map(|m| m.is_file())
            .unwrap_or(false);
        if is_file {
            root.remove_file(rel)
                .with_context(|| format!("cleanup: removing /{rel}"))?;
        }
    }
    Ok(())
}

/// `root` made absolute and checked empty (created when missing).
fn empty_root(root: &Path) -> anyhow::Result<PathBuf> {
    if !root.exists() {
        std::fs::create_dir_all(root)
            .with_context(|| format!("prepare: creating {}", root.display()))?;
    }
    let root = root
        .canonicalize()
        .with_context(|| format!("prepare: {}", root.display()))?;
    if root == Path::new("/") {
        bail!("prepare: refusing to use / as the image root");
    }
    let mut entries =
        std::fs::read_dir(&root).with_context(|| format!("prepare: reading {}", root.display()))?;
    if entries.next().is_some() {
        bail!(
            "prepare: {} is not empty; prepare needs an empty or missing directory",
            root.display()
        );
    }
    Ok(root)
}

fn plan_has_archives(plan: &BuildPlan) -> bool {
    !plan.packages.bootstrap.archives.is_empty() || !plan.packages.image.archives.is_empty()
}

/// KIWI's `<archive name=...>` of the packages sections: each a tarball
/// (any compression tar detects) in the description directory, unpacked
/// over the root, or below its `target_dir`, with owners, modes and
/// symlinks kept, as KIWI's `tar -C root -x -f` does. Bootstrap archives
/// come first, then the image's. KIWI unpacks them right after their
/// packages; here both follow the image packages, so that a prepared root
/// in the cache holds packages only and a changed archive is never stale.
///
/// Safely: the file must lie inside the description directory with every
/// symlink followed; tar unpacks into a fresh directory outside the root
/// (it would follow the root's absolute symlinks onto the build host;
/// GNU tar drops leading `/` and refuses `..` in member names), and the
/// tree is then copied into the root, which never leaves it.
fn apply_archives(root: &RootDir, plan: &BuildPlan) -> anyhow::Result<()> {
    let dir = &plan.description_dir;
    let real_dir = std::fs::canonicalize(dir)
        .with_context(|| format!("archives: the description directory {}", dir.display()))?;
    for archive in plan
        .packages
        .bootstrap
        .archives
        .iter()
        .chain(&plan.packages.image.archives)
    {
        let step = format!("archive {}", archive.name);
        let path = dir.join(&archive.name);
        let real = std::fs::canonicalize(&path).with_context(|| {
            format!(
                "{step}: {} (archives are files of the description directory)",
                path.display()
            )
        })?;
        if !real.starts_with(&real_dir) {
            bail!(
                "{step}: {} leads out of the description directory {} (to {})",
                path.display(),
                real_dir.display(),
                real.display()
            );
        }
        if !real.is_file() {
            bail!("{step}: {} is not a file", path.display());
        }
        tracing::info!(archive = %archive.name, target = archive.target_dir.as_deref().unwrap_or("/"), "unpacking");
        let tmp = command::temp_dir().with_context(|| step.clone())?;
        let target = archive
            .target_dir
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/');
        let dest = tmp.path().join(target);
        std::fs::create_dir_all(&dest)
            .with_context(|| format!("{step}: creating {}", dest.display()))?;
        let mut cmd = std::process::Command::new("tar");
        cmd.arg("--extract")
            .arg("--numeric-owner")
            .arg("--same-owner")
            .arg("--same-permissions")
            .arg("--file")
            .arg(&real)
            .arg("--directory")
            .arg(&dest);
        command::run(&step, &mut cmd)?;
        root.copy_tree(tmp.path(), Ownership::Preserve)
            .with_context(|| format!("{step}: copying into the image"))?;
    }
    Ok(())
}

fn apply_overlays(root: &RootDir, plan: &BuildPlan) -> anyhow::Result<()> {
    plan.overlays
        .iter()
        .try_for_each(|overlay| apply_overlay(root, overlay))
}

/// Lays one overlay over the root: a directory copied (files owned by
/// root, modes, mtimes and symlinks kept), an archive unpacked with its
/// owners.
pub fn apply_overlay(root: &RootDir, overlay: &Overlay) -> anyhow::Result<()> {
    let step = format!("overlay {}", overlay.path.display());
    match overlay.kind {
        OverlayKind::Directory => root
            .copy_tree(&overlay.path, Ownership::Root)
            .with_context(|| step.clone())?,
        OverlayKind::Archive => {
            // Unpacked outside the root first: tar would follow the
            // root's absolute symlinks onto the build host.
            let tmp = command::temp_dir().with_context(|| step.clone())?;
            let mut cmd = std::process::Command::new("tar");
            cmd.arg("--extract")
                .arg("--gzip")
                .arg("--numeric-owner")
                .arg("--same-owner")
                .arg("--same-permissions")
                .arg("--file")
                .arg(&overlay.path)
                .arg("--directory")
                .arg(tmp.path());
            command::run(&step, &mut cmd)?;
            root.copy_tree(tmp.path(), Ownership::Preserve)
                .with_context(|| step.clone())?;
        }
    }
    Ok(())
}

/// The `LANG` value for KIWI's `<locale>` (`en_US` means `en_US.UTF-8`;
/// a list's first entry counts).
pub fn lang(locale: &str) -> String {
    let first = locale.split(',').next().unwrap_or("").trim();
    if first.contains('.') || first == "POSIX" || first == "C" {
        first.to_string()
    } else {
        format!("{first}.UTF-8")
    }
}

/// `value` as the right side of a `NAME=value` line that `sh` sources:
/// in double quotes when it holds only characters that mean nothing to the
/// shell, else in single quotes (a `'` as `'\''`). Refused when it holds a
/// control character: a newline or NUL has no safe form in such files,
/// which other readers (systemd, pam_env) parse line by line.
pub fn sh_value(value: &str) -> anyhow::Result<String> {
    if value.chars().any(char::is_control) {
        bail!(
            "{:?} holds a control character, which a shell-sourced file cannot hold safely",
            value
        );
    }
    Ok(if is_sh_plain(value) {
        format!("\"{value}\"")
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    })
}

/// Whether `value` holds only characters that mean nothing to `sh`.
fn is_sh_plain(value: &str) -> bool {
    value.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ',' | '+' | '/' | ':' | '@')
    })
}

/// `/etc/default/keyboard` with `XKBLAYOUT` set for KIWI's `<keytable>`
/// (`de-latin1-nodeadkeys` gives layout `de`), other settings kept. The
/// file is sourced by `sh`, so the layout is quoted for it.
pub fn keyboard_file(existing: Option<&str>, keytable: &str) -> anyhow::Result<String> {
    let layout = keytable.split(['-', '.']).next().unwrap_or(keytable);
    let line = format!("XKBLAYOUT={}", sh_value(layout)?);
    Ok(match existing {
        Some(text) if text.lines().any(|l| l.starts_with("XKBLAYOUT=")) => text
            .lines()
            .map(|l| {
                if l.starts_with("XKBLAYOUT=") {
                    line.as_str()
                } else {
                    l
                }
            })
            .map(|l| format!("{l}\n"))
            .collect(),
        Some(text) => format!("{}{line}\n", text),
        None => format!(
            "XKBMODEL=\"pc105\"\n{line}\nXKBVARIANT=\"\"\nXKBOPTIONS=\"\"\nBACKSPACE=\"guess\"\n"
        ),
    })
}

fn apply_settings(root: &RootDir, plan: &BuildPlan) -> anyhow::Result<()> {
    let prefs = &plan.preferences;
    if let Some(locale) = &prefs.locale {
        // `LANG=en_US.UTF-8`, as Debian writes it, when it needs no quotes
        let lang = lang(locale);
        let value = if is_sh_plain(&lang) {
            lang
        } else {
            sh_value(&lang).context("locale")?
        };
        root.write(
            "etc/default/locale",
            format!("LANG={value}\n").as_bytes(),
            0o644,
        )
        .context("locale: writing /etc/default/locale")?;
    }
    if let Some(keytable) = &prefs.keytable {
        let existing = root.read_to_string("etc/default/keyboard").ok();
        root.write(
            "etc/default/keyboard",
            keyboard_file(existing.as_deref(), keytable)
                .context("keytable")?
                .as_bytes(),
            0o644,
        )
        .context("keytable: writing /etc/default/keyboard")?;
    }
    if let Some(zone) = &prefs.timezone {
        let zone = zone.trim();
        if zone.is_empty() || zone.split('/').any(|p| p == ".." || p.is_empty()) {
            bail!("timezone: `{zone}` is not a zone name");
        }
        let zoneinfo = format!("usr/share/zoneinfo/{zone}");
        // KIWI 11 links /etc/localtime whether or not the zone file is
        // there (`ln -s -f`), so an image without tzdata still builds.
        if !root
            .exists(&zoneinfo)
            .with_context(|| format!("timezone: looking for /{zoneinfo} in the image"))?
        {
            tracing::warn!(
                "timezone: /{zoneinfo} is not in the image (tzdata is not installed); \
                 /etc/localtime points to it anyway, as KIWI does"
            );
        }
        root.symlink("etc/localtime", &format!("/{zoneinfo}"))
            .context("timezone: linking /etc/localtime")?;
        root.write("etc/timezone", format!("{zone}\n").as_bytes(), 0o644)
            .context("timezone: writing /etc/timezone")?;
    }
    if let Some(theme) = &prefs.bootsplash_theme {
        bootsplash_theme(root, theme.trim())?;
    }
    Ok(())
}

/// `<bootsplash-theme>`: plymouth's default theme, set with the image's own
/// `plymouth-set-default-theme` as KIWI sets it. The initrd, made from
/// plymouth's configuration too, takes the theme in. An image without
/// plymouth has no splash to theme: KIWI then skips it, builder says so.
fn bootsplash_theme(root: &RootDir, theme: &str) -> anyhow::Result<()> {
    const TOOL: &str = "usr/sbin/plymouth-set-default-theme";
    let plain = !theme.is_empty()
        && !theme.starts_with(['-', '.'])
        && theme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !plain {
        bail!("bootsplash-theme: `{theme}` is not a plymouth theme name");
    }
    let has_tool = root.exists(TOOL).unwrap_or(false)
        || root
            .exists("sbin/plymouth-set-default-theme")
            .unwrap_or(false);
    if !has_tool {
        tracing::warn!(
            "bootsplash-theme `{theme}`: the image has no plymouth (/{TOOL}), so there is \
             no boot splash to theme; add `plymouth` and the package with the theme"
        );
        return Ok(());
    }
    let mut cmd = crate::rootfs::sandbox::in_root(
        root.host_path(),
        "plymouth-set-default-theme",
        crate::rootfs::sandbox::Contain::TOOLS,
    );
    // The name cannot start with `-` (checked above): the tool takes no `--`.
    cmd.arg(theme);
    command::run(&format!("bootsplash-theme {theme}"), &mut cmd).with_context(|| {
        format!(
            "bootsplash-theme: setting plymouth's theme to `{theme}` (is the package with \
             /usr/share/plymouth/themes/{theme} among the image's packages? Debian's \
             plymouth-themes has spinner, fade-in, glow, script, solar, spinfinity)"
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_overlay_is_unpacked_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("etc")).unwrap();
        std::fs::write(src.join("etc/issue"), "hello\n").unwrap();
        let archive = tmp.path().join("root.tar.gz");
        let status = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(&src)
            .arg("etc")
            .status()
            .unwrap();
        assert!(status.success());
        let root_path = tmp.path().join("root");
        std::fs::create_dir_all(root_path.join("etc")).unwrap();
        let root = RootDir::open(&root_path).unwrap();
        let overlay = Overlay {
            kind: OverlayKind::Archive,
            path: archive,
            profile: None,
        };
        apply_overlay(&root, &overlay).unwrap();
        assert_eq!(
            std::fs::read_to_string(root_path.join("etc/issue")).unwrap(),
            "hello\n"
        );
    }

    /// Writes a gzip tarball at `path` with python's tarfile: `members` are
    /// (name, kind, data or link target, mode, uid), kind `f`, `d` or `l`.
    fn tarball(path: &Path, members: &[(&str, char, &str, u32, u32)]) {
        let mut script =
            String::from("import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w:gz')\n");
        for (name, kind, data, mode, uid) in members {
            let kind = match kind {
                'f' => "tarfile.REGTYPE",
                'd' => "tarfile.DIRTYPE",
                _ => "tarfile.SYMTYPE",
            };
            script.push_str(&format!(
                "i = tarfile.TarInfo({name:?}); i.type = {kind}; i.mode = {mode}; \
                 i.uid = {uid}; i.gid = {uid}\n\
                 d = {data:?}.encode()\n\
                 if i.type == tarfile.SYMTYPE: i.linkname = {data:?}; t.addfile(i)\n\
                 elif i.type == tarfile.DIRTYPE: t.addfile(i)\n\
                 else: i.size = len(d); t.addfile(i, io.BytesIO(d))\n"
            ));
        }
        script.push_str("t.close()\n");
        let status = std::process::Command::new("python3")
            .arg("-c")
            .arg(&script)
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// `<archive>`s are unpacked into the root (bootstrap then image, at
    /// their `target_dir`) with owners and modes, and nothing they hold
    /// reaches outside the root: not `..`, not a symlink of the archive,
    /// not an absolute symlink of the root.
    #[test]
    fn archives_are_unpacked_inside_the_root_only() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        let desc = tmp.path().join("desc");
        std::fs::create_dir_all(&desc).unwrap();
        let host_s = host.display().to_string();
        tarball(
            &desc.join("files.tar.gz"),
            &[
                ("etc", 'd', "", 0o755, 0),
                ("etc/archived", 'f', "from the archive\n", 0o640, 1234),
                ("etc/link", 'l', "/etc/archived", 0o777, 0),
                // through the image's absolute symlink: stays in the image
                ("etc/hostlink/pwned", 'f', "x", 0o644, 0),
            ],
        );
        // members that climb out, or write through a symlink they bring
        tarball(
            &desc.join("evil.tar.gz"),
            &[
                ("../escape", 'f', "x", 0o644, 0),
                ("evil", 'l', &host_s, 0o777, 0),
                ("evil/pwned", 'f', "x", 0o644, 0),
            ],
        );
        tarball(
            &desc.join("app.tar"),
            &[("bin/app", 'f', "#!/bin/sh\n", 0o755, 0)],
        );
        let plan_for = |image_archive: &str| {
            std::fs::write(
                desc.join("config.xml"),
                format!(
                    r#"<image schemaversion="8.5" name="a">
  <description type="system"><author>a</author><contact>c</contact><specification>s</specification></description>
  <preferences><version>1</version><packagemanager>apt</packagemanager><type image="tbz"/></preferences>
  <packages type="image"><archive name="{image_archive}"/></packages>
  <packages type="bootstrap"><package name="b"/><archive name="app.tar" target_dir="/opt/app"/></packages>
</image>"#
                ),
            )
            .unwrap();
            let d = crate::description::load(&desc).unwrap();
            crate::plan::plan(&d, &crate::plan::PlanRequest::default()).unwrap()
        };
        let root_path = tmp.path().join("root");
        std::fs::create_dir_all(root_path.join("etc")).unwrap();
        // an absolute symlink of the image whose target is a host directory
        // as well as one of the image
        std::os::unix::fs::symlink(&host, root_path.join("etc/hostlink")).unwrap();
        let in_image = root_path.join(host.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&in_image).unwrap();
        let root = RootDir::open(&root_path).unwrap();

        // tar refuses the evil members and the build stops; nothing escaped
        let e = format!(
            "{:#}",
            apply_archives(&root, &plan_for("evil.tar.gz")).unwrap_err()
        );
        assert!(
            e.contains("archive evil.tar.gz: ") && e.contains("failed"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(&host).unwrap().count(), 0);
        assert!(!tmp.path().join("escape").exists() && !desc.join("escape").exists());

        apply_archives(&root, &plan_for("files.tar.gz")).unwrap();
        assert_eq!(std::fs::read_dir(&host).unwrap().count(), 0);
        assert!(
            in_image.join("pwned").is_file(),
            "resolved inside the image"
        );
        let archived = root_path.join("etc/archived");
        assert_eq!(
            std::fs::read_to_string(&archived).unwrap(),
            "from the archive\n"
        );
        let meta = std::fs::metadata(&archived).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_eq!((meta.uid(), meta.gid()), (1234, 1234));
        assert_eq!(
            std::fs::read_link(root_path.join("etc/link")).unwrap(),
            Path::new("/etc/archived")
        );
        // the bootstrap archive below its target_dir
        let app = root_path.join("opt/app/bin/app");
        assert_eq!(std::fs::read_to_string(&app).unwrap(), "#!/bin/sh\n");
        assert_eq!(
            std::fs::metadata(&app).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    /// An archive that leads out of the description directory through a
    /// symlink is refused; a missing one names where it was looked for.
    #[test]
    fn archives_outside_the_description_or_missing_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let desc = tmp.path().join("desc");
        std::fs::create_dir_all(&desc).unwrap();
        tarball(
            &tmp.path().join("outside.tar.gz"),
            &[("x", 'f', "x", 0o644, 0)],
        );
        std::os::unix::fs::symlink("../outside.tar.gz", desc.join("link.tar.gz")).unwrap();
        let config = |name: &str| {
            format!(
                r#"<image schemaversion="8.5" name="a">
  <description type="system"><author>a</author><contact>c</contact><specification>s</specification></description>
  <preferences><version>1</version><packagemanager>apt</packagemanager><type image="tbz"/></preferences>
  <packages type="image"><archive name="{name}"/></packages>
  <packages type="bootstrap"><package name="b"/></packages>
</image>"#
            )
        };
        let root_path = tmp.path().join("root");
        std::fs::create_dir_all(&root_path).unwrap();
        let root = RootDir::open(&root_path).unwrap();
        for (name, expected) in [
            ("link.tar.gz", "leads out of the description directory"),
            (
                "missing.tar.gz",
                "archives are files of the description directory",
            ),
        ] {
            std::fs::write(desc.join("config.xml"), config(name)).unwrap();
            let d = crate::description::load(&desc).unwrap();
            let plan = crate::plan::plan(&d, &crate::plan::PlanRequest::default()).unwrap();
            let e = format!("{:#}", apply_archives(&root, &plan).unwrap_err());
            assert!(
                e.contains(&format!("archive {name}: ")) && e.contains(expected),
                "{e}"
            );
        }
        assert_eq!(std::fs::read_dir(&root_path).unwrap().count(), 0);
    }

    #[test]
    fn lang_from_locale() {
        assert_eq!(lang("en_US"), "en_US.UTF-8");
        assert_eq!(lang("de_DE.ISO-8859-1,en_US"), "de_DE.ISO-8859-1");
        assert_eq!(lang("POSIX"), "POSIX");
    }

    #[test]
    fn keyboard_layout_replaced_or_written() {
        let fresh = keyboard_file(None, "de-latin1-nodeadkeys").unwrap();
        assert!(fresh.contains("XKBLAYOUT=\"de\"\n"), "{fresh}");
        let kept = keyboard_file(Some("XKBMODEL=\"pc104\"\nXKBLAYOUT=\"us\"\n"), "fr").unwrap();
        assert_eq!(kept, "XKBMODEL=\"pc104\"\nXKBLAYOUT=\"fr\"\n");
        assert!(keyboard_file(None, "de\nXKBMODEL=evil").is_err());
    }

    /// What `sh` sees in `XKBLAYOUT` after sourcing `file` (in a fresh
    /// directory), and whether sourcing it created a file `pwned` there.
    fn source_with_sh(file: &str) -> (String, bool) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keyboard"), file).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(". ./keyboard && printf %s \"$XKBLAYOUT\"")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            dir.path().join("pwned").exists(),
        )
    }

    /// A keytable the loader would refuse still cannot run commands when
    /// the file it lands in is sourced (the builder writes what the plan
    /// says; a plan may come from elsewhere than the loader).
    #[test]
    fn keyboard_file_sourced_by_sh_runs_nothing() {
        for keytable in [
            "de$(touch pwned)",
            "de`touch pwned`",
            "de\"; touch pwned; \"",
            "it's$(touch pwned)",
            "de${IFS}$(touch${IFS}pwned)",
        ] {
            let file = keyboard_file(None, keytable).unwrap();
            let (layout, ran) = source_with_sh(&file);
            assert!(!ran, "{keytable:?} ran a command through {file:?}");
            assert_eq!(layout, keytable, "{file}");
        }
        // the quoting is what keeps it from running: unquoted, it runs
        let (_, ran) = source_with_sh("XKBLAYOUT=\"de$(touch pwned)\"\n");
        assert!(ran);
    }

    #[test]
    fn sh_values() {
        assert_eq!(sh_value("de").unwrap(), "\"de\"");
        assert_eq!(sh_value("a b").unwrap(), "'a b'");
        assert_eq!(sh_value("it's").unwrap(), "'it'\\''s'");
        assert!(sh_value("a\nb").is_err());
        assert!(sh_value("a\0b").is_err());
    }
}
