//! Raw command-line arguments of certdrop-publish (clap derive), kept apart
//! from the validated configuration. Usage errors exit 64 (EX_USAGE).

use std::path::PathBuf;
use std::time::Duration;

use certdrop_core::output::{Global, LogArgs};
use clap::{Parser, Subcommand};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/usr/local/etc/certdrop/publish.toml";

/// certdrop-publish copies the public files of each certificate line
/// (cert.pem, chain.pem, fullchain.pem, pubkey.pem) from the certificate
/// store (certs/) into a publication tree (pub/) for service jails, after
/// checking them: chain order, names, validity, public key, no rollback.
/// Each new version appears all at once (pub/<line> is a symlink switched
/// by one rename) with a manifest signed by an OpenSSH ed25519 key
/// (namespace certdrop-manifest@certdrop), which `verify` or
/// `ssh-keygen -Y verify` checks where the tree is received.
///
/// `certdrop-publish run` from cron: silent when nothing changed; or
/// `certdrop-publish watch` as a daemon, which does the same run within a
/// second of a renewal switched into certs/ (cron then stays as the net). Exit
/// codes: 0 changed, 2 nothing to do, 64 usage, 65 a line refused or a
/// verify problem, 66 missing input, 73 cannot write, 75 another run holds
/// the lock (or pull's transport failed), 78 configuration.
///
/// At a receiving site, `certdrop-publish -c pull.toml pull` (cron) fetches
/// another site's signed tree with a transport command (rsync, git, ...),
/// verifies it, and switches the local copy; `-n pull` checks pull.toml.
#[derive(Debug, Parser)]
#[command(name = "certdrop-publish", version, verbatim_doc_comment)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(short = 'c', long, global = true, default_value = DEFAULT_CONFIG, env = "CERTDROP_PUBLISH_CONFIG")]
    pub config: PathBuf,
    /// Validate the configuration and the signing key and gate every line;
    /// write nothing. With `pull`: validate [pull] (the transport's program,
    /// allowed_signers), run nothing.
    #[arg(short = 'n', long, global = true)]
    pub check: bool,
    /// Publish again even when the same certificate is published intact.
    #[arg(short = 'f', long, global = true)]
    pub force: bool,
    /// Explain (twice: more).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print the result of `run` or `pull` as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
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

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish every line (or the named ones) whose certificate is new and
    /// passes the gate; for cron.
    Run {
        /// Line names (default: all).
        lines: Vec<String>,
    },
    /// Run at start, then within a second of a change under certs/ (the
    /// store certdrop-issue switches renewals into), and at least every
    /// --interval. Each round is exactly `run` (all lines; --force on the
    /// first round only). SIGTERM or SIGINT stops it after the round in
    /// progress (exit 0); a failed round is reported and watching goes on.
    /// A file with only [pull] has nothing to watch (78).
    Watch {
        /// Run at least this often without events (30s, 10m, 1h).
        #[arg(long, default_value = crate::watch::DEFAULT_INTERVAL, value_parser = certdrop_core::duration::positive)]
        interval: Duration,
    },
    /// Same as -n (and `-n run LINES` is `check LINES`): gate every line
    /// (or the named ones), say what `run` would publish, write nothing.
    Check {
        /// Line names (default: all).
        lines: Vec<String>,
    },
    /// Receive a signed tree from another site with the configuration's
    /// [pull] table: run the transport into the staging directory, verify
    /// every line as `verify` does, refuse older lines, and switch each
    /// newer line in `into` (its own pub/, or an inbox for kind outbox).
    /// Exit 0 switched, 2 nothing new, 65 a bad line (nothing switched) or
    /// an older one (kept), 66 no allowed_signers file or no line in
    /// staging, 73 cannot write `into`, 75 the transport failed or timed
    /// out. SIGTERM/SIGINT kill the transport's process group first.
    Pull,
    /// Check a received pub/ tree: each line directory's manifest signed by
    /// an allowed signer listing only cert.pem, chain.pem, fullchain.pem,
    /// pubkey.pem, every file's SHA-256 as listed, no unlisted file, no
    /// file holding a private key.
    /// Reads no configuration. Exit 0 all good, 65 with one line per
    /// problem, 66 no tree or no line in it, 78 a bad allowed_signers file.
    Verify {
        /// The tree (pub/ or a copy of it).
        dir: PathBuf,
        /// ssh-keygen(1) allowed_signers file.
        #[arg(long, value_name = "FILE")]
        allowed_signers: PathBuf,
        /// Accept only signers whose principals match this identity (as
        /// `ssh-keygen -Y verify -I`); by default any allowed signer.
        #[arg(long, value_name = "ID")]
        identity: Option<String>,
    },
}
