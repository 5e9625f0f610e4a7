//! kill -9 of certdrop-trigger (issue 12): a real nginx (daemon, reloaded
//! by SIGHUP) serves the line's certificate from the file the trigger
//! installs; each round certdrop-publish publishes a new certificate (same
//! key) and the trigger's `run` installs it, runs nginx's pre-flight,
//! reloads and checks what nginx serves; the run is SIGKILLed at a random
//! point (crash.rs; the pre-flight and the reload are gated). Then:
//! - the previous good state is intact: nginx serves the old or the new
//!   certificate and `openssl s_client` verifies it against the test CA;
//!   the installed file is whole (the old or the new chain);
//! - the next `run` converges: exit 0 (2 only if the killed run had
//!   recorded its deployment), nginx serves the new certificate, verified;
//! - no `.tmp.*` is left in the trigger's state or beside the installed
//!   file.

use std::process::Command;

use certdrop_core::store::Store;
use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::pki::Pki;
use certdrop_testkit::{free_port, sh, wait_for, Run, Tmpfs, Tree};

use crate::crash::{
    assert_no_temp_left, binary, calibrate, draw, finish, iterations, kill_at, store_renewal,
    temp_files, tree_in_memory, Gate, Rng, RUN_LIMIT,
};

/// The name served.
const NAME: &str = "www.example.test";
/// The publisher's principal.
const IDENTITY: &str = "publish@certdrop";
/// The SSHSIG namespace of manifests.
const NAMESPACE: &str = "certdrop-manifest@certdrop";

struct Site {
    pki: Pki,
    store: Store,
    nginx: Nginx,
    preflight: Gate,
    reload: Gate,
    _fs: Tmpfs,
    tree: Tree,
}

impl Site {
    fn new() -> Site {
        let (fs, tree) = tree_in_memory(&[
            "certs", "keys", "archive", "pub", "state", "defs", "srv", "gates",
        ]);
        let pki = Pki::new(&tree.path("pki"));
        pki.ca();
        let key = tree.path("keys/www.pem");
        pki.key(&key);
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        sh(
            tree.root(),
            "ssh-keygen -q -t ed25519 -N '' -C publish -f sign_key",
        );
        let public = tree.read_text("sign_key.pub");
        tree.write(
            "allowed_signers",
            &format!("{IDENTITY} namespaces=\"{NAMESPACE}\" {public}"),
        );
        tree.write(
            "publish.toml",
            &format!(
                "certs = \"certs\"\npub = \"pub\"\nsigning_key = \"sign_key\"\n\
                 [[line]]\nname = \"www\"\nnames = [\"{NAME}\"]\n"
            ),
        );
        let store = Store {
            certs: tree.path("certs"),
            keys: tree.path("archive/keys"),
            archive: tree.path("archive"),
            keep: 2,
        };
        store.ensure().expect("store");
        let target = tree.path("srv/www.pem");
        // nginx starts on a first certificate of its own (the trigger
        // then deploys the published one).
        let boot = tree.path("pki/boot.pem");
        pki.leaf(&key, &[NAME], None, 30, &boot);
        let chain = std::fs::read(pki.int()).expect("int");
        std::fs::write(
            &target,
            [std::fs::read(&boot).expect("boot"), chain].concat(),
        )
        .expect("boot chain");
        let port = free_port();
        let nginx = Nginx::daemon(
            &tree.path("nginx"),
            &[Server::new(port, NAME, &target, &key)],
        );
        let gates = tree.path("gates");
        let preflight = Gate::new(&gates, "preflight", &nginx.test_command());
        let reload = Gate::new(
            &gates,
            "reload",
            &format!("kill -HUP $(cat {})", nginx.pidfile().display()),
        );
        tree.write(
            "trigger.toml",
            &format!(
                "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"defs\"]\n\
                 allowed_signers = \"allowed_signers\"\nsigner = \"{IDENTITY}\"\npostflight_wait = \"30s\"\n\n\
                 [[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{NAME}\"]\n\
                 files = [{{ cert = \"srv/www.pem\", key = \"keys/www.pem\" }}]\n\
                 install = [{{ from = \"fullchain.pem\", to = \"srv/www.pem\" }}]\n\
                 pidfile = \"{}\"\npreflight = \"sh {}\"\nreload = \"sh {}\"\nrule = \"content-changed\"\n\
                 postflight = [{{ connect = \"{}\", sni = \"{NAME}\" }}]\n",
                nginx.pidfile().display(),
                preflight.script().display(),
                reload.script().display(),
                nginx.addr()
            ),
        );
        Site {
            pki,
            store,
            nginx,
            preflight,
            reload,
            _fs: fs,
            tree,
        }
    }

    /// A new certificate (same key) in the store, published by
    /// certdrop-publish: its leaf and full chain.
    fn renew(&self, n: usize) -> (Vec<u8>, Vec<u8>) {
        let out = self.tree.path(&format!("pki/leaf-{n}.pem"));
        let key = self.tree.path("keys/www.pem");
        let cert = store_renewal(&self.pki, &self.store, &key, &out, NAME);
        let conf = self.tree.path("publish.toml");
        finish(binary(
            "certdrop-publish",
            &["-c", conf.to_str().expect("utf8"), "run"],
        ))
        .expect(0);
        let chain = std::fs::read(self.pki.int()).expect("int");
        (cert.clone(), [cert, chain].concat())
    }

