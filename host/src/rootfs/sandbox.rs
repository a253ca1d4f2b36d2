//! Programs run inside the image root, contained: bubblewrap (`bwrap`) in a
//! user namespace of their own, with new mount, PID, IPC and UTS namespaces,
//! a `/proc` of that PID namespace (never the host's), a minimal `/dev`, a
//! read-only `/sys`, and, for the tools the host runs on a plugin's or the
//! image's behalf, no network and a seccomp filter. Host programs that work
//! on a root from outside it (the rpm tools) run in the same namespaces
//! with a narrow view of the host ([`host_tool`]).
//!
//! # Why a user namespace, even as root
//!
//! bubblewrap run by real root keeps every capability of the host's user
//! namespace, and its `--cap-drop` leaves the bounding set whole: a file
//! capability set by a maintainer script would give `CAP_SYS_ADMIN` back.
//! Inside a user namespace of its own, whatever capability a program holds
//! is that namespace's: it cannot load modules, reach block devices, use
//! `open_by_handle_at` or change anything of the host's namespaces. The
//! namespace maps every id to itself (`0 0 4294967295`), so files keep
//! their owners byte for byte; only the build host's root can write such a
//! map, which it does once per process from outside ([`userns`]).
//!
//! The namespaces vanish with the processes: nothing is mounted in the
//! host's mount namespace, so a killed build leaves no `/proc` or `/dev`
//! mounted in a root, and `--die-with-parent` takes the sandbox down with
//! the bwrap that started it.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// How a program in the root is contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contain {
    /// It may reach the network (the host's network namespace).
    pub network: bool,
    /// The seccomp filter applies: no mount, ptrace, kexec, module loading,
    /// new namespaces, BPF or keyring calls.
    pub seccomp: bool,
    /// A private tmpfs is mounted on the root's `/tmp` (a real directory of
    /// the root) and `TMPDIR=/tmp` set: scratch space kept out of the image.
    pub scratch_tmp: bool,
}

impl Contain {
    /// The image's package manager and the maintainer scripts it runs:
    /// signed packages from the description's repositories, which it
    /// downloads itself.
    pub const PACKAGES: Contain = Contain {
        network: true,
        seccomp: false,
        scratch_tmp: false,
    };
    /// The description's own scripts (`config.sh`, `images.sh`), which
    /// KIWI runs with the network.
    pub const SCRIPTS: Contain = Contain {
        network: true,
        seccomp: false,
        scratch_tmp: false,
    };
    /// Tools the host runs in the root on a plugin's or the pipeline's
    /// behalf (initrd and GRUB tools, users, services, commands a plugin
    /// asks for): no network, seccomp filter.
    pub const TOOLS: Contain = Contain {
        network: false,
        seccomp: true,
        scratch_tmp: false,
    };

    /// The same, with a scratch tmpfs on `/tmp`.
    pub fn with_scratch_tmp(self) -> Contain {
        Contain {
            scratch_tmp: true,
            ..self
        }
    }
}

/// The sandbox program.
const BWRAP: &str = "bwrap";
/// What a missing bubblewrap is told with.
const INSTALL_HINT: &str =
    "builder runs programs inside the image root with bubblewrap: install the `bubblewrap` package (scripts/setup does)";

/// `program` (looked up in the root's `PATH`) run inside `root` as
/// `contain` says, with a clean, non-interactive environment; arguments are
/// added by the caller. Spawning fails with a message naming the cause when
/// the sandbox cannot be set up (no bubblewrap, no user namespaces).
pub fn in_root(root: &Path, program: &str, contain: Contain) -> Command {
    let mut cmd = Command::new(bwrap_path());
    cmd.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DEBCONF_NONINTERACTIVE_SEEN", "true");
    pass_source_date_epoch(&mut cmd);
    let mut args: Vec<OsString> = vec!["--bind".into(), root.into(), "/".into()];
    args.extend(
        [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--ro-bind",
            "/sys",
            "/sys",
        ]
        .map(OsString::from),
    );
    if contain.scratch_tmp && is_real_dir(&root.join("tmp")) {
        args.extend(["--tmpfs", "/tmp"].map(OsString::from));
        cmd.env("TMPDIR", "/tmp");
    }
    contained(cmd, contain, args, Path::new("/"), program.as_ref())
}

