//! Ctrl-C and SIGTERM: a build asked to stop stops at the next safe point —
//! the running command's process group is terminated, the running plugin is
//! trapped at its next epoch tick — and unwinds normally, so mounts are
//! unmounted, partial artifacts and work directories removed. A second
//! signal exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Set by the signal handlers.
static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Whether the build was asked to stop.
pub fn requested() -> bool {
    FLAG.get().is_some_and(|flag| flag.load(Ordering::Relaxed))
}

/// The error a step returns when it stops because of a signal.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: the build was asked to stop (Ctrl-C or SIGTERM) during {0}")]
pub struct Interrupted(pub String);

/// Err([`Interrupted`]) once a stop was requested.
pub fn check(step: &str) -> Result<(), Interrupted> {
    if requested() {
        Err(Interrupted(step.to_string()))
    } else {
        Ok(())
    }
}

/// Install the handlers for SIGINT and SIGTERM (once, from the CLI).
pub fn install() -> std::io::Result<()> {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it:
        // the second signal ends the process at once.
        signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())?;
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(())
}
