//! The bootable image types proved by booting them: `examples/debian-cloud`
//! is built with `builder run` from real Debian packages as an `oem` qcow2
//! disk (GPT, BIOS and EFI), as a BIOS-only MBR disk and as a live ISO; each
//! is started in qemu (software emulation; SeaBIOS, and OVMF for EFI) and
//! must print the marker its `builder-boot-marker.service` writes to the
//! serial console. The disk's partition table (`sfdisk -J`), filesystems
//! (`e2fsck`, `fsck.vfat`), fstab and GRUB menu are checked against what the
//! description asks, and a disk made larger grows its root at first boot.
//! Runs as root; the builds share a package and root cache in the target
//! directory, made afresh by each run of this test binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use builder::packages::MirrorOverride;
use builder::plan::PlanRequest;
use builder::run::{run, RunRequest, RunResult};
use builder_tests::boot::{boot_until, qemu_available, Firmware, Medium};
use builder_tests::{builtin_plugins, runtime, test_limits};
use serde_json::Value;

const MARKER: &str = "BUILDER-BOOT-OK";
/// A guard against a hung boot, not a speed check: under TCG on 2 cores
/// shared with the suite's other builds, a live ISO booted with BIOS was
/// seen at its login prompt after 240 s (the demo profiles' limit).
const BOOT_LIMIT: Duration = Duration::from_secs(600);
const MIB: u64 = 1 << 20;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debian-cloud")
}

/// The cache shared by the builds of this run, emptied when the run starts.
pub(crate) fn cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-e2e-cache");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// One build at a time: the builds share a root cache (the first fills
/// it, the others start from it) and each keeps the two cores busy; the
/// boots, one core each under TCG, run beside the next build.
fn one_build_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Built {
    _dir: tempfile::TempDir,
    pub(crate) target: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) result: RunResult,
}

fn build(profile: Option<&str>) -> Built {
    build_from(example(), profile)
}

pub(crate) fn build_from(description: PathBuf, profile: Option<&str>) -> Built {
    qemu_available().unwrap_or_else(|e| panic!("{e}"));
    let _one = one_build_at_a_time();
    let dir = tempfile::Builder::new()
        .prefix("boot-e2e-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let target = dir.path().join("out");
    let root = dir.path().join("root");
    let runtime = runtime(builder::plugins::RuntimeLimits {
        call_timeout: Duration::from_secs(900),
        ..test_limits()
    });
    let plugins = builtin_plugins(&runtime);
    let request = RunRequest {
        description,
        target_dir: target.clone(),
        plan: PlanRequest {
            profiles: profile.into_iter().map(str::to_string).collect(),
            ..PlanRequest::default()
        },
        mirror: MirrorOverride(std::env::var("BUILDER_MIRROR").ok()),
        snapshots: Vec::new(),
        locked: None,
        package_cache: Some(cache().join("packages")),
        root_cache: Some(cache().join("roots")),
        xz_cache: crate::xz_cache(),
        root: Some(root.clone()),
        source_date_epoch: Some(1_700_000_000),
        memory_root: builder::prepare::memory::MemoryBudget::Auto,
        remote: None,
        signing_key: None,
    };
    let result = run(&runtime, &plugins, &request)
        .unwrap_or_else(|e| panic!("building profile {profile:?}: {e:#}"));
    Built {
        _dir: dir,
        target,
        root,
        result,
    }
}

pub(crate) fn tool(program: &str, args: &[&str], path: &Path) -> String {
    let out = Command::new(program).args(args).arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tool_output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn partitions(disk: &Path) -> Value {
    let json: Value = serde_json::from_str(&tool("sfdisk", &["-J"], disk)).unwrap();
    json["partitiontable"].clone()
}

/// The artifact files in `target`, without the SBOM and package lists.
pub(crate) fn artifact_files(target: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.ends_with(".packages")
                && !n.ends_with(".spdx.json")
                && !n.ends_with(".cdx.json")
                && !n.ends_with(".intoto.jsonl")
                && !n.ends_with(".files")
                && n != "builder.result.json"
        })
        .collect();
    names.sort();
    names
}

/// Boots `medium` until the marker; the size of its root.
fn boot(medium: &Medium, firmware: Firmware, what: &str) -> u64 {
    marker_number(&boot_marker(medium, firmware, what), "root-size=")
}

/// Boots `medium` until the marker; the marker's line.
fn boot_marker(medium: &Medium, firmware: Firmware, what: &str) -> String {
    let report = boot_until(medium, firmware, MARKER, BOOT_LIMIT)
        .unwrap_or_else(|e| panic!("{what} did not boot: {e}"));
    eprintln!("{what}: marker after {:.1} s", report.seconds);
    report
        .serial
        .lines()
        .find(|l| l.contains(MARKER))
        .unwrap()
        .to_string()
}

