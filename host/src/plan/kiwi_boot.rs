//! KIWI's own boot packages (`dracut-kiwi-oem-repart`, `dracut-kiwi-live`,
//! …): dracut modules of KIWI's build service that KIWI's descriptions list
//! among their packages. Debian and Ubuntu carry none of them, so for an
//! apt image builder leaves each out, installs the distribution's package
//! for the same job where there is one, and names the substitution in the
//! plan and in `builder.result.json`; the build never fails for want of one.

use serde::{Deserialize, Serialize};

use crate::description::PackageManager;

/// A KIWI boot package, and what builder does in its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Substitution {
    /// The package the description names.
    pub package: String,
    /// The distribution's packages installed in its place (none when
    /// builder's own mechanisms do the job).
    #[serde(default)]
    pub installed: Vec<String>,
    /// What gives its behaviour in builder's image.
    pub by: String,
}

/// The prefix of KIWI's dracut module packages.
const PREFIX: &str = "dracut-kiwi-";

/// Takes KIWI's boot packages out of `packages` (the image set) for an
/// image of `package_manager`, adding the distribution's package that
/// does the same job; returns what was substituted, in order.
pub fn substitute(
    package_manager: PackageManager,
    packages: &mut Vec<String>,
) -> Vec<Substitution> {
    if package_manager != PackageManager::Apt {
        // The rpm distributions' repositories (or KIWI's, which their
        // descriptions name) carry them: installed as KIWI installs them.
        return Vec::new();
    }
    let with_dracut = packages.iter().any(|p| p == "dracut");
    let mut out = Vec::new();
    let mut kept = Vec::new();
    for package in std::mem::take(packages) {
        let Some(module) = package.strip_prefix(PREFIX) else {
            kept.push(package);
            continue;
        };
        let (installed, by): (&[&str], &str) = match module {
            "oem-repart" => (
                &[],
                "the oem type's own resize: systemd-repart grows the root partition and \
                 x-systemd.growfs its filesystem at first boot (<oem-resize>)",
            ),
            "live" if with_dracut => (
                &["dracut-live", "parted"],
                "dracut's dmsquash-live, which the iso type boots the live root with \
                 (overlayfs for flags=\"overlay\"; builder's dracut module, with parted, \
                 makes the hybridpersistent write partition)",
            ),
            "live" => (
                &["live-boot", "parted"],
                "Debian's live-boot, which the iso type boots the live root with \
                 (builder's initrd script, with parted, makes the hybridpersistent \
                 write partition)",
            ),
            "oem-dump" => (
                &[],
                "builder's installer, which the oem type's installiso puts into the \
                 installation ISO's initrd: it writes the disk onto the machine's disk \
                 (installpxe images are not made yet)",
            ),
            "overlay" => (
                &[],
                "nothing yet: it mounts the overlay root of flags=\"overlay\" disks, which \
                 builder does not make yet",
            ),
            "lib" => (
                &[],
                "nothing: the shell library of KIWI's dracut modules, which builder's own \
                 mechanisms replace",
            ),
            _ => (
                &[],
                "nothing: a KIWI dracut module builder has no counterpart for",
            ),
        };
        out.push(Substitution {
            package,
            installed: installed.iter().map(|p| p.to_string()).collect(),
            by: by.to_string(),
        });
    }
    // The set stays sorted and without repeats, as the plan makes it.
    kept.extend(out.iter().flat_map(|s| s.installed.iter().cloned()));
    kept.sort();
    kept.dedup();
    *packages = kept;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_apt_image_gets_the_distributions_packages_in_their_place() {
        let mut packages = names(&[
            "dracut",
            "dracut-kiwi-live",
            "dracut-kiwi-oem-dump",
            "dracut-kiwi-oem-repart",
            "vim",
        ]);
        let done = substitute(PackageManager::Apt, &mut packages);
        assert_eq!(packages, names(&["dracut", "dracut-live", "parted", "vim"]));
        let summary: Vec<(&str, Vec<&str>)> = done
            .iter()
            .map(|s| {
                let installed = s.installed.iter().map(String::as_str).collect();
                (s.package.as_str(), installed)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("dracut-kiwi-live", vec!["dracut-live", "parted"]),
                ("dracut-kiwi-oem-dump", vec![]),
                ("dracut-kiwi-oem-repart", vec![]),
            ]
        );
        assert!(done[2].by.contains("systemd-repart"), "{}", done[2].by);
    }

    #[test]
    fn without_dracut_the_live_system_is_live_boot() {
        let mut packages = names(&["initramfs-tools", "dracut-kiwi-live", "live-boot"]);
        let done = substitute(PackageManager::Apt, &mut packages);
        assert_eq!(packages, names(&["initramfs-tools", "live-boot", "parted"]));
        assert_eq!(done[0].installed, names(&["live-boot", "parted"]));
    }

    #[test]
    fn rpm_images_install_them_as_kiwi_does() {
        for manager in [PackageManager::Dnf4, PackageManager::Zypper] {
            let mut packages = names(&["dracut-kiwi-oem-repart"]);
            assert!(substitute(manager, &mut packages).is_empty());
            assert_eq!(packages, names(&["dracut-kiwi-oem-repart"]));
        }
    }
}
