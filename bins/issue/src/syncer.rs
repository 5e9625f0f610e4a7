//! Group commit of the issuer's fsyncs. Lines are ordered concurrently and
//! each commit makes its files durable before it switches them on; done one
//! line at a time that is a dozen fsyncs per certificate, most of a run's
//! wall time on a busy disk. Here every commit hands its paths to one
//! thread and waits: the thread takes every request queued meanwhile and
//! makes all their paths durable in one pass (`atomic::sync_group`: each
//! path once, however many commits asked for it), then answers them all.
//! A commit goes on only once its own paths are on disk, so the order of
//! its steps (written, synced, switched, synced) is what it was.

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

use certdrop_core::atomic;

/// One commit's paths and where its answer goes.
struct Request {
    paths: Vec<PathBuf>,
    done: Sender<io::Result<()>>,
}

static QUEUE: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();

/// Make `paths` durable, together with whatever other commits ask for at
/// the same time. Blocks the calling thread (call it off the runtime's
/// workers: [`blocking`]).
pub fn sync(paths: Vec<PathBuf>) -> io::Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("certdrop-sync".into())
            .spawn(move || serve(rx))
            .map(|_| Mutex::new(tx))
            .unwrap_or_else(|_| {
                // No thread to be had: a queue nobody serves makes every
                // caller sync its own paths (below).
                let (tx, _) = mpsc::channel();
                Mutex::new(tx)
            })
    });
    let (done, answer) = mpsc::channel();
    let sent = queue
        .lock()
        .map_err(|_| io::Error::other("sync queue poisoned"))?
        .send(Request {
            paths: paths.clone(),
            done,
        });
    match sent {
        Ok(()) => answer.recv().unwrap_or_else(|_| atomic::sync_group(&paths)),
        Err(_) => atomic::sync_group(&paths),
    }
}

/// The sync thread: one pass per batch of queued requests.
fn serve(queue: Receiver<Request>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter());
        let mut paths: Vec<PathBuf> = batch.iter().flat_map(|r| r.paths.clone()).collect();
        paths.sort();
        paths.dedup();
        let result = atomic::sync_group(&paths);
        for request in batch {
            let answer = match &result {
                Ok(()) => Ok(()),
                // One commit's failure is not the others': each on its own.
                Err(_) => atomic::sync_group(&request.paths),
            };
            let _ = request.done.send(answer);
        }
    }
}

/// Run `work`, which blocks on disk (the commit and its syncs), without
/// holding up the other lines' tasks on the runtime's two workers.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_requests_are_all_answered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let p = dir.path().join(format!("f{i}"));
                std::thread::spawn(move || {
                    std::fs::write(&p, b"x").expect("write");
                    sync(vec![p.clone(), p.parent().expect("dir").to_path_buf()])
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread").expect("synced");
        }
        let missing = dir.path().join("missing");
        assert!(sync(vec![missing]).is_err(), "an error reaches its caller");
    }
}
