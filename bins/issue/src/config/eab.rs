//! The account's External Account Binding (RFC 8555 §7.3.4): `eab = { kid
//! = "...", hmac_key_file = "..." }`, as ZeroSSL, Google Trust Services and
//! most enterprise CAs require. The configuration names the key's file, not
//! the key: the file is read only when the account is created
//! ([`Eab::read_key`]), refused when others may read it, and its content
//! never reaches an error message or a log line.

use std::path::{Path, PathBuf};

use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
use serde::Deserialize;
use toml::Spanned;

use super::Locator;
use certdrop_core::error::{Error, Result};

/// `eab` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEab {
    kid: Spanned<String>,
    hmac_key_file: PathBuf,
}

/// A validated binding: the CA's key identifier and where its HMAC key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eab {
    /// The key identifier the CA handed out (`kid` of the binding's JWS).
    pub kid: String,
    /// The file holding the base64url HMAC key.
    pub hmac_key_file: PathBuf,
}

/// Longest key file read: CAs hand out keys of 32 to 64 bytes.
const MAX_KEY_FILE: u64 = 4096;

impl RawEab {
    /// Validate: a printable, non-empty kid; the path made absolute.
    pub(super) fn validate(self, loc: &Locator, abs: &dyn Fn(&Path) -> PathBuf) -> Result<Eab> {
        let kid = self.kid.get_ref();
        if kid.is_empty() || kid.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(loc.err(
                self.kid.span(),
                "eab.kid",
                "the key identifier the CA gave, without blanks",
            ));
        }
        Ok(Eab {
            kid: kid.clone(),
            hmac_key_file: abs(&self.hmac_key_file),
        })
    }
}

impl Eab {
    /// The HMAC key: the file checked like a private key (not readable by
    /// group or others), read, and decoded from base64url (padding and
    /// surrounding blanks tolerated, as CAs' web pages add them).
    pub fn read_key(&self) -> Result<Vec<u8>> {
        let path = &self.hmac_key_file;
        let io = |e: &std::io::Error| Error::io(path, "read EAB HMAC key", e);
        let file = std::fs::File::open(path).map_err(|e| io(&e))?;
        let meta = file.metadata().map_err(|e| io(&e))?;
        certdrop_core::keymode::check(path, &meta, None)?;
        if meta.len() > MAX_KEY_FILE {
            return Err(Error::data(format!(
                "{}: EAB HMAC key file is larger than {MAX_KEY_FILE} bytes",
                path.display()
            )));
        }
        let text = std::io::read_to_string(file).map_err(|e| io(&e))?;
        let text = text.trim().trim_end_matches('=');
        // Never echo the text: a wrong file may still hold a secret.
        let key = BASE64_URL_SAFE_NO_PAD.decode(text).map_err(|_| {
            Error::config(format!(
                "{}: not a base64url HMAC key (as the CA hands it out)",
                path.display()
            ))
        })?;
        if key.is_empty() {
            return Err(Error::config(format!(
                "{}: empty EAB HMAC key",
                path.display()
            )));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certdrop_core::exit::Failure;
    use std::os::unix::fs::PermissionsExt;

    fn eab_with(dir: &Path, content: &str, mode: u32) -> Eab {
        let path = dir.join("eab.key");
        std::fs::write(&path, content).expect("write key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        Eab {
            kid: "kid-1".into(),
            hmac_key_file: path,
        }
    }

    #[test]
    fn the_key_is_base64url_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
        let eab = eab_with(dir.path(), &format!("{key}\n"), 0o600);
        assert_eq!(eab.read_key().expect("key").len(), 48);

        let open = eab_with(dir.path(), key, 0o644);
        let e = open.read_key().expect_err("readable by others");
        assert_eq!(e.class, Failure::Data);
        assert!(
            e.msg.contains("refused: private key is readable"),
            "{}",
            e.msg
        );
        assert!(!e.msg.contains(key), "{}", e.msg);

        let bad = eab_with(dir.path(), "not base64! secret", 0o600);
        let e = bad.read_key().expect_err("not base64url");
        assert_eq!(e.class, Failure::Config);
        assert!(!e.msg.contains("secret"), "{}", e.msg);
    }
}