/// Hands the build's `SOURCE_DATE_EPOCH` (when set and a number) to a
/// program: the tools that honour it (useradd's password dates, initrd
/// makers, ...) then write the same bytes in every build.
pub fn pass_source_date_epoch(cmd: &mut Command) {
    if let Ok(Some(epoch)) = source_date_epoch_from_env() {
        cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
    }
}

/// Read `SOURCE_DATE_EPOCH` from the environment, if set.
pub fn source_date_epoch_from_env() -> anyhow::Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds")),
        _ => Ok(None),
    }
}

/// util-linux's `unshare`, which [`host_namespaces`] runs programs under.
const UNSHARE: &str = "unshare";

/// `program` (a host program that needs the real root: it makes device
/// nodes and mounts, as `mmdebstrap --mode=root` does) run in new PID,
/// mount, IPC and UTS namespaces, with a `/proc` of its PID namespace, and
/// killed when builder dies. The maintainer scripts it runs in a chroot,
/// and the `/proc` it mounts there, see its processes only, never the
/// host's (no `/proc/<pid>/root` of a host process to walk into); what it
/// mounts stays in its mount namespace.
pub fn host_namespaces(program: &str) -> Command {
    let mut cmd = Command::new(UNSHARE);
    cmd.args([
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--mount",
        "--propagation",
        "private",
        "--ipc",
        "--uts",
        "--",
        program,
    ]);
    cmd
}

/// What of the build host a host tool sees besides its programs and
/// libraries (`/usr` and the top-level links into it) and the few `/etc`
/// files every program needs ([`HOST_ETC`]): paths bound at their own
/// place, writable or read-only. Everything else of the host is absent.
#[derive(Debug, Clone, Default)]
pub struct HostView {
    writable: Vec<PathBuf>,
    readable: Vec<PathBuf>,
}

impl HostView {
    /// `path` (and what is below it) can be written.
    pub fn writable(&mut self, path: &Path) -> &mut Self {
        push_absolute(&mut self.writable, path);
        self
    }

    /// `path` (and what is below it) can be read.
    pub fn readable(&mut self, path: &Path) -> &mut Self {
        push_absolute(&mut self.readable, path);
        self
    }
}

fn push_absolute(list: &mut Vec<PathBuf>, path: &Path) {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if !list.contains(&path) {
        list.push(path);
    }
}

/// The entries of the host's `/etc` a host tool sees, read-only: the
/// dynamic linker's cache, name resolution and users, certificates, time
/// zone, alternatives, and the rpm, zypp and gnupg defaults the tools read.
/// Never the host's secrets (`shadow`, ssh keys, credentials).
const HOST_ETC: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "crypto-policies",
    "gai.conf",
    "gnupg",
    "group",
    "host.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "pki",
    "protocols",
    "resolv.conf",
    "rpm",
    "services",
    "ssl",
    "timezone",
    "zypp",
];

/// Whether `/etc/<name>` is shown to host tools.
fn host_etc_shown(name: &str) -> bool {
    HOST_ETC.contains(&name) || name.starts_with("python3")
}

