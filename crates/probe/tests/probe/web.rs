//! Implicit TLS against the other web servers certdrop-trigger deploys to
//! (Apache httpd, HAProxy, nghttpx), each as Debian ships it with its
//! default protocol settings, over TLS 1.2 and TLS 1.3: what certdrop
//! sees is the files the server was given, whichever version it speaks.

use certdrop_probe::{Protocol, Versions};
use certdrop_testkit::apache::Apache;
use certdrop_testkit::free_port;
use certdrop_testkit::haproxy::Haproxy;
use certdrop_testkit::nghttpx::Nghttpx;
use certdrop_testkit::pki::KeyType;

use crate::{probe, Fixture, Leaf};

/// Probe `port` for `name` over TLS 1.2, then TLS 1.3; both must be `leaf`.
#[track_caller]
fn both_versions(port: u16, name: &str, leaf: &Leaf, server: &str) {
    for (versions, want) in [(Versions::Tls12, "TLSv1.2"), (Versions::Tls13, "TLSv1.3")] {
        let got = probe(port, name, Protocol::Tls, versions)
            .unwrap_or_else(|e| panic!("{server} over {want}: {e}"));
        leaf.assert_served(&got, want);
    }
}

#[test]
fn apache_serves_its_files_over_tls12_and_tls13() {
    let fx = Fixture::new();
    let leaf = fx.leaf("apache.example.test", KeyType::P256);
    let port = free_port();
    let _apache = Apache::start(
        &fx.dir("apache"),
        port,
        "apache.example.test",
        &leaf.full,
        &leaf.key,
    );
    both_versions(port, "apache.example.test", &leaf, "apache");
}

#[test]
fn haproxy_serves_its_files_over_tls12_and_tls13() {
    let fx = Fixture::new();
    let leaf = fx.leaf("haproxy.example.test", KeyType::Rsa2048);
    // HAProxy's crt: the chain and the key in one file.
    let crt = fx.dir("haproxy-crt").join("www.pem");
    let full = std::fs::read(&leaf.full).expect("fullchain");
    let key = std::fs::read(&leaf.key).expect("key");
    std::fs::write(&crt, [full, key].concat()).expect("crt");
    let port = free_port();
    let _haproxy = Haproxy::start(&fx.dir("haproxy"), port, &crt);
    both_versions(port, "haproxy.example.test", &leaf, "haproxy");
}

#[test]
fn nghttpx_serves_its_files_over_tls12_and_tls13() {
    let fx = Fixture::new();
    let leaf = fx.leaf("nghttpx.example.test", KeyType::P384);
    let port = free_port();
    let _nghttpx = Nghttpx::start(&fx.dir("nghttpx"), port, &leaf.full, &leaf.key);
    both_versions(port, "nghttpx.example.test", &leaf, "nghttpx");
}
