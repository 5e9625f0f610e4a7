//! A fresh-key renewal's commit stopped at each step boundary, as a kill
//! there leaves the disk (issue 12, item 4): no reader of certs/ ever sees
//! the new certificate while its key is not `keys/<line>/key.pem` (the
//! new certificate is staged, the key promoted, then the certificate
//! switched on), and the next run's `repair` (or the resumed order)
//! finishes whichever half is left.

use certdrop_core::certinfo;
use certdrop_core::store::CertFiles;
use rcgen::KeyPair;

use super::commit::{Step, CRASH_AFTER};
use super::*;
use crate::keys::KeyType;
use crate::state::{OrderProgress, Stage};

/// A temp tree with one line `www` and its store.
struct Fx {
    _dir: tempfile::TempDir,
    config: Config,
}

fn fx() -> Fx {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "{}[drop]\nwebroot = \"webroot\"\n{}[[line]]\nname = \"www\"\nchallenge = \"http-01\"\n\
         domains = [\"www.example.org\"]\n",
        crate::config::tests::HEAD,
        crate::config::tests::DNS
    );
    let config = Config::parse(&dir.path().join("issue.toml"), &text).expect("config");
    config.store.ensure().expect("store");
    Fx { _dir: dir, config }
}

impl Fx {
    fn line(&self) -> &Line {
        &self.config.lines[0]
    }

    /// A new key written durably to `path`.
    fn key(&self, path: &std::path::Path) -> KeyPair {
        let key = KeyType::EcdsaP256.generate().expect("key");
        self.config
            .store
            .write_key_for(path, key.serialize_pem().as_bytes(), None)
            .expect("write key");
        key
    }

    /// The SPKI of the certificate readers of certs/www see, if any.
    fn visible(&self) -> Option<Vec<u8>> {
        let files = self.config.store.read_current("www").expect("read")?;
        Some(spki_of(&files))
    }

    /// The SPKI of keys/www/key.pem, if any.
    fn current_key(&self) -> Option<Vec<u8>> {
        let path = self.config.store.key_path("www");
        path.exists()
            .then(|| keys::spki(&keys::load(&path, None).expect("load key")))
    }
}

fn spki_of(files: &CertFiles) -> Vec<u8> {
    certinfo::parse_chain(&files.cert)
        .expect("parse")
        .remove(0)
        .spki
}

/// A certificate for www.example.org with `key`.
fn cert(key: &KeyPair, serial: u8) -> CertFiles {
    let mut p = rcgen::CertificateParams::new(vec!["www.example.org".to_string()]).expect("params");
    p.serial_number = Some(rcgen::SerialNumber::from(vec![serial]));
    let pem = p.self_signed(key).expect("sign").pem().into_bytes();
    CertFiles {
        cert: pem.clone(),
        chain: Vec::new(),
        fullchain: pem,
        pubkey: keys::public_pem(&keys::spki(key)).into_bytes(),
    }
}

/// The state file as the run killed in `commit` left it: the order
/// finalized with the next key, not yet forgotten.
fn killed_state() -> LineState {
    LineState {
        next_key_created: Some(50),
        order: Some(OrderProgress {
            url: "https://ca.test/order/1".into(),
            stage: Stage::Finalized,
            next_key: true,
            ca: None,
        }),
        ..LineState::default()
    }
}

/// Run `commit` of a fresh-key renewal (`old` installed, the new key in
/// next/), stopped after `step` (None: not stopped).
fn renew(f: &Fx, step: Option<Step>) -> (CertFiles, CertFiles, Result<()>) {
    let store = &f.config.store;
    let old_key = f.key(&store.key_path("www"));
    let old = cert(&old_key, 1);
    store
        .publish("www", Some(&old), None, None)
        .expect("install");
    let next = f.key(&store.next_key_path("www"));
    let new = cert(&next, 2);
    let signer = Signer::Key {
        key: next,
        from_next: true,
    };
    let mut st = killed_state();
    st.order = None;
    CRASH_AFTER.with(|c| c.set(step));
    let done = commit(&f.config, f.line(), &new, &signer, &mut st, 100);
    CRASH_AFTER.with(|c| c.set(None));
    (old, new, done)
}

