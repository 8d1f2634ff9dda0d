//! The MailEnable backend on any OS: plans, `.reg` files, import.
#![cfg(not(windows))]

#[path = "support/cases.rs"]
mod cases;

use mailenable_backend::{regfile, MailEnableWriter, MemoryRegistry, Registry};
use proptest::prelude::*;
use smarthost_core::{ConfigWriter, Encryption, REDACTED};

#[test]
fn reg_files_for_every_case() {
    for (name, policy) in cases::cases() {
        let dir = tempfile_dir(name);
        let writer = MailEnableWriter::render_into(&dir).names(cases::learned());
        // Start from the "both" case, so "disabled" shows what disabling writes.
        writer.converge(&cases::cases()[3].1).unwrap();
        let (plan, _) = writer.converge(&policy).unwrap();
        let rendered = plan.render();
        assert!(!rendered.contains(cases::PASSWORD), "{rendered}");
        assert!(!serde_json::to_string(&plan).unwrap().contains(cases::PASSWORD));
        let text = regfile::decode(&std::fs::read(dir.join("smarthost.reg")).unwrap()).unwrap();
        insta::assert_snapshot!(
            name,
            text.replace(&cases::PASSWORD.replace('\\', "\\\\").replace('"', "\\\""), REDACTED)
        );
        let read = writer.read().unwrap();
        assert_eq!(
            (read.server, read.domains),
            (policy.server.clone(), policy.domains.clone()),
            "{name}"
        );
        assert!(
            writer.plan(&policy).unwrap().is_empty(),
            "{name}: applying twice changes nothing"
        );
        assert_eq!(
            MailEnableWriter::import(&dir.join("smarthost.reg"), &cases::learned())
                .unwrap()
                .server,
            policy.server,
            "{name}: import"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn inbound_redirection_fields_are_never_written() {
    let mut reg = MemoryRegistry::new();
    for (_, policy) in cases::cases() {
        let writer = MailEnableWriter::with_registry(Box::new(reg.clone()), Vec::new()).names(cases::learned());
        let (plan, _) = writer.converge(&policy).unwrap();
        let json = serde_json::to_string(&plan).unwrap();
        assert!(!json.contains("DomainRedirection"), "{json}");
    }
    let err = reg
        .set(
            "SOFTWARE\\Mail Enable\\Mail Enable\\Domains\\a.example",
            "DomainRedirectionHosts",
            &mailenable_backend::RegData::Sz("x".into()),
        )
        .unwrap_err();
    assert!(err.to_string().contains("INBOUND"), "{err}");
}

#[test]
fn domain_level_is_refused_unless_learned() {
    for writer in [
        MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new()),
        MailEnableWriter::render_into(tempfile_dir("domain-refused")),
    ] {
        let err = writer.plan(&cases::cases()[2].1).unwrap_err().to_string();
        assert!(
            err.contains("domains.\"a.example\"") && err.contains("mailenable learn --domain"),
            "{err}"
        );
    }
    // Learned: written, and the plan says nothing about guessing.
    let writer = MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new()).names(cases::learned());
    let plan = writer.plan(&cases::cases()[2].1).unwrap();
    assert!(!plan.is_empty());
}

#[test]
fn a_live_write_of_unconfirmed_names_is_refused_and_writes_nothing() {
    let reg = MemoryRegistry::new();
    let writer = MailEnableWriter::with_registry(Box::new(reg), Vec::new());
    let err = writer.converge(&cases::cases()[0].1).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("nothing was written"), "{text}");
    for name in ["SmartHostEnabled", "SmartHost", "SmartHostPort", "SmartHostPassword"] {
        assert!(text.contains(&format!("\\{name}")), "{name}: {text}");
    }
    assert!(text.contains("smarthost mailenable learn --before"), "{text}");
    assert!(smarthost_core::Classify::is_invalid(&err));
    assert_eq!(
        writer.read().unwrap(),
        smarthost_core::Policy::default(),
        "nothing was written"
    );
}

#[test]
fn names_the_server_already_has_with_the_right_type_are_confirmed() {
    use mailenable_backend::RegData;
    let key = mailenable_backend::schema::SMTP_KEY;
    let mut reg = MemoryRegistry::new();
    // A server whose values carry the built-in names: no auth wanted, so
    // these are all the names the plan writes.
    for (name, data) in [
        ("SmartHostEnabled", RegData::Dword(0)),
        ("SmartHost", RegData::Sz(String::new())),
        ("SmartHostPort", RegData::Dword(25)),
        ("SmartHostAuthentication", RegData::Dword(0)),
        ("SmartHostTLS", RegData::Dword(1)),
    ] {
        reg.set(key, name, &data).unwrap();
    }
    let policy = cases::cases()[1].1.clone();
    MailEnableWriter::with_registry(Box::new(reg.clone()), Vec::new())
        .converge(&policy)
        .unwrap();
    // The same name with the wrong type is not a confirmation.
    reg.set(key, "SmartHostPort", &RegData::Sz("25".into())).unwrap();
    let err = MailEnableWriter::with_registry(Box::new(reg), Vec::new())
        .converge(&policy)
        .unwrap_err();
    assert!(err.to_string().contains("SmartHostPort"), "{err}");
}

