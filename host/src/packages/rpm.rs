//! What the dnf and zypper backends share: RPM repositories resolved from the
//! plan, the tools' private work directory (whose `~/.rpmmacros` keeps the
//! image's rpm database at `/var/lib/rpm`, where RHEL and SUSE have it,
//! whatever the build host's rpm macros say), signing keys imported into the
//! image's database, KIWI's forced `delete`, the `.repo` files the image
//! keeps, and the repositories' published state for the root cache.
//!
//! Both tools are the build host's, working on the image as their root
//! (`dnf --installroot`, `zypper --root`), as KIWI runs them: the image
//! needs no package manager of its own to be built. They run contained
//! ([`sandbox::host_tool`]): they see the host's programs, the work
//! directory, the root, the package pool and the repositories' local files,
//! and the scriptlets rpm chroots into the image find a PID namespace and
//! `/proc` of their own around it, with nothing of the host to write.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::repository::{self, RepositoryError};
use super::RepositoryState;
use crate::description::UriScheme;
use crate::plan::BuildPlan;
use crate::rootfs::command;
use crate::rootfs::files::RootDir;
use crate::rootfs::sandbox::{self, Contain, HostView};

/// Where the image's rpm database lives, relative to its root.
pub const DB_PATH: &str = "/var/lib/rpm";

/// How a repository's location is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// The repository itself (`baseurl`).
    BaseUrl,
    /// A metalink document (`sourcetype="metalink"`).
    Metalink,
    /// A mirror list (`sourcetype="mirrorlist"`).
    Mirrorlist,
}

/// One RPM repository, ready to configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmRepository {
    /// Alias: the section and file name.
    pub alias: String,
    /// The location (`http(s)://`, `ftp://` or `file:///`).
    pub uri: String,
    /// What `uri` is.
    pub kind: UrlKind,
    /// Signing keys on the build host.
    pub keys: Vec<PathBuf>,
    /// Check package signatures.
    pub gpgcheck: bool,
    /// Check the signature of the repository metadata.
    pub repo_gpgcheck: bool,
    /// `priority`.
    pub priority: Option<i64>,
    /// Used to build (not `imageonly`).
    pub for_build: bool,
    /// Configured inside the image (`imageinclude` or `imageonly`).
    pub in_image: bool,
    /// KIWI's `customize` script, run with each `.repo` file written for it.
    pub customize: Option<PathBuf>,
    /// The repository publishes no module metadata: module filtering is
    /// switched off for it (`module_hotfixes=1`), so modular streams of
    /// other repositories never hide its packages.
    pub module_hotfixes: bool,
    /// Its `repodata/repomd.xml` as read once when resolved (none for
    /// metalinks, mirror lists and unreachable repositories).
    pub repomd: Option<Vec<u8>>,
}

