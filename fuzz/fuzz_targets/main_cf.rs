//! The main.cf editor, through the public API only: a fixed policy is
//! planned into a root whose main.cf is the fuzz input. `plan` never
//! panics, and every parameter line smarthost does not manage (a line that
//! starts a parameter other than those of `schema::MANAGED` and
//! `smtp_tls_CAfile`) is still there, byte for byte and in order.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use postfix_backend::schema::{MANAGED, TLS_CA_FILE};
use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, Credentials, DomainName, Policy, RelayHost, Secret, Smarthost, Username};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    policy: Policy,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
        let relay = |r: &str| Smarthost::new(RelayHost::parse(r).unwrap());
        let credentials = Credentials::new(
            Username::new("apikey").unwrap(),
            Secret::new("fuzz-Secret-31337".to_owned()).unwrap(),
        );
        let mut policy = Policy::default();
        policy
            .set_server(relay("[smtp.sendgrid.net]:587").with_credentials(credentials.clone()))
            .unwrap();
        let shop: DomainName = "shop.example.com".parse().unwrap();
        policy
            .set_domain(shop, relay("[smtp.eu.mailgun.org]:465").with_credentials(credentials))
            .unwrap();
        Fixture {
            _dir: dir,
            root,
            policy,
        }
    })
}

/// The lines that start a parameter smarthost leaves alone.
fn unmanaged(text: &str) -> Vec<&str> {
    text.split('\n')
        .filter(|line| {
            if line.starts_with(|c: char| c.is_whitespace() || c == '#' || c == '\u{feff}') {
                return false;
            }
            let Some((name, _)) = line.split_once('=') else {
                return false;
            };
            let name = name.trim();
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !MANAGED.contains(&name)
                && name != TLS_CA_FILE
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 16 * 1024 {
        return;
    }
    let fixture = fixture();
    std::fs::write(fixture.root.join("etc/postfix/main.cf"), data).unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(&fixture.root));
    let Ok(plan) = writer.plan(&fixture.policy) else {
        return;
    };
    let Ok(before) = std::str::from_utf8(data) else {
        return;
    };
    let after = plan
        .files()
        .find(|f| f.path().ends_with("etc/postfix/main.cf"))
        .map_or(Some(before), |f| f.after())
        .unwrap_or("");
    // A last line without a line break gets one (in the file's style,
    // `\n` or `\r\n`) when lines are appended after it.
    let unterminated = before.rsplit('\n').next().filter(|l| !l.is_empty());
    let mut kept = after.split('\n');
    for line in unmanaged(before) {
        let same = |l: &str| l == line || (Some(line) == unterminated && l.strip_suffix('\r') == Some(line));
        assert!(
            kept.any(same),
            "{line:?} is lost or moved\n--- before\n{before}\n--- after\n{after}"
        );
    }
});
