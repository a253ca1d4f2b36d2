//! The image's one layer: an uncompressed tar of the whole root, written by
//! the SDK's tree archiver as the `tbz` image type writes its archive, with
//! `.wh.*` names refused (layer readers take them as deletions).

use builder_sdk::archive::{archive_tree, io_error, HostSink, TreeArchive};
use builder_sdk::prelude::*;

/// Write the layer of `root` as artifact `file_name` (uncompressed) and finish it.
pub fn write(root: &RootTree, file_name: &str, clamp: Option<i64>) -> Result<Artifact, Error> {
    let writer = artifacts::create(file_name, Compression::None)?;
    let mut archive = tar::Builder::new(HostSink::new(writer));
    let how = TreeArchive {
        clamp,
        refuse_whiteouts: true,
        progress: "layer entries",
    };
    let entries = archive_tree(root, &mut archive, &how)?;
    log::info(&format!("{file_name}: {entries} entries"));
    archive.finish().map_err(|e| io_error(file_name, e))?;
    let sink = archive.into_inner().map_err(|e| io_error(file_name, e))?;
    sink.finish()
}
