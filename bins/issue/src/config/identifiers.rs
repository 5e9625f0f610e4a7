//! The names of a line as ACME identifiers: domain names (type `dns`) and
//! IP addresses (type `ip`, RFC 8738). An IP address can only be proven
//! over http-01 (RFC 8738 §7: dns-01 has no name to put a TXT record
//! under), and has no wildcard; both are refused here, by `-n` too.

use std::ops::Range;

use certdrop_core::error::Result;
use certdrop_core::name;
use toml::Spanned;

use super::{Challenge, Locator};

/// The line's `domains`, normalised (IP addresses in canonical text),
/// each listed once.
pub(super) fn domains(
    loc: &Locator<'_>,
    raw: &[Spanned<String>],
    key: &str,
) -> Result<Vec<String>> {
    let mut domains: Vec<String> = Vec::new();
    for d in raw {
        let n = name::identifier(d.get_ref(), true).map_err(|why| loc.err(d.span(), key, &why))?;
        if domains.contains(&n) {
            return Err(loc.err(d.span(), key, &format!("'{n}' listed twice")));
        }
        domains.push(n);
    }
    Ok(domains)
}

/// An IP address among the names needs http-01.
pub(super) fn check_ip_challenge(
    loc: &Locator<'_>,
    domains: &[String],
    challenge: Challenge,
    span: Range<usize>,
    key: &str,
) -> Result<()> {
    match domains.iter().find(|d| is_ip(d)) {
        Some(ip) if challenge != Challenge::Http01 => Err(loc.err(
            span,
            key,
            &format!(
                "'{ip}' is an IP address: it can only be validated with http-01 (dns-01 cannot prove an IP address, RFC 8738): set challenge = \"http-01\""
            ),
        )),
        _ => Ok(()),
    }
}

/// Is this configured name an IP address (an ACME identifier of type `ip`)?
fn is_ip(name: &str) -> bool {
    name::ip(name).is_some()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::{DNS, HEAD};
    use super::super::Config;

    fn parse(line: &str) -> certdrop_core::error::Result<Config> {
        Config::parse(
            Path::new("/etc/certdrop/issue.toml"),
            &format!("{HEAD}[drop]\nwebroot = \"webroot\"\ndnsextra = \"dnsextra\"\n{DNS}[[line]]\nname = \"ip\"\n{line}\n"),
        )
    }

    #[test]
    fn ip_addresses_are_names_in_canonical_form_over_http01() {
        let c = parse(
            "domains = [\"192.0.2.7\", \"2001:DB8:0::7\", \"www.example.org\"]\nchallenge = \"http-01\"",
        )
        .expect("valid");
        assert_eq!(
            c.lines[0].domains,
            ["192.0.2.7", "2001:db8::7", "www.example.org"]
        );
        // The same address in two spellings is one name.
        let e = parse("domains = [\"2001:db8::7\", \"2001:db8:0::7\"]\nchallenge = \"http-01\"")
            .expect_err("twice");
        assert!(e.msg.contains("'2001:db8::7' listed twice"), "{}", e.msg);
    }

    #[test]
    fn an_ip_address_needs_http01() {
        for challenge in ["", "challenge = \"dns-01\""] {
            let e = parse(&format!(
                "domains = [\"a.example.org\", \"::1\"]\n{challenge}"
            ))
            .expect_err("dns-01");
            assert_eq!(e.class, certdrop_core::exit::Failure::Config);
            assert!(
                e.msg.contains("line 'ip': domains: '::1' is an IP address: it can only be validated with http-01"),
                "{}",
                e.msg
            );
        }
    }
}
