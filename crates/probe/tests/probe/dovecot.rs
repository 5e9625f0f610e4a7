//! IMAP, POP3 and ManageSieve STARTTLS against a real dovecot
//! (`ssl = required`), over TLS 1.2 and 1.3.

use certdrop_probe::{ErrorKind, Protocol, Versions};
use certdrop_testkit::dovecot::{Dovecot, Ports};
use certdrop_testkit::free_port;
use certdrop_testkit::pki::KeyType;

use crate::{assert_line, probe, Fixture};

#[test]
fn dovecot_imap_pop3_sieve_serve_the_files() {
    let fx = Fixture::new();
    let leaf = fx.leaf("imap.example.test", KeyType::P256);
    let ports = Ports {
        imap: free_port(),
        pop3: free_port(),
        sieve: free_port(),
    };
    let dovecot = Dovecot::start(&fx.dir("dovecot"), ports, &leaf.full, &leaf.key);
    let name = "imap.example.test";

    for (port, protocol) in [
        (ports.imap, Protocol::Imap),
        (ports.pop3, Protocol::Pop3),
        (ports.sieve, Protocol::Sieve),
    ] {
        for (versions, want) in [(Versions::Tls12, "TLSv1.2"), (Versions::Tls13, "TLSv1.3")] {
            let got = probe(port, name, protocol, versions)
                .unwrap_or_else(|e| panic!("{e}\n{}", dovecot.log()));
            leaf.assert_served(&got, want);
        }
    }

    // Each port speaks its own protocol: IMAP's greeting is no POP3 status.
    let err = probe(ports.imap, name, Protocol::Pop3, Versions::Any).expect_err("imap as pop3");
    assert_eq!(err.kind, ErrorKind::Garbage, "{err}");
    assert_line(&err, &["pop3: greeting not understood: \"* OK"]);
    // And ManageSieve's capability lines are no SMTP reply.
    let err = probe(ports.sieve, name, Protocol::Smtp, Versions::Any).expect_err("sieve as smtp");
    assert_eq!(err.kind, ErrorKind::Garbage, "{err}");
    assert_line(
        &err,
        &["smtp: greeting not understood: \"\"IMPLEMENTATION\" \"Dovecot"],
    );
}
