//! The `_validation-persist` TXT record as a CA reads it
//! (draft-ietf-acme-dns-persist-00 §4): the character-strings of one
//! record joined (RFC 1035 §3.3.14, draft §9.1; `certdrop_dns::query_txt`
//! joins them), then an RFC 8659 §4.2 issue-value:
//!
//! ```text
//! issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
//! parameters  = (parameter *WSP ";" *WSP parameters) / parameter
//! parameter   = tag *WSP "=" *WSP value
//! tag         = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//! value       = *(%x21-3A / %x3C-7E)
//! ```
//!
//! Case, as the draft says and no more: the issuer-domain-name is
//! compared after case-folding (draft §3.1 and its normalization
//! algorithm); the `policy` tag and its value are case-insensitive
//! (draft §4 item 4); every other tag (`accounturi`, `persistUntil`) is
//! matched as the draft spells it, and the `accounturi` value exactly.
//! `AccountURI=` is thus an unknown tag, ignored: no account, not relied
//! on. A repeated tag, a `persistUntil` that is not a
//! base-10 integer, or text outside the grammar make the record
//! malformed (draft §11.3 "Error Handling"); unknown tags are ignored
//! (draft §4 item 1).

use super::shown;

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The issuer-domain-name, lowercase (empty: RFC 8659's "no issuer").
    pub issuer: String,
    /// The parameters in order, tag and value as written.
    pub params: Vec<(String, String)>,
}

/// Why a record does not authorize us, in words for `-v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an issue-value (draft §11.3 `malformed`).
    Malformed(String),
    /// Another CA's record.
    OtherIssuer(String),
    /// No accounturi, or another account's.
    OtherAccount(Option<String>),
    /// A wildcard identifier and no `policy=wildcard` (draft §5).
    NotWildcard,
    /// `persistUntil` is past, or ends before the validation may be over
    /// (draft §4 item 5).
    Expired(i64),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "malformed: {why}"),
            Refusal::OtherIssuer(i) => write!(f, "issuer '{}' is not one the CA names", shown(i)),
            Refusal::OtherAccount(None) => write!(f, "no accounturi"),
            Refusal::OtherAccount(Some(u)) => write!(f, "names account {}", shown(u)),
            Refusal::NotWildcard => write!(f, "no policy=wildcard, needed for a wildcard"),
            Refusal::Expired(t) => write!(
                f,
                "persistUntil {t} ({}) has passed or ends within the validation timeout",
                certdrop_core::clock::rfc3339(*t)
            ),
        }
    }
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `(ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`: RFC 8659's label and tag.
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// Parse the joined strings of one TXT record.
pub fn parse(text: &str) -> Result<Record, String> {
    let (head, rest) = match text.split_once(';') {
        Some((h, r)) => (h, Some(r)),
        None => (text, None),
    };
    let issuer = head.trim_matches(is_wsp);
    if !issuer.is_empty() && !issuer.split('.').all(is_label) {
        return Err(format!("'{}' is not an issuer-domain-name", shown(issuer)));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(rest) = rest {
        let parts: Vec<&str> = rest.split(';').collect();
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let part = part.trim_matches(is_wsp);
            // "issuer;" alone is allowed, an empty parameter between two
            // semicolons is not.
            if part.is_empty() && i == last && i == 0 {
                continue;
            }
            let Some((tag, value)) = part.split_once('=') else {
                return Err(format!("parameter '{}' is not tag=value", shown(part)));
            };
            let (tag, value) = (
                tag.trim_end_matches(is_wsp),
                value.trim_start_matches(is_wsp),
            );
            if !is_label(tag) {
                return Err(format!("'{}' is not a parameter tag", shown(tag)));
            }
            if let Some(c) = value
                .chars()
                .find(|c| !matches!(c, '\x21'..='\x3a' | '\x3c'..='\x7e'))
            {
                return Err(format!(
                    "parameter {}: character {} not allowed in a value",
                    shown(tag),
                    c.escape_debug()
                ));
            }
            let same = |t: &String| {
                *t == tag
                    || (t.eq_ignore_ascii_case("policy") && tag.eq_ignore_ascii_case("policy"))
            };
            if params.iter().any(|(t, _)| same(t)) {
                return Err(format!("parameter {} given twice", shown(tag)));
            }
            params.push((tag.to_owned(), value.to_owned()));
        }
    }
    Ok(Record {
        issuer: issuer.to_ascii_lowercase(),
        params,
    })
}

