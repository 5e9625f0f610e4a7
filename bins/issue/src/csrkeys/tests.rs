//! A CSR line's requests checked against what openssl makes (keys a CA
//! accepts or not, damaged signatures, other names), and the choice of
//! the request for the certificate's key and the staged one.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// `openssl ARGS` in `dir`; panics with its stderr if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key made by `openssl genpkey ALG_ARGS` and its CSR for `names`, as
/// `openssl req -new -key` writes it: the PEM text.
fn csr_with(dir: &Path, alg: &[&str], names: &[&str]) -> Vec<u8> {
    let mut args = vec!["genpkey", "-out", "k.pem"];
    args.extend_from_slice(alg);
    openssl(dir, &args);
    let san = names
        .iter()
        .map(|n| format!("DNS:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            &format!("/CN={}", names[0]),
            "-addext",
            &format!("subjectAltName={san}"),
            "-out",
            "csr.pem",
        ],
    );
    std::fs::read(dir.join("csr.pem")).expect("csr.pem")
}

const P256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];

fn der_of(pem: &[u8]) -> Vec<u8> {
    certinfo::parse_csr(pem).expect("parses").der
}

#[test]
fn keys_a_ca_accepts_pass_and_others_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let names = ["www.example.org"];
    for ok in [
        P256,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
    ] {
        let der = der_of(&csr_with(d, ok, &names));
        check(&der).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
    let weak = der_of(&csr_with(
        d,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
        &names,
    ));
    let e = check(&weak).expect_err("RSA 1024");
    assert!(e.contains("weak key: RSA of 1024 bits"), "{e}");
    let p521 = der_of(&csr_with(
        d,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
        &names,
    ));
    let e = check(&p521).expect_err("P-521");
    assert!(e.contains("elliptic curve 1.3.132.0.35"), "{e}");
    let ed = der_of(&csr_with(d, &["-algorithm", "ED25519"], &names));
    let e = check(&ed).expect_err("Ed25519");
    assert!(e.contains("unsupported key algorithm 1.3.101.112"), "{e}");
}

#[test]
fn a_damaged_signature_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for alg in [
        P256,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
    ] {
        let mut der = der_of(&csr_with(dir.path(), alg, &["www.example.org"]));
        *der.last_mut().expect("not empty") ^= 1;
        let e = check(&der).expect_err("damaged");
        assert!(e.contains("its signature does not verify"), "{e}");
    }
}

/// A line `www` for www.example.org whose CSR is `dir/csr.pem`.
fn csr_line(dir: &Path) -> Line {
    let text = format!(
        "{}[drop]\nwebroot = \"webroot\"\n{}[[line]]\nname = \"www\"\ndomains = [\"www.example.org\"]\nchallenge = \"http-01\"\ncsr = \"{}\"\n",
        crate::config::tests::HEAD,
        crate::config::tests::DNS,
        dir.join("csr.pem").display()
    );
    let path = dir.join("issue.toml");
    std::fs::write(&path, text).expect("write");
    let config = Config::parse(&path, &std::fs::read_to_string(&path).expect("read"))
        .expect("config parses");
    config.lines[0].clone()
}

