//! SSH host keys: a golden image ships none. openssh-server's install
//! makes them (Debian's postinst runs `ssh-keygen -A`), so every machine
//! made from the image would share them, and two builds of the same
//! packages would differ. They are dropped before the overlay (which may
//! bring keys on purpose), and where the distribution does not make missing
//! keys at boot (Debian, Ubuntu), a unit does it, as cloud images do.

use anyhow::Context;

use crate::rootfs::files::RootDir;

const KEYS: &[&str] = &["rsa", "ecdsa", "ed25519", "dsa"];

/// The unit that makes this machine's keys before sshd starts.
pub const UNIT: &str = "etc/systemd/system/ssh-host-keys.service";

const UNIT_TEXT: &str = "\
# Written by builder: the image ships without SSH host keys, so that each
# machine made from it has keys of its own. They are made here, at the
# first boot, before sshd starts.
[Unit]
Description=SSH host keys of this machine
Before=ssh.service ssh.socket

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=ssh.service ssh.socket
";

/// Removes the host keys the package install made.
pub fn drop_generated(root: &RootDir) -> anyhow::Result<()> {
    for kind in KEYS {
        for suffix in ["", ".pub"] {
            let rel = format!("etc/ssh/ssh_host_{kind}_key{suffix}");
            if !root.exists(&rel).unwrap_or(false) {
                continue;
            }
            root.remove_file(&rel)
                .with_context(|| format!("overlay: removing the package's /{rel}"))?;
        }
    }
    Ok(())
}

/// Where the image has Debian's sshd units, which refuse to start without
/// keys, and no key of its own: the unit that makes them at boot, enabled.
pub fn made_at_boot(root: &RootDir) -> anyhow::Result<()> {
    let has = |rel: &str| root.exists(rel).unwrap_or(false);
    let debian_sshd = [
        "lib/systemd/system/ssh.service",
        "usr/lib/systemd/system/ssh.service",
    ]
    .iter()
    .any(|unit| has(unit));
    let has_keys = KEYS
        .iter()
        .any(|kind| has(&format!("etc/ssh/ssh_host_{kind}_key")));
    if !debian_sshd || has_keys || !has("usr/bin/ssh-keygen") {
        return Ok(());
    }
    let step = || format!("cleanup: writing /{UNIT}");
    root.create_dir_all("etc/systemd/system", 0o755)
        .with_context(step)?;
    root.write(UNIT, UNIT_TEXT.as_bytes(), 0o644)
        .with_context(step)?;
    for wants in ["ssh.service.wants", "ssh.socket.wants"] {
        let dir = format!("etc/systemd/system/{wants}");
        root.create_dir_all(&dir, 0o755).with_context(step)?;
        root.symlink(&format!("{dir}/ssh-host-keys.service"), &format!("/{UNIT}"))
            .with_context(step)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[&str]) -> (tempfile::TempDir, RootDir) {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        let root = RootDir::open(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn package_keys_go_and_a_debian_image_makes_its_own_at_boot() {
        let (dir, root) = root_with(&[
            "lib/systemd/system/ssh.service",
            "usr/bin/ssh-keygen",
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "etc/ssh/ssh_host_rsa_key",
            "etc/ssh/sshd_config",
        ]);
        drop_generated(&root).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path().join("etc/ssh"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["sshd_config"]);
        made_at_boot(&root).unwrap();
        let unit = std::fs::read_to_string(dir.path().join(UNIT)).unwrap();
        assert!(unit.contains("ExecStart=/usr/bin/ssh-keygen -A"), "{unit}");
        let link = dir
            .path()
            .join("etc/systemd/system/ssh.service.wants/ssh-host-keys.service");
        assert_eq!(
            std::fs::read_link(link).unwrap().to_str(),
            Some("/etc/systemd/system/ssh-host-keys.service")
        );
    }

    #[test]
    fn a_root_without_ssh_is_left_alone() {
        let (dir, root) = root_with(&["etc/hostname"]);
        drop_generated(&root).unwrap();
        made_at_boot(&root).unwrap();
        assert!(!dir.path().join("etc/ssh").exists());
        assert!(!dir.path().join(UNIT).exists());
    }

    #[test]
    fn keys_the_description_brings_stay_and_need_no_unit() {
        let (dir, root) = root_with(&[
            "lib/systemd/system/ssh.service",
            "usr/bin/ssh-keygen",
            "etc/ssh/ssh_host_ed25519_key",
        ]);
        made_at_boot(&root).unwrap();
        assert!(dir.path().join("etc/ssh/ssh_host_ed25519_key").exists());
        assert!(!dir.path().join(UNIT).exists());
    }

    #[test]
    fn images_whose_sshd_makes_its_keys_get_no_unit() {
        // RHEL's sshd-keygen@ and SUSE's sshd-gen-keys-start do it already.
        let (dir, root) = root_with(&["usr/lib/systemd/system/sshd.service", "usr/bin/ssh-keygen"]);
        made_at_boot(&root).unwrap();
        assert!(!dir.path().join(UNIT).exists());
    }
}
