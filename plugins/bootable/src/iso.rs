//! `iso`: a live ISO. The whole root becomes a squashfs image the live
//! system's initrd mounts (read-only, with an overlay on top); the kernel
//! and the initrd made inside the root sit beside it; GRUB boots it through
//! El Torito on BIOS (`i386-pc-eltorito`) and EFI (a FAT image with GRUB's
//! EFI application; with `firmware="uefi"` the image's signed shim and GRUB
//! for Secure Boot, as on the `oem` disk), and the image is hybrid: it also
//! boots as a disk. With `eficsm="false"` it boots with EFI alone, as KIWI
//! makes it: no BIOS boot image, no hybrid MBR boot code.
//!
//! The live system is the image's own: Debian's `live-boot` (initramfs-tools,
//! `/live/filesystem.squashfs`, `boot=live`) or dracut's `dmsquash-live`
//! (`/LiveOS/squashfs.img`, `root=live:CDLABEL=`). GRUB finds the ISO by a
//! file named after the squashfs's digest, so another disk cannot be taken
//! for it.
//!
//! `filesystem="erofs"` makes the root image erofs instead (under the
//! squashfs's file name, as KIWI keeps it), for a live system that mounts
//! it. KIWI's `flags` choose the root's write layer: `overlay` (KIWI's default,
//! its kiwi-live module) an overlayfs over the read-only root, which
//! live-boot always uses and dmsquash-live uses with
//! `rd.live.overlay.overlayfs`; `dmsquash` dmsquash-live's device-mapper
//! snapshot, which only dracut images have. `hybridpersistent` keeps the
//! changes in a `cow` partition the first boot makes after the image when
//! the ISO was written onto a USB stick (the host's `prepare-live-initrd`).

use builder_sdk::boot::{self, GrubPlatform, Kernel, LiveOptions};
use builder_sdk::filesystems::{self, FatOptions};
use builder_sdk::iso::{self, IsoOptions};
use builder_sdk::prelude::*;
use builder_sdk::{FileSource, FilesystemOptions, FilesystemType, ImageFile, TreePart};

use crate::grub::{self, Locate, Menu};
use crate::secure_boot;

/// Options of the `iso` type alone: KIWI's attributes of `<type>`.
pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::text("iso:volid", Some("CDROM"), "ISO volume id (A-Z, 0-9, _)"),
        OptionSpec::choice(
            "squashfscompression",
            &["uncompressed", "gzip", "lzo", "lz4", "xz", "zstd"],
            "xz",
            "How the root's squashfs is compressed",
        ),
        // The oem type's `filesystem` is the root's: this one is the iso's.
        OptionSpec::choice(
            "iso:filesystem",
            &["squashfs", "erofs"],
            "squashfs",
            "The read-only root image's filesystem (erofs: live-boot images; dracut 059's \
             dmsquash-live mounts squashfs only)",
        ),
        OptionSpec::text(
            "erofscompression",
            None,
            "How an erofs root image is compressed (`lz4`, `lz4hc,12`, ...; none by default)",
        ),
        OptionSpec::choice(
            "flags",
            &["overlay", "dmsquash"],
            "overlay",
            "The live root's write layer: overlay: an overlayfs over the read-only root; \
             dmsquash: dracut's dmsquash-live with its device-mapper snapshot (dracut images)",
        ),
        OptionSpec::boolean(
            "hybridpersistent",
            false,
            "Keep the live system's changes in a partition labelled `cow` that the first boot \
             makes after the image when the ISO was written onto a USB stick",
        ),
        OptionSpec::choice(
            "hybridpersistent_filesystem",
            &["ext4", "xfs"],
            "ext4",
            "The filesystem of the hybridpersistent partition",
        ),
    ]
}

/// The live system the image carries.
enum Live {
    /// Debian's live-boot (initramfs-tools).
    LiveBoot,
    /// dracut's dmsquash-live.
    Dmsquash,
}

