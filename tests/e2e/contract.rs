//! The pub/ contract end to end: the same published line and the same
//! allowed_signers files, valid and invalid, go through `certdrop-publish
//! verify` and through the real `certdrop-trigger check` (which checks the
//! line's manifest before anything else), and both binaries must reach the
//! same verdict. Where the question is only the signature and its signer,
//! `ssh-keygen -Y verify` must agree too.

use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};

use certdrop_testkit::{bin, sh, Tree};

/// The name the certificate is for.
const NAME: &str = "www.example.test";
/// The SSHSIG namespace of manifests.
const NAMESPACE: &str = "certdrop-manifest@certdrop";
/// The principal both binaries (and ssh-keygen -I) require.
const ID: &str = "publish@certdrop";
/// A time zone without daylight saving, for timestamps in local time:
/// every process of a test reads it.
const TZ: &str = "EST5";

/// A site with a signing key, an intruder's key, a certificate and a
/// trigger.toml whose one service deploys pub/www/cert.pem.
struct Site {
    dir: Tree,
}

/// The verdicts on one case: accepted or not, by each checker.
#[derive(Debug, PartialEq, Eq)]
struct Verdicts {
    publish: bool,
    trigger: bool,
}

impl Site {
    fn new() -> Site {
        let dir = Tree::new();
        for d in ["state", "defs"] {
            std::fs::create_dir(dir.root().join(d)).expect("mkdir");
        }
        let _ = sh(
            dir.root(),
            &format!(
                "ssh-keygen -q -t ed25519 -N '' -C publish -f sign && \
                 ssh-keygen -q -t ed25519 -N '' -C intruder -f intruder && \
                 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                   -keyout leaf.key -out leaf.pem -days 3650 -subj /CN={NAME} \
                   -addext subjectAltName=DNS:{NAME} 2>/dev/null"
            ),
        );
        std::fs::write(
            dir.root().join("trigger.toml"),
            format!(
                "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"defs\"]\n\
                 allowed_signers = \"allowed_signers\"\nsigner = \"{ID}\"\n\n\
                 [[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{NAME}\"]\n\
                 files = [{{ cert = \"pub/www/cert.pem\", key = \"leaf.key\" }}]\nrule = \"content-changed\"\nreload = \"true\"\n"
            ),
        )
        .expect("trigger.toml");
        Site { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.root().join(rel)
    }

    /// The public key of `key` (`sign` or `intruder`), as allowed_signers
    /// holds it.
    fn public(&self, key: &str) -> String {
        let text = std::fs::read_to_string(self.path(&format!("{key}.pub"))).expect("pub");
        text.trim_end().to_string()
    }

    /// The files of the line: the certificate and a chain.
    fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        let cert = std::fs::read(self.path("leaf.pem")).expect("leaf");
        vec![("cert.pem", cert.clone()), ("chain.pem", cert)]
    }

    /// The manifest certdrop-publish would write for the line's files.
    fn manifest(&self) -> String {
        let mut text = format!(
            "certdrop-manifest 1\nline www\nnames {NAME}\nserial 01\n\
             not-before 2020-01-01T00:00:00Z\nnot-after 2099-12-31T00:00:00Z\n\
             published 2026-11-24T00:00:00Z\n"
        );
        for (name, data) in self.files() {
            let hex = certdrop_core::certinfo::hex(&Sha256::digest(&data));
            text.push_str(&format!("sha256 {hex}  {name}\n"));
        }
        text
    }

    /// Publish pub/www -> .v/www.1 afresh: the files, `manifest`, and its
    /// signature by `key` in `namespace`, made by ssh-keygen.
    fn publish(&self, manifest: &str, key: &str, namespace: &str) {
        let pub_dir = self.path("pub");
        if pub_dir.exists() {
            std::fs::remove_dir_all(&pub_dir).expect("rm pub");
        }
        let v = pub_dir.join(".v/www.1");
        std::fs::create_dir_all(&v).expect("mkdir");
        std::os::unix::fs::symlink(".v/www.1", pub_dir.join("www")).expect("symlink");
        for (name, data) in self.files() {
            std::fs::write(v.join(name), data).expect("file");
        }
        std::fs::write(v.join("manifest"), manifest).expect("manifest");
        let _ = sh(
            &v,
            &format!(
                "ssh-keygen -q -Y sign -f {} -n {namespace} manifest",
                self.path(key).display()
            ),
        );
    }

