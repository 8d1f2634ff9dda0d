//! insta snapshots of every generated file for the policy matrix: main.cf,
//! master.cf and the lookup tables, starting from a Debian-like main.cf.

#[path = "support/matrix.rs"]
mod matrix;

use std::path::Path;

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, REDACTED};

const MASTER_CF: &str = "smtp      inet  n       -       y       -       -       smtpd\nsmtp      unix  -       -       y       -       -       smtp\n";

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
    for map in ["sender_relay", "relay_secrets", "tls_policy", "sender_transport"] {
        if let Ok(text) = std::fs::read_to_string(root.join("var/spool/postfix/plesk").join(map)) {
            out.push_str(&format!("== {map} ==\n{}", text.replace(matrix::PASSWORD, REDACTED)));
        }
    }
    out
}

#[test]
fn every_policy_of_the_matrix() {
    for (name, policy) in matrix::cases() {
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
        assert_eq!(read.server, policy.server, "{name}: server read back");
        assert_eq!(read.domains, policy.domains, "{name}: domains read back");
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
        for map in ["sender_relay", "relay_secrets", "tls_policy", "sender_transport"] {
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
