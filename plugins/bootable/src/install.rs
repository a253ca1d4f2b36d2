//! KIWI's `installiso`: beside the oem disk, `NAME.install.iso`, which
//! boots the image's own kernel with an initrd that installs the disk
//! instead of mounting a root (the host's `prepare-install-initrd`).
//!
//! The ISO holds the raw disk compressed (zstd when the image has it, else
//! xz: the installer decompresses it with the image's tool) and the
//! installer's settings. Its menu is KIWI's: "Boot from Hard Disk" (the
//! default, so a medium left in the drive does not install again),
//! "Install NAME" and "Failsafe -- Install NAME"; `installboot` picks
//! another default. The installer offers every disk but the medium's and
//! those `oem-device-filter` matches, asks before it destroys one's data
//! (not with `oem-unattended`), checks what it wrote (not with
//! `oem-skip-verify`) and reboots; after an unattended install from a menu
//! whose default installs again, it powers off instead.

use builder_sdk::boot::{self, InstallOptions};
use builder_sdk::prelude::*;
use builder_sdk::{FileSource, ImageFile};

use crate::grub::{self, Entry, Locate, Menu};
use crate::iso::{assemble, boot_files, Boot, Firmware};
use crate::secure_boot;

/// KIWI's failsafe kernel options.
const FAILSAFE: &str = "ide=nodma apm=off noresume edd=off nomodeset 3";

/// Options of the `oem` type for its installation ISO.
pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::boolean(
            "installiso",
            false,
            "Also make NAME.install.iso, which installs the disk onto a machine's disk",
        ),
        OptionSpec::choice(
            "installboot",
            &["harddisk", "install", "failsafe-install"],
            "harddisk",
            "The installation ISO's default menu entry",
        ),
        OptionSpec::boolean(
            "installprovidefailsafe",
            true,
            "The installation ISO's menu has a failsafe install entry",
        ),
        OptionSpec::text(
            "oem:volid",
            Some("INSTALL"),
            "The installation ISO's volume id (A-Z, 0-9, _)",
        ),
        OptionSpec::text(
            "oem-device-filter",
            None,
            "Disks the installer never offers: an extended regular expression on their device paths",
        ),
        OptionSpec::boolean(
            "oem-multipath-scan",
            false,
            "Scan for multipath devices before installing (not made: true is refused)",
        ),
        OptionSpec::boolean(
            "oem-skip-verify",
            false,
            "Do not read the installed disk back to check it",
        ),
        OptionSpec::boolean(
            "oem-unattended",
            false,
            "Install without asking (with several disks, the first, or oem-unattended-id's)",
        ),
        OptionSpec::text(
            "oem-unattended-id",
            None,
            "Unattended: the disk to install onto, an extended regular expression on its \
             device path or /dev/disk/by-id link",
        ),
    ]
}

/// How the disk goes onto the ISO, decided before the disk is made.
pub struct Plan {
    compression: Compression,
    extension: &'static str,
}

/// The installation ISO's plan, when `installiso` is set: refused, before
/// anything is made, when the image has no decompressor for the installer
/// or asks for what is not made.
pub fn plan(root: &RootTree, request: &BuildRequest) -> Result<Option<Plan>, Error> {
    let options = request.options.as_slice();
    if !options.flag("installiso")? {
        return Ok(None);
    }
    if !matches!(request.image.arch.as_str(), "x86_64" | "amd64") {
        return Err(Error::invalid_option(
            "installiso",
            format!(
                "installation ISOs are made for x86_64 only, not {}",
                request.image.arch
            ),
        ));
    }
    if options.flag("oem-multipath-scan")? {
        return Err(Error::invalid_option(
            "oem-multipath-scan",
            "builder's installer does not scan for multipath devices: leave \
             oem-multipath-scan out or set it false",
        ));
    }
    let has = |tool: &str| {
        ["usr/bin", "bin"]
            .iter()
            .any(|dir| root.stat(&format!("{dir}/{tool}")).is_ok())
    };
    let plan = if has("zstd") {
        Plan {
            compression: Compression::Zstd,
            extension: "zst",
        }
    } else if has("xz") {
        Plan {
            compression: Compression::Xz,
            extension: "xz",
        }
    } else {
        return Err(Error::invalid_option(
            "installiso",
            "the installer decompresses the disk with the image's zstd or xz: add `zstd` \
             or `xz-utils` (`xz` on Fedora, RHEL, SUSE) to its packages",
        ));
    };
    Ok(Some(plan))
}

