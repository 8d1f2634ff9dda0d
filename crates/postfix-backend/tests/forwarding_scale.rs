//! A large alias table must not slow plans: 100,000 virtual aliases (half
//! of them forwarding out) and a 100,000-line /etc/aliases, planned with a
//! server relay that refuses unverified senders, against the same plan
//! without the tables. Rendering into a folder: no Postfix needed.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

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

fn time_plans(with_tables: bool) -> (Duration, Vec<String>) {
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
    let mut best = Duration::MAX;
    let mut warnings = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let plan = writer.plan(&policy).unwrap();
        best = best.min(start.elapsed());
        warnings = plan.warnings;
    }
    (best, warnings)
}

#[test]
fn a_100k_alias_table_keeps_plans_fast_and_warnings_bounded() {
    let (without, _) = time_plans(false);
    let (with, warnings) = time_plans(true);
    eprintln!("plan without alias tables: {without:?}; with 100,000 virtual aliases and 100,000 aliases: {with:?}");
    let forwarded: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("forwarded to") || w.contains("more forwarding target"))
        .collect();
    // 10 warnings and one line with the count of the rest.
    assert_eq!(forwarded.len(), 11, "{forwarded:#?}");
    assert!(
        forwarded[10].contains("only the first 1000 targets"),
        "{}",
        forwarded[10]
    );
    // Collection stops at 1,000 targets: reading the tables is bounded by
    // what is needed to find them, far below a second even unoptimised.
    assert!(with < without + Duration::from_secs(1), "{with:?} vs {without:?}");
}