/// The number after `key` (`root-size=`, `boot=`) in a marker line.
fn marker_number(line: &str, key: &str) -> u64 {
    line.split(key)
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// The filesystem UUID of the partition at `offset` of `disk`.
fn fs_uuid(disk: &Path, offset: u64) -> String {
    tool(
        "blkid",
        &["-p", "-o", "value", "-s", "UUID", "-O", &offset.to_string()],
        disk,
    )
    .trim()
    .to_string()
}

/// A copy of the example in `dir`, named `name`, for a test to change.
/// `config.xml` of `description` with the `raw` profile's preferences
/// section replaced by `section` (its `<preferences profiles="raw">` line
/// and everything up to, not including, its closing tag); its new text.
fn with_raw_section(description: &Path, section: &str) -> String {
    let config = description.join("config.xml");
    let text = fs::read_to_string(&config).unwrap();
    let start = text.find("<preferences profiles=\"raw\">").unwrap();
    let end = start + text[start..].find("</preferences>").unwrap();
    let text = format!("{}{section}{}", &text[..start], &text[end..]);
    fs::write(&config, &text).unwrap();
    text
}

/// The boot marker of `description` also reports what `report` (shell,
/// with systemd's `$$`) prints, before the root's size.
fn report_in_marker(description: &Path, report: &str) {
    let marker = description.join("root/etc/systemd/system/builder-boot-marker.service");
    let unit = fs::read_to_string(&marker).unwrap();
    let reported = unit.replace(
        "echo \"BUILDER-BOOT-OK boot=",
        &format!("echo \"BUILDER-BOOT-OK {report} boot="),
    );
    assert_ne!(unit, reported);
    fs::write(&marker, reported).unwrap();
}

fn copy_of_example(dir: &Path, name: &str) -> PathBuf {
    let description = dir.join(name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(example())
        .arg(&description)
        .status()
        .unwrap();
    assert!(status.success());
    description
}

/// zstd's magic number: initramfs-tools' default compression.
const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// gzip's.
const GZIP: [u8; 2] = [0x1f, 0x8b];

/// The root's one initrd and its first four bytes.
fn initrd_of(root: &Path) -> (PathBuf, Vec<u8>) {
    let initrds: Vec<PathBuf> = fs::read_dir(root.join("boot"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("initrd.img-")
        })
        .collect();
    assert_eq!(initrds.len(), 1, "{initrds:?}");
    let bytes = fs::read(&initrds[0]).unwrap();
    (initrds[0].clone(), bytes[..4].to_vec())
}

fn modified(path: &Path) -> std::time::SystemTime {
    fs::symlink_metadata(path).unwrap().modified().unwrap()
}

#[test]
fn oem_disk_boots_with_bios_and_efi_and_its_root_grows() {
    let built = build(None);
    let name = "debian-cloud.x86_64-1.0.0.qcow2";
    // Only the disk in the asked format: the raw disk, the filesystems and
    // GRUB images made on the way are gone.
    assert_eq!(
        artifact_files(&built.target),
        [name.to_string(), format!("{name}.sha256")]
    );
    let qcow2 = built.target.join(name);
    let sha = tool("sha256sum", &[], &qcow2);
    assert_eq!(
        fs::read_to_string(built.target.join(format!("{name}.sha256")))
            .unwrap()
            .split_whitespace()
            .next(),
        sha.split_whitespace().next()
    );
    assert_eq!(built.result.artifacts.len(), 1);
    assert!(built.result.sbom.is_some());
    // The initrd the install made stands: nothing it is made from changed
    // after it (config.sh, which writes /etc/hostname, came later).
    let (initrd, magic) = initrd_of(&built.root);
    assert_eq!(magic, ZSTD, "{}", initrd.display());
    assert!(modified(&initrd) < modified(&built.root.join("etc/hostname")));
    assert!(!built.root.join(".builder-initrd-inputs").exists());

    // The partition table is what the description asks for: GPT, a BIOS
    // boot partition, a 64 MiB ESP and the root, 1 MiB aligned.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let raw = dir.path().join("disk.raw");
    tool(
        "qemu-img",
        &["convert", "-O", "raw", qcow2.to_str().unwrap()],
        &raw,
    );
    let table = partitions(&raw);
    assert_eq!(table["label"], "gpt", "{table:#}");
    let parts = table["partitions"].as_array().unwrap();
    let summary: Vec<(String, String, u64)> = parts
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["type"].as_str().unwrap().to_string(),
                p["size"].as_u64().unwrap() * 512,
            )
        })
        .collect();
    assert_eq!(summary.len(), 3, "{table:#}");
    assert_eq!(
        summary[0],
        (
            "p.legacy".into(),
            "21686148-6449-6E6F-744E-656564454649".into(),
            MIB
        )
    );
    assert_eq!(
        summary[1],
        (
            "p.UEFI".into(),
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B".into(),
            64 * MIB
        )
    );
    assert_eq!(summary[2].0, "p.lxroot");
    assert_eq!(summary[2].1, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
    for p in parts {
        assert_eq!(p["start"].as_u64().unwrap() % 2048, 0, "{p}");
    }
    let start = |i: usize| parts[i]["start"].as_u64().unwrap() * 512;

    // Each filesystem passes its checker; the ESP holds GRUB's EFI binary.
    tool(
        "e2fsck",
        &["-fn"],
        Path::new(&format!("{}?offset={}", raw.display(), start(2))),
    );
    let esp = dir.path().join("esp.img");
    let status = Command::new("dd")
        .arg(format!("if={}", raw.display()))
        .arg(format!("of={}", esp.display()))
        .args(["bs=1M", "skip=2", "count=64", "status=none"])
        .status()
        .unwrap();
    assert!(status.success());
    tool("fsck.vfat", &["-n"], &esp);
    let efi_dir = Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-b", "-i"])
        .arg(&esp)
        .arg("::/EFI/BOOT")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&efi_dir.stdout).contains("BOOTX64.EFI"),
        "{}",
        String::from_utf8_lossy(&efi_dir.stdout)
    );

    // fstab and GRUB's menu name the filesystems by the UUIDs they have.
    let root_uuid = fs_uuid(&raw, start(2));
    let esp_uuid = fs_uuid(&raw, start(1));
    let fstab = fs::read_to_string(built.root.join("etc/fstab")).unwrap();
    assert!(
        fstab.contains(&format!(
            "UUID={root_uuid} / ext4 defaults,x-systemd.growfs 0 1"
        )),
        "{fstab}"
    );
    assert!(
        fstab.contains(&format!("UUID={esp_uuid} /boot/efi vfat")),
        "{fstab}"
    );
    let grub_cfg = fs::read_to_string(built.root.join("boot/grub/grub.cfg")).unwrap();
    assert!(
        grub_cfg.contains(&format!("root=UUID={root_uuid} ro console=ttyS0,115200")),
        "{grub_cfg}"
    );
    assert!(grub_cfg.contains("set timeout=1"), "{grub_cfg}");
    assert!(
        fs::read_to_string(built.root.join("etc/initramfs-tools/conf.d/builder"))
            .unwrap()
            .contains("FSTYPE=ext4")
    );
    // The initrd tool was deferred during the install and is back.
    let tool = fs::read_to_string(built.root.join("usr/sbin/update-initramfs")).unwrap();
    assert!(!tool.contains("builder"), "{tool}");
    let diversions = tool_output(
        Command::new("dpkg-divert")
            .arg("--admindir")
            .arg(built.root.join("var/lib/dpkg"))
            .arg("--list"),
    );
    assert!(!diversions.contains("builder"), "{diversions}");
    assert!(!built.root.join(".builder-initrd-deferred").exists());

    // It boots with BIOS, and with EFI on a disk 1 GiB larger whose root
    // partition and filesystem grow at first boot.
    let bios_root = boot(
        &Medium::Disk {
            path: qcow2.clone(),
            format: "qcow2",
        },
        Firmware::Bios,
        "qcow2 disk with BIOS",
    );
    let larger = dir.path().join("larger.qcow2");
    let size = fs::metadata(&raw).unwrap().len() + 1024 * MIB;
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&qcow2)
        .arg(&larger)
        .arg(size.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let efi_root = boot(
        &Medium::Disk {
            path: larger,
            format: "qcow2",
        },
        Firmware::Efi,
        "larger qcow2 disk with EFI",
    );
    assert!(
        efi_root > bios_root + 900 * MIB,
        "the root did not grow: {bios_root} bytes on the disk as built, {efi_root} on one 1 GiB larger"
    );

    // eficsm="false": the same root as a disk for EFI alone, without the
    // BIOS boot partition (and GRUB's core image), boots with EFI; with
    // oem-systemsize 200 MiB over the root partition as built, on a disk
    // 1 GiB larger the root grows by those 200 MiB alone.
    let root_mib = summary[2].2 / MIB;
    let efi_only = create_from(
        &built.root,
        dir.path(),
        "oem",
        &[
            ("eficsm", "false"),
            ("format", "raw"),
            ("oem-systemsize", &(root_mib + 200).to_string()),
        ],
    );
    let table = partitions(&efi_only);
    let names: Vec<&str> = table["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p.UEFI", "p.lxroot"], "{table:#}");
    // No GRUB boot code in the protective MBR.
    let head = fs::read(&efi_only).unwrap();
    assert!(head[..440].iter().all(|b| *b == 0));
    let size = fs::metadata(&efi_only).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&efi_only)
        .unwrap()
        .set_len(size + 1024 * MIB)
        .unwrap();
    let capped_root = boot(
        &Medium::Disk {
            path: efi_only,
            format: "raw",
        },
        Firmware::Efi,
        "disk without BIOS boot (eficsm=\"false\") with EFI",
    );
    let grown = capped_root.saturating_sub(bios_root);
    assert!(
        (150 * MIB..=250 * MIB).contains(&grown),
        "oem-systemsize: the root grew by {grown} bytes, not about 200 MiB"
    );
}

