//! End-to-end: the stages as a user runs them, each a real binary, talking
//! only through directories, against real Pebble and nsd on loopback.

#[path = "../../bins/issue/tests/support/mod.rs"]
mod support;

#[path = "../../bins/zone/tests/zone/nsd.rs"]
mod nsd;

mod contract;
mod jailed;
mod jailed_flow;
mod jailed_rollover;
mod pipeline;
mod tree;
