//! The ACME side (RFC 8555): the stored account credentials (0600), the
//! classification of CA errors into the exit contract, and which faults are
//! transient (badNonce, 5xx, 429, broken or stalled exchanges; `client.rs`
//! is the HTTP client that reports them, `retry.rs` the policy that retries
//! them). It knows nothing of the account verbs (`account.rs` builds on it,
//! never the other way round).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use certdrop_core::exit::Failure;
use instant_acme::AccountCredentials;

use certdrop_core::error::{Error, Result};

use crate::client::{fault, FaultKind};

/// Is this a fault worth retrying inside the run? Every endpoint's 5xx and
/// 429, badNonce, a broken connection or one that cannot be made, and an
/// answer that is not what ACME promises (a proxy's error page).
pub fn is_transient(e: &instant_acme::Error) -> bool {
    match e {
        instant_acme::Error::Api(p) => {
            let t = p.r#type.as_deref().unwrap_or("");
            t.ends_with(":badNonce")
                || t.ends_with(":rateLimited")
                || t.ends_with(":serverInternal")
                || p.status.is_some_and(|s| s >= 500 || s == 429)
        }
        instant_acme::Error::Other(_) => match fault(e) {
            Some(f) => match f.kind {
                FaultKind::Status(s) => s >= 500 || s == 429,
                FaultKind::Connect(_) | FaultKind::Lost(_) | FaultKind::Stalled(_) => true,
            },
            None => true,
        },
        // instant-acme's words for a newNonce answer without a nonce.
        instant_acme::Error::Str(s) => s.contains("newNonce"),
        instant_acme::Error::Json(_) | instant_acme::Error::Hyper(_) => true,
        // An order poll that used up its own time (validation_timeout,
        // the issuance timeout): polling again would double it.
        instant_acme::Error::Timeout(_) => false,
        _ => false,
    }
}

/// The ACME problem types (RFC 8555 §6.7, RFC 8657, RFC 9773) that no
/// retry can fix, with the exit class: 78 where the configuration or the
/// account must change, 65 where the request itself is wrong. The rest
/// (validation failures, unknown types) are temporary.
const PERMANENT: &[(&str, Failure)] = &[
    ("accountDoesNotExist", Failure::Config),
    ("externalAccountRequired", Failure::Config),
    ("userActionRequired", Failure::Config),
    ("unauthorized", Failure::Config),
    ("invalidContact", Failure::Config),
    ("unsupportedContact", Failure::Config),
    ("badSignatureAlgorithm", Failure::Config),
    ("alreadyRevoked", Failure::Data),
    ("badRevocationReason", Failure::Data),
    ("badCSR", Failure::Data),
    ("badPublicKey", Failure::Data),
    ("caa", Failure::Data),
    ("rejectedIdentifier", Failure::Data),
    ("unsupportedIdentifier", Failure::Data),
    ("malformed", Failure::Data),
];

/// The class of a problem type no retry can fix, if `kind` is one.
pub fn permanent(kind: &str) -> Option<Failure> {
    let short = kind.trim_start_matches("urn:ietf:params:acme:error:");
    PERMANENT
        .iter()
        .find(|(k, _)| *k == short)
        .map(|(_, class)| *class)
}

/// Class of a CA error for the exit contract.
pub fn classify(e: &instant_acme::Error) -> Failure {
    match e {
        instant_acme::Error::Api(p) => match is_transient(e) {
            true => Failure::Temporary,
            false => p
                .r#type
                .as_deref()
                .and_then(permanent)
                .unwrap_or(Failure::Temporary),
        },
        instant_acme::Error::Other(_) => match fault(e).map(|f| &f.kind) {
            Some(FaultKind::Connect(_)) | None => Failure::Unavailable,
            Some(FaultKind::Lost(_)) | Some(FaultKind::Stalled(_)) => Failure::Temporary,
            Some(FaultKind::Status(_)) => match is_transient(e) {
                true => Failure::Temporary,
                false => Failure::Unavailable,
            },
        },
        instant_acme::Error::Hyper(_) => Failure::Unavailable,
        instant_acme::Error::Str(_) if is_transient(e) => Failure::Temporary,
        instant_acme::Error::Json(_) | instant_acme::Error::Timeout(_) => Failure::Temporary,
        _ => Failure::Software,
    }
}

/// One line for a CA error: the problem's type and detail, or the cause.
pub fn describe(e: &instant_acme::Error) -> String {
    match e {
        instant_acme::Error::Api(p) => {
            let t = p
                .r#type
                .as_deref()
                .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"))
                .unwrap_or("error");
            let mut s = format!("{t}: {}", p.detail.as_deref().unwrap_or("(no detail)"));
            // Each subproblem with the name it concerns (RFC 8555 §6.7.1).
            for sub in &p.subproblems {
                let name = sub
                    .identifier
                    .as_ref()
                    .map(|i| i.authorized(false).to_string());
                let kind = sub
                    .r#type
                    .as_deref()
                    .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"));
                let parts: Vec<&str> = [name.as_deref(), kind, sub.detail.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                s.push_str(&format!("; {}", parts.join(": ")));
            }
            s.replace(['\n', '\r'], " ")
        }
        other => {
            // Flatten the source chain into one line (hyper's errors nest).
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(cause) = src {
                s.push_str(&format!(": {cause}"));
                src = cause.source();
            }
            s.replace('\n', " ")
        }
    }
}

/// Turn a CA error into ours, saying what we were doing.
pub fn error(action: &str, e: &instant_acme::Error) -> Error {
    Error::new(classify(e), format!("{action}: {}", describe(e)))
}

/// Read stored account credentials, refusing a file others can read.
pub fn read_credentials(path: &Path) -> Result<Option<AccountCredentials>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, "read account", &e)),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::data(format!(
            "{}: refused: account credentials are readable by group or others (mode {:03o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read account", &e))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::data(format!("{}: not account credentials: {e}", path.display())))
}

