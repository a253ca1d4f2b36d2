//! The DevConf.US 2022 demo's cloud profiles (`datto/kiwi-desc/ubuntu2004`
//! of the public KIWI fixtures) built as they are but for the distribution:
//! Debian bookworm's repository (`host://debian`) in place of Ubuntu's three,
//! and Debian's names for the two packages only Ubuntu has
//! (`linux-image-generic`, `ubuntu-keyring`). Each disk is booted in qemu to
//! the serial console's login prompt. AWSEC2 and OpenStack ask for
//! `firmware="uefi"`: they boot under OVMF with Secure Boot on and
//! Microsoft's keys enrolled, and the guest's kernel must report Secure Boot
//! enabled. Runs as root, one build at a time with the boot tests (the
//! boots run beside other tests), sharing their package and root cache.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use builder_tests::boot::{boot_and_wait_in_guest, boot_until, Firmware, Medium};
use builder_tests::kiwi_fixtures;

use crate::boot::{artifact_files, build_from, partitions, tool, Built};

/// A full cloud image under software emulation with Secure Boot's SMM:
/// slower than the example's small root.
const BOOT_LIMIT: Duration = Duration::from_secs(600);
/// What the serial console shows once the image is up.
const LOGIN: &str = "login:";
/// What Linux prints when the firmware booted it with Secure Boot on.
const SECURE_BOOT_ON: &str = "Secure boot enabled";
/// The ESP's GPT type.
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// The Debian copy of the demo's ubuntu2004 description in `dir`, or None
/// (with a visible SKIPPED line) when the fixtures are absent.
fn debian_copy(test: &str, dir: &Path) -> Option<PathBuf> {
    let fixtures = kiwi_fixtures(test)?;
    let tree = dir.join("kiwi-desc");
    let copy = |from: &Path, to: &Path| {
        let status = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success(), "cp -a {}", from.display());
    };
    copy(&fixtures.join("datto/kiwi-desc"), &tree);
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success());
    let description = tree.join("ubuntu2004");
    // `platforms` is a symlink to the shared `../platforms`: a copy in the
    // description keeps its includes inside it (no --include-root needed).
    fs::remove_file(description.join("platforms")).unwrap();
    copy(&tree.join("platforms"), &description.join("platforms"));

    let config = description.join("config.xml");
    let text = fs::read_to_string(&config).unwrap();
    let first = text.find("<repository").expect("a repository");
    let last = text.rfind("</repository>").expect("a repository") + "</repository>".len();
    let debian = r#"<repository type="apt-deb" alias="debian" distribution="bookworm" components="main" imageinclude="true" use_for_bootstrap="true">
		<source path="host://debian">
			<signing key="file:///usr/share/keyrings/debian-archive-keyring.gpg"/>
		</source>
	</repository>"#;
    let mut text = format!("{}{debian}{}", &text[..first], &text[last..]);
    for (ubuntu, debian) in [
        ("linux-image-generic", "linux-image-amd64"),
        ("ubuntu-keyring", "debian-archive-keyring"),
    ] {
        let from = format!("<package name=\"{ubuntu}\"/>");
        assert_eq!(text.matches(&from).count(), 1, "{from} in {text}");
        text = text.replace(&from, &format!("<package name=\"{debian}\"/>"));
    }
    fs::write(&config, text).unwrap();
    Some(description)
}

