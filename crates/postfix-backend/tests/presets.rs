//! The Postfix configuration each provider preset produces (insta).

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, Credentials, Policy, Preset, Secret, Username, PROVIDERS, REDACTED};

const PASSWORD: &str = "preset-test-password";

#[test]
fn every_preset_renders_for_postfix() {
    for provider in PROVIDERS {
        let spec = if provider.regional {
            format!("{}:eu-west-1", provider.name)
        } else {
            provider.name.to_owned()
        };
        let preset = Preset::resolve(&spec).unwrap();
        let user = Username::new(preset.username.unwrap_or("user@mg.example.com")).unwrap();
        let credentials = Credentials::new(user, Secret::new(PASSWORD.to_owned()).unwrap());
        let mut policy = Policy::default();
        policy.set_server(preset.smarthost(Some(credentials))).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
        writer.converge(&policy).unwrap();
        let mut out = String::new();
        for file in [
            "etc/postfix/main.cf",
            "var/spool/postfix/plesk/relay_secrets",
            "var/spool/postfix/plesk/tls_policy",
        ] {
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
            out.push_str(&format!("== {file} ==\n{}", text.replace(PASSWORD, REDACTED)));
        }
        insta::assert_snapshot!(format!("preset_{}", provider.name), out);
    }
}
