//! Integration tests of certdrop-check: the real binary in a temp tree,
//! certificates made by openssl (testkit pki) with chosen lifetimes, and
//! the real tools its output is for (promtool, node_exporter, openssl
//! s_client -dane_tlsa_rrdata, nginx, nsd). One test binary, small helpers
//! in site.rs.

mod site;

mod dane;
mod issuer;
mod json;
mod nagios;
mod probe;
mod resolver;
mod textfile;
