//! Compiled tables updated in place (`postmap -i -r`, `postmap -d -` on a
//! staged copy) hold exactly what a full rebuild of the same text holds:
//! compared with `postmap -s` dumps, for the secrets table (mode 0600 kept)
//! and the others, with hash and, when `postconf -m` offers it, lmdb. Needs
//! Postfix's postmap, so the tests are ignored by default; run with
//! `--include-ignored` (as .ci/run does), they fail when it is missing.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use postfix_backend::{MapType, PostfixOptions, PostfixWriter, Reload};
use smarthost_core::{Applied, ConfigWriter, DomainName, Policy};
use test_support::builders::{customer as domain, numbered_relay as smarthost};

/// Fails the test unless Postfix's postmap and postconf are installed.
fn require_postmap() {
    test_support::require::tool("postmap", "Debian's postfix");
    test_support::require::tool("postconf", "Debian's postfix");
}

/// Map types this Postfix offers (`postconf -c CONFIG -m`), among those
/// that update in place; hash must be among them.
fn offered_types(config: &Path) -> Vec<MapType> {
    let out = Command::new("postconf")
        .arg("-c")
        .arg(config)
        .arg("-m")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8_lossy(&out.stdout);
    let mut types = Vec::new();
    for (name, kind) in [("hash", MapType::Hash), ("lmdb", MapType::Lmdb)] {
        if out.lines().any(|l| l.trim() == name) {
            types.push(kind);
        } else {
            eprintln!("{name}: not offered by `postconf -m`, not tested");
        }
    }
    assert!(types.contains(&MapType::Hash), "postconf -m offers no hash: {out}");
    types
}

/// A folder with an empty main.cf, for `-c` (a Postfix command without
/// a main.cf fails, after sleeping a second).
fn config_dir(dir: &Path) -> PathBuf {
    let config = dir.join("etc/postfix");
    let main_cf = config.join("main.cf");
    if !main_cf.exists() {
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(&main_cf, "").unwrap();
        // Dated back: Postfix waits for a main.cf changed within the last
        // second to "cool down" (a second per command).
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&main_cf)
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
    config
}

/// Options for an instance folder whose tables postmap compiles: no check,
/// no reload.
fn options(dir: &Path, kind: MapType) -> PostfixOptions {
    PostfixOptions {
        config_dir: config_dir(dir),
        map_dir: dir.join("maps"),
        map_type: kind,
        compile_maps: true,
        check: false,
        reload: Reload::Skip,
        ..PostfixOptions::render_into("/")
    }
}

/// `n` domains over 5 relays, every other one with an account.
fn policy(n: usize) -> Policy {
    let mut policy = Policy {
        server: Some(smarthost(0, None)),
        ..Policy::default()
    };
    for i in 0..n {
        policy
            .domains
            .insert(domain(i), smarthost(i % 5, (i % 2 == 0).then_some(i)));
    }
    policy
}

