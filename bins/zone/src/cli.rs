//! Raw command-line arguments of certdrop-zone (clap derive). Usage errors
//! exit 64 (EX_USAGE).

use std::path::PathBuf;
use std::time::Duration;

use certdrop_core::output::{Global, LogArgs};
use clap::{Parser, Subcommand};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/usr/local/etc/certdrop/zone.toml";

/// certdrop-zone builds DNS zones from static sources and from what other
/// stages drop: dns-01 TXT fragments (dnsextra/, each file parsed alone and
/// filtered strictly), TLSA records from certificates (certs/, with a map
/// file), SSHFP records from host keys (phonehome/), CAA records, and the
/// `_validation-persist` TXT records of dns-persist-01 (the account URI
/// from certs/.accounts/<account>.json, or the configuration). It bumps
/// the SOA serial only when the content changed, checks the zone, signs it
/// with ldns-signzone, installs it where nsd reads it and reloads nsd.
///
/// `certdrop-zone build` from cron (or `watch`): silent when nothing
/// changed. Exit codes: 0 changed, 2 nothing to do, 64 usage, 65 bad data,
/// 66 missing input, 69 service unavailable (nsd-control cannot reach nsd,
/// the signer cannot run), 73 cannot write (a full disk, a read-only zone
/// directory), 75 temporary (another build holds the lock), 78
/// configuration. Over several zones, each failure is printed and the
/// worst decides; a zone that changed makes it 0.
///
/// Secondaries: nsd NOTIFYs them and they transfer the zones under the
/// TSIG key of [xfr] (made by `tsig-key`); `build` does not wait for them,
/// `secondaries [--wait 1m]` says which lag (69).
///
/// Signers (a zone's `signer`): ldns (ldns-signzone with the zone's keys),
/// knot (Knot DNS signs and rolls its own keys: the unsigned zone is
/// installed for it, `knotc zone-reload` run, and the signed zone `server`
/// serves is transferred and verified, all within serve_wait), opendnssec
/// (below), none. A zone's own `server = "ADDR:PORT"` overrides the
/// top-level one (a Knot beside an nsd).
///
/// OpenDNSSEC: with signer = "opendnssec" and [zone.opendnssec] (unsigned,
/// signed, signconf), the zone goes to the File input adapter, ods-signer
/// signs it with the enforcer's keys (SoftHSM), and what it wrote is
/// verified and installed; a key event hands the zone over again. See
/// certdrop-zone(8), SIGNERS.
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
    /// dnsextra/, certs/ (account files included), phonehome/ or a zone's sources (soa, primary,
    /// tlsa_map), and at least every --interval so signatures are renewed.
    /// Each build is exactly `build` (same lock, same output); a failed one
    /// is reported and watching goes on. -f applies to the first build only.
    /// SIGTERM or SIGINT stops it after the build in progress (exit 0).
    Watch {
        /// Build at least this often without events (30s, 10m, 1h).
        #[arg(long, default_value = crate::watch::DEFAULT_INTERVAL, value_parser = certdrop_core::duration::positive)]
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
    /// Make step: install the zone where nsd reads it and reload nsd
    /// (signer knot: hand it to Knot unless it has it already, else exit 2).
    Install {
        /// The zone.
        zone: String,
    },
    /// Ask the primary (`server`) and every [[xfr.secondary]] for each
    /// zone's SOA serial: one line per secondary that lags or does not
    /// answer (every one with -v). Exit 0 when all serve the primary's
    /// serial (within --wait), 69 when some lag. nsd moves the zones
    /// (NOTIFY, AXFR/IXFR under TSIG); this only looks.
    Secondaries {
        /// Ask again until all are current or this much time has passed
        /// (0s: ask once).
        #[arg(long, default_value = "0s", value_parser = certdrop_core::duration::parse)]
        wait: Duration,
        /// Print every server's serial as one JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// Zone names (default: all).
        zones: Vec<String>,
    },
    /// Write a new TSIG key (RFC 8945) as an nsd.conf `key:` clause, mode
    /// 0600, never over an existing file; include it (`include: "FILE"`)
    /// in nsd.conf on the primary and on every secondary, and name it as
    /// [xfr] tsig_key.
    TsigKey {
        /// The key's name (the same on both ends).
        name: String,
        /// The file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// hmac-sha256, hmac-sha384 or hmac-sha512.
        #[arg(short = 'a', long = "algorithm", default_value = crate::tsig::DEFAULT_ALGORITHM)]
        algorithm: String,
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
}
