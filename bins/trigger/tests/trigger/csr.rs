//! `csr` (issue 15: keys that never leave their host): the line's key made
//! once with the right modes and reused, its CSR as openssl reads it, the
//! outbox manifest as `ssh-keygen -Y verify` checks it, a new version only
//! when what it asks for changed, a next key staged past max_key_age, no
//! private key anywhere under outbox/; and in `run`, a next key promoted
//! when its certificate is published, deployed to a real nginx.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::tree::mode;
use certdrop_testkit::{free_port, sh};

use crate::harness::{Tree, NAME};
use crate::nginx::{Serves, HUP};

/// The site's principal in its outbox's allowed_signers.
const SITE: &str = "site@certdrop";

/// The `[outbox]` and `[[csr]]` part of trigger.toml for line `www`.
pub fn outbox(names: &str, extra: &str) -> String {
    format!(
        "[outbox]\ndir = \"outbox\"\nkeys = \"keys\"\nsigning_key = \"sitekey\"\n\n\
         [[csr]]\nline = \"www\"\nnames = [{names}]\nkey = \"ecdsa-p256\"\n{extra}\n"
    )
}

/// A tree with the site's outbox signing key (`sitekey`, its
/// allowed_signers `site_signers`) and trigger.toml: the outbox part,
/// then `service` (a `[[service]]` table or nothing).
pub fn site(outbox_part: &str, service: &str) -> Tree {
    let tree = Tree::new();
    sh(
        tree.root(),
        "ssh-keygen -q -t ed25519 -N '' -C site -f sitekey",
    );
    let public = tree.read_text("sitekey.pub");
    tree.write(
        "site_signers",
        &format!("{SITE} namespaces=\"certdrop-manifest@certdrop\" {public}"),
    );
    write_config(&tree, outbox_part, service);
    tree
}

/// Write trigger.toml: the common head, the outbox part, `service`.
pub fn write_config(tree: &Tree, outbox_part: &str, service: &str) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy-triggers");
    tree.write(
        "trigger.toml",
        &format!(
            "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"{}\"]\n\
             allowed_signers = \"allowed_signers\"\nsigner = \"publish@certdrop\"\n\
             postflight_wait = \"5s\"\n\n{outbox_part}\n{service}",
            shipped.display()
        ),
    );
}

/// A field of the line's current outbox manifest.
pub fn field(tree: &Tree, key: &str) -> String {
    let text = tree.read_text("outbox/www/manifest");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
        .to_string()
}

/// SHA-256 of a key file's SubjectPublicKeyInfo, by openssl.
fn spki(tree: &Tree, key: &str) -> String {
    sh(
        tree.root(),
        &format!("openssl pkey -in {key} -pubout -outform DER | sha256sum"),
    )
    .split_whitespace()
    .next()
    .expect("digest")
    .to_string()
}

/// The public key of a CSR and of a key file, PEM, by openssl.
fn csr_key(tree: &Tree, csr: &str) -> String {
    sh(
        tree.root(),
        &format!("openssl req -in {csr} -noout -pubkey"),
    )
}
fn key_pub(tree: &Tree, key: &str) -> String {
    sh(tree.root(), &format!("openssl pkey -in {key} -pubout"))
}

/// `openssl req -verify -noout -text` of a CSR: its self-signature holds;
/// the text.
fn verified_csr(tree: &Tree, csr: &str) -> String {
    sh(
        tree.root(),
        &format!("openssl req -in {csr} -verify -noout -text 2>&1"),
    )
}

/// The manifest verifies as the signing site checks it.
fn signed(tree: &Tree) {
    sh(
        tree.root(),
        &format!(
            "ssh-keygen -Y verify -n certdrop-manifest@certdrop -f site_signers -I {SITE} \
             -s outbox/www/manifest.sig < outbox/www/manifest"
        ),
    );
}

/// No file under outbox/ (every version) holds a private key.
fn no_private_key(dir: &Path) -> usize {
    let mut files = 0;
    for e in std::fs::read_dir(dir).expect("outbox dir") {
        let e = e.expect("entry");
        let t = e.file_type().expect("type");
        if t.is_dir() {
            files += no_private_key(&e.path());
        } else if t.is_file() {
            let text = std::fs::read(e.path()).expect("read");
            assert!(
                !String::from_utf8_lossy(&text).contains("PRIVATE KEY"),
                "{} holds a private key",
                e.path().display()
            );
            files += 1;
        }
    }
    files
}

/// Date a file `ago` back (its age is what max_key_age is checked on).
pub fn age(path: &Path, ago: Duration) {
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - ago))
        .expect("set mtime");
}