/// A program of the build host (`program`, an absolute path such as
/// `/usr/bin/dnf`) run contained as `contain` says: in the same namespaces
/// as a program in the root, with a view of the host made of `/usr`, the
/// shared `/etc` entries and what `view` adds; `/tmp`, `/var/tmp` and `/run`
/// are empty scratch space. The caller sets the environment and arguments.
///
/// This is how the rpm tools (dnf, zypper, rpm), which work on an image
/// root from outside it, are kept from the host: their scriptlets, which
/// rpm chroots into the image, find this sandbox around that root, with a
/// `/proc` of its own PID namespace and nothing of the host to write.
pub fn host_tool(program: &Path, view: &HostView, contain: Contain) -> Command {
    let cmd = Command::new(bwrap_path());
    let mut args: Vec<OsString> = Vec::new();
    let mut arg = |parts: &[&std::ffi::OsStr]| args.extend(parts.iter().map(|p| p.to_os_string()));
    arg(&["--ro-bind".as_ref(), "/usr".as_ref(), "/usr".as_ref()]);
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(top);
        match std::fs::read_link(&host) {
            Ok(target) => arg(&["--symlink".as_ref(), target.as_os_str(), host.as_os_str()]),
            Err(_) if is_real_dir(&host) => {
                arg(&["--ro-bind".as_ref(), host.as_os_str(), host.as_os_str()])
            }
            Err(_) => {}
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc") {
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| host_etc_shown(n))
            .collect();
        names.sort();
        for name in names {
            let path = Path::new("/etc").join(name);
            arg(&["--ro-bind-try".as_ref(), path.as_os_str(), path.as_os_str()]);
        }
    }
    for scratch in ["/tmp", "/var/tmp", "/run"] {
        arg(&["--tmpfs".as_ref(), scratch.as_ref()]);
    }
    arg(&[
        "--proc".as_ref(),
        "/proc".as_ref(),
        "--dev".as_ref(),
        "/dev".as_ref(),
        "--ro-bind".as_ref(),
        "/sys".as_ref(),
        "/sys".as_ref(),
    ]);
    // Parents before what lies below them, so no bind hides another.
    let mut binds: Vec<(&PathBuf, &str)> = view
        .readable
        .iter()
        .map(|p| (p, "--ro-bind"))
        .chain(view.writable.iter().map(|p| (p, "--bind")))
        .collect();
    binds.sort_by_key(|(p, _)| p.components().count());
    for (path, how) in binds {
        arg(&[how.as_ref(), path.as_os_str(), path.as_os_str()]);
    }
    contained(cmd, contain, args, Path::new("/"), program.as_os_str())
}

/// `cmd` (bwrap) made to run `program` with the mounts `mounts` in the
/// user namespace and the namespaces `contain` asks for.
fn contained(
    mut cmd: Command,
    contain: Contain,
    mounts: Vec<OsString>,
    chdir: &Path,
    program: &std::ffi::OsStr,
) -> Command {
    if let Err(hint) = check_available() {
        return failing_at_spawn(cmd, hint);
    }
    let userns = match userns() {
        Ok(fd) => fd.as_raw_fd(),
        Err(message) => return failing_at_spawn(cmd, message.clone()),
    };
    cmd.arg("--userns").arg(userns.to_string());
    cmd.args([
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]);
    if !contain.network {
        cmd.arg("--unshare-net");
    }
    cmd.args(mounts);
    let mut keep = vec![userns];
    let mut filter = None;
    if contain.seccomp {
        match seccomp_fd() {
            Ok(fd) => {
                cmd.arg("--seccomp").arg(fd.as_raw_fd().to_string());
                keep.push(fd.as_raw_fd());
                filter = Some(fd);
            }
            Err(e) => {
                return failing_at_spawn(cmd, format!("writing the sandbox's seccomp filter: {e}"));
            }
        }
    }
    cmd.arg("--chdir").arg(chdir).arg("--").arg(program);
    // SAFETY: between fork and exec only fcntl runs (async-signal-safe);
    // the filter's pipe is owned by the closure, so it stays open until the
    // command is dropped, and the namespace descriptor lives as long as the
    // process.
    unsafe {
        cmd.pre_exec(move || {
            let _owned = &filter;
            for fd in &keep {
                // Handed to bwrap by number: it must survive exec.
                let fd = std::os::fd::BorrowedFd::borrow_raw(*fd);
                rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            }
            Ok(())
        });
    }
    cmd
}

