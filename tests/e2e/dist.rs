//! The shipped service files of dist/ checked as far as Linux can: every
//! FreeBSD script parses (`sh -n`) and is shellcheck clean, each rc.d
//! script has the header, name and rcvar knobs its file name promises,
//! and the systemd units pass `systemd-analyze verify` with `%%PREFIX%%`
//! made a prefix that holds the workspace's binaries. (The rc.d and
//! periodic scripts are not run on FreeBSD here; tests/e2e/periodic.rs
//! runs the periodic ones on Linux.)

use std::path::{Path, PathBuf};
use std::process::Command;

use certdrop_testkit::{bin, Run, Tree};

fn dist(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dist")
        .join(rel)
}

/// The files of a directory of dist/, sorted.
fn files(rel: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dist(rel))
        .unwrap_or_else(|e| panic!("dist/{rel}: {e}"))
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

/// Every shell script shipped for FreeBSD.
fn scripts() -> Vec<PathBuf> {
    let mut out = files("freebsd/rc.d");
    out.extend(files("freebsd/periodic/daily"));
    out.extend(files("freebsd/periodic/weekly"));
    out
}

#[test]
fn every_shipped_script_parses_and_is_shellcheck_clean() {
    let all = scripts();
    assert_eq!(all.len(), 5, "{all:?}");
    for f in &all {
        Command::new("sh").arg("-n").arg(f).ran().expect(0).silent();
        Command::new("shellcheck")
            .args(["-s", "sh"])
            .arg(f)
            .ran()
            .expect(0)
            .silent();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(f).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o111, 0o111, "{} is not executable", f.display());
    }
}

#[test]
fn each_rc_script_provides_its_name_and_knobs() {
    for stage in ["zone", "trigger", "publish"] {
        let name = format!("certdrop_{stage}");
        let text = std::fs::read_to_string(dist(&format!("freebsd/rc.d/{name}"))).expect("rc.d");
        for want in [
            format!("\n# PROVIDE: {name}\n"),
            "\n# KEYWORD: shutdown\n".to_string(),
            "\n. /etc/rc.subr\n".to_string(),
            format!("\nname={name}\n"),
            format!("\nrcvar={name}_enable\n"),
            "\nload_rc_config $name\n".to_string(),
            format!(": \"${{{name}_config:=\"%%PREFIX%%/etc/certdrop/{stage}.toml\"}}\""),
            format!("%%PREFIX%%/bin/certdrop-{stage}"),
            format!("-c ${{{name}_config}} watch ${{watch_flags}}"),
            "\nrun_rc_command \"$1\"\n".to_string(),
        ] {
            assert!(text.contains(&want), "{name}: no '{want}'");
        }
        for knob in ["enable", "config", "user", "flags", "pidfile", "output"] {
            assert!(
                text.contains(&format!(": \"${{{name}_{knob}")),
                "{name}: no default for {name}_{knob}"
            );
            assert!(
                text.contains(&format!("# {name}_{knob} (")),
                "{name}: {name}_{knob} is not described"
            );
        }
    }
}

#[test]
fn the_systemd_units_verify() {
    let tree = Tree::new();
    let prefix = tree.path("prefix");
    std::fs::create_dir_all(prefix.join("bin")).expect("bin");
    for p in ["zone", "trigger", "publish", "issue", "check"] {
        let name = format!("certdrop-{p}");
        std::os::unix::fs::symlink(bin(&name), prefix.join("bin").join(&name)).expect("link");
    }
    let units = tree.path("units");
    std::fs::create_dir_all(&units).expect("units");
    let mut names = Vec::new();
    for f in files("linux/systemd") {
        let text = std::fs::read_to_string(&f).expect("unit");
        let name = f.file_name().expect("name").to_owned();
        std::fs::write(
            units.join(&name),
            text.replace("%%PREFIX%%", prefix.to_str().expect("utf8")),
        )
        .expect("write");
        names.push(name);
    }
    assert_eq!(names.len(), 7, "{names:?}");
    // Unknown keys are only warned about (exit 0): nothing may be said.
    Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&names)
        .current_dir(&units)
        .ran()
        .expect(0)
        .silent();
}
