//! The logging options every binary takes (`--log`, `--syslog-facility`,
//! `--syslog-tag`, `--syslog-socket`), flattened into each command line,
//! and the one place that turns them into the printer: a `watch` daemon
//! logs to syslog unless told otherwise, every other command to stderr.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::syslog::{self, Facility, Syslog};
use super::{Output, Verbosity};
use crate::error::Error;

/// Where the lines of a run go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Destination {
    /// Actions on stdout, narration, warnings and errors on stderr.
    Stderr,
    /// Every line to the local syslogd.
    Syslog,
}

/// The logging options, the same in every binary (certdrop(7), Logging).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging (certdrop(7), Logging)")]
pub struct LogArgs {
    /// Where messages go. stderr: actions on stdout, the rest on stderr
    /// (for cron, which mails them). syslog: each line to syslogd, errors
    /// as err, warnings as warning, actions as notice, -v as info, -vv as
    /// debug. Output asked for (tables, JSON) stays on stdout either way.
    /// Default: syslog for `watch`, stderr for everything else. Without a
    /// syslogd listening, one line on stderr says so and the lines stay on
    /// stdout and stderr.
    #[arg(long = "log", global = true, value_enum, value_name = "WHERE")]
    pub log: Option<Destination>,
    /// Syslog facility: daemon, user, local0 to local7, and the other
    /// names of syslog.conf(5).
    #[arg(long, global = true, value_name = "NAME", default_value = syslog::DEFAULT_FACILITY)]
    pub syslog_facility: String,
    /// Syslog tag (the program name in the log; default: this program's
    /// name), up to 32 of A-Z a-z 0-9 . _ -.
    #[arg(long, global = true, value_name = "TAG")]
    pub syslog_tag: Option<String>,
    /// syslogd's socket. In a FreeBSD jail it is the one syslogd -l makes
    /// inside the jail, e.g. `syslogd -l /jails/dns/var/run/log` on the host.
    #[arg(long, global = true, value_name = "PATH", default_value = syslog::DEFAULT_SOCKET)]
    pub syslog_socket: PathBuf,
}

/// What [`crate::exit::main`] reads from a binary's parsed command line.
pub trait Global {
    /// The count of `-v`.
    fn verbose(&self) -> u8;
    /// The logging options.
    fn log(&self) -> &LogArgs;
    /// Whether the command is a `watch` daemon (syslog by default).
    fn daemon(&self) -> bool {
        false
    }
}

impl LogArgs {
    /// Where the lines go: `--log`, else syslog for a daemon and stderr
    /// for the rest.
    pub fn destination(&self, daemon: bool) -> Destination {
        match (self.log, daemon) {
            (Some(d), _) => d,
            (None, true) => Destination::Syslog,
            (None, false) => Destination::Stderr,
        }
    }

    /// The printer these options ask for. A facility or tag that cannot
    /// be is a usage error (64) whatever the destination, so a typo shows
    /// at the first run from a terminal. A syslogd that cannot be reached
    /// is said once on stderr, and the printer writes as with `stderr`.
    pub fn output(
        &self,
        program: &'static str,
        verbosity: Verbosity,
        daemon: bool,
    ) -> Result<Output, Error> {
        let facility = Facility::parse(&self.syslog_facility).map_err(Error::usage)?;
        let tag = self.syslog_tag.as_deref().unwrap_or(program);
        syslog::check_tag(tag).map_err(Error::usage)?;
        let out = Output::new(program, verbosity);
        if self.destination(daemon) == Destination::Stderr {
            return Ok(out);
        }
        match Syslog::connect(&self.syslog_socket, facility, tag) {
            Ok(s) => Ok(out.with_syslog(s)),
            Err(e) => {
                eprintln!(
                    "{program}: syslog: {}: cannot connect: {e}; lines stay on stdout and stderr",
                    self.syslog_socket.display()
                );
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
    }

    fn parse(args: &[&str]) -> LogArgs {
        Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .expect("parses")
            .log
    }

    #[test]
    fn daemons_default_to_syslog_and_the_rest_to_stderr() {
        let none = parse(&[]);
        assert_eq!(none.destination(true), Destination::Syslog);
        assert_eq!(none.destination(false), Destination::Stderr);
        let said = parse(&["--log", "stderr"]);
        assert_eq!(said.destination(true), Destination::Stderr);
        assert_eq!(
            parse(&["--log", "syslog"]).destination(false),
            Destination::Syslog
        );
        assert_eq!(none.syslog_facility, "daemon");
        assert_eq!(none.syslog_socket, PathBuf::from(syslog::DEFAULT_SOCKET));
    }

    #[test]
    fn a_bad_facility_or_tag_is_a_usage_error_even_for_stderr() {
        let e = parse(&["--log", "stderr", "--syslog-facility", "local9"])
            .output("t", Verbosity::Quiet, false)
            .expect_err("local9");
        assert_eq!(e.class, crate::exit::Failure::Usage);
        assert!(e
            .msg
            .starts_with("--syslog-facility: unknown facility 'local9'"));
        let e = parse(&["--syslog-tag", "two words"])
            .output("t", Verbosity::Quiet, false)
            .expect_err("tag");
        assert_eq!(e.class, crate::exit::Failure::Usage);
    }
}
