//! The organisation baseline of the DevConf.US 2022 golden-image demo
//! (Datto's `devconfus22-demo-golden-image-descriptions`, a copy of its
//! descriptions in `shared/fixtures/kiwi/datto`), as a `builder` baseline:
//! what every image of the organisation gets, stated once for Debian, the
//! RHEL family and SUSE alike. The demo wrote it twice, as the
//! `kiwi-desc/{centos9,ubuntu2004}/config.sh` scripts (the fixture copy has
//! no `config.sh`; the steps below are those of the upstream scripts) plus the
//! `root/` overlays and `platforms/cloud/*.xml` package lists.
//!
//! Nothing is changed here: every step is a request through
//! [`builder_sdk::changes`], which the host records and carries out in this
//! order after `apply` returns, with the image's own package manager and
//! tools. The steps, and where each comes from:
//!
//! 1. **Packages** (`config.xml` / `platforms/cloud/*.xml`): `chrony` (both
//!    demo images list it); systemd-resolved where the distribution ships it
//!    in a package of its own (the centos9 image lists `systemd-resolved`; see
//!    [`resolved_package`]); `cloud-init` on cloud profiles when the `cloud-init`
//!    option is on (the demo adds it for its cloud profiles only). Installed first, as KIWI
//!    installs the image packages before `config.sh`, so the units below
//!    exist when they are enabled.
//! 2. **cloud-init default user** (overlay
//!    `root/etc/cloud/cloud.cfg.d/01_clouduser.cfg`, same file on both
//!    images but for the groups): the same drop-in, with the user name of
//!    the `default-user` option (the demo's `cloud-user`), only where
//!    cloud-init is installed. The demo's `config.sh` also ran
//!    `systemctl enable cloud-config.service cloud-final.service
//!    cloud-init.service cloud-init-local.service cloud-init.target` for
//!    cloud profiles; that is not repeated: the packages enable their
//!    services on installation (RHEL's `%post`, Debian's
//!    `dh_installsystemd`), cloud-init's own generator pulls in
//!    `cloud-init.target` at boot, and cloud-init 24.3 renamed
//!    `cloud-init.service` to `cloud-init-network.service`, so naming the
//!    demo's units would fail on current releases.
//! 3. **Generic hostname** (`echo "localhost" > /etc/hostname`):
//!    `/etc/hostname` = `localhost\n`, 0644 root.
//! 4. **Empty machine-id** (`truncate -s 0 /etc/machine-id`): an empty
//!    `/etc/machine-id`, 0444 root (systemd's mode for it), so each machine
//!    made from the image gets its own id on first boot.
//! 5. **Root locked on cloud profiles** (`passwd -d root; passwd -l root`
//!    when `$kiwi_profiles` names AWS, Azure or OpenStack; the description
//!    gives root the throw-away password `linux` on those profiles, "erased
//!    in config.sh"): when a selected profile is one of the `cloud-profiles`
//!    option (by default the demo's `Azure AWSEC2 OpenStack`), run
//!    `usermod --password ! root` in the root. The contract has no "lock
//!    user" request, hence `run-in-root` and the `root-exec` capability.
//!    `usermod` rather than `passwd`: it is in `shadow-utils` on RHEL (always
//!    installed, where the `passwd` tool is a package of its own) and in
//!    `passwd` on Debian (required priority), `shadow` on SUSE. Setting the
//!    hash to `!` does both of the demo's steps at once: the password is
//!    erased (`passwd -d`) and the account locked (`passwd -l`): the shadow
//!    entry Debian's `passwd -d; passwd -l` leave (`usermod -L` alone would
//!    keep the `linux` hash behind the `!`, and `-L` cannot be combined with
//!    `-p`).
//! 6. **chrony** (`systemctl enable chrony.service` on Ubuntu,
//!    `chronyd.service` on CentOS): enable `chrony.service` on Debian,
//!    `chronyd.service` on RHEL and SUSE (the unit the package ships there).
//! 7. **systemd-resolved** (`systemctl enable systemd-resolved.service`):
//!    the same unit on every family.
//! 8. **Persistent journal** (`mkdir -p /var/log/journal`, which turns
//!    journald's default `Storage=auto` persistent): the contract's
//!    `write-file` cannot create an empty directory, so the drop-in
//!    `/etc/systemd/journald.conf.d/50-persistent.conf` says
//!    `Storage=persistent` instead; journald then creates `/var/log/journal`
//!    itself at boot, which is the same outcome and also survives a later
//!    removal of the directory.
//! 9. **Default target** (`systemctl set-default multi-user.target`).
//!
//! Left out, being one distribution's business rather than the
//! organisation's: CentOS's `crb` repository and `DEFAULT:SHA1` crypto
//! policy, Ubuntu's emptied `sources.list`, disabled unattended upgrades and
//! `locale-gen`, and the Vagrant profiles' insecure key and sudoers entry.

