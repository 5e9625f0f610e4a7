//! `certdrop-check probe ADDR:PORT` against the real servers: an nginx with
//! a TLS 1.2-only and a TLS 1.3-only server block, a postfix offering
//! STARTTLS on one smtpd and not on another, and a port nobody listens on.
//! Every field printed is compared with what `openssl x509` says of the
//! file the server serves (subject, issuer, serial, notAfter, the SHA-256
//! of the DER).

use std::path::Path;

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::postfix::{Postfix, Smtpd, Tls};
use certdrop_testkit::{free_port, sh};

use crate::site::{check, Site};

/// What openssl says of the `n`th certificate of a PEM file, in the probe's words.
fn expected(dir: &Path, pem: &str, n: usize) -> String {
    let one = format!("awk -v n={n} '/BEGIN CERT/{{i++}} i==n+1' {pem}");
    let sha = sh(
        dir,
        &format!("{one} | openssl x509 -outform DER | sha256sum"),
    );
    let serial = sh(dir, &format!("{one} | openssl x509 -noout -serial"));
    let end = sh(dir, &format!("{one} | openssl x509 -noout -enddate"));
    let end = sh(
        dir,
        &format!(
            "date -u -d '{}' +%Y-%m-%dT%H:%M:%SZ",
            end.trim().trim_start_matches("notAfter=")
        ),
    );
    format!(
        "serial={} notAfter={} sha256={}",
        colons(serial.trim().trim_start_matches("serial=")),
        end.trim(),
        sha.split_whitespace().next().expect("digest")
    )
}

/// openssl's serial (upper-case hex) as x509-parser prints it (lower case, colons).
fn colons(hex: &str) -> String {
    let hex = hex.to_lowercase();
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    let pairs: Vec<&str> = (0..hex.len()).step_by(2).map(|i| &hex[i..i + 2]).collect();
    pairs.join(":")
}

/// The probe's output says `version`, two certificates, each as openssl says it.
fn assert_chain(stdout: &str, version: &str, dir: &Path, pem: &str, name: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "version line and two certificates:\n{stdout}"
    );
    assert!(
        lines[0].starts_with(&format!("{version} 127.0.0.1:")),
        "{stdout}"
    );
    assert!(lines[0].ends_with(": 2 certificate(s)"), "{stdout}");
    assert!(
        lines[1].starts_with(&format!(
            "0 subject=\"CN={name}\" issuer=\"CN=Test Intermediate\" "
        )),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("1 subject=\"CN=Test Intermediate\" issuer=\"CN=Test Root\" "),
        "{stdout}"
    );
    for (i, line) in lines[1..].iter().enumerate() {
        let want = expected(dir, pem, i);
        assert!(
            line.ends_with(&want),
            "certificate {i}: {line}\nopenssl: {want}"
        );
    }
}

#[test]
fn probe_prints_what_nginx_serves_over_tls12_and_tls13() {
    const NAME: &str = "www.example.test";
    let site = Site::new();
    let dir = site.root().to_path_buf();
    site.line("www", NAME, 60);
    let (tls12, tls13) = (free_port(), free_port());
    let fullchain = site.path("certs/www/fullchain.pem");
    let key = site.path("pki/www.key");
    let _nginx = Nginx::start(
        &site.path("nginx"),
        &[
            Server::new(tls12, NAME, &fullchain, &key).protocols("TLSv1.2"),
            Server::new(tls13, NAME, &fullchain, &key).protocols("TLSv1.3"),
        ],
    );
    let pem = "certs/www/fullchain.pem";
    for (port, version) in [(tls12, "TLSv1.2"), (tls13, "TLSv1.3")] {
        let at = format!("127.0.0.1:{port}");
        let ran = check(&["probe", &at, "--sni", NAME]).expect(0);
        assert_chain(&ran.stdout, version, &dir, pem, NAME);
        assert!(
            ran.stdout.contains(&format!(" sni={NAME}:")),
            "{}",
            ran.stdout
        );
    }
    // The version asked for is the version spoken; one the server does not
    // speak is a failed handshake, said in one line.
    let at12 = format!("127.0.0.1:{tls12}");
    let at13 = format!("127.0.0.1:{tls13}");
    check(&["probe", &at13, "--sni", NAME, "--tls1.3"])
        .expect(0)
        .stdout_starts("TLSv1.3 ");
    check(&["probe", &at12, "--sni", NAME, "--tls1.3"])
        .expect(69)
        .one_error(&format!("{at12} ({NAME}): tls: TLS handshake failed"));
    check(&["probe", &at13, "--sni", NAME, "--tls1.2"])
        .expect(69)
        .one_error(&format!("{at13} ({NAME}): tls: TLS handshake failed"));
    // --json says the same.
    let ran = check(&["probe", &at13, "--sni", NAME, "--json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).expect("json");
    assert_eq!(v["version"], "TLSv1.3");
    assert_eq!(v["protocol"], "tls");
    let leaf = expected(&dir, pem, 0);
    let sha = leaf.rsplit("sha256=").next().expect("sha");
    assert_eq!(v["certificates"][0]["sha256"], sha, "{}", ran.stdout);
    assert_eq!(v["certificates"].as_array().map(Vec::len), Some(2));
}

#[test]
fn probe_speaks_smtp_starttls_to_postfix_and_says_why_not() {
    const MAIL: &str = "mail.example.test";
    let site = Site::new();
    let dir = site.root().to_path_buf();
    site.line("mail", MAIL, 60);
    let (tls, plain, nobody) = (free_port(), free_port(), free_port());
    let _postfix = Postfix::with(
        &site.path("postfix"),
        &[
            Smtpd {
                port: tls,
                tls: Tls::May,
            },
            Smtpd {
                port: plain,
                tls: Tls::None,
            },
        ],
        &site.path("certs/mail/fullchain.pem"),
        &site.path("pki/mail.key"),
    );
    let at = format!("127.0.0.1:{tls}");
    let ran = check(&["probe", &at, "--protocol", "smtp", "--sni", MAIL]).expect(0);
    assert_chain(
        &ran.stdout,
        "TLSv1.3",
        &dir,
        "certs/mail/fullchain.pem",
        MAIL,
    );
    assert!(ran.stdout.contains(" smtp sni="), "{}", ran.stdout);
    let ran = check(&["probe", &at, "--protocol", "smtp", "--tls1.2"]).expect(0);
    assert_chain(
        &ran.stdout,
        "TLSv1.2",
        &dir,
        "certs/mail/fullchain.pem",
        MAIL,
    );
    // No STARTTLS offered; implicit TLS spoken to an SMTP server; nobody there.
    let at = format!("127.0.0.1:{plain}");
    check(&["probe", &at, "--protocol", "smtp"])
        .expect(69)
        .one_error(&format!("{at}: smtp: STARTTLS not offered"));
    let at = format!("127.0.0.1:{tls}");
    check(&["probe", &at, "--timeout", "20s"])
        .expect(69)
        .one_error(&format!("{at}: tls: "));
    let at = format!("127.0.0.1:{nobody}");
    check(&["probe", &at])
        .expect(69)
        .one_error(&format!("{at}: tls: connect failed"));
    check(&["probe", &at, "--protocol", "smtps"])
        .expect(64)
        .one_error("unknown protocol \"smtps\"");
}
