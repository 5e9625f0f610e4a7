//! A killed run leaves temporary files (issue 12, item 1): the next run
//! removes its own, beside the files it installs and in its backup
//! directory, and nothing else, however alike the names look.

use crate::harness::Tree;
use crate::nginx::{service, serving, Serves, HUP};

#[test]
fn the_next_run_removes_its_own_temporary_files_and_nothing_else() {
    let tree = Tree::new();
    let first = tree.issue();
    let target = tree.path("srv/www.pem");
    std::fs::write(&target, &first.pem).expect("bootstrap");
    let nginx = serving(&tree, &target);
    tree.config(&format!(
        "{}install = [{{ from = \"fullchain.pem\", to = \"srv/www.pem\" }}]\n",
        service(&nginx, "srv/www.pem", "reload", HUP, "content-changed")
    ));
    tree.run(&["run"]).expect(0);
    // As kill -9 leaves them: a half-written copy beside the target, one
    // in the backup directory, one beside the state record.
    let ours = [
        "srv/.tmp.www.pem.4242.0",
        "srv/.tmp.www.pem.17.3",
        "state/www.prev/.tmp.0.4242.1",
        "state/.tmp.www.json.4242.2",
    ];
    // Alike but not ours: another program's file, a name that is not
    // what atomic writes, an operator's file, a directory.
    let theirs = [
        "srv/.tmp.other.pem.4242.0",
        "srv/.tmp.www.pem.backup",
        "srv/www.pem.orig",
        "srv/.tmp.www.pem.1.1/keep",
    ];
    for f in ours.iter().chain(&theirs) {
        let p = tree.path(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, "-----BEGIN PRIVATE KEY-----\npartial\n").expect("plant");
    }
    // check changes nothing, leftovers included.
    tree.run(&["check"]).expect(0);
    assert!(tree.path(ours[0]).exists(), "check removed a file");
    // A run with nothing to deploy still cleans up.
    tree.run(&["run"]).expect(2).silent();
    for f in ours {
        assert!(!tree.path(f).exists(), "{f} left behind");
    }
    for f in theirs {
        assert!(tree.path(f).exists(), "{f} removed");
    }
    assert_eq!(
        tree.read_text("srv/www.pem"),
        tree.read_text("pub/www/fullchain.pem")
    );
    assert!(tree.path("state/www.prev/0").exists(), "the backup is kept");
    nginx.assert_serves(&first.der);
}
