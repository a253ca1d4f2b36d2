//! The apt backend: `mmdebstrap` bootstraps the root from the host, then
//! apt and dpkg inside the root install and remove packages. apt inside the
//! root reads the image's own sources, written here as DEB822 files.

use std::path::Path;

use anyhow::{bail, Context};

use super::initrd::DeferredInitrd;
use crate::packages::cache::{PackageCache, APT_ARCHIVES, APT_LISTS};
use crate::packages::repository::AptRepository;
use crate::plan::PackageSet;
use crate::rootfs::command;
use crate::rootfs::files::RootDir;
use crate::rootfs::mounts::{memory_available, on_tmpfs, Scratch};
use crate::rootfs::sandbox::{self, in_root, Contain};

/// The Debian architecture name of a KIWI architecture.
pub fn deb_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "i686" | "i586" | "i386" => "i386",
        "armv7l" | "armv7hl" => "armhf",
        "ppc64le" => "ppc64el",
        other => other,
    }
}

const SOURCES_DIR: &str = "etc/apt/sources.list.d";
const KEYRINGS_DIR: &str = "etc/apt/keyrings";
const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";

/// apt driving one image root.
#[derive(Debug)]
pub struct Apt<'r> {
    root: &'r RootDir,
    repositories: Vec<AptRepository>,
    arch: String,
    cache: Option<PackageCache>,
    initrd_filesystems: Vec<String>,
    /// Whether this build's bootstrap made this root, seconds ago: its
    /// package lists are fresh (the install needs no `apt-get update`) and
    /// its archive directory holds the whole pool (nothing to copy in).
    bootstrapped: std::sync::atomic::AtomicBool,
}

/// Keeps services from starting while packages are installed; removed on drop.
struct NoServices<'r>(&'r RootDir);

impl<'r> NoServices<'r> {
    fn new(root: &'r RootDir) -> anyhow::Result<Self> {
        root.write(POLICY_RC_D, b"#!/bin/sh\nexit 101\n", 0o755)
            .context("writing policy-rc.d")?;
        Ok(NoServices(root))
    }
}

impl Drop for NoServices<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.remove_file(POLICY_RC_D) {
            tracing::warn!(error = %e, "removing policy-rc.d");
        }
    }
}

impl<'r> Apt<'r> {
    /// apt for `root`, building from `repositories`, for KIWI architecture
    /// `arch`, keeping downloaded packages in the pool under `cache_root`
    /// (none: every build downloads everything).
    pub fn new(
        root: &'r RootDir,
        repositories: Vec<AptRepository>,
        arch: &str,
        cache_root: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let arch = deb_arch(arch).to_string();
        let cache = match cache_root {
            Some(dir) => {
                let build: Vec<&AptRepository> =
                    repositories.iter().filter(|r| r.for_build).collect();
                Some(PackageCache::apt(dir, &build, &arch)?)
            }
            None => None,
        };
        Ok(Apt {
            root,
            repositories,
            arch,
            cache,
            initrd_filesystems: Vec::new(),
            bootstrapped: false.into(),
        })
    }

    /// The filesystems the initrds made after an install must handle (the
    /// type's `filesystem`): an image type that asks for the same later
    /// finds the initrd up to date.
    pub fn with_initrd_filesystems(mut self, filesystems: Vec<String>) -> Self {
        self.initrd_filesystems = filesystems;
        self
    }

    /// Adds what apt downloaded into the root to the package cache.
    fn collect_downloads(&self, step: &str) -> anyhow::Result<()> {
        self.collect_downloads_from(step, self.root)
    }

