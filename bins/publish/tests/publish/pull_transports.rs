//! `pull` with the transports a site uses: an rsync daemon on loopback,
//! git (clone, then pull), and what a failing or hanging transport does:
//! 75, one line, the held tree unchanged.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use certdrop_testkit::{free_port, within, Proc, Run};

use crate::receiver::{config, pull, rsync_config, snapshot, verify, words};
use crate::site::{sh, Site};

/// A site with www published and pulled once with local rsync.
fn received() -> Site {
    let site = Site::new();
    site.install("www", &site.www(1));
    site.run(&["run"]).expect(0);
    rsync_config(&site, "pub");
    pull(&site, &[]).expect(0);
    site
}

/// A renewal of www published upstream.
fn renew(site: &Site, serial: u32) {
    site.install("www", &site.www(serial));
    site.run(&["run"]).expect(0);
}

#[test]
fn a_failing_transport_is_temporary_and_switches_nothing() {
    let site = received();
    renew(&site, 2);
    config(
        &site,
        "pub",
        &words(&["rsync", "-a", "--delete", "/nonexistent/pub/", "{staging}/"]),
        "pub",
        "",
    );
    let before = snapshot(&site.path("recv/pub"));
    let ran = pull(&site, &[]).expect(75);
    assert_eq!(ran.stdout, "");
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");
    // rsync's own last line: its exit summary.
    ran.stderr_starts("certdrop-publish: transport rsync: exit 23: rsync error: ");
    assert_eq!(snapshot(&site.path("recv/pub")), before);
    verify(&site, "recv/pub").expect(0);
}

#[test]
fn a_hanging_transport_is_killed_with_its_children() {
    let site = received();
    renew(&site, 2);
    // The transport leaves a child behind and waits: both must go.
    let script = "sleep 600 & echo $! > \"$0\"; wait";
    let pid_file = site.path("recv/child.pid");
    config(
        &site,
        "pub",
        &words(&["sh", "-c", script, pid_file.to_str().expect("utf-8")]),
        "pub",
        "timeout = \"1s\"\n",
    );
    let before = snapshot(&site.path("recv/pub"));
    let start = Instant::now();
    let ran = pull(&site, &[]).expect(75);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "not killed in time"
    );
    assert_eq!(
        ran.stderr,
        "certdrop-publish: transport sh: killed: did not finish within 1s\n"
    );
    assert_eq!(snapshot(&site.path("recv/pub")), before);
    let child = site.read_text("recv/child.pid");
    let gone = || gone(child.trim().parse().expect("pid"));
    assert!(
        within(Duration::from_secs(30), gone),
        "the transport's child {child} survived"
    );
}

/// Whether process `pid` is gone: no /proc entry on Linux (a zombie
/// nobody reaps still has one, so this is strict), no process to signal
/// elsewhere.
fn gone(pid: i32) -> bool {
    if cfg!(target_os = "linux") {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
    }
}

/// Whether a process of group `pgid` is alive (not a zombie), from
/// /proc/<pid>/stat: `pid (comm) state ppid pgrp ...` (Linux: procfs).
#[cfg(target_os = "linux")]
fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .any(|stat| {
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
}

#[cfg(target_os = "linux")]
#[test]
fn a_pull_killed_by_sigterm_takes_its_transport_with_it() {
    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid;
    use std::os::unix::process::ExitStatusExt;

    let site = received();
    renew(&site, 2);
    // The transport (its own group, $$) leaves a sleeper and waits; it
    // says both once the sleeper runs.
    let script = "sleep 600 & echo \"$$ $!\" > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; wait";
    let pid_file = site.path("recv/transport.pids");
    config(
        &site,
        "pub",
        &words(&["sh", "-c", script, pid_file.to_str().expect("utf-8")]),
        "pub",
        "",
    );
    let before = snapshot(&site.path("recv/pub"));
    let mut running = Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .arg("-c")
        .arg(site.path("recv/pull.toml"))
        .arg("pull")
        .env_remove("CERTDROP_PUBLISH_CONFIG")
        .spawn()
        .expect("spawn pull");
    let pids = certdrop_testkit::wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&pid_file).ok()
    });
    let Some(pids) = pids else {
        let _ = running.kill();
        panic!("the transport did not start");
    };
    let (pgid, sleeper) = pids.trim().split_once(' ').expect("two pids");
    let pgid: i32 = pgid.parse().expect("pgid");
    assert!(group_alive(pgid), "the transport's group {pgid} runs");
    kill(
        Pid::from_raw(i32::try_from(running.id()).expect("pid")),
        Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = certdrop_testkit::wait_for(Duration::from_secs(60), || {
        running.try_wait().expect("wait")
    });
    let gone = within(Duration::from_secs(30), || !group_alive(pgid));
    // Whatever the verdict, no sleeper is left behind by this test.
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    let Some(status) = status else {
        let _ = running.kill();
        panic!("pull did not end on SIGTERM");
    };
    assert_eq!(status.signal(), Some(Signal::SIGTERM as i32), "{status:?}");
    assert!(
        gone,
        "the transport's group {pgid} (sleeper {sleeper}) outlived its pull"
    );
    assert_eq!(snapshot(&site.path("recv/pub")), before);
    // The next pull runs its transport afresh: nothing is held.
    config(
        &site,
        "pub",
        &crate::receiver::rsync(&site, "pub"),
        "pub",
        "",
    );
    pull(&site, &[]).expect(0);
}

