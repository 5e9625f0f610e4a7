//! A site for end-to-end tests: the shared directories of the pipeline,
//! an issue.toml and a zone.toml, the binaries, and an nsd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Exit code and output of one run.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    #[track_caller]
    pub fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<std::process::Output> for Ran {
    fn from(out: std::process::Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The workspace's binary `name`, as `cargo test --workspace` built it.
pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// Run a binary.
pub fn run(name: &str, args: &[&str]) -> Ran {
    Command::new(bin(name))
        .args(args)
        .env_remove("SSL_CERT_FILE")
        .output()
        .expect("run")
        .into()
}

/// A child process killed on Drop (`certdrop-zone watch`).
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `name args...` in the background, output to `log`.
pub fn daemon(name: &str, args: &[&str], log: &Path) -> Daemon {
    let f = std::fs::File::create(log).expect("log");
    let child = Command::new(bin(name))
        .args(args)
        .stdout(Stdio::from(f.try_clone().expect("dup")))
        .stderr(Stdio::from(f))
        .spawn()
        .expect("spawn");
    Daemon(child)
}

/// Write `text` to `dir/rel`, creating parents.
pub fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).expect("write");
    p
}
