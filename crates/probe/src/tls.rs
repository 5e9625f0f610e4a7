//! The TLS handshake, by rustls, with a certificate verifier that trusts
//! nothing and records everything: the chain the server sends is the
//! probe's result, and the caller compares those bytes with what it trusts
//! (the file it deployed, DNSSEC-signed TLSA records). No CA store, no name
//! check, no validity dates: a self-signed, expired or misnamed
//! certificate must be reported as served, not hidden behind an error.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ProtocolVersion, SignatureScheme,
};

use crate::error::{ErrorKind, Fail};
use crate::wire::Wire;
use crate::{Served, Versions};

/// The step's name in errors.
const STEP: &str = "TLS handshake";

/// Accepts any certificate and keeps the chain it was shown.
///
/// The handshake signatures are still checked, with the provider's
/// algorithms, against the key of the certificate shown: a server that
/// shows a certificate whose private key it does not hold (a copy of the
/// public file, a relay in the middle) is refused rather than reported as
/// serving it. Without that check "served" would only mean "somebody sent
/// these bytes", which anyone can do with a public certificate.
#[derive(Debug)]
struct Recorder {
    provider: Arc<CryptoProvider>,
    chain: Mutex<Vec<Vec<u8>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        // A poisoned lock only means a panic elsewhere; the data is ours alone.
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The name rustls is given: an IP literal (no SNI is sent for it, RFC
/// 6066 §3) or a DNS name (sent as SNI).
fn server_name(name: &str) -> Result<ServerName<'static>, Fail> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.trim_end_matches('.').to_owned())
        .map_err(|e| Fail::new("server name", ErrorKind::Input, format!("{name:?}: {e}")))
}

/// Run the handshake on `wire` (after any STARTTLS go-ahead) and return the
/// chain the server sent with the version agreed.
pub(crate) fn handshake(wire: &mut Wire, name: &str, versions: Versions) -> Result<Served, Fail> {
    let provider = Arc::new(crate::provider());
    let recorder = Arc::new(Recorder {
        provider: provider.clone(),
        chain: Mutex::new(Vec::new()),
    });
    let versions: &[&rustls::SupportedProtocolVersion] = match versions {
        Versions::Any => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Versions::Tls12 => &[&rustls::version::TLS12],
        Versions::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| Fail::new(STEP, ErrorKind::Tls, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    // One probe, one connection: nothing to resume, nothing to remember.
    config.resumption = Resumption::disabled();
    let mut conn = ClientConnection::new(Arc::new(config), server_name(name)?)
        .map_err(|e| Fail::new(STEP, ErrorKind::Tls, e.to_string()))?;
    wire.expect_drained(STEP)?;

    while conn.is_handshaking() {
        while conn.wants_write() {
            conn.write_tls(wire).map_err(|e| wire.fail(STEP, &e))?;
        }
        if !conn.is_handshaking() {
            break;
        }
        let n = conn.read_tls(wire).map_err(|e| wire.fail(STEP, &e))?;
        if n == 0 {
            return Err(Fail::new(
                STEP,
                ErrorKind::Closed,
                "connection closed by the server",
            ));
        }
        if let Err(e) = conn.process_new_packets() {
            // The alert that says why, as a courtesy to the server's log.
            let _ = conn.write_tls(wire);
            return Err(Fail::new(STEP, ErrorKind::Tls, e.to_string()));
        }
    }
    // Our Finished, then close_notify; the server's answer does not matter.
    conn.send_close_notify();
    while conn.wants_write() {
        if conn.write_tls(wire).is_err() {
            break;
        }
    }

    let version = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
        other => {
            return Err(Fail::new(
                STEP,
                ErrorKind::Tls,
                format!("unexpected version {other:?}"),
            ))
        }
    };
    let certs = std::mem::take(&mut *recorder.chain.lock().unwrap_or_else(|e| e.into_inner()));
    if certs.is_empty() {
        return Err(Fail::new(STEP, ErrorKind::Tls, "no certificate received"));
    }
    Ok(Served { certs, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_get_no_sni_names_do() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("mail.example.org."),
            Ok(ServerName::DnsName(_))
        ));
        let bad = server_name("not a name").expect_err("spaces");
        assert_eq!(bad.kind, ErrorKind::Input);
    }
}
