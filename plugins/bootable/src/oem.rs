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
//!   `p.lxroot`: boots with BIOS and with EFI firmware. Other architectures:
//!   no BIOS boot partition.
//! - `firmware="uefi"`: as `efi`, with the image's own signed chain on the
//!   ESP for Secure Boot (shim, the distribution's signed GRUB, its signed
//!   kernel; see `secure_boot.rs`).
//! - `firmware="bios"`: MBR with one active root partition; GRUB's core
//!   image in the gap after the MBR.
//!
//! With `<oem-resize>` (on unless `false`), the root partition and
//! filesystem grow to the disk at first boot: `systemd-repart` grows the
//! partition (`etc/repart.d/50-builder-root.conf`), `x-systemd.growfs` in
//! fstab the filesystem. `format=` converts the raw disk (qcow2, vmdk,
//! vhdx, vhd, vhd-fixed) or packs it as KIWI does for a cloud or hypervisor
//! (`gce`: `<name>.<arch>-<version>.tar.gz`; `ova`: `.ova`; `vagrant` with
//! the type's `<vagrantconfig>`: `.vagrant.libvirt.box` or
//! `.vagrant.virtualbox.box`); the raw disk is then not kept.

use builder_sdk::boot::{self, GrubPlatform, InitrdOptions};
use builder_sdk::disks::{
    self, Disk, DiskFormat, DiskPackaging, OvfSettings, Partition, PartitionContent, PartitionKind,
    PartitionTable, SwapOptions, TreeFilesystem, VagrantProvider, VagrantSettings, VmFirmware,
};
use builder_sdk::filesystems::{self, FatOptions};
use builder_sdk::prelude::*;
use builder_sdk::{FileSource, FilesystemOptions, FilesystemType, ImageFile, TreePart};

use crate::grub::{self, Locate, Menu};
use crate::secure_boot;

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
            &["by-uuid", "by-label"],
            "by-uuid",
            "How fstab and GRUB name the root filesystem",
        ),
        OptionSpec::text("rootfs_label", Some("ROOT"), "Label of the root filesystem"),
        OptionSpec::text("fscreateoptions", None, "Extra options for the mkfs tool"),
        OptionSpec::boolean(
            "oem-resize",
            true,
            "Grow the root partition and filesystem to the disk at first boot",
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
    ]
}

fn filesystem_type(name: &str) -> FilesystemType {
    match name {
        "ext2" => FilesystemType::Ext2,
        "ext3" => FilesystemType::Ext3,
        "xfs" => FilesystemType::Xfs,
        "btrfs" => FilesystemType::Btrfs,
        _ => FilesystemType::Ext4,
    }
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
}