/// `builder create` of `type_name` with `options` over the prepared root
/// `root`, into `dir/out-<type>`; the artifact's path.
fn create_from(root: &Path, dir: &Path, type_name: &str, options: &[(&str, &str)]) -> PathBuf {
    let out = dir.join(format!("out-{type_name}"));
    let outcome = create_in(root, &out, type_name, options)
        .unwrap_or_else(|e| panic!("creating {type_name} with {options:?}: {e:#}"));
    assert_eq!(outcome.artifacts.len(), 1);
    out.join(&outcome.artifacts[0].file_name)
}

/// `builder create` of `type_name` with `options` over `root` into `out`.
fn create_in(
    root: &Path,
    out: &Path,
    type_name: &str,
    options: &[(&str, &str)],
) -> anyhow::Result<builder::create::CreateOutcome> {
    use builder::create::{create, CreateRequest};
    let runtime = runtime(builder::plugins::RuntimeLimits {
        call_timeout: Duration::from_secs(900),
        ..test_limits()
    });
    let plugins = builtin_plugins(&runtime);
    create(
        &runtime,
        &plugins,
        &CreateRequest {
            options: options
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..crate::create_request(root, out, type_name)
        },
    )
}

/// The `bios` profile: an MBR disk with GRUB for BIOS, and its
/// installation ISO, which writes it onto a machine's blank disk from a CD
/// (asking first); that disk then boots.
#[test]
fn bios_profile_is_an_mbr_disk_that_boots_after_its_iso_installed_it() {
    let built = build(Some("bios"));
    let name = "debian-cloud.x86_64-1.0.0.raw";
    let iso_name = "debian-cloud.x86_64-1.0.0.install.iso";
    assert_eq!(
        artifact_files(&built.target),
        [
            iso_name.to_string(),
            format!("{iso_name}.sha256"),
            name.to_string(),
            format!("{name}.sha256")
        ]
    );
    let disk = built.target.join(name);
    let table = partitions(&disk);
    assert_eq!(table["label"], "dos", "{table:#}");
    let parts = table["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{table:#}");
    assert_eq!(parts[0]["type"], "83");
    assert_eq!(parts[0]["bootable"], true);
    assert_eq!(parts[0]["start"], 2048);
    // GRUB's boot code is in the MBR, its core image in the gap after it.
    let bytes = fs::read(&disk).unwrap();
    assert_eq!(&bytes[510..512], &[0x55, 0xaa]);
    assert!(bytes[512..1024].iter().any(|b| *b != 0));
    let fstab = fs::read_to_string(built.root.join("etc/fstab")).unwrap();
    assert!(!fstab.contains("/boot/efi"), "{fstab}");

    // KIWI's installiso, as 20 of KIWI's own descriptions ask for it: the
    // installation ISO carries the disk and the installer's settings, and
    // its menu is KIWI's, the default the one `installboot` asks for.
    let iso = built.target.join(iso_name);
    let extract = |path: &str| {
        let out = built.target.join("extracted");
        let _ = fs::remove_file(&out);
        tool_output(
            Command::new("xorriso")
                .args(["-osirrox", "on", "-indev"])
                .arg(&iso)
                .args(["-extract", path])
                .arg(&out),
        );
        let text = fs::read_to_string(&out).unwrap();
        fs::remove_file(&out).unwrap();
        text
    };
    let image_size = fs::metadata(&disk).unwrap().len();
    let conf = extract("/builder-install.conf");
    assert!(
        conf.starts_with(&format!("image={name}.zst\nsize={image_size}\n")),
        "{conf}"
    );
    assert!(conf.contains("\nverify=true\nunattended=false\n"), "{conf}");
    let cfg = extract("/boot/grub/grub.cfg");
    assert!(cfg.contains("set default=1\n"), "{cfg}");
    let entries: Vec<&str> = cfg
        .lines()
        .filter_map(|l| l.strip_prefix("menuentry '"))
        .map(|l| l.split('\'').next().unwrap())
        .collect();
    assert_eq!(
        entries,
        [
            "Boot from Hard Disk",
            "Install debian-cloud",
            "Failsafe -- Install debian-cloud"
        ]
    );
    // From a CD onto a blank disk, the question answered on the serial
    // console; the machine's disk then boots.
    let installed = install_onto_a_blank_disk(
        &iso,
        &disk,
        "rebooting",
        &[("destroying ALL data on /dev/vda", "y")],
    );
    boot(
        &Medium::Disk {
            path: installed,
            format: "raw",
        },
        Firmware::Bios,
        "MBR disk installed from its ISO, BIOS",
    );
}

