//! The command line and configuration errors: exit codes of the contract,
//! one line naming file, line and key.

use crate::harness::{run, Tree};

#[test]
fn usage_and_configuration_errors() {
    run(&["frobnicate"]).expect(64);
    run(&["--help"]).expect(0);
    let tree = Tree::new();
    let missing = tree.path("missing.toml");
    // No command: usage (64), before any configuration is read.
    run(&["-c", missing.to_str().expect("utf8")])
        .expect(64)
        .one_error("a command is needed");
    run(&["-c", missing.to_str().expect("utf8"), "run"])
        .expect(78)
        .one_error("missing.toml: cannot read");
    tree.config("definition = \"nginx\"\nreload = \"true\"\nbogus = 1\n");
    tree.run(&["run"])
        .expect(78)
        .one_error("trigger.toml:8: service 'www': bogus: unknown key");
    tree.config("definition = \"slapd\"\nreload = \"true\"\n");
    tree.run(&["check"])
        .expect(78)
        .one_error("newer-than-pidfile needs a restart");
    tree.config("files = [{ cert = \"x.pem\" }]\nrule = \"content-changed\"\nreload = \"true\"\n");
    tree.run(&["run", "nope"])
        .expect(64)
        .one_error("no service named 'nope'");
    // A published line that does not exist: missing input.
    tree.run(&["run"])
        .expect(66)
        .one_error("pub/www: not published yet");
}
