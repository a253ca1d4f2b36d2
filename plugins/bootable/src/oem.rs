//! `oem`: a bootable disk. The root becomes one filesystem with a UUID
//! chosen first, so `/etc/fstab` and GRUB's configuration name it before it
//! exists; the initrd is made inside the root by the image's own tool; the
//! host lays the disk out partition by partition, then writes it: the root
//! filesystem straight into its partition, the EFI system partition holding
//! GRUB's EFI application, and GRUB's BIOS boot code in its MBR and BIOS
//! boot partition.
//!
//! Layouts (KIWI's partition names):
//! - `firmware="efi"` or `"uefi"` (x86_64): GPT with `p.legacy` (BIOS
//!   boot, 1 MiB), `p.UEFI` (ESP, `efipartsize`, 64 MiB by default) and
//!   `p.lxroot`: boots with BIOS and with EFI firmware. Other architectures,
//!   and `eficsm="false"`: no BIOS boot partition, EFI alone.
//! - `firmware="uefi"`: as `efi`, with the image's own signed chain on the
//!   ESP for Secure Boot (shim, the distribution's signed GRUB, its signed
//!   kernel; see `secure_boot.rs`).
//! - `firmware="bios"`: MBR with one active root partition; GRUB's core
//!   image in the gap after the MBR.
//!
//! - `<systemdisk>` (not btrfs unless `preferlvm`): the root partition
//!   becomes `p.lxlvm`, an LVM physical volume whose group (`systemVG`)
//!   holds `LVRoot`, a volume per `<volume>` and, with `oem-swap`, the
//!   swap volume; fstab and `root=` name them by device, as KIWI does
//!   (`volumes.rs`).
//!
//! With `<oem-resize>` (on unless `false`), the root partition and
//! filesystem grow to the disk at first boot: `systemd-repart` grows the
//! partition (`etc/repart.d/50-builder-root.conf`), `x-systemd.growfs` in
//! fstab the filesystem; on LVM (GPT disks), systemd-repart grows the LVM
//! partition and the host's unit (`grow-volume-at-boot`) the physical
//! volume, the full-size volume and its filesystem; `<oem-systemsize>`
//! caps the growth (`SizeMaxBytes=`), or without resizing is the root
//! partition's size. An encrypted root does not grow yet (a warning says
//! so). `format=` converts the raw disk (qcow2, vmdk,
//! vhdx, vhd, vhd-fixed) or packs it as KIWI does for a cloud or hypervisor
//! (`gce`: `<name>.<arch>-<version>.tar.gz`; `ova`: `.ova`; `vagrant` with
//! the type's `<vagrantconfig>`: `.vagrant.libvirt.box` or
//! `.vagrant.virtualbox.box`); the raw disk is then not kept.

use builder_sdk::boot::{self, GrubPlatform, InitrdOptions};
use builder_sdk::disks::{
    self, Disk, DiskFormat, DiskPackaging, OvfSettings, Partition, PartitionContent, PartitionIds,
    PartitionKind, PartitionTable, SwapOptions, TreeFilesystem, VagrantProvider, VagrantSettings,
    VmFirmware,
};
use builder_sdk::filesystems::{self, FatOptions};
use builder_sdk::prelude::*;
use builder_sdk::{FileSource, FilesystemOptions, ImageFile, TreePart};

use builder_sdk::container;

use crate::grub::{self, Locate, Menu};
use crate::install;
use crate::layout::{self, Extra, Persistency, MIB};
use crate::luks;
use crate::secure_boot;
use crate::theme;
use crate::volumes;

