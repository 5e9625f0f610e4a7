//! The keys of a CSR line, which certdrop never holds (`csr = FILE`): the
//! CSR file requests the line's current key; a `next.csr.pem` beside it
//! (or a CSR file for another key than the certificate's) stages the next
//! key. Its public half is published as `certs/<line>/next/pubkey.pem`,
//! like a generated next key's, so the zone serves TLSA records for both
//! and the DANE-safe rollover (RFC 7671 §8.1, `rollover.rs`) gates the
//! switch the same way. Every CSR is checked before anything is done with
//! it: one PKCS#10 request (RFC 2986) whose signature verifies, for exactly
//! the line's names, with a key a CA accepts (ECDSA P-256/P-384, RSA of at
//! least 2048 bits). A CSR that fails is refused in one line and changes
//! nothing. The remote site wrote the CSRs: both are read from one version
//! of the inbox (its link resolved once), as untrusted files (regular,
//! bounded, never a FIFO).

use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use certdrop_core::certinfo::{self, CertInfo, CsrInfo};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::config::{Config, KeyPolicy, Line};
use crate::lifecycle::{self, Plan, Reason, Signer};
use crate::state::LineState;
use certdrop_core::error::{Error, Result};
use certdrop_core::untrusted::{self, Refused};

/// The file beside a line's CSR that stages its next key.
pub const NEXT_CSR: &str = "next.csr.pem";

/// The smallest RSA modulus accepted (CA/Browser Forum baseline).
const RSA_MIN_BITS: usize = 2048;

/// The largest RSA modulus accepted (what the verifier handles).
const RSA_MAX_BITS: usize = 8192;

/// `next.csr.pem` beside `csr`.
pub fn next_csr_path(csr: &Path) -> PathBuf {
    csr.with_file_name(NEXT_CSR)
}

/// A CSR line's requests, read and checked.
pub struct Csrs {
    /// The CSR file the line names.
    pub current: CsrInfo,
    /// Its path.
    pub current_path: PathBuf,
    /// `next.csr.pem`, if present and sound.
    pub next: Option<CsrInfo>,
    /// Its path.
    pub next_path: PathBuf,
    /// Why a `next.csr.pem` present was refused: reported, while the
    /// line goes on with its current key and a key already staged stays.
    pub next_error: Option<Error>,
}

impl Csrs {
    /// The request for the key with `spki` (the certificate's), if any:
    /// renewals reuse it, so TLSA `3 1 1` stays valid.
    pub fn for_key(&self, spki: &[u8]) -> Option<&CsrInfo> {
        [Some(&self.current), self.next.as_ref()]
            .into_iter()
            .flatten()
            .find(|c| c.spki == spki)
    }

    /// The staged next key's request, given the certificate's key: the
    /// next CSR, else the CSR file, whichever it is, if its key differs.
    /// None while a `next.csr.pem` is refused (nothing is staged from it).
    pub fn staged(&self, spki: &[u8]) -> Option<(&CsrInfo, &Path)> {
        if self.next_error.is_some() {
            return None;
        }
        let (csr, path) = match &self.next {
            Some(n) => (n, self.next_path.as_path()),
            None => (&self.current, self.current_path.as_path()),
        };
        (csr.spki != spki).then_some((csr, path))
    }
}

/// The line's CSRs, or None for a line whose keys certdrop holds. A CSR
/// file missing or refused is the line's error; a refused `next.csr.pem`
/// is kept in [`Csrs::next_error`]. Both files are read from one version
/// of their directory (see [`version_dir`]).
pub fn load(line: &Line) -> Result<Option<Csrs>> {
    let KeyPolicy::Csr(path) = &line.key_policy else {
        return Ok(None);
    };
    let next_path = next_csr_path(path);
    let dir = version_dir(path);
    let current = match read_in(&dir, path) {
        Ok(Some(pem)) => check_csr(&pem, path, line)?,
        Ok(None) => {
            return Err(Error::noinput(format!(
                "{}: read CSR: no such file",
                path.display()
            )))
        }
        Err(e) => return Err(e),
    };
    // Only a next.csr.pem that is not there is none: one that cannot be
    // read is refused, so that it withdraws no key already staged.
    let (next, next_error) = match read_in(&dir, &next_path) {
        Ok(None) => (None, None),
        Ok(Some(pem)) => match check_csr(&pem, &next_path, line) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        },
        Err(e) => (None, Some(e)),
    };
    Ok(Some(Csrs {
        current,
        current_path: path.clone(),
        next,
        next_path,
        next_error,
    }))
}

/// The largest CSR file read: an RSA 8192 request is about 4 KiB of PEM.
const MAX_CSR: u64 = 64 * 1024;

