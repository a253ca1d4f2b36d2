//! Arbitrary bytes into the XML, YAML and JSON description readers (and, when
//! a description loads, through the planner): errors are fine, panics,
//! hangs and runaway memory are bugs.
//!
//! The first byte picks the reader (`% 4`: XML, YAML, JSON, detect by
//! content), so raw XML (`<`), YAML and JSON (`{`) files are useful seeds:
//! `cargo fuzz run load_description -- "$BUILDER_KIWI_FIXTURES"`.

#![no_main]

use std::path::Path;

use builder_fuzz::description::{self, MarkupFormat};
use builder_fuzz::plan::{plan, PlanRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(first) = data.first() else { return };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // a directory that does not exist: includes and overlays find nothing
    let file = Path::new("/nonexistent-builder-fuzz/config.kiwi");
    let format = match first % 4 {
        0 => MarkupFormat::Xml,
        1 => MarkupFormat::Yaml,
        2 => MarkupFormat::Json,
        _ => match MarkupFormat::detect(file, text) {
            Ok(format) => format,
            Err(error) => {
                let _ = error.to_string();
                return;
            }
        },
    };
    match description::from_str(text, format, file) {
        Ok(desc) => {
            let mut requests = vec![PlanRequest::default()];
            for profile in desc.profiles.iter().take(8) {
                requests.push(PlanRequest {
                    profiles: vec![profile.name.clone()],
                    image_type: None,
                    arch: Some("x86_64".into()),
                });
            }
            for request in requests {
                match plan(&desc, &request) {
                    Ok(plan) => {
                        let _ = plan.to_string();
                        let _ = serde_json::to_string(&plan);
                    }
                    Err(error) => assert!(!error.to_string().contains('\n')),
                }
            }
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.contains('\n'), "multi-line error: {message}");
        }
    }
});
