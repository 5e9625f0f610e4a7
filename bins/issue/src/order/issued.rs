//! What the CA sent, checked before anything is installed: a parsable
//! chain in order without the trust anchor, the leaf for the line's key and
//! exactly its names, valid now.

use certdrop_core::certinfo::{self, CertInfo};
use certdrop_core::clock;
use certdrop_core::store::CertFiles;

use super::Request;
use crate::config::Line;

/// Take a trailing self-signed root off the chain: RFC 8555 §9.1 lets the
/// CA send it (some append it; for some the issuing certificate is the root
/// itself), but a trust anchor is not sent by a server (RFC 8446 §4.4.2)
/// and publish's gate refuses it, so it is neither stored nor published.
/// It must still be the issuer of the certificate before it.
fn drop_anchor(chain: &mut Vec<CertInfo>) -> std::result::Result<(), String> {
    let anchored = chain.len() > 1
        && chain
            .last()
            .is_some_and(|root| root.issuer_raw == root.subject_raw);
    if !anchored {
        return Ok(());
    }
    let root = chain.pop().expect("more than one");
    let last = chain.last().expect("one left");
    if last.issuer_raw != root.subject_raw {
        return Err(format!(
            "chain out of order: certificate {} was issued by '{}', next is '{}'",
            chain.len() - 1,
            last.issuer,
            root.subject
        ));
    }
    Ok(())
}

/// Check what the CA sent before anything is installed: a parsable chain in
/// order, the leaf for our key and exactly our names, valid now.
pub fn check_issued(
    line: &Line,
    req: &Request<'_>,
    pem: &[u8],
) -> std::result::Result<CertFiles, String> {
    let mut chain = certinfo::parse_chain(pem)?;
    drop_anchor(&mut chain)?;
    certinfo::check_chain_order(&chain)?;
    let leaf: &CertInfo = &chain[0];
    if leaf.spki != req.spki {
        return Err("its public key is not the line's key".into());
    }
    let want = line.name_set();
    let got = certinfo::name_set(&leaf.names);
    if want != got {
        return Err(format!("names {got:?} differ from the line's {want:?}"));
    }
    let now = clock::now();
    if leaf.not_after <= now || leaf.not_before > now + 300 {
        return Err(format!(
            "not valid now ({} to {})",
            clock::rfc3339(leaf.not_before),
            clock::rfc3339(leaf.not_after)
        ));
    }
    let cert = certinfo::to_pem("CERTIFICATE", &leaf.der);
    let chain_pem: String = chain[1..]
        .iter()
        .map(|c| certinfo::to_pem("CERTIFICATE", &c.der))
        .collect();
    Ok(CertFiles {
        fullchain: format!("{cert}{chain_pem}").into_bytes(),
        cert: cert.into_bytes(),
        chain: chain_pem.into_bytes(),
        pubkey: crate::keys::public_pem(&leaf.spki).into_bytes(),
    })
}