/// The live ISO boots from a CD with BIOS and with Secure Boot, and as a
/// disk: written onto a larger one (a USB stick), its first boot makes the
/// hybridpersistent `cow` partition after the image, and the second boot
/// (with Secure Boot this time) counts the first one's boot, kept there.
#[test]
fn live_iso_boots_with_bios_and_with_secure_boot() {
    let built = build(Some("iso"));
    let name = "debian-cloud.x86_64-1.0.0.iso";
    assert_eq!(
        artifact_files(&built.target),
        [name.to_string(), format!("{name}.sha256")]
    );
    let iso = built.target.join(name);
    let report = Command::new("xorriso")
        .args(["-indev"])
        .arg(&iso)
        .args(["-report_el_torito", "plain", "-find", "/", "-type", "f"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout).into_owned()
        + &String::from_utf8_lossy(&report.stderr);
    assert!(text.contains("El Torito boot img :   1  BIOS"), "{text}");
    assert!(text.contains("El Torito boot img :   2  UEFI"), "{text}");
    assert!(text.contains("'/live/filesystem.squashfs'"), "{text}");
    assert!(text.contains("Volume id    : 'CDROM'"), "{text}");
    // firmware="uefi": EFI boots with Secure Boot on, through the image's
    // signed shim and GRUB.
    for firmware in [Firmware::Bios, Firmware::SecureBoot] {
        let report = boot_until(&Medium::Cdrom(iso.clone()), firmware, MARKER, BOOT_LIMIT)
            .unwrap_or_else(|e| panic!("live ISO with {firmware:?} did not boot: {e}"));
        eprintln!(
            "live ISO with {firmware:?}: marker after {:.1} s",
            report.seconds
        );
        assert_eq!(
            report.serial.contains("Secure boot enabled"),
            firmware == Firmware::SecureBoot,
            "{}",
            report.serial
        );
        // From a CD, the changes stay in memory.
        assert!(
            report.serial.contains("changes stay in memory"),
            "{}",
            report.serial
        );
    }
    // Hybrid: the same file, written onto a stick 256 MiB larger, boots as
    // a disk; the first boot makes the write partition after the image.
    let (stick, on_stick) = written_onto_a_stick(&iso);
    let iso_size = fs::metadata(&iso).unwrap().len();
    let first = boot_marker(&on_stick, Firmware::Bios, "live ISO on a stick with BIOS");
    assert_eq!(marker_number(&first, "boot="), 1, "{first}");
    let table: Value = serde_json::from_str(&tool("sfdisk", &["-J"], &stick)).unwrap();
    let partitions = table["partitiontable"]["partitions"].as_array().unwrap();
    let cow = partitions.last().unwrap();
    let start = cow["start"].as_u64().unwrap() * 512;
    assert!(start >= iso_size, "{table}");
    let probe = tool(
        "blkid",
        &["-p", "-o", "export", "-O", &start.to_string()],
        &stick,
    );
    assert!(probe.contains("LABEL=cow\n"), "{probe}");
    assert!(probe.contains("TYPE=ext4\n"), "{probe}");
    // The second boot, with EFI's Secure Boot, sees the first boot's count.
    let second = boot_marker(
        &on_stick,
        Firmware::SecureBoot,
        "live ISO on a stick with Secure Boot",
    );
    assert_eq!(marker_number(&second, "boot="), 2, "{second}");
    fs::remove_file(&stick).unwrap();
}

/// `iso` written onto a USB stick 256 MiB larger than itself (beside it):
/// the stick's file, and the stick as qemu writes to it.
fn written_onto_a_stick(iso: &Path) -> (PathBuf, Medium) {
    let stick = iso.with_file_name("stick.img");
    fs::copy(iso, &stick).unwrap();
    let size = fs::metadata(iso).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&stick)
        .unwrap()
        .set_len(size + 256 * MIB)
        .unwrap();
    (stick.clone(), Medium::WritableDisk(stick))
}

/// Boots installation ISO `iso` from a CD with BIOS on a machine with a
/// blank disk 1 GiB larger than the disk image `raw`, typing `answers`,
/// until the installer says it installed and is `then` (`rebooting`,
/// `powering off`); checks that the disk begins with `raw`, byte for byte,
/// and returns the disk's file.
fn install_onto_a_blank_disk(
    iso: &Path,
    raw: &Path,
    then: &str,
    answers: &[(&str, &str)],
) -> PathBuf {
    let image_size = fs::metadata(raw).unwrap().len();
    let target = iso.with_file_name("machine-disk.raw");
    fs::File::create(&target)
        .unwrap()
        .set_len(image_size + 1024 * MIB)
        .unwrap();
    let report = builder_tests::boot::boot_answering(
        &Medium::CdromAndDisk {
            iso: iso.to_path_buf(),
            disk: target.clone(),
        },
        Firmware::Bios,
        &format!("builder-install: installed onto /dev/vda; {then}"),
        BOOT_LIMIT,
        answers,
    )
    .unwrap_or_else(|e| panic!("the installation ISO did not install: {e}"));
    eprintln!("installed after {:.1} s", report.seconds);
    assert!(
        report
            .serial
            .contains("builder-install: reading /dev/vda back"),
        "{}",
        report.serial
    );
    let written = tool_output(Command::new("sh").arg("-c").arg(format!(
        "head -c {image_size} {} | sha256sum && sha256sum < {}",
        target.display(),
        raw.display()
    )));
    let digests: Vec<&str> = written.lines().map(|l| &l[..64]).collect();
    assert_eq!(digests[0], digests[1], "{written}");
    target
}

