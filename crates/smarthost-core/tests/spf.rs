//! SPF: the grammar of RFC 7208 (what is accepted and refused, with the
//! section each rule comes from), lossless round trip, lookups in
//! evaluation order, and merging a relay into records. Examples marked
//! "RFC" are taken from the RFC's text.

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

fn parses(record: &str) -> SpfRecord {
    let parsed = SpfRecord::parse(record).unwrap_or_else(|e| panic!("{record}: {e}"));
    assert_eq!(parsed.to_string(), record, "prints back as written");
    parsed
}

/// Records from RFC 7208: sections 5.1 to 5.7, 6.1, 6.2, 7.4 and appendix A.
const RFC_RECORDS: &[&str] = &[
    "v=spf1 +all",
    "v=spf1 a -all",
    "v=spf1 a:example.org -all",
    "v=spf1 mx -all",
    "v=spf1 mx:example.org -all",
    "v=spf1 mx mx:example.org -all",
    "v=spf1 mx/30 -all",
    "v=spf1 mx/30 mx:example.org/30 -all",
    "v=spf1 ptr -all",
    "v=spf1 ip4:192.0.2.128/28 -all",
    "v=spf1 include:example.com include:example.net -all",
    "v=spf1 redirect=example.org",
    "v=spf1 mx:example.com -all",
    "v=spf1 -include:foo.example.com",
    "v=spf1 a/24 mx a:offsite.example.com -all",
    "v=spf1 ip4:192.0.2.1 ip4:192.0.2.129 -all",
    "v=spf1 ip6:2001:db8::cd30 -all",
    "v=spf1 a:mail.example.com -all",
    "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
    "v=spf1 mx -all exp=explain._spf.%{d}",
    "v=spf1 -ip4:192.0.2.0/24 a//96 +all",
    "v=spf1 mx:mail.example.com ip4:192.0.2.0/24 -all",
    "v=spf1 -exists:%{ir}.sbl.example.org",
    "v=spf1 include:%{ir}.%{v}._spf.%{d2}",
    "v=spf1 exists:%{lr-}.lp._spf.%{d2}",
    "v=spf1 exists:%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
    "v=spf1 exists:%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
    "v=spf1 exists:%{d2}.trusted-domains.example.net",
    "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all",
];

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
        parses(r);
    }
}

#[test]
fn the_rfc_examples_parse_and_print_back() {
    for r in RFC_RECORDS {
        let record = parses(r);
        for term in record.terms() {
            let canonical = term.to_string();
            assert_eq!(&Term::parse(&canonical).unwrap(), term, "{r}: {canonical}");
        }
    }
}

/// What the grammar of RFC 7208 allows, including forms a looser parser
/// refuses.
#[test]
fn the_grammar_accepts() {
    for r in [
        // 7.1: ':' and '/' are macro-literals; the domain ends in a top label.
        "v=spf1 a:foo:bar/baz.example.com -all",
        "v=spf1 mx:foo:bar/baz.example.com/24 -all",
        // toplabel: digits with a '-' inside, a trailing dot.
        "v=spf1 a:abc.123-4 a:example.com. -all",
        // domain-end may be a macro-expand, including the escapes.
        "v=spf1 include:%{d} exists:_spf.%{d}%- exists:%{i}.x.%%",
        // Macro letters in any case, transformers, delimiters.
        "v=spf1 exists:%{IR}.%{L2R-+,/_=}.%{v}.%{h}.%{p}.%{o}.%{s}.example.com",
        "v=spf1 exists:%{d01}.example.com",
        // Escapes in the literal part.
        "v=spf1 exists:x%%y%_z%-w.example.com",
        // Prefix lengths at the ends of their ranges.
        "v=spf1 ip4:0.0.0.0/0 ip4:255.255.255.255/32 ip6:::/0 ip6:::1/128 a/0//0 mx//128",
        // RFC 4291 forms: compressed, embedded IPv4, upper case.
        "v=spf1 ip6:::ffff:192.0.2.1 ip6:2001:DB8:0:0:8:800:200C:417A/64 -all",
        // Unknown modifiers: any name, a macro-string value (may be empty,
        // may use c, r and t), repeated.
        "v=spf1 -all foo= foo=bar x-y_z.w=%{c}%{r}%{t} default=+",
        // Names are case-insensitive; qualifiers on every mechanism.
        "v=spf1 +A ?MX ~PTR -EXISTS:%{i}.example.com REDIRECT=example.org",
    ] {
        parses(r);
    }
}

