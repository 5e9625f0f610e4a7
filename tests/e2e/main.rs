//! End-to-end: the stages as a user runs them, each a real binary, talking
//! only through directories, against real Pebble and nsd on loopback
//! (certdrop-testkit's fixtures).

// Several sites in network namespaces (certdrop_testkit::netns): Linux only.
#[cfg(target_os = "linux")]
mod cluster;
#[cfg(target_os = "linux")]
mod cluster_pull;
mod config_words;
mod contract;
mod crash;
mod crash_publish;
mod crash_trigger;
mod crash_zone;
mod dist;
mod install;
mod jailed;
mod jailed_flow;
mod jailed_rollover;
mod periodic;
mod pipeline;
mod remote_key;
mod tree;
