//! The allowed_signers file of ssh-keygen(1) ("ALLOWED SIGNERS"), read by
//! `certdrop-publish verify` to decide whose manifest signatures count:
//!
//! ```text
//! principals [options] keytype base64-key [comment]
//! ```
//!
//! `principals` is a comma-separated pattern list (ssh_config(5)
//! "PATTERNS": `*`, `?`, `!` negation), optionally in double quotes.
//! Options, comma-separated and case-insensitive: `cert-authority`,
//! `namespaces="pattern-list"`, `valid-after="timestamp"`,
//! `valid-before="timestamp"`. Blank lines and lines starting with `#` are
//! ignored. Certificates are not supported, so a `cert-authority` entry
//! never matches a manifest signature (ssh-keygen too matches such an entry
//! only against a certificate). Timestamps must be UTC (`Z` suffix): the
//! local-time form ssh-keygen also accepts is refused rather than guessed.

use ssh_key::public::KeyData;
use ssh_key::PublicKey;

/// One entry of the file.
#[derive(Debug, Clone)]
pub struct Signer {
    /// 1-based line number, for messages.
    pub line: usize,
    /// Principal pattern list.
    pub principals: String,
    /// `cert-authority`: trusted only for certificates.
    pub cert_authority: bool,
    /// `namespaces=`: pattern list the signature's namespace must match.
    pub namespaces: Option<String>,
    /// `valid-after=`, seconds since the epoch.
    pub valid_after: Option<i64>,
    /// `valid-before=`, seconds since the epoch.
    pub valid_before: Option<i64>,
    /// The key.
    pub key: PublicKey,
}

impl Signer {
    /// Whether this entry accepts a signature by `key` in `namespace` at
    /// `now`, for `identity` when one is required.
    pub fn accepts(
        &self,
        key: &KeyData,
        namespace: &str,
        identity: Option<&str>,
        now: i64,
    ) -> bool {
        !self.cert_authority
            && self.key.key_data() == key
            && identity.map_or(true, |id| match_list(id, &self.principals))
            && self
                .namespaces
                .as_deref()
                .map_or(true, |n| match_list(namespace, n))
            && self.valid_after.map_or(true, |t| now >= t)
            && self.valid_before.map_or(true, |t| now <= t)
    }
}

/// Parse the whole file; the first bad line is an error `line N: why`.
pub fn parse(text: &str) -> Result<Vec<Signer>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.push(parse_line(i + 1, l).map_err(|why| format!("line {}: {why}", i + 1))?);
    }
    Ok(out)
}

fn parse_line(line: usize, text: &str) -> Result<Signer, String> {
    let (principals, rest) = token(text)?;
    if principals.is_empty() || rest.is_empty() {
        return Err("expected principals, options and a key".into());
    }
    let mut opts = SignerOpts::default();
    let key = match PublicKey::from_openssh(rest) {
        Ok(k) => k,
        Err(e) => {
            let (first, after) = token(rest)?;
            // A key type here means a bad key; anything else is options.
            // (ssh_key's Algorithm parsing accepts any `x@y`, so it would
            // take namespaces="a@b" for a key type.)
            let is_key_type = ["ssh-", "ecdsa-", "sk-"]
                .iter()
                .any(|p| first.starts_with(p));
            if is_key_type {
                return Err(format!("bad public key: {e}"));
            }
            options(first, &mut opts)?;
            PublicKey::from_openssh(after).map_err(|e| format!("bad public key: {e}"))?
        }
    };
    Ok(Signer {
        line,
        principals: principals.to_string(),
        cert_authority: opts.cert_authority,
        namespaces: opts.namespaces,
        valid_after: opts.valid_after,
        valid_before: opts.valid_before,
        key,
    })
}

#[derive(Default)]
struct SignerOpts {
    cert_authority: bool,
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

/// The next blank-delimited field (double quotes group, without the
/// quotes) and the rest, leading blanks removed.
fn token(text: &str) -> Result<(&str, &str), String> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                let field = &text[..i];
                let field = field
                    .strip_prefix('"')
                    .and_then(|f| f.strip_suffix('"'))
                    .unwrap_or(field);
                return Ok((field, text[i..].trim_start()));
            }
            _ => {}
        }
    }
    if quoted {
        return Err("unbalanced quote".into());
    }
    Ok((text, ""))
}

