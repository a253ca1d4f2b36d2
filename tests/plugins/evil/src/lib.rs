//! Test fixture: a hostile image type. Holding only the capabilities image
//! types get by default, it tries, one per build (option `attack`), every
//! way found to make the host run, read or write something of its own:
//! options that name host files or programs, values that break out of a
//! tool's syntax, boot files a tool sources, names that leave the target
//! directory. Each attempt must be refused with an error naming it.

use builder_sdk::boot::{make_grub_image, write_file as write_boot_file, GrubPlatform};
use builder_sdk::disks::{self, Disk, Partition, PartitionContent, PartitionKind, PartitionTable};
use builder_sdk::iso::{make as make_iso, IsoOptions};
use builder_sdk::prelude::*;
use builder_sdk::{
    filesystems, FileSource, FilesystemOptions, FilesystemType, ImageFile, TreePart,
};

struct Evil;

/// Where a successful attack would leave its mark on the build host.
const MARKER: &str = "/var/tmp/builder-evil-marker";

fn filesystem(fs_type: FilesystemType, create_options: &[&str]) -> FilesystemOptions {
    FilesystemOptions {
        fs_type,
        label: None,
        uuid: None,
        size_bytes: None,
        extra_bytes: 0,
        compression: None,
        create_options: create_options.iter().map(|s| s.to_string()).collect(),
    }
}

fn mkfs(root: &RootTree, fs: FilesystemOptions) -> Result<Vec<Artifact>, Error> {
    let whole = TreePart {
        path: String::new(),
        mount_points: Vec::new(),
    };
    Ok(vec![filesystems::make(root, &whole, "evil.img", &fs)?])
}

impl ImageType for Evil {
    const NAME: &'static str = "evil";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::text("attack", None, "Which attack to try.")]
    }

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Filesystems,
            Capability::Partitioning,
            Capability::Bootloader,
            Capability::Iso,
        ]
    }

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        use FilesystemType::*;
        let attack = request.options.value("attack").unwrap_or("").to_string();
        let pseudo = format!("pwn f 644 0 0 /bin/sh -c 'id > {MARKER}'");
        match attack.as_str() {
            "squashfs-pseudo-file" => mkfs(root, filesystem(Squashfs, &["-p", &pseudo])),
            "squashfs-pseudo-definitions-file" => {
                mkfs(root, filesystem(Squashfs, &["-pf", "/etc/shadow"]))
            }
            "squashfs-sort-file" => mkfs(root, filesystem(Squashfs, &["-sort", "/etc/shadow"])),
            "squashfs-exclude-file" => mkfs(root, filesystem(Squashfs, &["-ef", "/etc/shadow"])),
            "squashfs-compression" => {
                let mut fs = filesystem(Squashfs, &[]);
                fs.compression = Some("-pf".into());
                mkfs(root, fs)
            }
            "ext4-host-directory" => mkfs(root, filesystem(Ext4, &["-d", "/etc/ssh"])),
            "ext4-host-directory-glued" => mkfs(root, filesystem(Ext4, &["-d/etc/ssh"])),
            "ext4-offset" => mkfs(root, filesystem(Ext4, &["-E", "offset=4096"])),
            "ext4-journal-device" => mkfs(root, filesystem(Ext4, &["-J", "device=/dev/null"])),
            "ext4-bad-blocks-file" => mkfs(root, filesystem(Ext4, &["-l", "/etc/shadow"])),
            "xfs-protofile" => mkfs(root, filesystem(Xfs, &["-p", "/etc/shadow"])),
            "xfs-data-file" => mkfs(
                root,
                filesystem(Xfs, &["-d", &format!("file=1,name={MARKER}")]),
            ),
            "btrfs-rootdir" => mkfs(root, filesystem(Btrfs, &["--rootdir", "/etc"])),
            "btrfs-rootdir-glued" => mkfs(root, filesystem(Btrfs, &["--rootdir=/etc"])),
            "erofs-file-contexts" => {
                mkfs(root, filesystem(Erofs, &["--file-contexts=/etc/shadow"]))
            }
            "vfat-boot-sector-file" => mkfs(root, filesystem(Vfat, &["-B", "/etc/shadow"])),
            "vfat-uuid" => {
                let mut fs = filesystem(Vfat, &[]);
                fs.uuid = Some("x".into());
                mkfs(root, fs)
            }
            "label-newline" => {
                let mut fs = filesystem(Ext4, &[]);
                fs.label = Some("a\nb".into());
                mkfs(root, fs)
            }
            "grub-module-option" => Ok(vec![make_grub_image(
                root,
                "evil.efi",
                GrubPlatform::X8664Efi,
                "",
                &["-o".to_string(), MARKER.to_string(), "normal".to_string()],
            )?]),
            "initrd-conf" => {
                write_boot_file(
                    root,
                    "etc/initramfs-tools/conf.d/pwn",
                    b"touch /proc/1/root/var/tmp/builder-evil-marker\n",
                    0o644,
                )?;
                Ok(vec![])
            }
            "initrd-hook" => {
                write_boot_file(
                    root,
                    "etc/initramfs-tools/hooks/pwn",
                    b"#!/bin/sh\ntouch /proc/1/root/var/tmp/builder-evil-marker\n",
                    0o755,
                )?;
                Ok(vec![])
            }
            "dracut-module" => {
                write_boot_file(
                    root,
                    "usr/lib/dracut/modules.d/99pwn/module-setup.sh",
                    b"#!/bin/bash\ncheck() { touch /proc/1/root/var/tmp/builder-evil-marker; }\n",
                    0o755,
                )?;
                Ok(vec![])
            }
            "partition-name" => {
                let disk = disks::create("evil.raw", PartitionTable::Gpt, Some(8 << 20))?;
                disk.add_partition(&Partition {
                    name: "x\"\n, size=1, type=L\n".into(),
                    kind: PartitionKind::Linux,
                    size_bytes: None,
                    content: PartitionContent::Empty,
                    encryption: None,
                    bootable: false,
                })?;
                Ok(vec![Disk::finish(disk, root)?.artifact])
            }
            "iso-path" => Ok(vec![make_iso(
                root,
                "evil.iso",
                &IsoOptions {
                    volume_id: "EVIL".into(),
                    bios_boot: None,
                    efi_boot: None,
                    hybrid_mbr: None,
                },
                &[ImageFile {
                    path: format!("../../../..{MARKER}"),
                    source: FileSource::Data(b"pwned".to_vec()),
                }],
            )?]),
            "artifact-traversal" => {
                let out = artifacts::create("../builder-evil-marker", Compression::None)?;
                Ok(vec![ArtifactWriter::finish(out)?])
            }
            "artifact-newline" => {
                let out = artifacts::create("a\nb  evil.raw", Compression::None)?;
                Ok(vec![ArtifactWriter::finish(out)?])
            }
            other => Err(Error::invalid_option(
                "attack",
                format!("no attack `{other}`"),
            )),
        }
    }
}

builder_sdk::export_image_type!(Evil);
