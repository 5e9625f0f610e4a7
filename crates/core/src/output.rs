//! The one output module: quiet by default, one line per action, `-v` for
//! narration, errors prefixed with the program name. Nothing else in
//! certdrop prints. Lines go to stdout/stderr, or to syslog (`syslog.rs`)
//! with a severity per kind of line; what the user asked to see (`print`)
//! stays on stdout either way. A line syslog does not take goes to stderr.

mod args;
pub mod syslog;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// The syslog connection and whether its last send failed (the failure
/// is said once per outage, not once per line).
#[derive(Debug)]
struct Sink {
    syslog: Syslog,
    failing: AtomicBool,
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
            failing: AtomicBool::new(false),
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
    /// for a line it did not take, hand `prefix` + the text to `local`
    /// (the stdout/stderr form), so no line is ever lost.
    fn emit(&self, severity: Severity, prefix: &str, text: &str, local: impl Fn(&str)) {
        let Some(sink) = &self.syslog else {
            return local(&format!("{prefix}{text}"));
        };
        // A datagram is one line: a multi-line text (a tool's output
        // quoted in an error) becomes several, in order.
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line = format!("{prefix}{line}");
            match sink.syslog.send(severity, &line) {
                Ok(()) => sink.failing.store(false, Ordering::Relaxed),
                Err(e) => {
                    if !sink.failing.swap(true, Ordering::Relaxed) {
                        self.to_stderr(&format!(
                            "syslog: {}: cannot send: {e}; lines go to stderr until it takes them again",
                            sink.syslog.path().display()
                        ));
                    }
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