fn live_system(root: &RootTree) -> Result<Live, Error> {
    if root.stat("usr/share/initramfs-tools/scripts/live").is_ok() {
        Ok(Live::LiveBoot)
    } else if root
        .stat("usr/lib/dracut/modules.d/90dmsquash-live")
        .is_ok()
    {
        Ok(Live::Dmsquash)
    } else {
        Err(Error::other(
            "the root has no live system for its initrd: add `live-boot` (Debian, Ubuntu) \
             or `dracut-live` (Fedora, RHEL; `dracut-kiwi-live` on SUSE) to the iso's packages",
        ))
    }
}

/// Builds the ISO.
pub fn build(root: &RootTree, request: &BuildRequest) -> Result<Vec<Artifact>, Error> {
    let options = request.options.as_slice();
    let firmware = grub::firmware(options);
    let x86 = matches!(request.image.arch.as_str(), "x86_64" | "amd64");
    if !x86 {
        return Err(Error::other(format!(
            "live ISOs are made for x86_64 only, not {}",
            request.image.arch
        )));
    }
    let efi = firmware != "bios";
    // `eficsm="false"`: EFI alone, no BIOS boot image and no hybrid MBR.
    let bios = grub::boots_with_bios(options, firmware)?;
    // Secure Boot: the image's own signed chain, found before anything is made.
    let signed_chain = if firmware == "uefi" {
        Some(secure_boot::Chain::find(root, &request.image.arch)?)
    } else {
        None
    };
    let volid = options.value("volid").unwrap_or("CDROM").to_string();
    let live = live_system(root)?;
    grub::check_initrd_system(root, options)?;
    let flags = options.value("flags").unwrap_or("overlay");
    if flags == "dmsquash" && matches!(live, Live::LiveBoot) {
        return Err(Error::invalid_option(
            "flags",
            "flags=\"dmsquash\" asks for dracut's dmsquash-live and its device-mapper \
             snapshot, but the root's live system is Debian's live-boot: add `dracut` and \
             `dracut-live` to the iso's packages, or use flags=\"overlay\"",
        ));
    }
    // The root image's filesystem and hybridpersistent: the host writes
    // what the live system's initrd needs for them into the root (the
    // initrd is made again below), refusing what the image cannot boot.
    let root_fs = options.value("filesystem").unwrap_or("squashfs");
    let persistent = options.flag("hybridpersistent")?.then(|| {
        options
            .value("hybridpersistent_filesystem")
            .unwrap_or("ext4")
    });
    if let Some(fs) = persistent {
        log::info(&format!(
            "hybridpersistent: the write partition on USB sticks is {fs}"
        ));
    }
    let live_initrd_args = boot::prepare_live_initrd(
        root,
        &LiveOptions {
            volume_id: volid.clone(),
            root_filesystem: root_fs.to_string(),
            persistent_filesystem: persistent.map(str::to_string),
        },
    )?;
    let initrd_changed = root_fs != "squashfs" || persistent.is_some();
    let mut menu = Menu::new(request, " (live)")?;
    // `<bootloader-theme>`: its files go next to grub.cfg on the ISO.
    let theme = match options.value("bootloader-theme") {
        Some(name) => Some(crate::theme::find(root, name.trim())?),
        None => None,
    };
    if let Some(theme) = &theme {
        menu.set_theme(theme, "/boot/grub");
    }

    // The initrd the install made already has the live system in it;
    // only a missing one is made, or one without builder's pieces.
    let mut kernel = grub::newest(boot::kernels(root)?)?;
    if initrd_changed || root.stat(&kernel.initrd).is_err() {
        log::info("making the initrd with the image's own tool");
        kernel = grub::remake_initrd(root)?;
    }

    if signed_chain.is_some() {
        secure_boot::check_kernel_signed(root, &kernel.image)?;
    }

    // KIWI keeps the squashfs file name for an erofs root too (the live
    // systems look for that name; they mount what blkid finds in it).
    log::info(&format!("making the root's {root_fs} image"));
    let squashfs = request.artifact_name("squashfs");
    let whole_root = TreePart {
        path: String::new(),
        mount_points: Vec::new(),
    };
    let (fs_type, compression) = if root_fs == "erofs" {
        (FilesystemType::Erofs, options.value("erofscompression"))
    } else {
        (
            FilesystemType::Squashfs,
            options.value("squashfscompression"),
        )
    };
    filesystems::make(
        root,
        &whole_root,
        &squashfs,
        &FilesystemOptions {
            fs_type,
            label: None,
            uuid: None,
            size_bytes: None,
            extra_bytes: 0,
            compression: compression.map(str::to_string),
            create_options: Vec::new(),
        },
    )?;
    let digest = artifacts::sha256(&squashfs)?;
    let marker = format!("/.disk/builder-{}", &digest[..16]);
    let locate = Locate::File(&marker);
    let early = grub::early_config(&locate, false);
    let mut iso_modules = vec!["iso9660"];
    if theme.is_some() {
        iso_modules.extend(crate::theme::MODULES);
    }

    let (squashfs_path, mut live_args) = match live {
        Live::LiveBoot => (
            "live/filesystem.squashfs",
            vec!["boot=live".to_string(), "components".to_string()],
        ),
        Live::Dmsquash => (
            "LiveOS/squashfs.img",
            vec![
                format!("root=live:CDLABEL={volid}"),
                "rd.live.image".to_string(),
            ],
        ),
    };
    if matches!(live, Live::Dmsquash) && flags == "overlay" {
        live_args.push("rd.live.overlay.overlayfs=1".to_string());
    }
    live_args.extend(live_initrd_args);
    let cmdline = live_args.join(" ");
    let cfg = menu.config(&locate, "boot/kernel", "boot/initrd", &cmdline);

    let mut files = boot_files(&marker, &kernel, cfg);
    files.push(ImageFile {
        path: squashfs_path.into(),
        source: FileSource::Artifact(squashfs.clone()),
    });
    for (below, source) in theme.iter().flat_map(|t| &t.files) {
        files.push(ImageFile {
            path: format!("boot/grub/{below}"),
            source: FileSource::RootFile(source.clone()),
        });
    }
    let intermediates = vec![squashfs];

    let boot = Boot {
        volume_id: volid,
        early,
        modules: iso_modules,
        hard_disk_entry: false,
        firmware: Firmware {
            bios,
            efi,
            signed_chain: signed_chain.as_ref(),
        },
    };
    let iso = assemble(
        root,
        request,
        &request.artifact_name("iso"),
        &boot,
        files,
        intermediates,
    )?;
    Ok(vec![iso])
}

