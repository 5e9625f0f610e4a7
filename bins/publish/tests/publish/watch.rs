//! `watch`: the first round publishes, a renewal switched into certs/ as
//! certdrop-issue does is published within moments (the same run as `run`,
//! silent when nothing changed), a broken certificate is refused in one
//! line while watching goes on, SIGTERM ends it with exit 0; a file with
//! only [pull] has nothing to watch (78).

use std::process::Command;
use std::time::Duration;

use certdrop_core::store::CertFiles;
use certdrop_testkit::{within, Proc, Run};
use nix::sys::signal::Signal;

use crate::receiver::{config, rsync};
use crate::site::{publish, Site};

/// Generous on a busy machine; a round is due within a second of a change.
const LIMIT: Duration = Duration::from_secs(15);

/// Start `watch` on the site's publish.toml (an hour's interval: every
/// round after the first is an event's), output to watch.log.
fn start(site: &Site) -> Proc {
    let config = site.write("publish.toml", &site.config_text());
    Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .arg("-c")
        .arg(config)
        // The daemon logs to syslog by default; this test reads stderr.
        .args(["watch", "--interval", "1h", "--log", "stderr"])
        .env_remove("CERTDROP_PUBLISH_CONFIG")
        .logged(&site.path("watch.log"))
}

/// A site with www at serial 01 in certs/, `watch` started on it and its
/// first round's publication seen.
fn watching() -> (Site, Proc) {
    let site = Site::new();
    let first = site.www(1);
    site.install("www", &first);
    let watch = start(&site);
    published(&site, &first);
    (site, watch)
}

/// Wait until pub/www holds `files`' certificate.
#[track_caller]
fn published(site: &Site, files: &CertFiles) {
    let path = site.path("pub/www/cert.pem");
    assert!(
        within(LIMIT, || std::fs::read(&path)
            .is_ok_and(|c| c == files.cert)),
        "not published within {LIMIT:?}; log:\n{}",
        site.read_text("watch.log")
    );
}

/// SIGTERM: exit 0 after the round in progress; the log's lines.
#[track_caller]
fn stop(site: &Site, mut watch: Proc) -> Vec<String> {
    assert_eq!(watch.stop(Signal::SIGTERM, LIMIT), Some(0), "SIGTERM");
    let log = site.read_text("watch.log");
    log.lines().map(str::to_owned).collect()
}

/// The serials of the log's "www: published serial NN, ..." lines.
fn publications(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("www: published serial "))
        .filter_map(|l| l.split(',').next())
        .collect()
}

#[test]
fn watch_publishes_a_renewal_at_once_and_stops_on_sigterm() {
    let (site, watch) = watching();
    let second = site.www(2);
    site.install("www", &second);
    published(&site, &second);
    site.verify("pub", &[]).expect(0);
    let lines = stop(&site, watch);
    // One line a publication: the rounds that found nothing new are silent.
    assert_eq!(publications(&lines), ["01", "02"], "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
}

#[test]
fn a_broken_certificate_is_refused_and_watching_goes_on() {
    let (site, watch) = watching();
    let good = site.read("pub/www/cert.pem");
    let link = site.link("www");
    site.install(
        "www",
        &CertFiles {
            cert: b"-----BEGIN CERTIFICATE-----\nTUlJQmFk\n-----END CERTIFICATE-----\n".to_vec(),
            ..site.www(2)
        },
    );
    let refusal = "certdrop-publish: www: refused: cert.pem: bad certificate";
    assert!(
        within(LIMIT, || site.read_text("watch.log").contains(refusal)),
        "no refusal; log:\n{}",
        site.read_text("watch.log")
    );
    assert_eq!(site.link("www"), link);
    assert_eq!(site.read("pub/www/cert.pem"), good);
    let renewed = site.www(3);
    site.install("www", &renewed);
    published(&site, &renewed);
    let lines = stop(&site, watch);
    // Each refusal is one line (a round that sees the broken set again
    // says it again); one line a publication.
    let refused = lines.iter().filter(|l| l.starts_with(refusal)).count();
    assert!(refused > 0, "{lines:?}");
    assert_eq!(publications(&lines), ["01", "03"], "{lines:?}");
    assert_eq!(lines.len(), refused + 2, "{lines:?}");
}

#[test]
fn a_site_that_only_pulls_has_nothing_to_watch() {
    let site = Site::new();
    let pull = config(&site, "pub", &rsync(&site, "pub"), "pub", "");
    let path = pull.to_str().expect("utf-8");
    let ran = publish(&["-c", path, "watch", "--log", "stderr"]).expect(78);
    ran.one_error("holds only [pull]: nothing to watch");
    // watch acts: -n goes with run, check or pull.
    publish(&["-c", path, "-n", "watch", "--log", "stderr"]).expect(64);
}
