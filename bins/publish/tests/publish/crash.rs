//! What a publication killed between writing its version and switching
//! pub/<line> onto it leaves behind (an orphan in pub/.v/): it was never
//! published, so it neither refuses the certificate it holds as a
//! rollback nor takes the place of the real previous version, and the
//! next run removes it.

use std::path::Path;

use certdrop_core::store::CertFiles;

use crate::site::Site;

/// Leave what a publication of `files` killed before its switch leaves: a
/// version directory named after the visible one, whole (`whole`) or with
/// only its certificate written.
fn orphan(site: &Site, files: &CertFiles, whole: bool) -> String {
    let now = site.link("www");
    let base = now
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let name = format!("{}-500", base.split('-').next().expect("base"));
    let dir = site.path(&format!("pub/.v/{name}"));
    std::fs::create_dir(&dir).expect("orphan dir");
    std::fs::write(dir.join("cert.pem"), &files.cert).expect("orphan cert");
    if whole {
        std::fs::write(dir.join("fullchain.pem"), &files.fullchain).expect("orphan fullchain");
        std::fs::write(dir.join("chain.pem"), &files.chain).expect("orphan chain");
        std::fs::write(dir.join("pubkey.pem"), &files.pubkey).expect("orphan pubkey");
    }
    name
}

fn name_of(link: &Path) -> String {
    link.file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

/// Issue 12, item 2: a renewal in the same second as the published
/// certificate, whose publication was killed, is published by the next
/// run; the orphan holding it is not a version pub/ "held before".
#[test]
fn an_orphan_is_not_a_published_version() {
    let site = Site::new();
    let first = site.www(9);
    site.install("www", &first);
    site.run(&["run"]).expect(0);
    let renewal = site.resign(&first, 3);
    site.install("www", &renewal);
    let left = orphan(&site, &renewal, true);
    let ran = site.run(&["run"]).expect(0);
    assert!(ran.stderr.is_empty(), "{ran:?}");
    assert_eq!(site.read("pub/www/cert.pem"), renewal.cert);
    site.ssh_keygen_verify("www").expect(0);
    assert!(!site.versions().contains(&left), "{:?}", site.versions());
    // Once published, the renewal stays: the first is now a rollback.
    site.install("www", &first);
    site.run(&["run"]).expect(65);
}

/// Issue 12, item 3: pruning after a crash keeps the visible version and
/// the real ones before it (keep = 3), never the orphan.
#[test]
fn pruning_keeps_the_real_previous_versions() {
    let site = Site::new();
    let mut real = Vec::new();
    for n in 1..=3 {
        site.install("www", &site.www(n));
        site.run(&["run"]).expect(0);
        real.push(name_of(&site.link("www")));
    }
    let left = orphan(&site, &site.www(4), false);
    assert!(site.versions().contains(&left));
    site.install("www", &site.www(5));
    site.run(&["run"]).expect(0);
    real.push(name_of(&site.link("www")));
    assert_eq!(site.versions(), real[1..].to_vec());
    site.ssh_keygen_verify("www").expect(0);
}

/// A first publication killed before its switch: no link at all, one
/// half-written version. The next run publishes and leaves only its own.
#[test]
fn an_orphan_without_a_link_is_removed() {
    let site = Site::new();
    let files = site.www(1);
    site.install("www", &files);
    site.mkdirs(&["pub/.v/www.20000101T000000Z"]);
    site.run(&["run"]).expect(0);
    assert_eq!(site.versions(), vec![name_of(&site.link("www"))]);
    assert_eq!(site.read("pub/www/cert.pem"), files.cert);
}
