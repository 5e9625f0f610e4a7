//! The exit contract shared by every certdrop binary (DESIGN.md,
//! "Conventions"): 0 when something changed, 2 when there was nothing to do,
//! and sysexits(3) codes for errors, so cron chains and monitors can tell a
//! transient failure from a broken configuration.

use std::process::ExitCode;

/// Something changed (a certificate issued, a zone reloaded, ...).
pub const CHANGED: u8 = 0;
/// The run completed and nothing was due.
pub const NOTHING_TO_DO: u8 = 2;
/// EX_USAGE: the command line was wrong.
pub const USAGE: u8 = 64;
/// EX_DATAERR: input data (a CSR, a certificate, a fragment) was bad.
pub const DATAERR: u8 = 65;
/// EX_NOINPUT: an input file did not exist or was unreadable.
pub const NOINPUT: u8 = 66;
/// EX_UNAVAILABLE: a service (the ACME CA) could not be reached.
pub const UNAVAILABLE: u8 = 69;
/// EX_SOFTWARE: an internal error.
pub const SOFTWARE: u8 = 70;
/// EX_CANTCREAT: an output file could not be created.
pub const CANTCREAT: u8 = 73;
/// EX_TEMPFAIL: a temporary failure; the next run may succeed.
pub const TEMPFAIL: u8 = 75;
/// EX_CONFIG: the configuration is wrong.
pub const CONFIG: u8 = 78;

/// What a run did, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Something changed.
    Changed,
    /// Nothing was due.
    Unchanged,
    /// An informational command (status, check, show) did its job: exit 0,
    /// like `nginx -t`, so `certdrop-issue -n && ...` reads naturally.
    Reported,
}

impl Outcome {
    /// Combine the outcomes of two independent pieces of work.
    pub fn and(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Changed, _) | (_, Outcome::Changed) => Outcome::Changed,
            (Outcome::Reported, _) | (_, Outcome::Reported) => Outcome::Reported,
            _ => Outcome::Unchanged,
        }
    }

    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Changed | Outcome::Reported => CHANGED,
            Outcome::Unchanged => NOTHING_TO_DO,
        }
    }
}

/// The classes of failure of the exit contract, ordered by how much a human
/// must do about them (the worst of several failures decides the exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// EX_TEMPFAIL: try again later.
    Temporary,
    /// EX_UNAVAILABLE: the remote service is down or unreachable.
    Unavailable,
    /// EX_DATAERR: bad input data.
    Data,
    /// EX_NOINPUT: missing input.
    NoInput,
    /// EX_CANTCREAT: cannot write output.
    CantCreate,
    /// EX_SOFTWARE: internal error.
    Software,
    /// EX_CONFIG: configuration error.
    Config,
    /// EX_USAGE: command-line error.
    Usage,
}

impl Failure {
    /// The sysexits(3) code for this failure.
    pub fn code(self) -> u8 {
        match self {
            Failure::Temporary => TEMPFAIL,
            Failure::Unavailable => UNAVAILABLE,
            Failure::Data => DATAERR,
            Failure::NoInput => NOINPUT,
            Failure::CantCreate => CANTCREAT,
            Failure::Software => SOFTWARE,
            Failure::Config => CONFIG,
            Failure::Usage => USAGE,
        }
    }
}

/// Parse the command line with clap: `--help` and `--version` print and
/// exit 0, any other error prints clap's message and exits 64 (EX_USAGE,
/// where clap alone would exit 2, which means "nothing to do" here).
pub fn parse_args<C: clap::Parser>() -> Result<C, ExitCode> {
    C::try_parse().map_err(|e| {
        let _ = e.print();
        match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                ExitCode::SUCCESS
            }
            _ => ExitCode::from(USAGE),
        }
    })
}

/// The whole `main` of a binary: parse the command line ([`parse_args`]),
/// make the printer it asks for (verbosity, stderr or syslog:
/// [`crate::output::Global`]), run the command, print its error line,
/// return the exit code.
pub fn main<C, F>(program: &'static str, run: F) -> ExitCode
where
    C: clap::Parser + crate::output::Global,
    F: FnOnce(C, &crate::output::Output) -> Result<Outcome, crate::error::Error>,
{
    let cli = match parse_args::<C>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let out = match crate::output::Output::from_cli(program, &cli) {
        Ok(out) => out,
        Err(e) => return exit_code(Err(e.report(&crate::output::Output::stderr(program)))),
    };
    exit_code(run(cli, &out).map_err(|e| e.report(&out)))
}

/// Turn a run's result into the process exit code.
pub fn exit_code(result: Result<Outcome, Failure>) -> ExitCode {
    ExitCode::from(match result {
        Ok(outcome) => outcome.code(),
        Err(failure) => failure.code(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_sysexits() {
        assert_eq!(Failure::Usage.code(), 64);
        assert_eq!(Failure::Temporary.code(), 75);
        assert_eq!(Failure::Config.code(), 78);
        assert_eq!(Outcome::Unchanged.code(), 2);
        assert_eq!(Outcome::Unchanged.and(Outcome::Changed), Outcome::Changed);
        assert!(Failure::Config > Failure::Temporary);
    }
}
