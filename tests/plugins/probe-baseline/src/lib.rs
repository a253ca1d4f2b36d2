//! Test fixture: a baseline whose requests depend on the distribution family.

use builder_sdk::changes;
use builder_sdk::prelude::*;

struct ProbeBaseline;

impl Baseline for ProbeBaseline {
    const NAME: &'static str = "probe-baseline";

    fn apply(_root: &RootTree, request: BaselineRequest) -> Result<(), Error> {
        let chrony = match request.family {
            Family::Debian => "chrony",
            Family::Rhel | Family::Suse => "chrony",
        };
        let resolver = match request.family {
            Family::Debian => "systemd-resolved",
            Family::Rhel | Family::Suse => "systemd-resolved",
        };
        changes::install_packages(&[chrony.to_string(), resolver.to_string()])?;
        changes::enable_service("chronyd.service")?;
        changes::write_file("/etc/hostname", b"localhost\n", 0o644, 0, 0)?;
        changes::set_default_target("multi-user.target")?;
        // Not granted root-exec: this must be refused.
        match changes::run_in_root(&["true".to_string()]) {
            Err(Error::CapabilityDenied(Capability::RootExec)) => Ok(()),
            other => Err(Error::other(format!(
                "run-in-root was not refused: {other:?}"
            ))),
        }
    }
}

builder_sdk::export_baseline!(ProbeBaseline);
