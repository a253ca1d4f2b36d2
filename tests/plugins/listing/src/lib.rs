//! Test fixture: the minimal image type of docs/plugins.md, as written there.

use builder_sdk::prelude::*;

struct Listing;

impl ImageType for Listing {
    const NAME: &'static str = "listing";
    const SUMMARY: &'static str = "A text file naming every path of the root";

    fn build(root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let out = artifacts::create(&request.artifact_name("txt"), Compression::None)?;
        for entry in root.walk_all("")? {
            out.write(format!("{}\n", entry?.path).as_bytes())?;
        }
        Ok(vec![ArtifactWriter::finish(out)?])
    }
}

builder_sdk::export_image_type!(Listing);
