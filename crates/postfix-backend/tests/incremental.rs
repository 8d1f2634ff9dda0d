//! Compiled tables updated in place (`postmap -i -r`, `postmap -d -` on a
//! staged copy) hold exactly what a full rebuild of the same text holds:
//! compared with `postmap -s` dumps, for the secrets table (mode 0600 kept)
//! and the others, with hash and, when `postconf -m` offers it, lmdb. Needs
//! Postfix's postmap: without it each test says why and passes, unless
//! SMARTHOST_REQUIRE_POSTFIX is set, as in CI.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use postfix_backend::{MapType, PostfixOptions, PostfixWriter, Reload};
use smarthost_core::{Applied, ConfigWriter, Credentials, DomainName, Policy, RelayHost, Secret, Smarthost, Username};

/// Whether postmap runs here; fails under SMARTHOST_REQUIRE_POSTFIX.
fn require_postmap() -> bool {
    let found = Command::new("postmap").arg("-h").output().is_ok();
    if !found && std::env::var_os("SMARTHOST_REQUIRE_POSTFIX").is_some() {
        panic!("SMARTHOST_REQUIRE_POSTFIX is set but postmap is not installed");
    }
    if !found {
        eprintln!("skipped: postmap is not installed");
    }
    found
}

/// Map types this Postfix offers, among those that update in place.
fn offered_types() -> Vec<MapType> {
    let out = Command::new("postconf")
        .args(["-d", "-m"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut types = Vec::new();
    for (name, kind) in [("hash", MapType::Hash), ("lmdb", MapType::Lmdb)] {
        if out.lines().any(|l| l.trim() == name) {
            types.push(kind);
        } else {
            eprintln!("{name}: not offered by `postconf -m`, not tested");
        }
    }
    types
}

/// Options for an instance folder whose tables postmap compiles: no check,
/// no reload.
fn options(dir: &Path, kind: MapType) -> PostfixOptions {
    std::fs::create_dir_all(dir.join("etc/postfix")).unwrap();
    std::fs::write(dir.join("etc/postfix/main.cf"), "").unwrap();
    PostfixOptions {
        config_dir: dir.join("etc/postfix"),
        map_dir: dir.join("maps"),
        map_type: kind,
        compile_maps: true,
        check: false,
        reload: Reload::Skip,
        ..PostfixOptions::render_into("/")
    }
}

fn smarthost(relay: usize, account: Option<usize>) -> Smarthost {
    let s = Smarthost::new(RelayHost::parse(&format!("[relay{relay}.example.net]:587")).unwrap());
    match account {
        Some(i) => s.with_credentials(Credentials::new(
            Username::new(&format!("user{i}")).unwrap(),
            Secret::new(format!("test-secret-{i}")).unwrap(),
        )),
        None => s,
    }
}

fn domain(i: usize) -> DomainName {
    format!("customer{i}.example").parse().unwrap()
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
    let out = Command::new("postmap")
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
        .arg(format!("{kind}:{}", copy.display()))
        .status()
        .unwrap();
    assert!(status.success());
    dump(kind, &copy)
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
fn a_few_keys_are_updated_in_place_and_equal_a_full_rebuild() {
    if !require_postmap() {
        return;
    }
    for kind in offered_types() {
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
            assert_eq!(dump(kind, &source), rebuilt(kind, &source), "{kind} {table}");
            let want = if sensitive { 0o600 } else { 0o644 };
            assert_eq!(mode(&compiled(kind, &source)), want, "{kind} {table}");
            assert_eq!(mode(&source), want, "{kind} {table}");
        }
        let secrets = dump(kind, &maps.join("relay_secrets"));
        assert!(secrets
            .iter()
            .any(|l| l == "@customer1000.example user1000:test-secret-1000"));
        assert!(secrets
            .iter()
            .any(|l| l == "@customer10.example user7777:test-secret-7777"));
        assert!(!secrets.iter().any(|l| l.starts_with("@customer20.example ")));
        assert!(!secrets.iter().any(|l| l.starts_with("@customer30.example ")));

        // Applying again changes nothing: the compiled tables are not
        // older than their text.
        assert!(writer.plan(&desired).unwrap().is_empty(), "{kind}");
    }
}

#[test]
fn many_changes_rebuild_in_full() {
    if !require_postmap() {
        return;
    }
    for kind in offered_types() {
        let dir = tempfile::tempdir().unwrap();
        let writer = PostfixWriter::new(options(dir.path(), kind));
        writer.converge(&policy(50)).unwrap();
        // Most domains gone: deletions weigh more than the table's size.
        let (_, applied) = writer.converge(&policy(5)).unwrap();
        assert!(in_place(&applied, "sender_relay").is_empty(), "{:?}", applied.ran);
        let source = dir.path().join("maps/sender_relay");
        assert_eq!(dump(kind, &source).len(), 5);
        assert_eq!(dump(kind, &source), rebuilt(kind, &source));
    }
}

#[test]
fn a_missing_or_older_compiled_table_is_rebuilt_in_full() {
    if !require_postmap() {
        return;
    }
    let kind = MapType::Hash;
    if !offered_types().contains(&kind) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(options(dir.path(), kind));
    let mut desired = policy(40);
    writer.converge(&desired).unwrap();
    let source = dir.path().join("maps/sender_relay");
    std::fs::remove_file(compiled(kind, &source)).unwrap();
    desired.domains.insert(domain(1000), smarthost(1, None));
    let (_, applied) = writer.converge(&desired).unwrap();
    assert!(in_place(&applied, "sender_relay").is_empty(), "{:?}", applied.ran);
    assert_eq!(dump(kind, &source), rebuilt(kind, &source));

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
    assert_eq!(dump(kind, &source), rebuilt(kind, &source));
}
