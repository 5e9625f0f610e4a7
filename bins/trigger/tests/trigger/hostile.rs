//! Files planted by a hostile writer are refused, never waited on: a FIFO
//! where a certificate of pub/<line>/ should be (read by the trigger's own
//! reader, or first by the manifest check), and one where the
//! service's configuration should be. The real binary runs under a time
//! limit; a run that blocks on an open(2) of a FIFO fails the test instead
//! of hanging it.

use std::process::Command;
use std::time::Duration;

use certdrop_testkit::tree::mkfifo;
use certdrop_testkit::Run;

use crate::harness::{published, Ran, Tree, NAME};

/// Longer than any of these runs takes, far shorter than forever.
const LIMIT: Duration = Duration::from_secs(20);

/// Run certdrop-trigger -c trigger.toml `args`; a run still going after
/// LIMIT (blocked) fails the test.
fn run_bounded(tree: &Tree, args: &[&str]) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-trigger"))
        .arg("-c")
        .arg(tree.path("trigger.toml"))
        .args(args)
        .ended_within(LIMIT)
}

#[test]
fn a_fifo_in_a_published_line_is_refused_not_waited_on() {
    let tree = Tree::new();
    tree.issue();
    // No allowed_signers: the file is reached by the trigger's own reader
    // (with a manifest, the manifest check reads it first).
    tree.write(
        "trigger.toml",
        &format!(
            "pub = \"pub\"\nstate = \"state\"\n\n[[service]]\nname = \"www\"\nline = \"www\"\n\
             names = [\"{NAME}\"]\n{}",
            published("www", "true")
        ),
    );
    run_bounded(&tree, &["run"]).expect(0);
    let file = tree.path("pub/www/fullchain.pem");
    std::fs::remove_file(&file).expect("rm");
    mkfifo(&file);
    for args in [["run"], ["check"]] {
        run_bounded(&tree, &args)
            .expect(65)
            .one_error("pub/www/fullchain.pem: refused: a FIFO, not a regular file");
    }
}

#[test]
fn a_fifo_in_a_signed_line_is_refused_by_the_manifest_check() {
    let tree = Tree::new();
    tree.issue();
    // allowed_signers set: the manifest check reads every file it lists.
    tree.config(&published("www", "true"));
    run_bounded(&tree, &["run"]).expect(0);
    let file = tree.path("pub/www/chain.pem");
    std::fs::remove_file(&file).expect("rm");
    mkfifo(&file);
    for args in [["run"], ["check"]] {
        run_bounded(&tree, &args)
            .expect(65)
            .one_error("www: not deployed: ")
            .one_error("/chain.pem: refused: a FIFO, not a regular file");
    }
}

#[test]
fn a_fifo_as_the_services_configuration_is_refused_not_waited_on() {
    let tree = Tree::new();
    tree.issue();
    mkfifo(&tree.path("srv/nginx.conf"));
    tree.config(
        "discover = { parser = \"nginx\", file = \"srv/nginx.conf\" }\n\
         rule = \"content-changed\"\nreload = \"true\"\n",
    );
    run_bounded(&tree, &["check"])
        .expect(78)
        .one_error("www: discover: ")
        .one_error("srv/nginx.conf: refused: a FIFO, not a regular file");
}