/// Write account credentials atomically, 0600.
pub fn write_credentials(path: &Path, creds: &AccountCredentials) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            certdrop_core::atomic::ensure_dir(dir, certdrop_core::atomic::MODE_SECRET_DIR)
                .map_err(|e| Error::io(dir, "create directory", &e))?;
        }
    }
    let mut json = serde_json::to_vec_pretty(creds).expect("credentials serialize");
    json.push(b'\n');
    certdrop_core::atomic::write(path, &json, certdrop_core::atomic::MODE_SECRET)
        .map_err(|e| Error::io(path, "write account", &e))
}

/// The directory URL recorded in stored credentials.
pub fn credentials_directory(creds: &AccountCredentials) -> Option<String> {
    serde_json::to_value(creds)
        .ok()?
        .get("directory")?
        .as_str()
        .map(str::to_owned)
}

/// AccountCredentials is not Clone; a JSON round trip copies it.
pub fn clone_credentials(c: &AccountCredentials) -> AccountCredentials {
    serde_json::from_value(serde_json::to_value(c).expect("credentials serialize"))
        .expect("credentials round-trip")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Fault;

    #[test]
    fn a_newnonce_fault_is_transient_and_temporary() {
        for status in [500, 502, 503, 429] {
            let e = Fault::error("HEAD https://ca/nonce", FaultKind::Status(status));
            assert!(is_transient(&e), "{status}");
            assert_eq!(classify(&e), Failure::Temporary, "{status}");
            assert_eq!(
                error("www: new order", &e).msg,
                format!("www: new order: HEAD https://ca/nonce: HTTP {status}")
            );
        }
        // instant-acme's own words when a nonce is missing: never 70.
        let e = instant_acme::Error::Str("error response from newNonce resource");
        assert!(is_transient(&e));
        assert_eq!(classify(&e), Failure::Temporary);
        let lost = Fault::error("POST https://ca/order", FaultKind::Lost("reset".into()));
        assert!(is_transient(&lost));
        assert_eq!(classify(&lost), Failure::Temporary);
        let down = Fault::error("GET https://ca/dir", FaultKind::Connect("refused".into()));
        assert!(is_transient(&down));
        assert_eq!(classify(&down), Failure::Unavailable);
    }

    fn problem(value: serde_json::Value) -> instant_acme::Error {
        instant_acme::Error::Api(serde_json::from_value(value).expect("problem"))
    }

    #[test]
    fn problems_no_retry_can_fix_are_65_or_78_with_the_whole_document() {
        let table = [
            ("unauthorized", Failure::Config),
            ("externalAccountRequired", Failure::Config),
            ("userActionRequired", Failure::Config),
            ("accountDoesNotExist", Failure::Config),
            ("alreadyRevoked", Failure::Data),
            ("rejectedIdentifier", Failure::Data),
            ("badCSR", Failure::Data),
            ("caa", Failure::Data),
            ("badRevocationReason", Failure::Data),
            ("malformed", Failure::Data),
            ("unsupportedIdentifier", Failure::Data),
            // Validation failures and types we do not know stay temporary.
            ("incorrectResponse", Failure::Temporary),
            ("dns", Failure::Temporary),
            ("somethingNew", Failure::Temporary),
        ];
        for (kind, class) in table {
            let e = problem(serde_json::json!({
                "type": format!("urn:ietf:params:acme:error:{kind}"),
                "detail": "d",
                "status": 403,
            }));
            assert_eq!(classify(&e), class, "{kind}");
            assert!(!is_transient(&e), "{kind}");
        }
        let e = problem(serde_json::json!({
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "Error creating new order\n2 identifiers refused",
            "status": 400,
            "subproblems": [
                {"type": "urn:ietf:params:acme:error:caa",
                 "detail": "CAA forbids issuance",
                 "identifier": {"type": "dns", "value": "a.example.org"}},
                {"type": "urn:ietf:params:acme:error:rejectedIdentifier",
                 "detail": "policy forbids",
                 "identifier": {"type": "dns", "value": "b.example.org"}},
            ],
        }));
        let err = error("www: new order", &e);
        assert_eq!(err.class, Failure::Data);
        assert_eq!(
            err.msg,
            "www: new order: rejectedIdentifier: Error creating new order 2 identifiers refused; \
             a.example.org: caa: CAA forbids issuance; b.example.org: rejectedIdentifier: policy forbids"
        );
    }
}
