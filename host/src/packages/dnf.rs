//! The dnf backend (RHEL, CentOS, Fedora, Rocky, Alma): the build host's
//! `dnf --installroot` with a configuration of its own (never the host's
//! `/etc/dnf` or `/etc/yum.repos.d`), the image's `$releasever` and
//! architecture, package excludes (`<ignore>`, KIWI's PR #315),
//! `rpm-excludedocs`, signature checks with the description's keys only,
//! module filtering off for repositories without module metadata, and
//! `/etc/yum.repos.d/<alias>.repo` in the image for `imageinclude`
//! repositories.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::rpm::{rpm_arch, RepoFlavour, RpmRepository, RpmWork};
use super::{PackageManager, RepositoryState};
use crate::packages::PackageTool;
use crate::plan::{BuildPlan, PackageSet};
use crate::rootfs::command;
use crate::rootfs::files::RootDir;

/// dnf over one root.
pub struct Dnf<'r> {
    root: &'r RootDir,
    repositories: Vec<RpmRepository>,
    arch: String,
    releasever: String,
    nodocs: bool,
    work: std::sync::Arc<RpmWork>,
    cache_dir: PathBuf,
}

impl<'r> Dnf<'r> {
    /// dnf for `root`, building `plan` from `repositories`; downloaded
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
        std::fs::write(
            dir.join("dnf.conf"),
            "[main]\ngpgcheck=1\ninstallonly_limit=3\nclean_requirements_on_remove=True\n\
             best=True\nskip_if_unavailable=False\nkeepcache=1\nplugins=0\n",
        )?;
        for sub in ["repos.d", "vars"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        for repo in repositories.iter().filter(|r| r.for_build) {
            let keys: Vec<String> = repo
                .keys
                .iter()
                .map(|k| format!("file://{}", k.display()))
                .collect();
            let file = dir.join("repos.d").join(format!("{}.repo", repo.alias));
            std::fs::write(&file, repo.repo_file(RepoFlavour::Dnf, &keys, true))?;
            repo.customize(&file)?;
        }
        // dnf writes `expired_repos.json` under the root too.
        let cache_dir = work.cache_dir(package_cache, "dnf", &plan.arch)?;
        Ok(Dnf {
            root,
            repositories,
            arch: rpm_arch(&plan.arch)?,
            releasever: plan
                .preferences
                .release_version
                .clone()
                .unwrap_or_else(|| "0".to_string()),
            nodocs: plan.preferences.rpm_excludedocs,
            work,
            cache_dir,
        })
    }

    /// Runs `dnf ARGS` over the root and removes what it wrote into the
    /// root outside the image's own paths. The gpg agents dnf starts per
    /// keyring end with the sandbox's PID namespace.
    fn dnf(&self, step: &str, excludes: &[String], args: &[&str]) -> anyhow::Result<String> {
        let dir = self.work.path();
        let mut cmd = self.work.command("/usr/bin/dnf", self.root);
        cmd.arg("-y")
            .arg(format!("--installroot={}", self.root.host_path().display()))
            .arg(format!("--config={}", dir.join("dnf.conf").display()))
            .arg(format!(
                "--setopt=reposdir={}",
                dir.join("repos.d").display()
            ))
            .arg(format!("--setopt=varsdir={}", dir.join("vars").display()))
            .arg(format!("--setopt=cachedir={}", self.cache_dir.display()))
            .arg(format!("--releasever={}", self.releasever))
            .arg(format!("--forcearch={}", self.arch));
        if self.nodocs {
            cmd.arg("--setopt=tsflags=nodocs");
        }
        for exclude in excludes {
            cmd.arg(format!("--exclude={exclude}"));
        }
        cmd.args(args);
        let result = command::run(step, &mut cmd);
        self.work.sweep(self.root)?;
        Ok(result?)
    }

    fn install_args(set: &PackageSet) -> Vec<String> {
        let mut args = vec!["install".to_string()];
        if set.pattern_type != "plusRecommended" {
            args.push("--setopt=install_weak_deps=False".into());
        }
        args.push("--".into());
        args.extend(set.packages.iter().cloned());
        args.extend(set.collections.iter().map(|c| format!("@{c}")));
        args
    }

    fn install_with(
        &self,
        step: &str,
        set: &PackageSet,
        excludes: &[String],
    ) -> anyhow::Result<()> {
        if !set.products.is_empty() {
            tracing::warn!("{step}: dnf has no products; ignored");
        }
        if set.packages.is_empty() && set.collections.is_empty() {
            return Ok(());
        }
        let args = Self::install_args(set);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.dnf(&format!("{step}: dnf install"), excludes, &args)
            .map(drop)
            .map_err(|e| explain(e, &self.repositories))
    }
}

/// A signature failure says which keys the description trusts.
fn explain(error: anyhow::Error, repositories: &[RpmRepository]) -> anyhow::Error {
    super::rpm::explain_signature_failure(
        error,
        &[
            "GPG check FAILED",
            "GPG signature verification error",
            "NOKEY",
        ],
        repositories,
    )
}

impl PackageTool for Dnf<'_> {
    fn install(&self, names: &[String]) -> anyhow::Result<()> {
        let set = PackageSet {
            packages: names.to_vec(),
            ..PackageSet::default()
        };
        self.install_with("install", &set, &[])
    }

    fn remove(&self, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut args = vec!["remove", "--"];
        args.extend(names.iter().map(String::as_str));
        self.dnf("uninstall: dnf remove", &[], &args).map(drop)
    }
}

impl PackageManager for Dnf<'_> {
    fn package_pool(&self) -> Option<(std::path::PathBuf, &'static str)> {
        // Linked to the pool when packages are kept between builds.
        std::fs::read_link(&self.cache_dir)
            .ok()
            .map(|pool| (pool, "rpm"))
    }

    fn over<'s>(&self, root: &'s RootDir) -> Box<dyn PackageManager + 's> {
        Box::new(Dnf {
            root,
            repositories: self.repositories.clone(),
            arch: self.arch.clone(),
            releasever: self.releasever.clone(),
            nodocs: self.nodocs,
            work: self.work.clone(),
            cache_dir: self.cache_dir.clone(),
        })
    }

    fn bootstrap(&self, set: &PackageSet) -> anyhow::Result<()> {
        self.work.import_keys(self.root, &self.repositories)?;
        self.install_with("bootstrap", set, &set.ignore)
    }

    fn install_set(&self, set: &PackageSet, installed: &mut dyn FnMut()) -> anyhow::Result<()> {
        self.install_with("install", set, &set.ignore)?;
        installed();
        Ok(())
    }

    fn remove_sets(&self, uninstall: &[String], delete: &[String]) -> anyhow::Result<()> {
        PackageTool::remove(self, uninstall)?;
        self.work.delete(self.root, delete)
    }

    fn configure_image_repositories(&self) -> anyhow::Result<()> {
        for repo in self.repositories.iter().filter(|r| r.in_image) {
            let keys = RpmWork::keys_into_image(self.root, repo)?;
            let rel = format!("etc/yum.repos.d/{}.repo", repo.alias);
            self.root
                .write(
                    &rel,
                    repo.repo_file(RepoFlavour::Dnf, &keys, false).as_bytes(),
                    0o644,
                )
                .with_context(|| format!("repositories: writing /{rel}"))?;
            repo.customize(&self.root.host_path().join(&rel))?;
        }
        Ok(())
    }

    fn cleanup(&self) -> anyhow::Result<()> {
        self.root
            .empty_dir("var/cache/dnf")
            .context("cleanup: emptying /var/cache/dnf")?;
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
