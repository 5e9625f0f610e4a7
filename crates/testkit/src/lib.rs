//! certdrop's test kit: what the integration tests of every binary and the
//! end-to-end suite share, in one place instead of a copy per test crate.
//!
//! - [`run`]: a finished process ([`Ran`]) with assertions on its exit code
//!   and output, the [`Run`] extension of `Command`, `sh`, tracked children
//!   ([`Proc`]) and the workspace's binaries ([`bin`]).
//! - [`wait`]: polling for a condition (tests never wait a fixed time).
//! - [`ports`]: loopback ports that parallel tests do not share.
//! - [`tree`]: a temp tree per test.
//! - [`tmpfs`]: a full disk, for real (a small tmpfs, filled).
//! - `netns` (Linux only): network namespaces joined by a bridge, one per
//!   site, with documentation-range addresses and links to cut (tests of
//!   several sites).
//! - Fixtures, real servers on loopback, stopped on drop: [`nsd`], [`nginx`],
//!   [`apache`], [`haproxy`], [`nghttpx`],
//!   [`postfix`] (SMTP STARTTLS), [`dovecot`] (IMAP, POP3, ManageSieve
//!   STARTTLS), [`slapd`] (LDAP StartTLS), [`prosody`] (XMPP STARTTLS),
//!   with [`unpriv`] for the servers that
//!   drop to a user of their own,
//!   [`pki`] (an openssl CA), [`opendnssec`] (OpenDNSSEC with SoftHSM),
//!   [`rsyslog`] (a syslogd whose messages a test reads), and with the
//!   `pebble` feature [`pebble`]
//!   (Pebble, pebble-challtestsrv and its throwaway CA, and
//!   [`pebble::faults`], Pebble behind a fault-injecting HTTPS proxy), and
//!   with it, on Linux, `a2c` (acme2certifier, a second ACME server, in a
//!   network namespace of its own).
//!
//! Dev-only (`publish = false`): panics are how it reports, as in tests.
//! New fixtures the suites share (STARTTLS servers) belong here too, each in a module of its own.

#![warn(missing_docs)]

// acme2certifier in a network namespace: Linux, and the Pebble feature's
// challtestsrv, relay, webroot server and HTTPS client.
#[cfg(all(feature = "pebble", target_os = "linux"))]
pub mod a2c;
pub mod apache;
pub mod dovecot;
pub mod haproxy;
pub mod knot;
// setns(2) and ip(8): Linux alone has both; the rest of the kit builds on
// FreeBSD too.
#[cfg(target_os = "linux")]
pub mod netns;
pub mod nghttpx;
pub mod nginx;
pub mod nsd;
pub mod opendnssec;
#[cfg(feature = "pebble")]
pub mod pebble;
pub mod pki;
pub mod ports;
pub mod postfix;
pub mod prosody;
pub mod rsyslog;
pub mod run;
pub mod slapd;
pub mod tmpfs;
pub mod tree;
pub mod unpriv;
pub mod wait;

#[cfg(test)]
mod tests;

pub use ports::free_port;
pub use run::{bin, sh, Proc, Ran, Run};
pub use tmpfs::Tmpfs;
pub use tree::Tree;
pub use wait::{wait_for, within};
