//! Running commands for a build step, on the build host or inside the image
//! root ([`super::sandbox`]): output captured (stdout and stderr interleaved), failures
//! reported with the step, the command line and the tail of its output.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};

/// The directories of the system's administration tools, which an
/// unprivileged user's `PATH` lacks on Debian and most distributions.
const SYSTEM_TOOL_DIRS: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// Adds to `PATH` the system tool directories it lacks: the host tools a
/// build runs (`mke2fs`, `mkfs.*`, `sfdisk`, `debugfs`, `losetup`) live
/// there, and a rootless build's user does not have them in its `PATH`.
/// Call it first thing in `main`, while the process has one thread.
pub fn complete_path() {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&current).collect();
    for dir in SYSTEM_TOOL_DIRS {
        if !dirs.iter().any(|d| d == std::path::Path::new(dir)) {
            dirs.push(dir.into());
        }
    }
    if let Ok(path) = std::env::join_paths(dirs) {
        std::env::set_var("PATH", path);
    }
}

/// Where builds keep temporary files by default (never bulk data in `/tmp`).
pub const TEMP_DIR: &str = "/var/tmp";
/// The variable that moves them elsewhere (a larger disk; a test's own
/// directory, so that builds running beside it are not taken for its leaks).
pub const TEMP_DIR_VAR: &str = "BUILDER_TMPDIR";

/// Where builds keep temporary files: `$BUILDER_TMPDIR`, else `/var/tmp`.
pub fn temp_root() -> std::path::PathBuf {
    std::env::var_os(TEMP_DIR_VAR)
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(TEMP_DIR))
}
/// Prefix of every temporary file and directory a build creates.
pub const TEMP_PREFIX: &str = "builder-";
/// How much of a failed command's output an error carries.
const TAIL_LINES: usize = 60;

/// A command of a build step that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started.
    #[error("{step}: could not run `{command}`: {source}")]
    Spawn {
        /// The build step.
        step: String,
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The build was asked to stop; the command was terminated.
    #[error("{step}: `{command}` stopped: the build was interrupted")]
    Interrupted {
        /// The build step.
        step: String,
        /// The command line.
        command: String,
    },
    /// The program ran and failed.
    #[error("{step}: `{command}` failed ({status}); last output:\n{tail}")]
    Failed {
        /// The build step.
        step: String,
        /// The command line.
        command: String,
        /// Exit status.
        status: ExitStatus,
        /// The last lines of its output (stdout and stderr interleaved).
        tail: String,
    },
}

/// A temporary file under [`temp_root`] with the `builder-` prefix.
pub fn temp_file() -> std::io::Result<std::fs::File> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(temp_root())
        .map(|f| f.into_file())
}

/// A temporary directory under [`temp_root`], `builder-<pid>-<random>`,
/// held by this build while it lives (see [`super::owned::Owned`]): once
/// the build is gone, the next one's sweep removes it if it is still there.
/// Mode 0755: programs that drop privileges (apt's `_apt`) read from it.
pub fn temp_dir() -> std::io::Result<super::owned::Owned> {
    super::owned::Owned::new_in(&temp_root(), TEMP_PREFIX, 0o755)
}

/// The names of builder's temporary files and directories now in
/// [`temp_root`] (those of tests, `builder-test-*`, left out): what a build
/// that stopped should not leave behind.
pub fn leftovers() -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(temp_root())? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX) && !name.starts_with("builder-test") {
            names.push(name);
        }
    }
    Ok(names)
}

/// Programs whose `-p`/`--password` argument is a password hash.
const PASSWORD_PROGRAMS: &[&str] = &["useradd", "usermod", "groupadd", "groupmod"];

/// What stands for a password hash in messages.
const REDACTED: &str = "<hash>";

/// Whether `arg` has the form of a modular crypt(3) hash (`$6$salt$...`,
/// `$y$...`, `$2b$...`): hidden wherever it appears on a command line.
fn looks_like_crypt_hash(arg: &str) -> bool {
    let Some(rest) = arg.strip_prefix('$') else {
        return false;
    };
    let Some((id, rest)) = rest.split_once('$') else {
        return false;
    };
    !id.is_empty()
        && id.len() <= 8
        && id.chars().all(|c| c.is_ascii_alphanumeric())
        && rest.len() >= 8
        && !rest.contains(char::is_whitespace)
}

