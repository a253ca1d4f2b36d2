//! Bounds on what one plugin call makes the host do: open handles, log
//! volume, and text that reaches the terminal.
//!
//! A plugin is untrusted code. Whatever it asks for, the host side of a call
//! stays bounded: a fixed number of open walks, readers and artifact writers
//! (each holds descriptors, buffers and, for writers, threads), a byte and a
//! rate budget for its log, and no control characters from it on the
//! terminal. The byte budget of artifacts is kept by
//! [`crate::toolbox::artifacts::ArtifactBudget`].

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// What a call may have open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// `root-tree.walk`.
    Walk,
    /// `root-tree.open`.
    Reader,
    /// `create-artifact`.
    Writer,
}

impl HandleKind {
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            HandleKind::Walk => ("walks", "--plugin-max-walks"),
            HandleKind::Reader => ("file readers", "--plugin-max-readers"),
            HandleKind::Writer => ("artifact writers", "--plugin-max-writers"),
        }
    }
}

/// Open handles of one call, against their limits.
#[derive(Debug, Clone, Default)]
pub struct HandleCounts {
    limits: [usize; 3],
    open: [usize; 3],
}

impl HandleCounts {
    /// Counts starting at zero, with at most `walks`, `readers` and
    /// `writers` open at once.
    pub fn new(walks: usize, readers: usize, writers: usize) -> Self {
        HandleCounts {
            limits: [walks, readers, writers],
            open: [0; 3],
        }
    }

    /// Take one handle of `kind`; an error naming the limit when all are taken.
    pub fn acquire(&mut self, kind: HandleKind) -> Result<(), String> {
        let i = kind as usize;
        if self.open[i] >= self.limits[i] {
            let (what, flag) = kind.describe();
            return Err(format!(
                "too many open {what}: a plugin call may have at most {} open at once \
                 (close some first, or raise the limit with {flag})",
                self.limits[i]
            ));
        }
        self.open[i] += 1;
        Ok(())
    }

    /// Give one handle of `kind` back.
    pub fn release(&mut self, kind: HandleKind) {
        let i = kind as usize;
        self.open[i] = self.open[i].saturating_sub(1);
    }

    /// How many of `kind` are open.
    pub fn open(&self, kind: HandleKind) -> usize {
        self.open[kind as usize]
    }
}

/// The log budget of one call: at most `max_bytes` in all and
/// `per_second` lines in any second; lines beyond are dropped and counted,
/// and the count is reported once, in a notice of its own.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    max_bytes: u64,
    per_second: u32,
    bytes: u64,
    window: Option<Instant>,
    in_window: u32,
    dropped_by_rate: u64,
    /// Set once the byte budget is spent; lines dropped since.
    exhausted: Option<u64>,
}

/// What to print for one log line: a notice first (lines dropped before),
/// then the line itself, escaped, if it is within the limits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// A notice about dropped lines, to print before `line`.
    pub notice: Option<String>,
    /// The line, escaped.
    pub line: Option<String>,
}

impl LogLimiter {
    /// A fresh budget.
    pub fn new(max_bytes: u64, per_second: u32) -> Self {
        LogLimiter {
            max_bytes,
            per_second: per_second.max(1),
            bytes: 0,
            window: None,
            in_window: 0,
            dropped_by_rate: 0,
            exhausted: None,
        }
    }

    /// Account for `message`, logged at `now`.
    pub fn admit(&mut self, message: &str, now: Instant) -> Admitted {
        let mut admitted = Admitted::default();
        if let Some(dropped) = &mut self.exhausted {
            *dropped += 1;
            return admitted;
        }
        match self.window {
            Some(start) if now.saturating_duration_since(start) < Duration::from_secs(1) => {}
            _ => {
                admitted.notice = self.rate_notice();
                self.window = Some(now);
                self.in_window = 0;
            }
        }
        if self.in_window >= self.per_second {
            self.dropped_by_rate += 1;
            return admitted;
        }
        let line = escape_control(message, false);
        let len = line.len() as u64;
        if self.bytes.saturating_add(len) > self.max_bytes {
            self.exhausted = Some(1);
            let notice = format!(
                "log limit reached: a plugin call may log at most {} bytes (--plugin-log-bytes); \
                 its further messages are dropped",
                self.max_bytes
            );
            admitted.notice = Some(match admitted.notice.take() {
                Some(rate) => format!("{rate}; {notice}"),
                None => notice,
            });
            return admitted;
        }
        self.bytes += len;
        self.in_window += 1;
        admitted.line = Some(line);
        admitted
    }