use builder_sdk::changes::{self, by_family};
use builder_sdk::prelude::*;
use builder_sdk::root_exec;

/// The demo's cloud profiles (`platforms/cloud/generic-base.xml`).
const CLOUD_PROFILES: &str = "Azure AWSEC2 OpenStack";
/// The demo's cloud-init default user (`01_clouduser.cfg`).
const DEFAULT_USER: &str = "cloud-user";

struct DemoBaseline;

impl Baseline for DemoBaseline {
    const NAME: &'static str = "baseline-example";
    const SUMMARY: &'static str =
        "The DevConf.US 2022 demo's organisation baseline: generic hostname, \
         empty machine-id, chrony, systemd-resolved, persistent journal, multi-user target, \
         cloud-init user and root locked on cloud profiles";

    fn options() -> Vec<OptionSpec> {
        vec![
            OptionSpec::text(
                "cloud-profiles",
                Some(CLOUD_PROFILES),
                "Profiles (space-separated) whose images get a locked root password and cloud-init",
            ),
            OptionSpec::boolean(
                "cloud-init",
                true,
                "On cloud profiles, install cloud-init and set its default user",
            ),
            OptionSpec::text(
                "default-user",
                Some(DEFAULT_USER),
                "Name of cloud-init's default user",
            ),
        ]
    }

    fn capabilities() -> Vec<Capability> {
        // Every request writes the root; locking root runs `usermod` in it.
        // Nothing is read from the root.
        vec![Capability::RootWrite, Capability::RootExec]
    }

    fn apply(_root: &RootTree, request: BaselineRequest) -> Result<(), Error> {
        let family = request.family;
        let options = request.options.as_slice();
        let cloud_init = match options.value("cloud-init") {
            None => true,
            Some(_) => options.flag("cloud-init")?,
        };
        let default_user = options.value("default-user").unwrap_or(DEFAULT_USER);
        check_user_name(default_user)?;
        let cloud_profiles: Vec<&str> = options
            .value("cloud-profiles")
            .unwrap_or(CLOUD_PROFILES)
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|p| !p.is_empty())
            .collect();
        let cloud = request
            .profiles
            .iter()
            .any(|p| cloud_profiles.contains(&p.as_str()));
        // The demo installs cloud-init for its cloud profiles only.
        let cloud_init = cloud_init && cloud;

        // 1. Packages.
        let mut packages = vec![by_family(family, "chrony", "chrony", "chrony")];
        packages.extend(resolved_package(family, &request.release));
        if cloud_init {
            packages.push(by_family(family, "cloud-init", "cloud-init", "cloud-init"));
        }
        changes::install_packages(&packages.iter().map(|p| p.to_string()).collect::<Vec<_>>())?;

        // 2. cloud-init's default user.
        if cloud_init {
            changes::write_file(
                "/etc/cloud/cloud.cfg.d/01_clouduser.cfg",
                cloud_user_config(family, default_user).as_bytes(),
                0o644,
                0,
                0,
            )?;
        }

        // 3. Generic hostname.
        changes::write_file("/etc/hostname", b"localhost\n", 0o644, 0, 0)?;

