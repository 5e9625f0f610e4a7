//! Deterministic reproductions of what the kill -9 soak (soak.rs) found:
//! runs killed at one chosen point, with the next run checked against
//! what the client must do (each failed before its fix).
//! The last one the soak does not meet (after a kill its next run is the
//! forced renewal again, not cron's `run`): what `run` does after a
//! forced renewal killed once the CA had issued.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::proxied_line::{soon, Policy, ProxiedLine, RUN_LIMIT};
use certdrop_testkit::pebble::Endpoint;
use certdrop_testkit::Run;

/// A run killed after it installed its certificate but before it saved
/// the line's state leaves the finished order in `state/<line>.json`.
/// The next renewal must not take that order up again: it must bring a
/// new certificate, not install the one it already has.
///
/// The kill point is a few milliseconds wide (between the switch of
/// `certs/<line>` and the state file's rename), so the test makes the
/// same disk state without the race: the state file as the run left it
/// while it downloaded the certificate (order `finalized`), put back after
/// the run ended. That is what the kill leaves: every later write of the
/// run is the certificate's install (which happened) and the state save
/// (which did not). The soak hits the real kill there now and then.
#[test]
fn a_renewal_killed_after_its_install_does_not_install_that_certificate_again() {
    let t = ProxiedLine::new("www", Policy::Reuse);
    t.command(&["run"]).ended_within(RUN_LIMIT).expect(0);
    let state = t.site.path("state/www.json");
    let (held, release) = t.hold_answer(Endpoint::Certificate, 0);
    let mut proc = t.forced().logged(&t.site.path("renewal.log"));
    assert!(
        soon(RUN_LIMIT, || held.load(Ordering::SeqCst)),
        "download never asked"
    );
    let before_save = std::fs::read(&state).expect("state");
    assert!(
        String::from_utf8_lossy(&before_save).contains("\"finalized\""),
        "the order is kept while the certificate is downloaded"
    );
    drop(release);
    assert!(soon(RUN_LIMIT, || !proc.running()), "renewal stuck");
    assert_eq!(proc.0.wait().expect("reap").code(), Some(0));
    let renewed = t.serial();
    std::fs::write(&state, before_save).expect("the state the kill leaves");
    // Nothing is due: cron's run leaves the line alone.
    t.command(&["run"]).ended_within(RUN_LIMIT).expect(2);
    let issued = t.proxy.certificates_issued();
    let ran = t.forced().ended_within(RUN_LIMIT).expect(0);
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert_eq!(
        (
            t.proxy.certificates_issued() - issued,
            t.serial() != renewed
        ),
        (1, true),
        "(certificates issued, a new one installed): the killed run's order \
         was taken up again and its certificate installed once more:\n{said}"
    );
    assert_eq!(t.kept_order(), None, "{said}");
}

