//! certdrop-issue against acme2certifier, a second ACME server written
//! independently of Pebble (Python, openssl CA handler), in a network
//! namespace of its own (certdrop-testkit's `a2c` fixture): the issuer's
//! main scenarios, so that what passes against Pebble is known to pass
//! against another server too. `make test-a2c` runs this target alone.

// The namespace needs Linux (and root, as every namespace test here).
#![cfg(target_os = "linux")]

// The Pebble suite's helpers (run_bin, openssl_names...); its Pebble
// site itself is not used here.
#[allow(dead_code)]
#[path = "../issue/site.rs"]
mod pebble_site;
mod site;

mod harness;
mod issuance;
mod lifecycle;
mod nsd;
mod persist;
mod persist_zone;
