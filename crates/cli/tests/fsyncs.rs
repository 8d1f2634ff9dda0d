//! How many fsyncs one `server set` costs (docs/performance.md, issue 21):
//! each staged file once, the folders that hold backups before the journal,
//! the journal and its folder, every changed folder after the renames, and
//! the journal's folder once more when it is removed. Counted with strace;
//! crash.rs proves that these are enough to leave the old or the new
//! configuration after a kill at any of them.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Command;

use test_support::process::text;

const BIN: &str = env!("CARGO_BIN_EXE_smarthost");

/// The targets of every fsync of one `server set` rendered into `root`,
/// with the staging folders' random names and the root taken out.
fn fsyncs(root: &Path, relay: &str) -> Vec<String> {
    let log = root.with_extension("strace");
    let out = Command::new("strace")
        .args(["-f", "-y", "-e", "trace=fsync", "-o"])
        .arg(&log)
        .arg(BIN)
        .arg("--root")
        .arg(root)
        .args(["server", "set", "--relay", relay, "--encryption", "starttls"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let root = root.display().to_string();
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once("fsync(").map(|(_, rest)| rest))
        .map(|rest| {
            let target = rest.split_once('<').map_or("", |(_, t)| t);
            let target = target.split_once('>').map_or(target, |(t, _)| t).replace(&root, "");
            match target.split_once("/.smarthost-tmp.") {
                Some((dir, staged)) => format!("{dir}/<stage>/{}", staged.split_once('/').map_or("", |(_, f)| f)),
                None => target,
            }
        })
        .collect()
}

#[test]
#[ignore = "needs strace (run with --include-ignored; .ci/run installs it)"]
fn a_server_set_costs_eight_fsyncs() {
    test_support::require::strace();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
    std::fs::write(root.join("etc/postfix/main.cf"), "myhostname = mail.example.com\n").unwrap();

    // First set: main.cf exists (a backup in /etc/postfix, the journal's
    // folder), the table and the state file are new (no backup, so their
    // folder needs no fsync before the journal).
    let first = fsyncs(&root, "[smtp.example.com]:587");
    let maps = "/var/spool/postfix/plesk";
    assert_eq!(
        first,
        [
            format!("{maps}/<stage>/tls_policy"),
            "/etc/postfix/<stage>/main.cf".to_owned(),
            format!("{maps}/<stage>/smarthost.state"),
            "/etc/postfix/<stage>/.smarthost-journal".to_owned(),
            "/etc/postfix".to_owned(),
            "/etc/postfix".to_owned(),
            maps.to_owned(),
            "/etc/postfix".to_owned(),
        ],
        "{first:#?}"
    );

    // Another relay: main.cf and tls_policy change, both backed up, so the
    // tables' folder is synced before the journal as well.
    let second = fsyncs(&root, "[smtp2.example.com]:587");
    assert_eq!(second.len(), 8, "{second:#?}");
    assert_eq!(second.iter().filter(|t| *t == maps).count(), 2, "{second:#?}");
}