/// Options of the `oem` type alone: KIWI's attributes of `<type>` and
/// `<oemconfig>`.
pub fn options() -> Vec<OptionSpec> {
    vec![
        OptionSpec::choice(
            "filesystem",
            &["ext4", "ext3", "ext2", "xfs", "btrfs"],
            "ext4",
            "The root filesystem",
        ),
        OptionSpec::choice(
            "format",
            FORMATS,
            "raw",
            "Disk format (KIWI's `format`; raw when unset)",
        ),
        OptionSpec::text(
            "gcelicense",
            None,
            "License of a `gce` disk, named in its manifest.json",
        ),
        OptionSpec::integer(
            "efipartsize",
            Some(64),
            "Size of the EFI system partition, MiB",
        ),
        OptionSpec::choice(
            "devicepersistency",
            &["by-uuid", "by-label", "by-partuuid"],
            "by-uuid",
            "How fstab and the kernel's root= name filesystems: UUID, LABEL or PARTUUID",
        ),
        OptionSpec::text("rootfs_label", Some("ROOT"), "Label of the root filesystem"),
        OptionSpec::text("fscreateoptions", None, "Extra options for the mkfs tool"),
        OptionSpec::boolean(
            "oem-resize",
            true,
            "Grow the root partition and filesystem to the disk at first boot",
        ),
        OptionSpec::integer(
            "oem-systemsize",
            None,
            "MiB the root partition grows to at first boot (oem-resize), or is made \
             (without it); by default all of the disk",
        ),
        OptionSpec::boolean(
            "bootpartition",
            false,
            "A separate /boot partition (`p.lxboot`, label BOOT)",
        ),
        OptionSpec::text(
            "bootfilesystem",
            None,
            "Filesystem of the /boot partition: ext4, ext3, ext2 or xfs (the root's when unset)",
        ),
        OptionSpec::integer(
            "bootpartsize",
            Some(DEFAULT_BOOT_MIB as i64),
            "Size of the /boot partition, MiB",
        ),
        OptionSpec::boolean(
            "oem-swap",
            false,
            "A swap partition (`p.swap`, label SWAP) before the root",
        ),
        OptionSpec::integer(
            "oem-swapsize",
            Some(DEFAULT_SWAP_MIB as i64),
            "Size of the swap partition, MiB",
        ),
        OptionSpec::text(
            "formatoptions",
            None,
            "qemu-img options of the disk format: force_size (vhd, vhd-fixed: a size of whole MiB, which builder always keeps)",
        ),
        OptionSpec::text(
            "luks",
            None,
            "Encrypt the root partition (LUKS, aes-xts-plain64) with this passphrase",
        ),
        OptionSpec::choice(
            "luks_version",
            &["luks", "luks1", "luks2"],
            "luks",
            "The LUKS version: luks (cryptsetup's default, LUKS2), luks1 or luks2",
        ),
        OptionSpec::choice(
            "luks_pbkdf",
            &["pbkdf2", "argon2i", "argon2id"],
            "argon2id",
            "The key slots' key derivation (GRUB opens LUKS2 only with pbkdf2)",
        ),
        OptionSpec::boolean(
            "luks_randomize",
            true,
            "Fill the container with random data first: builder encrypts the whole payload, free space included, so it always is",
        ),
        OptionSpec::text(
            "luksOS",
            None,
            "KIWI's per-distribution cryptsetup presets: refused, give <luksformat> options",
        ),
        OptionSpec::text(
            "oem-swapname",
            Some("LVSwap"),
            "Name of the swap volume when <systemdisk> puts the root on LVM",
        ),
        OptionSpec::text(
            "spare_part",
            None,
            "A spare partition (`p.spare`, label SPARE) of this size (500, 500M, 2G) before the root",
        ),
        OptionSpec::text(
            "spare_part_mountpoint",
            None,
            "The directory of the root the spare partition holds and is mounted at",
        ),
        OptionSpec::text(
            "spare_part_fs",
            None,
            "The spare partition's filesystem: ext4, ext3, ext2, xfs or btrfs; unset: none",
        ),
        OptionSpec::boolean(
            "spare_part_is_last",
            false,
            "The spare partition after the root (which then does not grow at boot)",
        ),
    ]
}

/// The formats made: KIWI's `format=` values (raw when unset).
const FORMATS: &[&str] = &[
    "raw",
    "qcow2",
    "vmdk",
    "vhdx",
    "vhd",
    "vhd-fixed",
    "gce",
    "ova",
    "vagrant",
    "oci:raw",
    "oci:qcow2",
    "oci:vmdk",
    "oci:vhdx",
    "oci:vhd",
    "oci:vhd-fixed",
    "docker:raw",
    "docker:qcow2",
    "docker:vmdk",
    "docker:vhdx",
    "docker:vhd",
    "docker:vhd-fixed",
];

