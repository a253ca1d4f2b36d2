//! Rootless builds: an unprivileged `builder` becomes root of a user
//! namespace of its own, its user's id mapped to 0 and the user's
//! subordinate ids (`/etc/subuid`, `/etc/subgid`) to 1 and up, written by
//! the setuid helpers `newuidmap` and `newgidmap` (Debian's `uidmap`).
//!
//! Inside, files the build makes as root are the user's on the host, and
//! the image's other owners (`_apt`, `messagebus`, …) land in the user's
//! subordinate range; every tool reads them back as the ids the image
//! names, so artifacts carry the same owners as a build run as root.
//! Where the host gives no such range, the build stops before anything
//! else with the command an administrator runs.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

/// The subordinate id files.
const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";
/// The setuid helpers that write a namespace's maps from outside it.
const NEWUIDMAP: &str = "/usr/bin/newuidmap";
const NEWGIDMAP: &str = "/usr/bin/newgidmap";
/// The fewest subordinate ids a build needs: the ids Debian and the RHEL
/// family give system users and `nobody` (65534) lie below this.
pub const NEEDED: u64 = 65536;

/// A range of subordinate ids: `start`, `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The first host id.
    pub start: u64,
    /// How many.
    pub count: u64,
}

/// The first range in `text` (an `/etc/subuid` or `/etc/subgid`) that
/// belongs to the user `name` or `id` and holds at least [`NEEDED`] ids.
pub fn range_for(text: &str, name: &str, id: u32) -> Option<Range> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let start = fields.next()?.parse().ok()?;
        let count = fields.next()?.parse().ok()?;
        let ours = owner == name || owner.parse::<u32>().ok() == Some(id);
        (ours && count >= NEEDED).then_some(Range { start, count })
    })
}

/// Whether this process runs as an unprivileged user (and so must enter a
/// user namespace of its own to build).
pub fn unprivileged() -> bool {
    !rustix::process::geteuid().is_root()
}

/// Whether this build is rootless: run by an unprivileged user, or by
/// root of a user namespace that does not map every host id (the one
/// [`enter_if_unprivileged`] made). Such a build cannot attach loop
/// devices or mount a filesystem image, and its cache is the user's.
pub fn rootless() -> bool {
    unprivileged()
        || std::fs::read_to_string("/proc/self/uid_map")
            .map(|map| !maps_every_id(&map))
            .unwrap_or(false)
}