    /// Adds what apt downloaded into `root` to the package cache.
    fn collect_downloads_from(&self, step: &str, root: &RootDir) -> anyhow::Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let root = root.host_path();
        let done = cache
            .collect(&root.join(APT_ARCHIVES), &root.join(APT_LISTS))
            .with_context(|| format!("{step}: package cache"))?;
        tracing::debug!(
            added = done.added,
            rejected = done.rejected,
            pruned = done.pruned,
            "{step}: package cache updated"
        );
        Ok(())
    }

    fn build_repositories(&self) -> impl Iterator<Item = &AptRepository> {
        self.repositories.iter().filter(|r| r.for_build)
    }

    /// Bootstraps `set` into the (empty) root with mmdebstrap: the
    /// distribution's `Essential: yes` packages, apt, and `set`, as KIWI 11
    /// bootstraps (`--variant=apt`; Priority `required` extras such as
    /// e2fsprogs come only when the description asks for them).
    ///
    /// mmdebstrap unpacks every essential package twice (extracted, then
    /// installed by dpkg over the extracted files), so it works in a
    /// [`Scratch`] tmpfs when one can be mounted, and the result is copied
    /// into the root: on ext4 without a journal, creating files right after
    /// thousands were replaced costs several times more.
    pub fn bootstrap(&self, set: &PackageSet) -> anyhow::Result<()> {
        let step = "bootstrap: mmdebstrap";
        let scratch = if on_tmpfs(self.root.host_path()) {
            None // the root is in memory already
        } else {
            match self.scratch_bytes() {
                Some(bytes) => match Scratch::mount(bytes) {
                    Ok(scratch) => Some(scratch),
                    Err(e) => {
                        tracing::debug!("{step}: bootstrapping in place ({e})");
                        None
                    }
                },
                None => {
                    tracing::debug!("{step}: bootstrapping in place (too little free memory)");
                    None
                }
            }
        };
        let target = match &scratch {
            Some(scratch) => {
                let target = scratch.path().join("root");
                std::fs::create_dir(&target)
                    .with_context(|| format!("{step}: creating {}", target.display()))?;
                target
            }
            None => self.root.host_path().to_path_buf(),
        };
        let bootstrapped = RootDir::open(&target)?;
        self.mmdebstrap(set, &bootstrapped)?;
        self.collect_downloads_from(step, &bootstrapped)?;
        if scratch.is_some() {
            crate::rootfs::tree::copy_tree(&target, self.root.host_path())
                .with_context(|| format!("{step}: copying the bootstrapped root"))?;
        }
        Ok(())
    }

    /// The size of a scratch tmpfs for the bootstrap, if the memory
    /// available holds it twice over: the essential set with apt (about
    /// 350 MB) and the pooled packages seeded into it.
    fn scratch_bytes(&self) -> Option<u64> {
        let pooled = match &self.cache {
            Some(cache) => cache.pooled_bytes().ok()?,
            None => 0,
        };
        let wanted = pooled + (768 << 20);
        let available = memory_available()?;
        (available >= 2 * wanted).then_some(wanted)
    }

    /// Runs mmdebstrap into `target` (empty, or holding only the pooled
    /// packages it seeds).
    fn mmdebstrap(&self, set: &PackageSet, target: &RootDir) -> anyhow::Result<()> {
        let step = "bootstrap: mmdebstrap";
        let repos: Vec<&AptRepository> = self.build_repositories().collect();
        let Some(suite) = repos.iter().find_map(|r| r.suite.clone()) else {
            bail!("{step}: no repository to build from names a distribution (suite)");
        };
        if !set.collections.is_empty() || !set.products.is_empty() {
            tracing::warn!("{step}: apt has no collections or products; ignored");
        }
        let tmp = command::temp_dir().context("bootstrap: creating a temporary directory")?;
        // The essential packages' maintainer scripts run in mmdebstrap's
        // chroot: its namespaces keep the host's processes out of their view.
        let mut cmd = sandbox::host_namespaces("mmdebstrap");
        cmd.env("TMPDIR", tmp.path())
            .arg("--mode=root")
            .arg("--format=directory")
            .arg("--variant=apt")
            .arg(format!("--architectures={}", self.arch))
            .arg("--skip=cleanup/apt/lists")
            .arg("--aptopt=Acquire::Retries \"3\"")
            // No fsync per unpacked file: a crashed build is thrown away anyway.
            .arg("--dpkgopt=force-unsafe-io");
        if let Some(cache) = &self.cache {
            // The pool goes in first; mmdebstrap must accept the non-empty
            // root and keep the packages so the new ones can be collected.
            let seeded = cache
                .seed(&target.host_path().join(APT_ARCHIVES))
                .with_context(|| format!("{step}: package cache"))?;
            tracing::debug!(seeded, "{step}: packages from the cache");
            cmd.arg("--skip=check/empty")
                .arg("--skip=essential/unlink")
                .arg("--skip=cleanup/apt/cache");
        }
        if !set.packages.is_empty() {
            cmd.arg(format!("--include={}", set.packages.join(",")));
        }
        let keys: Vec<&Path> = repos
            .iter()
            .flat_map(|r| r.keys.iter().map(|k| k.as_path()))
            .collect();
        if !keys.is_empty() {
            // One directory with every key: apt reads them as trusted parts.
            let dir = tmp.path().join("keyring");
            std::fs::create_dir(&dir).context("bootstrap: keyring directory")?;
            for (i, key) in keys.iter().enumerate() {
                let armored = std::fs::read(key)
                    .with_context(|| format!("bootstrap: reading key {}", key.display()))?
                    .starts_with(b"-----BEGIN");
                let name = format!("key-{i}.{}", if armored { "asc" } else { "gpg" });
                std::fs::copy(key, dir.join(name))
                    .with_context(|| format!("bootstrap: copying key {}", key.display()))?;
            }
            cmd.arg(format!("--keyring={}", dir.display()));
        }
        cmd.arg(&suite).arg(target.host_path());
        for repo in &repos {
            cmd.arg(repo.one_line());
        }
        command::run(step, &mut cmd).map_err(|e| self.explain_verification(e))?;
        self.bootstrapped
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // mmdebstrap keeps its --aptopt/--dpkgopt settings in the root; they
        // are build settings (dpkg without fsync!), not the image's.
        for file in [
            "etc/apt/apt.conf.d/99mmdebstrap",
            "etc/dpkg/dpkg.cfg.d/99mmdebstrap",
        ] {
            target
                .remove_file(file)
                .with_context(|| format!("{step}: removing /{file}"))?;
        }
        Ok(())
    }

    /// A command error, or when apt refused a repository's signature, an
    /// error that says so first and names the repository and its keys.
    fn explain_verification(&self, error: command::CommandError) -> anyhow::Error {
        let tail = match &error {
            command::CommandError::Failed { tail, .. } => tail.clone(),
            _ => return error.into(),
        };
        const SIGNS: [&str; 5] = [
            "NO_PUBKEY",
            "is not signed",
            "BADSIG",
            "EXPKEYSIG",
            "REVKEYSIG",
        ];
        let Some(line) = tail
            .lines()
            .find(|l| SIGNS.iter().any(|s| l.contains(s)))
            .map(str::trim)
        else {
            return error.into();
        };
        let repo = self.repositories.iter().find(|r| {
            tail.lines()
                .filter(|l| SIGNS.iter().any(|s| l.contains(s)))
                .any(|l| l.contains(r.uri.trim_end_matches('/')))
        });
        let which = match repo {
            Some(r) => format!(
                "repository `{}` ({}) failed signature verification with the keys its description gives ({})",
                r.alias,
                r.uri,
                r.keys
                    .iter()
                    .map(|k| k.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "a repository failed signature verification".to_string(),
        };
        anyhow::Error::from(error).context(format!("{which}: {line}"))
    }

    fn write_sources(&self, repos: &[&AptRepository], image: bool) -> anyhow::Result<()> {
        self.root.create_dir_all(SOURCES_DIR, 0o755)?;
        self.root.create_dir_all(KEYRINGS_DIR, 0o755)?;
        for repo in repos {
            for (i, key) in repo.keys.iter().enumerate() {
                let data = std::fs::read(key)
                    .with_context(|| format!("reading signing key {}", key.display()))?;
                self.root.write(
                    repo.key_path_in_image(i).trim_start_matches('/'),
                    &data,
                    0o644,
                )?;
            }
            self.root.write(
                &format!("{SOURCES_DIR}/{}.sources", repo.alias),
                repo.deb822(image).as_bytes(),
                0o644,
            )?;
        }
        Ok(())
    }

    fn remove_sources(&self) -> anyhow::Result<()> {
        self.root.remove_file("etc/apt/sources.list")?;
        for repo in &self.repositories {
            self.root
                .remove_file(&format!("{SOURCES_DIR}/{}.sources", repo.alias))?;
            for i in 0..repo.keys.len() {
                self.root
                    .remove_file(repo.key_path_in_image(i).trim_start_matches('/'))?;
            }
        }
        Ok(())
    }

    /// Points the root's apt at the repositories the build uses (replacing
    /// the `sources.list` mmdebstrap wrote).
    pub fn configure_build_sources(&self) -> anyhow::Result<()> {
        self.remove_sources()
            .and_then(|_| self.write_sources(&self.build_repositories().collect::<Vec<_>>(), false))
            .context("repositories: writing the build sources into the root")
    }

    /// Leaves the sources the image keeps: `imageinclude`/`imageonly` repositories only.
    pub fn configure_image_sources(&self) -> anyhow::Result<()> {
        let keep: Vec<&AptRepository> = self.repositories.iter().filter(|r| r.in_image).collect();
        self.remove_sources()
            .and_then(|_| self.write_sources(&keep, true))
            .context("repositories: writing the image sources")
    }

    fn apt_get(&self, step: &str, args: &[&str]) -> anyhow::Result<()> {
        self.apt_get_output(step, args).map(drop)
    }

    fn apt_get_output(&self, step: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = in_root(self.root.host_path(), "apt-get", Contain::PACKAGES);
        cmd.args([
            "-y",
            "-o",
            "Acquire::Retries=3",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
            "-o",
            "Dpkg::Options::=--force-unsafe-io",
        ])
        .args(args);
        Ok(command::run(step, &mut cmd)?)
    }

    /// Installs the image package set inside the root, with the kernel
    /// filesystems mounted for this step only and services kept from starting.
    ///
    /// The initrd the packages ask for is made once, at the end
    /// ([`DeferredInitrd`]).
    pub fn install(&self, set: &PackageSet) -> anyhow::Result<()> {
        self.install_then(set, &mut || {})
    }

    /// [`Apt::install`], calling `installed` once the packages are in,
    /// before the initrd is made.
    fn install_then(&self, set: &PackageSet, installed: &mut dyn FnMut()) -> anyhow::Result<()> {
        let deferred = DeferredInitrd::new(self.root).context("install")?;
        self.install_packages(set)?;
        installed();
        deferred
            .finish(&self.initrd_filesystems)
            .context("install")?;
        Ok(())
    }

    fn install_packages(&self, set: &PackageSet) -> anyhow::Result<()> {
        let step = "install";
        if !set.collections.is_empty() || !set.products.is_empty() {
            tracing::warn!("{step}: apt has no collections or products; ignored");
        }
        if !set.ignore.is_empty() {
            tracing::warn!(ignored = ?set.ignore, "{step}: package ignores are not supported by apt; ignored");
        }
        let _no_services = NoServices::new(self.root)?;
        if self.lists_are_fresh(step) {
            tracing::debug!("{step}: the package lists the bootstrap fetched are used");
        } else {
            self.apt_get(&format!("{step}: apt-get update"), &["update"])
                .map_err(|e| match e.downcast::<command::CommandError>() {
                    Ok(e) => self.explain_verification(e),
                    Err(e) => e,
                })?;
        }
        if set.packages.is_empty() {
            return Ok(());
        }
        let mut args = vec!["install"];
        if set.pattern_type != "plusRecommended" {
            args.push("--no-install-recommends");
        }
        // Options go before the `--` (the inserts below keep them there).
        args.push("--");
        args.extend(set.packages.iter().map(String::as_str));
        if let Some(cache) = &self.cache {
            // Download first and collect before any maintainer script of
            // these packages runs.
            // A root restored from the root cache was never seeded: copy
            // in the pooled packages this install needs. (A root
            // bootstrapped by this build got the whole pool then.)
            if !self.bootstrapped.load(std::sync::atomic::Ordering::Relaxed) {
                let mut uris = args.clone();
                uris.insert(1, "--print-uris");
                uris.insert(2, "-qq");
                let listing =
                    self.apt_get_output(&format!("{step}: apt-get --print-uris"), &uris)?;
                let wanted: std::collections::HashSet<String> = listing
                    .lines()
                    .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
                    .collect();
                let seeded = cache
                    .seed_only(&self.root.host_path().join(APT_ARCHIVES), Some(&wanted))
                    .with_context(|| format!("{step}: package cache"))?;
                tracing::debug!(seeded, "{step}: packages from the cache");
            }
            let mut download = args.clone();
            download.insert(1, "--download-only");
            self.apt_get(
                &format!("{step}: apt-get install --download-only"),
                &download,
            )?;
            self.collect_downloads(step)?;
        }
        self.apt_get(&format!("{step}: apt-get install"), &args)
    }

    /// Whether this build's bootstrap fetched the package lists of every
    /// build repository into the root (the sources apt reads now name the
    /// same repositories, as DEB822): `apt-get update` would only find them
    /// unchanged.
    fn lists_are_fresh(&self, step: &str) -> bool {
        if !self.bootstrapped.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let listed = self.apt_get_output(
            &format!("{step}: apt-get indextargets"),
            &[
                "indextargets",
                "--format",
                "$(FILENAME)",
                "Created-By: Packages",
            ],
        );
        match listed {
            Ok(files) => {
                let files: Vec<&str> = files.lines().filter(|l| !l.is_empty()).collect();
                !files.is_empty()
                    && files
                        .iter()
                        .all(|f| self.root.exists(f.trim_start_matches('/')).unwrap_or(false))
            }
            Err(e) => {
                tracing::debug!("{step}: {e:#}");
                false
            }
        }
    }

    /// Removes `uninstall` (with what only they need) and force-removes `delete`.
    pub fn remove(&self, uninstall: &[String], delete: &[String]) -> anyhow::Result<()> {
        if uninstall.is_empty() && delete.is_empty() {
            return Ok(());
        }
        let _no_services = NoServices::new(self.root)?;
        if !uninstall.is_empty() {
            let mut args = vec!["purge", "--auto-remove", "--"];
            args.extend(uninstall.iter().map(String::as_str));
            self.apt_get("uninstall: apt-get purge", &args)?;
        }
        if !delete.is_empty() {
            let mut cmd = in_root(self.root.host_path(), "dpkg", Contain::PACKAGES);
            cmd.args(["--purge", "--force-depends", "--force-remove-essential"])
                .arg("--")
                .args(delete);
            command::run("delete: dpkg --purge", &mut cmd)?;
        }
        Ok(())
    }

    /// Drops apt's package lists and caches.
    pub fn cleanup(&self) -> anyhow::Result<()> {
        self.bootstrapped
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let mut cmd = in_root(self.root.host_path(), "apt-get", Contain::PACKAGES);
        cmd.arg("clean");
        command::run("cleanup: apt-get clean", &mut cmd)?;
        for dir in ["var/lib/apt/lists", "var/cache/apt"] {
            self.root
                .empty_dir(dir)
                .with_context(|| format!("cleanup: emptying /{dir}"))?;
        }
        self.root
            .create_dir_all("var/lib/apt/lists/partial", 0o700)?;
        self.root
            .create_dir_all("var/cache/apt/archives/partial", 0o700)?;
        Ok(())
    }
}

/// Baselines and hooks install and remove packages through the same apt
/// (build repositories, shared package cache, services kept from starting).
impl crate::packages::PackageTool for Apt<'_> {
    fn install(&self, names: &[String]) -> anyhow::Result<()> {
        Apt::install(
            self,
            &PackageSet {
                packages: names.to_vec(),
                ..PackageSet::default()
            },
        )
    }

    fn remove(&self, names: &[String]) -> anyhow::Result<()> {
        Apt::remove(self, names, &[])
    }
}

