//! Tests of manifest checking against OpenSSH itself: signatures made by
//! `ssh-keygen -Y sign`, accepted and refused as `ssh-keygen -Y verify`
//! accepts and refuses them (principals, namespaces, validity), tampered
//! manifests and files, another line's manifest. The grammar itself is
//! tested in crates/manifest; these run it through the trigger's reading
//! of a line directory.
use super::*;
use certdrop_manifest::NAMESPACE;
use certdrop_testkit::sh;
use sha2::{Digest, Sha256};
use std::process::Command;

const NOW: i64 = 1_795_488_574; // 2026-11-24

struct Line {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    signers: String,
}

impl Line {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// (ours, ssh-keygen's) verdicts for `signers`, identity `id`.
    fn verdicts(&self, signers: &str, id: &str) -> (Result<(), Error>, bool) {
        let ours = verify(&self.path("pub"), "www", signers, Some(id), NOW).map(|_| ());
        let file = self.path("allowed");
        std::fs::write(&file, signers).expect("write");
        let dir = self.path("pub/www");
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ssh-keygen -Y verify -f {} -I {id} -n {NAMESPACE} -s {}/manifest.sig < {}/manifest",
                file.display(),
                dir.display(),
                dir.display()
            ))
            .output()
            .expect("ssh-keygen")
            .status
            .success();
        (ours, ok)
    }
}

/// A published line pub/www -> .v/www.1 with a manifest signed by ssh-keygen.
fn line(name_in_manifest: &str, namespace: &str) -> Line {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    let v = root.join("pub/.v/www.1");
    std::fs::create_dir_all(&v).expect("mkdir");
    std::os::unix::fs::symlink(".v/www.1", root.join("pub/www")).expect("symlink");
    std::fs::write(v.join("cert.pem"), "cert\n").expect("cert");
    std::fs::write(v.join("chain.pem"), "chain\n").expect("chain");
    let hex = |b: &[u8]| certdrop_core::certinfo::hex(&Sha256::digest(b));
    let manifest = format!(
        "certdrop-manifest 1\nline {name_in_manifest}\nnames www.example.org\nserial 01\n\
         not-before 2026-11-24T00:00:00Z\nnot-after 2027-02-22T00:00:00Z\npublished 2026-11-24T01:00:00Z\n\
         sha256 {}  cert.pem\nsha256 {}  chain.pem\n",
        hex(b"cert\n"),
        hex(b"chain\n")
    );
    std::fs::write(v.join("manifest"), manifest).expect("manifest");
    let key = root.join("signkey");
    sh(
        &root,
        &format!(
            "ssh-keygen -q -t ed25519 -N '' -C publish -f {}",
            key.display()
        ),
    );
    sh(
        &root,
        &format!(
            "ssh-keygen -q -Y sign -f {} -n {namespace} {}/manifest",
            key.display(),
            v.display()
        ),
    );
    let public = std::fs::read_to_string(root.join("signkey.pub")).expect("pub");
    let signers = format!("publish@certdrop namespaces=\"{NAMESPACE}\" {public}");
    Line {
        _tmp: tmp,
        root,
        signers,
    }
}

#[test]
fn accepts_what_ssh_keygen_accepts() {
    let l = line("www", NAMESPACE);
    let v = verify(&l.path("pub"), "www", &l.signers, None, NOW).expect("verified");
    assert_eq!(
        v.dir,
        std::fs::canonicalize(l.path("pub/.v/www.1")).expect("canon")
    );
    assert_eq!(v.read("cert.pem").expect("cert"), b"cert\n");
    let (ours, theirs) = l.verdicts(&l.signers, "publish@certdrop");
    assert!(ours.is_ok() && theirs, "{ours:?}");
    // Another principal: both refuse.
    let (ours, theirs) = l.verdicts(&l.signers, "someone@else");
    assert!(ours.is_err() && !theirs);
    assert!(ours
        .unwrap_err()
        .msg
        .contains("not an allowed signer for 'someone@else'"));
    // Patterns in principals, no namespaces option: both accept.
    let public = l
        .signers
        .split_once(" namespaces=")
        .expect("opts")
        .1
        .split_once(' ')
        .expect("key")
        .1;
    let loose = format!("# comment\n\n*@certdrop {public}");
    let (ours, theirs) = l.verdicts(&loose, "publish@certdrop");
    assert!(ours.is_ok() && theirs, "{ours:?}");
    // A key allowed only for git signatures: both refuse.
    let git = format!("publish@certdrop namespaces=\"git\" {public}");
    let (ours, theirs) = l.verdicts(&git, "publish@certdrop");
    assert!(ours.is_err() && !theirs);
    // Expired signer: both refuse; a signer valid from the past on: both accept.
    let expired = format!("publish@certdrop valid-before=\"20200101Z\" {public}");
    let (ours, theirs) = l.verdicts(&expired, "publish@certdrop");
    assert!(ours.is_err() && !theirs, "{ours:?}");
    // A negated principal is refused although a pattern admits it.
    let negated = format!("\"*@certdrop,!publish@certdrop\" {public}");
    let (ours, theirs) = l.verdicts(&negated, "publish@certdrop");
    assert!(ours.is_err() && !theirs, "{ours:?}");
    // A cert-authority entry never vouches for a plain key's signature.
    let ca = format!("publish@certdrop cert-authority {public}");
    let (ours, theirs) = l.verdicts(&ca, "publish@certdrop");
    assert!(ours.is_err() && !theirs, "{ours:?}");
    let valid =
        format!("publish@certdrop valid-after=\"20200101Z\",namespaces=\"{NAMESPACE}\" {public}");
    let (ours, theirs) = l.verdicts(&valid, "publish@certdrop");
    assert!(ours.is_ok() && theirs, "{ours:?}");
}

#[test]
fn refuses_tampering_other_keys_namespaces_and_lines() {
    let l = line("www", NAMESPACE);
    // Another key entirely.
    let other = line("www", NAMESPACE);
    let e = verify(&l.path("pub"), "www", &other.signers, None, NOW)
        .expect_err("other key")
        .msg;
    assert!(e.contains("not an allowed signer"), "{e}");
    // A file changed after signing.
    std::fs::write(l.path("pub/www/chain.pem"), "evil\n").expect("write");
    let e = verify(&l.path("pub"), "www", &l.signers, None, NOW)
        .expect_err("file")
        .msg;
    assert!(
        e.contains("chain.pem: SHA-256 differs from the signed manifest"),
        "{e}"
    );
    // The manifest changed after signing.
    let m = l.path("pub/www/manifest");
    let text = std::fs::read_to_string(&m)
        .expect("read")
        .replace("serial 01", "serial 02");
    std::fs::write(&m, text).expect("write");
    let e = verify(&l.path("pub"), "www", &l.signers, None, NOW)
        .expect_err("manifest")
        .msg;
    assert!(e.contains("bad signature"), "{e}");
    // Signed for another purpose.
    let f = line("www", "file");
    let e = verify(&f.path("pub"), "www", &f.signers, None, NOW)
        .expect_err("namespace")
        .msg;
    assert!(e.contains("namespace 'file'"), "{e}");
    // A good manifest of another line, copied here.
    let o = line("api", NAMESPACE);
    let e = verify(&o.path("pub"), "www", &o.signers, None, NOW)
        .expect_err("line")
        .msg;
    assert!(e.contains("manifest of line 'api', not 'www'"), "{e}");
}
