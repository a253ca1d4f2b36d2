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
        changes::set_default_target("multi-user.target")
        // It does not declare root-exec, so it cannot call `root_exec` at
        // all: a component importing it would not be started.
    }
}

builder_sdk::export_baseline!(ProbeBaseline);
