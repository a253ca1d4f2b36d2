//! Packages installed and removed by the package manager inside a finished
//! image root (for `builder plugin run`), with the repositories the image
//! is configured for.

use super::{Family, PackageTool};
use crate::rootfs::command;
use crate::rootfs::files::RootDir;
use crate::rootfs::sandbox::{in_root, Contain};

/// Packages through the tools already inside the root, with the repositories
/// it is configured for (for `builder plugin run` on a finished root).
pub struct InRootPackages<'r> {
    root: &'r RootDir,
    family: Family,
}

impl<'r> InRootPackages<'r> {
    /// The package manager of `family` inside `root`.
    pub fn new(root: &'r RootDir, family: Family) -> Self {
        InRootPackages { root, family }
    }

    fn run(&self, verb: &str, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let (program, args): (&str, Vec<&str>) = match (self.family, verb) {
            (Family::Debian, "install") => {
                ("apt-get", vec!["-y", "install", "--no-install-recommends"])
            }
            (Family::Debian, _) => ("apt-get", vec!["-y", "purge", "--auto-remove"]),
            (Family::Rhel, "install") => ("dnf", vec!["-y", "install"]),
            (Family::Rhel, _) => ("dnf", vec!["-y", "remove"]),
            (Family::Suse, "install") => ("zypper", vec!["--non-interactive", "install"]),
            (Family::Suse, _) => (
                "zypper",
                vec!["--non-interactive", "remove", "--clean-deps"],
            ),
        };
        if self.family == Family::Debian && verb == "install" {
            let mut update = in_root(self.root.host_path(), "apt-get", Contain::PACKAGES);
            update.arg("update");
            command::run("apt-get update", &mut update)?;
        }
        let mut cmd = in_root(self.root.host_path(), program, Contain::PACKAGES);
        cmd.args(args).arg("--").args(names);
        command::run(&format!("{program} {verb}"), &mut cmd)?;
        Ok(())
    }
}

impl PackageTool for InRootPackages<'_> {
    fn install(&self, names: &[String]) -> anyhow::Result<()> {
        self.run("install", names)
    }

    fn remove(&self, names: &[String]) -> anyhow::Result<()> {
        self.run("remove", names)
    }
}