impl super::PackageManager for Apt<'_> {
    fn over<'s>(&self, root: &'s RootDir) -> Box<dyn super::PackageManager + 's> {
        Box::new(Apt {
            root,
            repositories: self.repositories.clone(),
            arch: self.arch.clone(),
            cache: self.cache.clone(),
            initrd_filesystems: self.initrd_filesystems.clone(),
            bootstrapped: false.into(),
        })
    }

    fn bootstrap(&self, set: &PackageSet) -> anyhow::Result<()> {
        Apt::bootstrap(self, set)
    }

    fn install_set(&self, set: &PackageSet, installed: &mut dyn FnMut()) -> anyhow::Result<()> {
        self.configure_build_sources()?;
        self.install_then(set, installed)
    }

    fn remove_sets(&self, uninstall: &[String], delete: &[String]) -> anyhow::Result<()> {
        Apt::remove(self, uninstall, delete)
    }

    fn configure_image_repositories(&self) -> anyhow::Result<()> {
        self.configure_image_sources()
    }

    fn cleanup(&self) -> anyhow::Result<()> {
        Apt::cleanup(self)
    }

    fn package_pool(&self) -> Option<(std::path::PathBuf, &'static str)> {
        self.cache.as_ref().map(|c| (c.dir().to_path_buf(), "deb"))
    }

    fn repository_state(&self) -> anyhow::Result<Option<super::RepositoryState>> {
        let mut state = super::RepositoryState::default();
        for repo in self.build_repositories() {
            state.identity.push(("uri", repo.uri.as_bytes().to_vec()));
            let suite = repo.suite.as_deref().unwrap_or("./");
            state.identity.push(("suite", suite.as_bytes().to_vec()));
            state
                .identity
                .push(("components", repo.components.join(",").into_bytes()));
            state
                .identity
                .push(("architectures", repo.architectures.join(",").into_bytes()));
            for key in &repo.keys {
                let bytes = std::fs::read(key)
                    .with_context(|| format!("root cache: reading key {}", key.display()))?;
                state.identity.push(("key", bytes));
            }
            match release_file(repo).context("root cache") {
                Ok(bytes) => state.published.push(bytes),
                Err(e) => {
                    tracing::info!(repository = %repo.alias, "root cache off: {e:#}");
                    return Ok(None);
                }
            }
        }
        Ok(Some(state))
    }

    fn installed(&self) -> anyhow::Result<Vec<crate::packages::lock::LockedPackage>> {
        let tree =
            crate::rootfs::RootTree::open(self.root.host_path()).context("opening the root")?;
        let prefixes: Vec<(String, &str)> = self
            .build_repositories()
            .map(|r| (r.list_file_prefix(), r.alias.as_str()))
            .collect();
        let origin = |index: &str| {
            prefixes
                .iter()
                .filter(|(prefix, _)| index.starts_with(prefix.as_str()))
                .max_by_key(|(prefix, _)| prefix.len())
                .map(|(_, alias)| alias.to_string())
        };
        Ok(crate::sbom::dpkg::installed_from_indexes(&tree)
            .context("reading the installed packages")?
            .into_iter()
            .map(
                |((name, version, arch), entry)| crate::packages::lock::LockedPackage {
                    name,
                    version,
                    arch,
                    repository: entry.as_ref().and_then(|e| origin(&e.index)),
                    sha256: entry.map(|e| e.sha256),
                },
            )
            .collect())
    }

    fn locked_repositories(&self) -> anyhow::Result<Vec<crate::packages::lock::LockedRepository>> {
        self.build_repositories()
            .map(|repo| {
                Ok(crate::packages::lock::LockedRepository {
                    alias: repo.alias.clone(),
                    uri: repo.uri.clone(),
                    suite: repo.suite.clone(),
                    components: repo.components.clone(),
                    snapshot_of: repo.snapshot_of.clone(),
                    release_sha256: crate::toolbox::sha256_hex(&release_file(repo)?),
                })
            })
            .collect()
    }

    fn drift_before_install(
        &self,
        lock: &crate::packages::lock::Lock,
    ) -> anyhow::Result<Option<Vec<crate::packages::lock::Drift>>> {
        let mut drift = Vec::new();
        for repo in self.build_repositories() {
            let Some(locked) = lock.repository(&repo.alias) else {
                tracing::info!(
                    repository = %repo.alias,
                    "not in the lock: its packages are checked once installed"
                );
                continue;
            };
            let release = release_file(repo)?;
            if crate::toolbox::sha256_hex(&release) == locked.release_sha256 {
                tracing::debug!(repository = %repo.alias, "publishes what it did when locked");
                continue;
            }
            tracing::info!(
                repository = %repo.alias,
                "changed since the lock: checking the locked packages against its index"
            );
            let offered = published_packages(repo, &release, &self.arch)?;
            drift.extend(lock.drift_in_index(&repo.alias, &offered));
        }
        Ok(Some(drift))
    }
}