/// Makes `NAME.install.iso` holding the raw disk artifact `raw`, booting
/// with `firmware` as the disk does.
pub fn make_iso(
    root: &RootTree,
    request: &BuildRequest,
    plan: &Plan,
    raw: &Artifact,
    firmware: Firmware,
) -> Result<Artifact, Error> {
    let options = request.options.as_slice();
    log::info("making the installation ISO");
    let volid = options.value("volid").unwrap_or("INSTALL").to_string();
    let failsafe = options.flag("installprovidefailsafe")?;
    let default = match options.value("installboot").unwrap_or("harddisk") {
        "install" => 1,
        "failsafe-install" if failsafe => 2,
        "failsafe-install" => {
            log::warn(
                "installboot=\"failsafe-install\" without a failsafe entry: install is the default",
            );
            1
        }
        _ => 0,
    };
    let unattended = options.flag("oem-unattended")?;

    // The disk, compressed; the installer checks what it wrote against
    // the raw disk's digest.
    let image = format!("{}.{}", raw.file_name, plan.extension);
    let writer = artifacts::create(&image, plan.compression)?;
    writer.append_artifact(&raw.file_name)?;
    let compressed = ArtifactWriter::finish(writer)?;
    let media = boot::prepare_install_initrd(
        root,
        &InstallOptions {
            volume_id: volid.clone(),
            image_file: image.clone(),
            image_size: raw.size,
            image_sha256: raw.sha256.clone(),
            verify: !options.flag("oem-skip-verify")?,
            unattended,
            target: options.value("oem-unattended-id").map(str::to_string),
            device_filter: options.value("oem-device-filter").map(str::to_string),
            // Rebooting into a menu that installs again would never end.
            power_off: unattended && default != 0,
        },
    )?;
    log::info("making the installer's initrd with the image's own tool");
    let kernel = grub::remake_initrd(root)?;
    if firmware.signed_chain.is_some() {
        secure_boot::check_kernel_signed(root, &kernel.image)?;
    }

    let marker = format!("/.disk/builder-{}", &compressed.sha256[..16]);
    let locate = Locate::File(&marker);
    let menu = Menu::new(request, "")?;
    let cmdline = media.kernel_arguments.join(" ");
    let name = &request.image.name;
    let entries = [
        Entry::HardDisk,
        Entry::Linux {
            title: format!("Install {name}"),
            kernel: "boot/kernel",
            initrd: "boot/initrd",
            cmdline: cmdline.clone(),
        },
        Entry::Linux {
            title: format!("Failsafe -- Install {name}"),
            kernel: "boot/kernel",
            initrd: "boot/initrd",
            cmdline: format!("{cmdline} {FAILSAFE}"),
        },
    ];
    let shown = if failsafe { 3 } else { 2 };
    let cfg = menu.config_of(&locate, &entries[..shown], default);

    let mut files = boot_files(&marker, &kernel, cfg);
    files.push(ImageFile {
        path: image.clone(),
        source: FileSource::Artifact(image.clone()),
    });
    files.extend(media.files);
    let boot = Boot {
        volume_id: volid,
        early: grub::early_config(&locate, false),
        modules: vec!["iso9660"],
        hard_disk_entry: true,
        firmware,
    };
    assemble(
        root,
        request,
        &request.artifact_name("install.iso"),
        &boot,
        files,
        vec![image],
    )
}
