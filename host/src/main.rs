//! The `builder` binary: parse the command line, run it, report errors.

use std::process::ExitCode;

fn main() -> ExitCode {
    match builder::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