/// Where a repository's release file and indexes are: `URI/dists/SUITE`,
/// or the URI itself for a flat repository.
fn release_prefix(repo: &AptRepository) -> String {
    let base = repo.uri.trim_end_matches('/');
    match &repo.suite {
        Some(suite) => format!("{base}/dists/{suite}"),
        None => base.to_string(),
    }
}

/// The repository's `InRelease` (or `Release`), as the build host's apt
/// fetches it: what it publishes now.
fn release_file(repo: &AptRepository) -> anyhow::Result<Vec<u8>> {
    let prefix = release_prefix(repo);
    let mut last = None;
    for name in ["InRelease", "Release"] {
        match super::repository::fetch(
            &format!("repository {}: fetching {name}", repo.alias),
            &format!("{prefix}/{name}"),
        ) {
            Ok(bytes) => return Ok(bytes),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no release file")))
}

/// The `SHA256` section of a release file: path to digest.
fn release_digests(release: &str) -> std::collections::HashMap<&str, &str> {
    let mut out = std::collections::HashMap::new();
    let mut inside = false;
    for line in release.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "SHA256:";
            continue;
        }
        if inside {
            let mut fields = line.split_whitespace();
            if let (Some(sha), Some(_size), Some(path)) =
                (fields.next(), fields.next(), fields.next())
            {
                out.insert(path, sha);
            }
        }
    }
    out
}