/// The live ISO with dracut's dmsquash-live as its live system, as KIWI's
/// own Debian descriptions have it (`dracut-kiwi-live`, which builder
/// substitutes with `dracut-live` and `parted`): `flags="overlay"` gives an
/// overlayfs root, and written onto a stick its first boot makes the `cow`
/// partition that the second boot finds its count in.
#[test]
fn live_iso_with_dracut_keeps_its_changes_on_a_stick() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let description = copy_of_example(dir.path(), "debian-cloud-dracut-live");
    let config = description.join("config.xml");
    let text = fs::read_to_string(&config).unwrap();
    let swapped = text
        .replace(
            r#"<package name="initramfs-tools"/>"#,
            r#"<package name="dracut"/>"#,
        )
        .replace(
            r#"<package name="live-boot"/>"#,
            r#"<package name="dracut-kiwi-live"/>"#,
        )
        .replace(r#"<package name="parted"/>"#, "")
        // dracut 059's dmsquash-live mounts a squashfs root only.
        .replace(r#" filesystem="erofs" erofscompression="lz4hc""#, "");
    assert_ne!(text, swapped);
    fs::write(&config, swapped).unwrap();
    let built = build_from(description, Some("iso"));
    let substituted = &built.result.substituted;
    assert_eq!(substituted.len(), 1, "{substituted:?}");
    assert_eq!(substituted[0].installed, ["dracut-live", "parted"]);
    assert!(built
        .root
        .join("usr/lib/dracut/modules.d/91builder-live-cow/module-setup.sh")
        .exists());
    let iso = built.target.join("debian-cloud.x86_64-1.0.0.iso");
    let (_stick, on_stick) = written_onto_a_stick(&iso);
    for count in [1, 2] {
        let what = format!("dracut live ISO on a stick, boot {count}");
        let report = boot_until(&on_stick, Firmware::Bios, MARKER, BOOT_LIMIT)
            .unwrap_or_else(|e| panic!("{what} did not boot: {e}"));
        eprintln!("{what}: marker after {:.1} s", report.seconds);
        let line = report.serial.lines().find(|l| l.contains(MARKER)).unwrap();
        assert_eq!(marker_number(line, "boot="), count, "{line}");
        assert!(
            report.serial.contains("changes are kept on"),
            "{}",
            report.serial
        );
    }
}

/// `builder create` of `type_name` over a root without a kernel.
fn create_without_kernel(type_name: &str, options: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = dir.path().join("root");
    builder_tests::sample_tree(&root);
    let out = dir.path().join("out");
    let err = create_in(&root, &out, type_name, options)
        .expect_err("a root without a kernel cannot boot");
    // Nothing half made is left in the target directory.
    let left: Vec<_> = fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    format!("{err:#}")
}

#[test]
fn a_root_that_cannot_boot_is_refused_with_what_to_add() {
    let oem = create_without_kernel("oem", &[]);
    assert!(oem.contains("the root has no kernel"), "{oem}");
    assert!(oem.contains("linux-image-amd64"), "{oem}");
    let iso = create_without_kernel("iso", &[]);
    assert!(iso.contains("no live system"), "{iso}");
    assert!(iso.contains("live-boot"), "{iso}");
    let format = create_without_kernel("oem", &[("format", "vdi")]);
    assert!(
        format.contains("`vdi` is not one of raw|qcow2|vmdk|vhdx|vhd|vhd-fixed|gce|ova|vagrant"),
        "{format}"
    );
    // Packed formats are taken; a box without its <vagrantconfig> is
    // refused before the root is looked at.
    for packed in ["gce", "ova"] {
        let err = create_without_kernel("oem", &[("format", packed)]);
        assert!(err.contains("the root has no kernel"), "{packed}: {err}");
    }
    // KIWI's ec2 and custom firmware are taken (made as bios, an MBR disk);
    // uefi needs the image's signed chain, and says which packages bring it.
    for firmware in ["ec2", "custom"] {
        let err = create_without_kernel("oem", &[("firmware", firmware)]);
        assert!(err.contains("the root has no kernel"), "{firmware}: {err}");
    }
    let uefi = create_without_kernel("oem", &[("firmware", "uefi")]);
    assert!(
        uefi.contains("add `shim-signed` and `grub-efi-amd64-signed`"),
        "{uefi}"
    );
    let vagrant = create_without_kernel("oem", &[("format", "vagrant")]);
    assert!(
        vagrant.contains("`vagrant` needs a <vagrantconfig provider=\"libvirt|virtualbox\">"),
        "{vagrant}"
    );
}

/// KIWI's partitions beside the boot loader's, in KIWI's order: swap
/// (`oem-swap`), the custom `<partitions>` (one holding /home, one left
/// empty, one with a blank filesystem), the spare partition holding /srv,
/// then the root; fstab and the kernel's `root=` name them by PARTUUID
/// (`devicepersistency="by-partuuid"`). A partition holding a directory
/// has its content, which the root keeps as an empty mount point, and the
/// disk boots with each mounted and the swap on.
#[test]
fn oem_disk_with_custom_partitions_spare_and_swap_boots() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let description = copy_of_example(dir.path(), "debian-cloud-partitions");
    for (file, text) in [
        ("root/home/custom.txt", "on the home partition\n"),
        ("root/srv/spare.txt", "on the spare partition\n"),
    ] {
        let path = description.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    // The marker says what is mounted and how many swap areas are on.
    report_in_marker(
        &description,
        "mounted=$$(for m in /home /srv /boot/efi; do mountpoint -q $$m \
         && echo -n $$m,; done) swaps=$$(tail -n +2 /proc/swaps | wc -l)",
    );
    let raw = r#"<preferences profiles="raw">
        <type image="oem" primary="true" filesystem="ext4" firmware="efi" devicepersistency="by-partuuid" spare_part="64M" spare_part_mountpoint="/srv" spare_part_fs="ext4" kernelcmdline="console=ttyS0,115200 console=tty0">
            <bootloader name="grub2" output_console="serial" input_console="serial" timeout="1"/>
            <oemconfig>
                <oem-resize>true</oem-resize>
                <oem-swap>true</oem-swap>
                <oem-swapsize>32</oem-swapsize>
            </oemconfig>
            <partitions>
                <partition name="home" size="48" mountpoint="/home" filesystem="ext4"/>
                <partition name="data" size="16"/>
                <partition name="scratch" size="16M" filesystem="ext4" label="SCRATCH"/>
            </partitions>
        </type>
    "#;
    with_raw_section(&description, raw);
    let built = build_from(description, Some("raw"));
    let disk = built.target.join("debian-cloud.x86_64-1.0.0.raw");

    let table = partitions(&disk);
    assert_eq!(table["label"], "gpt", "{table:#}");
    let parts = table["partitions"].as_array().unwrap();
    let field = |i: usize, key: &str| parts[i][key].as_str().unwrap().to_string();
    let names: Vec<String> = (0..parts.len()).map(|i| field(i, "name")).collect();
    assert_eq!(
        names,
        [
            "p.legacy",
            "p.UEFI",
            "p.swap",
            "p.lxhome",
            "p.lxdata",
            "p.lxscratch",
            "p.spare",
            "p.lxroot"
        ],
        "{table:#}"
    );
    let mib = |i: usize| parts[i]["size"].as_u64().unwrap() * 512 / MIB;
    assert_eq!(
        [mib(2), mib(3), mib(4), mib(5), mib(6)],
        [32, 48, 16, 16, 64]
    );
    assert_eq!(field(2, "type"), "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F");
    let start = |i: usize| parts[i]["start"].as_u64().unwrap() * 512;
    let probe = |i: usize, tag: &str| -> String {
        tool(
            "blkid",
            &["-p", "-o", "value", "-s", tag, "-O", &start(i).to_string()],
            &disk,
        )
        .trim()
        .to_string()
    };
    assert_eq!(probe(2, "TYPE"), "swap");
    assert_eq!(probe(3, "LABEL"), "HOME");
    assert_eq!(probe(5, "LABEL"), "SCRATCH");
    assert_eq!(probe(6, "LABEL"), "SPARE");
    // The data partition has no filesystem.
    let out = Command::new("blkid")
        .args(["-p", "-O", &start(4).to_string()])
        .arg(&disk)
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Each directory is on its partition, and an empty mount point on the root.
    let debugfs = |i: usize, request: &str| -> String {
        tool_output(Command::new("debugfs").args(["-R", request]).arg(format!(
            "{}?offset={}",
            disk.display(),
            start(i)
        )))
    };
    assert_eq!(debugfs(3, "cat /custom.txt"), "on the home partition\n");
    assert_eq!(debugfs(6, "cat /spare.txt"), "on the spare partition\n");
    for dir in ["/home", "/srv"] {
        let listing = debugfs(7, &format!("ls {dir}"));
        let entries: Vec<&str> = listing
            .split_whitespace()
            .filter(|w| !w.starts_with('(') && !w.chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(entries, [".", ".."], "{dir} on the root: {listing}");
    }
    assert!(debugfs(5, "ls /").contains("lost+found"));

    // fstab and the kernel name each by its partition's UUID.
    let partuuid = |i: usize| field(i, "uuid").to_lowercase();
    let fstab = fs::read_to_string(built.root.join("etc/fstab")).unwrap();
    for line in [
        format!(
            "PARTUUID={} / ext4 defaults,x-systemd.growfs 0 1",
            partuuid(7)
        ),
        format!("PARTUUID={} /boot/efi vfat", partuuid(1)),
        format!("PARTUUID={} /srv ext4 defaults 0 0", partuuid(6)),
        format!("PARTUUID={} swap swap defaults 0 0", partuuid(2)),
        format!("PARTUUID={} /home ext4 defaults 0 0", partuuid(3)),
    ] {
        assert!(fstab.contains(&line), "{line:?} is not in\n{fstab}");
    }
    let grub_cfg = fs::read_to_string(built.root.join("boot/grub/grub.cfg")).unwrap();
    assert!(
        grub_cfg.contains(&format!("root=PARTUUID={} ro", partuuid(7))),
        "{grub_cfg}"
    );

    let report = boot_until(
        &Medium::Disk {
            path: disk,
            format: "raw",
        },
        Firmware::Bios,
        MARKER,
        BOOT_LIMIT,
    )
    .unwrap_or_else(|e| panic!("the disk with KIWI's partitions did not boot: {e}"));
    let line = report.serial.lines().find(|l| l.contains(MARKER)).unwrap();
    assert!(
        line.contains("mounted=/home,/srv,/boot/efi, swaps=1 "),
        "{line}"
    );
}

/// KIWI's `format="oci:qcow2"`: the disk, converted to qcow2, in an OCI
/// image (`/disk/<name>.qcow2`, KubeVirt's container-disk layout) named by
/// `<containerconfig>`; skopeo reads the archive, and the disk in its one
/// layer is the qcow2 qemu-img knows. Nothing but the image is left.
#[test]
fn oem_disk_in_an_oci_image() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let description = copy_of_example(dir.path(), "debian-cloud-oci");
    let raw = r#"<preferences profiles="raw">
        <type image="oem" primary="true" filesystem="ext4" firmware="efi" format="oci:qcow2" kernelcmdline="console=ttyS0,115200">
            <bootloader name="grub2" output_console="serial" timeout="1"/>
            <containerconfig name="golden/debian-cloud-disk" tag="1.0.0"/>
        </type>
    "#;
    with_raw_section(&description, raw);
    let built = build_from(description, Some("raw"));
    let mut left: Vec<String> = fs::read_dir(&built.target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("debian-cloud.x86_64-1.0.0.") && !n.ends_with(".packages"))
        .filter(|n| !n.ends_with(".sha256") && !n.contains(".cdx.") && !n.contains(".spdx."))
        .filter(|n| !n.ends_with(".intoto.jsonl") && !n.ends_with(".files"))
        .collect();
    left.sort();
    assert_eq!(left, ["debian-cloud.x86_64-1.0.0.oci.tar.xz"]);
    let tar = dir.path().join("image.oci.tar");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "xz -dc '{}' > '{}'",
            built.target.join(&left[0]).display(),
            tar.display()
        ))
        .status()
        .unwrap();
    assert!(out.success());
    let reference = format!("oci-archive:{}:1.0.0", tar.display());
    let inspect: Value = serde_json::from_str(&tool_output(
        Command::new("skopeo").args(["inspect", &reference]),
    ))
    .unwrap();
    assert_eq!(inspect["Architecture"], "amd64", "{inspect:#}");
    assert_eq!(inspect["Os"], "linux", "{inspect:#}");
    let layers = inspect["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{inspect:#}");
    // The layer holds the disk, a qcow2.
    let layout = dir.path().join("layout");
    fs::create_dir(&layout).unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(status.success());
    let digest = layers[0].as_str().unwrap().trim_start_matches("sha256:");
    let listing = tool_output(
        Command::new("tar")
            .arg("-tvf")
            .arg(layout.join("blobs/sha256").join(digest)),
    );
    assert!(
        listing.contains(" disk/debian-cloud.x86_64-1.0.0.qcow2"),
        "{listing}"
    );
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(layout.join("blobs/sha256").join(digest))
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(status.success());
    let info: Value = serde_json::from_str(&tool_output(
        Command::new("qemu-img")
            .args(["info", "--output", "json"])
            .arg(unpacked.join("disk/debian-cloud.x86_64-1.0.0.qcow2")),
    ))
    .unwrap();
    assert_eq!(info["format"], "qcow2", "{info:#}");
}

