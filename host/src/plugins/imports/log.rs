//! Interface `log`: the plugin's log lines and progress, bounded and escaped.

use std::time::Instant;

use super::super::limits::escape_control;
use super::super::state::PluginState;
use super::super::v0_2_0::latest::log::{self, Level};

/// Longest progress step name shown.
const MAX_STEP_CHARS: usize = 200;

impl log::Host for PluginState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let plugin = &self.label;
        // Bounded in bytes and lines per second, control characters escaped.
        let admitted = self.log.admit(&message, Instant::now());
        if let Some(notice) = admitted.notice {
            tracing::warn!(target: "plugin", "{plugin}: {notice}");
        }
        let Some(message) = admitted.line else {
            return Ok(());
        };
        match level {
            Level::Trace => tracing::trace!(target: "plugin", "{plugin}: {message}"),
            Level::Debug => tracing::debug!(target: "plugin", "{plugin}: {message}"),
            Level::Info => tracing::info!(target: "plugin", "{plugin}: {message}"),
            Level::Warn => tracing::warn!(target: "plugin", "{plugin}: {message}"),
            Level::Error => tracing::error!(target: "plugin", "{plugin}: {message}"),
        }
        Ok(())
    }

    fn progress(&mut self, step: String, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        let step: String = step.chars().take(MAX_STEP_CHARS).collect();
        let step = escape_control(&step, false);
        let text = match total {
            Some(total) => format!("{}: {step} {done}/{total}", self.label),
            None => format!("{}: {step} {done}", self.label),
        };
        tracing::debug!(target: "plugin", "{text}");
        crate::progress::detail(text);
        Ok(())
    }
}