    /// The notice still owed at the end of the call, if lines were dropped
    /// since the last one.
    pub fn finish(&mut self) -> Option<String> {
        let rate = self.rate_notice();
        let spent = match self.exhausted.take() {
            Some(dropped) if dropped > 1 => Some(format!(
                "{} log lines dropped after the log limit was reached",
                dropped - 1
            )),
            _ => None,
        };
        match (rate, spent) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        }
    }

    fn rate_notice(&mut self) -> Option<String> {
        let dropped = std::mem::take(&mut self.dropped_by_rate);
        (dropped > 0).then(|| {
            format!(
                "{dropped} log lines dropped (a plugin may log at most {} lines per second, \
                 --plugin-log-rate)",
                self.per_second
            )
        })
    }
}

/// `text` made safe for a terminal or a log file: C0 control characters
/// (but tab, and line feed when `keep_newlines`), DEL, C1 control characters
/// and the bidirectional overrides are written as escapes (`\x1b`,
/// `\u{9b}`), so no escape sequence of a plugin reaches the terminal.
pub fn escape_control(text: &str, keep_newlines: bool) -> String {
    let needs = |c: char| match c {
        '\t' => false,
        '\n' => !keep_newlines,
        c if (c as u32) < 0x20 || c == '\x7f' => true,
        '\u{80}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    };
    if !text.chars().any(needs) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("plain\ttext", false), "plain\ttext");
        assert_eq!(
            escape_control("\x1b[31mred\x1b[0m\x07\x7f\u{9b}2J\r\n", false),
            "\\x1b[31mred\\x1b[0m\\x07\\x7f\\u{9b}2J\\r\\n"
        );
        assert_eq!(escape_control("a\nb\x1b", true), "a\nb\\x1b");
        assert_eq!(escape_control("\u{202e}txt", false), "\\u{202e}txt");
        assert_eq!(escape_control("Grüße", false), "Grüße");
    }

    #[test]
    fn handles_are_counted_against_their_limits() {
        let mut counts = HandleCounts::new(2, 1, 1);
        assert!(counts.acquire(HandleKind::Walk).is_ok());
        assert!(counts.acquire(HandleKind::Walk).is_ok());
        let err = counts.acquire(HandleKind::Walk).unwrap_err();
        assert!(err.contains("at most 2"), "{err}");
        assert!(err.contains("--plugin-max-walks"), "{err}");
        counts.release(HandleKind::Walk);
        assert!(counts.acquire(HandleKind::Walk).is_ok());
        assert!(counts.acquire(HandleKind::Reader).is_ok());
        assert!(counts.acquire(HandleKind::Reader).is_err());
        assert_eq!(counts.open(HandleKind::Walk), 2);
    }

    #[test]
    fn a_log_flood_is_cut_to_the_rate_and_counted() {
        let mut log = LogLimiter::new(1 << 20, 100);
        let start = Instant::now();
        let mut printed = 0;
        for _ in 0..1000 {
            let a = log.admit("line", start);
            assert_eq!(a.notice, None);
            printed += a.line.is_some() as u32;
        }
        assert_eq!(printed, 100);
        // The next second begins with the notice, then lines pass again.
        let a = log.admit("again", start + Duration::from_millis(1001));
        assert_eq!(
            a.notice.as_deref(),
            Some("900 log lines dropped (a plugin may log at most 100 lines per second, --plugin-log-rate)")
        );
        assert_eq!(a.line.as_deref(), Some("again"));
        assert_eq!(log.finish(), None);
    }

    #[test]
    fn the_byte_budget_ends_the_log_with_one_notice() {
        let mut log = LogLimiter::new(25, 1000);
        let now = Instant::now();
        assert_eq!(
            log.admit("0123456789", now).line.as_deref(),
            Some("0123456789")
        );
        assert_eq!(log.admit("\x1b[2J", now).line.as_deref(), Some("\\x1b[2J"));
        let over = log.admit("0123456789", now);
        assert_eq!(over.line, None);
        assert!(over.notice.unwrap().contains("at most 25 bytes"));
        for _ in 0..5 {
            assert_eq!(log.admit("x", now), Admitted::default());
        }
        assert_eq!(
            log.finish().as_deref(),
            Some("5 log lines dropped after the log limit was reached")
        );
    }
}