/// The files a bootable ISO starts with: the empty `marker` GRUB finds it
/// by, `kernel` as `boot/kernel` and `boot/initrd`, and `grub_cfg`.
pub fn boot_files(marker: &str, kernel: &Kernel, grub_cfg: String) -> Vec<ImageFile> {
    vec![
        ImageFile {
            path: marker.to_string(),
            source: FileSource::Data(Vec::new()),
        },
        ImageFile {
            path: "boot/kernel".into(),
            source: FileSource::RootFile(kernel.image.clone()),
        },
        ImageFile {
            path: "boot/initrd".into(),
            source: FileSource::RootFile(kernel.initrd.clone()),
        },
        ImageFile {
            path: "boot/grub/grub.cfg".into(),
            source: FileSource::Data(grub_cfg.into_bytes()),
        },
    ]
}

/// How a bootable ISO (the live ISO, the installation ISO) boots.
pub struct Boot<'a> {
    /// Its volume id.
    pub volume_id: String,
    /// The configuration built into its GRUB images.
    pub early: String,
    /// GRUB modules beyond the common ones: `iso9660`, a theme's.
    pub modules: Vec<&'a str>,
    /// Its menu has a "Boot from Hard Disk" entry (chainloader, exit).
    pub hard_disk_entry: bool,
    /// The firmware it boots with.
    pub firmware: Firmware<'a>,
}

