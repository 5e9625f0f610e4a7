//! Tests of the SSHFP records: compared with `ssh-keygen -r` on keys it
//! made, and the refusals of bad lines and files.
use super::*;
use base64::engine::general_purpose::STANDARD as B64;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::Command;

fn policy() -> SshfpPolicy {
    let origin = "example.org".into();
    SshfpPolicy {
        origin,
        allow: None,
        sha1: true,
        sha256: true,
        ttl: 3600,
    }
}

fn run(cmd: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(cmd).args(args).arg(file).output();
    let out = out.unwrap_or_else(|e| panic!("{cmd} is needed for this test: {e}"));
    assert!(out.status.success(), "{cmd} {args:?} {file:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `ssh-keygen -r` output as "ALG TYPE hex" lines, in its order.
fn reference(host: &str, pub_file: &Path) -> Vec<String> {
    let out = run("ssh-keygen", &["-r", host, "-f"], pub_file);
    let prefix = format!("{host} IN SSHFP ");
    let lines = out
        .lines()
        .map(|l| l.strip_prefix(&prefix).expect(l).to_ascii_lowercase());
    lines.collect()
}

fn rdata(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.rdata.clone()).collect()
}

fn keygen(dir: &Path, file: &str, args: &[&str]) -> (PathBuf, String) {
    let path = dir.join(file);
    run(
        "ssh-keygen",
        &[&["-q", "-N", "", "-C", "root@test"], args, &["-f"]].concat(),
        &path,
    );
    let pub_file = path.with_extension("pub");
    let line = fs::read_to_string(&pub_file).unwrap();
    (pub_file, line)
}

/// A base64 SSH key blob made of wire strings (RFC 4251 §5).
fn blob(parts: &[&[u8]]) -> String {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    B64.encode(v)
}

#[test]
fn same_as_ssh_keygen() {
    let tmp = tempfile::tempdir().unwrap();
    let kinds: &[(&str, &[&str], &str)] = &[
        ("rsa", &["-t", "rsa", "-b", "2048"], "1"),
        ("ecdsa256", &["-t", "ecdsa", "-b", "256"], "3"),
        ("ecdsa384", &["-t", "ecdsa", "-b", "384"], "3"),
        ("ecdsa521", &["-t", "ecdsa", "-b", "521"], "3"),
        ("ed25519", &["-t", "ed25519"], "4"),
    ];
    for (file, args, alg) in kinds {
        let (pub_file, line) = keygen(tmp.path(), file, args);
        let recs = records_for_key("host.example.org", line.trim_end(), &policy()).unwrap();
        let want = reference("host.example.org", &pub_file);
        assert_eq!(want.len(), 2, "{file}");
        assert!(
            want[0].starts_with(&format!("{alg} 1 ")),
            "{file}: {want:?}"
        );
        assert_eq!(rdata(&recs), want, "{file}");
        for r in &recs {
            assert_eq!(
                (r.owner.as_str(), r.rtype, r.ttl),
                ("host.example.org.", RType::Sshfp, 3600)
            );
        }
    }
    // Fingerprint types and TTL follow the policy.
    let (pub_file, line) = keygen(tmp.path(), "k", &["-t", "ed25519"]);
    let mut p = SshfpPolicy {
        sha1: false,
        ttl: 300,
        ..policy()
    };
    let recs = records_for_key("a.example.org", &line, &p).unwrap();
    assert_eq!(rdata(&recs), reference("a.example.org", &pub_file)[1..]);
    assert_eq!(recs[0].ttl, 300);
    p.sha256 = false;
    assert!(records_for_key("a.example.org", &line, &p).is_err());
    // Ed448 (RFC 8709), which OpenSSH cannot generate.
    let b = blob(&[b"ssh-ed448", &[7u8; 57]]);
    let raw = B64.decode(&b).unwrap();
    let recs = records_for_key("h.example.org", &format!("ssh-ed448 {b}"), &policy()).unwrap();
    let sha1 = format!("6 1 {}", hex(&Sha1::digest(&raw)));
    assert_eq!(
        rdata(&recs),
        [sha1, format!("6 2 {}", hex(&Sha256::digest(&raw)))]
    );
}

#[test]
fn bad_lines_are_refused() {
    const ED: &[u8] = b"ssh-ed25519";
    const P256: &[u8] = b"ecdsa-sha2-nistp256";
    let ed = blob(&[ED, &[1; 32]]);
    let p = policy();
    let h = "h.example.org";
    assert!(records_for_key(h, &format!("ssh-ed25519 {ed} c"), &p).is_ok());
    let small_n = [&[0u8, 0x80][..], &[0x55; 63]].concat();
    // (reason, type in the line, blob)
    let blobs: &[(&str, &str, &[&[u8]])] = &[
        (
            "line says ssh-rsa but the key is ssh-ed25519",
            "ssh-rsa",
            &[ED, &[1; 32]],
        ),
        ("DSA", "ssh-dss", &[b"ssh-dss"]),
        (
            "truncated in the Ed25519 key",
            "ssh-ed25519",
            &[ED, &[1; 32]],
        ),
        ("31 bytes", "ssh-ed25519", &[ED, &[1; 31]]),
        ("1 bytes after the key", "ssh-ed25519", &[ED, &[1; 32], b""]),
        (
            "curve nistp384",
            "ecdsa-sha2-nistp256",
            &[P256, b"nistp384", &[4; 97]],
        ),
        (
            "uncompressed",
            "ecdsa-sha2-nistp256",
            &[P256, b"nistp256", &[2; 33]],
        ),
        (
            "fewer than 1024",
            "ssh-rsa",
            &[b"ssh-rsa", &[1, 0, 1], &small_n],
        ),
        ("negative", "ssh-rsa", &[b"ssh-rsa", &[0x81], &[0x55; 256]]),
    ];
    let mut cases: Vec<(&str, String)> = blobs
        .iter()
        .map(|(why, t, parts)| (*why, format!("{t} {}", blob(parts))))
        .collect();
    // Cut one byte off, or leave the last part's length prefix alone.
    let mut raw = B64.decode(blob(&[ED, &[1; 32]])).unwrap();
    raw.pop();
    cases[2].1 = format!("ssh-ed25519 {}", B64.encode(&raw));
    raw = B64.decode(blob(&[ED, &[1; 32]])).unwrap();
    raw.push(0);
    cases[4].1 = format!("ssh-ed25519 {}", B64.encode(&raw));
    for (why, line) in [
        ("certificate", "ssh-ed25519-cert-v01@openssh.com ED"),
        ("comment", "# ssh-ed25519 ED"),
        ("options", "no-pty,command=\"x\" ssh-ed25519 ED"),
        ("options", "@cert-authority *.example.org ssh-ed25519 ED"),
        ("unknown key type", "sk-ssh-ed25519@openssh.com ED"),
        ("bad base64", "ssh-ed25519 AAAA!!!!"),
        ("no key after the type", "ssh-ed25519"),
        ("empty line", " "),
    ] {
        cases.push((why, line.replace("ED", &ed)));
    }
    for (why, line) in cases {
        let e = records_for_key(h, &line, &p).unwrap_err();
        assert!(e.contains(why), "{line}: {e}");
    }
    let line = format!("ssh-ed25519 {ed}");
    let allow = SshfpPolicy {
        allow: Some(vec!["a.example.org.".into()]),
        ..policy()
    };
    assert!(records_for_key("A.example.org", &line, &allow).is_ok());
    for (host, p, why) in [
        ("h.example.com", &p, "outside the zone"),
        ("h_x.example.org", &p, "character outside"),
        ("localhost", &p, "not a fully qualified name"),
        (h, &allow, "not on the allow list"),
    ] {
        let e = records_for_key(host, &line, p).unwrap_err();
        assert!(e.contains(why), "{host}: {e}");
    }
}

#[test]
fn directory_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let (ed, ed_line) = keygen(tmp.path(), "ed", &["-t", "ed25519"]);
    let (ec, ec_line) = keygen(tmp.path(), "ec", &["-t", "ecdsa", "-b", "256"]);
    let ph = tmp.path().join("phonehome");
    let www = ph.join("www.example.org");
    for d in [
        "www.example.org/dir.pub",
        "mx.example.org",
        "evil.example.com",
        "Bad_Name.example.org",
    ] {
        fs::create_dir_all(ph.join(d)).unwrap();
    }
    let dsa = format!("ssh-dss {}\n", blob(&[b"ssh-dss"]));
    let big = "a".repeat(MAX_FILE as usize + 1);
    let files = [
        ("www.example.org/ssh_host_ed25519_key.pub", ed_line.as_str()),
        ("www.example.org/ssh_host_ecdsa_key.pub", &ec_line),
        ("www.example.org/copy.pub", &ed_line), // same key twice: published once
        ("www.example.org/.tmp.partial.pub", "garbage"), // skipped silently
        ("www.example.org/README", "x"),
        ("www.example.org/two.pub", &format!("{ed_line}{ec_line}")),
        ("www.example.org/big.pub", &big),
        ("www.example.org/dsa.pub", &dsa),
        ("mx.example.org/k.pub", &ec_line),
        ("evil.example.com/k.pub", &ed_line),
        ("Bad_Name.example.org/k.pub", &ed_line),
        ("stray.pub", &ed_line),
    ];
    for (f, text) in files {
        fs::write(ph.join(f), text).unwrap();
    }
    symlink(&ed, www.join("link.pub")).unwrap();
    fs::hard_link(&ec, www.join("hard.pub")).unwrap();
    symlink(&www, ph.join("alias.example.org")).unwrap();
    run("mkfifo", &[], &www.join("fifo.pub"));

    let (recs, rejected) = from_dir(&ph, &policy());
    let (ed_ref, ec_ref) = (reference("x", &ed), reference("x", &ec));
    let got: Vec<String> = recs
        .iter()
        .map(|r| format!("{} {}", r.owner, r.rdata))
        .collect();
    let mx_ref = ec_ref.iter().map(|r| format!("mx.example.org. {r}"));
    let www_ref = ec_ref
        .iter()
        .chain(&ed_ref)
        .map(|r| format!("www.example.org. {r}"));
    assert_eq!(got, mx_ref.chain(www_ref).collect::<Vec<_>>());

    let expected = [
        ("Bad_Name.example.org", "character outside"),
        ("alias.example.org", "not a host directory"),
        ("evil.example.com", "outside the zone example.org"),
        ("stray.pub", "not a host directory"),
        ("www.example.org/README", "not a *.pub file"),
        ("www.example.org/big.pub", "larger than 16384 bytes"),
        ("www.example.org/dir.pub", "not a regular file"),
        ("www.example.org/dsa.pub", "DSA"),
        ("www.example.org/fifo.pub", "not a regular file"),
        ("www.example.org/hard.pub", "a hard link (2 links)"),
        ("www.example.org/link.pub", "a symlink"),
        ("www.example.org/two.pub", "more than one line"),
    ];
    assert_eq!(rejected.len(), expected.len(), "{rejected:?}");
    for ((file, reason), (want_file, why)) in rejected.iter().zip(expected) {
        assert_eq!(file, want_file);
        assert!(reason.contains(why), "{file}: {reason}");
    }

    let only_mx = SshfpPolicy {
        allow: Some(vec!["mx.example.org".into()]),
        ..policy()
    };
    let (recs, rejected) = from_dir(&ph, &only_mx);
    assert_eq!(rdata(&recs), ec_ref);
    assert!(rejected
        .iter()
        .any(|(f, r)| f == "www.example.org" && r == "not on the allow list"));

    let (recs, rejected) = from_dir(&tmp.path().join("missing"), &policy());
    assert!(recs.is_empty());
    assert!(
        rejected[0].1.contains("cannot read directory"),
        "{rejected:?}"
    );
}
