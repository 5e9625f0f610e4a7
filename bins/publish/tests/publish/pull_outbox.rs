//! `pull`, kind outbox: a service site's CSR outbox (`certdrop-outbox 1`),
//! written here by hand as certdrop-trigger writes it (CSRs by openssl, the
//! manifest rendered by `Outbox::render` and signed with the site's own
//! ed25519 key), pulled by rsync into the signing site's inbox/site3/.

use std::path::Path;

use certdrop_manifest::outbox::{CSR, NEXT_CSR};
use certdrop_manifest::{digest, Outbox, SigningKey, MANIFEST, SIGNATURE};
use certdrop_testkit::Tree;

use crate::receiver::{config, pull, rsync, snapshot};
use crate::site::{keygen, sh};

/// The outbox's line.
const LINE: &str = "www-site3";
/// Its name.
const NAME: &str = "www.site3.example.org";
/// The service site's principal in the signing site's allowed_signers.
const SITE: &str = "outbox@site3";

/// A tree with the service site's key and the signing site's
/// allowed_signers naming it, and a pull of site3's outbox into
/// inbox/site3.
fn sites() -> Tree {
    let t = Tree::new();
    keygen(&t.path("site3_ed25519"), SITE);
    let public = t.read_text("site3_ed25519.pub");
    t.write("allowed_signers", &format!("{SITE} {public}"));
    t.mkdirs(&["outbox", "work"]);
    config(&t, "outbox", &rsync(&t, "outbox"), "../inbox/site3", "");
    let text = t.read_text("recv/pull.toml");
    t.write("recv/pull.toml", &text.replace(crate::site::IDENTITY, SITE));
    t
}

/// A new ECDSA P-256 key and its CSR for [`NAME`] in work/: the CSR and
/// the SHA-256 of its SubjectPublicKeyInfo (DER).
fn csr(t: &Tree, name: &str) -> (Vec<u8>, [u8; 32]) {
    sh(
        &t.path("work"),
        &format!(
            "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
             -keyout {name}.key -subj /CN={NAME} -addext subjectAltName=DNS:{NAME} \
             -out {name}.csr 2>/dev/null
             openssl req -in {name}.csr -pubkey -noout | openssl pkey -pubin -outform DER > {name}.spki"
        ),
    );
    (
        t.read(&format!("work/{name}.csr")),
        digest(&t.read(&format!("work/{name}.spki"))),
    )
}

/// Write a version of the outbox line published at `published`
/// (`2026-12-05T10:00:00Z`), with a next key's CSR if `next`, and switch
/// outbox/www-site3 onto it, as certdrop-trigger lays it out.
fn publish(t: &Tree, published: &str, next: bool) {
    publish_with(t, published, next, &|_, _| {}, &|_| {});
}

/// [`publish`], the files changed by `edit_files` before the manifest is
/// made from them, the manifest by `edit` before it is signed: what a
/// site's signing key really signed.
fn publish_with(
    t: &Tree,
    published: &str,
    next: bool,
    edit_files: &EditFiles,
    edit: &dyn Fn(&mut Outbox),
) {
    let (current, spki) = csr(t, "current");
    let mut files = vec![(CSR.to_string(), current)];
    let mut next_spki = None;
    if next {
        let (data, d) = csr(t, "next");
        files.push((NEXT_CSR.to_string(), data));
        next_spki = Some(d);
    }
    edit_files(t, &mut files);
    let mut m = Outbox {
        line: LINE.into(),
        names: vec![NAME.into()],
        spki,
        next_spki,
        published: published.into(),
        files: files.iter().map(|(n, d)| (n.clone(), digest(d))).collect(),
    };
    edit(&mut m);
    let text = m.render();
    let key = SigningKey::load(&t.path("site3_ed25519")).expect("site key");
    let sig = key.sign(text.as_bytes()).expect("sign");
    let stamp: String = published
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let version = format!(".v/{LINE}.{stamp}");
    let dir = t.path(&format!("outbox/{version}"));
    std::fs::create_dir_all(&dir).expect("version dir");
    for (n, d) in &files {
        std::fs::write(dir.join(n), d).expect("csr");
    }
    std::fs::write(dir.join(MANIFEST), &text).expect("manifest");
    std::fs::write(dir.join(SIGNATURE), sig).expect("signature");
    sh(
        &t.path("outbox"),
        &format!("ln -s {version} .tmp.{LINE} && mv -T .tmp.{LINE} {LINE}"),
    );
}

/// A change to an outbox version's files (name, content) before its
/// manifest is made from them.
type EditFiles = dyn Fn(&Tree, &mut Vec<(String, Vec<u8>)>);

/// Nothing in `dir` looks like a private key.
fn no_private_key(dir: &Path) {
    for (path, node) in snapshot(dir) {
        if let crate::receiver::Node::File(_, data) = node {
            assert!(
                !String::from_utf8_lossy(&data).contains("PRIVATE KEY"),
                "{path}: a private key"
            );
        }
    }
}

