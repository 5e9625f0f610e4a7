//! SSHFP records (RFC 4255, SHA-256 by RFC 6594, Ed25519 by RFC 7479, Ed448
//! by RFC 8709) from the OpenSSH host keys collected in `phonehome/`
//! (DESIGN.md, "SSHFP sources"). That directory is written by another jail,
//! so everything in it is untrusted input.
//!
//! Layout, one directory per host, named by its fully qualified name:
//!
//! ```text
//! phonehome/<fqdn>/<anything>.pub     e.g. phonehome/www.example.org/ssh_host_ed25519_key.pub
//! ```
//!
//! Each `*.pub` file is a regular file (not a symlink, one link, at most
//! [`MAX_FILE`] bytes) holding exactly one line as `ssh-keygen` writes it:
//! `TYPE BASE64-BLOB [comment]`. No options, no `#` comment lines, no
//! OpenSSH certificates, no DSA. The type named in the line must equal the
//! type inside the decoded blob, and the blob must be well formed for that
//! type. Names starting with `.` (a writer's temporary files) are skipped
//! silently; anything else that is not a host directory or a `*.pub` file is
//! reported. A host is used only if its name is a valid domain name inside
//! the origin and, when an allow list is set, on it.
//!
//! The fingerprint is the digest of the decoded blob (RFC 4255 §3.1.3),
//! exactly what `ssh-keygen -r HOST -f key.pub` prints.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use base64::Engine;
use certdrop_core::certinfo::hex;
use certdrop_core::name;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::record::{RType, Record};

/// Largest `*.pub` file read; an RSA-16384 key line is about 2.8 KiB.
pub const MAX_FILE: u64 = 16 * 1024;
/// Most `*.pub` files read per host directory.
pub const MAX_FILES_PER_HOST: usize = 32;
/// Most host directories read.
pub const MAX_HOSTS: usize = 10_000;
/// Smallest RSA modulus accepted, as OpenSSH (`SSH_RSA_MINIMUM_MODULUS_SIZE`).
pub const MIN_RSA_BITS: usize = 1024;
/// SSHFP fingerprint type SHA-1 (RFC 4255 §3.1.2).
pub const FP_SHA1: u8 = 1;
/// SSHFP fingerprint type SHA-256 (RFC 6594).
pub const FP_SHA256: u8 = 2;

/// Which hosts and fingerprints to publish (RFC 4255 §3). Built from the
/// zone's configuration, whose default is both fingerprint types.
#[derive(Debug, Clone)]
pub struct SshfpPolicy {
    /// Zone the records go into; hosts outside it are refused.
    pub origin: String,
    /// If set, the only host names (exact, case-insensitive) published.
    pub allow: Option<Vec<String>>,
    /// Publish fingerprint type 1, SHA-1 (RFC 4255 §3.1.2).
    pub sha1: bool,
    /// Publish fingerprint type 2, SHA-256 (RFC 6594).
    pub sha256: bool,
    /// TTL of the records.
    pub ttl: u32,
}

impl SshfpPolicy {
    /// Check that this policy may speak for `host` (RFC 4255 §2.1: the owner is the host name).
    fn check_host(&self, host: &str) -> Result<String, String> {
        let host = name::domain(host, false)?;
        if !name::in_zone(&host, &self.origin) {
            return Err(format!("outside the zone {}", self.origin));
        }
        if let Some(allow) = &self.allow {
            let listed = allow
                .iter()
                .any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(&host));
            if !listed {
                return Err("not on the allow list".into());
            }
        }
        Ok(host)
    }
}

/// SSHFP algorithm numbers of the key types published (RFC 4255 §3.1.1, RFC 6594, RFC 7479, RFC 8709).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    /// Curve name and coordinate length in bytes (RFC 5656 §3.1).
    Ecdsa(&'static str, usize),
    Ed25519,
    Ed448,
}

impl KeyType {
    fn from_name(name: &str) -> Result<KeyType, String> {
        Ok(match name {
            "ssh-rsa" => KeyType::Rsa,
            "ecdsa-sha2-nistp256" => KeyType::Ecdsa("nistp256", 32),
            "ecdsa-sha2-nistp384" => KeyType::Ecdsa("nistp384", 48),
            "ecdsa-sha2-nistp521" => KeyType::Ecdsa("nistp521", 66),
            "ssh-ed25519" => KeyType::Ed25519,
            "ssh-ed448" => KeyType::Ed448,
            "ssh-dss" => return Err("ssh-dss: DSA keys are too weak to publish".into()),
            t if t.ends_with("-cert-v01@openssh.com") => {
                return Err(format!("{t}: an OpenSSH certificate, not a plain host key"))
            }
            t if t.starts_with('#') => return Err("a comment line, not a key".into()),
            t if t.starts_with('@') || t.contains(['=', ',']) => {
                return Err(format!("{t}: options before the key type are not accepted"))
            }
            t => return Err(format!("{}: unknown key type", printable(t))),
        })
    }

