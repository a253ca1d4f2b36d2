//! Test fixture: a hook that reads the root at `pre-image` and fails with
//! what it found, so a test can see the hook world's data path end to end.

use builder_sdk::prelude::*;

struct ProbeHook;

impl Hook for ProbeHook {
    const NAME: &'static str = "probe-hook";

    fn stages() -> Vec<Stage> {
        vec![Stage::PreImage, Stage::PostImage]
    }

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::text(
            "file",
            Some("etc/hostname"),
            "File to report",
        )]
    }

    fn run(stage: Stage, root: &RootTree, request: HookRequest) -> Result<(), Error> {
        let file = request.options.value("file").unwrap_or("etc/hostname");
        let content = root.read_file(file)?;
        let text = String::from_utf8_lossy(&content);
        log::info(&format!("{}: {file} says {}", stage.name(), text.trim()));
        Err(Error::other(format!(
            "{} saw {}={} for {}",
            stage.name(),
            file,
            text.trim(),
            request.image.name
        )))
    }
}

builder_sdk::export_hook!(ProbeHook);
