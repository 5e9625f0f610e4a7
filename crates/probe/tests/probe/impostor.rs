//! The handshake signature is checked although the certificate is not:
//! a server that shows a certificate whose key it does not hold (a copy
//! of the public file) is refused, over TLS 1.2 (ServerKeyExchange) and
//! 1.3 (CertificateVerify). No real server can be configured to do this
//! (nginx, postfix and the rest check that key and certificate match), so
//! the server is rustls with a certificate resolver that pairs them wrong;
//! the same server with the right key is the control.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use certdrop_probe::{ErrorKind, Protocol, Versions};
use certdrop_testkit::pki::KeyType;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection};

use crate::{assert_line, der, probe, Fixture};

/// Always the same certificate and key, matching or not.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A PKCS#8 DER key from a PEM key file, by openssl.
fn pkcs8(key: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(key)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl pkcs8");
    out.stdout
}

/// A TLS server on a loopback port showing `cert` and signing with `key`,
/// for `n` connections; its port.
fn serve(cert: &Path, key: &Path, n: usize) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signer = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8(key))))
        .expect("key");
    let certified = CertifiedKey::new(vec![CertificateDer::from(der(cert))], signer);
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::new(certified))));
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut stream) = stream else { continue };
            let mut conn = ServerConnection::new(config.clone()).expect("server");
            while conn.is_handshaking() {
                if conn.complete_io(&mut stream).is_err() {
                    break;
                }
            }
        }
    });
    port
}

#[test]
fn a_server_without_the_key_is_refused() {
    let fx = Fixture::new();
    let leaf = fx.leaf("www.example.test", KeyType::P256);
    let other = fx.leaf("other.example.test", KeyType::P256);
    let name = "www.example.test";

    let honest = serve(&leaf.cert, &leaf.key, 2);
    for (versions, want) in [(Versions::Tls12, "TLSv1.2"), (Versions::Tls13, "TLSv1.3")] {
        let got = probe(honest, name, Protocol::Tls, versions).expect("the control");
        assert_eq!(got.version, want);
        assert!(got.certs == [der(&leaf.cert)], "the leaf alone");
    }

    let impostor = serve(&leaf.cert, &other.key, 2);
    for versions in [Versions::Tls12, Versions::Tls13] {
        let err = probe(impostor, name, Protocol::Tls, versions).expect_err("wrong key");
        assert_eq!(err.kind, ErrorKind::Tls, "{err}");
        assert_line(
            &err,
            &["tls: TLS handshake failed: invalid peer certificate: BadSignature"],
        );
    }
}