/// `postmap -s` of a compiled table, sorted.
fn dump(kind: MapType, source: &Path) -> Vec<String> {
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new("postmap")
        .arg("-c")
        .arg(config_dir(elsewhere.path()))
        .arg("-s")
        .arg(format!("{kind}:{}", source.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The dump of a full rebuild of the text table `source`, made elsewhere.
fn rebuilt(kind: MapType, source: &Path) -> Vec<String> {
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("table");
    std::fs::copy(source, &copy).unwrap();
    let status = Command::new("postmap")
        .arg("-c")
        .arg(config_dir(elsewhere.path()))
        .arg(format!("{kind}:{}", copy.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let lines = dump(kind, &copy);
    assert!(!lines.is_empty(), "{kind}: the rebuilt table is empty");
    lines
}

/// Asserts that the compiled table of `source` holds what a full rebuild
/// of its text holds; a failure lists only the lines that differ.
fn assert_same_as_rebuilt(kind: MapType, source: &Path) {
    let (have, want) = (dump(kind, source), rebuilt(kind, source));
    let missing: Vec<&String> = want.iter().filter(|l| !have.contains(l)).collect();
    let extra: Vec<&String> = have.iter().filter(|l| !want.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{kind} {}: the compiled table lacks {missing:?} and has {extra:?} beyond a full rebuild",
        source.display()
    );
}

fn compiled(kind: MapType, source: &Path) -> PathBuf {
    kind.compiled_path(source).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn in_place(applied: &Applied, table: &str) -> Vec<String> {
    applied
        .ran
        .iter()
        .filter(|r| r.contains(&format!("/{table} ")) && (r.contains(" -i -r ") || r.contains(" -d - ")))
        .cloned()
        .collect()
}

#[test]
#[ignore = "needs Postfix's postmap (Debian's postfix; run with --include-ignored; .ci/run does)"]
fn a_few_keys_are_updated_in_place_and_equal_a_full_rebuild() {
    require_postmap();
    let probe = tempfile::tempdir().unwrap();
    for kind in offered_types(&config_dir(probe.path())) {
        let dir = tempfile::tempdir().unwrap();
        let writer = PostfixWriter::new(options(dir.path(), kind));
        let maps = dir.path().join("maps");
        let mut desired = policy(400);
        writer.converge(&desired).unwrap();

        // One domain added (with an account), one whose relay and account
        // change, one removed (it had an account), one that loses its
        // account.
        desired.domains.insert(domain(1000), smarthost(3, Some(1000)));
        desired.domains.insert(domain(10), smarthost(4, Some(7777)));
        desired.domains.remove(&domain(20));
        desired.domains.insert(domain(30), smarthost(0, None));
        let plan = writer.plan(&desired).unwrap();
        let shown = plan.render();
        assert!(shown.contains(" -i -r ") && shown.contains(" -d - "), "{kind}: {shown}");
        assert!(!shown.contains("test-secret"), "{kind}: the plan shows no password");
        let (_, applied) = writer.converge(&desired).unwrap();

        for (table, sensitive) in [("sender_relay", false), ("relay_secrets", true)] {
            let source = maps.join(table);
            let ran = in_place(&applied, table);
            assert!(
                !ran.is_empty(),
                "{kind} {table}: not updated in place: {:?}",
                applied.ran
            );
            assert!(
                !applied.ran.iter().any(|r| r.contains("failed")),
                "{kind}: {:?}",
                applied.ran
            );
            assert_same_as_rebuilt(kind, &source);
            let want = if sensitive { 0o600 } else { 0o644 };
            assert_eq!(mode(&compiled(kind, &source)), want, "{kind} {table}");
            assert_eq!(mode(&source), want, "{kind} {table}");
        }
        let secrets = dump(kind, &maps.join("relay_secrets"));
        assert!(secrets
            .iter()
            .any(|l| l == "@customer1000.example\tuser1000:test-secret-1000"));
        assert!(secrets
            .iter()
            .any(|l| l == "@customer10.example\tuser7777:test-secret-7777"));
        assert!(!secrets.iter().any(|l| l.starts_with("@customer20.example\t")));
        assert!(!secrets.iter().any(|l| l.starts_with("@customer30.example\t")));

        // Applying again changes nothing: the compiled tables are not
        // older than their text.
        assert!(writer.plan(&desired).unwrap().is_empty(), "{kind}");
    }
}

#[test]
#[ignore = "needs Postfix's postmap (Debian's postfix; run with --include-ignored; .ci/run does)"]
fn many_changes_rebuild_in_full() {
    require_postmap();
    let probe = tempfile::tempdir().unwrap();
    for kind in offered_types(&config_dir(probe.path())) {
        let dir = tempfile::tempdir().unwrap();
        let writer = PostfixWriter::new(options(dir.path(), kind));
        writer.converge(&policy(50)).unwrap();
        // Most domains gone: deletions weigh more than the table's size.
        let (_, applied) = writer.converge(&policy(5)).unwrap();
        assert!(in_place(&applied, "sender_relay").is_empty(), "{:?}", applied.ran);
        let source = dir.path().join("maps/sender_relay");
        assert_eq!(dump(kind, &source).len(), 5);
        assert_same_as_rebuilt(kind, &source);
    }
}

#[test]
#[ignore = "needs Postfix's postmap (Debian's postfix; run with --include-ignored; .ci/run does)"]
fn a_missing_or_older_compiled_table_is_rebuilt_in_full() {
    require_postmap();
    let kind = MapType::Hash;
    let dir = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(options(dir.path(), kind));
    let mut desired = policy(40);
    writer.converge(&desired).unwrap();
    let source = dir.path().join("maps/sender_relay");
    std::fs::remove_file(compiled(kind, &source)).unwrap();
    desired.domains.insert(domain(1000), smarthost(1, None));
    let (_, applied) = writer.converge(&desired).unwrap();
    assert!(in_place(&applied, "sender_relay").is_empty(), "{:?}", applied.ran);
    assert_same_as_rebuilt(kind, &source);

    // The text edited by hand after the compiled table was made: what the
    // compiled table holds is unknown, so it is built again.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(compiled(kind, &source))
        .unwrap()
        .set_modified(old)
        .unwrap();
    desired.domains.insert(domain(1001), smarthost(1, None));
    let (_, applied) = writer.converge(&desired).unwrap();
    assert!(in_place(&applied, "sender_relay").is_empty(), "{:?}", applied.ran);
    assert_same_as_rebuilt(kind, &source);
}

/// A compiled table postmap cannot open: the update in place fails (after
/// Postfix's fatal-error second) and the table is built in full instead of
/// failing the apply.
#[test]
#[ignore = "needs Postfix's postmap (Debian's postfix; run with --include-ignored; .ci/run does)"]
fn a_compiled_table_postmap_cannot_update_is_rebuilt_in_full() {
    require_postmap();
    let kind = MapType::Hash;
    let dir = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(options(dir.path(), kind));
    let mut desired = policy(40);
    writer.converge(&desired).unwrap();
    let source = dir.path().join("maps/sender_relay");
    // Newer than its text, so it is updated in place, but not a database.
    std::fs::write(compiled(kind, &source), "not a Berkeley DB file").unwrap();
    desired.domains.insert(domain(1000), smarthost(1, None));
    let (_, applied) = writer.converge(&desired).unwrap();
    assert!(
        applied.ran.iter().any(|r| r.contains("the update in place failed")),
        "{:?}",
        applied.ran
    );
    assert_same_as_rebuilt(kind, &source);
    assert!(writer.plan(&desired).unwrap().is_empty());
}

/// A change of one domain planned by key (`plan_for_domain`, what
/// `smarthost domain set`/`disable` use) updates the compiled tables in
/// place too, and they hold what a full rebuild of the new texts holds.
#[test]
#[ignore = "needs Postfix's postmap (Debian's postfix; run with --include-ignored; .ci/run does)"]
fn a_domain_changed_by_key_equals_a_full_rebuild() {
    require_postmap();
    let kind = MapType::Hash;
    let dir = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(options(dir.path(), kind));
    let maps = dir.path().join("maps");
    writer.converge(&policy(400)).unwrap();
    type Edit = fn(&mut Policy);
    let edits: [(&str, DomainName, Edit); 4] = [
        ("added with an account", domain(1000), |p| {
            p.set_domain(domain(1000), smarthost(3, Some(1000))).unwrap()
        }),
        ("another account", domain(10), |p| {
            p.set_domain(domain(10), smarthost(0, Some(7777))).unwrap()
        }),
        ("disabled", domain(20), |p| {
            p.domains.remove(&domain(20));
        }),
        ("its account dropped", domain(30), |p| {
            p.set_domain(domain(30), smarthost(0, None)).unwrap()
        }),
    ];
    for (what, name, edit) in edits {
        let _held = writer.hold().unwrap();
        let mut part = writer.read_for_domain(&name).unwrap();
        assert!(part.domains.len() < 20, "{what}: only a few domains are read");
        edit(&mut part);
        let plan = writer.plan_for_domain(&name, &part).unwrap();
        let shown = plan.render();
        assert!(shown.contains(" -i -r ") || shown.contains(" -d - "), "{what}: {shown}");
        assert!(!shown.contains("test-secret"), "{what}: the plan shows no password");
        let applied = writer.apply(&plan).unwrap();
        let updated = in_place(&applied, "sender_relay").len() + in_place(&applied, "relay_secrets").len();
        assert!(updated > 0, "{what}: not updated in place: {:?}", applied.ran);
        assert!(
            !applied.ran.iter().any(|r| r.contains("failed")),
            "{what}: {:?}",
            applied.ran
        );
        for (table, sensitive) in [("sender_relay", false), ("relay_secrets", true)] {
            let source = maps.join(table);
            assert_same_as_rebuilt(kind, &source);
            let want = if sensitive { 0o600 } else { 0o644 };
            assert_eq!(mode(&compiled(kind, &source)), want, "{what} {table}");
            assert_eq!(mode(&source), want, "{what} {table}");
        }
    }
    let mut want = policy(400);
    want.domains.insert(domain(1000), smarthost(3, Some(1000)));
    want.domains.insert(domain(10), smarthost(0, Some(7777)));
    want.domains.remove(&domain(20));
    want.domains.insert(domain(30), smarthost(0, None));
    assert!(
        writer.plan(&want).unwrap().is_empty(),
        "the tables are the whole change"
    );
}