/// The firmware a bootable ISO boots with.
#[derive(Clone, Copy)]
pub struct Firmware<'a> {
    /// BIOS (El Torito, hybrid MBR code).
    pub bios: bool,
    /// EFI (an El Torito EFI image, appended as partition 2).
    pub efi: bool,
    /// Secure Boot: the image's signed shim and GRUB in the EFI image.
    pub signed_chain: Option<&'a secure_boot::Chain>,
}

/// Makes ISO artifact `file_name` of `files` and the GRUB images `boot`
/// asks for; removes `intermediates` (artifacts of `files`) afterwards.
pub fn assemble(
    root: &RootTree,
    request: &BuildRequest,
    file_name: &str,
    boot: &Boot,
    mut files: Vec<ImageFile>,
    mut intermediates: Vec<String>,
) -> Result<Artifact, Error> {
    let early = boot.early.as_str();
    let mut bios_boot = None;
    if boot.firmware.bios {
        let mut modules = boot.modules.clone();
        if boot.hard_disk_entry {
            modules.push("chain");
        }
        let eltorito = request.artifact_name("eltorito.img");
        boot::make_grub_image(
            root,
            &eltorito,
            GrubPlatform::I386PcEltorito,
            early,
            &grub::modules(true, &modules),
        )?;
        files.push(ImageFile {
            path: "boot/grub/eltorito.img".into(),
            source: FileSource::Artifact(eltorito.clone()),
        });
        intermediates.push(eltorito);
        bios_boot = Some("boot/grub/eltorito.img".to_string());
    }
    let mut efi_boot = None;
    if boot.firmware.efi {
        let esp_files = match boot.firmware.signed_chain {
            // The distribution's signed shim and GRUB, read from the root.
            Some(chain) => chain.esp_files("BOOTX64.EFI", early),
            None => {
                let mut modules = boot.modules.clone();
                if boot.hard_disk_entry {
                    modules.push("minicmd");
                }
                let app = request.artifact_name("efi");
                boot::make_grub_image(
                    root,
                    &app,
                    GrubPlatform::X8664Efi,
                    early,
                    &grub::modules(false, &modules),
                )?;
                intermediates.push(app.clone());
                vec![ImageFile {
                    path: "EFI/BOOT/BOOTX64.EFI".into(),
                    source: FileSource::Artifact(app),
                }]
            }
        };
        let fat = request.artifact_name("efi.img");
        filesystems::make_fat(
            root,
            &fat,
            &FatOptions {
                label: Some("EFIBOOT".into()),
                volume_id: None,
                size_bytes: None,
            },
            &esp_files,
        )?;
        files.push(ImageFile {
            path: "boot/efi.img".into(),
            source: FileSource::Artifact(fat.clone()),
        });
        efi_boot = Some("boot/efi.img".to_string());
        intermediates.push(fat);
    }
    // GRUB's hybrid MBR boot code: from a USB stick with BIOS too.
    let hybrid = if boot.firmware.bios {
        [
            "usr/lib/grub/i386-pc/boot_hybrid.img",
            "usr/lib/grub2/i386-pc/boot_hybrid.img",
        ]
        .into_iter()
        .find(|p| root.stat(p).is_ok())
        .map(|p| FileSource::RootFile(p.to_string()))
    } else {
        None
    };

    log::info(&format!("making the ISO image {file_name}"));
    let iso = iso::make(
        root,
        file_name,
        &IsoOptions {
            volume_id: boot.volume_id.clone(),
            bios_boot,
            efi_boot,
            hybrid_mbr: hybrid,
        },
        &files,
    )?;
    for name in &intermediates {
        artifacts::remove(name)?;
    }
    Ok(iso)
}
