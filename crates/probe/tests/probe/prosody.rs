//! XMPP STARTTLS, client-to-server and server-to-server, against a real
//! prosody, over TLS 1.2 and 1.3.

use certdrop_probe::{ErrorKind, Protocol, Versions};
use certdrop_testkit::free_port;
use certdrop_testkit::pki::KeyType;
use certdrop_testkit::prosody::{Ports, Prosody, DOMAIN};

use crate::{assert_line, probe, Fixture};

#[test]
fn prosody_c2s_and_s2s_serve_the_files() {
    let fx = Fixture::new();
    let leaf = fx.leaf(DOMAIN, KeyType::P256);
    let ports = Ports {
        c2s: free_port(),
        s2s: free_port(),
    };
    let prosody = Prosody::start(&fx.dir("prosody"), ports, &leaf.full, &leaf.key);

    for (port, protocol) in [
        (ports.c2s, Protocol::XmppClient),
        (ports.s2s, Protocol::XmppServer),
    ] {
        for (versions, want) in [(Versions::Tls12, "TLSv1.2"), (Versions::Tls13, "TLSv1.3")] {
            let got = probe(port, DOMAIN, protocol, versions)
                .unwrap_or_else(|e| panic!("{e}\n{}", prosody.log()));
            leaf.assert_served(&got, want);
        }
    }

    // A domain prosody does not serve: its stream error, named.
    let err = probe(
        ports.c2s,
        "other.example.test",
        Protocol::XmppClient,
        Versions::Any,
    )
    .expect_err("unknown host");
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert_line(
        &err,
        &["(other.example.test): xmpp-client: features refused: stream error: host-unknown"],
    );
}
