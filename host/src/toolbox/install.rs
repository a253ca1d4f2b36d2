//! The installer of an installation ISO (KIWI's `installiso`), written
//! into the image root for its own initrd: booted from the ISO, it writes
//! the disk image on the medium onto the machine's disk.
//!
//! KIWI's `dracut-kiwi-oem-dump` does this with a dracut module. builder
//! gives the image's initrd the same with `install/installer.sh`
//! (installed as `/usr/lib/builder/install`), run before any root is
//! mounted: by an initramfs-tools `init-premount` script, or by a dracut
//! module's `pre-mount` hook (with `root=builder-install`, which no root
//! generator takes for a device). Its settings go onto the medium as
//! `builder-install.conf`, `key=value` lines the script reads without
//! running them.

use super::boot::{initrd_tool, InitrdTool};
use super::{has_program, invalid, ToolError};
use crate::rootfs::files::RootDir;
use crate::rootfs::RootTree;

const INSTALLER: &str = include_str!("install/installer.sh");
const INITRAMFS_PREMOUNT: &str = include_str!("install/initramfs-premount.sh");
const DRACUT_MODULE_SETUP: &str = include_str!("install/dracut-module-setup.sh");
const DRACUT_CMDLINE: &str = include_str!("install/dracut-cmdline.sh");
const DRACUT_PRE_MOUNT: &str = include_str!("install/dracut-pre-mount.sh");

/// Where the installer goes in the root.
const INSTALLER_PATH: &str = "usr/lib/builder/install";
/// The initramfs-tools hook that brings it into the initrd.
const INITRAMFS_HOOK_PATH: &str = "etc/initramfs-tools/hooks/builder-install";
/// The initramfs-tools script that runs it.
const INITRAMFS_PREMOUNT_PATH: &str = "etc/initramfs-tools/scripts/init-premount/builder-install";
/// The dracut module's directory.
const DRACUT_MODULE: &str = "usr/lib/dracut/modules.d/91builder-install";
/// The dracut configuration that adds it.
const DRACUT_CONF: &str = "etc/dracut.conf.d/91-builder-install.conf";
/// The installer's settings, at the top of the medium.
pub const CONF_FILE: &str = "builder-install.conf";

/// What the installer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// The installation medium's volume id (its label).
    pub volume_id: String,
    /// The disk image's file name at the top of the medium: `NAME.zst` or
    /// `NAME.xz`.
    pub image_file: String,
    /// Its size, uncompressed.
    pub image_size: u64,
    /// Its SHA-256, uncompressed, lower-case hex.
    pub image_sha256: String,
    /// Read the written disk back and check it.
    pub verify: bool,
    /// Install without asking.
    pub unattended: bool,
    /// Unattended, with several disks: the one to take (an extended
    /// regular expression on its device paths).
    pub target: Option<String>,
    /// Disks never offered (an extended regular expression on their
    /// device paths).
    pub device_filter: Option<String>,
    /// Power off when done instead of rebooting.
    pub power_off: bool,
}

/// A regular expression for the configuration file: one line, no
/// control characters.
fn check_pattern(what: &str, pattern: &str) -> Result<(), ToolError> {
    if pattern.is_empty() || pattern.len() > 256 || pattern.chars().any(char::is_control) {
        return invalid(format!(
            "{what} `{}`: a regular expression of 1 to 256 characters on one line",
            pattern.escape_debug()
        ));
    }
    Ok(())
}