/// Parse `opt[,opt...]` into `o`.
fn options(text: &str, o: &mut SignerOpts) -> Result<(), String> {
    let mut rest = text;
    while !rest.is_empty() {
        // Split at the first comma outside quotes.
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == ',' && !quoted
            })
            .map_or(rest.len(), |(i, _)| i);
        let opt = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => {
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or(format!("option '{n}': value must be in double quotes"))?;
                (n.to_ascii_lowercase(), Some(v))
            }
            None => (opt.to_ascii_lowercase(), None),
        };
        match (name.as_str(), value) {
            ("cert-authority", None) => o.cert_authority = true,
            ("namespaces", Some(v)) => o.namespaces = Some(v.to_string()),
            ("valid-after", Some(v)) => o.valid_after = Some(timestamp(v)?),
            ("valid-before", Some(v)) => o.valid_before = Some(timestamp(v)?),
            _ => return Err(format!("unsupported option '{opt}'")),
        }
    }
    Ok(())
}

/// `YYYYMMDD[HHMM[SS]]Z` (UTC) as seconds since the epoch.
fn timestamp(text: &str) -> Result<i64, String> {
    let bad = || format!("timestamp '{text}': expected YYYYMMDD[HHMM[SS]]Z (UTC)");
    let digits = text.strip_suffix(['Z', 'z']).ok_or_else(bad)?;
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |a: usize, b: usize| {
        digits
            .get(a..b)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (y, m, d, hh, mm, ss) = (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14));
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// core::clock's conversion).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ssh_config(5) pattern list: true if some pattern matches and no negated
/// (`!`) one does. Case-sensitive, as ssh-keygen matches principals.
pub fn match_list(text: &str, list: &str) -> bool {
    let mut positive = false;
    for pattern in list.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(text.as_bytes(), negated.as_bytes()) {
                return false;
            }
        } else if glob(text.as_bytes(), pattern.as_bytes()) {
            positive = true;
        }
    }
    positive
}

/// `*` any run, `?` any one character.
fn glob(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINNyOjXDEPo3kMQ/KlYJjhAvE+PeGakdoYkDU+AQoibM test-key";

    #[test]
    fn parses_entries_with_and_without_options() {
        let text = format!(
            "# comment\n\npublish@example.org {KEY}\n\
             \"a@x,b@y\" namespaces=\"certdrop-*\",valid-after=\"20260101Z\",VALID-BEFORE=\"202701011200Z\" {KEY}\n\
             ca@x cert-authority {KEY}\n\
             trigger@x namespaces=\"certdrop-manifest@certdrop\" {KEY}\n"
        );
        let s = parse(&text).expect("parse");
        assert_eq!(s.len(), 4);
        assert_eq!(
            s[3].namespaces.as_deref(),
            Some("certdrop-manifest@certdrop")
        );
        assert_eq!(s[0].principals, "publish@example.org");
        assert_eq!(s[0].line, 3);
        assert!(s[0].namespaces.is_none());
        assert_eq!(s[1].principals, "a@x,b@y");
        assert_eq!(s[1].namespaces.as_deref(), Some("certdrop-*"));
        assert_eq!(s[1].valid_after, Some(1_767_225_600));
        assert_eq!(s[1].valid_before, Some(1_798_804_800));
        assert!(s[2].cert_authority);
        let key = s[0].key.key_data().clone();
        let ns = crate::signing::NAMESPACE;
        assert!(s[0].accepts(&key, ns, None, 0));
        assert!(s[0].accepts(&key, ns, Some("publish@example.org"), 0));
        assert!(!s[0].accepts(&key, ns, Some("other@example.org"), 0));
        assert!(s[1].accepts(&key, ns, Some("b@y"), 1_780_000_000));
        assert!(!s[1].accepts(&key, ns, Some("b@y"), 1_700_000_000));
        assert!(!s[1].accepts(&key, "file", Some("b@y"), 1_780_000_000));
        assert!(!s[2].accepts(&key, ns, None, 0));
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (text, why) in [
            (
                format!("x@y restrict {KEY}"),
                "unsupported option 'restrict'",
            ),
            (format!("x@y valid-after=\"20260101\" {KEY}"), "UTC"),
            ("x@y ssh-ed25519 AAAA".to_string(), "bad public key"),
            ("x@y".to_string(), "expected principals"),
        ] {
            let e = parse(&text).expect_err(why);
            assert!(e.starts_with("line 1: ") && e.contains(why), "{why}: {e}");
        }
    }

    #[test]
    fn patterns_follow_ssh_config() {
        assert!(match_list("www@example.org", "*@example.org"));
        assert!(match_list("a", "b,a"));
        assert!(!match_list("bad@example.org", "*@example.org,!bad@*"));
        assert!(match_list("ab", "a?"));
        assert!(!match_list("abc", "a?"));
        assert!(!match_list("A", "a"));
    }
}
