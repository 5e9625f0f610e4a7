//! kill -9 of certdrop-publish (issue 12): each round a new certificate
//! enters the store (as certdrop-issue writes it) and `run` publishes it
//! with its signed manifest; the run is SIGKILLed at a random point
//! (crash.rs). Then:
//! - the previous good state is intact: `pub/` verifies with
//!   `certdrop-publish verify` and the line's manifest with `ssh-keygen -Y
//!   verify`, and `pub/www` holds the old certificate or the new one;
//! - the next `run` converges: exit 0 (2 only if the killed run had
//!   switched `pub/www` already), the new certificate published, verified
//!   the same two ways, the previous version kept (`keep = 2`);
//! - no `.tmp.*` is left anywhere in `pub/`, and no version directory
//!   that was never published.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use certdrop_core::store::Store;
use certdrop_testkit::pki::Pki;
use certdrop_testkit::{sh, Ran, Tmpfs, Tree};

use crate::crash::{
    binary, calibrate, draw, finish, iterations, kill_at, pattern, store_renewal, temp_files,
    tree_in_memory, Rng,
};

/// The line's name.
const NAME: &str = "www.example.org";
/// The signer's principal.
const IDENTITY: &str = "publish@example.org";
/// The SSHSIG namespace of manifests.
const NAMESPACE: &str = "certdrop-manifest@certdrop";

struct Site {
    pki: Pki,
    store: Store,
    _fs: Tmpfs,
    tree: Tree,
}

impl Site {
    fn new() -> Site {
        let (fs, tree) = tree_in_memory(&["certs", "keys", "archive", "pub"]);
        let pki = Pki::new(&tree.path("pki"));
        pki.ca();
        pki.key(&tree.path("pki/leaf.key"));
        sh(
            tree.root(),
            "ssh-keygen -q -t ed25519 -N '' -C publish -f sign_key",
        );
        let public = tree.read_text("sign_key.pub");
        tree.write("allowed_signers", &format!("{IDENTITY} {public}"));
        tree.write(
            "publish.toml",
            &format!(
                "certs = \"certs\"\npub = \"pub\"\nsigning_key = \"sign_key\"\nkeep = 2\n\
                 [[line]]\nname = \"www\"\nnames = [\"{NAME}\"]\n"
            ),
        );
        let store = Store {
            certs: tree.path("certs"),
            keys: tree.path("keys"),
            archive: tree.path("archive"),
            keep: 2,
        };
        store.ensure().expect("store");
        Site {
            pki,
            store,
            _fs: fs,
            tree,
        }
    }

    /// A new certificate for the line, in the store as the issuer puts it.
    fn renew(&self, n: usize) -> Vec<u8> {
        let out = self.tree.path(&format!("pki/leaf-{n}.pem"));
        let key = self.tree.path("pki/leaf.key");
        store_renewal(&self.pki, &self.store, &key, &out, NAME)
    }

    fn run(&self) -> Command {
        let conf = self.tree.path("publish.toml");
        binary(
            "certdrop-publish",
            &["-c", conf.to_str().expect("utf8"), "run"],
        )
    }

    /// The version `pub/www` points at (its name in `pub/.v`).
    fn current(&self) -> Option<String> {
        let link = std::fs::read_link(self.tree.path("pub/www")).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    }

    /// The version directories.
    fn versions(&self) -> BTreeSet<String> {
        self.tree.listing("pub/.v").into_iter().collect()
    }

    /// `pub/` verifies with `certdrop-publish verify`, and with
    /// `ssh-keygen -Y verify` too if `both`; `pub/www` holds one of `certs`.
    fn verifies(&self, certs: &[&[u8]], both: bool, context: &str) {
        let (pub_dir, signers) = (self.tree.path("pub"), self.tree.path("allowed_signers"));
        let ran = finish(binary(
            "certdrop-publish",
            &[
                "verify",
                pub_dir.to_str().expect("utf8"),
                "--allowed-signers",
                signers.to_str().expect("utf8"),
                "--identity",
                IDENTITY,
            ],
        ));
        assert_eq!(ran.code, 0, "pub/ does not verify: {ran:?}\n{context}");
        if both {
            self.ssh_keygen_verifies(context);
        }
        let served = self.tree.read("pub/www/cert.pem");
        assert!(
            certs.contains(&served.as_slice()),
            "pub/www/cert.pem is neither the old nor the new certificate\n{context}"
        );
    }