#[test]
fn the_key_is_made_once_and_the_outbox_written_only_when_it_changes() {
    let tree = site(&outbox("\"www.example.test\", \"example.test\"", ""), "");
    // -n: says what it would do, makes nothing.
    let ran = tree.run(&["csr", "-n"]).expect(0);
    ran.stdout_starts("www: would make the key ");
    assert!(!tree.path("keys/www").exists() && !tree.path("outbox").exists());

    let ran = tree.run(&["csr"]).expect(0);
    assert_eq!(
        ran.stdout,
        format!(
            "www: outbox written: new key {} (ecdsa-p256), no outbox yet\n",
            tree.path("keys/www/key.pem").display()
        )
    );
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    assert_eq!(mode(&tree.path("keys/www/key.pem")), 0o600);
    assert_eq!(mode(&tree.path("keys/www")), 0o700);
    assert_eq!(mode(&tree.path("keys")), 0o700);
    let key = tree.read("keys/www/key.pem");
    assert!(String::from_utf8_lossy(&key).starts_with("-----BEGIN PRIVATE KEY-----"));
    let text = verified_csr(&tree, "outbox/www/csr.pem");
    for want in [
        "verify OK",
        "Subject: CN = www.example.test",
        "DNS:www.example.test, DNS:example.test",
        "NIST CURVE: P-256",
        "ecdsa-with-SHA256",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    assert_eq!(
        csr_key(&tree, "outbox/www/csr.pem"),
        key_pub(&tree, "keys/www/key.pem")
    );
    signed(&tree);
    assert_eq!(field(&tree, "names"), "example.test www.example.test");
    assert_eq!(field(&tree, "spki"), spki(&tree, "keys/www/key.pem"));
    assert_eq!(field(&tree, "next-spki"), "-");
    let listed = tree.listing("outbox/www");
    assert_eq!(listed, ["csr.pem", "manifest", "manifest.sig"]);

    // Nothing changed: silent, exit 2, the same key and version.
    let version = std::fs::read_link(tree.path("outbox/www")).expect("link");
    tree.run(&["csr"]).expect(2).silent();
    tree.run(&["csr", "www"]).expect(2).silent();
    assert_eq!(tree.read("keys/www/key.pem"), key);
    assert_eq!(
        std::fs::read_link(tree.path("outbox/www")).expect("link"),
        version
    );
    // -f: a new version, the same key.
    tree.run(&["csr", "-f"])
        .expect(0)
        .stdout_has("www: outbox written: forced");
    assert_ne!(
        std::fs::read_link(tree.path("outbox/www")).expect("link"),
        version
    );
    let published = field(&tree, "published");

    // Other names: a new version for the same key.
    write_config(&tree, &outbox("\"www.example.test\"", ""), "");
    let ran = tree.run(&["csr"]).expect(0);
    assert_eq!(ran.stdout, "www: outbox written: names changed\n");
    assert_eq!(tree.read("keys/www/key.pem"), key);
    assert_eq!(field(&tree, "spki"), spki(&tree, "keys/www/key.pem"));
    assert!(field(&tree, "published") > published, "published advances");
    signed(&tree);
    assert!(no_private_key(&tree.path("outbox")) >= 6);

    // A key file others may read is refused; nothing is written.
    let path = tree.path("keys/www/key.pem");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    tree.run(&["csr", "-f"])
        .expect(65)
        .one_error("key.pem: refused: private key is readable or writable by group or others");
    assert_eq!(tree.read("keys/www/key.pem"), key);
    // An unknown line is a usage error; no [[csr]] at all, a configuration one.
    tree.run(&["csr", "mail"]).expect(64);
    write_config(
        &tree,
        "",
        "[[service]]\nname = \"www\"\nline = \"www\"\nreload = \"true\"\nrule = \"content-changed\"\n\
         files = [{ cert = \"pub/www/fullchain.pem\", key = \"keys/www/key.pem\" }]\n",
    );
    tree.run(&["csr"])
        .expect(78)
        .one_error("no [[csr]] line (and [outbox]): nothing for csr to do");
}

#[test]
fn an_old_key_gets_a_next_key_whose_csr_is_published_beside_it() {
    let tree = site(&outbox("\"www.example.test\"", "max_key_age = \"30d\""), "");
    tree.run(&["csr"]).expect(0);
    let key = tree.read("keys/www/key.pem");
    // Young enough: nothing to do.
    age(
        &tree.path("keys/www/key.pem"),
        Duration::from_secs(29 * 86_400),
    );
    tree.run(&["csr"]).expect(2).silent();
    age(
        &tree.path("keys/www/key.pem"),
        Duration::from_secs(31 * 86_400),
    );
    let ran = tree.run(&["csr", "-n"]).expect(0);
    ran.stdout_starts("www: would stage a next key ");
    assert!(!tree.path("keys/www/next").exists());
    let ran = tree.run(&["csr"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: outbox written: next key staged (the key is older than 30d)\n"
    );
    assert_eq!(tree.read("keys/www/key.pem"), key, "the key stays");
    assert_eq!(mode(&tree.path("keys/www/next/key.pem")), 0o600);
    assert_eq!(mode(&tree.path("keys/www/next")), 0o700);
    assert_eq!(field(&tree, "spki"), spki(&tree, "keys/www/key.pem"));
    assert_eq!(
        field(&tree, "next-spki"),
        spki(&tree, "keys/www/next/key.pem")
    );
    assert_ne!(field(&tree, "spki"), field(&tree, "next-spki"));
    let text = verified_csr(&tree, "outbox/www/next.csr.pem");
    assert!(text.contains("verify OK") && text.contains("DNS:www.example.test"));
    assert_eq!(
        csr_key(&tree, "outbox/www/next.csr.pem"),
        key_pub(&tree, "keys/www/next/key.pem")
    );
    signed(&tree);
    // The staged key is reused, not made again.
    let next = tree.read("keys/www/next/key.pem");
    tree.run(&["csr"]).expect(2).silent();
    assert_eq!(tree.read("keys/www/next/key.pem"), next);
    no_private_key(&tree.path("outbox"));
}

#[test]
fn a_published_certificate_for_the_next_key_promotes_it_and_nginx_serves_it() {
    let tree = site(&outbox("\"www.example.test\"", "max_key_age = \"30d\""), "");
    tree.run(&["csr"]).expect(0);
    // The signing site issues from the outbox's CSR; publish; nginx
    // serves it with the site's key.
    let first = tree.sign_csr(&tree.path("outbox/www/csr.pem"));
    tree.publish("www", &first);
    let port = free_port();
    let nginx = Nginx::daemon(
        &tree.path(&format!("nginx-{port}")),
        &[Server::new(
            port,
            NAME,
            &tree.path("pub/www/fullchain.pem"),
            &tree.path("keys/www/key.pem"),
        )],
    );
    let service = format!(
        "[[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{NAME}\"]\n\
         files = [{{ cert = \"pub/www/fullchain.pem\", key = \"keys/www/key.pem\" }}]\n\
         pidfile = \"{}\"\npreflight = \"{}\"\nreload = \"{HUP}\"\nrule = \"content-changed\"\n\
         postflight = [{{ connect = \"{}\", sni = \"{NAME}\" }}]\n",
        nginx.pidfile().display(),
        nginx.test_command(),
        nginx.addr()
    );
    let part = outbox("\"www.example.test\"", "max_key_age = \"30d\"");
    write_config(&tree, &part, &service);
    tree.run(&["run"]).expect(0);
    nginx.assert_serves(&first.der);

    // The key ages: a next key and its CSR.
    let key = tree.read("keys/www/key.pem");
    age(
        &tree.path("keys/www/key.pem"),
        Duration::from_secs(31 * 86_400),
    );
    tree.run(&["csr"]).expect(0);
    let next = tree.read("keys/www/next/key.pem");

    // A certificate for neither key is refused as always; nothing promoted.
    let stray = tree.valid("stray", NAME);
    tree.publish("www", &stray);
    tree.run(&["run"])
        .expect(65)
        .one_error("does not match the certificate");
    assert_eq!(tree.read("keys/www/key.pem"), key);
    assert_eq!(tree.read("keys/www/next/key.pem"), next);
    nginx.assert_serves(&first.der);

    // The next key's certificate is published: -n says so, changes nothing.
    let second = tree.sign_csr(&tree.path("outbox/www/next.csr.pem"));
    tree.publish("www", &second);
    let ran = tree.run(&["check"]).expect(0);
    assert_eq!(
        ran.stdout,
        format!(
            "www: would promote the next key {}: the published certificate is for it\n\
             www: would reload: content changed since the last deployment (content-changed)\n",
            tree.path("keys/www/next/key.pem").display()
        )
    );
    assert_eq!(tree.read("keys/www/key.pem"), key);
    // run: promoted, then deployed as usual; nginx serves the new leaf.
    let ran = tree.run(&["run"]).expect(0);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "www: promoted the next key to {}: the published certificate is for it; previous key kept as {}",
            tree.path("keys/www/key.pem").display(),
            tree.path("keys/www/old/").display()
        )),
        "{}",
        ran.stdout
    );
    assert!(
        lines[1].starts_with("www: reloaded, served: content changed"),
        "{}",
        ran.stdout
    );
    nginx.assert_serves(&second.der);
    assert_eq!(tree.read("keys/www/key.pem"), next);
    assert_eq!(mode(&tree.path("keys/www/key.pem")), 0o600);
    assert!(!tree.path("keys/www/next/key.pem").exists());
    let old = tree.listing("keys/www/old");
    assert_eq!(old.len(), 1, "{old:?}");
    let kept = tree.path(&format!("keys/www/old/{}", old[0]));
    assert_eq!(std::fs::read(&kept).expect("old key"), key);
    assert_eq!(mode(&kept), 0o600);
    assert_eq!(mode(&tree.path("keys/www/old")), 0o700);
    tree.run(&["run"]).expect(2).silent();

    // The next csr run publishes the new key alone.
    let ran = tree.run(&["csr"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: outbox written: key changed, next key gone (promoted)\n"
    );
    assert_eq!(field(&tree, "spki"), spki(&tree, "keys/www/key.pem"));
    assert_eq!(field(&tree, "next-spki"), "-");
    assert_eq!(
        tree.listing("outbox/www"),
        ["csr.pem", "manifest", "manifest.sig"]
    );
    assert_eq!(
        csr_key(&tree, "outbox/www/csr.pem"),
        key_pub(&tree, "keys/www/key.pem")
    );
    signed(&tree);
    // Its age counts from the promotion: no new next key.
    tree.run(&["csr"]).expect(2).silent();
    no_private_key(&tree.path("outbox"));
}