/// `cmd`, made to fail when spawned with `message` (why the sandbox cannot
/// be set up), so the step's error names the command and the cause.
fn failing_at_spawn(mut cmd: Command, message: String) -> Command {
    // SAFETY: the closure only builds an error value.
    unsafe {
        cmd.pre_exec(move || Err(std::io::Error::other(message.clone())));
    }
    cmd
}

/// The command line a sandboxed command stands for (what follows bwrap's
/// `--`), for messages; `None` when `cmd` is not one.
pub fn inner_command(cmd: &Command) -> Option<(OsString, Vec<OsString>)> {
    let wrapper = Path::new(cmd.get_program()).file_name()?;
    if wrapper != BWRAP && wrapper != UNSHARE {
        return None;
    }
    let mut args = cmd.get_args().skip_while(|a| *a != "--").skip(1);
    let program = args.next()?.to_os_string();
    Some((program, args.map(|a| a.to_os_string()).collect()))
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// bwrap as found on the host's `PATH` (the command's own environment is
/// the image's).
fn bwrap_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(BWRAP))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(format!("/usr/bin/{BWRAP}")))
    })
    .clone()
}

/// Whether bubblewrap is installed, with the hint to give when it is not.
pub fn check_available() -> Result<(), String> {
    if bwrap_path().is_file() {
        Ok(())
    } else {
        Err(INSTALL_HINT.to_string())
    }
}

/// The user namespace every sandbox of this process enters: made once, by
/// a short-lived holder process that unshares it, whose id maps the build
/// host's root then writes from outside.
fn userns() -> Result<&'static OwnedFd, &'static String> {
    static NS: OnceLock<Result<OwnedFd, String>> = OnceLock::new();
    NS.get_or_init(|| {
        make_userns().map_err(|e| format!("setting up the sandbox's user namespace: {e}"))
    })
    .as_ref()
}

fn make_userns() -> std::io::Result<OwnedFd> {
    if !rustix::process::geteuid().is_root() {
        return Err(std::io::Error::other(
            "builds run as root, or as root of a user namespace (which `builder` enters by \
             itself for the commands that build)",
        ));
    }
    // Identity maps of every id this process's namespace has: as the
    // host's root all of them, rootless the user and its subordinate ids.
    let uid_map = super::userns::identity_map(&std::fs::read_to_string("/proc/self/uid_map")?);
    let gid_map = super::userns::identity_map(&std::fs::read_to_string("/proc/self/gid_map")?);
    let mut holder = Command::new("sleep");
    holder
        .arg("60")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: unshare is a plain system call, safe between fork and exec.
    unsafe {
        holder.pre_exec(|| {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER)?;
            Ok(())
        });
    }
    let mut child = holder.spawn()?;
    let result = (|| -> std::io::Result<OwnedFd> {
        let proc = PathBuf::from(format!("/proc/{}", child.id()));
        // Identity maps: every id is itself inside, so files keep their owners.
        std::fs::write(proc.join("uid_map"), &uid_map)?;
        std::fs::write(proc.join("gid_map"), &gid_map)?;
        let ns = std::fs::File::open(proc.join("ns/user"))?;
        Ok(OwnedFd::from(ns))
    })();
    let _ = child.kill();
    let _ = child.wait();
    let fd = result?;
    // Close it on exec everywhere but where a sandbox asks for it.
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
    Ok(fd)
}