#[test]
fn a_rendered_file_of_guessed_names_says_so() {
    let dir = tempfile_dir("unconfirmed");
    let writer = MailEnableWriter::render_into(&dir);
    let (plan, _) = writer.converge(&cases::cases()[0].1).unwrap();
    assert!(
        plan.warnings.iter().any(|w| w.contains("built-in guesses")),
        "{:?}",
        plan.warnings
    );
    let text = regfile::decode(&std::fs::read(dir.join("smarthost.reg")).unwrap()).unwrap();
    assert!(text.contains("; UNCONFIRMED"), "{text}");
    assert!(text.contains(";   SmartHostPassword"), "{text}");
    // Still a .reg file that reads back.
    assert_eq!(
        MailEnableWriter::import(&dir.join("smarthost.reg"), &mailenable_backend::Names::builtin())
            .unwrap()
            .server,
        cases::cases()[0].1.server
    );
    // Learned names: no such comment.
    let learned = tempfile_dir("learned");
    MailEnableWriter::render_into(&learned)
        .names(cases::learned())
        .converge(&cases::cases()[0].1)
        .unwrap();
    let text = regfile::decode(&std::fs::read(learned.join("smarthost.reg")).unwrap()).unwrap();
    assert!(!text.contains("UNCONFIRMED"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&learned).unwrap();
}

#[test]
fn credentials_come_with_the_plain_text_fallback_warning() {
    let writer = MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new()).names(cases::learned());
    let with_auth = writer.plan(&cases::cases()[0].1).unwrap();
    assert!(
        with_auth
            .warnings
            .iter()
            .any(|w| w.contains("falls back to plain text")),
        "{:?}",
        with_auth.warnings
    );
    let without = writer.plan(&cases::cases()[1].1).unwrap();
    assert!(!without.warnings.iter().any(|w| w.contains("falls back to plain text")));
}

#[test]
fn turning_the_certificate_check_off_is_refused_not_ignored() {
    let writer = MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new()).names(cases::learned());
    let mut policy = cases::cases()[0].1.clone();
    policy.features.server.check_certificate = false;
    let err = writer.plan(&policy).unwrap_err().to_string();
    assert!(err.starts_with("features.server.check_certificate"), "{err}");
}

#[test]
fn what_mailenable_cannot_express_is_refused() {
    let writer = MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new()).names(cases::learned());
    let mx = cases::policy(
        Some(cases::relay("smtp.example.com:587", Encryption::Starttls, None)),
        &[],
    );
    assert!(writer.plan(&mx).unwrap_err().to_string().contains("does no MX lookup"));
    let implicit = cases::policy(
        Some(cases::relay("[smtp.example.com]:465", Encryption::ImplicitTls, None)),
        &[],
    );
    assert!(writer
        .plan(&implicit)
        .unwrap_err()
        .to_string()
        .contains("no implicit TLS"));
}

#[test]
fn a_failed_restart_restores_the_values() {
    let reg = MemoryRegistry::new();
    let writer = MailEnableWriter::with_registry(Box::new(reg), vec![vec!["sh".into(), "-c".into(), "exit 7".into()]])
        .names(cases::learned());
    let err = writer.converge(&cases::cases()[0].1).unwrap_err();
    assert!(err.to_string().contains("previous values were restored"), "{err}");
    assert_eq!(writer.read().unwrap(), smarthost_core::Policy::default());
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mailenable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

proptest! {
    /// plan, write the .reg, read the .reg: the same policy.
    #[test]
    fn reg_round_trip(host in "[a-z]{1,10}\\.example", port in 1u16..=65535, auth in any::<bool>(), tls in any::<bool>(),
                      user in "[A-Za-z0-9@._-]{1,20}", pass in "[ -~]{0,10}[a-zA-Z\u{e9}\u{1F680}\"\\\\]{1,30}") {
        let encryption = if tls { Encryption::Starttls } else { Encryption::None };
        let mut s = cases::relay(&format!("[{host}]:{port}"), encryption, None);
        if auth {
            let secret = smarthost_core::Secret::new(pass.trim().to_owned());
            prop_assume!(secret.is_ok());
            s = s.with_credentials(smarthost_core::Credentials::new(smarthost_core::Username::new(&user).unwrap(), secret.unwrap()));
        }
        let policy = cases::policy(Some(s.clone()), &[("p.example", s)]);
        let dir = tempfile_dir(&format!("prop-{port}-{}", user.len()));
        let writer = MailEnableWriter::render_into(&dir).names(cases::learned());
        writer.converge(&policy).unwrap();
        let read = MailEnableWriter::import(&dir.join("smarthost.reg"), &cases::learned()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        prop_assert_eq!(read.server, policy.server);
        prop_assert_eq!(read.domains, policy.domains);
    }
}

/// Every routing rule beyond the server-wide smart host is refused by its
/// field, live and rendered, and nothing is written.
#[test]
fn routing_rules_mailenable_cannot_express_are_refused_by_name() {
    let base = cases::cases()[0].1.clone();
    for (rule, field, policy) in test_support::builders::with_each_routing_rule(&base) {
        let writer =
            MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new()).names(cases::learned());
        let err = writer.plan(&policy).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, mailenable_backend::Error::Unsupported { .. }),
            "{rule:?}: {text}"
        );
        assert!(text.starts_with(field), "{rule:?}: {text}");
        assert!(text.contains("MailEnable cannot express this"), "{text}");
        assert!(writer.apply(&writer.plan(&base).unwrap()).is_ok());
        assert!(writer.plan(&policy).is_err(), "{rule:?} refused after an apply too");

        let dir = tempfile::tempdir().unwrap();
        let rendered = MailEnableWriter::render_into(dir.path().join("out"));
        assert!(rendered.plan(&policy).is_err(), "{rule:?} refused when rendering");
        assert!(!dir.path().join("out").exists(), "nothing rendered for {rule:?}");
    }
}
