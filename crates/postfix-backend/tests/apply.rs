//! apply: rollback on failure, stale plans, the lock, file modes.

#[path = "support/matrix.rs"]
mod matrix;

use std::path::Path;

use postfix_backend::{Error, PostfixOptions, PostfixWriter, Reload};
use smarthost_core::{Classify, ConfigWriter, Policy};

fn seeded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/postfix")).unwrap();
    std::fs::write(dir.path().join("etc/postfix/main.cf"), matrix::BASE_MAIN_CF).unwrap();
    dir
}

fn policy(case: &str) -> Policy {
    matrix::cases().into_iter().find(|(n, _)| *n == case).unwrap().1
}

fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["etc/postfix", "var/spool/postfix/plesk"] {
        if let Ok(entries) = std::fs::read_dir(root.join(sub)) {
            for e in entries {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if !name.ends_with(".smarthost-backup") && !name.starts_with('.') {
                    out.push((format!("{sub}/{name}"), std::fs::read(&p).unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_failed_reload_restores_every_file() {
    let dir = seeded();
    let ok = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    ok.converge(&policy("server_only_starttls_auth")).unwrap();
    let before = snapshot(dir.path());

    let mut options = PostfixOptions::render_into(dir.path());
    options.reload = Reload::Command(vec!["sh".into(), "-c".into(), "echo reload broke >&2; exit 3".into()]);
    let failing = PostfixWriter::new(options);
    let plan = failing.plan(&policy("server_465_domain_587")).unwrap();
    let err = failing.apply(&plan).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::RolledBack { .. }), "{text}");
    assert!(
        text.contains("reload broke") && text.contains("exited with status 3"),
        "{text}"
    );
    assert!(text.contains("previous configuration was restored"), "{text}");
    assert!(!text.contains(matrix::PASSWORD));
    assert_eq!(snapshot(dir.path()), before, "every file is as it was");
    assert!(ok.plan(&policy("server_only_starttls_auth")).unwrap().is_empty());
}

#[test]
fn a_plan_made_before_a_change_is_refused() {
    let dir = seeded();
    let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    let plan = writer.plan(&policy("server_only_starttls_auth")).unwrap();
    let main = dir.path().join("etc/postfix/main.cf");
    std::fs::write(&main, format!("{}# edited by hand meanwhile\n", matrix::BASE_MAIN_CF)).unwrap();
    let err = writer.apply(&plan).unwrap_err();
    assert!(matches!(err, Error::Stale { .. }), "{err}");
    assert!(std::fs::read_to_string(&main)
        .unwrap()
        .ends_with("# edited by hand meanwhile\n"));
    assert!(
        !dir.path().join("var/spool/postfix/plesk/relay_secrets").exists(),
        "nothing written"
    );
}

#[test]
fn a_concurrent_run_is_locked_out() {
    let dir = seeded();
    let writer = PostfixWriter::new(PostfixOptions {
        lock_wait: std::time::Duration::from_millis(100),
        ..PostfixOptions::render_into(dir.path())
    });
    let plan = writer.plan(&policy("server_only_starttls_auth")).unwrap();
    let lock = std::fs::File::create(dir.path().join("etc/postfix/.smarthost.lock")).unwrap();
    lock.lock().unwrap();
    let err = writer.apply(&plan).unwrap_err();
    assert!(err.is_locked(), "{err}");
    drop(lock);
    writer.apply(&plan).unwrap();
}

#[cfg(unix)]
#[test]
fn secrets_are_0600_and_backups_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = seeded();
    let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    writer.converge(&policy("server_only_starttls_auth")).unwrap();
    let (_, applied) = writer.converge(&policy("server_and_domain_starttls")).unwrap();
    let secrets = dir.path().join("var/spool/postfix/plesk/relay_secrets");
    assert_eq!(std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777, 0o600);
    let backup = dir
        .path()
        .join("var/spool/postfix/plesk/relay_secrets.smarthost-backup");
    assert!(applied.backups.contains(&backup), "{:?}", applied.backups);
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    let main_backup = std::fs::read_to_string(dir.path().join("etc/postfix/main.cf.smarthost-backup")).unwrap();
    assert!(main_backup.contains("relayhost = [smtp.sendgrid.net]:587"));
}

#[test]
fn a_manual_configuration_is_taken_over() {
    let dir = seeded();
    let manual = format!(
        "{}relayhost = [old-relay.example]:25\nsmtp_sasl_auth_enable = yes\nrelayhost = [smtp.sendgrid.net]:587\n",
        matrix::BASE_MAIN_CF.replace("relayhost =\n", "")
    );
    std::fs::write(dir.path().join("etc/postfix/main.cf"), &manual).unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    let plan = writer.plan(&policy("server_only_starttls_auth")).unwrap();
    let text = plan.render();
    assert!(text.contains("warning: main.cf: relayhost appears 2 times"), "{text}");
    assert!(
        text.contains("note: main.cf: keeps 21 other parameter(s) byte for byte\n"),
        "{text}"
    );
    writer.apply(&plan).unwrap();
    let main = std::fs::read_to_string(dir.path().join("etc/postfix/main.cf")).unwrap();
    assert_eq!(main.matches("relayhost =").count(), 1, "{main}");
    assert!(!main.contains("old-relay"), "{main}");
    assert!(main.starts_with(&matrix::BASE_MAIN_CF.replace("relayhost =\n", "")[..200]));
}

#[test]
fn relays_that_need_auth_are_refused_without_a_sasl_mechanism_unless_forced() {
    let dir = seeded();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/os-release"),
        "ID=almalinux\nID_LIKE=\"rhel centos fedora\"\n",
    )
    .unwrap();
    let checked = PostfixWriter::new(PostfixOptions {
        prerequisites: true,
        ..PostfixOptions::render_into(dir.path())
    });
    let before = snapshot(dir.path());
    let plan = checked.plan(&policy("server_only_starttls_auth")).unwrap();
    assert!(
        plan.warnings.iter().any(|w| w.contains("no mechanism available")),
        "{:?}",
        plan.warnings
    );
    let err = checked.apply(&plan).unwrap_err();
    assert!(matches!(err, Error::Prerequisite { .. }), "{err}");
    assert!(err.to_string().contains("dnf install cyrus-sasl-plain"), "{err}");
    assert_eq!(snapshot(dir.path()), before, "a refused apply wrote something");

    // A relay without AUTH needs no mechanism.
    let plan = checked.plan(&policy("server_encryption_not_required_no_auth")).unwrap();
    assert!(
        plan.warnings.iter().all(|w| !w.contains("no mechanism")),
        "{:?}",
        plan.warnings
    );

    // Forced (prerequisites off), or with the plugin installed, it applies.
    let forced = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    forced.converge(&policy("server_only_starttls_auth")).unwrap();
    let sasl = dir.path().join("usr/lib64/sasl2");
    std::fs::create_dir_all(&sasl).unwrap();
    std::fs::write(sasl.join("liblogin.so.3"), "").unwrap();
    let (plan, applied) = checked.converge(&policy("server_and_domain_starttls")).unwrap();
    assert!(applied.changed && plan.warnings.iter().all(|w| !w.contains("no mechanism")));
}

#[test]
fn the_map_type_main_cf_already_uses_for_our_tables_is_kept() {
    let dir = seeded();
    let main = dir.path().join("etc/postfix/main.cf");
    let mut text = std::fs::read_to_string(&main).unwrap();
    text.push_str("smtp_tls_policy_maps = texthash:/var/spool/postfix/plesk/tls_policy, hash:/etc/postfix/partner\n");
    std::fs::write(&main, text).unwrap();
    let mut options = PostfixOptions::render_into(dir.path());
    assert_eq!(options.map_type, postfix_backend::MapType::Hash);
    options.keep_current_map_type();
    assert_eq!(options.map_type, postfix_backend::MapType::Texthash);
    // An administrator's table of another type says nothing about ours.
    std::fs::write(&main, "smtp_tls_policy_maps = texthash:/etc/postfix/partner\n").unwrap();
    let mut options = PostfixOptions::render_into(dir.path());
    options.keep_current_map_type();
    assert_eq!(options.map_type, postfix_backend::MapType::Hash);
}
