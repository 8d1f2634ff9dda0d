//! insta snapshots of every generated file for the policy matrix: main.cf,
//! master.cf and the lookup tables, starting from a Debian-like main.cf.

#[path = "support/matrix.rs"]
mod matrix;

use std::path::Path;

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, REDACTED};

const MASTER_CF: &str = "smtp      inet  n       -       y       -       -       smtpd\nsmtp      unix  -       -       y       -       -       smtp\n";

/// Every table the backend may write.
const MAPS: [&str; 6] = [
    "sender_relay",
    "relay_secrets",
    "tls_policy",
    "sender_transport",
    "recipient_routes",
    "nexthop_secrets",
];

fn seed(root: &Path) {
    std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
    std::fs::write(root.join("etc/postfix/main.cf"), matrix::BASE_MAIN_CF).unwrap();
    std::fs::write(root.join("etc/postfix/master.cf"), MASTER_CF).unwrap();
}

/// Every file the backend owns or edits, secrets redacted.
fn rendered(root: &Path) -> String {
    let mut out = String::new();
    let main = std::fs::read_to_string(root.join("etc/postfix/main.cf")).unwrap();
    let diff = similar::TextDiff::from_lines(matrix::BASE_MAIN_CF, &main)
        .unified_diff()
        .context_radius(1)
        .to_string();
    out.push_str(&format!("== main.cf (diff from the base) ==\n{diff}"));
    let master = std::fs::read_to_string(root.join("etc/postfix/master.cf")).unwrap();
    out.push_str(&format!(
        "== master.cf ==\n{}",
        master.strip_prefix(MASTER_CF).unwrap_or(&master)
    ));
    for map in MAPS {
        if let Ok(text) = std::fs::read_to_string(root.join("var/spool/postfix/plesk").join(map)) {
            out.push_str(&format!("== {map} ==\n{}", text.replace(matrix::PASSWORD, REDACTED)));
        }
    }
    out
}

#[test]
fn every_policy_of_the_matrix() {
    for (name, policy) in matrix::cases().into_iter().chain(matrix::routing_cases()) {
        let dir = tempfile::tempdir().unwrap();
        seed(dir.path());
        let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
        let (plan, _) = writer.converge(&policy).unwrap();
        assert!(!plan.render().contains(matrix::PASSWORD), "{name}: secret in plan");
        insta::assert_snapshot!(name, rendered(dir.path()));

        // Idempotent, and what was written reads back as the same policy.
        assert!(
            writer.plan(&policy).unwrap().is_empty(),
            "{name}: second plan not empty"
        );
        let read = writer.read().unwrap();
        matrix::assert_rules_read_back(&read, &policy, name);
        #[cfg(unix)]
        for secret in ["relay_secrets", "nexthop_secrets"] {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join("var/spool/postfix/plesk").join(secret);
            if let Ok(meta) = std::fs::metadata(&path) {
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}: {secret}");
            }
        }
        if policy.server.is_some() {
            assert_eq!(
                read.features.server.check_certificate, policy.features.server.check_certificate,
                "{name}"
            );
        }

        // Disabling everything restores the original main.cf and master.cf.
        writer.converge(&smarthost_core::Policy::default()).unwrap();
        let main = std::fs::read_to_string(dir.path().join("etc/postfix/main.cf")).unwrap();
        let base_with_ca = format!(
            "{}smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt\n",
            matrix::BASE_MAIN_CF
        );
        assert!(
            main == matrix::BASE_MAIN_CF || main == base_with_ca,
            "{name}: disable left\n{main}"
        );
        for map in MAPS {
            assert!(
                !dir.path().join("var/spool/postfix/plesk").join(map).exists(),
                "{name}: {map} left"
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/postfix/master.cf")).unwrap(),
            MASTER_CF,
            "{name}"
        );
    }
}

#[test]
fn two_routes_on_one_relay_with_different_accounts_are_refused_naming_both() {
    use smarthost_core::{Bounces, Encryption};
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    let mut policy = smarthost_core::Policy::default();
    policy.recipients.insert(
        "a.example".parse().unwrap(),
        matrix::relay("[shared.example]:587", Encryption::Starttls, Some("a-user")),
    );
    policy.bounces = Bounces::Relay(matrix::relay(
        "[shared.example]:587",
        Encryption::Starttls,
        Some("b-user"),
    ));
    let err = writer.plan(&policy).unwrap_err().to_string();
    assert!(
        err.contains("recipients.\"a.example\"") && err.contains("bounces") && err.contains("[shared.example]:587"),
        "{err}"
    );
    assert!(!err.contains(matrix::PASSWORD), "{err}");
    assert!(writer.converge(&policy).is_err());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("etc/postfix/main.cf")).unwrap(),
        matrix::BASE_MAIN_CF
    );
    assert!(!dir.path().join("var/spool/postfix/plesk").exists());

    // The same account on one relay is one login: accepted.
    policy.bounces = Bounces::Relay(matrix::relay(
        "[shared.example]:587",
        Encryption::Starttls,
        Some("a-user"),
    ));
    writer.converge(&policy).unwrap();
}

#[test]
fn backups_rendered_into_a_folder_warn_that_postfix_3_5_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    let (_, policy) = matrix::routing_cases()
        .into_iter()
        .find(|(name, _)| *name == "routing_backups")
        .unwrap();
    let plan = writer.plan(&policy).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.starts_with("server.backup:") && w.contains("Postfix 3.5 or later")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn a_change_made_on_what_was_read_back_keeps_every_other_rule() {
    // What `domain set` / `mailbox set` do on a live server: read, change
    // one rule, apply. Every routing item must survive the round.
    let mut all = smarthost_core::Policy::default();
    for (_, policy) in matrix::routing_cases() {
        let policy: smarthost_core::Policy = policy;
        all.server = policy.server.clone().or(all.server);
        all.domains.extend(policy.domains);
        all.mailboxes.extend(policy.mailboxes);
        all.recipients.extend(policy.recipients);
        all.direct_recipients.extend(policy.direct_recipients);
        if !policy.bounces.is_server() {
            all.bounces = policy.bounces;
        }
    }
    all.direct.insert("direct.example".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    writer.converge(&all).unwrap();
    let mut read = writer.read().unwrap();
    assert_eq!(read, all);
    read.set_domain(
        "new.example".parse().unwrap(),
        matrix::relay(
            "[new-relay.example]:587",
            smarthost_core::Encryption::Starttls,
            Some("n"),
        ),
    )
    .unwrap();
    read.set_mailbox(
        "zed@new.example".parse().unwrap(),
        matrix::relay("[zed-relay.example]:587", smarthost_core::Encryption::Starttls, None),
    )
    .unwrap();
    writer.converge(&read).unwrap();
    assert_eq!(writer.read().unwrap(), read);
    assert!(writer.plan(&read).unwrap().is_empty());
}
