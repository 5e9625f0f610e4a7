//! certdrop-manifest: the `pub/` contract in one place. certdrop-publish
//! writes it and checks a received copy (`verify`); certdrop-trigger checks
//! it before deploying anything. Both use this crate, so they follow one
//! grammar and reach one verdict:
//!
//! - [`manifest`]: the manifest of one published line (format version 1);
//! - [`signers`]: ssh-keygen(1)'s allowed_signers file, with its pattern
//!   lists ([`pattern`]) and its timestamps ([`time`]), read as
//!   `ssh-keygen -Y verify` reads them;
//! - [`sshsig`]: the SSHSIG signature over a manifest (OpenSSH
//!   PROTOCOL.sshsig), its namespace, and the check against the signers.
//!
//! - [`outbox`]: the manifest of a service site's CSR outbox (the
//!   `certdrop-outbox 1` format), what the signing site pulls;
//! - [`signing`]: the OpenSSH ed25519 key that signs either;
//! - [`secret`]: the private key no received file may hold.
//!
//! The crate reads no file but the signing key: callers read `pub/` and
//! allowed_signers with their own untrusted-file readers and pass the bytes.

pub mod manifest;
pub mod outbox;
pub mod pattern;
pub mod secret;
pub mod signers;
pub mod signing;
pub mod sshsig;
pub mod time;

pub use manifest::{digest, Manifest, MANIFEST, PUB_FILES, SIGNATURE};
pub use outbox::Outbox;
pub use signers::Signer;
pub use signing::SigningKey;
pub use sshsig::{HASH, NAMESPACE};
