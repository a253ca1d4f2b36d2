//! The zypper backend (SUSE, openSUSE): the build host's `zypper --root`
//! with a configuration of its own (`ZYPP_CONF`, `--config`, its own log
//! and cache, never the host's `/etc/zypp`), the description's keys imported
//! into the image's rpm database before anything is installed, package
//! excludes as locks, `rpm-excludedocs`, file conflicts checked before any
//! package is installed (`--download-in-advance`), and
//! `/etc/zypp/repos.d/<alias>.repo` in the image for `imageinclude`
//! repositories only.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::rpm::{rpm_arch, RepoFlavour, RpmRepository, RpmWork};
use super::{PackageManager, RepositoryState};
use crate::packages::PackageTool;
use crate::plan::{BuildPlan, PackageSet};
use crate::rootfs::command;
use crate::rootfs::files::RootDir;

/// zypper over one root.
pub struct Zypper<'r> {
    root: &'r RootDir,
    repositories: Vec<RpmRepository>,
    work: std::sync::Arc<RpmWork>,
    cache_dir: PathBuf,
}

impl<'r> Zypper<'r> {
    /// zypper for `root`, building `plan` from `repositories`; downloaded
    /// packages are kept under `package_cache` (none: in the work directory).
    pub fn new(
        root: &'r RootDir,
        plan: &BuildPlan,
        repositories: Vec<RpmRepository>,
        package_cache: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let work = std::sync::Arc::new(RpmWork::new()?);
        work.show_repositories(&repositories);
        let dir = work.path();
        let excludedocs = if plan.preferences.rpm_excludedocs {
            "yes"
        } else {
            "no"
        };
        std::fs::write(
            dir.join("zypp.conf"),
            format!(
                "[main]\narch = {}\nrpm.install.excludedocs = {excludedocs}\n",
                rpm_arch(&plan.arch)?
            ),
        )?;
        std::fs::write(dir.join("zypper.conf"), "")?;
        // zypper writes its `@System` solv files and key dumps under the root too.
        let cache_dir = work.cache_dir(package_cache, "zypper", &plan.arch)?;
        Ok(Zypper {
            root,
            repositories,
            work,
            cache_dir,
        })
    }

    fn zypper(&self, step: &str, args: &[&str]) -> anyhow::Result<String> {
        let dir = self.work.path();
        let mut cmd = self.work.command("/usr/bin/zypper", self.root);
        cmd.env("ZYPP_CONF", dir.join("zypp.conf"))
            .env("ZYPP_LOGFILE", dir.join("zypper.log"))
            .arg("--non-interactive")
            .arg("--config")
            .arg(dir.join("zypper.conf"))
            .arg("--root")
            .arg(self.root.host_path())
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .args(args);
        let result = command::run(step, &mut cmd);
        self.work.sweep(self.root)?;
        Ok(result?)
    }

    fn install_with(&self, step: &str, set: &PackageSet) -> anyhow::Result<()> {
        if set.packages.is_empty() && set.collections.is_empty() && set.products.is_empty() {
            return Ok(());
        }
        let mut args = vec!["install", "--download-in-advance"];
        if set.pattern_type != "plusRecommended" {
            args.push("--no-recommends");
        }
        args.push("--");
        args.extend(set.packages.iter().map(String::as_str));
        let patterns: Vec<String> = set
            .collections
            .iter()
            .map(|c| format!("pattern:{c}"))
            .chain(set.products.iter().map(|p| format!("product:{p}")))
            .collect();
        args.extend(patterns.iter().map(String::as_str));
        self.zypper(&format!("{step}: zypper install"), &args)
            .map(drop)
            .map_err(|e| explain(e, &self.repositories))
    }

    /// Locks keep excluded packages out of every later transaction.
    fn lock(&self, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut args = vec!["addlock", "--"];
        args.extend(names.iter().map(String::as_str));
        self.zypper("excludes: zypper addlock", &args).map(drop)
    }
}

/// A signature failure says which keys the description trusts.
fn explain(error: anyhow::Error, repositories: &[RpmRepository]) -> anyhow::Error {
    super::rpm::explain_signature_failure(
        error,
        &[
            "Signature verification failed",
            "signed with an unknown key",
            "NOKEY",
        ],
        repositories,
    )
}

