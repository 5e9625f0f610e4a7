//! The one output module: quiet by default, one line per action, `-v` for
//! narration, errors prefixed with the program name. Nothing else in
//! certdrop prints. Lines go to stdout/stderr, or to syslog (`syslog.rs`)
//! with a severity per kind of line; what the user asked to see (`print`)
//! stays on stdout either way. A line syslog does not take is written as
//! without syslog (actions on stdout, the rest on stderr), and syslog is
//! left alone for [`RETRY_AFTER`] before it is tried again.

mod args;
pub mod syslog;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use args::{Destination, Global, LogArgs};
use syslog::{Severity, Syslog};

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Actions and errors only (cron mails only news).
    Quiet,
    /// Also narrate what is being checked and why (`-v`).
    Verbose,
    /// Protocol-level detail (`-vv`).
    Debug,
}

/// The printer handed to every part of a run.
#[derive(Debug, Clone)]
pub struct Output {
    program: &'static str,
    verbosity: Verbosity,
    syslog: Option<Arc<Sink>>,
}

/// How long syslog is left alone after a send failed: the lines of that
/// while go straight to stdout/stderr, so a syslogd that stopped reading
/// costs a run one short wait ([`syslog::SEND_WAIT`]) per this period, not
/// one per line.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The syslog connection and its outage, if any.
#[derive(Debug)]
struct Sink {
    syslog: Syslog,
    outage: Mutex<Outage>,
}

/// When syslog last failed to take a line, while it does not take them
/// (said once per outage on stderr, not once per line).
#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
}

impl Outage {
    /// Whether a line at `now` is offered to syslog: always when it took
    /// the last one, else once [`RETRY_AFTER`] has passed since the last
    /// failure.
    fn try_at(&self, now: Instant) -> bool {
        match self.since {
            None => true,
            Some(t) => now.saturating_duration_since(t) >= RETRY_AFTER,
        }
    }

    /// A send failed at `now`; true if this starts an outage (say so).
    fn failed(&mut self, now: Instant) -> bool {
        self.since.replace(now).is_none()
    }

    /// A send went out; true if this ends an outage (say so).
    fn took(&mut self) -> bool {
        self.since.take().is_some()
    }
}

impl Output {
    /// A printer for `program` at the given verbosity, to stdout/stderr.
    pub fn new(program: &'static str, verbosity: Verbosity) -> Self {
        Output {
            program,
            verbosity,
            syslog: None,
        }
    }

    /// The same printer, sending its lines to `syslog` instead.
    pub fn with_syslog(mut self, syslog: Syslog) -> Self {
        self.syslog = Some(Arc::new(Sink {
            syslog,
            outage: Mutex::new(Outage::default()),
        }));
        self
    }

    /// The printer a parsed command line asks for (`-v`, the logging
    /// options, whether it runs a daemon); a usage error (64) for a
    /// facility or tag that cannot be.
    pub fn from_cli<C: Global>(
        program: &'static str,
        cli: &C,
    ) -> Result<Self, crate::error::Error> {
        cli.log()
            .output(program, Self::verbosity_from(cli.verbose()), cli.daemon())
    }

    /// A quiet printer to stderr, for what fails before the command line
    /// said where lines go.
    pub fn stderr(program: &'static str) -> Self {
        Self::new(program, Verbosity::Quiet)
    }

    /// Verbosity from the count of `-v` flags.
    pub fn verbosity_from(count: u8) -> Verbosity {
        match count {
            0 => Verbosity::Quiet,
            1 => Verbosity::Verbose,
            _ => Verbosity::Debug,
        }
    }

