//! What a live ISO's initrd needs of builder's, written into the image
//! root: for an erofs root image, the module and `blkid` that live-boot
//! mounts it with; for KIWI's `hybridpersistent`, the pieces that keep the
//! live system's changes on the USB stick the ISO was written onto.
//!
//! KIWI's `dracut-kiwi-live` does this at boot: on a writable disk it adds
//! a partition labelled `cow` after the ISO image and keeps the root's
//! changes there. builder gives the image's own live system the same:
//! `live/live-cow.sh` (installed as `/usr/lib/builder/live-cow`) makes and
//! readies that partition, and a thin wrapper runs it before the live
//! system mounts its root, an initramfs-tools `live-premount` script for
//! Debian's live-boot (which then finds it through `persistence
//! persistence-label=cow`) or a dracut module whose initqueue job runs just
//! before `dmsquash-live-root` (which then finds it through
//! `rd.live.overlay=LABEL=cow:/LiveOS/overlay`, set only once the partition
//! is there, so a CD boot never waits for one).

use super::{invalid, ToolError};
use crate::rootfs::files::RootDir;

/// The script that makes and readies the `cow` partition.
const LIVE_COW: &str = include_str!("live/live-cow.sh");
/// The initramfs-tools hook template: `@BODY@` says what to copy in.
pub(super) const INITRAMFS_HOOK: &str = include_str!("live/initramfs-hook.sh");
const LIVE_PREMOUNT: &str = include_str!("live/live-premount.sh");
const DRACUT_MODULE_SETUP: &str = include_str!("live/dracut-module-setup.sh");
const DRACUT_GENRULES: &str = include_str!("live/dracut-genrules.sh");
const DRACUT_RUN: &str = include_str!("live/dracut-run.sh");

/// Where the script goes in the root.
const LIVE_COW_PATH: &str = "usr/lib/builder/live-cow";
/// The initramfs-tools hook that brings builder's pieces into the initrd.
const INITRAMFS_HOOK_PATH: &str = "etc/initramfs-tools/hooks/builder-live";
/// The dracut module's directory.
const DRACUT_MODULE: &str = "usr/lib/dracut/modules.d/91builder-live-cow";
/// The dracut configuration that adds it.
const DRACUT_CONF: &str = "etc/dracut.conf.d/91-builder-live-cow.conf";

/// The image's live system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveSystem {
    /// Debian's live-boot (initramfs-tools).
    LiveBoot,
    /// dracut's dmsquash-live.
    Dmsquash,
}

impl LiveSystem {
    /// The live system in `root`, if any.
    pub fn of(root: &RootDir) -> Option<Self> {
        let has = |rel: &str| root.exists(rel).unwrap_or(false);
        if has("usr/share/initramfs-tools/scripts/live") {
            Some(LiveSystem::LiveBoot)
        } else if has("usr/lib/dracut/modules.d/90dmsquash-live") {
            Some(LiveSystem::Dmsquash)
        } else {
            None
        }
    }
}

/// The package that brings `mkfs.<fs>`.
fn mkfs_package(fs: &str) -> &'static str {
    match fs {
        "xfs" => "xfsprogs",
        "btrfs" => "btrfs-progs",
        _ => "e2fsprogs",
    }
}

/// What the live system's initrd must do besides mounting its root image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// The live medium's volume id (its label).
    pub volume_id: String,
    /// The root image's filesystem: `squashfs` or `erofs`.
    pub root_filesystem: String,
    /// KIWI's `hybridpersistent`: the `cow` partition's filesystem.
    pub persistent_filesystem: Option<String>,
}

/// Whether the image's dmsquash-live mounts an erofs root image (dracut
/// 059, Debian 12's, mounts it as squashfs only).
fn dmsquash_mounts_erofs(root: &RootDir) -> bool {
    root.read_to_string("usr/lib/dracut/modules.d/90dmsquash-live/dmsquash-live-root.sh")
        .is_ok_and(|script| script.contains("erofs"))
}