/// The `Packages` entries (name, version, architecture, SHA-256) the
/// repository publishes now for `arch`, each index checked against the
/// digest `release` gives it.
fn published_packages(
    repo: &AptRepository,
    release: &[u8],
    arch: &str,
) -> anyhow::Result<Vec<(String, String, String, String)>> {
    use std::io::Read as _;
    let release = String::from_utf8_lossy(release);
    let digests = release_digests(&release);
    let prefix = release_prefix(repo);
    let dirs: Vec<String> = match &repo.suite {
        Some(_) => repo
            .components
            .iter()
            .map(|c| format!("{c}/binary-{arch}/"))
            .collect(),
        None => vec![String::new()],
    };
    let mut out = Vec::new();
    for dir in dirs {
        let Some((path, sha, kind)) = ["xz", "gz", ""].iter().find_map(|ext| {
            let path = if ext.is_empty() {
                format!("{dir}Packages")
            } else {
                format!("{dir}Packages.{ext}")
            };
            digests
                .get(path.as_str())
                .map(|sha| (path, sha.to_string(), *ext))
        }) else {
            bail!(
                "repository {}: its release file lists no {dir}Packages index",
                repo.alias
            );
        };
        let step = format!("repository {}: fetching {path}", repo.alias);
        let bytes = super::repository::fetch(&step, &format!("{prefix}/{path}"))?;
        let got = crate::toolbox::sha256_hex(&bytes);
        if got != sha {
            bail!("{step}: SHA-256 {got}, the release file gives {sha}");
        }
        let mut text = String::new();
        let read = match kind {
            "xz" => liblzma::read::XzDecoder::new(bytes.as_slice()).read_to_string(&mut text),
            "gz" => flate2::read::GzDecoder::new(bytes.as_slice()).read_to_string(&mut text),
            _ => bytes.as_slice().read_to_string(&mut text),
        };
        read.with_context(|| format!("{step}: decompressing"))?;
        for p in crate::sbom::dpkg::paragraphs(&text) {
            let field = |name: &str| {
                p.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            if let (Some(n), Some(v), Some(a), Some(sha)) = (
                field("Package"),
                field("Version"),
                field("Architecture"),
                field("SHA256"),
            ) {
                out.push((n, v, a, sha));
            }
        }
    }
    Ok(out)
}