    fn run(&self) -> Command {
        let conf = self.tree.path("trigger.toml");
        binary(
            "certdrop-trigger",
            &["-c", conf.to_str().expect("utf8"), "run"],
        )
    }

    /// The leaf nginx serves, as `openssl s_client` verified it against
    /// the test CA for NAME (None: no verified handshake).
    fn served(&self) -> Option<String> {
        let ran = Command::new("openssl")
            .args(["s_client", "-connect", &self.nginx.addr().to_string()])
            .args(["-servername", NAME, "-verify_hostname", NAME])
            .arg("-CAfile")
            .arg(self.pki.root())
            .arg("-verify_return_error")
            .ran();
        if ran.code != 0 || !ran.stdout.contains("Verify return code: 0 (ok)") {
            return None;
        }
        pem_body(&ran.stdout)
    }

    /// What the first writes of a deployment change: the copy of the
    /// installed file kept in state/www.prev/, and the installed file.
    fn written(&self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let read = |rel: &str| std::fs::read(self.tree.path(rel)).ok();
        (read("state/www.prev/0"), read("srv/www.pem"))
    }

    /// The trigger's temporary files: in its state, beside the installed file.
    fn temp_left(&self) -> Vec<std::path::PathBuf> {
        let mut v = temp_files(&self.tree.path("state"));
        v.extend(temp_files(&self.tree.path("srv")));
        v
    }
}

/// The base64 of the first certificate in PEM `text`, without blanks.
fn pem_body(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN CERTIFICATE-----")? + 27;
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    Some(text[start..end].split_whitespace().collect())
}

/// [`pem_body`] of a PEM file's bytes.
fn body(pem: &[u8]) -> String {
    pem_body(&String::from_utf8_lossy(pem)).expect("a PEM certificate")
}

#[test]
fn kill_9_of_trigger_runs_keeps_nginx_serving_and_converges() {
    let mut rng = Rng::for_test("trigger");
    let rounds = iterations();
    let started = std::time::Instant::now();
    let site = Site::new();
    site.renew(0);
    finish(site.run()).expect(0);
    // A calibration round: one certificate deployed to the end.
    let (cert, _) = site.renew(1);
    let target = site.tree.path("srv/www.pem");
    let written = site.written();
    let (took, span) = calibrate(site.run(), &site.tree.path("calibration.log"), || {
        site.written() != written
    });
    eprintln!("crash trigger: calibration {took:?}, {span:?} from the first write");
    // Old workers finish their connections after a reload: wait for them.
    let served = wait_for(RUN_LIMIT, || site.served().filter(|s| *s == body(&cert)));
    assert!(
        served.is_some(),
        "calibration not served: {:?}",
        site.served()
    );
    let mut good = (body(&cert), std::fs::read(&target).expect("installed"));
    let mut killed_runs = 0;
    for n in 0..rounds {
        let (cert, fullchain) = site.renew(n + 2);
        let new = body(&cert);
        let point = draw(&mut rng, &["preflight", "reload"], took, span);
        let record = site.tree.path("state/www.json");
        let record_before = std::fs::read(&record).ok();
        let written = site.written();
        let log = site.tree.path(&format!("round-{n}.log"));
        let k = kill_at(
            site.run(),
            &log,
            &point,
            || site.written() != written,
            &[&site.preflight, &site.reload],
        );
        killed_runs += usize::from(k.killed);
        let context = format!(
            "round {n}: {point:?}, {}; killed run:\n{}\nnginx: {}",
            if k.killed { "killed" } else { "ended" },
            k.output,
            site.nginx.log()
        );
        // The previous good state: nginx serves a valid certificate, the
        // old one or the new one; the installed file is whole.
        let served = site.served();
        assert!(
            served.as_ref() == Some(&good.0) || served.as_ref() == Some(&new),
            "nginx serves {served:?}: not a verified old or new certificate\n{context}"
        );
        let installed = std::fs::read(&target).expect("installed file");
        assert!(
            installed == good.1 || installed == fullchain,
            "the installed file is neither the old nor the new chain\n{context}"
        );
        // The next run converges.
        let recorded = std::fs::read(&record).ok() != record_before;
        let ran = finish(site.run());
        let context = format!("{context}\nnext run: {ran:?}");
        let ok: &[i32] = match (k.killed, recorded) {
            (false, _) => &[2],
            (true, true) => &[0, 2],
            (true, false) => &[0],
        };
        assert!(ok.contains(&ran.code), "did not converge\n{context}");
        assert_eq!(
            std::fs::read(&target).expect("installed"),
            fullchain,
            "the new chain is not installed\n{context}"
        );
        let now = wait_for(RUN_LIMIT, || site.served().filter(|s| *s == new));
        assert!(
            now.is_some(),
            "nginx does not serve the new certificate, verified\n{context}"
        );
        assert_no_temp_left(site.tree.root(), &site.temp_left(), &context);
        good = (new, fullchain);
        eprintln!("crash trigger: round {n}: {point:?}: killed {}", k.killed);
    }
    eprintln!(
        "crash trigger: {rounds} rounds ({killed_runs} killed) in {:?}",
        started.elapsed()
    );
}
