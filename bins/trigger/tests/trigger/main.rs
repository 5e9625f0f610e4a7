//! Integration tests of certdrop-trigger: the real binary, a temp tree per
//! test with a pub/ tree as certdrop-publish lays it out (versions behind
//! a symlink, a manifest signed by `ssh-keygen -Y sign`), certificates
//! from an openssl CA, and a real nginx on loopback that the trigger
//! reloads or restarts; what nginx serves is read with certdrop-probe.

mod harness;
mod nginx;
mod services;

mod services_apache;
mod services_dovecot;
mod services_haproxy;
mod services_linux;
mod services_nghttpx;
mod services_postfix;
mod services_slapd;

mod cli;
mod csr;
mod csr_rollover;
mod deploy;
mod exit_classes;
mod hostile;
mod ip_line;
mod leftovers;
mod plan;
mod refuse;
mod starttls;
mod syslog;
mod two_lines;
mod verified_reload;
mod watch;
