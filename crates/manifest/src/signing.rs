//! Signing manifests with an OpenSSH ed25519 key in the SSHSIG format
//! (OpenSSH PROTOCOL.sshsig), so a receiver checks them with
//! `ssh-keygen -Y verify -n certdrop-manifest@certdrop` or with
//! `certdrop-publish verify`. certdrop-publish signs pub/'s manifests with
//! the publisher's key; certdrop-trigger signs a service site's CSR outbox
//! ([`crate::outbox`]) with that site's own key. The one file this crate
//! reads is that key, with the untrusted-file reader's care.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{HASH, NAMESPACE};
use certdrop_core::error::Error;
use certdrop_core::untrusted::{self, Rules, MAX_FILE};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, SshSig};
use zeroize::Zeroizing;

/// Permission bits a signing key must not have: any access by group or
/// others, the rule ssh(1) applies to private keys.
const MODE_FORBIDDEN: u32 = 0o077;

/// The manifest signing key, loaded and checked.
pub struct SigningKey {
    key: PrivateKey,
}

impl SigningKey {
    /// Load an unencrypted OpenSSH ed25519 private key (as made by
    /// `ssh-keygen -t ed25519 -N ''`), refusing it if group or others may
    /// access the file. Unreadable is 66, unusable 65.
    pub fn load(path: &Path) -> Result<SigningKey, Error> {
        let subject = format!("{}: signing key", path.display());
        let data = |why: String| Error::data(format!("{subject}: {why}"));
        let missing = |why: String| Error::noinput(format!("{subject}: {why}"));
        // The path is the administrator's: links in it are followed, but
        // what they lead to must be a regular file, opened once, checked
        // and read through the same descriptor.
        let real = std::fs::canonicalize(path).map_err(|e| missing(format!("cannot open: {e}")))?;
        // Its class as the untrusted reader classes it (a FIFO or a
        // directory is 65, an unreadable file 66), named as the key.
        let file = untrusted::open(&real, &Rules::default())
            .map_err(|r| Error::new(r.error(&real).class, format!("{subject}: {r}")))?;
        let meta = file
            .metadata()
            .map_err(|e| missing(format!("cannot read: {e}")))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & MODE_FORBIDDEN != 0 {
            return Err(data(format!(
                "refused: mode {mode:04o} lets group or others read it (chmod 600)"
            )));
        }
        let mut pem = Zeroizing::new(Vec::new());
        file.take(MAX_FILE)
            .read_to_end(&mut pem)
            .map_err(|e| missing(format!("cannot read: {e}")))?;
        let key = PrivateKey::from_openssh(&*pem).map_err(|e| match e {
            // Only ed25519 support is compiled in: other types do not parse.
            ssh_key::Error::AlgorithmUnknown => {
                data("not an ed25519 key (ssh-keygen -t ed25519)".into())
            }
            e => data(format!("not an OpenSSH private key: {e}")),
        })?;
        if key.is_encrypted() {
            return Err(data(
                "encrypted with a passphrase; an unattended publisher needs an unencrypted key"
                    .into(),
            ));
        }
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(data(format!("not an ed25519 key but {}", key.algorithm())));
        }
        Ok(SigningKey { key })
    }

    /// Sign `msg` as a manifest: the armored SSHSIG text (`-----BEGIN SSH
    /// SIGNATURE-----`) `ssh-keygen -Y sign` would write. The signature is
    /// checked against the public key before it is returned.
    /// A key that loaded and does not sign is a fault of ours or of the
    /// library (70), not of the input.
    pub fn sign(&self, msg: &[u8]) -> Result<String, Error> {
        let sig = self
            .key
            .sign(NAMESPACE, HASH, msg)
            .map_err(|e| Error::software(format!("cannot sign: {e}")))?;
        self.key
            .public_key()
            .verify(NAMESPACE, msg, &sig)
            .map_err(|e| Error::software(format!("signature does not verify: {e}")))?;
        sig.to_pem(LineEnding::LF)
            .map_err(|e| Error::software(format!("cannot encode signature: {e}")))
    }

    /// Check a manifest signature against this key's public half.
    pub fn verify(&self, msg: &[u8], sig: &SshSig) -> Result<(), Error> {
        self.key
            .public_key()
            .verify(NAMESPACE, msg, sig)
            .map_err(|e| Error::data(format!("bad signature: {e}")))
    }

    /// `SHA256:...` fingerprint of the public key, as ssh-keygen -l prints.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write a throwaway ed25519 key (fixed seed) in OpenSSH format.
    fn write(dir: &Path, mode: u32) -> std::path::PathBuf {
        let pair = ssh_key::private::Ed25519Keypair::from_seed(&[7; 32]);
        let key = PrivateKey::new(pair.into(), "test-key").expect("key");
        let p = dir.join("key");
        std::fs::write(&p, key.to_openssh(LineEnding::LF).expect("pem").as_bytes()).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    #[test]
    fn signs_and_refuses_an_open_key_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = write(tmp.path(), 0o600);
        let key = SigningKey::load(&path).expect("load");
        let pem = key.sign(b"manifest").expect("sign");
        let sig = crate::sshsig::parse_signature(pem.as_bytes()).expect("parse");
        assert_eq!(sig.namespace(), NAMESPACE);
        assert_eq!(sig.hash_alg(), HashAlg::Sha512);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let e = SigningKey::load(&path).err().expect("group-readable");
        assert_eq!(e.class, certdrop_core::exit::Failure::Data);
        assert!(e
            .msg
            .ends_with("refused: mode 0640 lets group or others read it (chmod 600)"));
        let e = SigningKey::load(&tmp.path().join("none"))
            .err()
            .expect("missing");
        assert_eq!(e.class, certdrop_core::exit::Failure::NoInput);
    }
}
