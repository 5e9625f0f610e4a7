//! What a look at the lines found: the report every output form is made
//! from (`--json` prints it as it is), and the rules that turn findings
//! into a status per line.

use serde::Serialize;
use sha2::{Digest, Sha256};

use certdrop_core::certinfo::{self, hex};
use certdrop_core::clock;

/// Seconds in a day.
const DAY: f64 = 86_400.0;

/// How a line (or the whole run) stands; ordered by how bad it is, so the
/// worst is the maximum: an UNKNOWN (could not look) outranks a WARNING
/// but not a CRITICAL, as Icinga sorts states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Someone should look soon.
    Warning,
    /// Something could not be looked at.
    Unknown,
    /// Someone must act now.
    Critical,
}

impl Status {
    /// The Nagios plugin exit code (Nagios plugin API, "Plugin Return Codes").
    pub fn plugin_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// OK, WARNING, CRITICAL, UNKNOWN.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// One certificate as found somewhere: its leaf's identity and expiry.
#[derive(Debug, Clone, Serialize)]
pub struct Cert {
    /// notAfter, seconds since the epoch.
    pub not_after: i64,
    /// notAfter, RFC 3339.
    pub expires: String,
    /// Days from now to notAfter (negative: expired).
    pub days_left: f64,
    /// Serial number (hex).
    pub serial: String,
    /// SHA-256 of the leaf's DER, to compare copies.
    pub sha256: String,
}

impl Cert {
    /// From a leaf's DER, at time `now`.
    pub fn from_der(der: &[u8], now: i64) -> Result<Cert, String> {
        let c = certinfo::parse_der(der)?;
        Ok(Cert {
            not_after: c.not_after,
            expires: clock::rfc3339(c.not_after),
            days_left: (c.not_after - now) as f64 / DAY,
            serial: c.serial,
            sha256: hex(&Sha256::digest(der)),
        })
    }
}

/// A certificate where one was expected, or why there is none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Found {
    /// The certificate, if read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<Cert>,
    /// Why not, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Found {
    /// A certificate read.
    pub fn cert(c: Cert) -> Found {
        Found {
            cert: Some(c),
            error: None,
        }
    }

    /// None, and why.
    pub fn error(why: String) -> Found {
        Found {
            cert: None,
            error: Some(why),
        }
    }
}

/// The issuer's record of the line's failures (its state/<line>.json).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Issuer {
    /// Consecutive failed attempts.
    pub failures: u32,
    /// When the last one failed, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<i64>,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// No new attempt before this time (back-off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_not_before: Option<i64>,
    /// The state could not be read: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// TLSA records against what an endpoint serves.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tlsa {
    /// The owner asked (`_PORT._tcp.NAME`).
    pub owner: String,
    /// Usable records found (usages 2 and 3, known selector and matching type).
    pub records: usize,
    /// Whether one matches the served chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
    /// Whether a DANE-EE SPKI record matches the staged next key (only
    /// when one is staged and the set has DANE-EE SPKI records at all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<bool>,
    /// What matched, for messages (`3 1 1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// The records could not be had: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One endpoint of a line.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// `sni@connect`.
    pub endpoint: String,
    /// How TLS was started.
    pub protocol: &'static str,
    /// The leaf served.
    pub served: Found,
    /// The TLS version spoken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    /// Whether the served leaf is the published one, byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_published: Option<bool>,
    /// The TLSA check, if configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlsa: Option<Tlsa>,
}

/// One finding that is not OK.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// How bad.
    pub status: Status,
    /// One line, starting with the line's name.
    pub text: String,
}

/// Everything about one line.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// The line's name.
    pub line: String,
    /// The worst of its problems.
    pub status: Status,
    /// Its problems, worst first.
    pub problems: Vec<Problem>,
    /// certs/<line>/cert.pem.
    pub certs: Found,
    /// pub/<line>/cert.pem, if pub/ is looked at.
    #[serde(rename = "pub", skip_serializing_if = "Option::is_none")]
    pub published: Option<Found>,
    /// A next key is staged (certs/<line>/next/pubkey.pem).
    pub next_key: bool,
    /// The issuer's failures, if its state is looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Issuer>,
    /// The endpoints probed.
    pub endpoints: Vec<Endpoint>,
}

impl Line {
    /// The fewest days left of any copy that was read (store, pub/, served).
    pub fn days_left(&self) -> Option<f64> {
        let served = self.endpoints.iter().map(|e| &e.served);
        std::iter::once(&self.certs)
            .chain(self.published.iter())
            .chain(served)
            .filter_map(|f| f.cert.as_ref().map(|c| c.days_left))
            .reduce(f64::min)
    }

    /// Add a problem (kept worst first) and raise the status.
    pub fn problem(&mut self, status: Status, text: String) {
        let at = self
            .problems
            .iter()
            .position(|p| p.status < status)
            .unwrap_or(self.problems.len());
        self.problems.insert(at, Problem { status, text });
        self.status = self.status.max(status);
    }
}

/// The whole look.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When, seconds since the epoch.
    pub time: i64,
    /// The worst line status (UNKNOWN when there is no line).
    pub status: Status,
    /// WARNING below this many days left.
    pub warning_days: u32,
    /// CRITICAL below this many days left.
    pub critical_days: u32,
    /// Every line, in name order (or configuration order).
    pub lines: Vec<Line>,
}

impl Report {
    /// How many lines have each status: (ok, warning, critical, unknown).
    pub fn counts(&self) -> [usize; 4] {
        let mut n = [0; 4];
        for l in &self.lines {
            n[usize::from(l.status.plugin_code())] += 1;
        }
        n
    }
}