/// Readies the image's live system for `options`: writes builder's initrd
/// pieces into the root (the initrd must be made afterwards) and returns
/// the kernel arguments that turn them on. Refused, naming what to add,
/// when the image lacks a live system, a tool the initrd runs, or support
/// for the root's filesystem; nothing is written then.
pub fn prepare(root: &RootDir, options: &LiveOptions) -> Result<Vec<String>, ToolError> {
    // It goes on the kernel command line: the ISO's own check keeps it to
    // A-Z, 0-9 and _.
    let volume_id = options.volume_id.as_str();
    super::options::iso_volume_id(volume_id)?;
    let erofs = match options.root_filesystem.as_str() {
        "squashfs" => false,
        "erofs" => true,
        other => {
            return invalid(format!(
                "`{other}` is not a live root image's filesystem: squashfs or erofs"
            ))
        }
    };
    let persistent = options.persistent_filesystem.as_deref();
    if let Some(fs) = persistent {
        if !matches!(fs, "ext4" | "xfs" | "btrfs") {
            return invalid(format!(
                "`{fs}` cannot hold a live system's changes: ext4, xfs or btrfs"
            ));
        }
    }
    let Some(system) = LiveSystem::of(root) else {
        return invalid(
            "the root has no live system for its initrd: add `live-boot` (Debian, Ubuntu) \
             or `dracut-live` (Fedora, RHEL)",
        );
    };
    if erofs && system == LiveSystem::Dmsquash && !dmsquash_mounts_erofs(root) {
        return invalid(
            "an erofs live root: the image's live system, dracut's dmsquash-live, mounts its \
             root image as squashfs only; use filesystem=\"squashfs\", or Debian's `live-boot` \
             (with initramfs-tools) as the live system",
        );
    }
    if let Some(fs) = persistent {
        let mkfs = format!("mkfs.{fs}");
        let missing: Vec<&str> = [("parted", "parted"), (mkfs.as_str(), mkfs_package(fs))]
            .into_iter()
            .filter(|(tool, _)| !super::has_program(root, tool))
            .map(|(_, package)| package)
            .collect();
        if !missing.is_empty() {
            return invalid(format!(
                "hybridpersistent: the initrd makes the write partition with {} of the \
                 image: add {} to its packages",
                if missing.len() == 1 {
                    "a tool"
                } else {
                    "tools"
                },
                missing.join(" and ")
            ));
        }
    }

    let mut arguments = Vec::new();
    match system {
        LiveSystem::LiveBoot => {
            let mut body = String::new();
            if erofs {
                // live-boot mounts the root image with the type blkid finds.
                body += "# The root image is erofs.\nmanual_add_modules erofs\nneed blkid\n";
            }
            if let Some(fs) = persistent {
                body += &format!(
                    "# hybridpersistent: builder-live-cow and what it runs.\n\
                     copy_file script /{LIVE_COW_PATH} /sbin/builder-live-cow\n\
                     for tool in blkid parted mkfs.{fs}; do\n    own \"$tool\"\ndone\n\
                     for tool in udevadm head grep cut tail; do\n    need \"$tool\"\ndone\n\
                     manual_add_modules {fs}\n"
                );
                root.write(
                    "etc/initramfs-tools/scripts/live-premount/builder-live-cow",
                    LIVE_PREMOUNT.as_bytes(),
                    0o755,
                )?;
                arguments.extend([
                    "persistence".to_string(),
                    "persistence-label=cow".to_string(),
                    format!("builder.live-cow={fs},{volume_id}"),
                ]);
            }
            if !body.is_empty() {
                root.write(
                    INITRAMFS_HOOK_PATH,
                    INITRAMFS_HOOK.replace("@BODY@\n", &body).as_bytes(),
                    0o755,
                )?;
            }
        }
        LiveSystem::Dmsquash => {
            if let Some(fs) = persistent {
                for (name, text) in [
                    ("module-setup.sh", DRACUT_MODULE_SETUP.replace("@FS@", fs)),
                    ("builder-live-cow-genrules.sh", DRACUT_GENRULES.to_string()),
                    ("builder-live-cow-dracut.sh", DRACUT_RUN.to_string()),
                ] {
                    root.write(&format!("{DRACUT_MODULE}/{name}"), text.as_bytes(), 0o755)?;
                }
                root.write(
                    DRACUT_CONF,
                    b"# Written by builder: KIWI's hybridpersistent.\n\
                      add_dracutmodules+=\" builder-live-cow \"\n",
                    0o644,
                )?;
                arguments.push(format!("builder.live-cow={fs}"));
            }
        }
    }
    if persistent.is_some() {
        root.write(LIVE_COW_PATH, LIVE_COW.as_bytes(), 0o755)?;
    }
    Ok(arguments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolbox::test_support::root_with;

    fn options(root_fs: &str, persistent: Option<&str>) -> LiveOptions {
        LiveOptions {
            volume_id: "CDROM".into(),
            root_filesystem: root_fs.into(),
            persistent_filesystem: persistent.map(str::to_string),
        }
    }

    const LIVE_BOOT: &str = "usr/share/initramfs-tools/scripts/live";
    const DMSQUASH: &str = "usr/lib/dracut/modules.d/90dmsquash-live/dmsquash-live-root.sh";

    #[test]
    fn live_boot_gets_a_hook_a_premount_script_and_its_persistence_arguments() {
        let (dir, root) = root_with(&[LIVE_BOOT, "usr/sbin/parted", "usr/sbin/mkfs.ext4"]);
        let args = prepare(&root, &options("squashfs", Some("ext4"))).unwrap();
        assert_eq!(
            args,
            [
                "persistence",
                "persistence-label=cow",
                "builder.live-cow=ext4,CDROM"
            ]
        );
        let hook = std::fs::read_to_string(dir.path().join(INITRAMFS_HOOK_PATH)).unwrap();
        assert!(hook.contains("mkfs.ext4"), "{hook}");
        assert!(hook.contains("manual_add_modules ext4"), "{hook}");
        assert!(!hook.contains("erofs"), "{hook}");
        assert!(!hook.contains('@'), "{hook}");
        use std::os::unix::fs::PermissionsExt;
        for path in [
            "etc/initramfs-tools/scripts/live-premount/builder-live-cow",
            LIVE_COW_PATH,
            INITRAMFS_HOOK_PATH,
        ] {
            let mode = std::fs::metadata(dir.path().join(path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755, "{path}");
        }
        assert!(!dir.path().join(DRACUT_CONF).exists());
    }

    #[test]
    fn an_erofs_root_brings_its_module_and_blkid_to_live_boot() {
        let (dir, root) = root_with(&[LIVE_BOOT]);
        let args = prepare(&root, &options("erofs", None)).unwrap();
        assert!(args.is_empty(), "{args:?}");
        let hook = std::fs::read_to_string(dir.path().join(INITRAMFS_HOOK_PATH)).unwrap();
        assert!(
            hook.contains("manual_add_modules erofs\nneed blkid\n"),
            "{hook}"
        );
        assert!(!hook.contains("parted"), "{hook}");
        assert!(!dir.path().join(LIVE_COW_PATH).exists());
        // A squashfs root without persistence needs nothing of builder's.
        let (dir, root) = root_with(&[LIVE_BOOT]);
        assert!(prepare(&root, &options("squashfs", None))
            .unwrap()
            .is_empty());
        assert!(!dir.path().join(INITRAMFS_HOOK_PATH).exists());
    }

    #[test]
    fn dracut_gets_a_module_added_by_its_configuration() {
        let (dir, root) = root_with(&[DMSQUASH, "usr/sbin/parted", "usr/sbin/mkfs.xfs"]);
        let args = prepare(&root, &options("squashfs", Some("xfs"))).unwrap();
        assert_eq!(args, ["builder.live-cow=xfs"]);
        let setup = std::fs::read_to_string(dir.path().join(DRACUT_MODULE).join("module-setup.sh"))
            .unwrap();
        assert!(setup.contains("instmods xfs"), "{setup}");
        assert!(setup.contains("mkfs.xfs"), "{setup}");
        let conf = std::fs::read_to_string(dir.path().join(DRACUT_CONF)).unwrap();
        assert!(
            conf.contains("add_dracutmodules+=\" builder-live-cow \""),
            "{conf}"
        );
    }

    #[test]
    fn an_erofs_root_needs_a_dmsquash_live_that_mounts_it() {
        let (dir, root) = root_with(&[DMSQUASH]);
        let err = prepare(&root, &options("erofs", None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("squashfs only"), "{err}");
        std::fs::write(
            dir.path().join(DMSQUASH),
            "mount -n -t \"$(det_fs $img)\" # squashfs or erofs\n",
        )
        .unwrap();
        assert!(prepare(&root, &options("erofs", None)).is_ok());
    }

    #[test]
    fn missing_tools_are_named_by_their_packages_and_nothing_is_written() {
        let (dir, root) = root_with(&[LIVE_BOOT]);
        let err = prepare(&root, &options("squashfs", Some("xfs")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("add parted and xfsprogs"), "{err}");
        assert!(!dir.path().join(LIVE_COW_PATH).exists());
        assert!(!dir.path().join(INITRAMFS_HOOK_PATH).exists());
        let (_dir, root) = root_with(&["usr/sbin/parted", "usr/sbin/mkfs.ext4"]);
        let err = prepare(&root, &options("squashfs", Some("ext4")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no live system"), "{err}");
    }

    #[test]
    fn odd_filesystems_and_volume_ids_are_refused() {
        let (_dir, root) = root_with(&[LIVE_BOOT, "usr/sbin/parted", "usr/sbin/mkfs.ext4"]);
        for (root_fs, fs, id) in [
            ("squashfs", "vfat", "CDROM"),
            ("squashfs", "ext4", "cd rom"),
            ("squashfs", "ext4", ""),
            ("squashfs", "ext4", "A;B"),
            ("ext4", "ext4", "CDROM"),
        ] {
            let mut asked = options(root_fs, Some(fs));
            asked.volume_id = id.into();
            assert!(prepare(&root, &asked).is_err(), "{root_fs} {fs} {id}");
        }
    }
}
