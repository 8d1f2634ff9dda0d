//! A real private Postfix instance (root, Debian's `postfix` package; the
//! recipe of the shared notes): a stopped instance is configured and then
//! started with the new settings live; the map type changes both ways with
//! mail relayed after each change; a failed apply after a change of map type
//! leaves exactly the old files. Each test is ignored by a plain `cargo
//! test`, and run by `cargo test -- --include-ignored` (as .ci/run does, as
//! root), where a missing prerequisite fails it.
#![cfg(unix)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postfix_backend::{Error, MapType, PostfixOptions, PostfixWriter, Reload};
use smarthost_core::{ConfigWriter, Credentials, Encryption, Policy, RelayHost, Secret, Smarthost, Username};
use test_support::certs::TestCa;
use test_support::postfix::{Instance, WAIT};
use test_support::process::run;
use test_support::smtp::{Delivery, Options, Server};

fn relay(ca: &TestCa, user: &str) -> Server {
    Server::start(Options {
        name: "relay".into(),
        cert: Some(Arc::new(ca.leaf(&["localhost"]))),
        accounts: vec![(user.to_owned(), format!("pw-{user}"))],
        ..Options::default()
    })
}

fn server_policy(relay: &Server, user: &str) -> Policy {
    let mut policy = Policy::default();
    policy
        .set_server(
            Smarthost::new(RelayHost::parse(&format!("[localhost]:{}", relay.port())).unwrap())
                .with_encryption(Encryption::Starttls)
                .with_credentials(Credentials::new(
                    Username::new(user).unwrap(),
                    Secret::new(format!("pw-{user}")).unwrap(),
                )),
        )
        .unwrap();
    policy
}

/// Options for the instance as the CLI builds them (`--config-dir`,
/// `--map-dir`): one probe of this instance.
fn live(pf: &Instance) -> PostfixOptions {
    PostfixOptions {
        map_dir: pf.map_dir(),
        ..PostfixOptions::live_instance(pf.config_dir())
    }
}

/// Waits until the relay has `n` messages; the last one.
fn nth_delivery(relay: &Server, n: usize) -> Delivery {
    let all = relay.wait_for(n, WAIT);
    assert!(all.len() >= n, "{n} message(s) expected: {all:?}");
    all[n - 1].clone()
}