/// The example's `config.xml` text with the packages whose initrd hooks
/// activate LVM and open LUKS, and a GRUB theme: the LVM and LUKS tests
/// share this package set, so they share one prepared root.
fn with_volume_tools(config: &str) -> String {
    let with = config.replacen(
        "<package name=\"e2fsprogs\"/>",
        "<package name=\"e2fsprogs\"/>\n        <package name=\"lvm2\"/>\n        \
         <package name=\"cryptsetup-initramfs\"/>\n        \
         <package name=\"grub-theme-starfield\"/>",
        1,
    );
    assert_ne!(config, with);
    with
}

/// KIWI's `<systemdisk>`: the root, /home (a fixed size), /srv/data (its
/// content and free space) and swap (`oem-swap`) are logical volumes of
/// the volume group `systemVG` on one LVM partition, written without
/// LVM's tools or device-mapper; fstab and `root=` name them by device as
/// KIWI does, GRUB reads /boot through its lvm module, and the disk boots
/// with each volume mounted and the swap volume on. Its GRUB shows the
/// image's starfield theme (`<bootloader-theme>`) on the graphical terminal
/// beside the serial one.
#[test]
fn oem_disk_with_the_root_on_lvm_boots() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let description = copy_of_example(dir.path(), "debian-cloud-lvm");
    for (file, text) in [
        ("root/home/on-home.txt", "on the home volume\n"),
        ("root/srv/data/on-data.txt", "on the data volume\n"),
    ] {
        let path = description.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    report_in_marker(
        &description,
        "root=$$(findmnt -n -o SOURCE /) mounted=$$(for m in /home \
         /srv/data; do mountpoint -q $$m && echo -n $$m,; done) data=$$(cat /srv/data/on-data.txt) \
         swaps=$$(tail -n +2 /proc/swaps | wc -l) grown=$$(systemctl is-active \
         builder-grow-lvm) vg-free=$$(vgs --noheadings --nosuffix --units m -o vg_free \
         systemVG | xargs) pv-mib=$$(pvs --noheadings --nosuffix --units m -o pv_size \
         | xargs | cut -d. -f1)",
    );
    let raw = r#"<preferences profiles="raw">
        <type image="oem" primary="true" filesystem="ext4" firmware="efi" kernelcmdline="console=ttyS0,115200 console=tty0">
            <bootloader name="grub2" output_console="serial gfxterm" input_console="serial" timeout="1" timeout_style="countdown"/>
            <oemconfig>
                <oem-resize>true</oem-resize>
                <oem-swap>true</oem-swap>
                <oem-swapsize>32</oem-swapsize>
            </oemconfig>
            <systemdisk name="systemVG">
                <volume name="home" size="64M"/>
                <volume name="data" mountpoint="/srv/data" freespace="16"/>
            </systemdisk>
        </type>
    "#;
    let text = with_raw_section(&description, raw).replacen(
        "<timezone>UTC</timezone>",
        "<timezone>UTC</timezone>\n        <bootloader-theme>starfield</bootloader-theme>",
        1,
    );
    fs::write(description.join("config.xml"), with_volume_tools(&text)).unwrap();
    let built = build_from(description, Some("raw"));
    let disk = built.target.join("debian-cloud.x86_64-1.0.0.raw");
    for file in ["themes/starfield/theme.txt", "fonts/unicode.pf2"] {
        assert!(built.root.join("boot/grub").join(file).is_file(), "{file}");
    }

    let table = partitions(&disk);
    let parts = table["partitions"].as_array().unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["p.legacy", "p.UEFI", "p.lxlvm"], "{table:#}");
    assert_eq!(parts[2]["type"], "E6D6D379-F507-44C2-A23C-238F2A3DF928");
    let start = parts[2]["start"].as_u64().unwrap() * 512;
    assert_eq!(
        tool(
            "blkid",
            &["-p", "-o", "value", "-s", "TYPE", "-O", &start.to_string()],
            &disk
        )
        .trim(),
        "LVM2_member"
    );
    let fstab = fs::read_to_string(built.root.join("etc/fstab")).unwrap();
    for line in [
        "/dev/systemVG/LVRoot / ext4 defaults 0 1",
        "/dev/systemVG/LVSwap swap swap defaults 0 0",
        "/dev/systemVG/home /home ext4 defaults 0 0",
        "/dev/systemVG/data /srv/data ext4 defaults 0 0",
    ] {
        assert!(fstab.contains(line), "{line:?} is not in\n{fstab}");
    }
    let grub_cfg = fs::read_to_string(built.root.join("boot/grub/grub.cfg")).unwrap();
    for line in [
        "root=/dev/systemVG/LVRoot rd.lvm.vg=systemVG ro",
        "loadfont /boot/grub/fonts/unicode.pf2\n",
        "set theme=/boot/grub/themes/starfield/theme.txt\n",
        "terminal_input serial\nterminal_output serial gfxterm\n",
        "set timeout_style=countdown\n",
    ] {
        assert!(grub_cfg.contains(line), "{line:?} is not in\n{grub_cfg}");
    }

    // oem-resize: booted on a copy 512 MiB larger, the LVM partition,
    // its physical volume and the root's volume take the new space.
    let repart = fs::read_to_string(built.root.join("etc/repart.d/50-builder-root.conf")).unwrap();
    assert!(
        repart.contains("Type=e6d6d379-f507-44c2-a23c-238f2a3df928"),
        "{repart}"
    );
    assert!(built
        .root
        .join("etc/systemd/system/multi-user.target.wants/builder-grow-lvm.service")
        .symlink_metadata()
        .is_ok());
    let built_mib = parts[2]["size"].as_u64().unwrap() * 512 / MIB;
    let larger = built.target.join("larger.raw");
    fs::copy(&disk, &larger).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&larger).unwrap();
    file.set_len(fs::metadata(&disk).unwrap().len() + 512 * MIB)
        .unwrap();
    drop(file);
    let report = boot_until(
        &Medium::Disk {
            path: larger,
            format: "raw",
        },
        Firmware::Bios,
        MARKER,
        BOOT_LIMIT,
    )
    .unwrap_or_else(|e| panic!("the disk with its root on LVM did not boot: {e}"));
    let line = report.serial.lines().find(|l| l.contains(MARKER)).unwrap();
    assert!(
        line.contains(
            "root=/dev/systemVG/LVRoot mounted=/home,/srv/data, \
             data=on the data volume swaps=1 grown=active vg-free=0 "
        ),
        "{line}"
    );
    let pv_mib: u64 = line
        .split("pv-mib=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pv-mib in {line}"));
    assert!(
        pv_mib >= built_mib + 500,
        "{built_mib} MiB built, {pv_mib} MiB after the boot: {line}"
    );
}