impl PackageTool for Zypper<'_> {
    fn install(&self, names: &[String]) -> anyhow::Result<()> {
        let set = PackageSet {
            packages: names.to_vec(),
            ..PackageSet::default()
        };
        self.install_with("install", &set)
    }

    fn remove(&self, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut args = vec!["remove", "--clean-deps", "--"];
        args.extend(names.iter().map(String::as_str));
        self.zypper("uninstall: zypper remove", &args).map(drop)
    }
}

impl PackageManager for Zypper<'_> {
    fn package_pool(&self) -> Option<(std::path::PathBuf, &'static str)> {
        // Linked to the pool when packages are kept between builds.
        std::fs::read_link(&self.cache_dir)
            .ok()
            .map(|pool| (pool, "rpm"))
    }

    fn over<'s>(&self, root: &'s RootDir) -> Box<dyn PackageManager + 's> {
        Box::new(Zypper {
            root,
            repositories: self.repositories.clone(),
            work: self.work.clone(),
            cache_dir: self.cache_dir.clone(),
        })
    }

    fn bootstrap(&self, set: &PackageSet) -> anyhow::Result<()> {
        self.work.import_keys(self.root, &self.repositories)?;
        for repo in self.repositories.iter().filter(|r| r.for_build) {
            let keys: Vec<String> = repo
                .keys
                .iter()
                .map(|k| format!("file://{}", k.display()))
                .collect();
            let file = self.work.path().join(format!("{}.repo", repo.alias));
            std::fs::write(&file, repo.repo_file(RepoFlavour::Zypper, &keys, true))?;
            repo.customize(&file)?;
            let file = file.display().to_string();
            self.zypper(
                &format!("repository {}: zypper addrepo", repo.alias),
                &["addrepo", &file],
            )?;
        }
        self.lock(&set.ignore)?;
        // A repository that fails to refresh (a bad signature) stops the
        // build here: `install` would only skip it.
        self.zypper("bootstrap: zypper refresh", &["refresh"])
            .map_err(|e| explain(e, &self.repositories))?;
        self.install_with("bootstrap", set)
    }

    fn install_set(&self, set: &PackageSet, installed: &mut dyn FnMut()) -> anyhow::Result<()> {
        self.lock(&set.ignore)?;
        self.install_with("install", set)?;
        installed();
        Ok(())
    }

    fn remove_sets(&self, uninstall: &[String], delete: &[String]) -> anyhow::Result<()> {
        PackageTool::remove(self, uninstall)?;
        self.work.delete(self.root, delete)
    }

    fn configure_image_repositories(&self) -> anyhow::Result<()> {
        for repo in &self.repositories {
            let rel = format!("etc/zypp/repos.d/{}.repo", repo.alias);
            if !repo.in_image {
                // `addrepo` wrote the build repositories into the root.
                match self.root.remove_file(&rel) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("removing /{rel}")),
                }
                continue;
            }
            let keys = RpmWork::keys_into_image(self.root, repo)?;
            self.root
                .write(
                    &rel,
                    repo.repo_file(RepoFlavour::Zypper, &keys, false).as_bytes(),
                    0o644,
                )
                .with_context(|| format!("repositories: writing /{rel}"))?;
            repo.customize(&self.root.host_path().join(&rel))?;
        }
        Ok(())
    }

    fn cleanup(&self) -> anyhow::Result<()> {
        for rel in ["etc/zypp/locks", "run/zypp.pid"] {
            match self.root.remove_file(rel) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cleanup: removing /{rel}")),
            }
        }
        self.root
            .empty_dir("var/cache/zypp")
            .context("cleanup: emptying /var/cache/zypp")?;
        self.work.sweep(self.root)
    }

    fn repository_state(&self) -> anyhow::Result<Option<RepositoryState>> {
        super::rpm::repository_state(&self.repositories)
    }

    fn installed(&self) -> anyhow::Result<Vec<crate::packages::lock::LockedPackage>> {
        super::rpm::installed(self.root, &self.repositories)
    }

    fn locked_repositories(&self) -> anyhow::Result<Vec<crate::packages::lock::LockedRepository>> {
        super::rpm::locked_repositories(&self.repositories)
    }

    fn drift_before_install(
        &self,
        lock: &crate::packages::lock::Lock,
    ) -> anyhow::Result<Option<Vec<crate::packages::lock::Drift>>> {
        super::rpm::drift_before_install(&self.repositories, lock)
    }
}
