//! Domain names as certdrop accepts them in configuration (RFC 1035 §2.3.1
//! preferred syntax, RFC 5890 A-labels, RFC 8555 §7.1.3 wildcards): LDH
//! labels, lowercase, a wildcard only as the whole leftmost label. Also the
//! names of certificate lines, which become directory names, and IP
//! addresses where a certificate may name one (RFC 8738).

/// Longest domain name in presentation form without the trailing dot.
const MAX_NAME: usize = 253;
/// Longest label.
const MAX_LABEL: usize = 63;
/// Longest certificate-line name.
const MAX_LINE_NAME: usize = 64;

/// A certificate name as configured: an IP address (RFC 8738), written in
/// its canonical text form (`2001:db8::1`, whatever zeros the user wrote,
/// as [`crate::certinfo`] renders an iPAddress SAN), or else a domain name
/// as [`domain`] takes it.
pub fn identifier(text: &str, wildcard: bool) -> Result<String, String> {
    match ip(text) {
        Some(addr) => Ok(addr.to_string()),
        None => domain(text, wildcard),
    }
}

/// `text` as an IP address, if it is one (IPv4 dotted quad or IPv6 text;
/// an IPv6 zone or brackets are no address of a certificate).
pub fn ip(text: &str) -> Option<std::net::IpAddr> {
    text.parse().ok()
}

/// Validate and normalise a domain name (lowercase, no trailing dot).
/// `*.example.org` is allowed when `wildcard` is true.
pub fn domain(text: &str, wildcard: bool) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if name.is_empty() {
        return Err("empty domain name".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!("'{text}': longer than {MAX_NAME} characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("'{text}': not a fully qualified name"));
    }
    for (i, label) in labels.iter().enumerate() {
        if *label == "*" {
            if i == 0 && wildcard {
                continue;
            }
            return Err(format!(
                "'{text}': a wildcard is only allowed as the whole leftmost label"
            ));
        }
        check_label(label).map_err(|why| format!("'{text}': {why}"))?;
    }
    if labels[labels.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}': the top-level label is numeric"));
    }
    Ok(name)
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty label".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!("label '{label}' longer than {MAX_LABEL}"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "label '{label}' has a character outside a-z, 0-9 and '-'"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label '{label}' starts or ends with '-'"));
    }
    Ok(())
}

/// The name a dns-01 TXT record goes to for `domain` (RFC 8555 §8.4): the
/// wildcard label is dropped, `_acme-challenge.` prepended; absolute.
pub fn challenge_owner(domain: &str) -> String {
    let base = domain.strip_prefix("*.").unwrap_or(domain);
    format!("_acme-challenge.{base}.")
}

/// Whether `name` equals `zone` or lies below it (both without trailing dot
/// or both with; case-insensitive).
pub fn in_zone(name: &str, zone: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// Validate a certificate-line name, which becomes a directory name.
pub fn line_name(text: &str) -> Result<(), String> {
    let ok_first = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok_first
        || text.len() > MAX_LINE_NAME
        || !text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        })
        || text.contains("..")
    {
        return Err(format!(
            "'{text}': a line name is 1-{MAX_LINE_NAME} characters of a-z, 0-9, '.', '-', '_', starting with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_take_ip_addresses_in_canonical_form() {
        assert_eq!(identifier("127.0.0.1", false).as_deref(), Ok("127.0.0.1"));
        assert_eq!(
            identifier("2001:DB8:0:0::0:1", false).as_deref(),
            Ok("2001:db8::1")
        );
        assert_eq!(identifier("::1", false).as_deref(), Ok("::1"));
        assert_eq!(
            identifier("WWW.Example.org", true).as_deref(),
            Ok("www.example.org")
        );
        // Not addresses, and no domain names either.
        assert!(identifier("[::1]", false).is_err());
        assert!(identifier("fe80::1%eth0", false).is_err());
        assert!(identifier("192.0.2.256", false).is_err());
        assert!(domain("127.0.0.1", false).is_err());
    }

    #[test]
    fn domains() {
        assert_eq!(
            domain("WWW.Example.org.", false).as_deref(),
            Ok("www.example.org")
        );
        assert!(domain("*.example.org", true).is_ok());
        assert!(domain("*.example.org", false).is_err());
        assert!(domain("www.*.example.org", true).is_err());
        assert!(domain("exa_mple.org", false).is_err());
        assert!(domain("-a.example.org", false).is_err());
        assert!(domain("localhost", false).is_err());
        assert!(domain("a..b", false).is_err());
        assert!(domain("1.2.3.4", false).is_err());
        assert!(domain(&format!("{}.org", "a".repeat(64)), false).is_err());
    }

    #[test]
    fn owners_and_zones() {
        assert_eq!(
            challenge_owner("*.example.org"),
            "_acme-challenge.example.org."
        );
        assert!(in_zone("_acme-challenge.www.example.org.", "example.org"));
        assert!(!in_zone("badexample.org", "example.org"));
        assert!(line_name("www").is_ok());
        assert!(line_name("../x").is_err());
        assert!(line_name(".hidden").is_err());
    }
}