/// The system calls the filter refuses: mounting, tracing other
/// processes, replacing the kernel, loading modules, new namespaces, BPF,
/// keyrings and handle-based opens.
fn refused_syscalls() -> Vec<i64> {
    let mut calls = vec![
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_syslog,
        libc::SYS_acct,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([libc::SYS_iopl, libc::SYS_ioperm]);
    calls
}

/// The compiled filter: refused calls, `clone` with a namespace flag, and
/// `clone3` (whose flags a filter cannot see) fail with `ENOSYS`, the
/// answer on which the C library falls back from `clone3` to `clone`.
pub fn seccomp_program() -> Result<Vec<u8>, String> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("{e:?}"))?;
    let mut rules: std::collections::BTreeMap<i64, Vec<SeccompRule>> = refused_syscalls()
        .into_iter()
        .chain([libc::SYS_clone3])
        .map(|n| (n, vec![]))
        .collect();
    let namespace_flags = [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWCGROUP,
    ];
    let clone_rules = namespace_flags
        .iter()
        .map(|flag| {
            let flag = *flag as u64;
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    rules.insert(libc::SYS_clone, clone_rules);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    let program: seccompiler::BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in &program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

/// A pipe holding the compiled filter for bwrap's `--seccomp` (read once,
/// to its end, by each bwrap: a new pipe per command).
fn seccomp_fd() -> std::io::Result<OwnedFd> {
    static PROGRAM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let program = PROGRAM
        .get_or_init(seccomp_program)
        .as_ref()
        .map_err(|e| std::io::Error::other(e.clone()))?;
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // A few hundred instructions: far below a pipe's buffer.
    let mut written = 0;
    while written < program.len() {
        written += rustix::io::write(&write, &program[written..])?;
    }
    drop(write);
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root holding a static busybox: enough to look around from inside.
    fn busybox_root() -> Option<tempfile::TempDir> {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).is_file())?;
        let out = Command::new("file").arg(busybox).output().ok();
        if out.is_some_and(|o| !String::from_utf8_lossy(&o.stdout).contains("statically")) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::copy(busybox, dir.path().join("bin/busybox")).unwrap();
        for tool in [
            "sh", "ls", "cat", "readlink", "id", "mount", "wget", "touch", "chown", "stat",
        ] {
            std::os::unix::fs::symlink("busybox", dir.path().join("bin").join(tool)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        Some(dir)
    }

    /// A busybox root to run sandboxes over, or `None` with one line saying
    /// why the test is skipped.
    fn sandbox_root() -> Option<tempfile::TempDir> {
        if let Err(hint) = check_available() {
            eprintln!("skipped: {hint}");
            return None;
        }
        let root = busybox_root();
        if root.is_none() {
            eprintln!("skipped: no static busybox on this host");
        }
        root
    }

    fn sh(root: &Path, contain: Contain, script: &str) -> std::process::Output {
        let mut cmd = in_root(root, "/bin/sh", contain);
        cmd.args(["-c", script]);
        cmd.output().unwrap()
    }

    #[test]
    fn a_program_in_the_root_sees_its_own_pid_namespace_and_proc() {
        let Some(root) = sandbox_root() else { return };
        let out = sh(
            root.path(),
            Contain::TOOLS,
            "readlink /proc/1/root; ls /proc | grep -c '^[0-9]'; id -u; cat /proc/self/uid_map",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "/", "{text}");
        // bwrap's init, the shell and ls (and perhaps grep): never the host's hundreds.
        let pids: usize = lines[1].parse().unwrap();
        assert!(pids <= 5, "{text}");
        assert_eq!(lines[2], "0");
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["0", "0", "4294967295"]
        );
        // Nothing was left mounted in the root on the host's side.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(&root.path().display().to_string()),
            "{mounts}"
        );
    }

    #[test]
    fn tools_cannot_mount_and_files_keep_their_owners() {
        let Some(root) = sandbox_root() else { return };
        let out = sh(
            root.path(),
            Contain::TOOLS,
            "mount -t tmpfs none /tmp && echo MOUNTED; touch /owned; chown 1234:567 /owned; echo done",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("MOUNTED"), "{text}");
        assert!(text.contains("done"), "{text}");
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(root.path().join("owned")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1234, 567));
        // Without the filter (package managers), mounting inside works but
        // stays inside.
        let out = sh(
            root.path(),
            Contain::PACKAGES,
            "mount -t tmpfs none /tmp && echo MOUNTED",
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("MOUNTED"));
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(&root.path().display().to_string()));
    }

    #[test]
    fn tools_have_no_network_and_a_scratch_tmp_stays_out_of_the_root() {
        let Some(root) = sandbox_root() else { return };
        let out = sh(
            root.path(),
            Contain::TOOLS.with_scratch_tmp(),
            "cat /proc/net/dev; touch /tmp/scratch; echo $TMPDIR",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        // A new network namespace has the loopback device only (the
        // table's two header lines, then one line a device).
        let devices: Vec<&str> = text
            .lines()
            .skip(2)
            .take_while(|l| *l != "/tmp")
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect();
        assert_eq!(devices, ["lo"], "{text}");
        assert!(text.lines().any(|l| l == "/tmp"), "{text}");
        assert!(!root.path().join("tmp/scratch").exists());
    }

    #[test]
    fn host_tools_see_their_view_of_the_host_and_nothing_else() {
        if let Err(hint) = check_available() {
            eprintln!("skipped: {hint}");
            return;
        }
        let work = tempfile::tempdir_in("/var/tmp").unwrap();
        let (writable, readable) = (work.path().join("rw"), work.path().join("ro"));
        std::fs::create_dir_all(&writable).unwrap();
        std::fs::create_dir_all(&readable).unwrap();
        std::fs::write(readable.join("key"), "KEY").unwrap();
        let mut view = HostView::default();
        view.writable(&writable).readable(&readable);
        let script = format!(
            "cat {ro}/key; echo; touch {ro}/new && echo WROTE-RO; touch {rw}/new && echo WROTE-RW; \
             test -e /etc/shadow && echo SHADOW; test -e /root && echo ROOTHOME; \
             test -e /etc/passwd && echo PASSWD; ls /proc | grep -c '^[0-9]'",
            ro = readable.display(),
            rw = writable.display()
        );
        let out = host_tool(Path::new("/bin/sh"), &view, Contain::PACKAGES)
            .args(["-c", &script])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..3], ["KEY", "WROTE-RW", "PASSWD"], "{text}");
        let processes: usize = lines[3].parse().unwrap();
        assert!(processes < 5, "{text}");
        assert!(writable.join("new").exists());
        assert!(!readable.join("new").exists());
    }

    #[test]
    fn host_programs_in_namespaces_see_their_own_processes_only() {
        let out = host_namespaces("sh")
            .args([
                "-c",
                "ls /proc | grep -c '^[0-9]'; readlink /proc/1/exe; hostname x && echo RENAMED",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let processes: usize = lines[0].parse().unwrap();
        assert!(processes < 5, "{text}");
        assert!(
            lines[1].ends_with("/sh") || lines[1].ends_with("/dash"),
            "{text}"
        );
        // The host name changed in the UTS namespace, not on the host.
        assert_eq!(lines[2], "RENAMED");
        assert_ne!(
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim(),
            "x"
        );
        let (program, args) = inner_command(host_namespaces("mmdebstrap").arg("bookworm")).unwrap();
        assert_eq!(
            (program.as_os_str(), args.len()),
            ("mmdebstrap".as_ref(), 1)
        );
    }

    #[test]
    fn messages_name_the_program_not_the_sandbox() {
        let mut cmd = in_root(Path::new("/nonexistent"), "apt-get", Contain::PACKAGES);
        cmd.args(["install", "--", "hello"]);
        let (program, args) = inner_command(&cmd).unwrap();
        assert_eq!(program, "apt-get");
        assert_eq!(args, ["install", "--", "hello"]);
        assert!(inner_command(&Command::new("ls")).is_none());
    }
}