/// `cmd` as a shell-like command line for messages.
/// A command run inside the image root reads as the program it runs there.
pub fn command_line(cmd: &Command) -> String {
    let (program, args) = super::sandbox::inner_command(cmd).unwrap_or_else(|| {
        (
            cmd.get_program().to_os_string(),
            cmd.get_args().map(|a| a.to_os_string()).collect(),
        )
    });
    let mut line = program.to_string_lossy().into_owned();
    // The programs that take a password hash as an argument (`-p HASH`,
    // `--password HASH`, `--password=HASH`): the hash never reaches a log
    // line or an error message.
    let takes_hash = std::path::Path::new(&program)
        .file_name()
        .is_some_and(|name| PASSWORD_PROGRAMS.iter().any(|p| name == *p));
    let mut hidden_next = false;
    for arg in &args {
        let arg = arg.to_string_lossy();
        let arg = if hidden_next {
            hidden_next = false;
            std::borrow::Cow::Borrowed(REDACTED)
        } else if takes_hash && (arg == "-p" || arg == "--password") {
            hidden_next = true;
            arg
        } else if takes_hash && arg.starts_with("--password=") {
            std::borrow::Cow::Owned(format!("--password={REDACTED}"))
        } else if looks_like_crypt_hash(&arg) {
            std::borrow::Cow::Borrowed(REDACTED)
        } else {
            arg
        };
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            let _ = write!(line, " '{}'", arg.replace('\'', "'\\''"));
        } else {
            let _ = write!(line, " {arg}");
        }
    }
    line
}

/// Runs `cmd` for `step`, stdin closed, output captured; returns the output.
pub fn run(step: &str, cmd: &mut Command) -> Result<String, CommandError> {
    run_reading(step, cmd, Stdio::null())
}

/// Like [`run`], with `input` as the command's standard input.
pub fn run_with_stdin(
    step: &str,
    cmd: &mut Command,
    input: std::fs::File,
) -> Result<String, CommandError> {
    run_reading(step, cmd, Stdio::from(input))
}

fn run_reading(step: &str, cmd: &mut Command, stdin: Stdio) -> Result<String, CommandError> {
    let command = command_line(cmd);
    let spawn_error = |source| CommandError::Spawn {
        step: step.to_string(),
        command: command.clone(),
        source,
    };
    // One file for both streams keeps their order.
    let mut log = temp_file().map_err(spawn_error)?;
    let out = log.try_clone().map_err(spawn_error)?;
    let err = log.try_clone().map_err(spawn_error)?;
    tracing::debug!(step, %command, "running");
    crate::progress::detail(step);
    let started = std::time::Instant::now();
    if crate::interrupt::requested() {
        return Err(CommandError::Interrupted {
            step: step.to_string(),
            command,
        });
    }
    // A process group of its own: an interrupt terminates the whole tree
    // (apt, dpkg, maintainer scripts), and a terminal's Ctrl-C reaches only
    // builder, which decides.
    // SAFETY: prctl is async-signal-safe. The child dies with the thread
    // that waits for it here: a killed build leaves no orphan running.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
        .map_err(spawn_error)?;
    let status = match wait_or_interrupt(&mut child).map_err(spawn_error)? {
        Some(status) => status,
        None => {
            return Err(CommandError::Interrupted {
                step: step.to_string(),
                command,
            })
        }
    };
    let mut output = Vec::new();
    log.seek(SeekFrom::Start(0))
        .and_then(|_| log.read_to_end(&mut output))
        .map_err(spawn_error)?;
    let output = String::from_utf8_lossy(&output).into_owned();
    tracing::debug!(step, %command, %status, elapsed = ?started.elapsed(), "finished");
    if !status.success() {
        return Err(CommandError::Failed {
            step: step.to_string(),
            command,
            status,
            tail: tail(&output),
        });
    }
    Ok(output)
}

/// Wait for `child`; on an interrupt, or once the deadline of the plugin
/// call that runs it has passed, terminate its process group (SIGTERM, then
/// SIGKILL after five seconds), reap it and return `None`.
fn wait_or_interrupt(child: &mut std::process::Child) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if crate::interrupt::should_stop() {
            let group = rustix::process::Pid::from_raw(child.id() as i32);
            if let Some(group) = group {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                while child.try_wait()?.is_none() {
                    if std::time::Instant::now() > deadline {
                        let _ = rustix::process::kill_process_group(
                            group,
                            rustix::process::Signal::KILL,
                        );
                        child.wait()?;
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// The last lines of `output`.
pub fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_run_for_a_plugin_call_stops_at_its_deadline() {
        use crate::interrupt::{check_stop, deadline_passed, deadline_scope, requested};
        use std::time::{Duration, Instant};
        let started = Instant::now();
        let err = {
            let _deadline = deadline_scope(started + Duration::from_millis(300));
            run("unit", std::process::Command::new("sleep").arg("30")).unwrap_err()
        };
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(1300), "took {elapsed:?}");
        assert!(matches!(err, CommandError::Interrupted { .. }), "{err}");
        // Outside the scope, nothing is past any deadline.
        assert!(!deadline_passed());
        assert!(check_stop("unit").is_ok() || requested());
    }

    #[test]
    fn failure_names_step_command_and_output() {
        let err = run(
            "unit",
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("unit: `sh -c 'echo out; echo err >&2; exit 3'` failed"),
            "{text}"
        );
        assert!(text.contains("out\nerr"), "{text}");
    }

    #[test]
    fn tail_keeps_last_lines() {
        let text: String = (0..100).map(|i| format!("{i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("40\n") && t.ends_with("99"));
    }
}
