//! Package managers: the distribution's own tools driven from the host, and
//! the repository configuration they and the image use.
//!
//! [`open`] picks the backend the plan names, each a [`PackageManager`]:
//! [`apt`] bootstraps a root with `mmdebstrap`, installs and removes
//! packages inside it and writes the image's DEB822 `.sources` files, with
//! [`repository`] (apt sources, the `host://` placeholder, signing keys) and
//! [`cache`] (downloaded packages kept between builds); [`dnf`] and
//! [`zypper`] drive the build host's tools over the root, with what they
//! share in [`rpm`].

pub mod apt;
pub mod cache;
pub mod dnf;
pub mod in_root;
pub mod initrd;
pub mod lock;
pub mod repository;
pub mod rpm;
pub mod zypper;

/// Installs and removes packages the way the image's family does.
pub trait PackageTool {
    /// Install `names` (with their dependencies).
    fn install(&self, names: &[String]) -> anyhow::Result<()>;
    /// Remove `names` (and what only they needed).
    fn remove(&self, names: &[String]) -> anyhow::Result<()>;
}

/// A distribution family: which package manager and conventions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Debian, Ubuntu.
    Debian,
    /// RHEL, CentOS, Fedora.
    Rhel,
    /// SUSE.
    Suse,
}

use std::path::Path;

use crate::plan::{BuildPlan, PackageSet};
use crate::rootfs::files::RootDir;

pub use apt::Apt;
pub use cache::PackageCache;
pub use repository::{host_mirrors, AptRepository, MirrorOverride, RepositoryError, Snapshot};

/// A distribution's package manager, driven from the host over one root, in
/// the order `builder prepare` calls it. Baselines and hooks install and
/// remove packages through the same object ([`PackageTool`]).
pub trait PackageManager: PackageTool {
    /// Installs the bootstrap set into the empty root.
    fn bootstrap(&self, set: &PackageSet) -> anyhow::Result<()>;
    /// Installs the image package set into the bootstrapped root, calling
    /// `installed` once the packages are in: the root is then as it will
    /// be but for the initrds, still to be made (the slow end of an
    /// install), and a caller may start copying it.
    fn install_set(&self, set: &PackageSet, installed: &mut dyn FnMut()) -> anyhow::Result<()>;
    /// Removes `uninstall` (with what only they needed) and force-removes `delete`.
    fn remove_sets(&self, uninstall: &[String], delete: &[String]) -> anyhow::Result<()>;
    /// Leaves in the image the repositories it keeps (`imageinclude`).
    fn configure_image_repositories(&self) -> anyhow::Result<()>;
    /// Drops the package manager's caches and build-time settings from the root.
    fn cleanup(&self) -> anyhow::Result<()>;
    /// What the prepared-root cache keys on for the build repositories, with
    /// their current published state; `None` when the state cannot be read
    /// (nothing is cached then).
    fn repository_state(&self) -> anyhow::Result<Option<RepositoryState>>;
    /// The packages in the root, with their files' digests and the
    /// repositories they came from where the package manager still knows
    /// them (before [`PackageManager::cleanup`]).
    fn installed(&self) -> anyhow::Result<Vec<crate::packages::lock::LockedPackage>>;
    /// The build repositories with what they publish now, as a lock
    /// records them.
    fn locked_repositories(&self) -> anyhow::Result<Vec<crate::packages::lock::LockedRepository>>;
    /// Before anything is installed: what differs between `lock` and what
    /// the build repositories offer now. `None` when only the installed
    /// root can tell.
    fn drift_before_install(
        &self,
        lock: &crate::packages::lock::Lock,
    ) -> anyhow::Result<Option<Vec<crate::packages::lock::Drift>>>;
    /// The same package manager (repositories, cache, settings) over
    /// another root of the same build: the root prepared for the root
    /// cache, then the overlay the build goes on in.
    fn over<'s>(&self, root: &'s RootDir) -> Box<dyn PackageManager + 's>;
    /// The package cache's pool this build downloads into, and the file
    /// extension of its packages (`deb`, `rpm`); `None` without a package
    /// cache.
    fn package_pool(&self) -> Option<(std::path::PathBuf, &'static str)>;
}

/// The build repositories as the prepared-root cache sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryState {
    /// What they are: named fields (URIs, suites, the bytes of their keys).
    pub identity: Vec<(&'static str, Vec<u8>)>,
    /// What they publish now (`InRelease`, `repomd.xml`), one entry each.
    pub published: Vec<Vec<u8>>,
}

/// The package manager `plan` names, over `root`, reading the build
/// repositories from `snapshots` where they name them.
pub fn open<'r>(
    plan: &BuildPlan,
    root: &'r RootDir,
    mirror: &MirrorOverride,
    snapshots: &[Snapshot],
    package_cache: Option<&Path>,
) -> anyhow::Result<Box<dyn PackageManager + 'r>> {
    use crate::description::PackageManager as Named;
    if !snapshots.is_empty() && plan.package_manager != Named::Apt {
        anyhow::bail!(
            "--snapshot reads the layout of Debian's snapshot archive; package manager {} \
             has no such layout (point the description's repositories at your dated mirror instead)",
            plan.package_manager
        );
    }
    match plan.package_manager {
        Named::Apt => {
            let mut repositories = repository::resolve(&plan.repositories, mirror)?;
            repository::apply_snapshots(&mut repositories, snapshots)?;
            for repo in &repositories {
                tracing::info!(alias = %repo.alias, uri = %repo.uri, "repository");
            }
            Ok(Box::new(
                Apt::new(root, repositories, &plan.arch, package_cache)?
                    .with_initrd_filesystems(plan.image_type.filesystem.iter().cloned().collect()),
            ))
        }
        Named::Dnf4 | Named::Dnf5 | Named::Microdnf => {
            if plan.package_manager != Named::Dnf4 {
                tracing::info!(
                    "package manager {}: the build host's dnf (4) prepares the root",
                    plan.package_manager
                );
            }
            let repositories = rpm::resolve(plan)?;
            Ok(Box::new(dnf::Dnf::new(
                root,
                plan,
                repositories,
                package_cache,
            )?))
        }
        Named::Zypper => {
            let repositories = rpm::resolve(plan)?;
            Ok(Box::new(zypper::Zypper::new(
                root,
                plan,
                repositories,
                package_cache,
            )?))
        }
        other => {
            anyhow::bail!("package manager {other} is not supported (apt, dnf and zypper are)")
        }
    }
}
