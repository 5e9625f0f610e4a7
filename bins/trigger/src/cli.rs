//! Raw command-line arguments of certdrop-trigger (clap derive). Usage
//! errors exit 64 (EX_USAGE).

use std::path::PathBuf;
use std::time::Duration;

use certdrop_core::error::{Error, Result};
use certdrop_core::output::{Global, LogArgs};
use clap::{Parser, Subcommand};

/// certdrop-trigger deploys a published certificate to a service: it reads
/// pub/ (certdrop-publish's tree, read-only) and the service's own
/// configuration, checks the signed manifest, that the key matches the
/// certificate, its dates and names, and the service's pre-flight check;
/// then reloads or restarts the service when its rule says so (a cert or
/// key file newer than the pid file; or content changed since the last
/// deployment), and checks with a TLS handshake that the service serves
/// the new certificate. With `install` it copies the files into place
/// first and puts the previous ones back if the service does not take them.
/// On a site whose keys stay there, `csr` makes or reuses each [[csr]]
/// line's key and writes its CSRs into a signed outbox the signing site
/// pulls; `run` promotes a staged next key once its certificate is
/// published, with the deployment: key.pem goes back with the files a
/// failed pre-flight or rollback restores, and the old key moves to old/
/// only once the new pair is served.
///
/// Exit codes: 0 acted (or `check` reported; `csr`: an outbox written), 2
/// nothing to do, 64 usage, 65 a file would not be deployed (or is no
/// regular file; `csr`: a key file others can read), 66 a file is
/// missing, 69 the action or the post-flight check failed, 73 cannot
/// write, 75 another run holds the lock, 78 configuration (ours, or the
/// service's: its pre-flight failed, its files cannot be discovered).
#[derive(Debug, Parser)]
#[command(name = "certdrop-trigger", version, verbatim_doc_comment)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(short = 'c', long, global = true, default_value = crate::config::DEFAULT_CONFIG, env = "CERTDROP_TRIGGER_CONFIG")]
    pub config: PathBuf,
    /// Check everything, act on nothing: say what would happen and why.
    #[arg(short = 'n', long, global = true)]
    pub check: bool,
    /// Act even when the rule says nothing is due (the checks still apply).
    #[arg(short = 'f', long, global = true)]
    pub force: bool,
    /// Explain (twice: more).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Where messages go (--log, --syslog-*).
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `certdrop_core::exit::main` reads: -v, the logging options,
/// and whether the command is the `watch` daemon (syslog by default).
impl Global for Cli {
    fn verbose(&self) -> u8 {
        self.verbose
    }
    fn log(&self) -> &LogArgs {
        &self.log
    }
    fn daemon(&self) -> bool {
        // `watch -n` is a usage error, said on stderr to whoever typed it.
        matches!(self.command, Some(Command::Watch { .. })) && !self.check
    }
}

impl Cli {
    /// The command to dispatch, `-n/--check` made the `check` command
    /// first (`run -n` and a bare `-n` are `check`); `watch` acts, so it
    /// does not take `-n`, and no command at all is a usage error (64).
    pub fn command(&mut self) -> Result<Command> {
        match self.command.take() {
            Some(Command::Run { services }) if self.check => Ok(Command::Check { services }),
            // `csr -n` stays `csr`: it reads self.check itself.
            Some(Command::Watch { .. }) if self.check => Err(Error::usage(
                "watch acts: -n/--check goes with run or check",
            )),
            Some(command) => Ok(command),
            None if self.check => Ok(Command::Check {
                services: Vec::new(),
            }),
            None => Err(Error::usage(
                "a command is needed: run, check, watch, csr (see --help)",
            )),
        }
    }
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy to every service (or the named ones) that is due; for cron.
    Run {
        /// Service names (default: all).
        services: Vec<String>,
    },
    /// Same as -n: check everything, say what `run` would do, act on nothing.
    Check {
        /// Service names (default: all).
        services: Vec<String>,
    },
    /// Run at start, then within a second of a change under pub/, and at
    /// least every --interval. Each round is exactly `run`. SIGTERM or
    /// SIGINT stops it after the round in progress (exit 0).
    Watch {
        /// Run at least this often without events (30s, 10m, 1h).
        #[arg(long, default_value = crate::watch::DEFAULT_INTERVAL, value_parser = certdrop_core::duration::positive)]
        interval: Duration,
    },
    /// For each [[csr]] line (or the named ones): make its key if missing
    /// (reused otherwise), stage a next key past max_key_age, and write a
    /// new signed outbox version when the names or keys changed; for cron.
    /// With -n: say what it would do. With -f: write a new version anyway.
    Csr {
        /// [[csr]] line names (default: all).
        lines: Vec<String>,
    },
}