/// What becomes of the raw disk.
enum Output {
    /// It is the artifact.
    Raw,
    /// Converted, with this file name extension.
    Convert(DiskFormat, &'static str),
    /// Packed for a cloud or hypervisor (`gce`, `ova`, `vagrant`) as the
    /// named artifact.
    Pack(DiskPackaging, String),
    /// In a container image (`oci:<format>`, `docker:<format>`, as KIWI
    /// 10.3 makes them): the disk, raw or converted, as `/disk/<file>`.
    Container(container::Format, Option<(DiskFormat, &'static str)>),
}

fn disk_format(format: &str, request: &BuildRequest, firmware: &str) -> Result<Output, Error> {
    // KIWI hands these to qemu-img; the one a VHD takes, builder always applies.
    if let Some(options) = request.options.as_slice().value("formatoptions") {
        for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if !(option == "force_size" && matches!(format, "vhd" | "vhd-fixed")) {
                return Err(Error::invalid_option(
                    "formatoptions",
                    format!(
                        "`{option}` for format `{format}`: builder passes qemu-img only \
                         force_size, for vhd and vhd-fixed (which it always applies)"
                    ),
                ));
            }
        }
    }
    Ok(match format {
        "" | "raw" => Output::Raw,
        "qcow2" => Output::Convert(DiskFormat::Qcow2, "qcow2"),
        "vmdk" => Output::Convert(DiskFormat::Vmdk, "vmdk"),
        "vhdx" => Output::Convert(DiskFormat::Vhdx, "vhdx"),
        "vhd" => Output::Convert(DiskFormat::Vhd, "vhd"),
        "vhd-fixed" => Output::Convert(DiskFormat::VhdFixed, "vhdfixed"),
        "gce" | "ova" | "vagrant" => {
            let (packaging, name) = packaging(format, request, firmware)?;
            Output::Pack(packaging, name)
        }
        wrapped if wrapped.contains(':') => {
            let (outer, inner) = wrapped.split_once(':').unwrap_or_default();
            let container = container::Format::from_name(outer);
            match (container, disk_format(inner, request, firmware)?) {
                (Some(container), Output::Raw) => Output::Container(container, None),
                (Some(container), Output::Convert(format, extension)) => {
                    Output::Container(container, Some((format, extension)))
                }
                _ => {
                    return Err(Error::invalid_option(
                        "format",
                        format!(
                            "builder wraps raw, qcow2, vmdk, vhdx, vhd and vhd-fixed disks in \
                             oci and docker images, not `{wrapped}`"
                        ),
                    ))
                }
            }
        }
        other => {
            return Err(Error::invalid_option(
                "format",
                format!(
                    "builder does not make `{other}` disks yet (KIWI does); it makes {}",
                    FORMATS.join(", ")
                ),
            ))
        }
    })
}

/// How `format` packs the disk, with the artifact's name.
fn packaging(
    format: &str,
    request: &BuildRequest,
    firmware: &str,
) -> Result<(DiskPackaging, String), Error> {
    let options = request.options.as_slice();
    Ok(match format {
        "gce" => (
            DiskPackaging::Gce(options.value("gcelicense").map(str::to_string)),
            request.artifact_name("tar.gz"),
        ),
        "ova" => (
            DiskPackaging::Ova(OvfSettings {
                name: request.image.name.clone(),
                firmware: if firmware == "bios" {
                    VmFirmware::Bios
                } else {
                    VmFirmware::Efi
                },
                // As KIWI: Secure Boot on for `uefi`, whose disk carries
                // the image's signed chain.
                secure_boot: firmware == "uefi",
            }),
            request.artifact_name("ova"),
        ),
        _ => {
            let Some(vagrant) = request.settings().element("vagrantconfig") else {
                return Err(Error::invalid_option(
                    "format",
                    "`vagrant` needs a <vagrantconfig provider=\"libvirt|virtualbox\"> in the <type>, \
                     as KIWI requires",
                ));
            };
            let provider_name = vagrant.attr("provider").unwrap_or("");
            let provider = match provider_name {
                "libvirt" => VagrantProvider::Libvirt,
                "virtualbox" => VagrantProvider::Virtualbox,
                other => {
                    return Err(Error::other(format!(
                        "<vagrantconfig provider=\"{other}\">: builder makes boxes for the \
                         libvirt and virtualbox providers"
                    )))
                }
            };
            // The host reads the file `embedded_vagrantfile` names.
            let vagrantfile = match vagrant.attr("embedded_vagrantfile") {
                Some(name) => Some(
                    String::from_utf8(
                        request
                            .file(name)
                            .ok_or_else(|| {
                                Error::other(format!(
                                    "<vagrantconfig embedded_vagrantfile=\"{name}\">: the host \
                                     passed no such file"
                                ))
                            })?
                            .to_vec(),
                    )
                    .map_err(|_| {
                        Error::other(format!(
                            "<vagrantconfig embedded_vagrantfile=\"{name}\">: not UTF-8 text"
                        ))
                    })?,
                ),
                None => None,
            };
            let virtual_size = vagrant
                .attr("virtualsize")
                .and_then(|gb| gb.trim().parse::<u64>().ok())
                .filter(|gb| *gb > 0);
            (
                DiskPackaging::Vagrant(VagrantSettings {
                    provider,
                    name: request.image.name.clone(),
                    // KIWI's default.
                    virtual_size_gb: virtual_size.unwrap_or(42),
                    vagrantfile,
                    guest_additions: vagrant.flag("virtualbox_guest_additions_present"),
                }),
                request.artifact_name(&format!("vagrant.{provider_name}.box")),
            )
        }
    })
}

/// KIWI's default size of a `/boot` partition, MiB.
const DEFAULT_BOOT_MIB: u64 = 300;
/// KIWI's default swap size, MiB.
const DEFAULT_SWAP_MIB: u64 = 128;

/// The label of a separate `/boot` filesystem, as KIWI names it.
const BOOT_LABEL: &str = "BOOT";
/// The label of the ESP, as KIWI names it.
const ESP_LABEL: &str = "EFI";
/// The label of the swap area, as KIWI names it.
const SWAP_LABEL: &str = "SWAP";

/// KIWI `oem` settings this plugin does not carry out (yet): each set one
/// is named in a warning instead of being dropped silently.
const NOT_MADE: &[(&str, &str)] = &[
    ("installpxe", "a PXE installation tarball"),
    ("btrfs_root_is_snapshot", "a btrfs snapshot root"),
];

/// Builds the disk.
pub fn build(root: &RootTree, request: &BuildRequest) -> Result<Vec<Artifact>, Error> {
    let options = request.options.as_slice();
    let firmware = grub::firmware(options);
    let fs_name = options.value("filesystem").unwrap_or("ext4");
    // Refused before anything is made.
    let format = disk_format(options.value("format").unwrap_or(""), request, firmware)?;
    let x86 = matches!(request.image.arch.as_str(), "x86_64" | "amd64");
    let efi = firmware != "bios";
    let bios = x86 && grub::boots_with_bios(options, firmware)?;
    if !x86 && !efi {
        return Err(Error::invalid_option(
            "firmware",
            format!("`bios` firmware needs x86_64, not {}", request.image.arch),
        ));
    }
    // Secure Boot: the image's own signed chain, found before anything is made.
    let signed_chain = if firmware == "uefi" {
        Some(secure_boot::Chain::find(root, &request.image.arch)?)
    } else {
        None
    };
    let efi_platform = match request.image.arch.as_str() {
        "x86_64" | "amd64" => GrubPlatform::X8664Efi,
        "aarch64" | "arm64" => GrubPlatform::Arm64Efi,
        other => {
            return Err(Error::other(format!(
                "no EFI boot for architecture {other} (x86_64, aarch64)"
            )))
        }
    };
    let efi_binary = match efi_platform {
        GrubPlatform::Arm64Efi => "BOOTAA64.EFI",
        _ => "BOOTX64.EFI",
    };
    for (attribute, what) in NOT_MADE {
        if let Some(value) = options.value(attribute) {
            if !matches!(value, "false" | "0" | "") {
                log::warn(&format!(
                    "{attribute}=\"{value}\": {what} is not made by this plugin; ignored"
                ));
            }
        }
    }
    grub::check_initrd_system(root, options)?;
    let install_plan = install::plan(root, request)?;
    let resize = options.flag("oem-resize")?;
    // KIWI's `oem-systemsize`: the most the root partition grows to.
    let system_mib = options
        .integer("oem-systemsize")?
        .filter(|m| *m > 0)
        .map(|m| m as u64);
    let label = options.value("rootfs_label").unwrap_or("ROOT").to_string();
    let persistency = Persistency::from_option(options.value("devicepersistency"));
    let by_label = persistency == Persistency::Label;
    // The ESP is a FAT image made here; its volume id is ours.
    let esp_id = grub::uuid(request, "esp")[..8].to_uppercase();
    let esp_uuid = format!("{}-{}", &esp_id[..4], &esp_id[4..]);
    let esp_mib = options
        .integer("efipartsize")?
        .filter(|m| *m > 0)
        .unwrap_or(64) as u64;
    let mut menu = Menu::new(request, "")?;
    // A separate /boot (KIWI's `bootpartition`), and swap (`oem-swap`).
    let boot_partition = options.flag("bootpartition")?;
    let boot_fs_name = match options.value("bootfilesystem") {
        None => fs_name,
        Some(name @ ("ext2" | "ext3" | "ext4" | "xfs")) => name,
        Some(other) => {
            return Err(Error::invalid_option(
                "bootfilesystem",
                format!(
                    "builder makes /boot partitions of ext4, ext3, ext2 or xfs, not `{other}` \
                     (KIWI also takes fat16 and fat32; builder does not make those yet)"
                ),
            ))
        }
    };
    let boot_mib = options
        .integer("bootpartsize")?
        .filter(|m| *m > 0)
        .map_or(DEFAULT_BOOT_MIB, |m| m as u64);
    let swap_mib = if options.flag("oem-swap")? {
        Some(
            options
                .integer("oem-swapsize")?
                .filter(|m| *m > 0)
                .map_or(DEFAULT_SWAP_MIB, |m| m as u64),
        )
    } else {
        None
    };
    // `<bootloader-theme>`: found before anything is made, copied next to grub.cfg.
    let theme = match options.value("bootloader-theme") {
        Some(name) => Some(theme::find(root, name.trim())?),
        None => None,
    };
    if let Some(theme) = &theme {
        menu.set_theme(
            theme,
            if boot_partition {
                "/grub"
            } else {
                "/boot/grub"
            },
        );
    }
    // `luks`: the root partition encrypted; GRUB opens it when /boot is inside.
    let luks = luks::read(options, request.settings(), !boot_partition)?;
    // `<systemdisk>`: the root and its volumes on LVM, swap a volume too.
    let system = volumes::read(
        request.settings(),
        &request.image.arch,
        fs_name,
        &label,
        swap_mib.map(|mib| (options.value("oem-swapname").unwrap_or("LVSwap"), mib)),
    )?;
    let swap_mib = swap_mib.filter(|_| system.is_none());
    // `<partitions>` and `spare_part`: partitions holding directories of
    // the root, or nothing.
    let custom = layout::custom(request)?;
    let spare = layout::spare(options)?;
    let spare_is_last = spare.is_some() && options.flag("spare_part_is_last")?;
    let table = if firmware == "bios" {
        PartitionTable::Msdos
    } else {
        PartitionTable::Gpt
    };
    // Which directory of the root each filesystem holds ("" the root).
    let mut parts: Vec<&str> = vec![""];
    if boot_partition {
        parts.push("boot");
    }
    if let Some(system) = &system {
        parts.extend(system.paths());
    }
    for extra in custom.iter().chain(spare.iter()) {
        if let (Some(mountpoint), Some(_)) = (&extra.mountpoint, &extra.filesystem) {
            if mountpoint == "boot" || mountpoint.starts_with("boot/") {
                return Err(Error::other(format!(
                    "partition `{}`: builder keeps /boot on the root or its own boot \
                     partition, not /{mountpoint}",
                    extra.name
                )));
            }
            parts.push(mountpoint);
        }
    }
    layout::check_distinct(&parts)?;
    let tree_part = |path: &str| TreePart {
        path: path.to_string(),
        mount_points: layout::mount_points_below(path, &parts),
    };
    // The root grows at boot only when it is the disk's last partition.
    let resize = if resize && spare_is_last {
        log::info("oem-resize: the spare partition comes last, so the root does not grow at boot");
        false
    } else if resize && luks.is_some() {
        log::warn(
            "oem-resize: builder does not grow an encrypted root at boot yet; the disk keeps its size",
        );
        false
    } else if resize && system.is_some() && table != PartitionTable::Gpt {
        log::warn(
            "oem-resize: systemd-repart grows GPT partitions only, so the LVM partition of this \
             MBR disk keeps its size",
        );
        false
    } else {
        resize
    };

    // 1. The disk's size, when `<size>` gives one.
    let extras_mib: u64 = custom.iter().chain(spare.iter()).map(|e| e.size_mib).sum();
    // 1 MiB before the first partition, 1 MiB for GPT's backup at the end.
    let overhead = 2 * MIB
        + if bios && efi { MIB } else { 0 }
        + if efi { esp_mib * MIB } else { 0 }
        + if boot_partition { boot_mib * MIB } else { 0 }
        + (swap_mib.unwrap_or(0) + extras_mib) * MIB;
    let (disk_size, extra) = match &request.size {
        Some(size) if size.additive => (None, size.bytes),
        Some(size) => {
            if size.bytes <= overhead + 64 * MIB {
                return Err(Error::other(format!(
                    "<size> of {} MiB leaves no room for the root partition",
                    size.bytes / MIB
                )));
            }
            (Some(size.bytes), 0)
        }
        None => (None, 0),
    };
    // With the spare partition last on a disk of a given size, the root
    // takes what the others leave, as with KIWI.
    // Without resizing at boot, `oem-systemsize` is the root's size now.
    let root_size = match (spare_is_last, disk_size) {
        (true, Some(total)) => Some(total - overhead),
        _ if !resize => system_mib.map(|mib| mib * MIB),
        _ => None,
    };

    // 2. The partitions, in KIWI's order; each gets its ids now, so fstab,
    // GRUB and the initrd can name them. The ESP and GRUB's images are made
    // once those are written, before the disk is.
    let raw = request.artifact_name("raw");
    let disk = disks::create(&raw, table, disk_size)?;
    if bios && efi {
        disk.add_partition(&Partition {
            name: "p.legacy".into(),
            kind: PartitionKind::BiosBoot,
            size_bytes: Some(MIB),
            content: PartitionContent::Empty,
            encryption: None,
            bootable: false,
        })?;
    }
    let esp = request.artifact_name("esp.img");
    let esp_ids = if efi {
        Some(disk.add_partition(&Partition {
            name: "p.UEFI".into(),
            kind: PartitionKind::Esp,
            size_bytes: Some(esp_mib * MIB),
            content: PartitionContent::Image(esp.clone()),
            encryption: None,
            bootable: false,
        })?)
    } else {
        None
    };
    let boot_ids = if boot_partition {
        Some(disk.add_partition(&Partition {
            name: "p.lxboot".into(),
            // The host makes it of the root's /boot, which the root's
            // filesystem then holds empty.
            kind: PartitionKind::Xbootldr,
            size_bytes: Some(boot_mib * MIB),
            content: PartitionContent::Filesystem(TreeFilesystem {
                part: tree_part("boot"),
                options: layout::filesystem(boot_fs_name, BOOT_LABEL),
            }),
            encryption: None,
            bootable: false,
        })?)
    } else {
        None
    };
    let swap_ids = match swap_mib {
        Some(mib) => Some(disk.add_partition(&Partition {
            name: "p.swap".into(),
            kind: PartitionKind::Swap,
            size_bytes: Some(mib * MIB),
            content: PartitionContent::Swap(SwapOptions {
                label: Some(SWAP_LABEL.into()),
                uuid: None,
            }),
            encryption: None,
            bootable: false,
        })?),
        None => None,
    };
    let add_extra = |extra: &Extra| -> Result<PartitionIds, Error> {
        let content = match &extra.filesystem {
            None => PartitionContent::Empty,
            Some(fs) => {
                let options = layout::filesystem(fs, &extra.label);
                match &extra.mountpoint {
                    Some(path) => PartitionContent::Filesystem(TreeFilesystem {
                        part: tree_part(path),
                        options,
                    }),
                    // No mount point: made empty, as KIWI makes it.
                    None => PartitionContent::Blank(options),
                }
            }
        };
        let ids = disk.add_partition(&Partition {
            name: extra.gpt_name.clone(),
            kind: PartitionKind::Linux,
            size_bytes: Some(extra.size_mib * MIB),
            content,
            encryption: None,
            bootable: false,
        })?;
        if let Some(number) = extra.number.filter(|n| *n != ids.number) {
            return Err(Error::other(format!(
                "<partition name=\"{}\" part_id=\"{number}\">: it is partition {} of this \
                 layout; builder numbers partitions in KIWI's order",
                extra.name, ids.number
            )));
        }
        Ok(ids)
    };
    let mut extra_ids = Vec::new();
    for extra in &custom {
        extra_ids.push((extra, add_extra(extra)?));
    }
    if let Some(spare) = spare.as_ref().filter(|_| !spare_is_last) {
        extra_ids.push((spare, add_extra(spare)?));
    }
    // The root filesystem is made straight into its partition: the rest of
    // a sized disk, else the tree with headroom (plus an additive size).
    // With `<systemdisk>`, the partition is LVM's and the root a volume.
    let root_options = FilesystemOptions {
        extra_bytes: extra,
        create_options: options
            .value("fscreateoptions")
            .map(|o| o.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        ..layout::filesystem(fs_name, &label)
    };
    let (name, kind, content) = match &system {
        None => (
            "p.lxroot",
            PartitionKind::Root,
            PartitionContent::Filesystem(TreeFilesystem {
                part: tree_part(""),
                options: root_options,
            }),
        ),
        Some(system) => (
            "p.lxlvm",
            PartitionKind::Lvm,
            PartitionContent::VolumeGroup(system.content(fs_name, &root_options, &tree_part)),
        ),
    };
    let root_ids = disk.add_partition(&Partition {
        name: name.into(),
        kind,
        size_bytes: root_size,
        content,
        encryption: luks.as_ref().map(|l| l.encryption.clone()),
        bootable: table == PartitionTable::Msdos,
    })?;
    let luks_uuid = match &luks {
        Some(_) => Some(
            root_ids
                .luks_uuid
                .clone()
                .ok_or_else(|| Error::other("the host gave the LUKS container no UUID"))?,
        ),
        None => None,
    };
    if let Some(spare) = spare.as_ref().filter(|_| spare_is_last) {
        extra_ids.push((spare, add_extra(spare)?));
    }
    let root_uuid = match &system {
        None => root_ids.content_uuid.clone(),
        Some(system) => root_ids
            .volume_uuids
            .get(system.root_index())
            .cloned()
            .flatten(),
    }
    .ok_or_else(|| Error::other("the host gave the root filesystem no UUID"))?;
    let boot_uuid = boot_ids.as_ref().and_then(|ids| ids.content_uuid.clone());

    // 3. The boot files, naming what the host will make, before the initrd
    // reads them.
    // On LVM, the root is named by its device, as KIWI names it.
    let root_spec = match (&system, &luks) {
        (Some(system), _) => system.root_device(),
        // The partition's UUID is the container's, not the root's.
        (None, Some(_)) if persistency == Persistency::PartUuid => {
            format!("/dev/mapper/{}", luks::MAPPED)
        }
        (None, _) => persistency.spec(&root_ids, &label, None),
    };
    let mut fstab = String::from("# Written by builder.\n");
    // On LVM, lvextend grows the filesystem with its volume.
    let root_options = if resize && system.is_none() {
        "defaults,x-systemd.growfs"
    } else {
        "defaults"
    };
    fstab.push_str(&format!("{root_spec} / {fs_name} {root_options} 0 1\n"));
    if let Some(ids) = &boot_ids {
        fstab.push_str(&format!(
            "{} /boot {boot_fs_name} defaults 0 2\n",
            persistency.spec(ids, BOOT_LABEL, None)
        ));
    }
    if let Some(ids) = &esp_ids {
        fstab.push_str(&format!(
            "{} /boot/efi vfat umask=0077,nofail 0 2\n",
            persistency.spec(ids, ESP_LABEL, Some(&esp_uuid))
        ));
    }
    // KIWI's order: the spare partition, swap, then `<partitions>` by name.
    let mut extra_lines: Vec<(&Extra, String)> = extra_ids
        .iter()
        .filter_map(|(extra, ids)| extra.fstab_line(persistency, ids).map(|l| (*extra, l)))
        .collect();
    // `spare` is reserved: no custom partition has that name.
    if let Some(pos) = extra_lines.iter().position(|(e, _)| e.name == "spare") {
        fstab.push_str(&extra_lines.remove(pos).1);
    }
    if let Some(ids) = &swap_ids {
        fstab.push_str(&format!(
            "{} swap swap defaults 0 0\n",
            persistency.spec(ids, SWAP_LABEL, None)
        ));
    }
    extra_lines.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (_, line) in extra_lines {
        fstab.push_str(&line);
    }
    if let Some(system) = &system {
        fstab.push_str(&system.fstab_lines(fs_name));
    }
    fstab.push_str(&kept_fstab_lines(root, &parts));
    boot::write_file(root, "etc/fstab", fstab.as_bytes(), 0o644)?;
    if let (Some(luks), Some(uuid)) = (&luks, &luks_uuid) {
        if let Some(key) = &luks.key_file {
            boot::write_file(root, luks::KEY_FILE, key, 0o600)?;
        }
        boot::write_file(root, "etc/crypttab", luks.crypttab(uuid).as_bytes(), 0o600)?;
    }
    if resize {
        if root.stat("usr/bin/systemd-repart").is_ok() || root.stat("bin/systemd-repart").is_ok() {
            // systemd-repart grows the last partition of its type; on LVM,
            // the physical volume's, then the host's unit the volume.
            let mut conf = match &system {
                None => "# Written by builder: grow the root partition to the disk at boot.\n[Partition]\nType=root\n",
                Some(_) => "# Written by builder: grow the LVM partition to the disk at boot.\n[Partition]\nType=e6d6d379-f507-44c2-a23c-238f2a3df928\n",
            }
            .to_string();
            if let Some(mib) = system_mib {
                // oem-systemsize: no larger (a partition already larger
                // than that keeps its size, as KIWI leaves it).
                conf += &format!("SizeMaxBytes={mib}M\n");
            }
            boot::write_file(
                root,
                "etc/repart.d/50-builder-root.conf",
                conf.as_bytes(),
                0o644,
            )?;
            if let Some(system) = &system {
                boot::grow_volume_at_boot(root, &root_ids.uuid, &system.group, system.growing())?;
            }
        } else {
            log::warn(
                "oem-resize: the image has no systemd-repart, so the root partition will not grow",
            );
        }
    }
    if efi {
        // The mount point of the ESP.
        boot::write_file(root, "boot/efi/.builder-esp", b"", 0o644)?;
    }

    // 4. The initrd, inside the root, with the image's own tool.
    log::info("making the initrd with the image's own tool");
    let mut initrd_filesystems = vec![fs_name.to_string()];
    for extra in custom.iter().chain(spare.iter()) {
        if let Some(fs) = &extra.filesystem {
            let fs = layout::fstab_type(fs).to_string();
            if !initrd_filesystems.contains(&fs) {
                initrd_filesystems.push(fs);
            }
        }
    }
    let kernel = grub::newest(boot::make_initrd(
        root,
        &InitrdOptions {
            filesystems: initrd_filesystems,
            luks: luks.is_some(),
            lvm: system.is_some(),
        },
    )?)?;
    log::info(&format!("kernel {}", kernel.version));
    if let Some(chain) = &signed_chain {
        secure_boot::check_kernel_signed(root, &kernel.image)?;
        log::info(&format!(
            "Secure Boot: /{} as EFI/BOOT/{efi_binary}, then /{}, then the signed kernel",
            chain.shim, chain.grub
        ));
    }

    // 5. GRUB's menu on the root filesystem, shared by BIOS and EFI.
    // GRUB reads the filesystem holding /boot: the root's, or its own.
    let locate = match (&boot_uuid, by_label) {
        (Some(_), true) => Locate::Label(BOOT_LABEL),
        (Some(uuid), false) => Locate::Uuid(uuid),
        (None, true) => Locate::Label(&label),
        (None, false) => Locate::Uuid(&root_uuid),
    };
    let on_boot = |path: &str| -> String {
        if boot_partition {
            path.strip_prefix("boot/").unwrap_or(path).to_string()
        } else {
            path.to_string()
        }
    };
    let cmdline = match &system {
        None => format!("root={root_spec} ro"),
        // dracut activates only the group named; initramfs-tools the root's.
        Some(system) => format!("root={root_spec} rd.lvm.vg={} ro", system.group),
    };
    let cfg = menu.config(
        &locate,
        &on_boot(&kernel.image),
        &on_boot(&kernel.initrd),
        &cmdline,
    );
    boot::write_file(root, "boot/grub/grub.cfg", cfg.as_bytes(), 0o644)?;
    for (below, source) in theme.iter().flat_map(|t| &t.files) {
        boot::write_file(
            root,
            &format!("boot/grub/{below}"),
            &root.read_file(source)?,
            0o644,
        )?;
    }
    let mut early = grub::early_config(&locate, boot_partition);
    // /boot inside the container: GRUB opens it first, asking for the passphrase.
    let grub_unlocks = luks
        .as_ref()
        .zip(luks_uuid.as_ref())
        .filter(|_| !boot_partition);
    if let Some((_, uuid)) = grub_unlocks {
        early = grub::unlock_config(&menu, uuid) + &early;
    }

    // 6. GRUB for EFI on the ESP, GRUB's BIOS core image.
    // GRUB reads /boot from the root's logical volume unless it has its own.
    let mut fs_modules: Vec<&str> = match (&system, boot_partition) {
        (Some(_), false) => vec![fs_name, boot_fs_name, "lvm"],
        _ => vec![fs_name, boot_fs_name],
    };
    let luks_modules = match grub_unlocks {
        Some((luks, _)) => grub::luks_modules(luks.version_name()),
        None => Vec::new(),
    };
    fs_modules.extend(luks_modules.iter().map(String::as_str));
    if theme.is_some() {
        fs_modules.extend(theme::MODULES);
    }
    let mut intermediates = Vec::new();
    if efi {
        let files = match &signed_chain {
            // The distribution's signed programs, read from the root.
            Some(chain) => chain.esp_files(efi_binary, &early),
            // A GRUB image of the root's own modules, with `early` built in.
            None => {
                let app = request.artifact_name("efi");
                boot::make_grub_image(
                    root,
                    &app,
                    efi_platform,
                    &early,
                    &grub::modules(false, &fs_modules),
                )?;
                intermediates.push(app.clone());
                vec![ImageFile {
                    path: format!("EFI/BOOT/{efi_binary}"),
                    source: FileSource::Artifact(app),
                }]
            }
        };
        filesystems::make_fat(
            root,
            &esp,
            &FatOptions {
                label: Some(ESP_LABEL.into()),
                volume_id: Some(esp_id.clone()),
                size_bytes: Some(esp_mib * MIB),
            },
            &files,
        )?;
        intermediates.push(esp.clone());
    }
    if bios {
        let core = request.artifact_name("core.img");
        boot::make_grub_image(
            root,
            &core,
            GrubPlatform::I386Pc,
            &early,
            &grub::modules(true, &fs_modules),
        )?;
        intermediates.push(core.clone());
        disk.install_bios_boot(&core)?;
    }

    // 7. The disk: each filesystem made from the root as it is now.
    log::info(&format!(
        "writing the disk image with its {fs_name} root filesystem"
    ));
    let disk = Disk::finish(disk, root)?;
    for name in &intermediates {
        artifacts::remove(name)?;
    }

    // 8. KIWI's installiso: the raw disk onto an installation ISO.
    let install_iso = match &install_plan {
        Some(plan) => Some(install::make_iso(
            root,
            request,
            plan,
            &disk.artifact,
            crate::iso::Firmware {
                bios,
                efi,
                signed_chain: signed_chain.as_ref(),
            },
        )?),
        None => None,
    };

    // 9. The format asked for.
    let mut made = match format {
        Output::Raw => vec![disk.artifact],
        Output::Convert(format, extension) => {
            log::info(&format!("converting the disk to {extension}"));
            let converted = disks::convert(&raw, &request.artifact_name(extension), format)?;
            artifacts::remove(&raw)?;
            vec![converted]
        }
        Output::Pack(packaging, name) => {
            log::info(&format!("packing the disk as {name}"));
            let packed = disks::pack(&raw, &name, &packaging)?;
            artifacts::remove(&raw)?;
            vec![packed]
        }
        Output::Container(format, base) => {
            let (file, disk) = match base {
                None => (raw.clone(), disk.artifact),
                Some((base, extension)) => {
                    log::info(&format!("converting the disk to {extension}"));
                    let name = request.artifact_name(extension);
                    let converted = disks::convert(&raw, &name, base)?;
                    artifacts::remove(&raw)?;
                    (name, converted)
                }
            };
            log::info(&format!(
                "wrapping {file} in a container image as /disk/{file}"
            ));
            let config = request
                .settings()
                .element("containerconfig")
                .map(container::ContainerConfig::from_element);
            let settings = container::Settings::new(config.as_ref())?;
            let layer_name = request.artifact_name("disk.layer.tar");
            let layer = disk_layer(&layer_name, &file, disk.size, request.source_date_epoch);
            // The disk is in the layer (or the layer failed): it goes either way.
            artifacts::remove(&file)?;
            let image =
                container::write(request, format, &settings, &layer_name, &layer?, "the disk")?;
            vec![image]
        }
    };
    made.extend(install_iso);
    Ok(made)
}

/// The layer of a disk in a container image: `disk/` and the artifact
/// `file` (`size` bytes) in it, as KubeVirt's container disks have it;
/// uncompressed, owned by root, every time `mtime`.
fn disk_layer(name: &str, file: &str, size: u64, mtime: Option<i64>) -> Result<Artifact, Error> {
    use builder_sdk::archive::{io_error, padding, HostSink};
    use tar::{EntryType, Header};
    let fail = |e: std::io::Error| io_error(name, e);
    let writer = artifacts::create(name, Compression::None)?;
    let mut archive = tar::Builder::new(HostSink::new(writer));
    let header = |path: &str, kind: EntryType, mode: u32, size: u64| -> Result<Header, Error> {
        let mut header = Header::new_ustar();
        header.set_path(path).map_err(fail)?;
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(size);
        header.set_mtime(mtime.unwrap_or(0).max(0) as u64);
        header.set_cksum();
        Ok(header)
    };
    archive
        .append(
            &header("disk/", EntryType::Directory, 0o755, 0)?,
            std::io::empty(),
        )
        .map_err(fail)?;
    archive
        .append(
            &header(&format!("disk/{file}"), EntryType::Regular, 0o644, size)?,
            std::io::empty(),
        )
        .map_err(fail)?;
    let sink = archive.get_mut();
    let appended = sink.append_artifact(file)?;
    if appended != size {
        return Err(Error::other(format!(
            "{file}: {appended} bytes appended to the layer, {size} expected"
        )));
    }
    std::io::Write::write_all(sink, padding(size)).map_err(fail)?;
    archive.finish().map_err(fail)?;
    archive.into_inner().map_err(fail)?.finish()
}

/// The root's own fstab lines for other mount points (the root, /boot, the
/// ESP and the directories of `parts` are ours).
fn kept_fstab_lines(root: &RootTree, parts: &[&str]) -> String {
    let Ok(text) = root.read_file("etc/fstab") else {
        return String::new();
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            !line.trim_start().starts_with('#')
                && fields.len() >= 2
                && fields[1] != "/"
                && fields[1] != "/boot"
                && fields[1] != "/boot/efi"
                && !parts.contains(&fields[1].trim_matches('/'))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}
