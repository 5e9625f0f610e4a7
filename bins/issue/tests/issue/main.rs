//! Integration tests of certdrop-issue: the real binary in a temp tree
//! against a real Pebble on loopback (one test binary, small helpers; the
//! Pebble fixture is certdrop-testkit's).

mod proxied;
mod site;

mod account;
mod ari;
mod chains;
mod csr_rollover;
mod eab;
mod exit_classes;
mod failures;
mod faults;
mod found;
mod import;
mod interrupted;
mod ip_identifiers;
mod issuance;
mod lifecycle;
mod matrix;
mod multica;
mod profiles;
mod proxied_line;
mod realca;
mod secondaries;
mod soak;
mod state_mode;