impl Record {
    /// The value of parameter `tag`, spelt as the draft does.
    pub fn param(&self, tag: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, v)| v.as_str())
    }

    /// `policy=wildcard`, tag and value in any case (draft §4 item 4).
    pub fn wildcard(&self) -> bool {
        self.params
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case("policy"))
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case("wildcard"))
    }

    /// `persistUntil` in seconds since the epoch, if given.
    pub fn persist_until(&self) -> Result<Option<i64>, String> {
        match self.param("persistUntil") {
            None => Ok(None),
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("persistUntil {} is out of range", shown(v))),
            Some(v) => Err(format!(
                "persistUntil '{}' is not a base-10 integer",
                shown(v)
            )),
        }
    }

    /// Does this record let a CA known by `issuers` validate an
    /// identifier (`wildcard`: of the form `*.name`) for `account` until
    /// `now` (the caller adds the validation timeout,
    /// `persist::valid_through`)? Checked in the draft's order: issuer, account, scope, time.
    pub fn authorizes(
        &self,
        issuers: &[String],
        account: &str,
        wildcard: bool,
        now: i64,
    ) -> Result<(), Refusal> {
        if !issuers.iter().any(|i| i.eq_ignore_ascii_case(&self.issuer)) {
            return Err(Refusal::OtherIssuer(self.issuer.clone()));
        }
        match self.param("accounturi") {
            Some(u) if u == account => {}
            other => return Err(Refusal::OtherAccount(other.map(str::to_owned))),
        }
        if wildcard && !self.wildcard() {
            return Err(Refusal::NotWildcard);
        }
        match self.persist_until().map_err(Refusal::Malformed)? {
            Some(t) if t < now => Err(Refusal::Expired(t)),
            _ => Ok(()),
        }
    }
}