    /// `ssh-keygen -Y verify` accepts the line's manifest.
    fn ssh_keygen_verifies(&self, context: &str) {
        let signers = self.tree.path("allowed_signers");
        let manifest = std::fs::File::open(self.tree.path("pub/www/manifest"))
            .unwrap_or_else(|e| panic!("pub/www/manifest: {e}\n{context}"));
        let ran: Ran = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&signers)
            .args(["-I", IDENTITY, "-n", NAMESPACE, "-s"])
            .arg(self.tree.path("pub/www/manifest.sig"))
            .stdin(Stdio::from(manifest))
            .output()
            .expect("ssh-keygen")
            .into();
        assert_eq!(
            ran.code, 0,
            "ssh-keygen -Y verify refuses the manifest: {ran:?}\n{context}"
        );
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tree.path(rel)
    }
}

#[test]
fn kill_9_of_publish_runs_keeps_pub_verifiable_and_converges() {
    let mut rng = Rng::for_test("publish");
    let rounds = iterations();
    let started = std::time::Instant::now();
    let site = Site::new();
    site.renew(0);
    finish(site.run()).expect(0);
    // A calibration round: one certificate published to the end.
    let cert = site.renew(1);
    let before = site.versions();
    let (took, span) = calibrate(site.run(), &site.path("calibration.log"), || {
        site.versions() != before
    });
    eprintln!("crash publish: calibration {took:?}, {span:?} from the first write");
    site.verifies(&[&cert], true, "calibration");
    let mut good = cert;
    let mut published: BTreeSet<String> = site.versions();
    let mut killed_runs = 0;
    for n in 0..rounds {
        let cert = site.renew(n + 2);
        let point = draw(&mut rng, &[], took, span);
        let (before, prev) = (site.versions(), site.current());
        let log = site.path(&format!("round-{n}.log"));
        let k = kill_at(site.run(), &log, &point, || site.versions() != before, &[]);
        killed_runs += usize::from(k.killed);
        let context = format!(
            "round {n}: {point:?}, {}; killed run:\n{}",
            if k.killed { "killed" } else { "ended" },
            k.output
        );
        site.verifies(&[&good, &cert], true, &context);
        let switched = site.current() != prev;
        let context = format!(
            "{context}\nafter the kill: pub/www -> {:?}, versions {:?}",
            site.current(),
            site.versions()
        );
        // The next run converges: a version the killed run left unlinked
        // is no published version (no rollback refusal).
        let ran = finish(site.run());
        let context = format!("{context}\nnext run: {ran:?}");
        let ok: &[i32] = match (k.killed, switched) {
            (false, _) => &[2],
            (true, true) => &[0, 2],
            (true, false) => &[0],
        };
        assert!(ok.contains(&ran.code), "did not converge\n{context}");
        site.verifies(&[&cert], false, &context);
        let current = site.current().expect("pub/www is a version");
        // No temporary file left anywhere in pub/.
        let left: Vec<String> = temp_files(&site.path("pub"))
            .iter()
            .map(|p| pattern(site.tree.root(), p))
            .collect();
        assert_eq!(
            left,
            Vec::<String>::new(),
            "temporary files left\n{context}"
        );
        // The previous version is kept; no version that was never
        // published is.
        let now = site.versions();
        if let Some(prev) = prev.filter(|p| *p != current) {
            assert!(
                now.contains(&prev),
                "the previous version pub/.v/{prev} was pruned\n{context}"
            );
        }
        let unpublished: Vec<&String> = now
            .iter()
            .filter(|v| **v != current && !published.contains(*v))
            .collect();
        assert!(
            unpublished.is_empty(),
            "versions never published kept: {unpublished:?}\n{context}"
        );
        published.insert(current);
        good = cert;
        eprintln!("crash publish: round {n}: {point:?}: killed {}", k.killed);
    }
    eprintln!(
        "crash publish: {rounds} rounds ({killed_runs} killed) in {:?}",
        started.elapsed()
    );
}
