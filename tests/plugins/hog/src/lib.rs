//! Test fixture: an image type whose `build` allocates without bound.

use builder_sdk::prelude::*;

struct Hog;

impl ImageType for Hog {
    const NAME: &'static str = "hog";

    fn build(_root: &RootTree, _request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Touch every page so the memory is really used.
            hoard.push(std::hint::black_box(vec![0x5a; 1 << 20]));
        }
    }
}

builder_sdk::export_image_type!(Hog);
