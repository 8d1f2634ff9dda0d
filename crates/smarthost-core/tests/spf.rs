//! SPF: lossless round trip, parse errors, and merging a relay into records.

use proptest::prelude::*;
use smarthost_core::spf::{authorization, merge, Mechanism, Qualifier, SpfRecord, Term};
use smarthost_core::{Preset, RelayHost, Smarthost};

fn include(domain: &str) -> Term {
    Term::Directive {
        qualifier: Qualifier::Pass,
        mechanism: Mechanism::Include(domain.to_owned()),
    }
}

fn txt(records: &[&str]) -> Vec<String> {
    records.iter().map(|s| s.to_string()).collect()
}

#[test]
fn records_print_back_as_written() {
    for r in [
        "v=spf1 -all",
        "v=spf1",
        "V=SPF1 MX A:mail.example.com/24 ip4:192.0.2.0/24 IP6:2001:db8::/32 ~ALL",
        "v=spf1  include:_spf.google.com   ?include:x.example redirect=_spf.example.com ",
        "v=spf1 a//64 mx:example.com/24//64 ptr exists:%{i}._spf.example.com exp=explain.example.com -all",
        "v=spf1 +all unknown-mod=anything",
    ] {
        let parsed = SpfRecord::parse(r).unwrap_or_else(|e| panic!("{r}: {e}"));
        assert_eq!(parsed.to_string(), r);
    }
}

#[test]
fn bad_records_name_the_term() {
    for (r, needle) in [
        ("v=spf2 -all", "v=spf1"),
        ("v=spf1 include -all", "include: needs a domain"),
        ("v=spf1 ip4:300.1.1.1 -all", "ip4:"),
        ("v=spf1 ip4:192.0.2.0/33", "ip4:"),
        ("v=spf1 ip6:nothex::1", "ip6:"),
        ("v=spf1 foo:bar", "not an SPF mechanism"),
        ("v=spf1 -redirect=x.example", "not a valid modifier"),
        ("v=spf1 all/24", "invalid arguments"),
    ] {
        let err = SpfRecord::parse(r).expect_err(r).to_string();
        assert!(err.starts_with("spf: "), "{err}");
        assert!(err.contains(needle), "{r}: {err}");
    }
}

#[test]
fn lookups_are_counted_per_rfc_7208() {
    let r = SpfRecord::parse("v=spf1 a mx ptr include:a.example exists:b.example ip4:192.0.2.1 redirect=c.example")
        .unwrap();
    assert_eq!(r.lookups(), 6);
}

#[test]
fn merge_into_no_record() {
    let m = merge(&txt(&["google-site-verification=abc"]), &include("sendgrid.net")).unwrap();
    assert_eq!(m.record, "v=spf1 include:sendgrid.net ~all");
    assert!(m.changed);
    assert!(m.warnings[0].contains("no SPF record"));
}