/// The verdict on one TXT value: parsed and checked.
pub fn check(
    text: &str,
    issuers: &[String],
    account: &str,
    wildcard: bool,
    now: i64,
) -> Result<(), Refusal> {
    parse(text)
        .map_err(Refusal::Malformed)?
        .authorizes(issuers, account, wildcard, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "https://ca.example/acct/123";

    fn issuers() -> Vec<String> {
        vec!["authority.example".into(), "ca.example.net".into()]
    }

    /// The draft's examples (§4, §4.1, §10.1-§10.4), their strings joined
    /// as a resolver gives them.
    #[test]
    fn the_drafts_examples() {
        let basic = "authority.example;".to_owned() + " accounturi=https://ca.example/acct/123";
        let r = parse(&basic).expect("basic");
        assert_eq!(r.issuer, "authority.example");
        assert_eq!(r.param("accounturi"), Some(ACCT));
        assert!(!r.wildcard());
        assert_eq!(check(&basic, &issuers(), ACCT, false, 0), Ok(()));
        assert_eq!(
            check(&basic, &issuers(), ACCT, true, 0),
            Err(Refusal::NotWildcard)
        );

        let wild = "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard";
        assert_eq!(check(wild, &issuers(), ACCT, true, 0), Ok(()));
        assert_eq!(check(wild, &issuers(), ACCT, false, 0), Ok(()));

        let until =
            "authority.example; accounturi=https://ca.example/acct/123; persistUntil=1721952000";
        assert_eq!(
            parse(until).expect("until").persist_until(),
            Ok(Some(1_721_952_000))
        );
        assert_eq!(check(until, &issuers(), ACCT, false, 1_721_952_000), Ok(()));
        assert_eq!(
            check(until, &issuers(), ACCT, false, 1_721_952_001),
            Err(Refusal::Expired(1_721_952_000))
        );

        let both = "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1721952000";
        assert_eq!(check(both, &issuers(), ACCT, true, 1_700_000_000), Ok(()));

        // §4.1: two CAs' records at one name; each CA takes its own.
        let ca1 = "ca1.example; accounturi=https://ca1.example/acme/acct/12345; policy=wildcard";
        let ca2 =
            "ca2.example; accounturi=https://ca2.example/acme/acct/67890; persistUntil=1767225600";
        let one = vec!["ca1.example".to_owned()];
        assert_eq!(
            check(ca1, &one, "https://ca1.example/acme/acct/12345", true, 0),
            Ok(())
        );
        assert_eq!(
            check(ca2, &one, "https://ca1.example/acme/acct/12345", false, 0),
            Err(Refusal::OtherIssuer("ca2.example".into()))
        );
    }

    #[test]
    fn case_and_white_space() {
        // The policy tag and value without case; the issuer too.
        let r = parse(
            "\tAuthority.Example ;accounturi = https://ca.example/acct/123 ;POLICY=WildCard ",
        )
        .expect("parsed");
        assert_eq!(r.issuer, "authority.example");
        assert!(r.wildcard());
        assert_eq!(r.authorizes(&issuers(), ACCT, true, 0), Ok(()));
        // Other tags as the draft spells them: AccountURI is an unknown
        // tag (no account), PERSISTUNTIL one too (no end).
        assert_eq!(
            check(
                "authority.example; AccountURI=https://ca.example/acct/123",
                &issuers(),
                ACCT,
                false,
                0
            ),
            Err(Refusal::OtherAccount(None))
        );
        assert_eq!(
            check(
                "authority.example; accounturi=https://ca.example/acct/123; PERSISTUNTIL=1",
                &issuers(),
                ACCT,
                false,
                2
            ),
            Ok(())
        );
        // The account URI exactly.
        assert_eq!(
            check(
                "authority.example; accounturi=https://CA.example/acct/123",
                &issuers(),
                ACCT,
                false,
                0
            ),
            Err(Refusal::OtherAccount(Some(
                "https://CA.example/acct/123".into()
            )))
        );
        // Any other policy value is no policy (draft §4 item 4).
        assert_eq!(
            check(
                "authority.example; accounturi=https://ca.example/acct/123; policy=subdomains",
                &issuers(),
                ACCT,
                true,
                0
            ),
            Err(Refusal::NotWildcard)
        );
        // Unknown tags are ignored.
        assert_eq!(
            check(
                "authority.example; accounturi=https://ca.example/acct/123; future-tag=x",
                &issuers(),
                ACCT,
                false,
                0
            ),
            Ok(())
        );
    }

    #[test]
    fn malformed_and_refused_records() {
        for (text, why) in [
            (
                "authority.example; accounturi=a; accounturi=b",
                "given twice",
            ),
            (
                "authority.example; accounturi=a; POLICY=x; policy=wildcard",
                "given twice",
            ),
            ("authority.example; accounturi", "not tag=value"),
            ("authority.example;; accounturi=x", "not tag=value"),
            (
                "authority example; accounturi=x",
                "not an issuer-domain-name",
            ),
            (
                "authority.example.; accounturi=x",
                "not an issuer-domain-name",
            ),
            (
                "authority.example; accounturi=a b",
                "not allowed in a value",
            ),
            ("authority.example; -x=1", "not a parameter tag"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
        assert_eq!(
            check(
                "authority.example; accounturi=https://ca.example/acct/123; persistUntil=2027-06-01",
                &issuers(),
                ACCT,
                false,
                0
            ),
            Err(Refusal::Malformed(
                "persistUntil '2027-06-01' is not a base-10 integer".into()
            ))
        );
        assert_eq!(
            check("authority.example", &issuers(), ACCT, false, 0),
            Err(Refusal::OtherAccount(None))
        );
        assert_eq!(
            check("authority.example;", &issuers(), ACCT, false, 0),
            Err(Refusal::OtherAccount(None))
        );
        // RFC 8659's empty issuer (";") names no CA.
        assert_eq!(
            check(
                "; accounturi=https://ca.example/acct/123",
                &issuers(),
                ACCT,
                false,
                0
            ),
            Err(Refusal::OtherIssuer(String::new()))
        );
    }
}

#[cfg(test)]
mod shown_tests {
    use super::*;

    #[test]
    fn text_from_the_record_is_escaped_and_cut_in_every_message() {
        let esc = "\x1b[2J\nx";
        let long = "a".repeat(70_000);
        for text in [
            format!("{esc}; accounturi=u"),
            format!("ca.example; {esc}"),
            format!("ca.example; {long}"),
            format!("{long}.example; accounturi=u"),
            format!("ca.example; accounturi={long}"),
            format!("ca.example; accounturi=u; persistUntil={long}"),
        ] {
            let why = match check(&text, &["ca.example".into()], "u", false, 0) {
                Err(r) => r.to_string(),
                Ok(()) => panic!("accepted {}", &text[..40]),
            };
            assert!(!why.contains('\x1b') && !why.contains('\n'), "{why}");
            assert!(why.len() < 200, "{} bytes", why.len());
        }
    }
}
