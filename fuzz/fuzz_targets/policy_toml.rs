//! The policy file: `Policy::from_toml` never panics, and a policy it
//! accepts validates and never shows its password.
//!
//! Parsing still reads the secret sources (`password_file`,
//! `password_env`); so that the fuzzer reads no file or variable of the
//! machine, every such key (found after TOML decoding, so escapes in keys
//! cannot hide one) is pointed at a secret this target provides.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smarthost_core::Policy;

const SECRET: &str = "fuzz-Secret-31337";
const VAR: &str = "SMARTHOST_FUZZ_SECRET";

struct Fixture {
    _dir: tempfile::TempDir,
    policy: PathBuf,
    secret_file: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
        std::env::set_var(VAR, SECRET);
        Fixture {
            policy: dir.path().join("policy.toml"),
            secret_file: secret_file.display().to_string(),
            _dir: dir,
        }
    })
}

/// Points every secret source at the fixture's; whether there was one.
fn tame(table: &mut toml::Table, fixture: &Fixture) -> bool {
    let mut found = false;
    for (key, value) in table.iter_mut() {
        match (key.as_str(), value) {
            ("password_file", v) => {
                *v = toml::Value::String(fixture.secret_file.clone());
                found = true;
            }
            ("password_env", v) => {
                *v = toml::Value::String(VAR.to_owned());
                found = true;
            }
            (_, toml::Value::Table(inner)) => found |= tame(inner, fixture),
            (_, toml::Value::Array(items)) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        found |= tame(inner, fixture);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

fuzz_target!(|data: &str| {
    let fixture = fixture();
    let text = match data.parse::<toml::Table>() {
        Ok(mut table) => {
            if tame(&mut table, fixture) {
                match toml::to_string(&table) {
                    Ok(text) => text,
                    Err(_) => return,
                }
            } else {
                data.to_owned()
            }
        }
        // Not TOML: from_toml fails before reading anything.
        Err(_) => data.to_owned(),
    };
    let Ok(policy) = Policy::from_toml(&fixture.policy, &text) else {
        return;
    };
    policy.validate().expect("an accepted policy validates");
    for shown in [
        format!("{policy:?}"),
        format!("{policy:#?}"),
        serde_json::to_string(&policy).unwrap(),
    ] {
        assert!(!shown.contains(SECRET), "the password is shown: {shown}");
    }
    for domain in policy.domains.keys() {
        let route = policy
            .route(&format!("postmaster@{domain}"))
            .expect("a policy domain routes");
        assert!(!route.to_string().contains(SECRET));
    }
    let _ = policy.route("someone@elsewhere.example");
});
