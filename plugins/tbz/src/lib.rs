//! The `tbz` image type: the whole root tree as one tarball, like KIWI's `tbz`.
//!
//! Owners and modes are stored numerically, xattrs as PAX `SCHILY.xattr.*`
//! records (what GNU tar's `--xattrs` reads), hard links as links to the first
//! path seen, symlinks as links (never followed), device nodes with their
//! numbers. Entries come in the walk's byte order and timestamps are clamped to
//! `SOURCE_DATE_EPOCH`, so the same tree always gives the same bytes.

use builder_sdk::archive::{archive_tree, io_error, HostSink, TreeArchive};
use builder_sdk::prelude::*;

struct Tbz;

impl ImageType for Tbz {
    const NAME: &'static str = "tbz";
    const SUMMARY: &'static str =
        "The image root as a tarball, keeping owners, modes, xattrs, links and devices";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::choice(
            "compression",
            &["xz", "zstd", "gzip", "none"],
            "xz",
            "How the tarball is compressed (xz gives KIWI's `.tar.xz`)",
        )]
    }

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::RootRead,
            Capability::ArtifactWrite,
            Capability::Compression,
        ]
    }

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let (compression, extension) = match request.options.value("compression") {
            None | Some("xz") => (Compression::Xz, "tar.xz"),
            Some("zstd") => (Compression::Zstd, "tar.zst"),
            Some("gzip") => (Compression::Gzip, "tar.gz"),
            Some("none") => (Compression::None, "tar"),
            Some(other) => {
                return Err(Error::invalid_option(
                    "compression",
                    format!("`{other}` is not one of xz, zstd, gzip, none"),
                ))
            }
        };
        let name = request.artifact_name(extension);
        let writer = artifacts::create(&name, compression)?;
        let mut archive = tar::Builder::new(HostSink::new(writer));
        let entries = archive_tree(
            root,
            &mut archive,
            &TreeArchive::new(request.source_date_epoch),
        )?;
        log::info(&format!("{name}: {entries} entries"));
        archive.finish().map_err(|e| io_error(&name, e))?;
        let sink = archive.into_inner().map_err(|e| io_error(&name, e))?;
        Ok(vec![sink.finish()?])
    }
}

builder_sdk::export_image_type!(Tbz);
