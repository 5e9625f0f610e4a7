//! Raw command-line arguments (clap derive), kept apart from the validated
//! configuration. Usage errors exit 64 (EX_USAGE), not clap's 2, which
//! means "nothing to do" in certdrop's exit contract.

use std::path::PathBuf;

use certdrop_core::output::{Global, LogArgs};
use clap::{Parser, Subcommand, ValueEnum};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/usr/local/etc/certdrop/issue.toml";

/// certdrop-issue gets certificates from an ACME CA (RFC 8555) for the
/// certificate lines of its configuration. dns-01 challenges are written as
/// one-line TXT fragments into a drop directory (dnsextra/) that the zone
/// compiler reads; http-01 tokens go into a webroot directory. Where the CA
/// offers dns-persist-01 and the zone serves the standing record
/// _validation-persist.<name> for our account on every authoritative server,
/// that challenge is answered instead and nothing is written (`-v` says which
/// challenge each name got; a line's `persist = false` turns it off). The
/// account URI in use is published in certs/.accounts/<ca>.json for the zone
/// compiler. Keys are kept across renewals (so TLSA 3 1 1 records stay valid)
/// or rolled over through a staged next key.
///
/// Run `certdrop-issue run` from cron: it prints nothing unless something
/// changed or failed. Exit codes: 0 something changed, 2 nothing to do,
/// 64 usage, 65 bad data, 66 missing input, 69 CA unreachable, 70 internal
/// error, 73 cannot write, 75 temporary failure (try later), 78 configuration
/// error. A run in which something changed exits 0 even if another line
/// failed (the failure is printed).
#[derive(Debug, Parser)]
#[command(name = "certdrop-issue", version, verbatim_doc_comment)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(short = 'c', long, global = true, default_value = DEFAULT_CONFIG, env = "CERTDROP_ISSUE_CONFIG")]
    pub config: PathBuf,
    /// Validate the configuration, keys and CSRs; change nothing.
    #[arg(short = 'n', long, global = true)]
    pub check: bool,
    /// Explain what is checked and why (twice: protocol detail).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Machine-readable output where a command prints (status, account show).
    #[arg(long, global = true)]
    pub json: bool,
    /// Issue even when not due (with `issue`).
    #[arg(short = 'f', long, global = true)]
    pub force: bool,
    /// If another run holds the lock, give up at once (exit 75) instead of waiting.
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// Where messages go (--log, --syslog-*).
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do (may be left out with -n).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `certdrop_core::exit::main` reads: -v, the logging options.
impl Global for Cli {
    fn verbose(&self) -> u8 {
        self.verbose
    }
    fn log(&self) -> &LogArgs {
        &self.log
    }
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Renew every line that is due (for cron): silent when nothing is due.
    Run,
    /// Get a certificate for the named lines now if due (with --force: even if not).
    Issue {
        /// Line names from the configuration.
        #[arg(required = true)]
        lines: Vec<String>,
        /// Renew even if the certificate is not due.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Show every line: names, key age, expiry, days left, whether renewals
    /// need DNS changes (dns-persist-01 record served, or dns-01), next action.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a line's current certificate (the next run replaces it).
    Revoke {
        /// Line name.
        line: String,
        /// Reason (RFC 5280 §5.3.1).
        #[arg(long, value_enum, default_value_t = Reason::Unspecified)]
        reason: Reason,
        /// Sign with the certificate's own key instead of the account's
        /// (RFC 8555 §7.6): for a certificate whose account is gone.
        #[arg(long)]
        with_cert_key: bool,
    },
    /// The ACME account.
    Account {
        /// What to do with it.
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Same as -n: validate and change nothing.
    Check,
}

/// Account verbs.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Print the account URL, directory, key thumbprint and credentials file.
    Show,
    /// Deactivate the account at the CA (irreversible).
    Deactivate {
        /// Confirm: the account cannot be used again.
        #[arg(long)]
        yes: bool,
    },
    /// Replace the account key (RFC 8555 §7.3.5); the new key is stored
    /// before the CA is told.
    Rollover,
    /// Take over another client's account by its key (RFC 8555 §7.3.1,
    /// onlyReturnExisting): acme.sh, dehydrated, uacme, lego (PEM),
    /// certbot (private_key.json, a JWK).
    Import {
        /// The other client's account key file.
        file: PathBuf,
        /// How the file is written.
        #[arg(long, value_enum, default_value_t = KeyFormat::Auto)]
        format: KeyFormat,
    },
}

/// How an imported account key is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyFormat {
    /// JWK when the file starts with `{`, PEM otherwise.
    Auto,
    /// A PEM private key: PKCS#8, SEC1 (EC) or PKCS#1 (RSA).
    Pem,
    /// A private JWK (RFC 7517), as certbot's private_key.json.
    Jwk,
}

/// Revocation reasons (RFC 5280 §5.3.1) an ACME client may send.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Reason {
    /// No reason given.
    Unspecified,
    /// The private key was compromised.
    KeyCompromise,
    /// The names are no longer ours.
    AffiliationChanged,
    /// Replaced by another certificate.
    Superseded,
    /// The service is gone.
    CessationOfOperation,
}
