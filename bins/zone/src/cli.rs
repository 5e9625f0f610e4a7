//! Raw command-line arguments of certdrop-zone (clap derive). Usage errors
//! exit 64 (EX_USAGE).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/usr/local/etc/certdrop/zone.toml";

/// certdrop-zone builds DNS zones from static sources and from what other
/// stages drop: dns-01 TXT fragments (dnsextra/, each file parsed alone and
/// filtered strictly), TLSA records from certificates (certs/, with a map
/// file), SSHFP records from host keys (phonehome/), CAA records. It bumps
/// the SOA serial only when the content changed, checks the zone, signs it
/// with ldns-signzone, installs it where nsd reads it and reloads nsd.
///
/// `certdrop-zone build` from cron (or `watch`): silent when nothing
/// changed. Exit codes: 0 changed, 2 nothing to do, 64 usage, 65 bad data,
/// 66 missing input, 69 service unavailable (nsd-control cannot reach nsd,
/// the signer cannot run), 73 cannot write (a full disk, a read-only zone
/// directory), 75 temporary (another build holds the lock), 78
/// configuration. Over several zones, each failure is printed and the worst
/// decides; a zone that changed makes it 0.
#[derive(Debug, Parser)]
#[command(name = "certdrop-zone", version, verbatim_doc_comment)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(short = 'c', long, global = true, default_value = DEFAULT_CONFIG, env = "CERTDROP_ZONE_CONFIG")]
    pub config: PathBuf,
    /// Assemble and check every zone; install nothing (the `check` command).
    #[arg(short = 'n', long, global = true)]
    pub check: bool,
    /// Explain (twice: more).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Rebuild, re-sign and reload even when nothing changed.
    #[arg(short = 'f', long, global = true)]
    pub force: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every zone (or the named ones) that changed; for cron.
    Build {
        /// Zone names (default: all).
        zones: Vec<String>,
    },
    /// Assemble and check every zone (or the named ones); install
    /// nothing. Same as -n (and `-n build ZONE...`).
    Check {
        /// Zone names (default: all).
        zones: Vec<String>,
    },
    /// Build every zone at start, then again within a second of a change in
    /// dnsextra/, certs/, phonehome/ or a zone's sources (soa, primary,
    /// tlsa_map), and at least every --interval so signatures are renewed.
    /// Each build is exactly `build` (same lock, same output); a failed one
    /// is reported and watching goes on. -f applies to the first build only.
    /// SIGTERM or SIGINT stops it after the build in progress (exit 0).
    Watch {
        /// Build at least this often without events (30s, 10m, 1h).
        #[arg(long, default_value = crate::watch::DEFAULT_INTERVAL, value_parser = interval)]
        interval: Duration,
    },
    /// Filter a fragment directory: accepted records to stdout, one line
    /// per rejected file to stderr.
    Fragments {
        /// Zone(s) the owners must lie in.
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
        /// Only files owned by this uid.
        #[arg(long)]
        owner: Option<u32>,
        /// The drop directory.
        dir: PathBuf,
    },
    /// TLSA records from a map file and the certificate store, to stdout.
    Tlsa {
        /// Only owners inside this zone.
        #[arg(long)]
        origin: Option<String>,
        /// The map file.
        #[arg(long)]
        map: PathBuf,
        /// The certificate store (certs/).
        #[arg(long)]
        certs: PathBuf,
        /// TTL of the records.
        #[arg(long, default_value_t = crate::config::DEFAULT_TTL)]
        ttl: u32,
    },
    /// Make step: soa + primary (from zone.toml) + generated parts ->
    /// unsigned/ZONE, checked; rewritten (serial bumped) only on change.
    Assemble {
        /// The zone.
        zone: String,
        /// Generated parts (output of fragments, tlsa, sshfp).
        parts: Vec<PathBuf>,
    },
    /// Make step: unsigned/ZONE -> signed/ZONE with ldns-signzone, verified.
    Sign {
        /// The zone.
        zone: String,
    },
    /// Make step: install the zone where nsd reads it and reload nsd.
    Install {
        /// The zone.
        zone: String,
    },
    /// SSHFP records from collected host keys, to stdout.
    Sshfp {
        /// Zone the hosts must lie in.
        #[arg(long)]
        origin: String,
        /// SHA-256 only (no SHA-1 records).
        #[arg(long)]
        no_sha1: bool,
        /// TTL of the records.
        #[arg(long, default_value_t = crate::config::DEFAULT_TTL)]
        ttl: u32,
        /// phonehome/ directory.
        dir: PathBuf,
    },
    /// Check that NAME:PORT serves a certificate its TLSA records match,
    /// like `ldns-dane verify`: the TLSA set at _PORT._tcp.NAME from an
    /// authoritative server (asked directly, no resolver), the chain from a
    /// TLS 1.2 handshake with SNI = NAME (never finished; no TLS library).
    /// Usages 3 (DANE-EE, the leaf) and 2 (DANE-TA, any certificate above
    /// the leaf; the path to it is not validated). Exit 0 match, 65
    /// mismatch, 66 no TLSA record, 69 DNS or service unreachable or not
    /// speaking TLS 1.2.
    Verify {
        /// The service's host name, also sent as SNI.
        name: String,
        /// The service's TCP port.
        #[arg(value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// Authoritative server to ask: ADDRESS[:PORT] (port 53 by default).
        #[arg(long, value_parser = server_addr)]
        server: SocketAddr,
        /// Connect to ADDRESS:PORT instead of NAME's A/AAAA records.
        #[arg(long)]
        connect: Option<SocketAddr>,
        /// Timeout of each DNS query, connect and TLS read (5s, 1m).
        #[arg(long, default_value = crate::verify::DEFAULT_TIMEOUT, value_parser = interval)]
        timeout: Duration,
    },
}

/// `--server`: an IP address with an optional port, `[v6]:port` for IPv6 with a port.
fn server_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("'{text}': expected ADDRESS or ADDRESS:PORT (no host names: there is no resolver)")
    })
}

/// `--interval`: a certdrop duration, not zero.
fn interval(text: &str) -> Result<Duration, String> {
    match certdrop_core::duration::parse(text)? {
        d if d.is_zero() => Err(format!("'{text}': must be more than zero")),
        d => Ok(d),
    }
}
