//! builder image types `oem` (a bootable disk) and `iso` (a live ISO),
//! KIWI's bootable images, made with the host's `boot`, `filesystems`,
//! `disks` and `iso` interfaces: boot files and the initrd in the root,
//! filesystem, FAT, disk and ISO images, GRUB images from the image's own
//! modules. See `oem.rs` and `iso.rs`.

mod grub;
mod install;
mod iso;
mod layout;
mod luks;
mod oem;
mod secure_boot;
mod theme;
mod volumes;

use builder_sdk::prelude::*;

struct Bootable;

impl ImageType for Bootable {
    const NAME: &'static str = "bootable";
    const SUMMARY: &'static str =
        "Bootable images: oem disks (BIOS and EFI, raw, qcow2, vmdk, vhdx, vhd) and live ISOs";

    fn types() -> Vec<String> {
        vec!["oem".to_string(), "iso".to_string()]
    }

    fn options() -> Vec<OptionSpec> {
        // One list for both types: the shared ones first, then each type's.
        let mut options = grub::options();
        options.extend(oem::options());
        options.extend(install::options());
        options.extend(iso::options());
        options
    }

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::RootRead,
            Capability::ArtifactWrite,
            // gce and vagrant archives are gzip-compressed.
            Capability::Compression,
            Capability::Filesystems,
            Capability::Partitioning,
            Capability::Bootloader,
            Capability::Iso,
        ]
    }

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        match request.type_name.as_str() {
            "oem" => oem::build(root, &request),
            "iso" => iso::build(root, &request),
            other => Err(Error::other(format!(
                "type `{other}` is not one this plugin makes (oem, iso)"
            ))),
        }
    }
}

builder_sdk::export_image_type!(Bootable);
