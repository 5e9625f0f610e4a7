//! The SSHSIG signature over a manifest (OpenSSH PROTOCOL.sshsig) and its
//! check against an allowed_signers file: the verdict of
//! `ssh-keygen -Y verify -f allowed_signers -I identity -n NAMESPACE`.

use ssh_key::{HashAlg, SshSig};

use crate::manifest::Manifest;
use crate::signers::Signer;

/// The SSHSIG namespace of manifests (PROTOCOL.sshsig: "the namespace
/// value ... prevents signature confusion"; ssh-keygen(1) asks for a
/// `name@domain` form for namespaces that are not its own). A signature
/// made for another purpose (`file`, `git`, `email`) never verifies as a
/// manifest, and a manifest signature never verifies as one of those.
pub const NAMESPACE: &str = "certdrop-manifest@certdrop";
/// Hash of the signed data: SHA-512, ssh-keygen's default
/// (PROTOCOL.sshsig allows "sha256" and "sha512").
pub const HASH: HashAlg = HashAlg::Sha512;

/// Parse an armored SSHSIG signature (`-----BEGIN SSH SIGNATURE-----`).
pub fn parse_signature(text: &[u8]) -> Result<SshSig, String> {
    SshSig::from_pem(text).map_err(|e| format!("not an SSH signature: {e}"))
}

/// Check that `sig` signs `msg` in [`NAMESPACE`], by a key that an entry of
/// `signers` allows for `identity` (any principal when `None`) at `now`;
/// the entry that allows it.
pub fn verify<'s>(
    msg: &[u8],
    sig: &SshSig,
    signers: &'s [Signer],
    identity: Option<&str>,
    now: i64,
) -> Result<&'s Signer, String> {
    if sig.namespace() != NAMESPACE {
        return Err(format!(
            "namespace '{}', expected '{NAMESPACE}'",
            sig.namespace()
        ));
    }
    let Some(signer) = signers
        .iter()
        .find(|s| s.accepts(sig.public_key(), NAMESPACE, identity, now))
    else {
        let whose = sig.public_key().fingerprint(HashAlg::Sha256);
        return Err(match identity {
            Some(id) => format!("signed by {whose}, not an allowed signer for '{id}'"),
            None => format!("signed by {whose}, not an allowed signer"),
        });
    };
    signer
        .key
        .verify(NAMESPACE, msg, sig)
        .map_err(|e| format!("bad signature: {e}"))?;
    Ok(signer)
}

/// Which file of a line directory a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `manifest`: it does not parse.
    Manifest,
    /// `manifest.sig`: it does not parse or does not verify.
    Signature,
}

impl Part {
    /// The file's name in the line directory.
    pub fn file(self) -> &'static str {
        match self {
            Part::Manifest => crate::MANIFEST,
            Part::Signature => crate::SIGNATURE,
        }
    }
}

/// A line's `manifest` and `manifest.sig` as read: the signature checked
/// first ([`verify`]), then the manifest parsed (only once it is known to
/// come from an allowed signer). The line name and the files it lists are
/// the caller's to compare, as they come from the directory.
pub fn signed<'s>(
    manifest: &[u8],
    signature: &[u8],
    signers: &'s [Signer],
    identity: Option<&str>,
    now: i64,
) -> Result<(Manifest, &'s Signer), (Part, String)> {
    let sig = parse_signature(signature).map_err(|e| (Part::Signature, e))?;
    let signer =
        verify(manifest, &sig, signers, identity, now).map_err(|e| (Part::Signature, e))?;
    let m = Manifest::parse(manifest).map_err(|e| (Part::Manifest, e))?;
    Ok((m, signer))
}