    fn algorithm(self) -> u8 {
        match self {
            KeyType::Rsa => 1,
            KeyType::Ecdsa(..) => 3,
            KeyType::Ed25519 => 4,
            KeyType::Ed448 => 6,
        }
    }

    /// Check the fields after the type string (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4).
    fn check_body(self, r: &mut WireReader<'_>) -> Result<(), String> {
        match self {
            KeyType::Rsa => {
                let e = r.mpint("RSA exponent")?;
                let n = r.mpint("RSA modulus")?;
                if e.is_empty() || n.is_empty() {
                    return Err("RSA exponent or modulus is zero".into());
                }
                let bits = n.len() * 8 - n[0].leading_zeros() as usize;
                if bits < MIN_RSA_BITS {
                    return Err(format!(
                        "RSA modulus of {bits} bits, fewer than {MIN_RSA_BITS}"
                    ));
                }
            }
            KeyType::Ecdsa(curve, coord) => {
                let id = r.string("curve name")?;
                if id != curve.as_bytes() {
                    return Err(format!(
                        "curve {} inside a {curve} key",
                        printable(&String::from_utf8_lossy(id))
                    ));
                }
                let q = r.string("EC point")?;
                if q.len() != 1 + 2 * coord || q[0] != 0x04 {
                    return Err("EC point is not an uncompressed point of the curve".into());
                }
            }
            KeyType::Ed25519 => r.fixed("Ed25519 key", 32)?,
            KeyType::Ed448 => r.fixed("Ed448 key", 57)?,
        }
        if !r.buf.is_empty() {
            return Err(format!("{} bytes after the key", r.buf.len()));
        }
        Ok(())
    }
}

/// A reader of SSH wire strings (RFC 4251 §5).
struct WireReader<'a> {
    buf: &'a [u8],
}

impl<'a> WireReader<'a> {
    fn string(&mut self, what: &str) -> Result<&'a [u8], String> {
        let (len, rest) = self
            .buf
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("key blob truncated before the {what}"))?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(format!("key blob truncated in the {what}"));
        }
        let (s, rest) = rest.split_at(len);
        self.buf = rest;
        Ok(s)
    }

    /// A positive mpint, without its sign byte.
    fn mpint(&mut self, what: &str) -> Result<&'a [u8], String> {
        let v = self.string(what)?;
        match v {
            [] => Ok(v),
            [b, ..] if *b & 0x80 != 0 => Err(format!("{what} is negative")),
            [0] => Err(format!("{what} has a needless leading zero")),
            [0, b, ..] if *b & 0x80 == 0 => Err(format!("{what} has a needless leading zero")),
            [0, rest @ ..] => Ok(rest),
            _ => Ok(v),
        }
    }

    fn fixed(&mut self, what: &str, len: usize) -> Result<(), String> {
        let v = self.string(what)?;
        if v.len() != len {
            return Err(format!("{what} of {} bytes, expected {len}", v.len()));
        }
        Ok(())
    }
}

/// SSHFP records for one OpenSSH public key line of `host` (RFC 4255 §3.1, RFC 6594).
pub fn records_for_key(
    host: &str,
    pub_line: &str,
    policy: &SshfpPolicy,
) -> Result<Vec<Record>, String> {
    let host = policy.check_host(host)?;
    let mut fields = pub_line.split_ascii_whitespace();
    let type_name = fields.next().ok_or("empty line, expected a key")?;
    let key_type = KeyType::from_name(type_name)?;
    let b64 = fields
        .next()
        .ok_or_else(|| format!("{type_name}: no key after the type"))?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("{type_name}: bad base64: {e}"))?;
    let mut r = WireReader { buf: &blob };
    let inner = r.string("key type")?;
    if inner != type_name.as_bytes() {
        return Err(format!(
            "line says {type_name} but the key is {}",
            printable(&String::from_utf8_lossy(inner))
        ));
    }
    key_type
        .check_body(&mut r)
        .map_err(|e| format!("{type_name}: {e}"))?;
    let alg = key_type.algorithm();
    let mut out = Vec::new();
    if policy.sha1 {
        let rdata = format!("{alg} {FP_SHA1} {}", hex(&Sha1::digest(&blob)));
        out.push(Record::new(&host, policy.ttl, RType::Sshfp, rdata));
    }
    if policy.sha256 {
        let rdata = format!("{alg} {FP_SHA256} {}", hex(&Sha256::digest(&blob)));
        out.push(Record::new(&host, policy.ttl, RType::Sshfp, rdata));
    }
    if out.is_empty() {
        return Err("the policy enables no fingerprint type".into());
    }
    Ok(out)
}

