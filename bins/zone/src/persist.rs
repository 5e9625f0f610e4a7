//! `_validation-persist` TXT records of dns-persist-01
//! (draft-ietf-acme-dns-persist-00, 3 November 2025: the text in the
//! working group's repository ietf-wg-acme/draft-ietf-acme-dns-persist
//! at commit 3e53123; section numbers below are that text's), built
//! from `[[zone.persist]]` like CAA from `[zone.caa]`: a standing record
//! that binds a name to one CA and one ACME account, so that renewals
//! need no DNS change.
//!
//! What is rendered, for each configured name N, each issuer-domain-name
//! I and each account URI U (the current one, then every `previous` one):
//!
//! ```text
//! _validation-persist.N. TTL IN TXT "I; accounturi=U[; policy=wildcard][; persistUntil=T]"
//! ```
//!
//! - Owner: the label `_validation-persist` prepended to the FQDN being
//!   validated (§2 "Authorization Domain Name", §4). A wildcard
//!   certificate is covered by `policy=wildcard` on its base name (§5),
//!   never by a record under `*.`.
//! - RDATA: an RFC 8659 §4.2 issue-value (§4 item 1): the issuer-domain-name
//!   (§3.1: A-labels, lowercase, no trailing dot, at most 253 octets),
//!   then `;`-separated `tag=value` parameters. The draft's examples
//!   (§4, §4.1, §10.1-§10.4) write `"; "` between them (RFC 8659 allows any
//!   `*WSP`); so does this module. `accounturi` is mandatory (§4 item 3,
//!   RFC 8657 §3); `policy=wildcard` (§4 item 4; tags and values are
//!   case-insensitive, rendered lowercase as the draft writes them) and
//!   `persistUntil` (§4 item 5, §2: a base-10 UNIX timestamp in seconds,
//!   UTC; the configuration may give it as an RFC 3339 UTC date) are
//!   optional and come in the draft's order.
//! - Strings: one quoted character-string when the value fits in 255
//!   octets; a longer value is split into 255-octet strings that the CA
//!   concatenates (§9.1 "DNS Record Size Considerations", RFC 1035
//!   §3.3.14). Values are printable ASCII without `"`, `\` or `;` inside
//!   a parameter value (RFC 8659 §4.2 `value = *(%x21-3A / %x3C-7E)`), so
//!   nothing is escaped.
//! - Several records at one name are independent authorizations (§4.1):
//!   one record per issuer-domain-name and per account URI, so a CA
//!   that knows any of its names matches, and a new account's record
//!   stands beside the old one until the issuer empties `previous`.
//!   The records of all entries are sorted and deduplicated here, so that
//!   `build` and the make step `assemble` give the same set.
//! - TTL: the table's `ttl`, else the zone's. A CA may reuse a validation
//!   for at most the record's TTL when that is shorter than its own reuse
//!   period (§7.8 "Validation Data Reuse and TTL Handling").
//! - Zone cuts: a name at or below a delegation of the zone's sources is
//!   refused ([`below_cut`]): nsd would never serve the record (it is
//!   occluded by the NS set, RFC 1034 §4.2.1).
//!
//! The account URI comes from `accounturi` or from the issuer's public
//! account file `<certs>/.accounts/<account>.json`, which another stage
//! writes: read as untrusted input (a small regular file, no symlink, no
//! second hard link: `account`), and every URI in it checked. A file that is missing or fails any check
//! gives a one-line warning and no records for that entry — never a
//! failed build, never some of its records.

use std::path::{Path, PathBuf};

use certdrop_core::name;
use serde::Deserialize;

use crate::record::{RType, Record};

mod account;

pub use account::{account_path, check_uri, read_account};

/// The label the records go under (draft §2).
pub const LABEL: &str = "_validation-persist";
/// Most issuer-domain-names in one entry (draft §3.1 caps a challenge's
/// list at 10).
pub const MAX_ISSUERS: usize = 10;
/// Longest character-string (RFC 1035 §3.3).
const MAX_STRING: usize = 255;
/// Largest TTL (RFC 2181 §8).
const MAX_TTL: u32 = 2_147_483_647;

/// A `[[zone.persist]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    issuer: Vec<String>,
    account: Option<String>,
    accounturi: Option<String>,
    names: Vec<String>,
    #[serde(default)]
    wildcard: bool,
    persist_until: Option<toml::Value>,
    ttl: Option<u32>,
}

/// Where an entry's account URI comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// `<certs>/.accounts/<name>.json`, read at each build.
    File(String),
    /// Given in the configuration.
    Uri(String),
}