#[test]
fn merge_keeps_everything_and_inserts_before_all() {
    let m = merge(&txt(&["v=spf1 mx  ip4:192.0.2.1 -all"]), &include("sendgrid.net")).unwrap();
    assert_eq!(m.record, "v=spf1 mx  ip4:192.0.2.1 include:sendgrid.net -all");
    let m = merge(&txt(&["v=spf1 a ~all"]), &include("mailgun.org")).unwrap();
    assert_eq!(m.record, "v=spf1 a include:mailgun.org ~all");
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn an_existing_include_changes_nothing() {
    let m = merge(&txt(&["v=spf1 INCLUDE:SendGrid.net -all"]), &include("sendgrid.net")).unwrap();
    assert!(!m.changed);
    assert_eq!(m.record, "v=spf1 INCLUDE:SendGrid.net -all");
}

#[test]
fn redirect_stays_last() {
    let m = merge(&txt(&["v=spf1 mx redirect=_spf.example.com"]), &include("sendgrid.net")).unwrap();
    assert_eq!(m.record, "v=spf1 mx include:sendgrid.net redirect=_spf.example.com");
    let m = merge(&txt(&["v=spf1 redirect=_spf.example.com"]), &include("sendgrid.net")).unwrap();
    assert_eq!(m.record, "v=spf1 include:sendgrid.net redirect=_spf.example.com");
}

#[test]
fn two_records_become_one() {
    let m = merge(
        &txt(&["v=spf1 mx -all", "v=spf1 include:spf.protection.outlook.com ~all"]),
        &include("sendgrid.net"),
    )
    .unwrap();
    assert_eq!(
        m.record,
        "v=spf1 mx include:spf.protection.outlook.com include:sendgrid.net -all"
    );
    assert!(
        m.warnings.iter().any(|w| w.contains("2 SPF records")),
        "{:?}",
        m.warnings
    );
}

#[test]
fn warnings_for_the_lookup_limit_plus_all_and_ptr() {
    let many = (0..10)
        .map(|i| format!("include:s{i}.example"))
        .collect::<Vec<_>>()
        .join(" ");
    let m = merge(&[format!("v=spf1 {many} -all")], &include("sendgrid.net")).unwrap();
    assert!(
        m.warnings.iter().any(|w| w.contains("11 DNS lookups")),
        "{:?}",
        m.warnings
    );
    let m = merge(&txt(&["v=spf1 ptr +all"]), &include("sendgrid.net")).unwrap();
    assert!(m.warnings.iter().any(|w| w.contains("+all")), "{:?}", m.warnings);
    assert!(m.warnings.iter().any(|w| w.contains("ptr")), "{:?}", m.warnings);
}

#[test]
fn relays_map_to_the_right_term() {
    let show = |relay: &str| {
        let s = Smarthost::new(RelayHost::parse(relay).unwrap());
        authorization(&s).map(|t| merge(&[], &t).unwrap().record)
    };
    assert_eq!(show("[192.0.2.25]:25").unwrap(), "v=spf1 ip4:192.0.2.25 ~all");
    assert_eq!(show("[2001:db8::25]:587").unwrap(), "v=spf1 ip6:2001:db8::25 ~all");
    assert_eq!(
        show("[relay.internal.example]:587").unwrap(),
        "v=spf1 a:relay.internal.example ~all"
    );
    assert_eq!(
        show("[smtp.sendgrid.net]:587").unwrap(),
        "v=spf1 include:sendgrid.net ~all"
    );
    assert_eq!(show("[mail.smtp2go.com]:587"), None, "SMTP2GO asks not to be listed");
    let ses = Preset::resolve("amazon-ses:eu-west-1").unwrap().smarthost(None);
    assert_eq!(
        merge(&[], &authorization(&ses).unwrap()).unwrap().record,
        "v=spf1 include:amazonses.com ~all"
    );
}

fn arb_term() -> impl Strategy<Value = String> {
    let q = prop::sample::select(vec!["", "+", "-", "~", "?"]);
    let m = prop_oneof![
        Just("all".to_owned()),
        "[a-z0-9]{1,8}\\.[a-z]{2,4}".prop_map(|d| format!("include:{d}")),
        Just("a".to_owned()),
        ("[a-z]{1,6}\\.example", 0u8..=32).prop_map(|(d, l)| format!("mx:{d}/{l}")),
        any::<std::net::Ipv4Addr>().prop_map(|a| format!("ip4:{a}")),
        (any::<std::net::Ipv6Addr>(), 0u8..=128).prop_map(|(a, l)| format!("ip6:{a}/{l}")),
        "[a-z]{1,6}\\.example".prop_map(|d| format!("exists:{d}")),
    ];
    let modifier = "[a-z]{1,6}\\.example".prop_map(|d| format!("redirect={d}"));
    prop_oneof![4 => (q, m).prop_map(|(q, m)| format!("{q}{m}")), 1 => modifier]
}

proptest! {
    #[test]
    fn generated_records_round_trip(terms in prop::collection::vec((arb_term(), 1usize..3), 0..12), tail in 0usize..2) {
        let mut text = String::from("v=spf1");
        for (t, spaces) in &terms {
            text.push_str(&" ".repeat(*spaces));
            text.push_str(t);
        }
        text.push_str(&" ".repeat(tail));
        let parsed = SpfRecord::parse(&text).unwrap();
        prop_assert_eq!(parsed.to_string(), text);
        prop_assert_eq!(parsed.terms().count(), terms.len());
    }

    #[test]
    fn parsing_never_panics(text in "v=spf1[ -~]{0,60}") {
        let _ = SpfRecord::parse(&text);
    }

    #[test]
    fn merge_always_gives_one_record_with_the_include(terms in prop::collection::vec(arb_term(), 0..8)) {
        let record = format!("v=spf1 {}", terms.join(" "));
        let m = merge(&[record], &include("sendgrid.net")).unwrap();
        let merged = SpfRecord::parse(&m.record).unwrap();
        prop_assert!(merged.contains(&include("sendgrid.net")));
        let merged_again = merge(std::slice::from_ref(&m.record), &include("sendgrid.net")).unwrap();
        prop_assert!(!merged_again.changed, "merging twice changes nothing");
    }
}