/// Serves `dir/<token>` for http-01 like the kit's webroot server, but
/// holds every request until released: the CA's validation is then in
/// flight for as long as a test wants.
struct HeldWebroot {
    release: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Requests waiting; answers given, and of them 404s.
    waiting: Arc<AtomicU32>,
    not_found: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl HeldWebroot {
    fn start(dir: &Path, port: u16) -> HeldWebroot {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind webroot port");
        listener.set_nonblocking(true).expect("nonblocking");
        let release = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let waiting = Arc::new(AtomicU32::new(0));
        let not_found = Arc::new(AtomicU32::new(0));
        let (dir, r, s, w, n) = (
            dir.to_path_buf(),
            release.clone(),
            stop.clone(),
            waiting.clone(),
            not_found.clone(),
        );
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (dir, r, s, w, n) =
                            (dir.clone(), r.clone(), s.clone(), w.clone(), n.clone());
                        std::thread::spawn(move || {
                            w.fetch_add(1, Ordering::SeqCst);
                            soon(RUN_LIMIT, || {
                                r.load(Ordering::SeqCst) || s.load(Ordering::SeqCst)
                            });
                            if !serve_token(conn, &dir) {
                                n.fetch_add(1, Ordering::SeqCst);
                            }
                            w.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HeldWebroot {
            release,
            stop,
            waiting,
            not_found,
            thread: Some(thread),
        }
    }
}

impl Drop for HeldWebroot {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer one GET for a token from `dir`: true if the file was there.
fn serve_token(mut conn: TcpStream, dir: &Path) -> bool {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let token = head
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.strip_prefix("/.well-known/acme-challenge/"))
        .unwrap_or("");
    let file: Option<Vec<u8>> = (!token.is_empty() && !token.contains('/'))
        .then(|| std::fs::read(dir.join(token)).ok())
        .flatten();
    let (status, body) = match &file {
        Some(b) => ("200 OK", b.as_slice()),
        None => ("404 Not Found", &b""[..]),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(body);
    file.is_some()
}

/// A run killed just after the CA took its challenge answer leaves the
/// token file (and its journal). The next run must take the order up
/// again without pulling the file from under the CA's validation: here
/// the validation is still in flight when the next run starts, and the
/// next run's first request to the CA is slow, so the CA looks while that
/// run has done its start-of-run cleaning but not yet written the file
/// anew. The order must be completed: no second order.
#[test]
fn a_run_killed_after_answering_does_not_pull_the_token_from_the_validation() {
    let mut t = ProxiedLine::new("www", Policy::Reuse);
    t.command(&["run"]).ended_within(RUN_LIMIT).expect(0);
    let orders = t.proxy.orders_created();
    // Pebble's validations now wait at the webroot until released.
    let port = t.site.web.as_ref().expect("webroot server").port;
    t.site.web = None;
    let webroot = HeldWebroot::start(&t.site.path("webroot"), port);
    let release = crate::proxied_line::Release(webroot.release.clone());
    let mut killed = t.forced().logged(&t.site.path("killed.log"));
    assert!(
        soon(RUN_LIMIT, || webroot.waiting.load(Ordering::SeqCst) > 0),
        "the CA never came to validate"
    );
    killed.0.kill().expect("kill -9");
    killed.0.wait().expect("reap");
    let kept = t.kept_order().expect("the order is kept");
    assert_eq!(kept["stage"], "answered");
    let tokens: Vec<PathBuf> = t
        .site
        .listing("webroot")
        .iter()
        .map(|n| t.site.path("webroot").join(n))
        .collect();
    assert_eq!(tokens.len(), 1, "the killed run's token file");
    // The next run, its directory request slow to come back.
    let (slow, directory) = t.hold_answer(Endpoint::Directory, 0);
    let mut next = t.forced().logged(&t.site.path("next.log"));
    assert!(soon(RUN_LIMIT, || slow.load(Ordering::SeqCst)), "next run");
    // The CA looks now.
    drop(release);
    assert!(
        soon(RUN_LIMIT, || webroot.waiting.load(Ordering::SeqCst) == 0),
        "validation answered"
    );
    let looked_in_vain = webroot.not_found.load(Ordering::SeqCst);
    drop(directory);
    assert!(soon(RUN_LIMIT, || !next.running()), "next run stuck");
    let code = next.0.wait().expect("reap").code();
    let log = std::fs::read_to_string(t.site.path("next.log")).unwrap_or_default();
    assert_eq!(
        (looked_in_vain, code, t.proxy.orders_created() - orders),
        (0, Some(0), 1),
        "(validations that found no token file, exit code, orders placed for the renewal)\n{log}"
    );
}

/// A run killed inside an atomic write leaves its temporary file (the
/// soak finds them: `archive/<line>/.tmp.<stamp>/.tmp.key.pem.<pid>.<n>`,
/// `archive/<line>/.tmp.<stamp>/.tmp.cert.pem.<pid>.<n>`,
/// `state/.tmp.<line>.json.<pid>.<n>`). The next run that writes there,
/// under the lock, must remove them: the one in the archive holds a copy
/// of the private key that would outlive the archive's pruning. Here the
/// leftovers are put where and as a killed run leaves them (a kill inside
/// a write is a few milliseconds wide).
#[test]
fn temporary_files_a_killed_run_left_with_keys_are_removed() {
    let t = ProxiedLine::new("www", Policy::Fresh);
    t.command(&["run"]).ended_within(RUN_LIMIT).expect(0);
    let key = std::fs::read(t.site.path("keys/www/key.pem")).expect("key");
    let dead = 4_194_000; // a pid no run here has
    let secret = |rel: &str| {
        let path = t.site.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, &key).expect("plant");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        path
    };
    let left = [
        secret(&format!("keys/www/next/.tmp.key.pem.{dead}.3")),
        secret(&format!("keys/www/.tmp.key.pem.{dead}.4")),
        secret("archive/www/.tmp.20260101T000000Z/key.pem"),
        secret(&format!(
            "archive/www/.tmp.20260101T000001Z/.tmp.key.pem.{dead}.9"
        )),
        secret(&format!("state/.tmp.www.json.{dead}.1")),
    ];
    let ran = t.forced().ended_within(RUN_LIMIT).expect(0);
    let still: Vec<&PathBuf> = left.iter().filter(|p| p.exists()).collect();
    assert_eq!(
        still,
        Vec::<&PathBuf>::new(),
        "left by a killed run, still there after a renewal:\n{}{}",
        ran.stdout,
        ran.stderr
    );
}

/// A forced renewal killed after the CA issued its certificate (order
/// finalized, download not done) leaves the order kept; the certificate
/// exists at the CA. The next `run` (cron) must fetch and install it:
/// the man page's "a run that finds an order in progress continues it".
/// Today `run` says "nothing due" while the line is not due on its own,
/// and the order waits for the next renewal, which then installs a
/// certificate as old as the kill (for a 90-day CA, one already due).
#[test]
fn a_forced_renewal_killed_after_finalize_is_finished_by_the_next_run() {
    let t = ProxiedLine::new("www", Policy::Reuse);
    t.command(&["run"]).ended_within(RUN_LIMIT).expect(0);
    let before = t.serial();
    let (held, release) = t.hold_answer(Endpoint::Certificate, 0);
    let mut killed = t.forced().logged(&t.site.path("killed.log"));
    assert!(
        soon(RUN_LIMIT, || held.load(Ordering::SeqCst)),
        "download never asked"
    );
    killed.0.kill().expect("kill -9");
    killed.0.wait().expect("reap");
    drop(release);
    t.proxy.clear();
    let issued = t.proxy.certificates_issued();
    let ran = t.command(&["-v", "run"]).ended_within(RUN_LIMIT);
    let said = format!("exit {}\n{}{}", ran.code, ran.stdout, ran.stderr);
    assert_ne!(
        t.serial(),
        before,
        "the issued certificate was not installed: {said}"
    );
    assert_eq!(t.proxy.certificates_issued(), issued, "{said}");
    assert_eq!(t.kept_order(), None, "{said}");
}
