//! builder image types `ext2`, `ext3`, `ext4`, `xfs`, `btrfs`, `squashfs`
//! and `erofs` (KIWI's filesystem images): the whole root as one filesystem
//! image, `<name>.<arch>-<version>.<type>`, made by the host's
//! `filesystems.make` from the tree (owners, modes, links, device nodes and
//! xattrs kept where the filesystem has them).
//!
//! Size: the type's `<size>` (an `additive` size adds to the computed
//! minimum), else the tree's size with headroom; squashfs and erofs are as
//! small as their content. Options are KIWI's `<type>` attributes:
//! `squashfscompression`, `erofscompression` and `fscreateoptions`. The
//! volume label is `ROOT`, KIWI's label of a root filesystem.

use builder_sdk::prelude::*;
use builder_sdk::{filesystems, FilesystemOptions, FilesystemType, TreePart};

struct Filesystem;

/// The KIWI type names served, with the filesystem each makes.
const TYPES: &[(&str, FilesystemType)] = &[
    ("ext2", FilesystemType::Ext2),
    ("ext3", FilesystemType::Ext3),
    ("ext4", FilesystemType::Ext4),
    ("xfs", FilesystemType::Xfs),
    ("btrfs", FilesystemType::Btrfs),
    ("squashfs", FilesystemType::Squashfs),
    ("erofs", FilesystemType::Erofs),
];

impl ImageType for Filesystem {
    const NAME: &'static str = "filesystem";
    const SUMMARY: &'static str =
        "Filesystem images of the root: ext2, ext3, ext4, xfs, btrfs, squashfs, erofs";

    fn types() -> Vec<String> {
        TYPES.iter().map(|(name, _)| name.to_string()).collect()
    }

    fn options() -> Vec<OptionSpec> {
        vec![
            OptionSpec::choice(
                "squashfscompression",
                &["uncompressed", "gzip", "lzo", "lz4", "xz", "zstd"],
                "xz",
                "squashfs: how blocks are compressed",
            ),
            OptionSpec::text(
                "erofscompression",
                None,
                "erofs: the compressor (lz4, lz4hc, lzma), with an optional level (lz4hc,12)",
            ),
            OptionSpec::text(
                "fscreateoptions",
                None,
                "Extra options for the mkfs tool, separated by blanks",
            ),
        ]
    }

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Filesystems,
        ]
    }

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let Some((name, fs_type)) = TYPES.iter().find(|(name, _)| *name == request.type_name)
        else {
            return Err(Error::other(format!(
                "type `{}` is not a filesystem this plugin makes",
                request.type_name
            )));
        };
        let options = request.options.as_slice();
        let compression = match fs_type {
            FilesystemType::Squashfs => options.value("squashfscompression").map(str::to_string),
            FilesystemType::Erofs => options.value("erofscompression").map(str::to_string),
            _ => None,
        };
        let (size_bytes, extra_bytes) = match request.size {
            Some(size) if size.additive => (None, size.bytes),
            Some(size) => (Some(size.bytes), 0),
            None => (None, 0),
        };
        let create_options = options
            .value("fscreateoptions")
            .map(|o| o.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        log::info(&format!("making {name} image of the root"));
        let whole_root = TreePart {
            path: String::new(),
            mount_points: Vec::new(),
        };
        let artifact = filesystems::make(
            root,
            &whole_root,
            &request.artifact_name(name),
            &FilesystemOptions {
                fs_type: *fs_type,
                label: Some("ROOT".to_string()),
                uuid: None,
                size_bytes,
                extra_bytes,
                compression,
                create_options,
            },
        )?;
        Ok(vec![artifact])
    }
}

builder_sdk::export_image_type!(Filesystem);