/// One `[[zone.persist]]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persist {
    /// Issuer-domain-names, normalised (lowercase, no trailing dot).
    pub issuers: Vec<String>,
    /// The account URI's source.
    pub account: Account,
    /// Names the records are for: absolute, lowercase, no trailing dot.
    pub names: Vec<String>,
    /// `policy=wildcard`.
    pub wildcard: bool,
    /// `persistUntil`, seconds since the epoch.
    pub persist_until: Option<i64>,
    /// The records' TTL; none: the zone's.
    pub ttl: Option<u32>,
}

impl Persist {
    /// Validate `raw` for zone `zone`; `certs`: whether the configuration
    /// has a certificate store. An error is (key, why), the key as it is
    /// written in the table.
    pub fn validate(raw: Raw, zone: &str, certs: bool) -> Result<Persist, (&'static str, String)> {
        if raw.issuer.is_empty() {
            return Err(("issuer", "at least one issuer-domain-name".into()));
        }
        if raw.issuer.len() > MAX_ISSUERS {
            return Err(("issuer", format!("more than {MAX_ISSUERS} names")));
        }
        let mut issuers: Vec<String> = Vec::new();
        for i in &raw.issuer {
            if !i.is_ascii() {
                return Err(("issuer", format!("'{i}': write the A-label (xn--...)")));
            }
            let n = name::domain(i, false).map_err(|why| ("issuer", why))?;
            if !issuers.contains(&n) {
                issuers.push(n);
            }
        }
        let account = match (raw.account, raw.accounturi) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(("account", "exactly one of account and accounturi".into()))
            }
            (Some(a), None) => {
                name::line_name(&a).map_err(|why| ("account", why))?;
                if !certs {
                    return Err((
                        "account",
                        format!("'{a}': no certs directory is configured to read .accounts/{a}.json from"),
                    ));
                }
                Account::File(a)
            }
            (None, Some(u)) => {
                check_uri(&u).map_err(|why| ("accounturi", why))?;
                Account::Uri(u)
            }
        };
        if raw.names.is_empty() {
            return Err(("names", "at least one name (\"@\" is the apex)".into()));
        }
        let mut names = Vec::new();
        for n in &raw.names {
            let abs = absolute(n, zone).map_err(|why| ("names", why))?;
            if !names.contains(&abs) {
                names.push(abs);
            }
        }
        let persist_until = match &raw.persist_until {
            None => None,
            Some(v) => Some(until(v).map_err(|why| ("persist_until", why))?),
        };
        if let Some(t) = raw.ttl.filter(|t| *t > MAX_TTL) {
            return Err(("ttl", format!("{t}: more than {MAX_TTL} (RFC 2181 §8)")));
        }
        Ok(Persist {
            issuers,
            account,
            names,
            wildcard: raw.wildcard,
            persist_until,
            ttl: raw.ttl,
        })
    }
}

/// A configured name made absolute in `zone`: `@` is the apex, a name
/// with a trailing dot is absolute, any other is relative to the apex.
fn absolute(text: &str, zone: &str) -> Result<String, String> {
    let full = if text == "@" {
        zone.to_owned()
    } else if text.ends_with('.') {
        text.to_owned()
    } else {
        format!("{text}.{zone}")
    };
    if full.starts_with("*.") {
        return Err(format!(
            "'{text}': a wildcard is authorized by wildcard = true on its base name"
        ));
    }
    let n = name::domain(&full, false)?;
    if !name::in_zone(&n, zone) {
        return Err(format!("'{text}' is outside zone {zone}"));
    }
    if LABEL.len() + 1 + n.len() > 253 {
        return Err(format!(
            "'{text}': {LABEL}.{n} is longer than 253 characters"
        ));
    }
    Ok(n)
}

/// `persist_until` as seconds since the epoch: an integer, or an RFC 3339
/// date in UTC (`2027-06-01T00:00:00Z`, quoted or as a TOML date-time).
fn until(v: &toml::Value) -> Result<i64, String> {
    let text = match v {
        toml::Value::Integer(n) if *n >= 0 => return Ok(*n),
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => return Err("expected a date such as 2027-06-01T00:00:00Z".into()),
    };
    parse_utc(&text)
        .ok_or_else(|| format!("'{text}': expected a UTC date such as 2027-06-01T00:00:00Z"))
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, no fraction) to epoch seconds.
fn parse_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
        || !matches!(b[19], b'Z' | b'z')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d < 1
        || d > month_days[(m - 1) as usize]
        || hh > 23
        || mm > 59
        || ss > 59
    {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), as certdrop_core::clock
    // renders them the other way.
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The issue-value of one record (draft §4): the issuer, the account URI,
/// then the optional parameters in the draft's order.
pub fn value(issuer: &str, uri: &str, wildcard: bool, until: Option<i64>) -> String {
    let mut v = format!("{issuer}; accounturi={uri}");
    if wildcard {
        v.push_str("; policy=wildcard");
    }
    if let Some(t) = until {
        v.push_str(&format!("; persistUntil={t}"));
    }
    v
}