/// KIWI's `luks`: the root partition is a LUKS2 container (pbkdf2 key
/// slots, as GRUB needs), sealed on the host without device-mapper. /boot
/// is inside, so GRUB asks for the passphrase, typed here on the serial
/// console, and the initrd opens the container again with the key file it
/// carries (`/root/.root.keyfile`, named in crypttab), without asking.
#[test]
fn oem_disk_with_an_encrypted_root_boots_with_its_passphrase() {
    const PASSPHRASE: &str = "golden image test passphrase";
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let description = copy_of_example(dir.path(), "debian-cloud-luks");
    report_in_marker(&description, "root=$$(findmnt -n -o SOURCE /)");
    let raw = format!(
        r#"<preferences profiles="raw">
        <type image="oem" primary="true" filesystem="ext4" firmware="efi" luks="{PASSPHRASE}" luks_version="luks2" luks_pbkdf="pbkdf2" kernelcmdline="console=ttyS0,115200 console=tty0">
            <bootloader name="grub2" output_console="serial" input_console="serial" timeout="1"/>
            <luksformat>
                <option name="--pbkdf-force-iterations" value="1000"/>
            </luksformat>
            <oemconfig>
                <oem-resize>false</oem-resize>
            </oemconfig>
        </type>
    "#
    );
    let text = with_raw_section(&description, &raw);
    fs::write(description.join("config.xml"), with_volume_tools(&text)).unwrap();
    let built = build_from(description, Some("raw"));
    let disk = built.target.join("debian-cloud.x86_64-1.0.0.raw");

    let table = partitions(&disk);
    let parts = table["partitions"].as_array().unwrap();
    let root = &parts[2];
    assert_eq!(root["name"], "p.lxroot", "{table:#}");
    let start = (root["start"].as_u64().unwrap() * 512).to_string();
    let probe = |tag: &str| {
        tool(
            "blkid",
            &["-p", "-o", "value", "-s", tag, "-O", &start],
            &disk,
        )
        .trim()
        .to_string()
    };
    assert_eq!(probe("TYPE"), "crypto_LUKS");
    assert_eq!(probe("VERSION"), "2");
    let crypttab = fs::read_to_string(built.root.join("etc/crypttab")).unwrap();
    assert!(
        crypttab.contains(&format!(
            "luks UUID={} /root/.root.keyfile luks,initramfs",
            probe("UUID")
        )),
        "{crypttab}"
    );
    let key = fs::metadata(built.root.join("root/.root.keyfile")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.len(), 32);
    // Nothing of the passphrase is left in the root or the build's log.
    let grep = Command::new("grep")
        .args(["-rqsF", PASSPHRASE])
        .arg(&built.root)
        .arg(&built.target)
        .status()
        .unwrap();
    assert!(
        !grep.success(),
        "the passphrase is in the root or the target"
    );

    let report = builder_tests::boot::boot_answering(
        &Medium::Disk {
            path: disk,
            format: "raw",
        },
        Firmware::Bios,
        MARKER,
        BOOT_LIMIT,
        &[("Enter passphrase for", PASSPHRASE)],
    )
    .unwrap_or_else(|e| panic!("the disk with an encrypted root did not boot: {e}"));
    let line = report.serial.lines().find(|l| l.contains(MARKER)).unwrap();
    assert!(line.contains("root=/dev/mapper/luks "), "{line}");
    assert!(
        !report.serial.contains("Please unlock disk"),
        "the initrd asked for the passphrase again"
    );
}