    /// Run both binaries on pub/ with `signers` as the allowed_signers file.
    fn verdicts(&self, signers: &str) -> Verdicts {
        std::fs::write(self.path("allowed_signers"), signers).expect("signers");
        let publish = self.run(
            "certdrop-publish",
            &[
                "verify",
                "pub",
                "--allowed-signers",
                "allowed_signers",
                "--identity",
                ID,
            ],
        );
        let trigger = self.run("certdrop-trigger", &["-c", "trigger.toml", "check"]);
        // Refusals are bad data (65), or a bad allowed_signers file (78):
        // a configuration error for both.
        assert!(matches!(publish.0, 0 | 65 | 78), "publish: {publish:?}");
        assert!(matches!(trigger.0, 0 | 65 | 78), "trigger: {trigger:?}");
        assert_eq!(
            publish.0 == 78,
            trigger.0 == 78,
            "a bad allowed_signers file: {publish:?} {trigger:?}"
        );
        if trigger.0 != 0 {
            assert!(trigger.1.contains("not deployed"), "trigger: {trigger:?}");
        }
        Verdicts {
            publish: publish.0 == 0,
            trigger: trigger.0 == 0,
        }
    }

    /// ssh-keygen's verdict on the signature of pub/www/manifest.
    fn ssh_keygen(&self) -> bool {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ssh-keygen -Y verify -f allowed_signers -I {ID} -n {NAMESPACE} \
                 -s pub/www/manifest.sig <pub/www/manifest"
            ))
            .current_dir(self.path(""))
            .env("TZ", TZ)
            .output()
            .expect("ssh-keygen")
            .status
            .success()
    }

    /// Exit code and stderr of a workspace binary run in the site.
    fn run(&self, name: &str, args: &[&str]) -> (i32, String) {
        let out = Command::new(bin(name))
            .args(args)
            .current_dir(self.path(""))
            .env("TZ", TZ)
            .output()
            .expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn both_binaries_and_ssh_keygen_agree_on_signers() {
    let site = Site::new();
    let good = site.manifest();
    site.publish(&good, "sign", NAMESPACE);
    let k = site.public("sign");
    let intruder = site.public("intruder");
    // (allowed_signers, accepted): each is a verdict on the signer alone.
    let cases = [
        (format!("{ID} {k}"), true),
        (format!("# the publisher\n\n{ID} {k}\n"), true),
        (format!("{ID} {intruder}"), false),
        (format!("{ID} {intruder}\n{ID} {k}"), true),
        // Principal pattern lists.
        (format!("*@certdrop {k}"), true),
        (format!("\"pub?ish@certdrop,x@y\" {k}"), true),
        (format!("\"*,!{ID}\" {k}"), false),
        (format!("\"!{ID}\" {k}"), false),
        (format!("pub?sh@certdrop {k}"), false),
        (format!("someone@else {k}"), false),
        (format!("Publish@certdrop {k}"), false),
        (format!("{ID} cert-authority {k}"), false),
        // Namespaces.
        (format!("{ID} namespaces=\"certdrop-*\" {k}"), true),
        (format!("{ID} NAMESPACES=\"git,{NAMESPACE}\" {k}"), true),
        (format!("{ID} namespaces=\"git,file\" {k}"), false),
        (format!("{ID} namespaces=\"*,!certdrop-*\" {k}"), false),
        // Timestamps: case, suffixes, seconds, rollover, local time.
        (format!("{ID} valid-after=\"20200101Z\" {k}"), true),
        (format!("{ID} valid-after=\"20200101z\" {k}"), true),
        (format!("{ID} valid-after=\"20200101UTC\" {k}"), true),
        (format!("{ID} valid-after=\"202001010000Z\" {k}"), true),
        (format!("{ID} valid-after=\"20200101000059Z\" {k}"), true),
        (format!("{ID} valid-after=\"20200101000060Z\" {k}"), true),
        (format!("{ID} valid-after=\"20200101000061Z\" {k}"), true),
        (format!("{ID} valid-after=\"20200101000062Z\" {k}"), false),
        (format!("{ID} valid-after=\"20200231Z\" {k}"), true),
        (format!("{ID} valid-after=\"20200232Z\" {k}"), false),
        (format!("{ID} valid-after=\"20201301Z\" {k}"), false),
        (format!("{ID} valid-after=\"20200101\" {k}"), true),
        (format!("{ID} valid-after=\"20990101\" {k}"), false),
        (format!("{ID} valid-after=\"20990101Z\" {k}"), false),
        (format!("{ID} valid-after=\"19700101Z\" {k}"), false),
        (format!("{ID} valid-after=\"2020010Z\" {k}"), false),
        (format!("{ID} valid-before=\"20200101Z\" {k}"), false),
        (format!("{ID} valid-before=\"20991231235959z\" {k}"), true),
        (
            format!("{ID} valid-after=\"20200101Z\",valid-before=\"20991231Z\" {k}"),
            true,
        ),
        (
            format!("{ID} valid-after=\"20991231Z\",valid-before=\"20200101Z\" {k}"),
            false,
        ),
        // Option syntax.
        (format!("{ID} valid-after=20200101Z {k}"), false),
        (format!("{ID} restrict {k}"), false),
        (format!("{ID} namespaces=\"{NAMESPACE}\", {k}"), false),
    ];
    for (signers, accepted) in &cases {
        let v = site.verdicts(signers);
        assert_eq!(
            v,
            Verdicts {
                publish: *accepted,
                trigger: *accepted
            },
            "allowed_signers: {signers}"
        );
        assert_eq!(site.ssh_keygen(), *accepted, "ssh-keygen on: {signers}");
    }
}

#[test]
fn both_binaries_agree_on_manifests_and_files() {
    let site = Site::new();
    let signers = format!("{ID} {}", site.public("sign"));
    let good = site.manifest();
    let digest = good
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .and_then(|l| l.split(' ').next())
        .expect("a digest");
    // (what is published, accepted, whether ssh-keygen has a say: it
    // checks the signature only, not the manifest or the files).
    type Tamper = fn(&Site);
    let nothing: Tamper = |_| {};
    let cases: [(&str, String, &str, &str, Tamper, bool, bool); 12] = [
        ("good", good.clone(), "sign", NAMESPACE, nothing, true, true),
        (
            "intruder's key",
            good.clone(),
            "intruder",
            NAMESPACE,
            nothing,
            false,
            true,
        ),
        (
            "another namespace",
            good.clone(),
            "sign",
            "file",
            nothing,
            false,
            true,
        ),
        (
            "manifest changed after signing",
            good.clone(),
            "sign",
            NAMESPACE,
            |s| {
                let p = s.path("pub/www/manifest");
                let t = std::fs::read_to_string(&p).expect("read");
                std::fs::write(&p, t.replace("serial 01", "serial 02")).expect("write");
            },
            false,
            true,
        ),
        (
            "file changed after signing",
            good.clone(),
            "sign",
            NAMESPACE,
            |s| std::fs::write(s.path("pub/www/chain.pem"), "evil\n").expect("write"),
            false,
            false,
        ),
        (
            "listed file missing",
            good.clone(),
            "sign",
            NAMESPACE,
            |s| std::fs::remove_file(s.path("pub/www/chain.pem")).expect("rm"),
            false,
            false,
        ),
        (
            "signature missing",
            good.clone(),
            "sign",
            NAMESPACE,
            |s| std::fs::remove_file(s.path("pub/www/manifest.sig")).expect("rm"),
            false,
            false,
        ),
        (
            "lower-case z in a manifest date",
            good.replace("2099-12-31T00:00:00Z", "2099-12-31T00:00:00z"),
            "sign",
            NAMESPACE,
            nothing,
            false,
            false,
        ),
        (
            "another line's manifest",
            good.replace("line www", "line api"),
            "sign",
            NAMESPACE,
            nothing,
            false,
            false,
        ),
        (
            "CRLF line ends",
            good.replace('\n', "\r\n"),
            "sign",
            NAMESPACE,
            nothing,
            false,
            false,
        ),
        (
            "upper-case digest",
            good.replacen(digest, &digest.to_uppercase(), 1),
            "sign",
            NAMESPACE,
            nothing,
            false,
            false,
        ),
        (
            "a file listed twice",
            format!("{good}{}\n", good.lines().last().expect("last")),
            "sign",
            NAMESPACE,
            nothing,
            false,
            false,
        ),
    ];
    for (what, manifest, key, namespace, tamper, accepted, ask_ssh_keygen) in cases {
        site.publish(&manifest, key, namespace);
        tamper(&site);
        let v = site.verdicts(&signers);
        assert_eq!(
            v,
            Verdicts {
                publish: accepted,
                trigger: accepted
            },
            "{what}"
        );
        if ask_ssh_keygen {
            assert_eq!(site.ssh_keygen(), accepted, "ssh-keygen on: {what}");
        }
    }
}