        // 4. Empty machine-id.
        changes::write_file("/etc/machine-id", b"", 0o444, 0, 0)?;

        // 5. Root's password erased and locked on cloud profiles.
        if cloud {
            root_exec::run_in_root(&["usermod", "--password", "!", "root"].map(String::from))?;
        }

        // 6. chrony.
        changes::enable_service(by_family(
            family,
            "chrony.service",
            "chronyd.service",
            "chronyd.service",
        ))?;

        // 7. systemd-resolved.
        changes::enable_service("systemd-resolved.service")?;

        // 8. Persistent journal.
        changes::write_file(
            "/etc/systemd/journald.conf.d/50-persistent.conf",
            b"[Journal]\nStorage=persistent\n",
            0o644,
            0,
            0,
        )?;

        // 9. Default target.
        changes::set_default_target("multi-user.target")?;
        Ok(())
    }
}

/// The package that ships `systemd-resolved.service`, when it is not
/// `systemd` itself (always installed, so nothing to ask for).
///
/// - Debian split it out of `systemd` into `systemd-resolved` with Debian 12
///   (bookworm's systemd 251 packaging), and Ubuntu took the split over from
///   22.10; Debian 11 and older and Ubuntu 22.04 and older (the demo's 20.04
///   among them) have the unit in `systemd`. A release that is no number
///   (testing, sid) is taken as current.
/// - RHEL 9, CentOS Stream 9 and Fedora ship it as the `systemd-resolved`
///   subpackage (the demo's centos9 image lists it); RHEL 8 has it in
///   `systemd`.
/// - SUSE has no `systemd-resolved` package: openSUSE and SLES ship resolved
///   with networkd in `systemd-network`.
fn resolved_package(family: Family, release: &str) -> Option<&'static str> {
    let mut numbers = release.split('.').map(|n| n.parse::<u32>().ok());
    let major = numbers.next().flatten();
    let minor = numbers.next().flatten();
    let separate = match (family, major) {
        // Ubuntu: `YY.MM`.
        (Family::Debian, Some(year)) if release.contains('.') => {
            (year, minor.unwrap_or(0)) >= (22, 10)
        }
        (Family::Debian, Some(major)) => major >= 12,
        (Family::Rhel, Some(major)) => major >= 9,
        _ => true,
    };
    separate.then(|| {
        by_family(
            family,
            "systemd-resolved",
            "systemd-resolved",
            "systemd-network",
        )
    })
}

/// The demo's `01_clouduser.cfg` with `user` as the default user's name.
/// The groups are the demo's per image: CentOS's for the RHEL family (and
/// SUSE, which has no list of its own in the demo; cloud-init creates any
/// group missing), Ubuntu's for Debian without `lxd`, a group only Ubuntu's
/// LXD creates (Debian's own cloud.cfg lists the rest).
fn cloud_user_config(family: Family, user: &str) -> String {
    let groups = by_family(
        family,
        "[adm, audio, cdrom, dialout, dip, floppy, netdev, plugdev, sudo, video]",
        "[wheel, adm, systemd-journal]",
        "[wheel, adm, systemd-journal]",
    );
    format!(
        "# System and/or distro specific settings\n\
         # (not accessible to handlers/transforms)\n\
         system_info:\n   \
         # Default user name + that default users groups (if added/used)\n   \
         default_user:\n     \
         name: {user}\n     \
         lock_passwd: True\n     \
         gecos: Cloud User\n     \
         groups: {groups}\n     \
         sudo: [\"ALL=(ALL) NOPASSWD:ALL\"]\n     \
         shell: /bin/bash\n"
    )
}

/// A user name `useradd` accepts on every family (and safe to put in YAML
/// unquoted): `[a-z_][a-z0-9_-]*`, at most 32 characters.
fn check_user_name(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let valid = name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_option(
            "default-user",
            format!("`{name}` is not a user name (lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32)"),
        ))
    }
}

builder_sdk::export_baseline!(DemoBaseline);