/// The byte offset of the disk's EFI system partition.
fn esp_offset(disk: &Path) -> u64 {
    let table = partitions(disk);
    let esp = table["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == ESP_TYPE)
        .unwrap_or_else(|| panic!("no ESP in {table:#}"));
    esp["start"].as_u64().unwrap() * 512
}

/// The bytes of `path` on the FAT filesystem at `offset` of `disk`.
fn esp_file(disk: &Path, offset: u64, path: &str) -> Vec<u8> {
    let out = Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-n")
        .arg("-i")
        .arg(format!("{}@@{offset}", disk.display()))
        .arg(format!("::/{path}"))
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mcopy {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Boots `medium` with Secure Boot on to the login prompt, and checks that
/// the guest says Secure Boot is on.
fn boot_with_secure_boot(medium: &Medium, what: &str) {
    let report = boot_until(medium, Firmware::SecureBoot, LOGIN, BOOT_LIMIT)
        .unwrap_or_else(|e| panic!("{what} did not boot with Secure Boot: {e}"));
    eprintln!("{what}: login prompt after {:.1} s", report.seconds);
    assert!(
        report.serial.contains(SECURE_BOOT_ON),
        "{what}: the kernel did not report Secure Boot on:\n{}",
        report.serial
    );
}

/// The Debian copy's `profile` built (None, with a SKIPPED line, when the
/// fixtures are absent): its scratch directory, the build, and the one
/// artifact it must have made, `Ubuntu-2004-Appliance.x86_64-0.0.0.EXT`.
fn build_profile(
    test: &str,
    profile: &str,
    extension: &str,
) -> Option<(tempfile::TempDir, Built, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let description = debian_copy(test, dir.path())?;
    let built = build_from(description, Some(profile));
    let name = format!("Ubuntu-2004-Appliance.x86_64-0.0.0.{extension}");
    assert_eq!(
        artifact_files(&built.target),
        [name.clone(), format!("{name}.sha256")]
    );
    let artifact = built.target.join(name);
    Some((dir, built, artifact))
}

#[test]
fn awsec2_profile_boots_with_secure_boot() {
    let test = "demo_profiles::awsec2_profile_boots_with_secure_boot";
    let Some((dir, built, disk)) = build_profile(test, "AWSEC2", "raw") else {
        return;
    };
    // <size unit="G">5</size>
    assert_eq!(fs::metadata(&disk).unwrap().len(), 5 << 30);
    // The ESP holds the image's own signed shim as the removable loader,
    // its signed GRUB beside it, and GRUB's first configuration where
    // Debian's signed GRUB reads it.
    let esp = esp_offset(&disk);
    let from_root = |path: &str| fs::read(built.root.join(path)).unwrap();
    assert_eq!(
        esp_file(&disk, esp, "EFI/BOOT/BOOTX64.EFI"),
        from_root("usr/lib/shim/shimx64.efi.signed")
    );
    assert_eq!(
        esp_file(&disk, esp, "EFI/BOOT/grubx64.efi"),
        from_root("usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")
    );
    let early = String::from_utf8(esp_file(&disk, esp, "EFI/debian/grub.cfg")).unwrap();
    // devicepersistency="by-label"
    assert!(early.contains("--label --set=root ROOT"), "{early}");
    let menu = fs::read_to_string(built.root.join("boot/grub/grub.cfg")).unwrap();
    assert!(menu.contains("nvme_core.io_timeout=4294967295"), "{menu}");
    boot_with_secure_boot(
        &Medium::Disk {
            path: disk.clone(),
            format: "raw",
        },
        "AWSEC2 raw disk",
    );

    // The firmware does check: a copy whose shim has one byte changed is
    // refused before anything of it runs.
    let tampered = dir.path().join("tampered.raw");
    let status = Command::new("cp")
        .arg("--sparse=always")
        .arg(&disk)
        .arg(&tampered)
        .status()
        .unwrap();
    assert!(status.success());
    let mut shim = from_root("usr/lib/shim/shimx64.efi.signed");
    let middle = shim.len() / 2;
    shim[middle] ^= 0xff;
    let shim_path = dir.path().join("shim-tampered.efi");
    fs::write(&shim_path, shim).unwrap();
    let out = Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-o", "-i"])
        .arg(format!("{}@@{esp}", tampered.display()))
        .arg(&shim_path)
        .arg("::/EFI/BOOT/BOOTX64.EFI")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = boot_until(
        &Medium::Disk {
            path: tampered,
            format: "raw",
        },
        Firmware::SecureBoot,
        "Access Denied",
        Duration::from_secs(240),
    )
    .unwrap_or_else(|e| panic!("a tampered shim was not refused: {e}"));
    assert!(!refused.serial.contains(LOGIN), "{}", refused.serial);
}

#[test]
fn openstack_profile_boots_with_secure_boot() {
    let test = "demo_profiles::openstack_profile_boots_with_secure_boot";
    let Some((_dir, _built, disk)) = build_profile(test, "OpenStack", "qcow2") else {
        return;
    };
    let info = tool("qemu-img", &["info", "--output=json"], &disk);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 5u64 << 30);
    boot_with_secure_boot(
        &Medium::Disk {
            path: disk,
            format: "qcow2",
        },
        "OpenStack qcow2 disk",
    );
}

#[test]
fn azure_profile_is_a_fixed_vhd_with_a_boot_partition_that_boots() {
    let test = "demo_profiles::azure_profile_is_a_fixed_vhd_with_a_boot_partition_that_boots";
    let Some((dir, built, vhd)) = build_profile(test, "Azure", "vhdfixed") else {
        return;
    };
    // A fixed VHD: the raw disk, then a 512-byte footer (qemu-img takes
    // such a file for raw unless told).
    let info = tool("qemu-img", &["info", "--output=json", "-f", "vpc"], &vhd);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["virtual-size"], 5u64 << 30, "{info:#}");
    assert_eq!(fs::metadata(&vhd).unwrap().len(), (5u64 << 30) + 512);
    let mut footer = [0u8; 8];
    let file = fs::File::open(&vhd).unwrap();
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut footer, 5u64 << 30).unwrap();
    assert_eq!(&footer, b"conectix");
    let raw = dir.path().join("azure.raw");
    let out = Command::new("qemu-img")
        .args(["convert", "-f", "vpc", "-O", "raw"])
        .arg(&vhd)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // bootpartition="true" bootpartsize="1024" efipartsize="512":
    // p.legacy, p.UEFI, p.lxboot, p.lxroot.
    let table = partitions(&raw);
    let parts = table["partitions"].as_array().unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["p.legacy", "p.UEFI", "p.lxboot", "p.lxroot"],
        "{table:#}"
    );
    assert_eq!(parts[1]["size"], 512 * 2048);
    assert_eq!(parts[2]["size"], 1024 * 2048);
    let boot_offset = parts[2]["start"].as_u64().unwrap() * 512;
    let root_offset = parts[3]["start"].as_u64().unwrap() * 512;
    // The kernel is on the boot filesystem, at its top; the root's /boot
    // is an empty mount point.
    let kernel = fs::read_dir(built.root.join("boot"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("vmlinuz-"))
        .expect("a kernel");
    let ls = |offset: u64, dir: &str| -> String {
        // e2fsprogs opens a filesystem at an offset of a file so.
        let out = Command::new("debugfs")
            .args(["-R", &format!("ls -l {dir}")])
            .arg(format!("{}?offset={offset}", raw.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let boot_top = ls(boot_offset, "/");
    assert!(boot_top.contains(&kernel), "{boot_top}");
    assert!(boot_top.contains("grub"), "{boot_top}");
    let root_boot = ls(root_offset, "/boot");
    assert!(!root_boot.contains(&kernel), "{root_boot}");
    let fstab = fs::read_to_string(built.root.join("etc/fstab")).unwrap();
    assert!(
        fstab
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/boot")),
        "{fstab}"
    );
    boot_with_secure_boot(
        &Medium::Disk {
            path: vhd,
            format: "vpc",
        },
        "Azure fixed VHD",
    );
}

#[test]
fn vagrant_libvirt_box_is_added_by_vagrant_and_boots() {
    let test = "demo_profiles::vagrant_libvirt_box_is_added_by_vagrant_and_boots";
    let Some((dir, built, boxed)) = build_profile(test, "Vagrant-libvirt", "vagrant.libvirt.box")
    else {
        return;
    };
    // The image holds no SSH host keys (each machine makes its own, at its
    // first boot), and the unit that makes them.
    let ssh = built.root.join("etc/ssh");
    assert!(ssh.join("sshd_config").exists());
    for key in ["rsa", "ecdsa", "ed25519"] {
        assert!(!ssh.join(format!("ssh_host_{key}_key")).exists(), "{key}");
    }
    // An absolute link, read as a link: it points into the image, not here.
    let wants = built
        .root
        .join("etc/systemd/system/ssh.service.wants/ssh-host-keys.service");
    assert_eq!(
        fs::read_link(&wants).unwrap(),
        Path::new("/etc/systemd/system/ssh-host-keys.service")
    );
    assert!(built
        .root
        .join("etc/systemd/system/ssh-host-keys.service")
        .is_file());
    // The box as vagrant-libvirt reads it: metadata, Vagrantfile, disk.
    let listing = tool("tar", &["-tzf"], &boxed);
    let mut members: Vec<&str> = listing
        .lines()
        .map(|l| l.trim_start_matches("./"))
        .collect();
    members.sort();
    assert_eq!(
        members,
        ["Vagrantfile", "box.img", "metadata.json"],
        "{listing}"
    );
    // Vagrant itself takes it (Debian's vagrant, its own home).
    let vagrant = |args: &[&str]| -> String {
        let out = Command::new("vagrant")
            .args(args)
            .env("VAGRANT_HOME", dir.path().join("vagrant.d"))
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap_or_else(|e| panic!("vagrant: {e} (run scripts/setup to install it)"));
        assert!(
            out.status.success(),
            "vagrant {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    vagrant(&[
        "box",
        "add",
        "--name",
        "builder/datto-debian",
        boxed.to_str().unwrap(),
    ]);
    let boxes = vagrant(&["box", "list"]);
    assert!(
        boxes.contains("builder/datto-debian (libvirt, 0)"),
        "{boxes}"
    );
    // Its disk: qcow2 of <vagrantconfig virtualsize="42">, booted as
    // libvirt boots it (BIOS). The profile puts no console on the serial
    // port: the image's own qemu-guest-agent says when getty is up on tty1,
    // and sshd with the keys the machine made (Debian's sshd does not
    // start without them).
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&boxed)
        .arg("-C")
        .arg(dir.path())
        .arg("box.img")
        .status()
        .unwrap();
    assert!(status.success());
    let disk = dir.path().join("box.img");
    let info = tool("qemu-img", &["info", "--output=json"], &disk);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 42u64 << 30);
    let seconds = boot_and_wait_in_guest(
        &Medium::Disk {
            path: disk,
            format: "qcow2",
        },
        Firmware::Bios,
        "/bin/sh",
        &[
            "-c",
            "systemctl is-active getty@tty1.service ssh.service && \
             test -s /etc/ssh/ssh_host_ed25519_key",
        ],
        BOOT_LIMIT,
    )
    .unwrap_or_else(|e| {
        panic!("the Vagrant box did not boot to its login prompt with sshd running: {e}")
    });
    eprintln!("Vagrant-libvirt box: getty on tty1 and sshd after {seconds:.1} s");
}
