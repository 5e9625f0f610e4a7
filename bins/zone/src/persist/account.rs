//! The issuer's public account file, `<certs>/.accounts/<ca>.json`
//! (written by another stage, so untrusted), and the checks every
//! account URI passes before it goes into a record, wherever it came from.

use std::path::{Path, PathBuf};

use certdrop_core::untrusted::{self, Rules};
use serde::Deserialize;

/// The directory of `certs` where the issuer publishes its accounts.
pub const ACCOUNTS_DIR: &str = ".accounts";
/// Largest account file read: a few hundred bytes in practice.
pub const MAX_ACCOUNT_FILE: u64 = 16 * 1024;
/// Longest account URI accepted (a CA's are well under 200 bytes; the
/// draft §9.1 asks CAs to keep them short).
pub const MAX_URI: usize = 1024;
/// Most `previous` URIs taken from an account file.
pub const MAX_PREVIOUS: usize = 16;
/// How much of a parser's message about the account file is echoed: it
/// may quote the untrusted file.
const MAX_ECHO: usize = 200;

/// Check an account URI before it goes into a record: `https://`, or
/// `http://` only for a CA on loopback (127.0.0.0/8, `[::1]`,
/// `localhost`: a test CA), printable ASCII, nothing that could end the
/// parameter or the quoted string (RFC 8659 §4.2 value: no `;`, no
/// space; and no `"` or `\`), not longer than [`MAX_URI`].
pub fn check_uri(uri: &str) -> Result<(), String> {
    let shown: String = uri
        .chars()
        .take(80)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if uri.len() > MAX_URI {
        return Err(format!("'{shown}...': longer than {MAX_URI} bytes"));
    }
    if let Some(c) = uri
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | ';' | '\\'))
    {
        return Err(format!(
            "'{shown}': character {} is not allowed in an account URI",
            c.escape_debug()
        ));
    }
    let (rest, tls) = match (uri.strip_prefix("https://"), uri.strip_prefix("http://")) {
        (Some(r), _) => (r, true),
        (None, Some(r)) => (r, false),
        (None, None) => return Err(format!("'{shown}': not an https URL")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // After any userinfo: the host and port.
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return Err(format!("'{shown}': no host"));
    }
    if !tls && !loopback(host) {
        return Err(format!(
            "'{shown}': http:// only for a CA on loopback (127.0.0.0/8, ::1, localhost); use https://"
        ));
    }
    Ok(())
}

/// Whether a URI's host (brackets of an IPv6 literal removed) is loopback.
fn loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// The account file the issuer writes (spec: `<certs>/.accounts/<ca>.json`).
#[derive(Deserialize)]
struct AccountFile {
    ca: String,
    account: String,
    #[serde(default)]
    previous: Vec<String>,
}

/// `<certs>/.accounts/<name>.json`.
pub fn account_path(certs: &Path, name: &str) -> PathBuf {
    certs.join(ACCOUNTS_DIR).join(format!("{name}.json"))
}

/// The account URIs of `<certs>/.accounts/<name>.json`: the current one
/// first, then the previous ones, each checked; any fault refuses the
/// whole file (one line why, without the path). Read as fragments and
/// host keys are: a regular file with one link, of bounded size.
pub fn read_account(path: &Path, name: &str) -> Result<Vec<String>, String> {
    let rules = Rules::new(MAX_ACCOUNT_FILE).one_link();
    let data = untrusted::read(path, &rules).map_err(|e| e.to_string())?;
    let file: AccountFile = serde_json::from_slice(&data).map_err(|e| {
        // serde quotes the file's own text (an unknown variant, a string
        // it could not take): keep the line short.
        let mut why = e.to_string();
        if let Some((cut, _)) = why.char_indices().nth(MAX_ECHO) {
            why.truncate(cut);
            why.push_str("...");
        }
        format!("not an account file: {}", why.escape_debug())
    })?;
    if file.ca != name {
        let ca: String = file.ca.chars().take(64).collect();
        return Err(format!(
            "says it is CA '{}', not '{name}'",
            ca.escape_debug()
        ));
    }
    if file.previous.len() > MAX_PREVIOUS {
        return Err(format!("more than {MAX_PREVIOUS} previous accounts"));
    }
    let mut uris = Vec::with_capacity(1 + file.previous.len());
    for u in std::iter::once(file.account).chain(file.previous) {
        check_uri(&u)?;
        if !uris.contains(&u) {
            uris.push(u);
        }
    }
    Ok(uris)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_that_could_break_out_are_refused() {
        check_uri("https://ca.example/acme/acct/1").expect("plain");
        for loopback in [
            "http://127.0.0.1:8080/acme/acct/x",
            "http://127.3.4.5/acct/x",
            "http://[::1]:14000/acct/x",
            "http://localhost:14000/acct/x",
            "http://LocalHost/acct/x",
        ] {
            check_uri(loopback).expect(loopback);
        }
        for bad in [
            "http://ca.example/acct/1",
            "http://128.0.0.1/acct/1",
            "http://127.0.0.1.ca.example/acct/1",
            "http://localhost.ca.example/acct/1",
            "http://127.0.0.1@ca.example/acct/1",
            "http://[::2]/acct/1",
            "http://[::ffff:127.0.0.1]/acct/1",
            "https://@/a",
            "https://ca.example/a\"b",
            "https://ca.example/a;policy=wildcard",
            "https://ca.example/a\nb",
            "https://ca.example/a b",
            "https://ca.example/ä",
            "https://ca.example/a\\b",
            "ftp://ca.example/a",
            "https:///a",
            "",
        ] {
            assert!(check_uri(bad).is_err(), "{bad:?}");
        }
        assert!(check_uri(&format!("https://ca.example/{}", "a".repeat(MAX_URI))).is_err());
    }
}
