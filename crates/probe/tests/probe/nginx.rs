//! Implicit TLS against a real nginx: TLS 1.2 and 1.3 with an ECDSA key,
//! TLS 1.2 with an RSA key, and an nginx with `ssl_protocols TLSv1.3` only.

use certdrop_probe::{ErrorKind, Protocol, Versions};
use certdrop_testkit::free_port;
use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::pki::KeyType;

use crate::{assert_line, probe, Fixture};

#[test]
fn nginx_tls12_and_tls13_serve_the_files() {
    let fx = Fixture::new();
    let both = fx.leaf("both.example.test", KeyType::P256);
    let rsa = fx.leaf("rsa.example.test", KeyType::Rsa2048);
    let only13 = fx.leaf("only13.example.test", KeyType::P384);
    let (p_both, p_rsa, p_13) = (free_port(), free_port(), free_port());
    let _nginx = Nginx::start(
        &fx.dir("nginx"),
        &[
            Server::new(p_both, "both.example.test", &both.full, &both.key),
            Server::new(p_rsa, "rsa.example.test", &rsa.full, &rsa.key).protocols("TLSv1.2"),
            Server::new(p_13, "only13.example.test", &only13.full, &only13.key)
                .protocols("TLSv1.3"),
        ],
    );
    let tls = Protocol::Tls;

    let got = probe(p_both, "both.example.test", tls, Versions::Tls12).expect("1.2");
    both.assert_served(&got, "TLSv1.2");
    let got = probe(p_both, "both.example.test", tls, Versions::Tls13).expect("1.3");
    both.assert_served(&got, "TLSv1.3");
    let got = probe(p_both, "both.example.test", tls, Versions::Any).expect("any");
    both.assert_served(&got, "TLSv1.3");
    // By address: no SNI, the port's default server.
    let got = probe(p_both, "127.0.0.1", tls, Versions::Any).expect("by IP");
    both.assert_served(&got, "TLSv1.3");

    // RSA signatures in TLS 1.2's ServerKeyExchange.
    let got = probe(p_rsa, "rsa.example.test", tls, Versions::Any).expect("rsa 1.2");
    rsa.assert_served(&got, "TLSv1.2");
    let err = probe(p_rsa, "rsa.example.test", tls, Versions::Tls13).expect_err("1.2 only");
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
    assert_line(&err, &["rsa.example.test", "tls: TLS handshake failed"]);

    // The modern recommendation: TLS 1.3 only.
    let got = probe(p_13, "only13.example.test", tls, Versions::Any).expect("1.3 only");
    only13.assert_served(&got, "TLSv1.3");
    let err = probe(p_13, "only13.example.test", tls, Versions::Tls12).expect_err("no 1.2");
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
    assert_line(
        &err,
        &[&format!(
            "127.0.0.1:{p_13} (only13.example.test): tls: TLS handshake failed"
        )],
    );
}

#[test]
fn nothing_listening_is_a_connect_failure() {
    let port = free_port();
    let err = probe(port, "down.example.test", Protocol::Tls, Versions::Any).expect_err("down");
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    assert_line(
        &err,
        &[&format!(
            "127.0.0.1:{port} (down.example.test): tls: connect failed"
        )],
    );
}