/// The directory a CSR line's files are read from: the one `csr`'s
/// directory resolves to now. An inbox line directory is a symlink to a
/// version (`inbox/<site>/<line>` -> `.v/<line>.<stamp>`) that `publish
/// pull` switches by rename; resolved once, `csr.pem` and `next.csr.pem`
/// come from the same version, never one from each. A directory that is
/// no link resolves to itself; one that cannot be resolved is used as
/// written, and reading from it reports why.
fn version_dir(csr: &Path) -> PathBuf {
    let dir = match csr.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// The bytes of the file named like `path` in `dir`, read as untrusted
/// (the remote site wrote it: a regular file, bounded, never a FIFO that
/// blocks the run); None if it does not exist. Errors name `path`, the
/// file as configured.
fn read_in(dir: &Path, path: &Path) -> Result<Option<Vec<u8>>> {
    let Some(name) = path.file_name() else {
        return Err(Error::config(format!(
            "{}: read CSR: not a file name",
            path.display()
        )));
    };
    match untrusted::read(&dir.join(name), &untrusted::Rules::new(MAX_CSR)) {
        Ok(pem) => Ok(Some(pem)),
        Err(Refused::Missing) => Ok(None),
        Err(Refused::Io(e)) => Err(Error::io(path, "read CSR", &e)),
        Err(why) => Err(Error::data(format!("{}: read CSR: {why}", path.display()))),
    }
}

/// Check one CSR's bytes, read from `path`, for `line`.
fn check_csr(pem: &[u8], path: &Path, line: &Line) -> Result<CsrInfo> {
    let refused = |why: String| Error::data(format!("{}: CSR refused: {why}", path.display()));
    let csr = certinfo::parse_csr(pem).map_err(refused)?;
    check(&csr.der).map_err(refused)?;
    let (want, got) = (line.name_set(), certinfo::name_set(&csr.names));
    if want != got {
        return Err(refused(format!(
            "names {got:?} differ from line '{}' {want:?}",
            line.name
        )));
    }
    Ok(csr)
}

/// The key a CSR carries, as far as acceptance goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    P256,
    P384,
    Rsa,
}

/// The request's key is one a CA accepts, and its signature verifies
/// (RFC 2986 §4.2: the requester proves it holds the key).
fn check(der: &[u8]) -> std::result::Result<(), String> {
    let (_, req) = X509CertificationRequest::from_der(der).map_err(|e| format!("bad CSR: {e}"))?;
    let info = &req.certification_request_info;
    let spki = &info.subject_pki;
    let kind = match spki.parsed().map_err(|e| format!("bad public key: {e}"))? {
        PublicKey::RSA(rsa) => {
            let bits = rsa.key_size();
            if bits < RSA_MIN_BITS {
                return Err(format!(
                    "weak key: RSA of {bits} bits (at least {RSA_MIN_BITS})"
                ));
            }
            if bits > RSA_MAX_BITS {
                return Err(format!("RSA key of {bits} bits (at most {RSA_MAX_BITS})"));
            }
            KeyKind::Rsa
        }
        PublicKey::EC(_) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => KeyKind::P256,
                "1.3.132.0.34" => KeyKind::P384,
                other => {
                    return Err(format!(
                        "weak or unsupported key: elliptic curve {other} (expected P-256 or P-384)"
                    ))
                }
            }
        }
        _ => {
            return Err(format!(
                "unsupported key algorithm {} (expected ECDSA P-256/P-384 or RSA)",
                spki.algorithm.algorithm.to_id_string()
            ))
        }
    };
    let sig_oid = req.signature_algorithm.algorithm.to_id_string();
    let alg: &'static dyn VerificationAlgorithm = match (sig_oid.as_str(), kind) {
        ("1.2.840.10045.4.3.2", KeyKind::P256) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyKind::P256) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.2", KeyKind::P384) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyKind::P384) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.113549.1.1.11", KeyKind::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", KeyKind::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", KeyKind::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (other, _) => {
            return Err(format!(
                "signature algorithm {other} with this key is not one certdrop verifies"
            ))
        }
    };
    UnparsedPublicKey::new(alg, &spki.subject_public_key.data)
        .verify(info.raw, &req.signature_value.data)
        .map_err(|_| "its signature does not verify (damaged, or not made with its key)".into())
}

/// What a CSR line with a certificate needs (lifecycle::plan has checked
/// its names and revocation): publish a newly staged key or withdraw one
/// whose CSR is gone; use a staged key once its record has been served
/// long enough (RFC 7671 §8.1); renew from the CSR of the certificate's
/// key inside the window. With no CSR for that key any more (the CSR file
/// now requests another), the renewal waits for the rollover's gate: a
/// certificate for a key whose TLSA record is not yet served would fail
/// every DANE client.
pub fn plan(
    config: &Config,
    line: &Line,
    state: &LineState,
    now: i64,
    cert: &CertInfo,
    csrs: &Csrs,
) -> Result<Plan> {
    let staged = csrs.staged(&cert.spki);
    let published = published_next(config, line)?;
    match (staged, &published) {
        (Some((csr, _)), p) if p.as_deref() != Some(csr.spki.as_slice()) => {
            return Ok(Plan::StageNext)
        }
        // A refused next.csr.pem withdraws nothing: a bad copy replaces no
        // good key already staged.
        (None, Some(_)) if csrs.next_error.is_none() => return Ok(Plan::Unstage),
        _ => {}
    }
    let ready = staged.and_then(|_| lifecycle::rollover_ready_at(line, state, now));
    if ready.is_some_and(|r| now >= r) {
        return Ok(Plan::Issue(Reason::Rollover));
    }
    let renewable = csrs.for_key(&cert.spki).is_some();
    let due = lifecycle::due_at(config, line, cert);
    if renewable && now >= due {
        return Ok(Plan::Issue(Reason::Window));
    }
    Ok(match (staged, ready) {
        (Some(_), Some(r)) if renewable => {
            Plan::Wait(Some(r.min(due)), "next key published, waiting")
        }
        (Some(_), Some(r)) => Plan::Wait(Some(r), "next key published, waiting"),
        (Some(_), None) => Plan::CheckNext,
        (None, _) if renewable => Plan::Wait(Some(due), "renewal"),
        (None, _) => Plan::Wait(None, "no sound CSR for the certificate's key"),
    })
}

