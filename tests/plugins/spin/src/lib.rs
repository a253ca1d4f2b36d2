//! Test fixture: an image type whose `build` never returns.

use builder_sdk::prelude::*;

struct Spin;

impl ImageType for Spin {
    const NAME: &'static str = "spin";

    fn build(_root: &RootTree, _request: BuildRequest) -> Result<Vec<Artifact>, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

builder_sdk::export_image_type!(Spin);
