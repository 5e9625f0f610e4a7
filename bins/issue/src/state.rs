//! Per-line state in the state directory (`state/<line>.json`): key ages,
//! the staged rollover, and failures with their back-off. Written
//! atomically, so it survives restarts and crashes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use certdrop_core::atomic::Durability;
use certdrop_core::error::Result;

/// What certdrop remembers about a line between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineState {
    /// When the current key was generated (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_created: Option<i64>,
    /// When the staged next key was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key_created: Option<i64>,
    /// When the next key's public half was published in `certs/<line>/next/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_published: Option<i64>,
    /// Since when every authoritative server has served the next key's
    /// TLSA record (the DANE-safe rollover's clock, RFC 7671 §8.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_served_since: Option<i64>,
    /// The TTL those records were served with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_served_ttl: Option<u32>,
    /// Consecutive failed attempts.
    #[serde(default)]
    pub failures: u32,
    /// When the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<i64>,
    /// The last failure's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// No new attempt before this time (back-off, Retry-After).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_not_before: Option<i64>,
    /// Serial of a certificate this line revoked (it must be replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_serial: Option<String>,
    /// The current key was reported compromised: the next certificate
    /// gets a new key whatever the policy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key_compromised: bool,
    /// When the previous key's public half was kept in `certs/<line>/prev/`
    /// by a rollover (its TLSA record is retired `retire_after` later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_published: Option<i64>,
    /// When the current certificate was obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<i64>,
    /// The order in progress, written before each request that moves it
    /// on, so a run killed or ended midway is continued by the next one
    /// instead of placing a second order (RFC 8555 §7.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderProgress>,
    /// The renewal window the CA last suggested (RFC 9773), for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari: Option<crate::ari::Window>,
    /// The named CA (`[[ca]]`) that issued the current certificate; None:
    /// the top-level one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// dns-persist-01 records the CA refused (`unauthorized`,
    /// `malformed`) although we read them as valid, by owner: not relied
    /// on again for a day while they are served unchanged (`persist/`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub persist_refused: std::collections::BTreeMap<String, Refused>,
}

/// A dns-persist-01 record set the CA refused (kept small: certdrop-check
/// reads this file and refuses one over 64 KiB).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// SHA-256 (hex) of the TXT values served then, sorted
    /// (`persist::digest`).
    #[serde(default)]
    pub digest: String,
    /// When (seconds since the epoch).
    pub at: i64,
    /// Not relied on before this time, unless the record changes.
    #[serde(default)]
    pub until: i64,
    /// The CA's words, cut to [`crate::persist::ERROR_KEPT`] characters.
    #[serde(default)]
    pub error: String,
}

/// An order in progress: its URL at the CA and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderProgress {
    /// The order's URL (RFC 8555 §7.1.3), for `Account::order`.
    pub url: String,
    /// The last step begun.
    pub stage: Stage,
    /// The CSR sent to finalize is for the line's next key
    /// (`keys/<line>/next/key.pem`), not its current one: the resumed
    /// order's certificate carries that key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub next_key: bool,
    /// The named CA (`[[ca]]`) the order was placed at; None: the
    /// top-level one. A line with several CAs continues it there first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// How far an order got; each is written before its request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The order exists; its challenges are being placed.
    Placed,
    /// The challenges are (being) answered.
    Answered,
    /// The CSR is (being) sent.
    Finalized,
}

impl Stage {
    /// The word for `-v` and the state file.
    pub fn word(self) -> &'static str {
        match self {
            Stage::Placed => "placed",
            Stage::Answered => "answered",
            Stage::Finalized => "finalized",
        }
    }
}

/// Write the line's order in progress (or clear it with `None`) into its
/// state file, before the next request to the CA.
pub fn save_order(state_dir: &Path, line: &str, order: Option<OrderProgress>) -> Result<()> {
    save_order_with(state_dir, line, order, Durability::Durable)
}

/// [`save_order`] with the durability asked for: an order not yet
/// finalized may be written without an fsync (see `order/resume.rs`).
pub fn save_order_with(
    state_dir: &Path,
    line: &str,
    order: Option<OrderProgress>,
    durability: Durability,
) -> Result<()> {
    let mut st = load(state_dir, line)?;
    if st.order != order {
        st.order = order;
        save_with(state_dir, line, &st, durability)?;
    }
    Ok(())
}

/// `state/<line>.json`.
pub fn path(state_dir: &Path, line: &str) -> PathBuf {
    state_dir.join(format!("{line}.json"))
}

/// Read a line's state; a missing file is an empty state.
pub fn load(state_dir: &Path, line: &str) -> Result<LineState> {
    certdrop_core::statefile::load(&path(state_dir, line))
}

/// Mode of `state/<line>.json`: the owner writes, the group reads. The
/// file takes the state directory's group (always on BSD; on Linux when
/// the directory is setgid), and the directory is the gate: created 0700,
/// so nobody else reaches the files; an administrator who makes it 2750
/// with the monitor's group (certdrop-jails does, for the monitor jail)
/// lets certdrop-check read the failures and the back-off, and nothing
/// else: the account and the lock stay 0600.
pub const FILE_MODE: u32 = 0o640;

/// The most an existing state directory keeps of its mode: group read
/// and search (and setgid) if its owner gave them, never group write or
/// anything for others.
pub const DIR_MODE_SHARED: u32 = 0o750;

/// Write a line's state atomically ([`FILE_MODE`]; it names the account's
/// orders, so it is never readable by others).
pub fn save(state_dir: &Path, line: &str, state: &LineState) -> Result<()> {
    save_with(state_dir, line, state, Durability::Durable)
}

/// [`save`] with the durability asked for: [`Durability::Whole`] (no fsync)
/// where a later durable write or grouped sync covers it.
pub fn save_with(
    state_dir: &Path,
    line: &str,
    state: &LineState,
    durability: Durability,
) -> Result<()> {
    certdrop_core::statefile::save_with(&path(state_dir, line), state, FILE_MODE, durability)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_in_progress_is_kept_and_cleared_in_the_state_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let kept = OrderProgress {
            url: "https://ca/order/1".into(),
            stage: Stage::Answered,
            next_key: false,
            ca: None,
        };
        save_order(dir, "www", Some(kept.clone())).expect("save");
        let text = std::fs::read_to_string(path(dir, "www")).expect("read");
        assert!(text.contains("\"stage\": \"answered\""), "{text}");
        assert_eq!(load(dir, "www").expect("load").order, Some(kept));
        save_order(dir, "www", None).expect("clear");
        let text = std::fs::read_to_string(path(dir, "www")).expect("read");
        assert!(!text.contains("order"), "{text}");
    }
}
