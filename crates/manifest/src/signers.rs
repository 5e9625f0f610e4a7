//! The allowed_signers file of ssh-keygen(1) ("ALLOWED SIGNERS"), read as
//! `ssh-keygen -Y verify` reads it (OpenSSH sshsig.c):
//!
//! ```text
//! principals [options] keytype base64-key [comment]
//! ```
//!
//! `principals` is a pattern list ([`crate::pattern`]), cut as OpenSSH
//! cuts a word (`strdelimw`: a double-quoted part may hold blanks). Options
//! are comma-separated, names in any case: `cert-authority`,
//! `namespaces="pattern-list"`, `valid-after="timestamp"`,
//! `valid-before="timestamp"` ([`crate::time`]), each value in double
//! quotes (`\"` inside), each at most once, and valid-before after
//! valid-after. Lines empty or blank, or whose first non-blank character is
//! `#`, are ignored.
//!
//! One difference, on purpose: ssh-keygen skips a line it cannot parse
//! (and logs it) and may accept a signature by a later line; certdrop
//! refuses the whole file, naming the first bad line, so a typo is found
//! when it is made rather than when the only good line is removed.
//! Certificates are not supported: a `cert-authority` entry never matches a
//! manifest signature (ssh-keygen too matches such an entry only against a
//! certificate).

use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use crate::pattern::matches_list;
use crate::time;

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
    /// `now`, for `identity` when one is required (ssh-keygen's
    /// `check_allowed_keys_line`: valid from valid-after to valid-before,
    /// both included).
    pub fn accepts(
        &self,
        key: &KeyData,
        namespace: &str,
        identity: Option<&str>,
        now: i64,
    ) -> bool {
        !self.cert_authority
            && self.key.key_data() == key
            && identity.map_or(true, |id| matches_list(id, &self.principals))
            && self
                .namespaces
                .as_deref()
                .map_or(true, |n| matches_list(namespace, n))
            && self.valid_after.map_or(true, |t| now >= t)
            && self.valid_before.map_or(true, |t| now <= t)
    }
}

/// Parse the whole file; the first bad line is an error `line N: why`.
pub fn parse(text: &str) -> Result<Vec<Signer>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let l = raw.trim_start_matches([' ', '\t']);
        let l = l.trim_end_matches([' ', '\t', '\r']);
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.push(parse_line(i + 1, l).map_err(|why| format!("line {}: {why}", i + 1))?);
    }
    Ok(out)
}

fn parse_line(line: usize, text: &str) -> Result<Signer, String> {
    let (principals, rest) = word(text).ok_or("expected principals, options and a key")?;
    let (opts, key) = match PublicKey::from_openssh(rest) {
        Ok(k) => (Opts::default(), k),
        Err(e) => {
            let (first, after) = split_options(rest)?;
            // A key type here means a bad key; anything else is options.
            let is_key_type = ["ssh-", "ecdsa-", "sk-"]
                .iter()
                .any(|p| first.starts_with(p));
            if is_key_type {
                return Err(format!("bad public key: {e}"));
            }
            if after.is_empty() {
                return Err("missing key after the options".into());
            }
            let opts = options(first)?;
            let key = PublicKey::from_openssh(after).map_err(|e| format!("bad public key: {e}"))?;
            (opts, key)
        }
    };
    Ok(Signer {
        line,
        principals,
        cert_authority: opts.cert_authority,
        namespaces: opts.namespaces,
        valid_after: opts.valid_after,
        valid_before: opts.valid_before,
        key,
    })
}

/// OpenSSH's `strdelimw`: the first word and the rest after its blanks. A
/// double quote starts a part that runs to the next double quote (blanks
/// kept, quotes dropped) and ends the word. `None` if nothing follows the
/// word or a quote is not closed.
fn word(text: &str) -> Option<(String, &str)> {
    let blank = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let i = text.find(|c: char| blank(c) || c == '"')?;
    let (word, after) = if text[i..].starts_with('"') {
        let inner = &text[i + 1..];
        let j = inner.find('"')?;
        (format!("{}{}", &text[..i], &inner[..j]), &inner[j + 1..])
    } else {
        (text[..i].to_string(), &text[i + 1..])
    };
    Some((word, after.trim_start_matches(blank)))
}

/// OpenSSH's `sshkey_advance_past_options`: the options run to the first
/// blank outside double quotes (`\"` does not close one).
fn split_options(text: &str) -> Result<(&str, &str), String> {
    let bytes = text.as_bytes();
    let (mut i, mut quoted) = (0, false);
    while i < bytes.len() && (quoted || !matches!(bytes[i], b' ' | b'\t')) {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if bytes[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted {
        return Err("unbalanced quote in the options".into());
    }
    Ok((&text[..i], text[i..].trim_start_matches([' ', '\t'])))
}

/// Options of an entry.
#[derive(Default)]
struct Opts {
    cert_authority: bool,
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

/// OpenSSH's `sshsigopt_parse`.
fn options(text: &str) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut rest = text;
    let starts = |s: &str, name: &str| {
        s.len() >= name.len() && s.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
    };
    while !rest.is_empty() {
        if starts(rest, "cert-authority") {
            o.cert_authority = true;
            rest = &rest["cert-authority".len()..];
        } else if let Some(name) = ["namespaces", "valid-after", "valid-before"]
            .into_iter()
            .find(|n| starts(rest, n) && rest.as_bytes().get(n.len()) == Some(&b'='))
        {
            let (value, after) = dequote(&rest[name.len() + 1..])
                .map_err(|why| format!("option '{name}': {why}"))?;
            rest = after;
            let twice = || format!("option '{name}' given twice");
            match name {
                "namespaces" if o.namespaces.is_some() => return Err(twice()),
                "namespaces" => o.namespaces = Some(value),
                "valid-after" if o.valid_after.is_some() => return Err(twice()),
                "valid-after" => o.valid_after = Some(time::parse(&value)?),
                _ if o.valid_before.is_some() => return Err(twice()),
                _ => o.valid_before = Some(time::parse(&value)?),
            }
        }
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(',').ok_or_else(|| {
            let opt = rest.split(',').next().unwrap_or(rest);
            format!("unsupported option '{opt}'")
        })?;
        if rest.is_empty() {
            return Err("options end with a comma".into());
        }
    }
    if let (Some(after), Some(before)) = (o.valid_after, o.valid_before) {
        if before <= after {
            return Err("valid-before is not after valid-after".into());
        }
    }
    Ok(o)
}

/// OpenSSH's `opt_dequote`: a value in double quotes, `\"` for a quote;
/// the value and what follows the closing quote.
fn dequote(text: &str) -> Result<(String, &str), String> {
    let inner = text
        .strip_prefix('"')
        .ok_or("value must be in double quotes")?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &inner[i + 1..])),
            '\\' if inner[i + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            c => value.push(c),
        }
    }
    Err("no closing double quote".into())
}

#[cfg(test)]
mod tests;