#[test]
fn an_outbox_is_pulled_into_the_inbox_and_an_older_one_refused() {
    let t = sites();
    publish(&t, "2026-12-05T10:00:00Z", false);
    let ran = pull(&t, &[]).expect(0);
    assert_eq!(
        ran.stdout,
        format!("{LINE}: switched to outbox of 2026-12-05T10:00:00Z\n")
    );
    assert_eq!(ran.stderr, "");
    let inbox = format!("inbox/site3/{LINE}");
    assert_eq!(
        t.read(&format!("{inbox}/{CSR}")),
        t.read(&format!("outbox/{LINE}/{CSR}"))
    );
    // The issuer reads a CSR it can check.
    sh(
        t.root(),
        &format!("openssl req -in {inbox}/{CSR} -verify -noout 2>/dev/null"),
    );
    assert!(!t.path(&format!("{inbox}/{NEXT_CSR}")).exists());
    pull(&t, &[]).expect(2).silent();

    // A next key staged: its CSR comes along.
    publish(&t, "2026-12-05T10:05:00Z", true);
    pull(&t, &[]).expect(0).stdout_starts(&format!(
        "{LINE}: switched to outbox of 2026-12-05T10:05:00Z"
    ));
    assert_eq!(
        t.read(&format!("{inbox}/{NEXT_CSR}")),
        t.read(&format!("outbox/{LINE}/{NEXT_CSR}"))
    );
    no_private_key(&t.path("inbox"));

    // A replayed older outbox is refused, the held one kept.
    let before = snapshot(&t.path("inbox"));
    publish(&t, "2026-12-05T09:00:00Z", false);
    let ran = pull(&t, &[]).expect(65);
    assert_eq!(ran.stdout, "");
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-publish: {LINE}: kept: received outbox of 2026-12-05T09:00:00Z \
             is older than the held one of 2026-12-05T10:05:00Z\n"
        )
    );
    assert_eq!(snapshot(&t.path("inbox")), before);
}

#[test]
fn a_private_key_in_an_outbox_is_refused() {
    let t = sites();
    publish(&t, "2026-12-05T10:00:00Z", false);
    sh(
        &t.path("outbox"),
        &format!("cp ../work/current.key {LINE}/key.pem"),
    );
    let ran = pull(&t, &[]).expect(65);
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-publish: {}: not listed in the manifest\n",
            t.path(&format!("recv/staging/{LINE}/key.pem")).display()
        )
    );
    assert!(!t.path(&format!("inbox/site3/{LINE}")).exists());
    no_private_key(&t.path("inbox"));
}

/// Publish (with a next key's CSR if `next`) with `edit_files` and
/// `edit`, pull: 65 with exactly one line, `want` (given the staging
/// directory of the line), nothing in the inbox.
#[track_caller]
fn refused(
    next: bool,
    edit_files: &EditFiles,
    edit: &dyn Fn(&mut Outbox),
    want: &dyn Fn(&Tree, &Path) -> String,
) {
    let t = sites();
    publish_with(&t, "2026-12-05T10:00:00Z", next, edit_files, edit);
    let ran = pull(&t, &[]).expect(65);
    assert_eq!(ran.stdout, "");
    let staged = t.path(&format!("recv/staging/{LINE}"));
    assert_eq!(
        ran.stderr,
        format!("certdrop-publish: {}\n", want(&t, &staged))
    );
    assert!(!t.path(&format!("inbox/site3/{LINE}")).exists());
    no_private_key(&t.path("inbox"));
}

/// The SHA-256 of work/<name>.spki, in hex.
fn spki_hex(t: &Tree, name: &str) -> String {
    certdrop_core::certinfo::hex(&digest(&t.read(&format!("work/{name}.spki"))))
}

#[test]
fn a_manifest_spki_that_is_not_the_csrs_key_is_refused() {
    let other = digest(b"another key");
    refused(true, &|_, _| {}, &|m| m.spki = other, &|t, staged| {
        format!(
            "{}: its key's SHA-256 is {}, the manifest's spki {}",
            staged.join(CSR).display(),
            spki_hex(t, "current"),
            certdrop_core::certinfo::hex(&other)
        )
    });
    // The next key's CSR is held to next-spki the same way.
    refused(
        true,
        &|_, _| {},
        &|m| m.next_spki = Some(m.spki),
        &|t, staged| {
            format!(
                "{}: its key's SHA-256 is {}, the manifest's next-spki {}",
                staged.join(NEXT_CSR).display(),
                spki_hex(t, "next"),
                spki_hex(t, "current")
            )
        },
    );
}

#[test]
fn csr_names_that_are_not_the_manifests_are_refused() {
    refused(
        false,
        &|_, _| {},
        &|m| m.names = vec!["www.example.org".into(), NAME.into()],
        &|_, staged| {
            format!(
                "{}: asks for '{NAME}', the manifest names 'www.example.org {NAME}'",
                staged.join(CSR).display()
            )
        },
    );
}

#[test]
fn a_signed_private_key_in_a_csr_file_is_refused() {
    // Appended to the next key's CSR: that key's site signed it all.
    refused(
        true,
        &|t, files| files[1].1.extend(t.read("work/next.key")),
        &|_| {},
        &|t, staged| {
            let label = t.read_text("work/next.key");
            let label = label
                .lines()
                .next()
                .expect("BEGIN")
                .trim_start_matches("-----BEGIN ")
                .trim_end_matches('-')
                .to_string();
            assert!(label.contains("PRIVATE KEY"), "{label}");
            format!(
                "{}: refused: holds a private key (PEM {label})",
                staged.join(NEXT_CSR).display()
            )
        },
    );
}