/// `value` as TXT RDATA in presentation form: quoted 255-octet strings.
/// `value` is ASCII without `"` or `\` (checked before), so it splits
/// anywhere and needs no escapes.
pub fn rdata(value: &str) -> String {
    value
        .as_bytes()
        .chunks(MAX_STRING)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The records of `p` for the account URIs `uris`.
pub fn records(p: &Persist, uris: &[String], ttl: u32) -> Vec<Record> {
    let mut out = Vec::new();
    for n in &p.names {
        let owner = format!("{LABEL}.{n}");
        for issuer in &p.issuers {
            for uri in uris {
                let v = value(issuer, uri, p.wildcard, p.persist_until);
                out.push(Record::new(&owner, ttl, RType::Txt, rdata(&v)));
            }
        }
    }
    out
}

/// The account URIs of entry `p`: its `accounturi`, or those of its
/// account file (an error: the file's path and why it was refused).
pub fn uris(p: &Persist, certs: Option<&Path>) -> Result<Vec<String>, (PathBuf, String)> {
    match (&p.account, certs) {
        (Account::Uri(u), _) => Ok(vec![u.clone()]),
        (Account::File(name), Some(certs)) => {
            let path = account_path(certs, name);
            read_account(&path, name).map_err(|why| (path, why))
        }
        // Refused by the configuration's validation.
        (Account::File(_), None) => Ok(Vec::new()),
    }
}

/// The records of every entry of a zone, sorted and without duplicates
/// (two entries may name the same account); an entry whose account file
/// cannot be used adds a warning line to `warn` (with its path) and no
/// records. `ttl`: the zone's, for entries without their own.
pub fn all(
    entries: &[Persist],
    certs: Option<&Path>,
    zone: &str,
    ttl: u32,
    mut warn: impl FnMut(&Path, String),
) -> Vec<Record> {
    let mut out = Vec::new();
    for p in entries {
        match uris(p, certs) {
            Ok(uris) => out.extend(records(p, &uris, p.ttl.unwrap_or(ttl))),
            Err((path, why)) => warn(
                &path,
                format!(
                    "{}: refused: {why}; no {LABEL} records for zone {zone}",
                    path.display()
                ),
            ),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Refuse a name at or below a zone cut: `cuts` are the owners of the NS
/// sets of the zone's sources other than the apex (absolute, lowercase,
/// with the trailing dot). The records would be occluded (RFC 1034
/// §4.2.1): nsd never serves them, and a CA would find no record.
pub fn below_cut(
    entries: &[Persist],
    cuts: &std::collections::BTreeSet<String>,
) -> Result<(), String> {
    if cuts.is_empty() {
        return Ok(());
    }
    for p in entries {
        for n in &p.names {
            let owner = format!("{LABEL}.{n}.");
            // The cut is a suffix of the owner on a label boundary; the
            // owner is always below it (it has one label more than n).
            let mut rest = owner.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if cuts.contains(parent) {
                    return Err(format!(
                        "persist.names: '{n}' is at or below the delegation point {parent}: \
                         nsd would never serve {owner}"
                    ));
                }
                rest = parent;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Raw {
        toml::from_str(text).expect("raw")
    }

    #[test]
    fn renders_the_drafts_examples() {
        // Draft §4 "Basic Validation TXT Record", §10.3 and §10.4 (their
        // strings concatenated).
        assert_eq!(
            value(
                "authority.example",
                "https://ca.example/acct/123",
                false,
                None
            ),
            "authority.example; accounturi=https://ca.example/acct/123"
        );
        assert_eq!(
            value(
                "authority.example",
                "https://ca.example/acct/123",
                false,
                Some(1_721_952_000)
            ),
            "authority.example; accounturi=https://ca.example/acct/123; persistUntil=1721952000"
        );
        assert_eq!(
            value("authority.example", "https://ca.example/acct/123", true, Some(1_721_952_000)),
            "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1721952000"
        );
        // The draft says 1721952000 is 2024-07-26T00:00:00Z.
        assert_eq!(parse_utc("2024-07-26T00:00:00Z"), Some(1_721_952_000));
        assert_eq!(parse_utc("2027-06-01T00:00:00Z"), Some(1_811_808_000));
        assert_eq!(
            certdrop_core::clock::rfc3339(1_811_808_000),
            "2027-06-01T00:00:00Z"
        );
        for bad in [
            "2027-02-29T00:00:00Z",
            "2027-06-01T00:00:00+02:00",
            "2027-06-01",
            "2027-13-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn long_values_split_into_255_octet_strings() {
        let uri = format!("https://ca.example/{}", "a".repeat(400));
        let v = value("ca.example", &uri, false, None);
        let r = rdata(&v);
        let parts: Vec<&str> = r.split("\" \"").collect();
        assert_eq!(parts.len(), 2, "{r}");
        assert_eq!(parts[0].len(), 256); // the opening quote and 255 octets
        assert_eq!(r.replace("\" \"", "").trim_matches('"'), v);
        assert_eq!(
            rdata("x; accounturi=https://a/1"),
            "\"x; accounturi=https://a/1\""
        );
    }

    #[test]
    fn validates_entries() {
        let p = Persist::validate(
            raw("issuer = [\"CA.Example.\", \"ca.example\", \"ca2.example\"]\naccount = \"default\"\nnames = [\"@\", \"www\", \"mail.example.org.\"]\nwildcard = true\npersist_until = \"2027-06-01T00:00:00Z\"\n"),
            "example.org",
            true,
        )
        .expect("valid");
        assert_eq!(p.issuers, ["ca.example", "ca2.example"]);
        assert_eq!(
            p.names,
            ["example.org", "www.example.org", "mail.example.org"]
        );
        assert_eq!(p.persist_until, Some(1_811_808_000));
        let r = records(&p, &["https://ca.example/acct/1".into()], 300);
        assert_eq!(r.len(), 6);
        assert_eq!(
            r[0].to_string(),
            "_validation-persist.example.org.\t300\tIN\tTXT\t\"ca.example; accounturi=https://ca.example/acct/1; policy=wildcard; persistUntil=1811808000\""
        );
        for (text, key) in [
            ("issuer = []\naccounturi = \"https://a/1\"\nnames = [\"@\"]", "issuer"),
            ("issuer = [\"bücher.example\"]\naccounturi = \"https://a/1\"\nnames = [\"@\"]", "issuer"),
            ("issuer = [\"a.example\"]\nnames = [\"@\"]", "account"),
            ("issuer = [\"a.example\"]\naccount = \"x\"\naccounturi = \"https://a/1\"\nnames = [\"@\"]", "account"),
            ("issuer = [\"a.example\"]\naccount = \"../x\"\nnames = [\"@\"]", "account"),
            ("issuer = [\"a.example\"]\naccounturi = \"https://a/1; policy=wildcard\"\nnames = [\"@\"]", "accounturi"),
            ("issuer = [\"a.example\"]\naccounturi = \"https://a/1\"\nnames = [\"*.www\"]", "names"),
            ("issuer = [\"a.example\"]\naccounturi = \"https://a/1\"\nnames = [\"www.example.net.\"]", "names"),
            ("issuer = [\"a.example\"]\naccounturi = \"https://a/1\"\nnames = []", "names"),
            ("issuer = [\"a.example\"]\naccounturi = \"https://a/1\"\nnames = [\"@\"]\npersist_until = \"soon\"", "persist_until"),
        ] {
            let e = Persist::validate(raw(text), "example.org", true).expect_err(text);
            assert_eq!(e.0, key, "{text}: {}", e.1);
        }
        let e = Persist::validate(
            raw("issuer = [\"a.example\"]\naccount = \"default\"\nnames = [\"@\"]"),
            "example.org",
            false,
        )
        .expect_err("no certs");
        assert_eq!(e.0, "account");
    }

    #[test]
    fn names_at_or_below_a_cut_are_refused() {
        let p = Persist::validate(
            raw("issuer = [\"a.example\"]\naccounturi = \"https://a/1\"\nnames = [\"@\", \"www\", \"subway\"]"),
            "example.org",
            true,
        )
        .expect("valid");
        let cuts = ["sub.example.org.".to_owned()].into_iter().collect();
        below_cut(std::slice::from_ref(&p), &cuts).expect("beside the cut");
        for n in ["sub", "x.sub", "a.b.sub.example.org."] {
            let mut q = p.clone();
            q.names = vec![absolute(n, "example.org").expect(n)];
            let e = below_cut(&[q], &cuts).expect_err(n);
            assert!(e.contains("delegation point sub.example.org."), "{e}");
        }
    }

    #[test]
    fn entries_for_one_account_give_one_record_each() {
        let p = Persist::validate(
            raw("issuer = [\"a.example\"]\naccounturi = \"https://a/1\"\nnames = [\"www\", \"@\"]"),
            "example.org",
            true,
        )
        .expect("valid");
        let r = all(&[p.clone(), p], None, "example.org", 300, |_, w| {
            panic!("{w}")
        });
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0] < r[1]);
    }
}