/// The request for an order of a CSR line: the staged one for a rollover
/// (or to continue an order finalized with it), else the one for the
/// certificate's key (a renewal keeps the key), else the CSR file.
pub fn signer(config: &Config, line: &Line, reason: &Reason, state: &LineState) -> Result<Signer> {
    let csrs =
        load(line)?.ok_or_else(|| Error::software(format!("{}: not a CSR line", line.name)))?;
    let cert = lifecycle::current_cert(config, line)?;
    let finalized_next = state
        .order
        .as_ref()
        .is_some_and(|o| o.stage == crate::state::Stage::Finalized && o.next_key);
    if *reason == Reason::Rollover || finalized_next {
        let staged = cert.as_ref().and_then(|c| csrs.staged(&c.spki));
        let Some((csr, _)) = staged else {
            return Err(Error::data(format!(
                "{}: no staged CSR for the rollover (was {} removed?)",
                line.name,
                csrs.next_path.display()
            )));
        };
        return Ok(Signer::Csr {
            csr: csr.clone(),
            next: true,
        });
    }
    let csr = cert
        .as_ref()
        .and_then(|c| csrs.for_key(&c.spki))
        .unwrap_or(&csrs.current);
    Ok(Signer::Csr {
        csr: csr.clone(),
        next: false,
    })
}

/// Publish the staged CSR's key as `certs/<line>/next/pubkey.pem` (the
/// current certificate and a retiring previous key stay): the zone then
/// serves TLSA for both, and the rollover's clocks start again.
pub fn stage(
    config: &Config,
    line: &Line,
    spki: &[u8],
    state: &mut LineState,
    now: i64,
) -> Result<()> {
    let pubkey = crate::keys::public_pem(spki);
    publish_next(config, line, Some(pubkey.as_bytes()), "publish next key")?;
    state.next_published = Some(now);
    state.next_served_since = None;
    state.next_served_ttl = None;
    Ok(())
}

/// Stage the key a CSR line's files request (see [`plan`]); the CSR's
/// path, or None for a line whose keys certdrop makes.
pub fn stage_from_csr(
    config: &Config,
    line: &Line,
    state: &mut LineState,
    now: i64,
) -> Result<Option<PathBuf>> {
    let Some(csrs) = load(line)? else {
        return Ok(None);
    };
    let cert = lifecycle::current_cert(config, line)?;
    let Some((csr, path)) = cert.as_ref().and_then(|c| csrs.staged(&c.spki)) else {
        return Err(Error::software(format!(
            "{}: no CSR to stage a next key from",
            line.name
        )));
    };
    stage(config, line, &csr.spki, state, now)?;
    Ok(Some(path.to_path_buf()))
}

/// Withdraw a staged key whose CSR is gone: `certs/<line>/next/` goes.
pub fn unstage(config: &Config, line: &Line, state: &mut LineState) -> Result<()> {
    publish_next(config, line, None, "withdraw next key")?;
    state.next_published = None;
    state.next_served_since = None;
    state.next_served_ttl = None;
    Ok(())
}

fn publish_next(config: &Config, line: &Line, next: Option<&[u8]>, action: &str) -> Result<()> {
    let store = &config.store;
    let prev = store
        .read_prev_pub(&line.name)
        .map_err(|e| Error::io(&store.prev_pub_path(&line.name), "read previous key", &e))?;
    store
        .publish(&line.name, None, next, prev.as_deref())
        .map_err(|e| Error::io(&store.line_dir(&line.name), action, &e))
}

/// The SPKI of the key published in `certs/<line>/next/pubkey.pem`, if
/// one is (a file that is not one public key counts as none: restaged).
pub fn published_next(config: &Config, line: &Line) -> Result<Option<Vec<u8>>> {
    let path = config.store.next_pub_path(&line.name);
    let pem = config
        .store
        .read_next_pub(&line.name)
        .map_err(|e| Error::io(&path, "read next key", &e))?;
    Ok(pem.and_then(|p| {
        certinfo::pem_blocks(&p, "PUBLIC KEY")
            .ok()
            .and_then(|mut v| (v.len() == 1).then(|| v.remove(0)))
    }))
}

#[cfg(test)]
mod tests;
