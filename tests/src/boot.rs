//! Boots images under qemu (TCG, no KVM needed) until the guest prints a marker on
//! its first serial port: the boot checks of the `oem` and `iso` image types.
//!
//! The recipe (machine, firmware files, timings) is tests/support/boot/FINDINGS.md;
//! `scripts/setup` installs qemu-system-x86 and OVMF (through scripts/setup-qemu).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The emulator the boot tests run.
pub const QEMU: &str = "qemu-system-x86_64";
/// OVMF's code (read-only pflash), 4 MiB build, from Debian's `ovmf`.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// OVMF's variable store template; each boot gets a private, writable copy.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// OVMF built with Secure Boot (it needs SMM and a secure flash).
pub const OVMF_CODE_SECURE: &str = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd";
/// Its variable store with Microsoft's keys enrolled and Secure Boot on.
pub const OVMF_VARS_SECURE: &str = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";

/// How often the serial log is read while waiting for the marker.
const POLL: Duration = Duration::from_millis(500);
/// How much of the serial log an error carries.
const TAIL_LINES: usize = 60;

/// The firmware the virtual machine starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, qemu's default (legacy BIOS boot).
    Bios,
    /// OVMF (UEFI, no Secure Boot).
    Efi,
    /// OVMF with Secure Boot on and Microsoft's keys enrolled, as on
    /// clouds that boot with Secure Boot: only a signed chain starts.
    SecureBoot,
}

/// What the virtual machine boots from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// A disk image on a virtio disk; `format` is qemu's name for it, `"raw"` or `"qcow2"`.
    Disk {
        /// The image file.
        path: PathBuf,
        /// `"raw"` or `"qcow2"`.
        format: &'static str,
    },
    /// An ISO 9660 image in a CD-ROM drive (AHCI on q35, as `-cdrom`).
    Cdrom(PathBuf),
    /// A raw disk image on a virtio disk that the machine writes to, as to
    /// a USB stick (not under `-snapshot`).
    WritableDisk(PathBuf),
    /// An ISO 9660 image in a CD-ROM drive, booted, and a raw disk image on
    /// a virtio disk that the machine writes to (not under `-snapshot`):
    /// an installation medium and the disk it installs onto.
    CdromAndDisk {
        /// The ISO image.
        iso: PathBuf,
        /// The disk's image file.
        disk: PathBuf,
    },
}

impl Medium {
    fn path(&self) -> &Path {
        match self {
            Medium::Disk { path, .. } | Medium::Cdrom(path) | Medium::WritableDisk(path) => path,
            Medium::CdromAndDisk { iso, .. } => iso,
        }
    }
}

/// A boot that reached the marker.
#[derive(Debug, Clone)]
pub struct BootReport {
    /// Seconds from starting qemu to seeing the marker in the serial log.
    pub seconds: f64,
    /// The whole serial log up to then (lossily decoded: firmware and GRUB write escape codes).
    pub serial: String,
}