/// SSHFP records (RFC 4255 §3) for every host directory in `dir`, sorted by
/// owner, algorithm and fingerprint type, without duplicates; and the files
/// refused, each with its reason. A refused file never stops the others.
pub fn from_dir(dir: &Path, policy: &SshfpPolicy) -> (Vec<Record>, Vec<(String, String)>) {
    let mut records = BTreeSet::new();
    let mut rejected = Vec::new();
    let hosts = match list(dir) {
        Ok(h) => h,
        Err(e) => return (Vec::new(), vec![(dir.display().to_string(), e)]),
    };
    for (i, host) in hosts.into_iter().enumerate() {
        if i >= MAX_HOSTS {
            rejected.push((host, format!("more than {MAX_HOSTS} entries, ignored")));
            continue;
        }
        let path = dir.join(&host);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                rejected.push((host, "not a host directory".into()));
                continue;
            }
            Err(e) => {
                rejected.push((host, format!("cannot stat: {e}")));
                continue;
            }
        }
        if let Err(e) = policy.check_host(&host) {
            rejected.push((host, e));
            continue;
        }
        let files = match list(&path) {
            Ok(f) => f,
            Err(e) => {
                rejected.push((host, e));
                continue;
            }
        };
        let mut used = 0usize;
        for file in files {
            let shown = format!("{host}/{file}");
            if !file.ends_with(".pub") {
                rejected.push((shown, "not a *.pub file".into()));
                continue;
            }
            if used >= MAX_FILES_PER_HOST {
                rejected.push((
                    shown,
                    format!("more than {MAX_FILES_PER_HOST} keys for {host}"),
                ));
                continue;
            }
            used += 1;
            let result = read_key_file(&path.join(&file))
                .and_then(|line| records_for_key(&host, &line, policy));
            match result {
                Ok(rs) => records.extend(rs),
                Err(e) => rejected.push((shown, e)),
            }
        }
    }
    // rdata starts with two one-digit numbers, so text order is (algorithm, type) order.
    (records.into_iter().collect(), rejected)
}

/// Names in `dir`, sorted; hidden names (temporary files) left out, names
/// that are not UTF-8 refused.
fn list(dir: &Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("cannot read directory: {e}"))? {
        let entry = entry.map_err(|e| format!("cannot read directory: {e}"))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|raw| format!("{}: name is not UTF-8", raw.to_string_lossy()))?;
        if !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Read a key file after checking it is a small regular file with one
/// link, and that the file opened is the one checked. Returns its one line.
fn read_key_file(path: &Path) -> Result<String, String> {
    let meta = fs::symlink_metadata(path).map_err(|e| format!("cannot stat: {e}"))?;
    check_meta(&meta)?;
    let file = File::open(path).map_err(|e| format!("unreadable: {e}"))?;
    let opened = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if opened.ino() != meta.ino() || opened.dev() != meta.dev() {
        return Err("replaced while being read".into());
    }
    check_meta(&opened)?;
    let mut buf = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("unreadable: {e}"))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(format!("larger than {MAX_FILE} bytes"));
    }
    let text = String::from_utf8(buf).map_err(|_| "not UTF-8 text".to_string())?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    if line.contains('\n') {
        return Err("more than one line, expected one key line".into());
    }
    if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err("control characters in the key line".into());
    }
    Ok(line.to_string())
}

fn check_meta(meta: &fs::Metadata) -> Result<(), String> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err("a symlink, not a regular file".into());
    }
    if !ft.is_file() {
        return Err("not a regular file".into());
    }
    if meta.nlink() > 1 {
        return Err(format!("a hard link ({} links)", meta.nlink()));
    }
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {MAX_FILE} bytes"));
    }
    Ok(())
}

/// `text` cut short and stripped of control characters, for messages.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;
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
}