/// What the grammar refuses: each error names the term, says what is wrong
/// and cites the section.
#[test]
fn the_grammar_refuses() {
    for (r, needle) in [
        ("v=spf2 -all", "v=spf1"),
        ("v=spf10 -all", "v=spf1"),
        ("v=spf1 include -all", "include needs a domain"),
        ("v=spf1 include: -all", "the domain is empty"),
        ("v=spf1 exists -all", "exists needs a domain"),
        // 7.1 domain-end: a dot and a top label, or a macro.
        ("v=spf1 a:museum", "ends neither in a dot and a top label"),
        ("v=spf1 a:museum.", "ends neither in a dot and a top label"),
        ("v=spf1 a:example.com:8080", "\"com:8080\", which is not a top label"),
        ("v=spf1 a:abc.123", "\"123\", which is not a top label"),
        ("v=spf1 a:abc.-4", "not a top label"),
        ("v=spf1 a:abc.4-", "not a top label"),
        ("v=spf1 include:a.example/24", "not a top label"),
        ("v=spf1 exists:%{i}.", "ends neither in a dot"),
        ("v=spf1 redirect=example", "ends neither in a dot and a top label"),
        ("v=spf1 -all exp=", "the domain is empty"),
        // 7.1 macro-string.
        ("v=spf1 exists:%(ir).example.com", "'%' starts a macro"),
        ("v=spf1 exists:%", "'%' starts a macro"),
        ("v=spf1 exists:50%.example.com", "'%' starts a macro"),
        ("v=spf1 exists:%{ir.example.com", "that no } closes"),
        ("v=spf1 exists:%{x}.example.com", "is not a macro"),
        ("v=spf1 exists:%{}.example.com", "is not a macro"),
        ("v=spf1 exists:%{d0}.example.com", "MUST be nonzero"),
        ("v=spf1 exists:%{d2rx}.example.com", "only digits, r and the delimiters"),
        ("v=spf1 exists:%{d:}.example.com", "only digits, r and the delimiters"),
        ("v=spf1 -all foo=%z", "'%' starts a macro"),
        ("v=spf1 a:ex\u{e9}.com", "only visible ASCII"),
        ("v=spf1 a\t-all", "not an SPF mechanism"),
        // 7.2: c, r, t only in explanation text.
        ("v=spf1 exists:%{c}.example.com", "RFC 7208 7.2"),
        ("v=spf1 include:%{r}.example.com", "RFC 7208 7.2"),
        ("v=spf1 a:%{t}.example.com", "RFC 7208 7.2"),
        // 5.6 networks and prefix lengths.
        ("v=spf1 ip4:300.1.1.1 -all", "not an IPv4 address"),
        ("v=spf1 ip4:01.2.3.4", "not an IPv4 address"),
        ("v=spf1 ip4:1.2.3", "not an IPv4 address"),
        ("v=spf1 ip4:2001:db8::1", "not an IPv4 address"),
        ("v=spf1 ip4", "ip4 needs an IPv4 address"),
        ("v=spf1 ip4:1.2.3.4/032", "leading zero"),
        ("v=spf1 ip4:1.2.3.4/00", "leading zero"),
        ("v=spf1 ip4:192.0.2.0/33", "out of range 0-32"),
        ("v=spf1 ip4:1.2.3.4/", "not a number"),
        ("v=spf1 ip4:1.2.3.4//24", "not a number"),
        ("v=spf1 ip6:nothex::1", "not an IPv6 address"),
        ("v=spf1 ip6:1.2.3.4", "not an IPv6 address"),
        ("v=spf1 ip6:fe80::1%eth0", "not an IPv6 address"),
        ("v=spf1 ip6:::1/129", "out of range 0-128"),
        ("v=spf1 ip6:::1/0128", "leading zero"),
        ("v=spf1 a/33", "out of range 0-32"),
        ("v=spf1 a/024", "leading zero"),
        ("v=spf1 mx//129", "out of range 0-128"),
        ("v=spf1 mx:example.com//064", "leading zero"),
        ("v=spf1 a:example.com/24//", "not a top label"),
        ("v=spf1 mxexample.com", "not an SPF mechanism"),
        ("v=spf1 a24", "not an SPF mechanism"),
        ("v=spf1 a-24", "not an SPF mechanism"),
        // 5.1 all, 5.5 ptr.
        ("v=spf1 all/24", "all takes no argument"),
        ("v=spf1 all:example.com", "all takes no argument"),
        ("v=spf1 ptr/24", "ptr needs a domain"),
        // 4.6.1 and 6 modifiers.
        ("v=spf1 foo:bar", "not an SPF mechanism"),
        ("v=spf1 -redirect=x.example", "takes no qualifier"),
        ("v=spf1 1foo=bar", "not a modifier name"),
        ("v=spf1 =bar", "not a modifier name"),
        (
            "v=spf1 redirect=a.example redirect=b.example",
            "redirect= appears 2 times",
        ),
        ("v=spf1 -all exp=a.example EXP=b.example", "exp= appears 2 times"),
    ] {
        let err = SpfRecord::parse(r).expect_err(r).to_string();
        assert!(err.starts_with("spf: "), "{err}");
        assert!(err.contains(needle), "{r}: {err}");
        assert!(err.contains("RFC 7208"), "{r}: {err}");
    }
}