#[test]
fn the_next_csr_is_staged_and_a_refused_one_stages_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let line = csr_line(d);
    let first = csr_with(d, P256, &["www.example.org"]);
    let current = certinfo::parse_csr(&first).expect("parse").spki;
    // Only the CSR file: it is the certificate's key, nothing is staged.
    let csrs = load(&line).expect("load").expect("a CSR line");
    assert!(csrs.staged(&current).is_none());
    assert_eq!(csrs.for_key(&current).map(|c| &c.spki), Some(&current));
    // A next.csr.pem beside it is the staged key.
    let next = csr_with(d, P256, &["www.example.org"]);
    std::fs::write(d.join("csr.pem"), &first).expect("restore");
    std::fs::write(d.join(NEXT_CSR), &next).expect("next");
    let next_spki = certinfo::parse_csr(&next).expect("parse").spki;
    let csrs = load(&line).expect("load").expect("a CSR line");
    let (staged, path) = csrs.staged(&current).expect("staged");
    assert_eq!(staged.spki, next_spki);
    assert_eq!(path, d.join(NEXT_CSR));
    // Once the certificate is for the next key, nothing is staged, and
    // its renewals come from next.csr.pem.
    assert!(csrs.staged(&next_spki).is_none());
    assert_eq!(csrs.for_key(&next_spki).map(|c| &c.spki), Some(&next_spki));
    // A CSR file for another key than the certificate's is staged too.
    std::fs::remove_file(d.join(NEXT_CSR)).expect("rm");
    std::fs::write(d.join("csr.pem"), &next).expect("replace");
    let csrs = load(&line).expect("load").expect("a CSR line");
    assert_eq!(
        csrs.staged(&current).map(|(c, _)| &c.spki),
        Some(&next_spki)
    );
    // A next.csr.pem for other names is refused, and stages nothing.
    std::fs::write(d.join("csr.pem"), &first).expect("restore");
    let other = csr_with(d, P256, &["other.example.org"]);
    std::fs::write(d.join("csr.pem"), &first).expect("restore");
    std::fs::write(d.join(NEXT_CSR), &other).expect("next");
    let csrs = load(&line).expect("load").expect("a CSR line");
    let e = csrs.next_error.as_ref().expect("refused");
    assert!(
        e.msg.contains(
            "next.csr.pem: CSR refused: names [\"other.example.org\"] differ from line 'www'"
        ),
        "{}",
        e.msg
    );
    assert!(csrs.staged(&current).is_none());
    // One that cannot be read is refused too, not taken for none.
    std::fs::remove_file(d.join(NEXT_CSR)).expect("rm");
    std::fs::create_dir(d.join(NEXT_CSR)).expect("a directory");
    let csrs = load(&line).expect("load").expect("a CSR line");
    let e = csrs.next_error.as_ref().expect("refused");
    assert!(e.msg.contains("next.csr.pem: read CSR:"), "{}", e.msg);
    // A CSR file that is not a CSR is the line's error (65).
    std::fs::write(d.join("csr.pem"), "not a request\n").expect("garbage");
    let e = load(&line).err().expect("refused");
    assert_eq!(e.class, certdrop_core::exit::Failure::Data, "{}", e.msg);
    assert!(e.msg.contains("csr.pem: CSR refused:"), "{}", e.msg);
}

/// A CSR line `www` with a TLSA owner (rollover_wait 1h, jitter 0) whose
/// certificate, valid 2030-01-01 to 2030-04-11, is for `key`.
struct Fx {
    _dir: tempfile::TempDir,
    config: Config,
    csr: PathBuf,
}

impl Fx {
    fn new(key: &rcgen::KeyPair) -> Fx {
        let dir = tempfile::tempdir().expect("tempdir");
        let csr = dir.path().join("inbox/www/csr.pem");
        std::fs::create_dir_all(csr.parent().expect("parent")).expect("inbox");
        let text = format!(
            "{}[drop]\nwebroot = \"webroot\"\n{}[renew]\njitter = \"0s\"\n[[line]]\nname = \"www\"\n\
             domains = [\"www.example.org\"]\nchallenge = \"http-01\"\ncsr = \"{}\"\n\
             tlsa = [\"_443._tcp.www.example.org\"]\nrollover_wait = \"1h\"\n",
            crate::config::tests::HEAD,
            crate::config::tests::DNS,
            csr.display()
        );
        let config = Config::parse(&dir.path().join("issue.toml"), &text).expect("config");
        config.store.ensure().expect("store");
        let mut p =
            rcgen::CertificateParams::new(vec!["www.example.org".to_string()]).expect("params");
        p.not_before = rcgen::date_time_ymd(2030, 1, 1);
        p.not_after = rcgen::date_time_ymd(2030, 4, 11);
        let pem = p.self_signed(key).expect("sign").pem().into_bytes();
        let files = certdrop_core::store::CertFiles {
            cert: pem.clone(),
            chain: Vec::new(),
            fullchain: pem,
            pubkey: crate::keys::public_pem(&crate::keys::spki(key)).into_bytes(),
        };
        config
            .store
            .publish("www", Some(&files), None, None)
            .expect("publish");
        Fx {
            _dir: dir,
            config,
            csr,
        }
    }

    /// Write a CSR for `key` (DER, as `openssl req -outform DER` does) to `file`.
    fn write(&self, file: &str, key: &rcgen::KeyPair) {
        let der = crate::keys::csr(key, &["www.example.org".to_string()]).expect("csr");
        std::fs::write(self.csr.with_file_name(file), der).expect("write");
    }

    fn plan(&self, state: &LineState, now: i64) -> Plan {
        lifecycle::plan(
            &self.config,
            &self.config.lines[0],
            state,
            now,
            false,
            false,
        )
        .expect("plan")
    }

    fn signer(&self, reason: Reason) -> (Vec<u8>, bool) {
        match signer(
            &self.config,
            &self.config.lines[0],
            &reason,
            &LineState::default(),
        )
        .expect("signer")
        {
            Signer::Csr { csr, next } => (csr.spki, next),
            Signer::Key { .. } => panic!("a CSR line signs with a CSR"),
        }
    }
}