/// Writes the installer into the root for its initrd (the initrd must be
/// made afterwards); returns the kernel arguments that run it and the
/// content of [`CONF_FILE`]. Refused, naming what to add, when the image
/// lacks an initrd tool or the decompressor the image file needs; nothing
/// is written then.
pub fn prepare(
    root: &RootDir,
    options: &InstallOptions,
) -> Result<(Vec<String>, String), ToolError> {
    let volume_id = options.volume_id.as_str();
    super::options::iso_volume_id(volume_id)?;
    let name = options.image_file.as_str();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    {
        return invalid(format!(
            "`{}` is not a file name for the disk image (letters, digits, `._+-`)",
            name.escape_debug()
        ));
    }
    let (decompressor, package) = if name.ends_with(".zst") {
        ("zstd", "zstd")
    } else if name.ends_with(".xz") {
        (
            "xz",
            "xz-utils (Debian, Ubuntu; `xz` on Fedora, RHEL, SUSE)",
        )
    } else {
        return invalid(format!(
            "`{name}`: the installer reads a disk image compressed with zstd (`.zst`) or xz (`.xz`)"
        ));
    };
    let digest = options.image_sha256.as_str();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return invalid(format!("`{digest}` is not a SHA-256"));
    }
    for (what, pattern) in [
        ("the target disk", &options.target),
        ("the device filter", &options.device_filter),
    ] {
        if let Some(pattern) = pattern {
            check_pattern(what, pattern)?;
        }
    }
    // The tool make-initrd will run, found the same way.
    let tree = RootTree::open(root.host_path())?;
    let Some((initrd, _)) = initrd_tool(&tree) else {
        return invalid(
            "installiso: the image has no initrd tool to run the installer in: add \
             initramfs-tools or dracut",
        );
    };
    if !has_program(root, decompressor) {
        return invalid(format!(
            "installiso: the installer decompresses the disk image with {decompressor} of \
             the image: add {package} to its packages"
        ));
    }

    let mut arguments = Vec::new();
    match initrd {
        InitrdTool::InitramfsTools => {
            let body = format!(
                "# installiso: builder-install and what it runs.\n\
                 copy_file script /{INSTALLER_PATH} /sbin/builder-install\n\
                 for tool in blkid dd head sha256sum {decompressor}; do\n    own \"$tool\"\ndone\n\
                 for tool in udevadm grep readlink; do\n    need \"$tool\"\ndone\n\
                 manual_add_modules isofs sr_mod\n"
            );
            root.write(
                INITRAMFS_HOOK_PATH,
                super::live::INITRAMFS_HOOK
                    .replace("@BODY@\n", &body)
                    .as_bytes(),
                0o755,
            )?;
            root.write(
                INITRAMFS_PREMOUNT_PATH,
                INITRAMFS_PREMOUNT.as_bytes(),
                0o755,
            )?;
        }
        InitrdTool::Dracut => {
            for (file, text) in [
                (
                    "module-setup.sh",
                    DRACUT_MODULE_SETUP.replace("@DECOMPRESS@", decompressor),
                ),
                ("builder-install-cmdline.sh", DRACUT_CMDLINE.to_string()),
                ("builder-install-pre-mount.sh", DRACUT_PRE_MOUNT.to_string()),
            ] {
                root.write(&format!("{DRACUT_MODULE}/{file}"), text.as_bytes(), 0o755)?;
            }
            root.write(
                DRACUT_CONF,
                b"# Written by builder: KIWI's installiso.\n\
                  add_dracutmodules+=\" builder-install \"\n",
                0o644,
            )?;
            arguments.push("root=builder-install".to_string());
        }
    }
    root.write(INSTALLER_PATH, INSTALLER.as_bytes(), 0o755)?;
    arguments.push(format!("builder.install={volume_id}"));

    let mut conf = format!(
        "image={name}\nsize={}\nsha256={}\nverify={}\nunattended={}\nafter={}\n",
        options.image_size,
        digest.to_ascii_lowercase(),
        options.verify,
        options.unattended,
        if options.power_off {
            "poweroff"
        } else {
            "reboot"
        },
    );
    if let Some(target) = &options.target {
        conf += &format!("target={target}\n");
    }
    if let Some(filter) = &options.device_filter {
        conf += &format!("filter={filter}\n");
    }
    Ok((arguments, conf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolbox::test_support::root_with;

    fn options(image: &str) -> InstallOptions {
        InstallOptions {
            volume_id: "INSTALL".into(),
            image_file: image.into(),
            image_size: 1 << 30,
            image_sha256: "ab".repeat(32),
            verify: true,
            unattended: false,
            target: None,
            device_filter: Some("/dev/ram".into()),
            power_off: false,
        }
    }

    const INITRAMFS_TOOLS: &str = "usr/sbin/update-initramfs";
    const DRACUT: &str = "usr/bin/dracut";

    #[test]
    fn initramfs_tools_gets_a_hook_and_a_premount_script() {
        let (dir, root) = root_with(&[INITRAMFS_TOOLS, "usr/bin/zstd"]);
        let (args, conf) = prepare(&root, &options("golden.raw.zst")).unwrap();
        assert_eq!(args, ["builder.install=INSTALL"]);
        assert_eq!(
            conf,
            format!(
                "image=golden.raw.zst\nsize=1073741824\nsha256={}\nverify=true\n\
                 unattended=false\nafter=reboot\nfilter=/dev/ram\n",
                "ab".repeat(32)
            )
        );
        let hook = std::fs::read_to_string(dir.path().join(INITRAMFS_HOOK_PATH)).unwrap();
        assert!(
            hook.contains("copy_file script /usr/lib/builder/install"),
            "{hook}"
        );
        assert!(hook.contains("sha256sum zstd; do"), "{hook}");
        assert!(hook.contains("manual_add_modules isofs"), "{hook}");
        assert!(!hook.contains('@'), "{hook}");
        use std::os::unix::fs::PermissionsExt;
        for path in [INITRAMFS_PREMOUNT_PATH, INSTALLER_PATH, INITRAMFS_HOOK_PATH] {
            let mode = std::fs::metadata(dir.path().join(path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755, "{path}");
        }
        assert!(!dir.path().join(DRACUT_CONF).exists());
    }

    #[test]
    fn dracut_gets_a_module_and_a_root_no_generator_waits_for() {
        let (dir, root) = root_with(&[DRACUT, "usr/bin/xz"]);
        let (args, conf) = prepare(
            &root,
            &InstallOptions {
                unattended: true,
                target: Some("virtio-.*second".into()),
                power_off: true,
                ..options("golden.raw.xz")
            },
        )
        .unwrap();
        assert_eq!(args, ["root=builder-install", "builder.install=INSTALL"]);
        assert!(conf.contains("\nunattended=true\nafter=poweroff\ntarget=virtio-.*second\n"));
        let setup = std::fs::read_to_string(dir.path().join(DRACUT_MODULE).join("module-setup.sh"))
            .unwrap();
        assert!(setup.contains(" sync xz\n"), "{setup}");
        assert!(setup.contains("instmods isofs"), "{setup}");
        let conf = std::fs::read_to_string(dir.path().join(DRACUT_CONF)).unwrap();
        assert!(conf.contains("add_dracutmodules+=\" builder-install \""));
        assert!(!dir.path().join(INITRAMFS_HOOK_PATH).exists());
    }

    #[test]
    fn a_missing_decompressor_or_initrd_tool_is_named_and_nothing_is_written() {
        let (dir, root) = root_with(&[INITRAMFS_TOOLS]);
        let err = prepare(&root, &options("golden.raw.xz"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("add xz-utils"), "{err}");
        assert!(!dir.path().join(INSTALLER_PATH).exists());
        let (_dir, root) = root_with(&["usr/bin/zstd"]);
        let err = prepare(&root, &options("golden.raw.zst"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no initrd tool"), "{err}");
    }

    #[test]
    fn odd_names_digests_and_patterns_are_refused() {
        let (_dir, root) = root_with(&[INITRAMFS_TOOLS, "usr/bin/zstd"]);
        let mut bad = vec![
            options("golden.raw"),
            options("../golden.raw.zst"),
            options("a b.zst"),
            InstallOptions {
                image_sha256: "xy".repeat(32),
                ..options("golden.raw.zst")
            },
            InstallOptions {
                device_filter: Some("/dev/ram\nunattended=true".into()),
                ..options("golden.raw.zst")
            },
            InstallOptions {
                volume_id: "install me".into(),
                ..options("golden.raw.zst")
            },
        ];
        bad.push(InstallOptions {
            target: Some(String::new()),
            ..options("golden.raw.zst")
        });
        for asked in bad {
            assert!(prepare(&root, &asked).is_err(), "{asked:?}");
        }
    }
}