/// The plan's repositories as RPM repositories.
pub fn resolve(plan: &BuildPlan) -> anyhow::Result<Vec<RpmRepository>> {
    let prefs = &plan.preferences;
    let mut out = Vec::new();
    for (index, r) in plan.repositories.iter().enumerate() {
        let alias = repository::alias(r, index);
        let rest = UriScheme::parse(&r.uri).map(|(_, rest)| rest).unwrap_or("");
        let uri = match r.scheme {
            UriScheme::Http | UriScheme::Https | UriScheme::Ftp => r.uri.clone(),
            UriScheme::Dir | UriScheme::File => {
                format!("file:///{}", rest.trim_start_matches('/'))
            }
            scheme => {
                return Err(RepositoryError::UnsupportedScheme {
                    alias,
                    path: r.path.clone(),
                    scheme,
                    backend: "rpm",
                }
                .into())
            }
        };
        let kind = match r.source_type.as_deref() {
            Some("metalink") => UrlKind::Metalink,
            Some("mirrorlist") => UrlKind::Mirrorlist,
            _ => UrlKind::BaseUrl,
        };
        if r.username.is_some() || r.password.is_some() {
            tracing::warn!(repository = %alias, "credentials are not supported by the rpm backends yet and are ignored");
        }
        let keys = repository::signing_keys(&alias, &r.signing_keys)?;
        let customize = r.customize.as_ref().map(|script| {
            let script = script.strip_prefix("this://").unwrap_or(script);
            plan.description_dir.join(script)
        });
        let mut repo = RpmRepository {
            gpgcheck: r
                .package_gpgcheck
                .unwrap_or(prefs.rpm_check_signatures || !keys.is_empty()),
            repo_gpgcheck: r.repository_gpgcheck.unwrap_or(false),
            alias,
            uri,
            kind,
            keys,
            priority: r.priority,
            for_build: !r.imageonly,
            in_image: r.imageinclude || r.imageonly,
            customize,
            module_hotfixes: false,
            repomd: None,
        };
        repo.repomd = repomd(&repo);
        repo.module_hotfixes = repo
            .repomd
            .as_ref()
            .is_some_and(|xml| !String::from_utf8_lossy(xml).contains("type=\"modules\""));
        tracing::info!(alias = %repo.alias, uri = %repo.uri, "repository");
        out.push(repo);
    }
    Ok(out)
}

/// The repository's `repodata/repomd.xml`, when it can be read (not for
/// metalinks and mirror lists).
fn repomd(repo: &RpmRepository) -> Option<Vec<u8>> {
    if repo.kind != UrlKind::BaseUrl {
        return None;
    }
    let url = format!("{}/repodata/repomd.xml", repo.uri.trim_end_matches('/'));
    repository::fetch("fetching repomd.xml", &url).ok()
}

/// What the root cache keys on: each build repository and its `repomd.xml`.
pub fn repository_state(repos: &[RpmRepository]) -> anyhow::Result<Option<RepositoryState>> {
    let mut state = RepositoryState::default();
    for repo in repos.iter().filter(|r| r.for_build) {
        state.identity.push(("uri", repo.uri.as_bytes().to_vec()));
        state.identity.push((
            "checks",
            format!(
                "{} {} {}",
                repo.gpgcheck, repo.repo_gpgcheck, repo.module_hotfixes
            )
            .into_bytes(),
        ));
        for key in &repo.keys {
            let bytes = std::fs::read(key)
                .with_context(|| format!("root cache: reading key {}", key.display()))?;
            state.identity.push(("key", bytes));
        }
        match &repo.repomd {
            Some(bytes) => state.published.push(bytes.clone()),
            None => {
                tracing::info!(repository = %repo.alias, "root cache off: its repomd.xml cannot be read");
                return Ok(None);
            }
        }
    }
    Ok(Some(state))
}

/// One package a repository's `primary` metadata lists: name,
/// `[epoch:]version-release` (no epoch when it is 0), architecture, SHA-256.
pub type Published = (String, String, String, String);

/// The packages `repo` publishes, from the `primary` metadata its
/// `repomd.xml` names (checked against the digest given there).
pub fn published_packages(repo: &RpmRepository, repomd: &[u8]) -> anyhow::Result<Vec<Published>> {
    use std::io::Read as _;
    let step = format!("repository {}: primary metadata", repo.alias);
    let (href, sha) = primary_location(repomd).with_context(|| format!("{step}: in repomd.xml"))?;
    let url = format!("{}/{href}", repo.uri.trim_end_matches('/'));
    let bytes = repository::fetch(&step, &url)?;
    let got = crate::toolbox::sha256_hex(&bytes);
    if let Some(sha) = sha {
        if got != sha {
            bail!("{step}: {url} has SHA-256 {got}, repomd.xml gives {sha}");
        }
    }
    let mut xml = Vec::new();
    let read = if href.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut xml)
    } else if href.ends_with(".xz") {
        liblzma::read::XzDecoder::new(bytes.as_slice()).read_to_end(&mut xml)
    } else if href.ends_with(".zst") {
        zstd::stream::read::Decoder::new(bytes.as_slice()).and_then(|mut d| d.read_to_end(&mut xml))
    } else if href.ends_with(".xml") {
        bytes.as_slice().read_to_end(&mut xml)
    } else {
        bail!("{step}: {href}: a compression this builder does not read (gz, xz, zst)")
    };
    read.with_context(|| format!("{step}: decompressing {href}"))?;
    primary_packages(&xml).with_context(|| format!("{step}: reading {href}"))
}