#[test]
fn a_staged_csr_waits_for_its_record_and_the_renewal_waits_with_it() {
    use crate::keys::{spki, KeyType};
    let key1 = KeyType::EcdsaP256.generate().expect("key");
    let key2 = KeyType::EcdsaP256.generate().expect("key");
    let fx = Fx::new(&key1);
    let line = &fx.config.lines[0];
    let jan2 = 1_893_542_400; // 2030-01-02T00:00:00Z
    let late = 1_901_232_000; // 2030-04-01: inside the renewal window
    fx.write("csr.pem", &key1);
    let mut st = LineState::default();
    assert!(matches!(fx.plan(&st, jan2), Plan::Wait(Some(_), "renewal")));
    assert_eq!(fx.plan(&st, late), Plan::Issue(Reason::Window));
    assert_eq!(fx.signer(Reason::Window), (spki(&key1), false));

    // The CSR file now asks for another key: staged, not ordered.
    fx.write("csr.pem", &key2);
    assert_eq!(fx.plan(&st, jan2), Plan::StageNext);
    assert_eq!(
        stage_from_csr(&fx.config, line, &mut st, jan2).expect("stage"),
        Some(fx.csr.clone())
    );
    assert_eq!(
        published_next(&fx.config, line).expect("read"),
        Some(spki(&key2))
    );
    // Not yet served: the servers are asked. Inside the window too: there
    // is no CSR left for the certificate's key, so no renewal before the
    // rollover's gate.
    assert_eq!(fx.plan(&st, jan2), Plan::CheckNext);
    assert_eq!(fx.plan(&st, late), Plan::CheckNext);
    // Served since jan2 with TTL 60: usable 2 x 60 s later (and after the
    // hour of rollover_wait), and then from the staged CSR.
    st.next_served_since = Some(jan2);
    st.next_served_ttl = Some(60);
    let ready = jan2 + 3600 + 1;
    assert_eq!(
        fx.plan(&st, ready - 1),
        Plan::Wait(Some(ready), "next key published, waiting")
    );
    assert_eq!(fx.plan(&st, ready), Plan::Issue(Reason::Rollover));
    assert_eq!(fx.signer(Reason::Rollover), (spki(&key2), true));

    // With the old CSR back and the new one as next.csr.pem, a renewal
    // inside the window keeps the certificate's key.
    fx.write("csr.pem", &key1);
    fx.write(NEXT_CSR, &key2);
    st.next_served_since = None;
    assert_eq!(fx.plan(&st, late), Plan::Issue(Reason::Window));
    assert_eq!(fx.signer(Reason::Window), (spki(&key1), false));
    // next.csr.pem withdrawn: so is the staged key.
    std::fs::remove_file(fx.csr.with_file_name(NEXT_CSR)).expect("rm");
    assert_eq!(fx.plan(&st, jan2), Plan::Unstage);
    unstage(&fx.config, line, &mut st).expect("unstage");
    assert_eq!(published_next(&fx.config, line).expect("read"), None);
    assert!(matches!(fx.plan(&st, jan2), Plan::Wait(Some(_), "renewal")));
}

#[test]
fn both_csrs_are_read_from_the_version_the_inbox_link_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let v1 = d.join(".v/www.1");
    std::fs::create_dir_all(&v1).expect("version");
    std::os::unix::fs::symlink(".v/www.1", d.join("www")).expect("link");
    let line = csr_line(&d.join("www"));
    let csr = d.join("www/csr.pem");
    let resolved = version_dir(&csr);
    assert_eq!(resolved, v1.canonicalize().expect("canonical"));
    // A directory that is no link is itself; a missing one as written.
    assert_eq!(version_dir(&v1.join("csr.pem")), resolved);
    assert_eq!(
        version_dir(&d.join("none/csr.pem")),
        d.join("none"),
        "read from as written, and reported missing"
    );
    // Read through the link, the configured paths are what errors name.
    let first = csr_with(&v1, P256, &["www.example.org"]);
    let csrs = load(&line).expect("load").expect("a CSR line");
    assert_eq!(csrs.current.der, der_of(&first));
    assert_eq!(csrs.current_path, csr);
    std::fs::remove_file(v1.join("csr.pem")).expect("rm");
    nix::unistd::mkfifo(&v1.join("csr.pem"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let e = load(&line).err().expect("a FIFO is refused, not read");
    assert_eq!(e.class, certdrop_core::exit::Failure::Data, "{}", e.msg);
    assert_eq!(
        e.msg,
        format!("{}: read CSR: a FIFO, not a regular file", csr.display())
    );
}
