//! The `builder` binary: parse the command line, run it, report errors.

use std::process::ExitCode;

fn main() -> ExitCode {
    builder::rootfs::command::complete_path();
    // First, while the process has one thread: run unprivileged, a build
    // becomes root of a user namespace mapped onto the user's subordinate
    // ids; then the build's mounts are its own.
    if builder::cli::works_on_roots() {
        if let Err(error) = builder::rootfs::userns::enter_if_unprivileged() {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    }
    builder::rootfs::mounts::enter_private_namespace();
    match builder::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<builder::cli::BuildsDiffer>() => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(hint) = builder::cli::hint(&error) {
                eprintln!("hint: {hint}");
            }
            if error.is::<builder::cli::Trouble>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
