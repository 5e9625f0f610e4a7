//! The privilege table of DESIGN.md ("The binaries and their privilege
//! domains"): the shared directories, and what each stage may do with
//! each; the site check and the cluster rules judge a jail's mounts by it.

use serde::{Deserialize, Serialize};

/// The shared directories of DESIGN.md ("Drop-directory formats"): name,
/// mode, and whether it holds secrets. They live under the site's `data`.
pub const SHARED: [(&str, u32, bool); 9] = [
    ("dnsextra", 0o755, false),
    ("webroot", 0o755, false),
    ("certs", 0o755, false),
    ("keys", 0o700, true),
    ("archive", 0o700, true),
    ("pub", 0o755, false),
    ("phonehome", 0o755, false),
    // A cluster (src/cluster.rs): a service host's CSRs, signed, for the
    // signing site to pull; the signing host's pulled copies of them.
    ("outbox", 0o755, false),
    ("inbox", 0o755, false),
];

/// What a stage may do with each shared directory (DESIGN.md, "The
/// binaries and their privilege domains"); anything not listed it may not
/// see at all.
pub fn allowed(stage: Stage, dir: &str) -> Option<Access> {
    use Access::{Read, Write};
    match (stage, dir) {
        (Stage::Issue, "dnsextra" | "webroot" | "certs" | "keys" | "archive") => Some(Write),
        (Stage::Issue, "inbox") => Some(Read),
        (Stage::Zone, "dnsextra" | "certs" | "phonehome") => Some(Read),
        (Stage::Publish, "certs") => Some(Read),
        (Stage::Publish, "pub" | "inbox") => Some(Write),
        (Stage::Trigger, "pub") => Some(Read),
        // On a service host of a cluster the key is made where it is used.
        (Stage::Csr, "keys" | "outbox") => Some(Write),
        (Stage::Web, "webroot" | "pub") => Some(Read),
        (Stage::Collect, "phonehome") => Some(Write),
        (Stage::Check, "certs" | "pub") => Some(Read),
        _ => None,
    }
}

/// A pipeline stage a jail runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// certdrop-issue.
    Issue,
    /// certdrop-zone (and nsd).
    Zone,
    /// certdrop-publish.
    Publish,
    /// certdrop-trigger, in a service jail.
    Trigger,
    /// certdrop-trigger csr, on a service host of a cluster: makes the
    /// service's key where it is used and writes its CSR into outbox/.
    Csr,
    /// A web server that serves webroot/ for http-01 (and pub/ for TLS).
    Web,
    /// Whatever collects SSH host keys into phonehome/.
    Collect,
    /// certdrop-check, the monitor: reads certs/ and pub/, probes endpoints.
    Check,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Issue => "issue",
            Stage::Zone => "zone",
            Stage::Publish => "publish",
            Stage::Trigger => "trigger",
            Stage::Csr => "csr",
            Stage::Web => "web",
            Stage::Collect => "collect",
            Stage::Check => "check",
        }
    }
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Access {
    #[serde(rename = "ro")]
    Read,
    #[serde(rename = "rw")]
    Write,
}

impl Access {
    pub fn word(self) -> &'static str {
        match self {
            Access::Read => "ro",
            Access::Write => "rw",
        }
    }
}
