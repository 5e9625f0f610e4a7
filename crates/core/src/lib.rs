//! certdrop-core: what every certdrop stage shares.
//!
//! The filesystem is the protocol between the stages, so each drop-directory
//! format is defined here once (render, parse, validate), together with the
//! atomic file writer, versioned directories behind a symlink, the
//! state-directory lock, certificate inspection, metadata fingerprints for
//! the no-op fast paths, the one reader of files another stage wrote, the
//! exit contract with its one error type, the output module and the one
//! `watch` loop. This crate is synchronous and offline: no runtime, no
//! network, no TLS library.

pub mod atomic;
pub mod certinfo;
pub mod child;
pub mod clock;
pub mod debounce;
pub mod duration;
pub mod error;
pub mod exit;
pub mod fingerprint;
pub mod fragment;
pub mod keymode;
pub mod lock;
pub mod name;
pub mod output;
pub mod paths;
pub mod statefile;
pub mod store;
pub mod tomlcfg;
pub mod untrusted;
pub mod versions;
pub mod watch;
