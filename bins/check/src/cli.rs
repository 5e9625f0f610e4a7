//! Raw command-line arguments of certdrop-check (clap derive), kept apart
//! from the validated configuration. Usage errors exit 64 (EX_USAGE), or 3
//! (UNKNOWN) when the command line asks for the Nagios plugin.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use certdrop_core::output::{Global, LogArgs};
use clap::{Parser, Subcommand};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/usr/local/etc/certdrop/check.toml";

/// certdrop-check looks at every certificate line and says how it stands:
/// days left in the store (certs/), in the publication tree (pub/) and as
/// each configured endpoint serves it; whether what is served is what was
/// published (the leaf, byte for byte); whether the TLSA records match what
/// is served (and the staged next key, during a rollover); the issuer's
/// consecutive failures, last error and back-off (from its state/).
///
/// Three forms of output: `nagios` (a Nagios/Icinga plugin: one status line
/// with performance data, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), a
/// Prometheus textfile-collector file (`textfile` in check.toml, or
/// --prometheus FILE; written atomically), and --json. `run` writes the
/// textfile and prints one line per problem, nothing when all is well (for
/// cron); exit 0 all lines OK or only warnings, 65 a line is critical, 69
/// something could not be looked at, 73 the textfile cannot be written, 78
/// configuration.
///
/// `dane NAME PORT` checks one service against its TLSA records, like
/// `ldns-dane verify` (it replaces `certdrop-zone verify`). `probe
/// ADDR:PORT` prints what one endpoint serves, one line per certificate
/// (instead of `openssl s_client -showcerts | openssl x509`).
///
/// Examples:
///   certdrop-check nagios                      (from Icinga's check_command)
///   certdrop-check run                         (cron: textfile, problems only)
///   certdrop-check --json | jq '.lines[] | select(.status != "ok")'
///   certdrop-check dane mail.example.org 25 --server 192.0.2.53
///   certdrop-check probe 192.0.2.25:25 --sni mail.example.org
#[derive(Debug, Parser)]
#[command(name = "certdrop-check", version, verbatim_doc_comment)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(short = 'c', long, global = true, default_value = DEFAULT_CONFIG, env = "CERTDROP_CHECK_CONFIG")]
    pub config: PathBuf,
    /// Validate the configuration only; look at nothing.
    #[arg(short = 'n', long, global = true)]
    pub check: bool,
    /// Explain (twice: more).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print the whole report as JSON on stdout.
    #[arg(long, global = true, conflicts_with = "nagios")]
    pub json: bool,
    /// Speak as a Nagios/Icinga plugin (the `nagios` command).
    #[arg(long, global = true)]
    pub nagios: bool,
    /// WARNING below this many days left (instead of check.toml's `warning`).
    #[arg(short = 'w', long, global = true, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(..=3650))]
    pub warning: Option<u32>,
    /// CRITICAL below this many days left (instead of check.toml's `critical`).
    #[arg(long, global = true, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(..=3650))]
    pub critical: Option<u32>,
    /// Write the Prometheus textfile here (instead of check.toml's `textfile`).
    #[arg(long, global = true, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
    /// Where messages go (--log, --syslog-*).
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do (default: run).
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
    /// Look at every line; print one line per problem (the default).
    ///
    /// Looks at every line (or the named ones), writes the textfile if one
    /// is configured, prints one line per problem, worst first (or the
    /// report with --json, or the plugin's line with --nagios).
    Run {
        /// Line names (default: all).
        lines: Vec<String>,
    },
    /// The Nagios/Icinga plugin: one status line, exit 0/1/2/3.
    ///
    /// One status line with performance data ('LINE'=DAYS;WARN:;CRIT:;;,
    /// each line's fewest days left), exit 0 OK, 1 WARNING, 2 CRITICAL, 3
    /// UNKNOWN (a usage or configuration error too). Same as `run --nagios`.
    Nagios {
        /// Line names (default: all).
        lines: Vec<String>,
    },
    /// Does NAME:PORT serve a chain its TLSA records match?
    ///
    /// The records at _PORT._tcp.NAME: usages 3 (DANE-EE, the leaf) and 2 (DANE-TA, a certificate
    /// above the leaf; the path to it is not validated), selectors 0 and 1,
    /// matching types 0, 1 and 2. The records come from an authoritative
    /// server (--server, asked directly) or from a validating resolver
    /// (--resolver, whose answer must carry the AD bit). The chain comes
    /// from a TLS 1.2 or 1.3 handshake with SNI = NAME, after STARTTLS for
    /// the protocol of the port (--protocol). Reads no configuration.
    /// Exit 0 match, 65 mismatch (or not validated), 66 no usable TLSA
    /// record, 69 DNS or the service unreachable.
    Dane {
        /// The service's host name, also sent as SNI.
        name: String,
        /// The service's TCP port.
        #[arg(value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// Authoritative server to ask: ADDRESS[:PORT] (port 53 by default).
        #[arg(long, value_parser = server_addr, required_unless_present = "resolver", conflicts_with = "resolver")]
        server: Option<SocketAddr>,
        /// Validating resolver to ask instead (recursion desired); its
        /// answer must be authenticated (AD bit, RFC 4035 §3.2.3).
        #[arg(long, value_parser = server_addr)]
        resolver: Option<SocketAddr>,
        /// Connect to ADDRESS:PORT instead of NAME's A/AAAA records.
        #[arg(long)]
        connect: Option<SocketAddr>,
        /// STARTTLS protocol: tls smtp imap pop3 ldap xmpp-client
        /// xmpp-server sieve (default by port: 25 and 587 smtp, 143 imap,
        /// 110 pop3, 389 ldap, 5222/5269 xmpp, 4190 sieve, else tls).
        #[arg(long)]
        protocol: Option<String>,
        /// Timeout of each DNS query and of the whole TLS probe (5s, 1m).
        #[arg(long, default_value = crate::dane::DEFAULT_TIMEOUT, value_parser = certdrop_core::duration::positive)]
        timeout: Duration,
    },
    /// What does ADDR:PORT serve? One line per certificate.
    ///
    /// Connects to ADDRESS:PORT (or HOST:PORT, resolved by the system),
    /// reaches TLS by the protocol of the port (--protocol), completes a
    /// TLS 1.2 or 1.3 handshake and prints the version, then one line per
    /// certificate the server sent, leaf first: subject, issuer, serial,
    /// notAfter and the SHA-256 of its DER. Nothing is validated or
    /// trusted: this says what is served, not whether it is good. Reads no
    /// configuration. Exit 0 a chain was read, 69 not (one line saying
    /// which step failed and why), 64 a bad argument.
    Probe {
        /// ADDRESS:PORT ([v6]:PORT) or HOST:PORT.
        endpoint: String,
        /// Server name sent as SNI (default: HOST; none for an address).
        #[arg(long, value_name = "NAME")]
        sni: Option<String>,
        /// STARTTLS protocol: tls smtp imap pop3 ldap xmpp-client
        /// xmpp-server sieve (default by port: 25 and 587 smtp, 143 imap,
        /// 110 pop3, 389 ldap, 5222/5269 xmpp, 4190 sieve, else tls).
        #[arg(long)]
        protocol: Option<String>,
        /// Offer TLS 1.2 only.
        #[arg(long = "tls1.2", conflicts_with = "tls13")]
        tls12: bool,
        /// Offer TLS 1.3 only.
        #[arg(long = "tls1.3")]
        tls13: bool,
        /// Timeout of the whole probe: connect, STARTTLS and handshake (5s, 1m).
        #[arg(long, default_value = crate::dane::DEFAULT_TIMEOUT, value_parser = certdrop_core::duration::positive)]
        timeout: Duration,
    },
}

impl Cli {
    /// Whether the output is the Nagios plugin's (whose usage and
    /// configuration errors exit 3, UNKNOWN).
    pub fn plugin(&self) -> bool {
        self.nagios || matches!(self.command, Some(Command::Nagios { .. }))
    }
}

/// `--server`: an IP address with an optional port, `[v6]:port` for IPv6 with a port.
pub fn server_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("'{text}': expected ADDRESS or ADDRESS:PORT (no host names: there is no resolver)")
    })
}
