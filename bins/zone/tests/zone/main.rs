//! Integration tests of certdrop-zone: the real binary builds zones from a
//! temp tree, ldns-signzone signs them, a real nsd on a loopback port serves
//! them, and drill asks (the nsd, the runner and the PKI are
//! certdrop-testkit's).

mod served;
mod site;

mod build;
mod exit_classes;
mod filter;
mod flood;
mod hostile;
mod knot_handover;
mod leftovers;
mod mistakes;
mod persist;
mod signer_knot;
mod signer_opendnssec;
mod syslog;
mod watch;
mod xfr;
mod zonebuild;
