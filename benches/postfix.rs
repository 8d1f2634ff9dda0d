//! The Postfix backend: planning, applying and editing at scale, against the
//! unavoidable costs (`postmap`, `postconf -e`) measured in the same run.
//! Benches that need Postfix's tools skip themselves when they are missing.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use postfix_backend::{MapType, PostfixOptions, PostfixWriter, Reload};
use smarthost_core::{ConfigWriter, Policy};

fn main() {
    divan::main();
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A root whose config dir and map dir are real absolute paths, so that
/// postmap and postconf work on them.
fn instance(dir: &Path, main_cf: &str) -> PostfixOptions {
    std::fs::create_dir_all(dir.join("etc/postfix")).unwrap();
    std::fs::write(dir.join("etc/postfix/main.cf"), main_cf).unwrap();
    PostfixOptions {
        root: PathBuf::from("/"),
        config_dir: dir.join("etc/postfix"),
        map_dir: dir.join("maps"),
        map_type: MapType::Hash,
        compile_maps: true,
        check: false,
        reload: Reload::Skip,
        ..PostfixOptions::render_into("/")
    }
}

/// Plan (render every table and main.cf) for a fresh server.
#[divan::bench(args = [1_000, 100_000], sample_count = 10)]
fn plan_fresh(bencher: divan::Bencher<'_, '_>, domains: usize) {
    let policy = smarthost_benches::policy_with_domains(domains);
    let root = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
    bencher.bench(|| writer.plan(&policy).unwrap().changes.len());
}

/// An instance with 100,000 domains applied, its writer and its policy;
/// `None` (said) without postmap.
fn fleet_100k() -> Option<(tempfile::TempDir, PostfixWriter, Policy)> {
    if !has("postmap") {
        eprintln!("skipped: postmap is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(instance(dir.path(), ""));
    let full = smarthost_benches::policy_with_domains(100_000);
    writer.converge(&full).unwrap();
    Some((dir, writer, full))
}

/// End to end: plan and apply a one-domain change on a server with 100,000
/// domains, including `postmap` of the two tables the change touches.
#[divan::bench(sample_count = 10)]
fn apply_one_domain_change_100k(bencher: divan::Bencher<'_, '_>) {
    let Some((_dir, writer, full)) = fleet_100k() else {
        return;
    };
    let mut less = full.clone();
    let first = less.domains.keys().next().unwrap().clone();
    less.domains.remove(&first);
    let toggle = Cell::new(false);
    bencher.bench_local(|| {
        toggle.set(!toggle.get());
        let policy: &Policy = if toggle.get() { &less } else { &full };
        let (plan, applied) = writer.converge(policy).unwrap();
        assert_eq!(applied.ran.len(), 2, "{:?}", plan.changes.len());
    });
}

/// The same change as `smarthost domain disable`/`domain set` make it:
/// read and planned by key (`read_for_domain`, `plan_for_domain`), then
/// applied (the compiled tables updated in place).
#[divan::bench(sample_count = 10)]
fn apply_one_domain_by_key_100k(bencher: divan::Bencher<'_, '_>) {
    let Some((_dir, writer, full)) = fleet_100k() else {
        return;
    };
    let (first, smarthost) = full.domains.iter().next().unwrap();
    let toggle = Cell::new(false);
    bencher.bench_local(|| {
        toggle.set(!toggle.get());
        let _held = writer.hold().unwrap();
        let mut policy = writer.read_for_domain(first).unwrap();
        if toggle.get() {
            policy.domains.remove(first);
        } else {
            policy.domains.insert(first.clone(), smarthost.clone());
        }
        let plan = writer.plan_for_domain(first, &policy).unwrap();
        let applied = writer.apply(&plan).unwrap();
        assert_eq!(applied.ran.len(), 2, "{:?}", plan.changes.len());
    });
}

/// The unavoidable part of the change above: postmap of the same two tables.
#[divan::bench(sample_count = 10)]
fn postmap_two_tables_100k(bencher: divan::Bencher<'_, '_>) {
    if !has("postmap") {
        eprintln!("skipped: postmap is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = instance(dir.path(), "");
    let writer = PostfixWriter::new(options.clone());
    writer
        .converge(&smarthost_benches::policy_with_domains(100_000))
        .unwrap();
    let config = dir.path().join("etc/postfix");
    bencher.bench(|| {
        for map in ["sender_relay", "relay_secrets"] {
            let status = Command::new("postmap")
                .arg("-c")
                .arg(&config)
                .arg(format!("hash:{}", dir.path().join("maps").join(map).display()))
                .status()
                .unwrap();
            assert!(status.success());
        }
    });
}

fn main_cf_of(lines: usize) -> String {
    let mut text = String::from("# a large, hand-edited main.cf\n");
    for i in 0..lines - 1 {
        if i % 10 == 0 {
            text.push_str(&format!("# section {i}\n"));
        } else {
            text.push_str(&format!("custom_parameter_{i} = value {i}, more $myhostname\n"));
        }
    }
    text
}

/// Setting the server-wide parameters in a 5,000-line main.cf (parse, edit,
/// render, compare), as `plan` does.
#[divan::bench(sample_count = 50)]
fn edit_main_cf_5000_lines(bencher: divan::Bencher<'_, '_>) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = instance(dir.path(), &main_cf_of(5000));
    options.compile_maps = false;
    let writer = PostfixWriter::new(options);
    let policy = smarthost_benches::policy_with_domains(0);
    bencher.bench(|| writer.plan(&policy).unwrap().changes.len());
}

/// The same parameters set by `postconf -e` in the same file.
#[divan::bench(sample_count = 50)]
fn postconf_e_5000_lines(bencher: divan::Bencher<'_, '_>) {
    if !has("postconf") {
        eprintln!("skipped: postconf is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = main_cf_of(5000);
    instance(dir.path(), &text);
    let config = dir.path().join("etc/postfix");
    let maps = dir.path().join("maps");
    bencher.bench(|| {
        std::fs::write(config.join("main.cf"), &text).unwrap();
        let status = Command::new("postconf")
            .arg("-c")
            .arg(&config)
            .arg("-e")
            .arg("relayhost = [relay0.example.net]:587")
            .arg(format!("smtp_tls_policy_maps = hash:{}/tls_policy", maps.display()))
            .arg("smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt")
            .status()
            .unwrap();
        assert!(status.success());
    });
}

/// A server relay that refuses unverified senders (Amazon SES), so that
/// plans look for forwarding out of the server.
fn ses_policy() -> Policy {
    let mut policy = Policy::default();
    policy
        .set_server(smarthost_core::Smarthost::new(
            "[email-smtp.us-east-1.amazonaws.com]:587".parse().unwrap(),
        ))
        .unwrap();
    policy
}

/// Plan with the forwarding check: `aliases` = 0 has no alias tables; else
/// that many virtual aliases (half of them forwarding out) and as many
/// /etc/aliases entries, of which the check reads only what it needs to
/// find its 1,000 targets (library-only, rendered into a folder).
#[divan::bench(args = [0, 100_000], sample_count = 10)]
fn plan_forwarding_check(bencher: divan::Bencher<'_, '_>, aliases: usize) {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
    let mut main = String::from("myhostname = mx.example\nmydestination = $myhostname, localhost\n");
    if aliases > 0 {
        let (mut virtual_text, mut local) = (String::from("hosted.example anything\n"), String::new());
        for i in 0..aliases {
            let _ = writeln!(virtual_text, "u{i}@hosted.example t{i}@outside{}.example", i % 2);
            let _ = writeln!(local, "a{i}: local{i}, far{i}@elsewhere.example");
        }
        std::fs::write(root.join("etc/postfix/virtual"), virtual_text).unwrap();
        std::fs::write(root.join("etc/aliases"), local).unwrap();
        main.push_str("virtual_alias_maps = hash:/etc/postfix/virtual\nalias_maps = hash:/etc/aliases\n");
    }
    std::fs::write(root.join("etc/postfix/main.cf"), main).unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(root));
    let policy = ses_policy();
    bencher.bench(|| writer.plan(&policy).unwrap().warnings.len());
}
