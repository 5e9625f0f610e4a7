//! SMTP STARTTLS against a real postfix: an MX-style listener
//! (`smtpd_tls_security_level = may`, port 25's role), a submission-style
//! one (`encrypt`, port 587's role), over TLS 1.2 and 1.3, and one without
//! TLS, which must say STARTTLS is not offered.

use certdrop_probe::{ErrorKind, Protocol, Versions};
use certdrop_testkit::free_port;
use certdrop_testkit::pki::KeyType;
use certdrop_testkit::postfix::{Postfix, Smtpd, Tls};

use crate::{assert_line, probe, Fixture};

#[test]
fn postfix_starttls_serves_the_files() {
    let fx = Fixture::new();
    let leaf = fx.leaf("mx.example.test", KeyType::P256);
    let (mx, submission, plain) = (free_port(), free_port(), free_port());
    let listeners = [
        Smtpd {
            port: mx,
            tls: Tls::May,
        },
        Smtpd {
            port: submission,
            tls: Tls::Encrypt,
        },
        Smtpd {
            port: plain,
            tls: Tls::None,
        },
    ];
    let postfix = Postfix::with(&fx.dir("postfix"), &listeners, &leaf.full, &leaf.key);
    let name = "mx.example.test";

    for port in [mx, submission] {
        for (versions, want) in [
            (Versions::Tls12, "TLSv1.2"),
            (Versions::Tls13, "TLSv1.3"),
            (Versions::Any, "TLSv1.3"),
        ] {
            let got = probe(port, name, Protocol::Smtp, versions)
                .unwrap_or_else(|e| panic!("{e}\n{}", postfix.log()));
            leaf.assert_served(&got, want);
        }
    }

    let err = probe(plain, name, Protocol::Smtp, Versions::Any).expect_err("no TLS");
    assert_eq!(err.kind, ErrorKind::NotOffered, "{err}");
    assert_line(&err, &[&format!("127.0.0.1:{plain} (mx.example.test): smtp: STARTTLS not offered: EHLO lists PIPELINING")]);

    // Implicit TLS on a STARTTLS port: the greeting is no TLS record.
    let err = probe(mx, name, Protocol::Tls, Versions::Any).expect_err("not implicit TLS");
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
}
