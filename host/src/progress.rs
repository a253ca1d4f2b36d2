//! The progress display: on a terminal, one status line at the bottom (the
//! phase, what it is doing, time spent) with log lines scrolling above it;
//! anywhere else nothing but the plain log lines.
//!
//! The pipeline reports with [`phase`] and [`detail`]; both do nothing until
//! [`enable`] was called, so libraries and tests never draw anything.

use std::io::{self, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// Shows the status line on stderr from now on.
pub fn enable() {
    BAR.get_or_init(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {elapsed:>4} {prefix:.bold} {wide_msg}")
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
}

/// A new phase begins (`bootstrap`, `install`, `create`, ...).
pub fn phase(name: &str) {
    if let Some(bar) = BAR.get() {
        bar.set_prefix(name.to_string());
        bar.set_message("");
    }
}

/// What the current phase is doing right now.
pub fn detail(message: impl Into<String>) {
    if let Some(bar) = BAR.get() {
        bar.set_message(message.into());
    }
}

/// Removes the status line (the build is over).
pub fn finish() {
    if let Some(bar) = BAR.get() {
        bar.finish_and_clear();
    }
}

/// Where log lines go: stderr, above the status line when it is shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(|| io::stderr().write_all(buf))?,
            _ => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}
