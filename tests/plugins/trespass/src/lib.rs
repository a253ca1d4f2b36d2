//! Test fixture: declares only `root-read`, then tries to write an artifact.

use builder_sdk::prelude::*;

struct Trespass;

impl ImageType for Trespass {
    const NAME: &'static str = "trespass";

    fn capabilities() -> Vec<Capability> {
        vec![Capability::RootRead]
    }

    fn build(_root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let out = artifacts::create(&request.artifact_name("txt"), Compression::None)?;
        out.write(b"should never be written")?;
        Ok(vec![ArtifactWriter::finish(out)?])
    }
}

builder_sdk::export_image_type!(Trespass);
