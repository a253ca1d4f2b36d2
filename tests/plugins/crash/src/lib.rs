//! Test fixture: an image type with a bug: it panics in `build`.

use builder_sdk::prelude::*;

struct Crash;

impl ImageType for Crash {
    const NAME: &'static str = "crash";

    fn build(_root: &RootTree, request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let out = artifacts::create(&request.artifact_name("half"), Compression::None)?;
        out.write(b"half an artifact")?;
        let index = std::hint::black_box(request.options.len() + 7);
        let empty: Vec<u8> = Vec::new();
        panic!("index {index} is out of range for {} bytes", empty.len());
    }
}

builder_sdk::export_image_type!(Crash);