fn disk_format(format: &str, request: &BuildRequest, firmware: &str) -> Result<Output, Error> {
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

const MIB: u64 = 1 << 20;
/// KIWI's default size of a `/boot` partition, MiB.
const DEFAULT_BOOT_MIB: u64 = 300;
/// KIWI's default swap size, MiB.
const DEFAULT_SWAP_MIB: u64 = 128;

/// The label of a separate `/boot` filesystem, as KIWI names it.
const BOOT_LABEL: &str = "BOOT";

/// KIWI `oem` settings this plugin does not carry out (yet): each set one
/// is named in a warning instead of being dropped silently.
const NOT_MADE: &[(&str, &str)] = &[
    ("spare_part", "a spare partition"),
    ("luks", "an encrypted root"),
    ("installiso", "an installation ISO"),
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
    let bios = x86 && (firmware == "bios" || efi);
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
    let resize = options.flag("oem-resize")?;
    let label = options.value("rootfs_label").unwrap_or("ROOT").to_string();
    let by_label = options.value("devicepersistency") == Some("by-label");
    let root_uuid = grub::uuid(request, "root filesystem");
    let esp_id = grub::uuid(request, "esp")[..8].to_uppercase();
    let esp_mib = options
        .integer("efipartsize")?
        .filter(|m| *m > 0)
        .unwrap_or(64) as u64;
    let menu = Menu::new(request, "")?;
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
    let boot_uuid = grub::uuid(request, "boot filesystem");
    let boot_spec = if by_label {
        format!("LABEL={BOOT_LABEL}")
    } else {
        format!("UUID={boot_uuid}")
    };
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

    // 1. The boot files, by UUID or label, before the initrd reads them.
    let root_spec = if by_label {
        format!("LABEL={label}")
    } else {
        format!("UUID={root_uuid}")
    };
    let mut fstab = String::from("# Written by builder.\n");
    let root_options = if resize {
        "defaults,x-systemd.growfs"
    } else {
        "defaults"
    };
    fstab.push_str(&format!("{root_spec} / {fs_name} {root_options} 0 1\n"));
    if boot_partition {
        fstab.push_str(&format!("{boot_spec} /boot {boot_fs_name} defaults 0 2\n"));
    }
    if swap_mib.is_some() {
        // The host labels the swap partition's signature so.
        fstab.push_str("LABEL=SWAP swap swap defaults 0 0\n");
    }
    if efi {
        fstab.push_str(&format!(
            "UUID={}-{} /boot/efi vfat umask=0077,nofail 0 2\n",
            &esp_id[..4],
            &esp_id[4..]
        ));
    }
    fstab.push_str(&kept_fstab_lines(root));
    boot::write_file(root, "etc/fstab", fstab.as_bytes(), 0o644)?;
    if resize {
        if root.stat("usr/bin/systemd-repart").is_ok() || root.stat("bin/systemd-repart").is_ok() {
            boot::write_file(
                root,
                "etc/repart.d/50-builder-root.conf",
                b"# Written by builder: grow the root partition to the disk at boot.\n[Partition]\nType=root\n",
                0o644,
            )?;
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

    // 2. The initrd, inside the root, with the image's own tool.
    log::info("making the initrd with the image's own tool");
    let kernel = grub::newest(boot::make_initrd(
        root,
        &InitrdOptions {
            filesystems: vec![fs_name.to_string()],
            luks: false,
            lvm: false,
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

    // 3. GRUB's menu on the root filesystem, shared by BIOS and EFI.
    // GRUB reads the filesystem holding /boot: the root's, or its own.
    let locate = match (boot_partition, by_label) {
        (true, true) => Locate::Label(BOOT_LABEL),
        (true, false) => Locate::Uuid(&boot_uuid),
        (false, true) => Locate::Label(&label),
        (false, false) => Locate::Uuid(&root_uuid),
    };
    let on_boot = |path: &str| -> String {
        if boot_partition {
            path.strip_prefix("boot/").unwrap_or(path).to_string()
        } else {
            path.to_string()
        }
    };
    let cmdline = format!("root={root_spec} ro");
    let cfg = menu.config(
        &locate,
        &on_boot(&kernel.image),
        &on_boot(&kernel.initrd),
        &cmdline,
    );
    boot::write_file(root, "boot/grub/grub.cfg", cfg.as_bytes(), 0o644)?;
    let early = grub::early_config(&locate, boot_partition);

    // 4. The disk's size, when `<size>` gives one, and the root filesystem.
    let table = if firmware == "bios" {
        PartitionTable::Msdos
    } else {
        PartitionTable::Gpt
    };
    // 1 MiB before the first partition, 1 MiB for GPT's backup at the end.
    let overhead = 2 * MIB
        + if bios && efi { MIB } else { 0 }
        + if efi { esp_mib * MIB } else { 0 }
        + if boot_partition { boot_mib * MIB } else { 0 }
        + swap_mib.unwrap_or(0) * MIB;
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
    let root_fs = FilesystemOptions {
        fs_type: filesystem_type(fs_name),
        label: Some(label.clone()),
        uuid: Some(root_uuid.clone()),
        size_bytes: None,
        extra_bytes: extra,
        compression: None,
        create_options: options
            .value("fscreateoptions")
            .map(|o| o.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
    };
    let mut intermediates = Vec::new();

    // 5. GRUB for EFI on the ESP, GRUB's BIOS core image.
    let fs_modules = [fs_name, boot_fs_name];
    let mut partitions = Vec::new();
    if bios && efi {
        partitions.push(Partition {
            name: "p.legacy".into(),
            kind: PartitionKind::BiosBoot,
            size_bytes: Some(MIB),
            content: PartitionContent::Empty,
            encryption: None,
            bootable: false,
        });
    }
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
        let esp = request.artifact_name("esp.img");
        filesystems::make_fat(
            root,
            &esp,
            &FatOptions {
                label: Some("EFI".into()),
                volume_id: Some(esp_id.clone()),
                size_bytes: Some(esp_mib * MIB),
            },
            &files,
        )?;
        intermediates.push(esp.clone());
        partitions.push(Partition {
            name: "p.UEFI".into(),
            kind: PartitionKind::Esp,
            size_bytes: Some(esp_mib * MIB),
            content: PartitionContent::Image(esp),
            encryption: None,
            bootable: false,
        });
    }
    let core = if bios {
        let core = request.artifact_name("core.img");
        boot::make_grub_image(
            root,
            &core,
            GrubPlatform::I386Pc,
            &early,
            &grub::modules(true, &fs_modules),
        )?;
        intermediates.push(core.clone());
        Some(core)
    } else {
        None
    };
    // KIWI's order: /boot, swap, then the root.
    if boot_partition {
        partitions.push(Partition {
            name: "p.lxboot".into(),
            // The host makes it of the root's /boot, which the root's
            // filesystem then holds empty.
            kind: PartitionKind::Xbootldr,
            size_bytes: Some(boot_mib * MIB),
            content: PartitionContent::Filesystem(TreeFilesystem {
                part: TreePart {
                    path: "boot".into(),
                    mount_points: Vec::new(),
                },
                options: FilesystemOptions {
                    fs_type: filesystem_type(boot_fs_name),
                    label: Some(BOOT_LABEL.into()),
                    uuid: Some(boot_uuid.clone()),
                    size_bytes: None,
                    extra_bytes: 0,
                    compression: None,
                    create_options: Vec::new(),
                },
            }),
            encryption: None,
            bootable: false,
        });
    }
    if let Some(mib) = swap_mib {
        partitions.push(Partition {
            name: "p.swap".into(),
            kind: PartitionKind::Swap,
            size_bytes: Some(mib * MIB),
            // Labelled as fstab names it.
            content: PartitionContent::Swap(SwapOptions {
                label: Some("SWAP".into()),
                uuid: None,
            }),
            encryption: None,
            bootable: false,
        });
    }
    // The root filesystem is made straight into its partition: the rest of
    // a sized disk, else the tree with headroom (plus an additive size).
    partitions.push(Partition {
        name: "p.lxroot".into(),
        kind: PartitionKind::Root,
        size_bytes: None,
        content: PartitionContent::Filesystem(TreeFilesystem {
            // A separate /boot leaves its mount point empty here.
            part: TreePart {
                path: String::new(),
                mount_points: if boot_partition {
                    vec!["boot".into()]
                } else {
                    Vec::new()
                },
            },
            options: root_fs,
        }),
        encryption: None,
        bootable: table == PartitionTable::Msdos,
    });

    // 6. The disk, with GRUB's BIOS boot code in it.
    let raw = request.artifact_name("raw");
    log::info(&format!(
        "writing the disk image with its {fs_name} root filesystem"
    ));
    let disk = disks::create(&raw, table, disk_size)?;
    for partition in &partitions {
        disk.add_partition(partition)?;
    }
    if let Some(core) = &core {
        disk.install_bios_boot(core)?;
    }
    let disk = Disk::finish(disk, root)?;
    for name in &intermediates {
        artifacts::remove(name)?;
    }

    // 7. The format asked for.
    match format {
        Output::Raw => Ok(vec![disk.artifact]),
        Output::Convert(format, extension) => {
            log::info(&format!("converting the disk to {extension}"));
            let converted = disks::convert(&raw, &request.artifact_name(extension), format)?;
            artifacts::remove(&raw)?;
            Ok(vec![converted])
        }
        Output::Pack(packaging, name) => {
            log::info(&format!("packing the disk as {name}"));
            let packed = disks::pack(&raw, &name, &packaging)?;
            artifacts::remove(&raw)?;
            Ok(vec![packed])
        }
    }
}

/// The root's own fstab lines for other mount points (the root and the ESP
/// are ours).
fn kept_fstab_lines(root: &RootTree) -> String {
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
        })
        .map(|line| format!("{line}\n"))
        .collect()
}
