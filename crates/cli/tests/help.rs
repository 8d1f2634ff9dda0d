//! Help text (issue 19): the global options are listed once, in
//! `smarthost --help`; a subcommand's help lists its own options and points
//! there, and the global options still work before or after it.

use std::process::{Command, Output};

fn smarthost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const GLOBALS: [&str; 6] = [
    "--backend",
    "--root",
    "--policy",
    "--lock-timeout",
    "--map-dir",
    "--reload-command",
];

#[test]
fn global_options_are_listed_once_under_their_own_heading() {
    let top = stdout(&smarthost(&["--help"]));
    assert!(top.contains("Global options:"), "{top}");
    for option in GLOBALS {
        assert!(top.contains(option), "{option} missing from smarthost --help");
    }
    for sub in [
        &["route", "--help"][..],
        &["server", "set", "--help"],
        &["apply", "--help"],
        &["plan", "-h"],
        &["mailbox", "set", "--help"],
        &["recipient", "set", "--help"],
        &["bounces", "set", "--help"],
    ] {
        let help = stdout(&smarthost(sub));
        for option in GLOBALS {
            assert!(
                !help.contains(&format!("{option} ")),
                "{sub:?} repeats {option}:\n{help}"
            );
        }
        assert!(help.contains("see `smarthost --help`"), "{sub:?}:\n{help}");
    }
    // A subcommand's own options are still there.
    let set = stdout(&smarthost(&["server", "set", "--help"]));
    assert!(set.contains("--password-file") && set.contains("--provider"), "{set}");
    // Every set takes backup relays; domain and recipient set take --direct.
    for sub in [&["domain", "set", "--help"][..], &["recipient", "set", "--help"]] {
        let help = stdout(&smarthost(sub));
        assert!(
            help.contains("--backup-relay") && help.contains("--direct"),
            "{sub:?}:\n{help}"
        );
    }
}

#[test]
fn global_options_work_before_and_after_the_subcommand() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let set = smarthost(&["server", "set", "--root", root, "--relay", "[relay.example]:587"]);
    assert_eq!(set.status.code(), Some(0), "{}", String::from_utf8_lossy(&set.stderr));
    for args in [
        &["--root", root, "list"][..],
        &["list", "--root", root],
        &["--json", "list", "--root", root],
    ] {
        let list = stdout(&smarthost(args));
        assert!(list.contains("[relay.example]:587"), "{args:?}: {list}");
    }
}
