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
        let writer = MailEnableWriter::render_into(&dir);
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
            MailEnableWriter::import(&dir.join("smarthost.reg")).unwrap().server,
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
        let writer = MailEnableWriter::with_registry(Box::new(reg.clone()), Vec::new());
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
fn domain_level_writes_carry_a_warning() {
    let writer = MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new());
    let plan = writer.plan(&cases::cases()[2].1).unwrap();
    assert!(
        plan.warnings.iter().any(
            |w| w.contains("no public MailEnable source confirms") && w.contains("features.domain.enabled = false")
        ),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn what_mailenable_cannot_express_is_refused() {
    let writer = MailEnableWriter::with_registry(Box::new(MemoryRegistry::new()), Vec::new());
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
    let writer = MailEnableWriter::with_registry(Box::new(reg), vec![vec!["sh".into(), "-c".into(), "exit 7".into()]]);
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
        let writer = MailEnableWriter::render_into(&dir);
        writer.converge(&policy).unwrap();
        let read = MailEnableWriter::import(&dir.join("smarthost.reg")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        prop_assert_eq!(read.server, policy.server);
        prop_assert_eq!(read.domains, policy.domains);
    }
}
