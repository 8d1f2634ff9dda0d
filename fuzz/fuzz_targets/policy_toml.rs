//! The policy file: `PolicyDocument::parse` never panics, and a policy it
//! accepts resolves, validates and never shows its password.
//!
//! Parsing reads nothing (no file, no variable), so the fuzzer's text goes
//! straight to the parser; every password source resolves to a secret
//! this target provides.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use smarthost_core::{Error, PolicyDocument, Secret, SecretSource};

const SECRET: &str = "fuzz-Secret-31337";

fn resolver(_: &str, _: &SecretSource) -> Result<Secret, Error> {
    Secret::new(SECRET.to_owned())
}

fuzz_target!(|text: &str| {
    let Ok(document) = PolicyDocument::parse(Path::new("/fuzz/policy.toml"), text) else {
        return;
    };
    let policy = document.resolve(&resolver).expect("a parsed policy resolves");
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
    for mailbox in policy.mailboxes.keys() {
        let route = policy.route(&mailbox.to_string()).expect("a policy mailbox routes");
        assert!(!route.to_string().contains(SECRET));
    }
    for domain in policy.recipients.keys().chain(&policy.direct_recipients) {
        let route = policy
            .route_to("<>", Some(&format!("postmaster@{domain}")))
            .expect("a recipient route routes");
        assert!(!route.to_string().contains(SECRET));
    }
    let _ = policy.route("someone@elsewhere.example");
    let _ = policy.route("<>");
});