#[test]
fn a_commit_killed_at_each_boundary_shows_no_certificate_before_its_key() {
    for step in [Step::Archived, Step::Staged, Step::Promoted] {
        let f = fx();
        let store = &f.config.store;
        let (old, new, done) = renew(&f, Some(step));
        assert!(done.is_err(), "{step:?}: stopped");
        // Readers of certs/ still see the old certificate: the new one is
        // never shown before its key is keys/www/key.pem, so publish has
        // nothing new to pass on.
        let shown = store.read_current("www").expect("read");
        assert!(shown == Some(old.clone()), "{step:?}: the old set is shown");
        match step {
            // Before the promotion: the old pair, whole.
            Step::Archived | Step::Staged => {
                assert_eq!(f.visible(), f.current_key(), "{step:?}: old pair");
            }
            // After it: the new key with its certificate staged, complete.
            Step::Promoted => {
                assert_eq!(f.current_key(), Some(spki_of(&new)));
                let staged = store.staged("www").expect("staged").map(|(_, s)| s);
                assert_eq!(staged, Some(new.clone()), "staged for repair");
            }
        }
        // The next run repairs first.
        let mut st = killed_state();
        let repaired = repair(&f.config, f.line(), &mut st, 200).expect("repair");
        assert_eq!(f.visible(), f.current_key(), "{step:?}: repaired pair");
        if step == Step::Promoted {
            // The key is promoted: its staged certificate is switched on.
            assert!(repaired, "{step:?}: repaired");
            assert_eq!(store.read_current("www").expect("read"), Some(new.clone()));
            assert_eq!(f.current_key(), Some(spki_of(&new)));
            assert_eq!(st.order, None, "the order is done");
            assert_eq!(st.key_created, Some(50));
            assert_eq!(st.issued, Some(200));
            assert!(!store.next_key_path("www").exists());
            assert!(
                store.read_prev_pub("www").expect("prev").is_some(),
                "the old key's TLSA record stays"
            );
            assert_eq!(st.prev_published, Some(200));
        } else {
            // Not promoted: the old pair stays, the order resumes with
            // the next key, and its commit converges.
            assert!(!repaired, "{step:?}: nothing to repair");
            assert_eq!(store.read_current("www").expect("read"), Some(old.clone()));
            let next = keys::load(&store.next_key_path("www"), None).expect("next key");
            let signer = Signer::Key {
                key: next,
                from_next: true,
            };
            st.order = None;
            commit(&f.config, f.line(), &new, &signer, &mut st, 300).expect("commit");
            assert_eq!(store.read_current("www").expect("read"), Some(new.clone()));
            assert_eq!(f.current_key(), Some(spki_of(&new)));
        }
        // No orphan is left for readers or pruning: the current version
        // and the real previous one.
        let left = certdrop_core::versions::list(&store.certs, "www").expect("list");
        assert_eq!(left.len(), 2, "{step:?}: {left:?}");
        assert_eq!(store.staged("www").expect("staged"), None);
    }
}

#[test]
fn a_commit_not_stopped_installs_the_new_pair() {
    let f = fx();
    let (_, new, done) = renew(&f, None);
    done.expect("commit");
    assert_eq!(f.visible(), Some(spki_of(&new)));
    assert_eq!(f.current_key(), Some(spki_of(&new)));
    assert!(!f.config.store.next_key_path("www").exists());
    // Nothing for a repair to do.
    let mut st = LineState::default();
    assert!(!repair(&f.config, f.line(), &mut st, 200).expect("repair"));
}

/// A store an earlier certdrop-issue left when killed between switching
/// the certificate and promoting the key: repair promotes the key.
#[test]
fn a_certificate_switched_before_its_key_is_repaired() {
    let f = fx();
    let store = &f.config.store;
    let old_key = f.key(&store.key_path("www"));
    store
        .publish("www", Some(&cert(&old_key, 1)), None, None)
        .expect("install");
    let next = f.key(&store.next_key_path("www"));
    let new = cert(&next, 2);
    store
        .publish("www", Some(&new), None, None)
        .expect("switch");
    let mut st = killed_state();
    assert!(repair(&f.config, f.line(), &mut st, 200).expect("repair"));
    assert_eq!(f.visible(), f.current_key());
    assert_eq!(f.current_key(), Some(spki_of(&new)));
}
