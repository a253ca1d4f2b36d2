//! Ctrl-C and SIGTERM: a build asked to stop stops at the next safe point —
//! the running command's process group is terminated, the running plugin is
//! stopped within a few milliseconds, even inside a host or WASI call — and
//! unwinds normally, so mounts are unmounted, partial artifacts and work
//! directories removed. A second signal exits at once.
//!
//! The deadline of a plugin call stops the host work that call does the
//! same way ([`deadline_scope`], [`should_stop`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

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

thread_local! {
    /// The deadline of the plugin call running on this thread, if any.
    static DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// Sets this thread's deadline until dropped (see [`deadline_scope`]).
#[must_use = "the deadline holds only while the guard lives"]
pub struct DeadlineGuard {
    previous: Option<Instant>,
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
    }
}

/// Until the guard is dropped, [`should_stop`] on this thread also answers
/// true once `deadline` has passed: the plugin runtime sets it for the length
/// of a plugin call, so that the host work the call does on its thread
/// (commands such as mkfs, artifact copies) stops at the call's deadline as
/// it does on Ctrl-C. Per thread, not per process: calls on other threads
/// (tests run side by side) keep their own deadlines.
pub fn deadline_scope(deadline: Instant) -> DeadlineGuard {
    let previous = DEADLINE.with(|d| d.replace(Some(deadline)));
    DeadlineGuard { previous }
}

/// Whether this thread runs a plugin call whose deadline has passed.
pub fn deadline_passed() -> bool {
    DEADLINE
        .with(|d| d.get())
        .is_some_and(|d| Instant::now() >= d)
}

/// Whether the work on this thread should stop now: the build was asked to
/// stop, or the plugin call it does has run out of time.
pub fn should_stop() -> bool {
    requested() || deadline_passed()
}

/// Err([`Interrupted`]) once [`should_stop`] (for loops in host work that a
/// plugin call drives: copies, writes).
pub fn check_stop(step: &str) -> Result<(), Interrupted> {
    if requested() {
        return Err(Interrupted(step.to_string()));
    }
    if deadline_passed() {
        return Err(Interrupted(format!(
            "{step} (the plugin call ran out of time)"
        )));
    }
    Ok(())
}
