//! The configuration file as serde reads it: every key optional where the
//! file may omit it, spans kept so that errors can name the line, unknown keys
//! rejected. [`Config::parse`](super::Config::parse) turns these into the
//! validated [`Config`](super::Config).

use std::path::PathBuf;
use std::time::Duration;

use certdrop_core::duration;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) directory: Spanned<String>,
    #[serde(default)]
    pub(super) contact: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) agree_terms: bool,
    pub(super) account: PathBuf,
    pub(super) eab: Option<super::eab::RawEab>,
    pub(super) ca_bundle: Option<PathBuf>,
    pub(super) preferred_chain: Option<Spanned<String>>,
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) drop: RawDrop,
    #[serde(default)]
    pub(super) dns: RawDns,
    #[serde(default)]
    pub(super) renew: RawRenew,
    #[serde(default, rename = "ca")]
    pub(super) cas: Vec<super::cas::RawCa>,
    #[serde(default, rename = "line")]
    pub(super) lines: Vec<RawLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) certs: PathBuf,
    pub(super) keys: PathBuf,
    pub(super) archive: PathBuf,
    pub(super) state: PathBuf,
    pub(super) keep: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrop {
    pub(super) dnsextra: Option<PathBuf>,
    pub(super) webroot: Option<PathBuf>,
    pub(super) ttl: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDns {
    #[serde(default)]
    pub(super) servers: Vec<Spanned<String>>,
    pub(super) discover: Option<Spanned<String>>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) timeout: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) interval: Option<Duration>,
    #[serde(default = "yes")]
    pub(super) check: bool,
}

fn yes() -> bool {
    true
}

impl Default for RawRenew {
    fn default() -> Self {
        RawRenew {
            remaining: None,
            jitter: None,
            concurrency: None,
            backoff: None,
            lock_wait: None,
            validation_timeout: None,
            run_timeout: None,
            ari: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRenew {
    pub(super) remaining: Option<Spanned<u8>>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) jitter: Option<Duration>,
    pub(super) concurrency: Option<Spanned<usize>>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) backoff: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) lock_wait: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) validation_timeout: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) run_timeout: Option<Duration>,
    #[serde(default = "yes")]
    pub(super) ari: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLine {
    pub(super) name: Spanned<String>,
    pub(super) domains: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) challenge: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) key: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) key_policy: Option<Spanned<String>>,
    pub(super) csr: Option<PathBuf>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) max_key_age: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) rollover_wait: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    pub(super) retire_after: Option<Duration>,
    pub(super) alias: Option<Spanned<String>>,
    pub(super) renew_remaining: Option<Spanned<u8>>,
    #[serde(default)]
    pub(super) tlsa: Vec<Spanned<String>>,
    pub(super) key_group: Option<Spanned<String>>,
    pub(super) profile: Option<Spanned<String>>,
    pub(super) preferred_chain: Option<Spanned<String>>,
    pub(super) ca: Option<Spanned<Vec<Spanned<String>>>>,
    /// None: true (dns-persist-01 preferred).
    pub(super) persist: Option<Spanned<bool>>,
}