#[test]
fn domain_specs_are_found_behind_the_cidr_lengths() {
    let spec = |term: &str| match Term::parse(term).unwrap() {
        Term::Directive { mechanism, .. } => mechanism.domain_spec().map(str::to_owned),
        Term::Modifier { .. } => panic!("{term}"),
    };
    assert_eq!(spec("a:example.com/24//64").as_deref(), Some("example.com"));
    assert_eq!(
        spec("mx:foo:bar/baz.example.com").as_deref(),
        Some("foo:bar/baz.example.com")
    );
    assert_eq!(spec("ptr:example.com").as_deref(), Some("example.com"));
    assert_eq!(spec("include:_spf.example.com").as_deref(), Some("_spf.example.com"));
    assert_eq!(spec("a/24"), None);
    assert_eq!(spec("ip4:192.0.2.1"), None);
}

#[test]
fn lookups_are_counted_per_rfc_7208() {
    let r = parses("v=spf1 a mx ptr include:a.example exists:b.example ip4:192.0.2.1 redirect=c.example");
    assert_eq!(r.lookups(), 6);
}

/// RFC 7208 4.6.2: evaluation stops at `all`; 6.1: `redirect` is ignored
/// when the record has an `all`, and is evaluated after every mechanism.
#[test]
fn lookups_are_counted_in_evaluation_order() {
    let after_all: Vec<String> = (0..11).map(|i| format!("include:s{i}.example")).collect();
    let r = parses(&format!("v=spf1 ip4:192.0.2.1 -all {}", after_all.join(" ")));
    assert_eq!(r.lookups(), 0, "nothing after all is evaluated");
    assert!(
        r.warnings().iter().any(|w| w.contains("never evaluated")),
        "{:?}",
        r.warnings()
    );
    assert!(!r.warnings().iter().any(|w| w.contains("DNS lookups")));

    let r = parses("v=spf1 a redirect=x.example -all");
    assert_eq!(r.lookups(), 1, "redirect is ignored next to all");
    assert_eq!(r.unreached(), [&Term::parse("redirect=x.example").unwrap()]);

    let r = parses("v=spf1 redirect=x.example a mx");
    let order: Vec<String> = r.evaluation_order().iter().map(|t| t.to_string()).collect();
    assert_eq!(order, ["a", "mx", "redirect=x.example"], "redirect comes last");
    assert_eq!(r.lookups(), 3);
    assert!(r.unreached().is_empty());
    assert!(r.reaches(&Term::parse("MX").unwrap()));
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
fn an_include_after_all_is_moved_before_it() {
    let m = merge(&txt(&["v=spf1 mx -all include:sendgrid.net"]), &include("sendgrid.net")).unwrap();
    assert_eq!(m.record, "v=spf1 mx include:sendgrid.net -all");
    assert!(m.changed);
    assert!(
        m.warnings.iter().any(|w| w.contains("moved before all")),
        "{:?}",
        m.warnings
    );
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
        &txt(&["v=spf1 mx -all", "v=spf1 include:spf.protection.outlook.com -all"]),
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
    assert!(
        !m.warnings.iter().any(|w| w.contains("end differently")),
        "{:?}",
        m.warnings
    );
}

#[test]
fn merging_records_that_end_differently_says_so() {
    let m = merge(&txt(&["v=spf1 -all", "v=spf1 +all"]), &include("sendgrid.net")).unwrap();
    assert_eq!(m.record, "v=spf1 include:sendgrid.net -all");
    assert!(
        m.warnings
            .iter()
            .any(|w| w.contains("end differently (-all, +all)") && w.contains("keeps the first one's (-all)")),
        "{:?}",
        m.warnings
    );

    let m = merge(
        &txt(&["v=spf1 mx redirect=_spf.example.com", "v=spf1 a ~all exp=x.example.com"]),
        &include("sendgrid.net"),
    )
    .unwrap();
    assert_eq!(m.record, "v=spf1 mx a include:sendgrid.net redirect=_spf.example.com");
    assert!(
        m.warnings
            .iter()
            .any(|w| w.contains("(redirect=_spf.example.com, ~all)")),
        "{:?}",
        m.warnings
    );
    assert!(
        m.warnings
            .iter()
            .any(|w| w.contains("drops the other records' modifiers: exp=x.example.com")),
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

// ---------------------------------------------------------------------------
// Properties.

/// A domain-spec by the grammar: literal labels and macros, ending in a top
/// label or a macro.
fn arb_domain_spec() -> impl Strategy<Value = String> {
    let macro_expand = (
        prop::sample::select(vec!['s', 'l', 'o', 'd', 'i', 'p', 'h', 'v', 'D', 'I']),
        prop::option::of(1u8..=20),
        any::<bool>(),
        "[-.+,/_=]{0,2}",
    )
        .prop_map(|(letter, digits, reverse, delimiters)| {
            let digits = digits.map(|d| d.to_string()).unwrap_or_default();
            let r = if reverse { "r" } else { "" };
            format!("%{{{letter}{digits}{r}{delimiters}}}")
        });
    let label = prop_oneof![
        4 => "[a-z0-9_][a-z0-9-]{0,6}",
        1 => macro_expand.clone(),
        1 => prop::sample::select(vec!["%%", "%_", "%-", "x:y", "a/b"]).prop_map(str::to_owned),
    ];
    let end = prop_oneof![
        3 => ("[a-z][a-z0-9]{0,5}", any::<bool>()).prop_map(|(t, dot)| format!(".{t}{}", if dot { "." } else { "" })),
        1 => "[0-9]{1,3}-[a-z0-9]{1,3}".prop_map(|t| format!(".{t}")),
        1 => macro_expand,
    ];
    (prop::collection::vec(label, 0..4), end).prop_map(|(labels, end)| format!("{}{end}", labels.join(".")))
}

fn arb_cidr4() -> impl Strategy<Value = String> {
    prop::option::of(0u8..=32).prop_map(|l| l.map(|l| format!("/{l}")).unwrap_or_default())
}

fn arb_dual_cidr() -> impl Strategy<Value = String> {
    (arb_cidr4(), prop::option::of(0u8..=128))
        .prop_map(|(v4, v6)| format!("{v4}{}", v6.map(|l| format!("//{l}")).unwrap_or_default()))
}

fn arb_mechanism() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("all".to_owned()),
        arb_domain_spec().prop_map(|d| format!("include:{d}")),
        arb_domain_spec().prop_map(|d| format!("exists:{d}")),
        (
            prop::sample::select(vec!["a", "mx", "A", "Mx"]),
            prop::option::of(arb_domain_spec()),
            arb_dual_cidr()
        )
            .prop_map(|(m, d, c)| format!("{m}{}{c}", d.map(|d| format!(":{d}")).unwrap_or_default())),
        prop::option::of(arb_domain_spec())
            .prop_map(|d| format!("ptr{}", d.map(|d| format!(":{d}")).unwrap_or_default())),
        (any::<std::net::Ipv4Addr>(), arb_cidr4()).prop_map(|(a, c)| format!("ip4:{a}{c}")),
        (any::<std::net::Ipv6Addr>(), prop::option::of(0u8..=128))
            .prop_map(|(a, l)| format!("ip6:{a}{}", l.map(|l| format!("/{l}")).unwrap_or_default())),
    ]
}

fn arb_directive() -> impl Strategy<Value = String> {
    (prop::sample::select(vec!["", "+", "-", "~", "?"]), arb_mechanism()).prop_map(|(q, m)| format!("{q}{m}"))
}

/// A valid record: directives, at most one redirect and one exp, unknown
/// modifiers anywhere.
fn arb_record() -> impl Strategy<Value = String> {
    let unknown = ("[a-zA-Z][a-zA-Z0-9._-]{0,6}", "[!-$&-~]{0,8}")
        .prop_filter("not a known modifier", |(n, _)| {
            !n.eq_ignore_ascii_case("redirect") && !n.eq_ignore_ascii_case("exp")
        })
        .prop_map(|(n, v)| format!("{n}={v}"));
    let term = prop_oneof![6 => arb_directive(), 1 => unknown];
    (
        prop::collection::vec((term, 1usize..3), 0..10),
        prop::option::of(arb_domain_spec()),
        prop::option::of(arb_domain_spec()),
        0usize..2,
    )
        .prop_map(|(terms, redirect, exp, tail)| {
            let mut text = String::from("v=spf1");
            let modifiers = redirect
                .map(|d| format!("redirect={d}"))
                .into_iter()
                .chain(exp.map(|d| format!("exp={d}")));
            for (t, spaces) in terms.into_iter().chain(modifiers.map(|m| (m, 1))) {
                text.push_str(&" ".repeat(spaces));
                text.push_str(&t);
            }
            text.push_str(&" ".repeat(tail));
            text
        })
}

proptest! {
    #[test]
    fn generated_records_round_trip(text in arb_record()) {
        let parsed = SpfRecord::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed.to_string(), &text);
        let again = SpfRecord::parse(&parsed.to_string()).unwrap();
        prop_assert_eq!(&again, &parsed);
        for term in parsed.terms() {
            // The canonical form (what merge writes) means the same term.
            prop_assert_eq!(&Term::parse(&term.to_string()).unwrap(), term);
        }
    }

    #[test]
    fn parsing_never_panics_and_what_parses_prints_back(text in "v=spf1( [ -~]{0,12}){0,6}") {
        if let Ok(parsed) = SpfRecord::parse(&text) {
            prop_assert_eq!(&parsed.to_string(), &text);
            prop_assert_eq!(SpfRecord::parse(&text).unwrap(), parsed.clone());
            for term in parsed.terms() {
                prop_assert_eq!(&Term::parse(&term.to_string()).unwrap(), term);
            }
            let _ = parsed.warnings();
            let _ = parsed.lookups();
        }
    }

    #[test]
    fn terms_from_any_characters_never_panic(text in "[-+~?]?[a-zA-Z0-9]{0,7}[:=/]?[ -~\u{80}-\u{10ffff}]{0,30}") {
        if let Ok(term) = Term::parse(&text) {
            prop_assert_eq!(&Term::parse(&term.to_string()).unwrap(), &term);
            if let Term::Directive { mechanism, .. } = &term {
                let _ = mechanism.domain_spec();
            }
        }
    }

    #[test]
    fn merge_always_gives_one_record_with_the_include(text in arb_record()) {
        let m = merge(std::slice::from_ref(&text), &include("sendgrid.net")).unwrap();
        let merged = SpfRecord::parse(&m.record).unwrap();
        prop_assert!(merged.reaches(&include("sendgrid.net")), "{}", m.record);
        let merged_again = merge(std::slice::from_ref(&m.record), &include("sendgrid.net")).unwrap();
        prop_assert!(!merged_again.changed, "merging twice changes nothing");
    }

    #[test]
    fn merging_two_records_gives_one_valid_record(a in arb_record(), b in arb_record()) {
        let m = merge(&[a, b], &include("sendgrid.net")).unwrap();
        let merged = SpfRecord::parse(&m.record).unwrap();
        prop_assert!(merged.reaches(&include("sendgrid.net")), "{}", m.record);
        prop_assert!(m.changed);
    }
}
