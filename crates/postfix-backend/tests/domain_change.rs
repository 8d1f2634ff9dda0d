//! A change of one sender domain planned by key (`read_for_domain`,
//! `plan_for_domain`) gives the very plan of reading the whole
//! configuration, changing the domain and planning it: the same files with
//! the same texts and modes, the same commands, warnings and notes, and
//! the same configuration once applied. Over random policies (relays shared
//! or not, accounts, implicit TLS, backups, mailboxes, direct exceptions,
//! bounces, certificate checks) and random changes (a domain set, made
//! direct, disabled, new or existing).

use std::collections::BTreeMap;

use postfix_backend::{PostfixOptions, PostfixWriter};
use proptest::prelude::*;
use smarthost_core::{
    Bounces, Change, ConfigWriter, Credentials, DomainName, Encryption, Mailbox, Plan, Policy, RelayHost, Secret,
    Smarthost, Username,
};

/// A smarthost from a small pool, so that domains share relay settings.
fn smarthost() -> impl Strategy<Value = Smarthost> {
    (
        0..4usize,
        prop_oneof![
            Just(Encryption::Starttls),
            Just(Encryption::None),
            Just(Encryption::ImplicitTls)
        ],
        prop::option::of(0..3usize),
        prop::option::weighted(0.1, 0..4usize),
    )
        .prop_map(|(relay, encryption, account, backup)| {
            let port = if encryption == Encryption::ImplicitTls {
                465
            } else {
                587
            };
            let host = |i: usize| RelayHost::parse(&format!("[relay{i}.example.net]:{port}")).unwrap();
            let mut s = Smarthost::new(host(relay));
            s.encryption = encryption;
            if let Some(i) = account {
                s = s.with_credentials(Credentials::new(
                    Username::new(&format!("user{i}")).unwrap(),
                    Secret::new(format!("test-secret-{i}")).unwrap(),
                ));
            }
            if let Some(b) = backup.filter(|b| *b != relay) {
                s.backups.push(host(b));
            }
            s
        })
}

fn domain_name() -> impl Strategy<Value = DomainName> {
    (0..12usize).prop_map(|i| format!("d{i}.example").parse().unwrap())
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        prop::option::weighted(0.7, smarthost()),
        prop::collection::btree_map(domain_name(), smarthost(), 0..9),
        prop::collection::btree_set(domain_name(), 0..3),
        prop::collection::btree_map((0..2usize, domain_name()), smarthost(), 0..2),
        prop_oneof![Just(0u8), Just(1), Just(2)],
        any::<bool>(),
    )
        .prop_map(|(server, domains, direct, mailboxes, bounces, check)| {
            let mut policy = Policy {
                server,
                domains,
                direct: direct.into_iter().collect(),
                ..Policy::default()
            };
            policy.direct.retain(|d| !policy.domains.contains_key(d));
            policy.mailboxes = mailboxes
                .into_iter()
                .map(|((who, d), s)| (Mailbox::parse_field("mailbox", &format!("user{who}@{d}")).unwrap(), s))
                .collect::<BTreeMap<_, _>>();
            policy.bounces = match bounces {
                0 => Bounces::Server,
                1 => Bounces::Direct,
                _ => Bounces::Relay(Smarthost::new(RelayHost::parse("[bounces.example.net]:587").unwrap())),
            };
            policy.features.domain.check_certificate = check;
            policy
        })
}

#[derive(Clone, Debug)]
enum Edit {
    Set(Smarthost),
    Direct,
    Disable,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => smarthost().prop_map(Edit::Set),
        1 => Just(Edit::Direct),
        2 => Just(Edit::Disable),
    ]
}

/// The change as the command line makes it; `false`: nothing to disable.
fn change(policy: &mut Policy, domain: &DomainName, edit: &Edit) -> bool {
    match edit {
        Edit::Set(s) => policy.set_domain(domain.clone(), s.clone()).unwrap(),
        Edit::Direct => policy.set_direct(domain.clone()).unwrap(),
        Edit::Disable => return policy.domains.remove(domain).is_some() || policy.direct.remove(domain),
    }
    true
}

/// What a plan does, comparable: each file (path, mode, texts, whether it
/// holds secrets), each command, the warnings and notes.
fn shape(plan: &Plan) -> (Vec<String>, Vec<String>, Vec<String>) {
    let changes = plan
        .changes
        .iter()
        .map(|c| match c {
            Change::File(f) => format!(
                "file {} {:o} {:?} -> {:?} sensitive={}",
                f.path().display(),
                f.mode(),
                f.before(),
                f.after(),
                f.is_sensitive()
            ),
            Change::Command(c) => format!("run {:?} ({})", c.argv, c.reason),
            other => format!("{other:?}"),
        })
        .collect();
    (changes, plan.warnings.clone(), plan.notes.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn a_domain_planned_by_key_is_planned_as_the_whole(
        start in policy(),
        domain in domain_name(),
        edit in edit(),
    ) {
        let root = tempfile::tempdir().unwrap();
        let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
        // Policies Postfix cannot take (two routes of one relay with
        // different accounts...) are not this test's matter.
        prop_assume!(writer.converge(&start).is_ok());

        let mut whole = writer.read().unwrap();
        let mut part = writer.read_for_domain(&domain).unwrap();
        let changed = change(&mut whole, &domain, &edit);
        prop_assert_eq!(changed, change(&mut part, &domain, &edit), "the domain reads the same");
        prop_assume!(changed);

        let by_whole = writer.plan(&whole);
        let by_key = writer.plan_for_domain(&domain, &part);
        match (&by_whole, &by_key) {
            (Ok(a), Ok(b)) => prop_assert_eq!(shape(a), shape(b)),
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(false, "one failed: {:?} / {:?}", by_whole.as_ref().err(), by_key.as_ref().err()),
        }
        let Ok(plan) = by_key else { return Ok(()) };
        writer.apply(&plan).unwrap();
        // Applied, the configuration is the whole change (reading it back
        // may differ where the policy gives one relay two TLS policies:
        // the stronger is written, with a warning).
        prop_assert!(writer.plan(&whole).unwrap().is_empty());
    }
}

/// A policy for `plan_for_domain` that differs in more than the domain is
/// refused: the small policy leaves domains out, and planning it as a
/// whole would remove them.
#[test]
fn a_policy_changed_beyond_the_domain_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
    let relay = |i: usize| Smarthost::new(RelayHost::parse(&format!("[relay{i}.example.net]:587")).unwrap());
    let mut start = Policy::default();
    for i in 0..20 {
        start
            .domains
            .insert(format!("d{i}.example").parse().unwrap(), relay(i % 2));
    }
    writer.converge(&start).unwrap();
    let domain: DomainName = "d3.example".parse().unwrap();
    let mut part = writer.read_for_domain(&domain).unwrap();
    assert!(
        part.domains.len() < start.domains.len(),
        "the small policy leaves domains out: {:?}",
        part.domains.keys()
    );
    part.server = Some(relay(7));
    let err = writer.plan_for_domain(&domain, &part).unwrap_err().to_string();
    assert!(
        err.contains("differs from the configuration in more than that domain"),
        "{err}"
    );
    let other: DomainName = "d4.example".parse().unwrap();
    let part = writer.read_for_domain(&domain).unwrap();
    let err = writer.plan_for_domain(&other, &part).unwrap_err().to_string();
    assert!(err.contains("more than that domain"), "{err}");
}