/// Whether a `uid_map` is the initial namespace's: every id to itself.
fn maps_every_id(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Becomes root of a new user namespace mapped onto the user's
/// subordinate ids, when run unprivileged; does nothing as root. Must be
/// called before any thread starts (a process with threads cannot enter a
/// user namespace).
pub fn enter_if_unprivileged() -> anyhow::Result<()> {
    if !unprivileged() {
        return Ok(());
    }
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let name = user_name(uid).unwrap_or_else(|| uid.to_string());
    let fix = format!(
        "an administrator gives the user subordinate ids once: \
         `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}` \
         (any free range of {NEEDED} ids), and installs `newuidmap` (Debian: `apt install uidmap`)"
    );
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let Some(uids) = range_for(&read(SUBUID), &name, uid) else {
        anyhow::bail!(
            "rootless build: {SUBUID} gives user {name} no range of {NEEDED} subordinate user ids \
             (the image's users are mapped onto them)\nhint: {fix}"
        );
    };
    let Some(gids) = range_for(&read(SUBGID), &name, uid) else {
        anyhow::bail!(
            "rootless build: {SUBGID} gives user {name} no range of {NEEDED} subordinate group ids \
             (the image's groups are mapped onto them)\nhint: {fix}"
        );
    };
    for helper in [NEWUIDMAP, NEWGIDMAP] {
        anyhow::ensure!(
            Path::new(helper).is_file(),
            "rootless build: {helper} is missing (it writes the user namespace's id map)\nhint: {fix}"
        );
    }
    map_self(uid, gid, uids, gids)
}

/// The name of the user `uid`, from the passwd database.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 16 << 10];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer outlives the
    // string read from it.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: pw_name points into `buf`, NUL-terminated by getpwuid_r.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Unshares the user namespace and has a helper process, still outside it,
/// write this process's maps with `newuidmap`/`newgidmap`: the user's id
/// to 0, the subordinate ranges from 1.
fn map_self(uid: u32, gid: u32, uids: Range, gids: Range) -> anyhow::Result<()> {
    let (ready_read, ready_write) = pipe()?;
    let pid = std::process::id();
    // SAFETY: this process has one thread (the caller's promise); the child
    // only reads a pipe, runs two programs and exits.
    let child = unsafe { libc::fork() };
    if child < 0 {
        anyhow::bail!(
            "rootless build: starting the id-map helper: {}",
            std::io::Error::last_os_error()
        );
    }
    if child == 0 {
        drop(ready_write);
        let mut byte = [0u8; 1];
        let mut reader = std::fs::File::from(ready_read);
        let code = match reader.read_exact(&mut byte) {
            Ok(()) => {
                let map = |helper: &str, id: u32, range: Range| {
                    Command::new(helper)
                        .arg(pid.to_string())
                        .args(["0", &id.to_string(), "1"])
                        .args(["1", &range.start.to_string(), &range.count.to_string()])
                        .status()
                        .is_ok_and(|s| s.success())
                };
                if map(NEWUIDMAP, uid, uids) && map(NEWGIDMAP, gid, gids) {
                    0
                } else {
                    1
                }
            }
            Err(_) => 1,
        };
        // SAFETY: leaves the forked child without running the parent's
        // exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(ready_read);
    let unshared = unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER) };
    let mut writer = std::fs::File::from(ready_write);
    if let Err(e) = unshared {
        drop(writer);
        wait(child);
        anyhow::bail!(
            "rootless build: entering a user namespace: {e}\nhint: the kernel may forbid \
             unprivileged user namespaces (`sysctl kernel.unprivileged_userns_clone=1`, \
             `user.max_user_namespaces`)"
        );
    }
    let _ = writer.write_all(b"x");
    drop(writer);
    anyhow::ensure!(
        wait(child) == Some(0),
        "rootless build: {NEWUIDMAP}/{NEWGIDMAP} did not map the user namespace (ids {}-{} \
         and groups {}-{} of {SUBUID} and {SUBGID})",
        uids.start,
        uids.start + uids.count - 1,
        gids.start,
        gids.start + gids.count - 1
    );
    // Root of the namespace now: the groups of the user are gone with the
    // map, the ids are 0.
    rustix::thread::set_thread_res_gid(
        rustix::process::Gid::ROOT,
        rustix::process::Gid::ROOT,
        rustix::process::Gid::ROOT,
    )
    .map_err(|e| anyhow::anyhow!("rootless build: becoming group 0 in the namespace: {e}"))?;
    rustix::thread::set_thread_res_uid(
        rustix::process::Uid::ROOT,
        rustix::process::Uid::ROOT,
        rustix::process::Uid::ROOT,
    )
    .map_err(|e| anyhow::anyhow!("rootless build: becoming user 0 in the namespace: {e}"))?;
    Ok(())
}

fn pipe() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        anyhow::bail!(
            "rootless build: a pipe: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: both were just opened and are owned here alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Waits for `child`; its exit code.
fn wait(child: libc::pid_t) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: a plain wait for our own child.
        let rc = unsafe { libc::waitpid(child, &mut status, 0) };
        if rc == child {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if rc < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return None;
        }
    }
}

/// The identity map of every id this process's user namespace maps
/// (`INSIDE INSIDE COUNT` per line of `/proc/self/uid_map` or `gid_map`):
/// what a nested namespace may map so files keep their owners. As the host's
/// root that is `0 0 4294967295`.
pub fn identity_map(own_map: &str) -> String {
    own_map
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let inside = f.next()?;
            let _outside = f.next()?;
            let count = f.next()?;
            Some(format!("{inside} {inside} {count}\n"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_initial_namespace_maps_every_id() {
        assert!(maps_every_id("         0          0 4294967295\n"));
        assert!(!maps_every_id("0 1000 1\n1 100000 65536\n"));
        assert!(!maps_every_id("0 0 65536\n"));
    }

    #[test]
    fn ranges_are_found_by_name_or_id_and_must_be_large_enough() {
        let text = "alice:100000:65536\n# comment\n1001:200000:65536\nsmall:300000:1000\n";
        assert_eq!(
            range_for(text, "alice", 1000),
            Some(Range {
                start: 100000,
                count: 65536
            })
        );
        assert_eq!(
            range_for(text, "bob", 1001),
            Some(Range {
                start: 200000,
                count: 65536
            })
        );
        assert_eq!(range_for(text, "small", 1002), None);
        assert_eq!(range_for(text, "carol", 1003), None);
    }

    #[test]
    fn a_nested_namespace_maps_what_this_one_maps() {
        assert_eq!(
            identity_map("         0          0 4294967295\n"),
            "0 0 4294967295\n"
        );
        assert_eq!(
            identity_map("         0       1000          1\n         1     100000      65536\n"),
            "0 0 1\n1 1 65536\n"
        );
    }
}