/// The value of attribute `name` of `tag`, if it has it.
fn attribute(
    tag: &quick_xml::events::BytesStart<'_>,
    name: &str,
) -> anyhow::Result<Option<String>> {
    for a in tag.attributes() {
        let a = a?;
        if a.key.as_ref() == name {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

/// `repodata/…-primary.xml.*` and its SHA-256 (when repomd.xml gives one).
fn primary_location(repomd: &[u8]) -> anyhow::Result<(String, Option<String>)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(std::str::from_utf8(repomd)?);
    let (mut in_primary, mut in_sha) = (false, false);
    let (mut href, mut sha) = (None, None);
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "data" => in_primary = attribute(&e, "type")?.as_deref() == Some("primary"),
                "checksum" if in_primary => {
                    in_sha = attribute(&e, "type")?.as_deref() == Some("sha256")
                }
                "location" if in_primary => href = attribute(&e, "href")?,
                _ => {}
            },
            Event::Text(t) if in_sha => {
                let text: &str = &t;
                sha = Some(text.trim().to_string());
                in_sha = false;
            }
            Event::End(e) if e.local_name().as_ref() == "data" && in_primary => break,
            Event::End(_) => in_sha = false,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((href.context("no primary metadata listed")?, sha))
}

/// The binary packages of a `primary.xml`.
fn primary_packages(xml: &[u8]) -> anyhow::Result<Vec<Published>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(std::str::from_utf8(xml)?);
    let mut out = Vec::new();
    let mut current: Option<Published> = None;
    let mut field: Option<&'static str> = None;
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "package" => current = Some(Default::default()),
                "name" if current.is_some() => field = Some("name"),
                "arch" if current.is_some() => field = Some("arch"),
                "checksum" if current.is_some() => {
                    field =
                        (attribute(&e, "type")?.as_deref() == Some("sha256")).then_some("sha256");
                }
                "version" => {
                    if let Some(p) = current.as_mut() {
                        let get = |name| -> anyhow::Result<String> {
                            Ok(attribute(&e, name)?.unwrap_or_default())
                        };
                        p.1 = evr(&get("epoch")?, &get("ver")?, &get("rel")?);
                    }
                }
                _ => field = None,
            },
            Event::Text(t) => {
                if let (Some(p), Some(f)) = (current.as_mut(), field) {
                    let text: &str = &t;
                    let text = text.trim().to_string();
                    match f {
                        "name" => p.0 = text,
                        "arch" => p.2 = text,
                        _ => p.3 = text,
                    }
                }
                field = None;
            }
            Event::End(e) => {
                field = None;
                if e.local_name().as_ref() == "package" {
                    if let Some(p) = current.take() {
                        if !p.3.is_empty() && p.2 != "src" {
                            out.push(p);
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// `[epoch:]version-release`, the epoch left out when it is 0 or none (as
/// the rpm database reports a package without one).
fn evr(epoch: &str, version: &str, release: &str) -> String {
    match epoch {
        "" | "0" | "(none)" => format!("{version}-{release}"),
        epoch => format!("{epoch}:{version}-{release}"),
    }
}

/// The packages in an rpm root, as a lock records them: the rpm database
/// gives name, version and architecture; each file's digest and repository
/// come from the build repositories' `primary` metadata.
pub fn installed(
    root: &RootDir,
    repos: &[RpmRepository],
) -> anyhow::Result<Vec<crate::packages::lock::LockedPackage>> {
    let mut published = std::collections::HashMap::new();
    for repo in repos.iter().filter(|r| r.for_build) {
        let Some(repomd) = &repo.repomd else {
            tracing::info!(repository = %repo.alias, "no repomd.xml: its packages' digests are not known");
            continue;
        };
        for (name, version, arch, sha) in published_packages(repo, repomd)? {
            published
                .entry((name, version, arch))
                .or_insert((sha, repo.alias.clone()));
        }
    }
    Ok(
        crate::sbom::rpm::installed_packages(root.host_path(), &Default::default())
            .context("reading the installed packages")?
            .into_iter()
            .map(|p| {
                let evr = match &p.kind {
                    crate::sbom::PackageKind::Rpm {
                        epoch,
                        version,
                        release,
                        ..
                    } => evr(epoch.as_deref().unwrap_or(""), version, release),
                    _ => p.version.clone(),
                };
                let found = published.get(&(p.name.clone(), evr, p.arch.clone()));
                crate::packages::lock::LockedPackage {
                    sha256: found.map(|(sha, _)| sha.clone()),
                    repository: found.map(|(_, alias)| alias.clone()),
                    name: p.name,
                    version: p.version,
                    arch: p.arch,
                }
            })
            .collect(),
    )
}

/// Before anything is installed: what differs between `lock` and what the
/// build repositories publish now (see [`crate::packages::lock::Lock::drift_in_index`]).
pub fn drift_before_install(
    repos: &[RpmRepository],
    lock: &crate::packages::lock::Lock,
) -> anyhow::Result<Option<Vec<crate::packages::lock::Drift>>> {
    let mut drift = Vec::new();
    for repo in repos.iter().filter(|r| r.for_build) {
        let (Some(locked), Some(repomd)) = (lock.repository(&repo.alias), &repo.repomd) else {
            tracing::info!(repository = %repo.alias, "its packages are checked once installed");
            continue;
        };
        if crate::toolbox::sha256_hex(repomd) == locked.release_sha256 {
            continue;
        }
        tracing::info!(
            repository = %repo.alias,
            "changed since the lock: checking the locked packages against its metadata"
        );
        drift.extend(lock.drift_in_index(&repo.alias, &published_packages(repo, repomd)?));
    }
    Ok(Some(drift))
}

/// The build repositories as a lock records them: their `repomd.xml` digests.
pub fn locked_repositories(
    repos: &[RpmRepository],
) -> anyhow::Result<Vec<crate::packages::lock::LockedRepository>> {
    repos
        .iter()
        .filter(|r| r.for_build)
        .map(|repo| {
            let repomd = repo.repomd.as_ref().with_context(|| {
                format!("repository {}: its repomd.xml cannot be read", repo.alias)
            })?;
            Ok(crate::packages::lock::LockedRepository {
                alias: repo.alias.clone(),
                uri: repo.uri.clone(),
                suite: None,
                components: Vec::new(),
                snapshot_of: None,
                release_sha256: crate::toolbox::sha256_hex(repomd),
            })
        })
        .collect()
}

/// Which tool a `.repo` file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoFlavour {
    /// `/etc/yum.repos.d` (dnf, yum).
    Dnf,
    /// `/etc/zypp/repos.d`.
    Zypper,
}

impl RpmRepository {
    /// The `.repo` section for this repository, its keys at `key_uris`;
    /// `for_build`: the build's own copy (zypper keeps the packages it
    /// downloads for the package cache; the image's copy does not).
    pub fn repo_file(&self, flavour: RepoFlavour, key_uris: &[String], for_build: bool) -> String {
        let location = match self.kind {
            UrlKind::BaseUrl => "baseurl",
            UrlKind::Metalink => "metalink",
            UrlKind::Mirrorlist => "mirrorlist",
        };
        let flag = |b: bool| if b { "1" } else { "0" };
        let mut text = format!(
            "[{alias}]\nname={alias}\nenabled=1\n{location}={uri}\ngpgcheck={}\nrepo_gpgcheck={}\n",
            flag(self.gpgcheck),
            flag(self.repo_gpgcheck),
            alias = self.alias,
            uri = self.uri,
        );
        if !key_uris.is_empty() {
            text += &format!("gpgkey={}\n", key_uris.join(" "));
        }
        if let Some(priority) = self.priority {
            text += &format!("priority={priority}\n");
        }
        match flavour {
            RepoFlavour::Dnf => {
                if self.module_hotfixes {
                    text += "module_hotfixes=1\n";
                }
            }
            RepoFlavour::Zypper => {
                text += &format!(
                    "type=rpm-md\nautorefresh=1\npkg_gpgcheck={}\nkeeppackages={}\n",
                    flag(self.gpgcheck),
                    flag(for_build)
                );
            }
        }
        text
    }

    /// Where key `index` of this repository lives in the image.
    pub fn key_path_in_image(&self, index: usize) -> String {
        match index {
            0 => format!("/etc/pki/rpm-gpg/RPM-GPG-KEY-{}", self.alias),
            n => format!("/etc/pki/rpm-gpg/RPM-GPG-KEY-{}-{n}", self.alias),
        }
    }

    /// Runs the `customize` script, if any, on a `.repo` file just written.
    pub fn customize(&self, repo_file: &Path) -> anyhow::Result<()> {
        let Some(script) = &self.customize else {
            return Ok(());
        };
        let mut cmd = Command::new(script);
        cmd.arg(repo_file);
        command::run(
            &format!("repository {}: customize {}", self.alias, script.display()),
            &mut cmd,
        )?;
        Ok(())
    }
}

/// The host tools' private directory (`/var/tmp/builder-*`): their HOME
/// (with the `.rpmmacros` that fixes the database path), configuration,
/// logs and, without a package cache, their cache.
pub struct RpmWork {
    dir: crate::caches::Owned,
    /// What of the host the tools see: this directory, the package pool,
    /// the repositories' keys and local repositories.
    view: std::sync::Mutex<HostView>,
}

impl RpmWork {
    /// A fresh work directory.
    pub fn new() -> anyhow::Result<RpmWork> {
        let dir = command::temp_dir().context("creating the package manager's work directory")?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        std::fs::write(home.join(".rpmmacros"), format!("%_dbpath {DB_PATH}\n"))?;
        let mut view = HostView::default();
        view.writable(dir.path());
        Ok(RpmWork {
            dir,
            view: std::sync::Mutex::new(view),
        })
    }

    /// Lets the tools read what `repos` need from the host: their signing
    /// keys and the directories of local (`file://`) repositories.
    pub fn show_repositories(&self, repos: &[RpmRepository]) {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        for repo in repos {
            for key in &repo.keys {
                view.readable(key);
            }
            if let Some(path) = repo.uri.strip_prefix("file://") {
                let path = Path::new(path);
                if path.exists() {
                    view.readable(path);
                }
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `program` (a host path), contained, working on `root`, with the
    /// clean environment the tools run in. The tools keep the network: they
    /// download from the description's repositories.
    pub fn command(&self, program: &str, root: &RootDir) -> Command {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner()).clone();
        view.writable(root.host_path());
        let mut cmd = sandbox::host_tool(Path::new(program), &view, Contain::PACKAGES);
        cmd.env_clear();
        sandbox::pass_source_date_epoch(&mut cmd);
        cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", self.path().join("home"))
            .env("LC_ALL", "C");
        cmd
    }

    /// `rpm --root ROOT --dbpath /var/lib/rpm`.
    pub fn rpm(&self, root: &RootDir) -> Command {
        let mut cmd = self.command("/usr/bin/rpm", root);
        cmd.arg("--root")
            .arg(root.host_path())
            .args(["--dbpath", DB_PATH]);
        cmd
    }

    /// Imports the build repositories' keys into the image's rpm database,
    /// before anything is installed: only these keys are trusted.
    pub fn import_keys(&self, root: &RootDir, repos: &[RpmRepository]) -> anyhow::Result<()> {
        for repo in repos.iter().filter(|r| r.for_build) {
            for key in &repo.keys {
                let mut cmd = self.rpm(root);
                cmd.arg("--import").arg(key);
                command::run(
                    &format!("repository {}: importing key {}", repo.alias, key.display()),
                    &mut cmd,
                )?;
            }
        }
        Ok(())
    }

    /// KIWI's `delete`: `rpm -e --nodeps --allmatches --noscripts`.
    pub fn delete(&self, root: &RootDir, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut cmd = self.rpm(root);
        cmd.args(["-e", "--nodeps", "--allmatches", "--noscripts"])
            .args(names);
        command::run("delete: rpm -e --nodeps", &mut cmd)?;
        Ok(())
    }

    /// The tool's cache directory: inside this work directory (the tools
    /// also write that path prefixed with the root, and `sweep` removes it
    /// from there), linked to `<package_cache>/<tool>/<arch>` when packages
    /// are kept between builds.
    pub fn cache_dir(
        &self,
        package_cache: Option<&Path>,
        tool: &str,
        arch: &str,
    ) -> anyhow::Result<PathBuf> {
        let cache_dir = self.path().join("cache");
        if let Some(pool) = package_cache {
            let pool = pool.join(tool).join(rpm_arch(arch)?);
            crate::caches::private_dir(&pool).context("package cache")?;
            std::os::unix::fs::symlink(&pool, &cache_dir)?;
            self.view
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .writable(&pool);
        }
        Ok(cache_dir)
    }

    /// Removes what the host tools wrote into the root under this
    /// directory's own path (dnf's `expired_repos.json`, zypper's system
    /// cache and key dumps).
    pub fn sweep(&self, root: &RootDir) -> anyhow::Result<()> {
        let rel = self
            .path()
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string();
        root.remove_tree(&rel)
            .with_context(|| format!("removing /{rel} from the image"))
    }

    /// Writes the keys of `repo` into the image and returns their `file://` URIs there.
    pub fn keys_into_image(root: &RootDir, repo: &RpmRepository) -> anyhow::Result<Vec<String>> {
        let mut uris = Vec::new();
        for (index, key) in repo.keys.iter().enumerate() {
            let bytes = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
            let path = repo.key_path_in_image(index);
            root.write(path.trim_start_matches('/'), &bytes, 0o644)
                .with_context(|| format!("writing {path}"))?;
            uris.push(format!("file://{path}"));
        }
        Ok(uris)
    }
}

/// Fails when the plan's architecture is not one rpm knows by the same name.
pub fn rpm_arch(arch: &str) -> anyhow::Result<String> {
    match arch {
        "x86_64" | "aarch64" | "ppc64le" | "s390x" | "i686" | "armv7hl" | "riscv64" => {
            Ok(arch.to_string())
        }
        "i586" | "ix86" => Ok("i686".to_string()),
        "armv7l" => Ok("armv7hl".to_string()),
        other => bail!("architecture {other} has no rpm equivalent here"),
    }
}

/// A signature failure (its tool's words among `markers`) says which keys
/// the description trusts.
pub fn explain_signature_failure(
    error: anyhow::Error,
    markers: &[&str],
    repositories: &[RpmRepository],
) -> anyhow::Error {
    let text = format!("{error:#}");
    if !markers.iter().any(|m| text.contains(m)) {
        return error;
    }
    let keys: Vec<String> = repositories
        .iter()
        .filter(|r| r.for_build)
        .map(|r| {
            let keys: Vec<String> = r.keys.iter().map(|k| k.display().to_string()).collect();
            format!("{} ({})", r.alias, keys.join(", "))
        })
        .collect();
    error.context(format!(
        "a repository failed signature verification with the keys its description gives: {}",
        keys.join("; ")
    ))
}
