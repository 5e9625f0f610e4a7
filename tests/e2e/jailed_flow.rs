//! The whole pipeline as a user runs it (issue 5): the demo site, each
//! stage in its jail (own user, own mount namespace), driven only by cron
//! passes and commits to the configuration repository.

use std::os::unix::fs::MetadataExt;

use crate::jailed::{sh, spki_sha256, Opts, Site, UID_ACME, UID_WWW, WWW};
use crate::tree::run;

fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s' '{b64}' | base64 -d"))
        .output()
        .expect("base64");
    out.stdout
}

/// The demo's flow: one cron pass deploys the configuration from git,
/// gets a certificate over dns-01 through the drop directory, builds and
/// signs the zone with TLSA and SSHFP, publishes, and has nginx serve it;
/// the second pass prints nothing.
#[test]
fn the_demo_flow_stage_by_stage_in_jails() {
    let site = Site::new(Opts::default());
    let first = site.cron();
    assert_eq!(first.code, 0, "first pass: {first:?}\n{}", site.logs());
    assert!(first.stdout.contains("update: now on commit"), "{first:?}");
    assert!(
        first.stderr.is_empty(),
        "first pass complained: {first:?}\n{}",
        site.logs()
    );

    // The issuer's certificate and key, owned by the acme jail's user; the
    // key granted to jail www's group only.
    let cert = std::fs::read_to_string(site.path("data/certs/www/cert.pem")).expect("cert");
    let der = pem_der(&cert);
    let key = std::fs::metadata(site.path("data/keys/www/key.pem")).expect("key");
    assert_eq!(
        (key.uid(), key.gid(), key.mode() & 0o777),
        (UID_ACME, UID_WWW, 0o640)
    );
    let keys = std::fs::metadata(site.path("data/keys")).expect("keys/");
    assert_eq!(keys.mode() & 0o777, 0o700);

    // The zone nsd serves: TLSA of that key, signed; SSHFP of the host key.
    assert_eq!(site.tlsa(), vec![spki_sha256(&der)], "{}", site.logs());
    let port = site.nsd.port().to_string();
    let sshfp = sh(site.dir.path(), &format!("drill -p {port} @127.0.0.1 SSHFP {WWW} | grep -v '^;' | grep SSHFP | awk '{{print $5, $6, $7}}' | sort"));
    let expect = sh(site.dir.path(), &format!("ssh-keygen -r {WWW} -f repo/hostkeys/{WWW}/ssh_host_ed25519_key.pub | awk '{{print $4, $5, $6}}' | sort"));
    assert_eq!(sshfp.to_lowercase(), expect.to_lowercase());
    assert!(!sshfp.is_empty());
    sh(
        site.dir.path(),
        &format!(
            "drill -D -p {port} @127.0.0.1 TLSA _{}._tcp.{WWW} | grep -q RRSIG",
            site.https.port()
        ),
    );

    // Published with a signed manifest the real ssh-keygen accepts.
    assert_eq!(
        std::fs::read(site.path("data/pub/www/fullchain.pem")).expect("pub"),
        std::fs::read(site.path("data/certs/www/fullchain.pem")).expect("certs")
    );
    sh(site.dir.path(), "ssh-keygen -Y verify -f repo/allowed_signers -I publish@certdrop -n certdrop-manifest@certdrop -s data/pub/www/manifest.sig < data/pub/www/manifest >/dev/null");

    // nginx (in jail www) serves it, and DANE says so.
    assert_eq!(
        site.served().as_deref(),
        Some(der.as_slice()),
        "{}",
        site.logs()
    );
    let https = site.https.to_string();
    let nsd = site.nsd.to_string();
    run(
        "certdrop-zone",
        &[
            "verify",
            WWW,
            &site.https.port().to_string(),
            "--server",
            &nsd,
            "--connect",
            &https,
        ],
    )
    .expect(0);

    // Nothing is due: the second pass is silent.
    let second = site.cron();
    assert_eq!(
        (second.code, second.stdout.as_str(), second.stderr.as_str()),
        (0, "", ""),
        "{}",
        site.logs()
    );
}
