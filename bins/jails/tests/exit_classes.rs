//! certdrop-jails' exit classes against their real causes, beside
//! tests/cli.rs (which covers 0, 2, 64, 66 and 78): output that cannot be
//! written (73) leaves nothing half-written, and `render -n` is `check`
//! with an output directory: it says what would change and writes nothing.

use std::path::Path;
use std::process::Command;

fn jails(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_certdrop-jails"))
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn site(dir: &Path) -> String {
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jail-templates/site.toml.sample"),
    )
    .expect("sample");
    let site = dir.join("site.toml");
    std::fs::write(&site, sample).expect("site");
    site.to_str().expect("utf8").to_string()
}

#[test]
fn an_output_directory_that_cannot_be_made_is_73() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = site(dir.path());
    // A regular file where the output directory's parent should be: no
    // privilege makes that a directory (the tests may run as root).
    std::fs::write(dir.path().join("file"), "").expect("file");
    let out = dir.path().join("file/out");
    let (code, stdout, stderr) = jails(&["render", &site, "-o", out.to_str().expect("utf8")]);
    assert_eq!(code, 73, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("file/out: cannot create: Not a directory"),
        "{stderr}"
    );
}

#[test]
fn render_minus_n_is_check_with_an_output_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = site(dir.path());
    let out = dir.path().join("out");
    let o = out.to_str().expect("utf8");
    let (code, stdout, stderr) = jails(&["render", "-n", &site, "-o", o]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(stdout.contains("would write "), "{stdout}");
    assert!(!out.exists(), "nothing written");
    let (code, same, _) = jails(&["check", &site, "-o", o]);
    assert_eq!((code, same), (0, stdout));
    let (code, _, stderr) = jails(&["render", &site, "-o", o]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = jails(&["render", "-n", &site, "-o", o]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}
