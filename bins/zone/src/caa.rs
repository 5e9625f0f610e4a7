//! CAA records (RFC 8659) naming the one CA allowed to issue, bound to our
//! ACME account and validation methods (RFC 8657), so that no other
//! account — and no other method — can get a certificate for the zone.

use crate::config::Caa;
use crate::record::{RType, Record};

/// The CAA records for the apex of `zone`.
pub fn records(zone: &str, caa: &Caa, ttl: u32) -> Vec<Record> {
    let mut value = caa.issuer.clone();
    if let Some(uri) = &caa.accounturi {
        value.push_str(&format!("; accounturi={uri}"));
    }
    if !caa.methods.is_empty() {
        value.push_str(&format!("; validationmethods={}", caa.methods.join(",")));
    }
    let mut out = vec![Record::new(
        zone,
        ttl,
        RType::Caa,
        format!("0 issue \"{value}\""),
    )];
    if caa.wildcard {
        out.push(Record::new(
            zone,
            ttl,
            RType::Caa,
            format!("0 issuewild \"{value}\""),
        ));
    } else {
        // An empty issuewild forbids wildcard certificates (RFC 8659 §4.3).
        out.push(Record::new(
            zone,
            ttl,
            RType::Caa,
            "0 issuewild \";\"".to_owned(),
        ));
    }
    if let Some(iodef) = &caa.iodef {
        out.push(Record::new(
            zone,
            ttl,
            RType::Caa,
            format!("0 iodef \"{iodef}\""),
        ));
    }
    out
}

/// Check a CAA configuration's values: nothing that could break out of the
/// quoted string or the property syntax.
pub fn check(caa: &Caa) -> Result<(), String> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b';' | b'\\' | b','))
    };
    if !ok(&caa.issuer) {
        return Err(format!("caa.issuer '{}' is not a plain domain", caa.issuer));
    }
    if let Some(uri) = &caa.accounturi {
        if !ok(uri) || !uri.starts_with("https://") {
            return Err(format!("caa.accounturi '{uri}' is not an https URL"));
        }
    }
    for m in &caa.methods {
        if !ok(m) {
            return Err(format!("caa.methods: '{m}' is not a method name"));
        }
    }
    if let Some(iodef) = &caa.iodef {
        if !ok(iodef) {
            return Err(format!("caa.iodef '{iodef}' is not a plain URL"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_bound_records() {
        let caa = Caa {
            issuer: "letsencrypt.org".into(),
            wildcard: false,
            accounturi: Some("https://acme-v02.api.letsencrypt.org/acme/acct/1234".into()),
            methods: vec!["dns-01".into()],
            iodef: None,
        };
        check(&caa).expect("valid");
        let r = records("example.org", &caa, 300);
        assert_eq!(
            r[0].to_string(),
            "example.org.\t300\tIN\tCAA\t0 issue \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1234; validationmethods=dns-01\""
        );
        assert_eq!(r[1].rdata, "0 issuewild \";\"");
        let bad = Caa {
            issuer: "x\" evil".into(),
            ..caa
        };
        assert!(check(&bad).is_err());
    }
}
