//! A FIFO planted in every input directory another stage writes
//! (dnsextra/, phonehome/<host>/, certs/<line>/cert.pem and
//! certs/<line>/next/pubkey.pem): the real build finishes instead of
//! blocking on an open or a read, names each FIFO as refused, and the good
//! records beside them still reach the installed zone. A FIFO as the
//! issuer's completion marker is never opened at all.

use std::process::{Command, Stdio};
use std::time::Duration;

use certdrop_testkit::tree::mkfifo;
use certdrop_testkit::Run;

use crate::site::{read, Ran, Tree, V1};

const ZONE: &str = "example.test";
/// Far longer than a build of one small zone takes; a build blocked on a
/// FIFO never ends, so any bound fails it.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// A self-signed certificate and its public key in `certs/<line>/`.
fn cert_line(tree: &Tree, line: &str, name: &str) {
    let dir = tree.path(&format!("certs/{line}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let key = tree.path(&format!("{line}.key"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj"])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
}

/// Run certdrop-zone with `args`; a build still going after
/// [`BUILD_TIMEOUT`] (blocked on a FIFO) fails the test.
fn run_bounded(args: &[&str]) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-zone"))
        .args(args)
        .ended_within(BUILD_TIMEOUT)
}

#[test]
fn fifos_in_every_input_directory_are_refused_and_the_build_finishes() {
    let tree = Tree::new();
    tree.sources(ZONE);
    // dnsextra/: a good fragment beside a FIFO.
    tree.fragment(
        "good",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    let frag_fifo = tree.path("dnsextra/fifo");
    mkfifo(&frag_fifo);
    // A completion marker that is a FIFO: never opened, never named.
    mkfifo(&tree.path("dnsextra/.complete.www"));
    // phonehome/<host>/: a good host key beside a FIFO named like a key.
    let host = tree.path("phonehome/www.example.test");
    std::fs::create_dir_all(&host).expect("mkdir");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(host.join("ssh_host_ed25519_key"))
        .status()
        .expect("ssh-keygen");
    assert!(ok.success());
    std::fs::remove_file(host.join("ssh_host_ed25519_key")).expect("private half");
    mkfifo(&host.join("fifo.pub"));
    // certs/: line www has a FIFO for its certificate; line mail a good
    // certificate and a FIFO for its staged next key.
    mkfifo(&tree.path("certs/www/cert.pem"));
    cert_line(&tree, "mail", "mail.example.test");
    let next_fifo = tree.path("certs/mail/next/pubkey.pem");
    mkfifo(&next_fifo);
    tree.write(
        "tlsa.map",
        "_443._tcp.www.example.test  www  3 1 1\n_25._tcp.mail.example.test  mail  3 1 1\n",
    );
    let config = tree.config(
        ZONE,
        "[]",
        "signer = \"none\"\ntlsa_map = \"tlsa.map\"\nsshfp = true\n",
    );
    let ran = run_bounded(&["-c", config.to_str().expect("utf8"), "build"]).expect(0);

    let fifo = "refused: a FIFO, not a regular file";
    let fifo_reason = "a FIFO, not a regular file";
    let lines: Vec<&str> = ran.stderr.lines().collect();
    let named = |path: &str, why: &str| lines.iter().any(|l| l.contains(path) && l.contains(why));
    assert!(!ran.stderr.contains(".complete."), "{}", ran.stderr);
    assert!(
        named(&format!("{}: rejected", frag_fifo.display()), fifo_reason),
        "fragment FIFO not named:\n{}",
        ran.stderr
    );
    assert!(
        named("www.example.test/fifo.pub: rejected", fifo_reason),
        "host key FIFO not named:\n{}",
        ran.stderr
    );
    let www_cert = tree.path("certs/www/cert.pem");
    assert!(
        named(&www_cert.display().to_string(), fifo),
        "certificate FIFO not named:\n{}",
        ran.stderr
    );
    assert!(
        named(&next_fifo.display().to_string(), fifo),
        "next key FIFO not named:\n{}",
        ran.stderr
    );

    // The good records beside them reached the zone.
    let zone = read(&tree.path("zones/example.test.zone"));
    assert!(zone.contains(V1), "{zone}");
    let sshfp = zone.lines().filter(|l| l.contains("SSHFP")).count();
    assert_eq!(sshfp, 2, "SHA-1 and SHA-256 of the one good key:\n{zone}");
    let mail = crate::site::openssl_spki_sha256(&tree.path("certs/mail/cert.pem"));
    assert!(!mail.is_empty());
    assert!(
        zone.lines()
            .any(|l| l.starts_with("_25._tcp.mail.example.test.") && l.contains(&mail)),
        "{zone}"
    );
    // Nothing for the line whose certificate is a FIFO.
    assert!(!zone.contains("_443._tcp.www"), "{zone}");
}
