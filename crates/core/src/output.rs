//! The one output module: quiet by default, one line per action, `-v` for
//! narration, errors on stderr prefixed with the program name. Nothing else
//! in certdrop prints.

use std::io::Write;

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
}

impl Output {
    /// A printer for `program` at the given verbosity.
    pub fn new(program: &'static str, verbosity: Verbosity) -> Self {
        Output { program, verbosity }
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

    /// One line for something that changed (stdout).
    pub fn action(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }

    /// Plain output the user asked for (a status table, JSON); stdout.
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
    }

    /// Narration shown with `-v` (stderr, so stdout stays machine-readable).
    pub fn verbose(&self, line: &str) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("{}: {line}", self.program);
        }
    }

    /// Detail shown with `-vv`.
    pub fn debug(&self, line: &str) {
        if self.verbosity >= Verbosity::Debug {
            eprintln!("{}: {line}", self.program);
        }
    }

    /// One line for a failure (stderr), always shown.
    pub fn error(&self, line: &str) {
        eprintln!("{}: {line}", self.program);
    }

    /// One line for something the user should know although nothing failed.
    pub fn warn(&self, line: &str) {
        eprintln!("{}: warning: {line}", self.program);
    }
}

/// Print one error line and return its class: `return Err(fail(out, ...))`.
pub fn fail(out: &Output, class: crate::exit::Failure, msg: &str) -> crate::exit::Failure {
    out.error(msg);
    class
}
