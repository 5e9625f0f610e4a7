//! Dialects read line by line: postfix (`postconf -n`), haproxy (`bind ...
//! crt`), slapd (slapd.conf or cn=config LDIF), nghttpx (its config file or
//! command line).

use std::path::PathBuf;

use crate::definition::Pair;

/// Marks a `crt-list` file among haproxy's `crt` values until
/// [`super::discover`] reads it.
pub const CRT_LIST: &str = "crt-list:";
/// postfix parameter prefixes whose TLS files count: the SMTP server, the
/// SMTP and LMTP clients (`postconf -n` names them all).
const POSTFIX_PREFIXES: [&str; 3] = ["smtpd", "smtp", "lmtp"];
/// postfix certificate/key parameter pairs per prefix (postconf(5)): RSA,
/// ECDSA, DSA. An empty or missing key parameter means the key is in the
/// certificate file (the default `$smtpd_tls_cert_file`).
const POSTFIX_PAIRS: [(&str, &str); 3] = [
    ("cert_file", "key_file"),
    ("eccert_file", "eckey_file"),
    ("dcert_file", "dkey_file"),
];

/// `name = value` lines (postconf -n), continuation lines folded.
fn assignments(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn file(value: &str) -> Option<PathBuf> {
    let v = value.trim();
    (!v.is_empty() && !v.contains('$')).then(|| PathBuf::from(v))
}

/// `postconf -n` output.
pub fn postfix(text: &str) -> Vec<Pair> {
    let params = assignments(text);
    let get = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut out = Vec::new();
    for prefix in POSTFIX_PREFIXES {
        if let Some(list) = get(&format!("{prefix}_tls_chain_files")) {
            for f in list.split([',', ' ', '\t']).filter_map(file) {
                out.push(Pair { cert: f, key: None });
            }
        }
        for (cert, key) in POSTFIX_PAIRS {
            let Some(cert) = get(&format!("{prefix}_tls_{cert}")).and_then(file) else {
                continue;
            };
            let key = get(&format!("{prefix}_tls_{key}")).and_then(file);
            let key = key.filter(|k| *k != cert);
            out.push(Pair { cert, key });
        }
    }
    out
}

/// haproxy.cfg: every `crt <path>` and `crt-list <path>` on `bind` lines,
/// relative to `crt-base`. Keys are resolved by [`super::discover`].
pub fn haproxy(text: &str) -> Vec<Pair> {
    let mut base: Option<PathBuf> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["crt-base", dir, ..] => base = Some(PathBuf::from(dir)),
            ["bind", rest @ ..] => {
                for w in rest.windows(2) {
                    let path = PathBuf::from(w[1]);
                    let path = match &base {
                        Some(b) if path.is_relative() => b.join(path),
                        _ => path,
                    };
                    match w[0] {
                        "crt" => out.push(Pair {
                            cert: path,
                            key: None,
                        }),
                        "crt-list" => out.push(Pair {
                            cert: PathBuf::from(format!("{CRT_LIST}{}", path.display())),
                            key: None,
                        }),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The certificate files of a haproxy `crt-list`: the first word of each line.
pub fn crt_list(text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_whitespace().next())
        .map(PathBuf::from)
        .collect()
}

/// slapd.conf (`TLSCertificateFile path`) or cn=config LDIF as `slapcat
/// -n 0` prints it (`olcTLSCertificateFile: path`, or `olcTLSCertificateFile::
/// <base64>`).
pub fn slapd(text: &str) -> Vec<Pair> {
    let (mut cert, mut key) = (None, None);
    let text = unfold_ldif(text);
    for line in super::meaningful(&text) {
        let Some((name, value)) = line.split_once(|c: char| c.is_whitespace() || c == ':') else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        let path = match value.strip_prefix(':') {
            // `name:: value` (RFC 2849): the value is base64, as slapcat
            // writes one that is not plain ASCII or starts with a space,
            // `:` or `<`. Decoded, it is the path exactly, spaces and all.
            Some(encoded) if name.starts_with("olc") => base64_text(encoded.trim())
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            _ => file(value.trim().trim_matches('"')),
        };
        match name.as_str() {
            "tlscertificatefile" | "olctlscertificatefile" => cert = path,
            "tlscertificatekeyfile" | "olctlscertificatekeyfile" => key = path,
            _ => {}
        }
    }
    cert.map(|cert| vec![Pair { cert, key }])
        .unwrap_or_default()
}

/// Standard base64 (RFC 4648 §4, padded, as LDIF writes it) of UTF-8
/// text; None when it is not both.
pub(super) fn base64_text(encoded: &str) -> Option<String> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let bytes = encoded.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, quad) in bytes.chunks(4).enumerate() {
        let last = i + 1 == bytes.len() / 4;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | u32::from(digit(c)?);
        }
        n <<= 6 * pad as u32;
        let [_, a, b, c] = n.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..3 - pad]);
    }
    String::from_utf8(out).ok()
}

/// LDIF (`slapcat -n 0`) folds lines longer than 76 bytes, a long path
/// among them: a line that starts with one space continues the one before
/// (RFC 2849), that space removed. slapd.conf text is left as it is.
fn unfold_ldif(text: &str) -> String {
    if !text.lines().any(|l| l.starts_with("dn:")) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.strip_prefix(' ') {
            Some(rest) => out.push_str(rest),
            None => {
                out.push('\n');
                out.push_str(line);
            }
        }
    }
    out
}

/// nghttpx.conf (`private-key-file=`, `certificate-file=`,
/// `subcert=<key>:<cert>[;params]`) or a command line (`--name=value`
/// options, then `<PRIVATE_KEY> <CERT>` positionally).
pub fn nghttpx(text: &str) -> Vec<Pair> {
    let (mut key, mut cert) = (None, None);
    let mut subs = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut option = |name: &str, value: &str| match name {
        "private-key-file" => key = file(value),
        "certificate-file" => cert = file(value),
        "subcert" => {
            let value = value.split(';').next().unwrap_or("");
            if let Some((k, c)) = value.split_once(':') {
                if let (Some(k), Some(c)) = (file(k), file(c)) {
                    subs.push(Pair {
                        cert: c,
                        key: Some(k),
                    });
                }
            }
        }
        _ => {}
    };
    for line in super::meaningful(text) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first().is_some_and(|w| w.ends_with("nghttpx")) {
            for w in &words[1..] {
                match w.strip_prefix("--").and_then(|o| o.split_once('=')) {
                    Some((n, v)) => option(n, v),
                    None if !w.starts_with('-') => positional.push(w.to_string()),
                    None => {}
                }
            }
        } else if let Some((n, v)) = line.split_once('=') {
            option(n.trim(), v.trim());
        }
    }
    if let [.., k, c] = positional.as_slice() {
        key = file(k);
        cert = file(c);
    }
    let mut out: Vec<Pair> = cert.map(|cert| Pair { cert, key }).into_iter().collect();
    out.extend(subs);
    out
}
