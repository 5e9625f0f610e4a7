//! Temporary files a `kill -9` leaves in the middle of a build (state
//! file, candidate zone, the copy into nsd's directory): the next build
//! removes them, and nothing that is not its own.

use crate::site::Tree;

const ZONE: &str = "example.test";

#[test]
fn next_build_removes_its_own_leftovers_and_nothing_else() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    // As a kill during atomic writes leaves them (`.tmp.<name>.<pid>.<n>`).
    let ours = [
        "build/state/.tmp.example.test.json.4242.0",
        "build/tmp/.tmp.example.test.unsigned.4242.1",
        "zones/.tmp.example.test.zone.4242.2",
    ];
    for p in ours {
        tree.write(p, "partial");
    }
    std::fs::create_dir_all(tree.path("build/tmp/.tmp.half")).expect("mkdir");
    tree.write("build/tmp/.tmp.half/x", "partial");
    // Not ours: another zone's file, another writer's, a plain zone file.
    let theirs = [
        "zones/.tmp.other.test.zone.4242.0",
        "zones/.tmp.example.test.zonelist",
        "zones/other.test.zone",
        "zones/.tmp.unrelated",
    ];
    for p in theirs {
        tree.write(p, "someone else's");
    }
    tree.run(&["build"]).expect(0);
    for p in ours.iter().chain(&["build/tmp/.tmp.half"]) {
        assert!(!tree.path(p).exists(), "{p} left behind");
    }
    for p in theirs {
        assert_eq!(
            std::fs::read_to_string(tree.path(p)).expect("still there"),
            "someone else's",
            "{p} touched"
        );
    }
    assert!(tree.path("zones/example.test.zone").is_file());
    // -n changes nothing, leftovers included.
    tree.write("build/state/.tmp.example.test.json.4242.3", "partial");
    tree.run(&["-n"]).expect(0);
    assert!(tree
        .path("build/state/.tmp.example.test.json.4242.3")
        .exists());
}