/// Kills and reaps qemu when dropped: on return, on error and on panic.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        // Both fail harmlessly when qemu has already exited and been reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A path inside a `-drive` option: qemu's option parser needs commas doubled.
fn drive_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Boots `medium` with qemu-system-x86_64 (q35, TCG, 1 GiB, 1 vCPU, `-snapshot` so
/// the image is never changed but for a [`Medium::WritableDisk`] and the disk of a [`Medium::CdromAndDisk`], `-no-reboot`, serial port to a file in a temporary
/// directory, no display, no network; for [`Firmware::Efi`] `OVMF_CODE_4M.fd`
/// read-only plus a private copy of `OVMF_VARS_4M.fd`) and reads the serial log
/// every 0.5 s until `marker` appears; qemu is killed then.
///
/// Err, with the last 60 lines of the serial log, when qemu exits before the
/// marker appears or `timeout` passes. qemu is always killed and reaped, also
/// when the caller panics.
pub fn boot_until(
    medium: &Medium,
    firmware: Firmware,
    marker: &str,
    timeout: Duration,
) -> Result<BootReport, String> {
    boot_answering(medium, firmware, marker, timeout, &[])
}

/// [`boot_until`], typing each answer of `answers` on the serial port
/// (with a carriage return) once its prompt appears in the serial log
/// after the previous answer: a passphrase GRUB or the initrd asks for.
pub fn boot_answering(
    medium: &Medium,
    firmware: Firmware,
    marker: &str,
    timeout: Duration,
    answers: &[(&str, &str)],
) -> Result<BootReport, String> {
    let image = medium.path();
    let dir = tempfile::Builder::new()
        .prefix("builder-boot-")
        .tempdir()
        .map_err(|e| format!("boot: temporary directory: {e}"))?;
    // With answers to type, the serial port is a socket as well as the log.
    let socket = dir.path().join("serial.sock");
    let typed = (!answers.is_empty()).then_some(socket.as_path());
    let (mut cmd, serial_path, stderr_path) = qemu_command(medium, firmware, dir.path(), typed)?;
    let mut answered = 0;
    let mut answered_at = 0;
    let start = Instant::now();
    // Declared after `dir`, so dropped (qemu killed) before the directory goes.
    let mut qemu = Qemu(cmd.spawn().map_err(|e| {
        format!("boot: starting {QEMU}: {e} (is qemu-system-x86 installed? run scripts/setup)")
    })?);

    let read_serial =
        || String::from_utf8_lossy(&fs::read(&serial_path).unwrap_or_default()).into_owned();
    let failure = |why: String, serial: &str| {
        let mut message = format!(
            "boot of {} ({firmware:?}): {why} after {:.1} s, no {marker:?} on the serial port",
            image.display(),
            start.elapsed().as_secs_f64()
        );
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        if !stderr.trim().is_empty() {
            let _ = write!(message, "\nqemu stderr:\n{}", stderr.trim_end());
        }
        let _ = write!(
            message,
            "\nlast {TAIL_LINES} lines of the serial log:\n{}",
            tail(serial, TAIL_LINES)
        );
        message
    };
    loop {
        let exited: Option<ExitStatus> = qemu
            .0
            .try_wait()
            .map_err(|e| format!("boot: waiting for {QEMU}: {e}"))?;
        // Read after checking for exit, so a marker written just before qemu
        // stopped still counts.
        let serial = read_serial();
        if serial.contains(marker) {
            let seconds = start.elapsed().as_secs_f64();
            drop(qemu);
            return Ok(BootReport { seconds, serial });
        }
        if let Some((prompt, answer)) = answers.get(answered) {
            if let Some(at) = serial[answered_at.min(serial.len())..].find(prompt) {
                // Connected only to type: once closed, qemu goes back to
                // logging alone (a connection nobody reads would stall it).
                let mut stream = std::os::unix::net::UnixStream::connect(&socket)
                    .map_err(|e| failure(format!("connecting to the serial port: {e}"), &serial))?;
                use std::io::Write as _;
                stream
                    .write_all(format!("{answer}\r").as_bytes())
                    .map_err(|e| failure(format!("typing on the serial port: {e}"), &serial))?;
                // Let qemu read what was typed before the connection goes.
                std::thread::sleep(Duration::from_millis(500));
                drop(stream);
                answered_at += at + prompt.len();
                answered += 1;
            }
        }
        if let Some(status) = exited {
            return Err(failure(format!("qemu exited ({status})"), &serial));
        }
        if start.elapsed() >= timeout {
            drop(qemu);
            return Err(failure(
                format!("timed out ({} s)", timeout.as_secs_f64()),
                &serial,
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// The name of the virtio serial port QEMU's guest agent listens on.
const GUEST_AGENT_PORT: &str = "org.qemu.guest_agent.0";

/// Boots `medium` with a channel to the image's QEMU guest agent
/// (`qemu-guest-agent`) and runs `program args` in the guest through it,
/// again every 2 s, until it exits 0: for images whose console is not on
/// the serial port (a Vagrant box), the agent answering proves the system
/// is up and `program` what state it is in (`systemctl is-active
/// getty@tty1.service`: the login prompt is on the screen). Returns the
/// seconds from start until then.
///
/// Err, with the agent's last answer and the serial log's tail, when qemu
/// exits or `timeout` passes first. qemu is always killed and reaped.
pub fn boot_and_wait_in_guest(
    medium: &Medium,
    firmware: Firmware,
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<f64, String> {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::Builder::new()
        .prefix("builder-boot-")
        .tempdir()
        .map_err(|e| format!("boot: temporary directory: {e}"))?;
    let (mut cmd, serial_path, stderr_path) = qemu_command(medium, firmware, dir.path(), None)?;
    let socket = dir.path().join("agent.sock");
    cmd.arg("-chardev")
        .arg(format!(
            "socket,path={},server=on,wait=off,id=agent",
            socket.display()
        ))
        .args(["-device", "virtio-serial"])
        .arg("-device")
        .arg(format!(
            "virtserialport,chardev=agent,name={GUEST_AGENT_PORT}"
        ));
    let start = Instant::now();
    let mut qemu = Qemu(cmd.spawn().map_err(|e| {
        format!("boot: starting {QEMU}: {e} (is qemu-system-x86 installed? run scripts/setup)")
    })?);
    let mut last = String::from("no answer from the guest agent");
    // One request, its answer: the first line carrying `"return"` or
    // `"error"` after a sync with a fresh id (earlier requests the agent
    // read late may still be answered first).
    let mut sync_id = 0u64;
    let mut ask = |stream: &std::os::unix::net::UnixStream,
                   request: serde_json::Value|
     -> Result<serde_json::Value, String> {
        sync_id += 1;
        let mut writer = stream;
        let sync = serde_json::json!({"execute": "guest-sync", "arguments": {"id": sync_id}});
        writeln!(writer, "{sync}").map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("the agent closed the channel".into());
            }
            let reply: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
            if reply["return"] == sync_id {
                break;
            }
        }
        writeln!(writer, "{request}").map_err(|e| e.to_string())?;
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        serde_json::from_str(line.trim()).map_err(|e| format!("{e}: {line:?}"))
    };
    loop {
        if let Some(status) = qemu.0.try_wait().map_err(|e| e.to_string())? {
            return Err(guest_failure(
                &format!("qemu exited ({status})"),
                &last,
                &serial_path,
                &stderr_path,
            ));
        }
        if start.elapsed() >= timeout {
            drop(qemu);
            return Err(guest_failure(
                &format!("timed out ({} s)", timeout.as_secs()),
                &last,
                &serial_path,
                &stderr_path,
            ));
        }
        std::thread::sleep(Duration::from_secs(2));
        let Ok(stream) = std::os::unix::net::UnixStream::connect(&socket) else {
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
        let exec = serde_json::json!({
            "execute": "guest-exec",
            "arguments": {"path": program, "arg": args, "capture-output": true}
        });
        let pid = match ask(&stream, exec) {
            Ok(reply) => match reply["return"]["pid"].as_i64() {
                Some(pid) => pid,
                None => {
                    last = reply.to_string();
                    continue;
                }
            },
            Err(e) => {
                last = format!("guest agent: {e}");
                continue;
            }
        };
        // The program's end, within the 2 s step.
        for _ in 0..20 {
            let status =
                serde_json::json!({"execute": "guest-exec-status", "arguments": {"pid": pid}});
            match ask(&stream, status) {
                Ok(reply) if reply["return"]["exited"] == true => {
                    last = reply.to_string();
                    if reply["return"]["exitcode"] == 0 {
                        let seconds = start.elapsed().as_secs_f64();
                        drop(qemu);
                        return Ok(seconds);
                    }
                    break;
                }
                Ok(reply) => last = reply.to_string(),
                Err(e) => {
                    last = format!("guest agent: {e}");
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Why [`boot_and_wait_in_guest`] failed, with what it saw.
fn guest_failure(why: &str, last: &str, serial: &Path, stderr: &Path) -> String {
    let serial = String::from_utf8_lossy(&fs::read(serial).unwrap_or_default()).into_owned();
    let stderr = fs::read_to_string(stderr).unwrap_or_default();
    format!(
        "boot: {why}; last from the guest agent: {last}\nqemu stderr: {}\nlast {TAIL_LINES} lines of the serial log:\n{}",
        stderr.trim_end(),
        tail(&serial, TAIL_LINES)
    )
}

/// qemu's command line for [`boot_until`] and [`boot_and_wait_in_guest`],
/// with its files in `dir`: the serial log and qemu's standard error, both
/// returned (standard error already directed there). With `socket`, the
/// serial port also listens there for what is typed on it.
fn qemu_command(
    medium: &Medium,
    firmware: Firmware,
    dir: &Path,
    socket: Option<&Path>,
) -> Result<(Command, PathBuf, PathBuf), String> {
    let image = medium.path();
    if !image.is_file() {
        return Err(format!("boot: {} is not a file", image.display()));
    }
    let serial_path = dir.join("serial.log");
    let stderr_path = dir.join("qemu.stderr");
    fs::write(&serial_path, b"").map_err(|e| format!("boot: {}: {e}", serial_path.display()))?;

    let mut cmd = Command::new(QEMU);
    // Secure Boot firmware keeps its variables behind SMM.
    let machine = if firmware == Firmware::SecureBoot {
        "q35,smm=on"
    } else {
        "q35"
    };
    cmd.args([
        "-machine", machine, "-accel", "tcg", "-m", "1024", "-smp", "1",
    ])
    .args([
        "-nographic",
        "-display",
        "none",
        "-monitor",
        "none",
        "-nic",
        "none",
    ])
    .args(["-no-reboot", "-snapshot"]);
    match socket {
        None => cmd
            .arg("-serial")
            .arg(format!("file:{}", serial_path.display())),
        // Logged whether or not anything is connected.
        Some(socket) => cmd
            .arg("-chardev")
            .arg(format!(
                "socket,id=serial0,path={},server=on,wait=off,logfile={}",
                socket.display(),
                serial_path.display()
            ))
            .args(["-serial", "chardev:serial0"]),
    };
    if firmware != Firmware::Bios {
        let (code, template) = if firmware == Firmware::SecureBoot {
            cmd.args(["-global", "driver=cfi.pflash01,property=secure,value=on"]);
            (OVMF_CODE_SECURE, OVMF_VARS_SECURE)
        } else {
            (OVMF_CODE, OVMF_VARS)
        };
        let vars = dir.join("OVMF_VARS.fd");
        fs::copy(template, &vars).map_err(|e| {
            format!("boot: copying {template}: {e} (is ovmf installed? run scripts/setup)")
        })?;
        cmd.arg("-drive")
            .arg(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={code}"
            ))
            .arg("-drive")
            .arg(format!(
                "if=pflash,format=raw,unit=1,file={}",
                drive_path(&vars)
            ));
    }
    match medium {
        Medium::Disk { path, format } => cmd.arg("-drive").arg(format!(
            "file={},format={format},if=virtio",
            drive_path(path)
        )),
        Medium::Cdrom(path) => cmd.arg("-drive").arg(format!(
            "file={},format=raw,media=cdrom,if=ide,index=2",
            drive_path(path)
        )),
        Medium::WritableDisk(path) => cmd.arg("-drive").arg(format!(
            "file={},format=raw,if=virtio,snapshot=off",
            drive_path(path)
        )),
        // The blank disk boots nothing: the firmware goes on to the CD.
        Medium::CdromAndDisk { iso, disk } => cmd
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,media=cdrom,if=ide,index=2",
                drive_path(iso)
            ))
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=virtio,snapshot=off",
                drive_path(disk)
            )),
    };
    let stderr = fs::File::create(&stderr_path)
        .map_err(|e| format!("boot: {}: {e}", stderr_path.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);

    Ok((cmd, serial_path, stderr_path))
}

/// Whether qemu-system-x86_64 runs and OVMF's firmware files are installed.
/// Boot tests call this first and fail with its message, which says to run
/// scripts/setup.
pub fn qemu_available() -> Result<(), String> {
    let version = Command::new(QEMU)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!("{QEMU} cannot be run ({e}): run scripts/setup to install qemu-system-x86")
        })?;
    if !version.status.success() {
        return Err(format!(
            "`{QEMU} --version` failed ({}): {}; run scripts/setup",
            version.status,
            String::from_utf8_lossy(&version.stderr).trim()
        ));
    }
    for firmware in [OVMF_CODE, OVMF_VARS, OVMF_CODE_SECURE, OVMF_VARS_SECURE] {
        if !Path::new(firmware).is_file() {
            return Err(format!(
                "{firmware} is missing: run scripts/setup to install ovmf"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a process whose command line contains `needle` is running.
    fn running(needle: &Path) -> bool {
        Command::new("pgrep")
            .arg("-f")
            .arg(needle)
            .stdout(Stdio::null())
            .status()
            .expect("running pgrep")
            .success()
    }

    fn available() {
        if let Err(e) = qemu_available() {
            panic!("{e}");
        }
    }

    #[test]
    fn marker_that_never_comes_times_out_and_qemu_is_gone() {
        available();
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("empty-disk.raw");
        fs::File::create(&disk).unwrap().set_len(1 << 20).unwrap();
        let medium = Medium::Disk {
            path: disk.clone(),
            format: "raw",
        };
        let start = Instant::now();
        let error = boot_until(
            &medium,
            Firmware::Bios,
            "NEVER-PRINTED",
            Duration::from_secs(5),
        )
        .expect_err("an empty disk printed the marker");
        let elapsed = start.elapsed();
        assert!(error.contains("timed out (5 s)"), "{error}");
        assert!(error.contains("last 60 lines of the serial log"), "{error}");
        assert!(
            elapsed < Duration::from_secs(8),
            "took {elapsed:?}: {error}"
        );
        assert!(!running(&disk), "qemu still runs for {}", disk.display());
    }

    #[test]
    fn qemu_that_exits_early_is_an_error_with_its_stderr() {
        available();
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("not-qcow2.img");
        fs::File::create(&disk).unwrap().set_len(1 << 20).unwrap();
        // A raw file announced as qcow2: qemu refuses it and exits at once.
        let medium = Medium::Disk {
            path: disk.clone(),
            format: "qcow2",
        };
        let error = boot_until(
            &medium,
            Firmware::Bios,
            "NEVER-PRINTED",
            Duration::from_secs(60),
        )
        .expect_err("qemu booted a raw file as qcow2");
        assert!(error.contains("qemu exited"), "{error}");
        assert!(error.contains("qemu stderr:"), "{error}");
        assert!(!running(&disk));

        let missing = Medium::Cdrom(dir.path().join("absent.iso"));
        let error = boot_until(&missing, Firmware::Efi, "X", Duration::from_secs(5)).unwrap_err();
        assert!(error.contains("is not a file"), "{error}");
    }

    /// The success path with a tiny GRUB rescue ISO (grub-mkrescue, seconds to
    /// make) whose grub.cfg prints the marker on the serial port: as a CD with
    /// both firmwares, and as a raw disk (grub-mkrescue images are hybrid).
    #[test]
    fn grub_iso_prints_the_marker_with_both_firmwares() {
        available();
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("iso");
        fs::create_dir_all(tree.join("boot/grub")).unwrap();
        fs::write(
            tree.join("boot/grub/grub.cfg"),
            "serial --unit=0 --speed=115200\nterminal_output serial\n\
             echo HARNESS-MARKER-OK\nsleep 600\n",
        )
        .unwrap();
        let iso = dir.path().join("marker.iso");
        let out = Command::new("grub-mkrescue")
            .arg("-o")
            .arg(&iso)
            .arg(&tree)
            .output()
            .expect("running grub-mkrescue (grub-common, xorriso, mtools: run scripts/setup)");
        assert!(
            out.status.success(),
            "grub-mkrescue failed (run scripts/setup): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let timeout = Duration::from_secs(120);
        for (medium, firmware) in [
            (Medium::Cdrom(iso.clone()), Firmware::Bios),
            (Medium::Cdrom(iso.clone()), Firmware::Efi),
            (
                Medium::Disk {
                    path: iso.clone(),
                    format: "raw",
                },
                Firmware::Bios,
            ),
        ] {
            let report = boot_until(&medium, firmware, "HARNESS-MARKER-OK", timeout)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(report.seconds > 0.0 && report.seconds < 120.0, "{report:?}");
            assert!(report.serial.contains("HARNESS-MARKER-OK"));
            assert!(
                !running(&iso),
                "qemu still runs after {medium:?} {firmware:?}"
            );
        }
    }
}
