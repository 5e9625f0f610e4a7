//! Resource records as the zone compiler emits them: owner, TTL, type and
//! RDATA in presentation form (RFC 1035 §5.1), rendered by certdrop itself,
//! one record per line, never copied from input text.

use std::fmt;

/// Record types certdrop-zone generates or checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RType {
    /// RFC 1035 §3.3.14.
    Txt,
    /// RFC 6698 §2.
    Tlsa,
    /// RFC 4255 §3.
    Sshfp,
    /// RFC 8659 §4.
    Caa,
}

impl RType {
    /// The mnemonic.
    pub fn as_str(self) -> &'static str {
        match self {
            RType::Txt => "TXT",
            RType::Tlsa => "TLSA",
            RType::Sshfp => "SSHFP",
            RType::Caa => "CAA",
        }
    }
}

/// One generated record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// Absolute owner name, lowercase, trailing dot.
    pub owner: String,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Type.
    pub rtype: RType,
    /// RDATA in presentation form, e.g. `3 1 1 <hex>`.
    pub rdata: String,
}

impl Record {
    /// A record; `owner` is made absolute and lowercase.
    pub fn new(owner: &str, ttl: u32, rtype: RType, rdata: String) -> Record {
        Record {
            owner: format!("{}.", owner.trim_end_matches('.').to_ascii_lowercase()),
            ttl,
            rtype,
            rdata,
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\tIN\t{}\t{}",
            self.owner,
            self.ttl,
            self.rtype.as_str(),
            self.rdata
        )
    }
}
