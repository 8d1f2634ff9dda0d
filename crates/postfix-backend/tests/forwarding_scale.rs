//! A large alias table gives bounded warnings: 100,000 virtual aliases
//! (half of them forwarding out) and a 100,000-line /etc/aliases, planned
//! with a server relay that refuses unverified senders, warn about 10
//! targets and count the rest up to the cap of 1,000. Rendering into a
//! folder: no Postfix needed. How long such a plan takes is measured by the
//! `plan_forwarding_check` bench (benches/postfix.rs), not here.

use std::fmt::Write as _;

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, Encryption, Policy, RelayHost, Smarthost};

fn seed(root: &std::path::Path, with_tables: bool) {
    std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
    let mut main = String::from("myhostname = mx.example\nmydestination = $myhostname, localhost\n");
    if with_tables {
        let mut virtual_text = String::from("hosted.example anything\n");
        let mut aliases = String::new();
        for i in 0..100_000 {
            let _ = writeln!(virtual_text, "u{i}@hosted.example t{i}@outside{}.example", i % 2);
            let _ = writeln!(aliases, "a{i}: local{i}, far{i}@elsewhere.example");
        }
        std::fs::write(root.join("etc/postfix/virtual"), virtual_text).unwrap();
        std::fs::write(root.join("etc/aliases"), aliases).unwrap();
        main.push_str("virtual_alias_maps = hash:/etc/postfix/virtual\nalias_maps = hash:/etc/aliases\n");
    }
    std::fs::write(root.join("etc/postfix/main.cf"), main).unwrap();
}

fn plan_warnings(with_tables: bool) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), with_tables);
    let writer = PostfixWriter::new(PostfixOptions::render_into(dir.path()));
    let mut policy = Policy::default();
    policy
        .set_server(
            Smarthost::new(RelayHost::parse("[email-smtp.us-east-1.amazonaws.com]:587").unwrap())
                .with_encryption(Encryption::Starttls),
        )
        .unwrap();
    writer.plan(&policy).unwrap().warnings
}

#[test]
fn a_100k_alias_table_gives_bounded_warnings() {
    let forwarding = |w: &String| w.contains("forwarded to") || w.contains("more forwarding target");
    assert!(!plan_warnings(false).iter().any(forwarding));
    let warnings = plan_warnings(true);
    let forwarded: Vec<&String> = warnings.iter().filter(|w| forwarding(w)).collect();
    // 10 warnings and one line with the count of the rest.
    assert_eq!(forwarded.len(), 11, "{forwarded:#?}");
    assert!(
        forwarded[10].contains("only the first 1000 targets"),
        "{}",
        forwarded[10]
    );
}
