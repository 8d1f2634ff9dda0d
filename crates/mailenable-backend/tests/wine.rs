//! The Windows half, run for real under Wine (see .ci/run): the registry in
//! the 32-bit view, `.reg` files imported with regedit, regedit exports
//! parsed back. Wine has a real registry and a real regedit; this is not
//! Windows itself, and the docs say so.
#![cfg(windows)]

#[path = "support/cases.rs"]
mod cases;

use std::path::PathBuf;
use std::process::Command;

use mailenable_backend::regfile::{self, RegLine};
use mailenable_backend::{schema, MailEnableWriter, RegData, Registry, WindowsRegistry, REG_FILE};
use smarthost_core::{ConfigWriter, Credentials, Encryption, Policy, Secret, Username};

fn regedit(args: &[&str]) {
    let status = Command::new("regedit").args(args).status().expect("regedit starts");
    assert!(status.success(), "regedit {args:?} failed");
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smarthost-wine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn live() -> MailEnableWriter {
    MailEnableWriter::with_registry(Box::new(WindowsRegistry), Vec::new()).names(cases::learned())
}

fn same(read: &Policy, wanted: &Policy) {
    assert_eq!((&read.server, &read.domains), (&wanted.server, &wanted.domains));
}

#[test]
fn the_registry_is_written_in_the_32_bit_view() {
    let mut reg = WindowsRegistry;
    reg.set(schema::SMTP_KEY, "SmarthostWineProbe", &RegData::Sz("probe".into()))
        .unwrap();
    assert_eq!(
        reg.get(schema::SMTP_KEY, "SmarthostWineProbe").unwrap(),
        Some(RegData::Sz("probe".into()))
    );
    // Without the 32-bit flag, a 64-bit program finds it below Wow6432Node.
    let key = windows_registry::LOCAL_MACHINE
        .open(schema::SMTP_KEY_WOW64)
        .expect("the key is below Wow6432Node");
    assert_eq!(key.get_string("SmarthostWineProbe").unwrap(), "probe");
    reg.delete(schema::SMTP_KEY, "SmarthostWineProbe").unwrap();
    assert_eq!(reg.get(schema::SMTP_KEY, "SmarthostWineProbe").unwrap(), None);
    reg.delete(schema::SMTP_KEY, "SmarthostWineProbe").unwrap();
}

#[test]
fn reg_files_imported_with_regedit_read_back_as_the_policy() {
    let dir = fresh_dir("import");
    let render = MailEnableWriter::render_into(&dir).names(cases::learned());
    for (name, policy) in cases::cases() {
        let (plan, _) = render.converge(&policy).unwrap();
        if !plan.is_empty() {
            regedit(&["/S", dir.join(REG_FILE).to_str().unwrap()]);
        }
        same(&live().read().unwrap(), &policy);
        println!("{name}: imported and read back");
    }
    // Writing through the registry directly gives the same state.
    for (_, policy) in cases::cases() {
        live().converge(&policy).unwrap();
        same(&live().read().unwrap(), &policy);
    }
}

#[test]
fn a_regedit_export_parses_back() {
    let both = &cases::cases()[3].1;
    live().converge(both).unwrap();
    let dir = fresh_dir("export");
    let out = dir.join("export.reg");
    regedit(&[
        "/E",
        out.to_str().unwrap(),
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Mail Enable",
    ]);
    same(&MailEnableWriter::import(&out, &cases::learned()).unwrap(), both);
    live().converge(&Policy::default()).unwrap();
}

#[test]
fn quotes_backslashes_unicode_and_long_values_survive_regedit() {
    let long = "x".repeat(2000);
    for secret in ["pa\"ss\\wo\\\"rd", "Grüße 🚀 пароль", long.as_str()] {
        let s = cases::relay("[smtp.example.com]:587", Encryption::Starttls, None).with_credentials(Credentials::new(
            Username::new("user@example.com").unwrap(),
            Secret::new(secret.to_owned()).unwrap(),
        ));
        let policy = cases::policy(Some(s), &[]);
        let dir = fresh_dir("values");
        MailEnableWriter::render_into(&dir)
            .names(cases::learned())
            .converge(&policy)
            .unwrap();
        regedit(&["/S", dir.join(REG_FILE).to_str().unwrap()]);
        same(&live().read().unwrap(), &policy);
    }
    live().converge(&Policy::default()).unwrap();
}

/// The model refuses the values, and the `.reg` text that regedit would
/// import refuses them too, so no such value reaches regedit or the
/// registry. (This test used to check that a fresh folder was empty, which
/// nothing could have written to.)
#[test]
fn line_breaks_and_nul_are_refused_before_anything_is_written() {
    for bad in ["line\nbreak", "nul\0byte", "cr\rhere"] {
        assert!(Secret::new(bad.to_owned()).is_err());
        assert!(smarthost_core::RelayHost::parse(&format!("[{bad}]:25")).is_err());
        let sections = vec![(
            schema::SMTP_KEY.to_owned(),
            vec![RegLine::Set("SmarthostWineProbe".into(), RegData::Sz(bad.into()))],
        )];
        assert!(regfile::render(&sections).is_err(), "{bad:?} rendered into a .reg file");
    }
}