/// Every file of the configuration and map folders (backups and dot files
/// aside): name, mode and bytes.
fn files(pf: &Instance) -> Vec<(String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for dir in [pf.config_dir(), pf.map_dir()] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".smarthost-backup") || name.starts_with('.') {
                continue;
            }
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            out.push((p.display().to_string(), mode, std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

fn compiled(pf: &Instance, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(pf.map_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn a_stopped_instance_is_configured_then_started_with_the_new_settings_live() {
    let ca = TestCa::new();
    let relay = relay(&ca, "server-user");
    let pf = Instance::create(Some(&ca.pem()));
    assert!(
        !pf.is_running(),
        "`postfix -c DIR status` fails while the instance is stopped"
    );

    let started = Instant::now();
    let options = live(&pf);
    let probe = started.elapsed();
    assert!(probe < Duration::from_millis(900), "the probe took {probe:?}");
    assert_eq!(options.map_type, MapType::Hash, "postconf -c DIR -m lists hash");
    assert!(options.check && options.reload == Reload::Postfix);
    let writer = PostfixWriter::new(options);

    let started = Instant::now();
    let (plan, applied) = writer.converge(&server_policy(&relay, "server-user")).unwrap();
    eprintln!("apply to a stopped instance: {:?}", started.elapsed());
    assert!(applied.changed);
    assert!(
        plan.notes.iter().any(|n| n.contains("Postfix is not running")),
        "{}",
        plan.render()
    );
    assert!(
        applied.ran.iter().any(|r| r.starts_with("postmap ")),
        "{:?}",
        applied.ran
    );
    assert!(applied.ran.iter().any(|r| r.ends_with(" check")), "{:?}", applied.ran);
    assert!(
        applied
            .ran
            .iter()
            .any(|r| r.contains(" reload: skipped, Postfix is not running")),
        "{:?}",
        applied.ran
    );
    assert!(!pf.is_running(), "configuring does not start it");
    assert!(pf.map_dir().join("relay_secrets.db").exists());
    let n = pf.postconf_n();
    assert!(n.contains(&format!("relayhost = [localhost]:{}", relay.port())), "{n}");
    assert!(
        n.contains(&format!(
            "smtp_sasl_password_maps = hash:{}/relay_secrets",
            pf.map_dir().display()
        )),
        "{n}"
    );

    pf.postfix("start");
    pf.send("bob@other.example", "rcpt@remote.example");
    let d = nth_delivery(&relay, 1);
    assert_eq!(d.mail_from, "bob@other.example");
    assert!(d.tls && d.username.as_deref() == Some("server-user"), "{d:?}");

    // Running now: the next change is reloaded.
    let mut policy = server_policy(&relay, "server-user");
    policy
        .domains
        .insert("shop.example".parse().unwrap(), policy.server.clone().unwrap());
    let (plan, applied) = writer.converge(&policy).unwrap();
    assert!(
        !plan.notes.iter().any(|n| n.contains("not running")),
        "{}",
        plan.render()
    );
    let reload = format!("postfix -c {} reload", pf.config_dir().display());
    assert!(applied.ran.contains(&reload), "{:?}", applied.ran);
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn the_map_type_changes_both_ways_and_mail_follows() {
    let ca = TestCa::new();
    let relay = relay(&ca, "server-user");
    let pf = Instance::start(Some(&ca.pem()));
    let policy = server_policy(&relay, "server-user");
    let writer = |map_type: MapType| PostfixWriter::new(PostfixOptions { map_type, ..live(&pf) });
    let supported = run(Command::new("postconf").args(pf.config_args()).arg("-m"));
    let mut types = vec![MapType::Hash, MapType::Texthash, MapType::Hash];
    if supported.lines().any(|l| l == "lmdb") {
        types.extend([MapType::Lmdb, MapType::Texthash, MapType::Lmdb, MapType::Hash]);
    } else {
        eprintln!("lmdb: not listed by postconf -m here; hash and texthash only");
    }

    for (i, map_type) in types.into_iter().enumerate() {
        let (plan, applied) = writer(map_type).converge(&policy).unwrap();
        assert!(applied.changed, "{map_type}: {}", plan.render());
        let n = pf.postconf_n();
        let secrets = pf.map_dir().join("relay_secrets");
        assert!(
            n.contains(&format!("smtp_sasl_password_maps = {map_type}:{}", secrets.display())),
            "{map_type}: {n}"
        );
        // Only the compiled tables of the type main.cf names are left, and
        // no backup of a removed one.
        let (db, lmdb) = (compiled(&pf, ".db"), compiled(&pf, ".lmdb"));
        let (own, other) = match map_type {
            MapType::Hash => (db, lmdb),
            MapType::Lmdb => (lmdb, db),
            MapType::Texthash => (Vec::new(), [db, lmdb].concat()),
        };
        assert!(other.is_empty(), "{map_type}: {other:?} left behind");
        if map_type != MapType::Texthash {
            let suffix = map_type.compiled_suffix().unwrap();
            for table in ["relay_secrets", "tls_policy"] {
                assert!(own.contains(&format!("{table}{suffix}")), "{map_type}: {own:?}");
            }
        }
        assert!(
            compiled(&pf, ".smarthost-backup")
                .iter()
                .all(|b| !b.contains(".db.") && !b.contains(".lmdb.")),
            "{:?}",
            compiled(&pf, ".smarthost-backup")
        );
        if map_type != MapType::Texthash {
            let key = format!("[localhost]:{}", relay.port());
            let found = run(Command::new("postmap")
                .args(pf.config_args())
                .args(["-q", &key])
                .arg(format!("{map_type}:{}", secrets.display())));
            assert_eq!(found.trim(), "server-user:pw-server-user");
        }
        let ran = applied.ran.join("\n");
        assert!(ran.contains(" reload") && !ran.contains("skipped"), "{ran}");

        let from = format!("m{i}@other.example");
        pf.send(&from, "rcpt@remote.example");
        let d = nth_delivery(&relay, i + 1);
        assert_eq!(d.mail_from, from);
        assert!(
            d.tls && d.username.as_deref() == Some("server-user"),
            "{map_type}: {d:?}"
        );
    }
}

#[test]
#[ignore = "needs root and Postfix 3.x (run with --include-ignored as root; .ci/run does)"]
fn a_failed_apply_after_a_change_of_map_type_leaves_exactly_the_old_files() {
    let ca = TestCa::new();
    let relay = relay(&ca, "server-user");
    let pf = Instance::create(Some(&ca.pem()));
    let mut policy = server_policy(&relay, "server-user");
    policy
        .domains
        .insert("shop.example".parse().unwrap(), policy.server.clone().unwrap());
    let writer = |map_type: MapType, reload: &str| {
        PostfixWriter::new(PostfixOptions {
            map_type,
            reload: Reload::Command(vec![reload.into()]),
            ..live(&pf)
        })
    };

    for (old, new) in [(MapType::Hash, MapType::Texthash), (MapType::Texthash, MapType::Hash)] {
        writer(old, "true").converge(&policy).unwrap();
        let before = files(&pf);
        let compiled_before = compiled(&pf, ".db");

        let failing = writer(new, "false");
        let plan = failing.plan(&policy).unwrap();
        if old == MapType::Hash {
            assert!(
                compiled_before.contains(&"relay_secrets.db".to_owned()),
                "{compiled_before:?}"
            );
            assert!(
                plan.notes.iter().any(|n| n.contains("relay_secrets.db is removed")),
                "{}",
                plan.render()
            );
        }
        let err = failing.apply(&plan).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::RolledBack { .. }), "{old} -> {new}: {text}");
        assert!(text.contains("`false` failed"), "{text}");
        assert!(text.contains("the previous configuration was restored"), "{text}");
        assert!(!text.contains("ALSO failed"), "{text}");
        assert_eq!(
            files(&pf),
            before,
            "{old} -> {new}: the old files, byte for byte and mode"
        );
        assert_eq!(compiled(&pf, ".db"), compiled_before);
        assert!(
            !Path::new(&format!("{}/.smarthost-journal", pf.config_dir().display())).exists(),
            "the rollback finished"
        );
        // What is in place is still what the old type planned.
        assert!(writer(old, "true").plan(&policy).unwrap().is_empty());
    }
}