    /// The program name used as prefix.
    pub fn program(&self) -> &'static str {
        self.program
    }

    /// One line for something that changed (stdout; syslog `notice`).
    pub fn action(&self, line: &str) {
        self.emit(Severity::Notice, "", line, |l| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{l}");
        });
    }

    /// Plain output the user asked for (a status table, JSON); stdout,
    /// whatever `--log` says.
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
    }

    /// How much this printer shows (a shortcut that skips what `-v` would
    /// narrate is taken only when nothing would be narrated).
    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Narration shown with `-v` (stderr, so stdout stays
    /// machine-readable; syslog `info`).
    pub fn verbose(&self, line: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.emit(Severity::Info, "", line, |l| self.to_stderr(l));
        }
    }

    /// Detail shown with `-vv` (syslog `debug`).
    pub fn debug(&self, line: &str) {
        if self.verbosity >= Verbosity::Debug {
            self.emit(Severity::Debug, "", line, |l| self.to_stderr(l));
        }
    }

    /// One line for a failure (stderr; syslog `err`), always shown.
    pub fn error(&self, line: &str) {
        self.emit(Severity::Err, "", line, |l| self.to_stderr(l));
    }

    /// One line for something the user should know although nothing
    /// failed (syslog `warning`).
    pub fn warn(&self, line: &str) {
        self.emit(Severity::Warning, "warning: ", line, |l| self.to_stderr(l));
    }

    /// `program: line` on stderr.
    fn to_stderr(&self, line: &str) {
        eprintln!("{}: {line}", self.program);
    }

    /// Send `prefix` + each line of `text` to syslog; without syslog, or
    /// for a line it did not take or was not offered during an outage,
    /// hand `prefix` + the text to `local` (the stdout/stderr form).
    fn emit(&self, severity: Severity, prefix: &str, text: &str, local: impl Fn(&str)) {
        let Some(sink) = &self.syslog else {
            return local(&format!("{prefix}{text}"));
        };
        // A datagram is one line: a multi-line text (a tool's output
        // quoted in an error) becomes several, in order.
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line = format!("{prefix}{line}");
            // A poisoned lock only means another thread panicked while
            // holding it; the outage it records is still right.
            let mut outage = sink.outage.lock().unwrap_or_else(|p| p.into_inner());
            if !outage.try_at(Instant::now()) {
                drop(outage);
                local(&line);
                continue;
            }
            match sink.syslog.send(severity, &line) {
                Ok(()) => {
                    if outage.took() {
                        self.to_stderr(&format!(
                            "syslog: {}: takes lines again",
                            sink.syslog.path().display()
                        ));
                    }
                }
                Err(e) => {
                    if outage.failed(Instant::now()) {
                        self.to_stderr(&format!(
                            "syslog: {}: cannot send: {e}; lines stay on stdout and stderr, \
                             syslog is tried again every {}s",
                            sink.syslog.path().display(),
                            RETRY_AFTER.as_secs()
                        ));
                    }
                    drop(outage);
                    local(&line);
                }
            }
        }
    }
}

/// Print one error line and return its class: `return Err(fail(out, ...))`.
pub fn fail(out: &Output, class: crate::exit::Failure, msg: &str) -> crate::exit::Failure {
    out.error(msg);
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_said_once_and_syslog_is_offered_a_line_every_retry_after() {
        let t0 = Instant::now();
        let mut o = Outage::default();
        assert!(o.try_at(t0));
        assert!(o.failed(t0), "the first failure starts the outage");
        let soon = t0 + RETRY_AFTER - Duration::from_millis(1);
        assert!(!o.try_at(t0), "not the next line");
        assert!(!o.try_at(soon), "nor any before RETRY_AFTER");
        let later = t0 + RETRY_AFTER;
        assert!(o.try_at(later));
        assert!(!o.failed(later), "a failed retry is the same outage");
        assert!(!o.try_at(later + Duration::from_secs(1)), "counted anew");
        assert!(o.try_at(later + RETRY_AFTER));
        assert!(o.took(), "a line taken ends it");
        assert!(o.try_at(later + RETRY_AFTER));
        assert!(!o.took(), "and only once");
    }
}
