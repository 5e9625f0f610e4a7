//! Private keys never travel (DESIGN.md, "Publication"; issue 15): a
//! receiver refuses any received file that holds one, whatever its name
//! and even when it is signed, so that a signing site's mistake (a key
//! listed beside a certificate, a key appended to fullchain.pem) is never
//! installed world-readable somewhere else. Only PEM is looked for: every
//! file a manifest may list is PEM text, and a DER key in one fails the
//! parsers that read it.

/// The most bytes of a `-----BEGIN ` line looked at for its label: every
/// real label is far shorter.
const MAX_LABEL: usize = 80;

/// The label of the first PEM block in `data` that holds a private key
/// (`PRIVATE KEY`, `EC PRIVATE KEY`, `RSA PRIVATE KEY`, `ENCRYPTED PRIVATE
/// KEY`, `OPENSSH PRIVATE KEY`, any label naming one), or `None`. The label
/// is compared without regard to case, and a BEGIN line without its closing
/// dashes counts too: what a lenient parser could still read is refused.
pub fn private_key(data: &[u8]) -> Option<String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut rest = data;
    while let Some(at) = find(rest, BEGIN) {
        rest = &rest[at + BEGIN.len()..];
        let end = rest
            .iter()
            .take(MAX_LABEL)
            .position(|&b| b == b'\n' || b == b'\r' || b == b'-')
            .unwrap_or(rest.len().min(MAX_LABEL));
        let label = String::from_utf8_lossy(&rest[..end]);
        if label.to_ascii_uppercase().contains("PRIVATE KEY") {
            return Some(label.trim().to_string());
        }
    }
    None
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_private_key_label_and_nothing_else() {
        for label in [
            "PRIVATE KEY",
            "EC PRIVATE KEY",
            "RSA PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
        ] {
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\
                 -----BEGIN {label}-----\nMIIE\n-----END {label}-----\n"
            );
            assert_eq!(private_key(pem.as_bytes()).as_deref(), Some(label));
        }
        assert_eq!(
            private_key(b"x\n-----BEGIN ec private key\n").as_deref(),
            Some("ec private key")
        );
        for clean in [
            &b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"[..],
            b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
            b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
            b"",
            b"-----BEGIN ",
        ] {
            assert_eq!(private_key(clean), None);
        }
    }
}