/// The same disk with dracut instead of initramfs-tools: `make-initrd`
/// uses whichever tool the image has. It reaches the machine's disk
/// through its installation ISO, unattended: builder's installer runs in
/// dracut's initrd (`root=builder-install`, a `pre-mount` hook).
#[test]
fn oem_disk_with_a_dracut_initrd_boots() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let description = copy_of_example(dir.path(), "debian-cloud-dracut");
    let config = description.join("config.xml");
    let text = fs::read_to_string(&config).unwrap();
    let swapped = text.replace(
        r#"<package name="initramfs-tools"/>"#,
        r#"<package name="dracut"/>"#,
    );
    assert_ne!(text, swapped);
    fs::write(&config, swapped).unwrap();
    // The disk is installed from its installation ISO, unattended: the
    // installer in dracut's initrd.
    with_raw_section(
        &description,
        r#"<preferences profiles="raw">
        <type image="oem" primary="true" filesystem="ext4" firmware="efi" installiso="true" installboot="install" kernelcmdline="console=ttyS0,115200 console=tty0">
            <bootloader name="grub2" output_console="serial" input_console="serial" timeout="1"/>
            <oemconfig>
                <oem-resize>true</oem-resize>
                <oem-unattended>true</oem-unattended>
            </oemconfig>
        </type>
    "#,
    );
    let built = build_from(description, Some("raw"));
    assert!(!built.root.join("usr/sbin/update-initramfs").exists());
    let conf = fs::read_to_string(built.root.join("etc/dracut.conf.d/90-builder.conf")).unwrap();
    assert!(conf.contains("hostonly=\"no\""), "{conf}");
    assert!(conf.contains(" ext4 "), "{conf}");
    // Unattended, from a menu whose default installs again: it powers off.
    let disk = install_onto_a_blank_disk(
        &built.target.join("debian-cloud.x86_64-1.0.0.install.iso"),
        &built.target.join("debian-cloud.x86_64-1.0.0.raw"),
        "powering off",
        &[],
    );
    boot(
        &Medium::Disk {
            path: disk,
            format: "raw",
        },
        Firmware::Bios,
        "the disk with a dracut initrd installed from its ISO, BIOS",
    );
}

/// An initramfs-tools setting in the description's overlay reaches the
/// initrd, which the install made before the overlay was laid: it is made
/// again before the image is created (as KIWI makes its initrd after the
/// overlay and config.sh), and the disk boots with it. So does plymouth's
/// theme, which `<bootsplash-theme>` sets after the install.
#[test]
fn an_initrd_setting_in_the_overlay_reaches_the_initrd() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let description = copy_of_example(dir.path(), "debian-cloud-gzip");
    let config = description.join("config.xml");
    let text = fs::read_to_string(&config).unwrap();
    let themed = text
        .replacen(
            "<timezone>UTC</timezone>",
            "<timezone>UTC</timezone>\n        <bootsplash-theme>spinner</bootsplash-theme>",
            1,
        )
        .replacen(
            r#"<package name="initramfs-tools"/>"#,
            r#"<package name="initramfs-tools"/>
        <package name="plymouth"/>
        <package name="plymouth-themes"/>"#,
            1,
        );
    assert_eq!(themed.matches("plymouth").count(), 2, "{themed}");
    assert!(themed.contains("<bootsplash-theme>"), "{themed}");
    fs::write(&config, themed).unwrap();
    let conf = description.join("root/etc/initramfs-tools/conf.d");
    fs::create_dir_all(&conf).unwrap();
    fs::write(conf.join("compress"), "COMPRESS=gzip\n").unwrap();
    // An initramfs-tools hook of the image looks around while the initrd
    // is made: it must see the image root and its own PID namespace only,
    // never the build host's processes or their roots.
    let hooks = description.join("root/etc/initramfs-tools/hooks");
    fs::create_dir_all(&hooks).unwrap();
    fs::write(
        hooks.join("probe"),
        "#!/bin/sh\n\
         [ \"$1\" = prereqs ] && exit 0\n\
         { readlink /proc/1/root; ls /proc | grep -c '^[0-9]'; \
           tr '\\0' ' ' < /proc/1/cmdline; echo; } > /var/log/builder-initrd-probe\n",
    )
    .unwrap();
    fs::set_permissions(hooks.join("probe"), fs::Permissions::from_mode(0o755)).unwrap();
    let built = build_from(description, Some("raw"));
    let (initrd, magic) = initrd_of(&built.root);
    assert_eq!(magic[..2], GZIP, "{}", initrd.display());
    let probe = fs::read_to_string(built.root.join("var/log/builder-initrd-probe")).unwrap();
    let lines: Vec<&str> = probe.lines().collect();
    assert_eq!(lines[0], "/", "{probe}");
    let processes: usize = lines[1].parse().unwrap();
    assert!(
        processes < 40,
        "the hook saw {processes} processes: {probe}"
    );
    assert!(
        lines[2]
            .split_whitespace()
            .next()
            .is_some_and(|p| p.ends_with("bwrap")),
        "PID 1 is not the sandbox's: {probe}"
    );
    assert!(modified(&initrd) > modified(&built.root.join("etc/hostname")));
    assert!(!built.root.join(".builder-initrd-inputs").exists());
    let plymouth = fs::read_to_string(built.root.join("etc/plymouth/plymouthd.conf")).unwrap();
    assert!(plymouth.contains("Theme=spinner"), "{plymouth}");
    let listing = tool_output(Command::new("bsdtar").arg("-tf").arg(&initrd));
    assert!(
        listing.contains("usr/share/plymouth/themes/spinner/spinner.plymouth"),
        "the initrd has no spinner theme:\n{listing}"
    );
    boot(
        &Medium::Disk {
            path: built.target.join("debian-cloud.x86_64-1.0.0.raw"),
            format: "raw",
        },
        Firmware::Bios,
        "raw disk with a gzip initrd from the overlay, BIOS",
    );
}