/// An rsync daemon on 127.0.0.1 serving pub/ as module `pub`, stopped on drop.
fn rsync_daemon(site: &Site) -> (Proc, u16) {
    let port = free_port();
    let conf = site.write(
        "rsyncd.conf",
        &format!(
            // As whoever runs the test: as root the daemon would become
            // nobody, who cannot read the test's tree.
            "use chroot = no\nuid = {}\ngid = {}\npid file = {}\nlog file = {}\n\
             [pub]\n\tpath = {}\n\tread only = yes\n",
            nix::unistd::getuid(),
            nix::unistd::getgid(),
            site.path("rsyncd.pid").display(),
            site.path("rsyncd.log").display(),
            site.path("pub").display()
        ),
    );
    let proc = Command::new("rsync")
        .args([
            "--daemon",
            "--no-detach",
            "--address",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .arg("--config")
        .arg(&conf)
        .logged(&site.path("rsyncd.out"));
    assert!(
        within(Duration::from_secs(30), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "rsync daemon did not listen: {}",
        site.read_text("rsyncd.out")
    );
    (proc, port)
}

#[test]
fn over_an_rsync_daemon() {
    let site = Site::new();
    site.install("www", &site.www(1));
    site.run(&["run"]).expect(0);
    let (_daemon, port) = rsync_daemon(&site);
    let source = format!("rsync://127.0.0.1:{port}/pub/");
    config(
        &site,
        "pub",
        &words(&["rsync", "-a", "--delete", &source, "{staging}/"]),
        "pub",
        "timeout = \"1m\"\n",
    );
    pull(&site, &[])
        .expect(0)
        .stdout_starts("www: switched to serial 01");
    pull(&site, &[]).expect(2).silent();
    renew(&site, 2);
    pull(&site, &[])
        .expect(0)
        .stdout_starts("www: switched to serial 02");
    assert_eq!(
        site.read("recv/pub/www/cert.pem"),
        site.read("pub/www/cert.pem")
    );
    verify(&site, "recv/pub").expect(0).silent();
}

#[test]
fn with_git() {
    let site = Site::new();
    site.install("www", &site.www(1));
    site.run(&["run"]).expect(0);
    // The signing site commits pub/ (its versions and links) to a repository.
    let commit = "rsync -a --delete --exclude .git --exclude .lock pub/ repo/ && \
                  git -C repo add -A && \
                  git -C repo -c user.name=publish -c user.email=publish@example.org commit -q -m pub";
    sh(site.root(), &format!("git init -q repo && {commit}"));
    let repo = site.path("repo");
    // Clone the first time, pull after: any command that fills a directory.
    let script = "if [ -d \"$0/.git\" ]; then git -C \"$0\" pull -q --ff-only; else git clone -q \"$1\" \"$0\"; fi";
    config(
        &site,
        "pub",
        &words(&[
            "sh",
            "-c",
            script,
            "{staging}",
            repo.to_str().expect("utf-8"),
        ]),
        "pub",
        "",
    );
    pull(&site, &[])
        .expect(0)
        .stdout_starts("www: switched to serial 01");
    pull(&site, &[]).expect(2).silent();
    renew(&site, 2);
    sh(site.root(), commit);
    pull(&site, &[])
        .expect(0)
        .stdout_starts("www: switched to serial 02");
    assert_eq!(
        site.read("recv/pub/www/cert.pem"),
        site.read("pub/www/cert.pem")
    );
    verify(&site, "recv/pub").expect(0).silent();
}
