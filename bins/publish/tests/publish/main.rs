//! Integration tests of certdrop-publish: the real binary in a temp tree,
//! certificates made by openssl, the store written by core's Store, the
//! signatures checked by the real ssh-keygen (one test binary, small
//! helpers in site.rs).

mod receiver;
mod site;

mod crash;
mod exits;
mod gate;
mod mistakes;
mod pull;
mod pull_crash;
mod pull_outbox;
mod pull_transports;
mod run;
mod syslog;
mod verify;
mod watch;
