//! The DNS assistant against a DNS server started by the test on 127.0.0.1,
//! serving fixed zones (no other address is ever asked).

use std::net::Ipv4Addr;

use smarthost_core::dns::{DnsChecker, DomainReport, SpfStatus, TxtServer, ZoneRecord, QUERY_BUDGET};
use smarthost_core::{DomainName, Preset, RelayHost, Smarthost};

type Zone = Vec<(String, ZoneRecord)>;

fn add(z: &mut Zone, name: &str, txt: &str) {
    z.push((name.to_owned(), ZoneRecord::Txt(txt.to_owned())));
}

fn add_a(z: &mut Zone, name: &str) {
    z.push((name.to_owned(), ZoneRecord::A(Ipv4Addr::new(192, 0, 2, 10))));
}

fn zone() -> Zone {
    let mut z = Vec::new();
    add(&mut z, "sendgrid.net", "v=spf1 ip4:167.89.0.0/17 -all");
    add(&mut z, "a.example", "v=spf1 mx include:sendgrid.net -all");
    z.push(("a.example".into(), ZoneRecord::Mx(10, "mx.a.example".into())));
    add(&mut z, "_dmarc.a.example", "v=DMARC1; p=reject");
    add(
        &mut z,
        "s1._domainkey.a.example",
        "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC",
    );
    add(&mut z, "b.example", "google-site-verification=abc");
    add(&mut z, "b.example", "v=spf1 include:_spf.b.example ~all");
    add(
        &mut z,
        "_spf.b.example",
        "v=spf1 ip4:192.0.2.1 include:sendgrid.net -all",
    );
    add(&mut z, "d.example", "v=spf1 mx -all");
    add(&mut z, "d.example", "v=spf1 include:spf.protection.outlook.com -all");
    add(&mut z, "spf.protection.outlook.com", "v=spf1 ip4:40.92.0.0/15 -all");
    let includes: Vec<String> = (0..10).map(|i| format!("include:z{i}.example")).collect();
    add(&mut z, "e.example", &format!("v=spf1 {} -all", includes.join(" ")));
    for i in 0..10 {
        add(&mut z, &format!("z{i}.example"), "v=spf1 a -all");
        add_a(&mut z, &format!("z{i}.example"));
    }
    add(&mut z, "_dmarc.smtp2go.example", "v=DMARC1; p=none");

    // An invalid published record (RFC 7208 7.1: no dot before "museum").
    add(&mut z, "invalid.example", "v=spf1 a:museum include:sendgrid.net -all");
    add(&mut z, "_dmarc.invalid.example", "v=DMARC1; p=none");
    // Include and redirect loops.
    add(
        &mut z,
        "loop.example",
        "v=spf1 include:loop2.example include:sendgrid.net -all",
    );
    add(
        &mut z,
        "loop2.example",
        "v=spf1 ip4:192.0.2.9 include:LOOP.example. -all",
    );
    add(&mut z, "self.example", "v=spf1 redirect=self.example");
    // An include of a domain without an SPF record, and one that passes
    // every sender.
    add(
        &mut z,
        "none.example",
        "v=spf1 include:nothing.example include:sendgrid.net -all",
    );
    add(&mut z, "nothing.example", "just some text");
    add(
        &mut z,
        "open.example",
        "v=spf1 include:everyone.example include:sendgrid.net -all",
    );
    add(&mut z, "everyone.example", "v=spf1 +all");
    // Void lookups: three names that do not exist, or two.
    add(
        &mut z,
        "void3.example",
        "v=spf1 a:n1.example mx:n2.example exists:n3.example include:sendgrid.net -all",
    );
    add(
        &mut z,
        "void2.example",
        "v=spf1 a:n1.example mx:n2.example include:sendgrid.net -all",
    );
    // MX record limit: 11 MX records, and 10.
    add(&mut z, "mx11.example", "v=spf1 mx include:sendgrid.net -all");
    add(&mut z, "mx10.example", "v=spf1 mx include:sendgrid.net -all");
    for i in 0..11 {
        z.push(("mx11.example".into(), ZoneRecord::Mx(10, format!("mx{i}.mx11.example"))));
        if i < 10 {
            z.push(("mx10.example".into(), ZoneRecord::Mx(10, format!("mx{i}.mx10.example"))));
        }
    }
    // Evaluation order: lookups after `all` are never made; the relay's
    // include as the 11th lookup is reached only after the limit.
    let after: Vec<String> = (0..11).map(|i| format!("include:z{i}.example")).collect();
    add(
        &mut z,
        "order.example",
        &format!("v=spf1 include:sendgrid.net -all {}", after.join(" ")),
    );
    let hosts: Vec<String> = (0..10).map(|i| format!("a:h{i}.example")).collect();
    add(
        &mut z,
        "late.example",
        &format!("v=spf1 {} include:sendgrid.net -all", hosts.join(" ")),
    );
    for i in 0..10 {
        add_a(&mut z, &format!("h{i}.example"));
    }
    add(
        &mut z,
        "redirect.example",
        "v=spf1 a:h0.example redirect=_spf.b.example ~all",
    );
    add(
        &mut z,
        "macro.example",
        "v=spf1 exists:%{i}._spf.%{d} include:%{d2}.example include:sendgrid.net -all",
    );
    z
}

fn sendgrid() -> Smarthost {
    Preset::resolve("sendgrid").unwrap().smarthost(None)
}

fn domain(d: &str) -> DomainName {
    d.parse().unwrap()
}

/// A checker that asks a fresh test server; the server lives as long as the
/// returned guard.
async fn checker() -> (DnsChecker, TxtServer) {
    serve(&zone())
}

fn serve(zone: &Zone) -> (DnsChecker, TxtServer) {
    let pairs: Vec<(&str, ZoneRecord)> = zone.iter().map(|(n, r)| (n.as_str(), r.clone())).collect();
    let server = TxtServer::start_records(&pairs).unwrap();
    (DnsChecker::with_server(server.addr()).unwrap(), server)
}

async fn check(name: &str) -> DomainReport {
    checker().await.0.check(&domain(name), &sendgrid(), &[]).await.unwrap()
}

fn has(report: &DomainReport, needle: &str) -> bool {
    report.warnings.iter().any(|w| w.contains(needle))
}

#[tokio::test]
async fn an_authorized_domain_with_dmarc_and_dkim() {
    let report = check("a.example").await;
    assert_eq!(report.spf.status, SpfStatus::Authorized);
    assert_eq!(report.spf.publish, None);
    assert_eq!(report.spf.lookups, Some(2), "mx + include:sendgrid.net");
    assert_eq!(report.spf.void_lookups, Some(0));
    assert_eq!(report.spf.permerror, None);
    assert_eq!(report.dmarc.as_deref(), Some("v=DMARC1; p=reject"));
    let dkim: Vec<(&str, bool)> = report.dkim.iter().map(|d| (d.selector.as_str(), d.found)).collect();
    assert_eq!(dkim, [("s1", true), ("s2", false)]);
    assert!(has(&report, "s2._domainkey.a.example"), "{:?}", report.warnings);
}

#[tokio::test]
async fn authorization_through_a_nested_include_is_found() {
    let report = check("b.example").await;
    assert_eq!(report.spf.status, SpfStatus::Authorized, "{report:?}");
    assert_eq!(report.spf.published, ["v=spf1 include:_spf.b.example ~all"]);
    assert_eq!(report.spf.lookups, Some(2));
    assert!(has(&report, "no DMARC record at _dmarc.b.example"));
}

#[tokio::test]
async fn a_domain_without_records_gets_a_record_to_publish() {
    let report = checker()
        .await
        .0
        .check(&domain("c.example"), &sendgrid(), &["k1".to_owned()])
        .await
        .unwrap();
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);
    assert_eq!(report.spf.publish.unwrap().record, "v=spf1 include:sendgrid.net ~all");
    assert!(report.dkim.iter().any(|d| d.selector == "k1" && !d.found));
    assert!(report.dmarc.is_none());
}

#[tokio::test]
async fn two_records_are_merged_and_the_relay_added() {
    let relay = Smarthost::new(RelayHost::parse("[192.0.2.25]:25").unwrap());
    let report = checker()
        .await
        .0
        .check(&domain("d.example"), &relay, &[])
        .await
        .unwrap();
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);
    assert!(report.spf.permerror.clone().unwrap().contains("2 SPF records"));
    let publish = report.spf.publish.clone().unwrap();
    assert_eq!(
        publish.record,
        "v=spf1 mx include:spf.protection.outlook.com ip4:192.0.2.25 -all"
    );
    assert!(has(&report, "2 SPF records"), "{:?}", report.warnings);
    assert!(has(&report, "DKIM not checked"), "{:?}", report.warnings);
}

#[tokio::test]
async fn the_lookup_limit_counts_nested_lookups() {
    let report = check("e.example").await;
    assert_eq!(report.spf.lookups, Some(20), "10 includes, each with one `a`");
    assert!(has(&report, "20 DNS lookups"), "{:?}", report.warnings);
    assert!(has(&report, "11 DNS lookups"), "after the merge: {:?}", report.warnings);
    let permerror = report.spf.permerror.clone().unwrap();
    assert!(
        permerror.contains("include:z5.example in the record of e.example is DNS lookup number 11"),
        "{permerror}"
    );
}

#[tokio::test]
async fn a_provider_that_needs_no_spf_says_so() {
    let smtp2go = Preset::resolve("smtp2go").unwrap().smarthost(None);
    let report = checker()
        .await
        .0
        .check(&domain("smtp2go.example"), &smtp2go, &[])
        .await
        .unwrap();
    assert!(
        matches!(report.spf.status, SpfStatus::NotNeeded(ref why) if why.contains("CNAME")),
        "{report:?}"
    );
    assert!(report.dmarc.is_some());
}

/// An invalid published record is reported, and DMARC and DKIM are still
/// checked.
#[tokio::test]
async fn an_invalid_published_record_does_not_stop_the_report() {
    let report = check("invalid.example").await;
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);
    assert_eq!(report.spf.publish, None, "nothing to merge into");
    let permerror = report.spf.permerror.as_deref().unwrap();
    assert!(
        permerror.contains("a:museum") && permerror.contains("RFC 7208 7.1"),
        "{permerror}"
    );
    assert!(
        has(&report, "the published SPF record is invalid"),
        "{:?}",
        report.warnings
    );
    assert!(
        has(&report, "no record to publish is proposed"),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.dmarc.as_deref(), Some("v=DMARC1; p=none"));
    assert_eq!(report.dkim.len(), 2, "the SendGrid selectors are looked up");
}

#[tokio::test]
async fn include_and_redirect_loops_are_permanent_errors() {
    let report = check("loop.example").await;
    let permerror = report.spf.permerror.as_deref().unwrap();
    assert!(
        permerror.contains("include:LOOP.example. loops back: loop.example -> loop2.example -> loop.example"),
        "{permerror}"
    );
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized, "reached after the loop");
    assert!(has(&report, "only after the permanent error"), "{:?}", report.warnings);
    assert_eq!(report.spf.publish, None, "the include is there: nothing to add");

    let report = check("self.example").await;
    assert!(report
        .spf
        .permerror
        .clone()
        .unwrap()
        .contains("redirect=self.example loops back"));
    assert_eq!(report.spf.lookups, Some(1));
}

/// RFC 7208 5.2: an include of a domain without an SPF record is a
/// permanent error; an include that passes every sender ends evaluation.
#[tokio::test]
async fn includes_without_a_record_or_with_plus_all() {
    let report = check("none.example").await;
    assert!(report
        .spf
        .permerror
        .clone()
        .unwrap()
        .contains("nothing.example publishes no SPF record, which is a permanent error (RFC 7208 5.2)"),);
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);

    let report = check("open.example").await;
    assert!(has(&report, "everyone.example ends in +all"), "{:?}", report.warnings);
    assert_eq!(
        report.spf.status,
        SpfStatus::NotAuthorized,
        "include:sendgrid.net is never reached"
    );
    assert_eq!(report.spf.lookups, Some(1));
}

/// RFC 7208 4.6.4: more than two void lookups is a permanent error.
#[tokio::test]
async fn the_void_lookup_limit() {
    let report = check("void3.example").await;
    assert_eq!(report.spf.void_lookups, Some(3));
    let permerror = report.spf.permerror.clone().unwrap();
    assert!(
        permerror.contains("exists:n3.example") && permerror.contains("third void lookup"),
        "{permerror}"
    );
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);

    let report = check("void2.example").await;
    assert_eq!(report.spf.void_lookups, Some(2));
    assert_eq!(report.spf.permerror, None);
    assert_eq!(report.spf.status, SpfStatus::Authorized);
}

/// RFC 7208 4.6.4: an `mx` with more than 10 MX records is a permanent error.
#[tokio::test]
async fn the_mx_record_limit() {
    let report = check("mx11.example").await;
    assert!(report
        .spf
        .permerror
        .clone()
        .unwrap()
        .contains("mx11.example has 11 MX records"),);
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);
    let report = check("mx10.example").await;
    assert_eq!(report.spf.permerror, None);
    assert_eq!(report.spf.status, SpfStatus::Authorized);
}

/// Terms after `all` are never evaluated (RFC 7208 4.6.2); the relay's
/// include as the 11th lookup is only reached after the limit.
#[tokio::test]
async fn lookups_are_counted_in_evaluation_order() {
    let report = check("order.example").await;
    assert_eq!(report.spf.status, SpfStatus::Authorized);
    assert_eq!(report.spf.lookups, Some(1));
    assert_eq!(report.spf.permerror, None);

    let report = check("late.example").await;
    assert_eq!(report.spf.lookups, Some(11));
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);
    assert!(report
        .spf
        .permerror
        .clone()
        .unwrap()
        .contains("include:sendgrid.net in the record of late.example"));
    assert!(has(&report, "only after the permanent error"), "{:?}", report.warnings);

    // redirect= is ignored next to all (RFC 7208 6.1).
    let report = check("redirect.example").await;
    assert_eq!(report.spf.lookups, Some(1));
    assert_eq!(report.spf.status, SpfStatus::NotAuthorized);
    assert!(has(&report, "never evaluated"), "{:?}", report.warnings);
    assert_eq!(
        report.spf.publish.unwrap().record,
        "v=spf1 a:h0.example redirect=_spf.b.example include:sendgrid.net ~all"
    );
}

#[tokio::test]
async fn macros_are_counted_but_not_followed() {
    let report = check("macro.example").await;
    assert_eq!(report.spf.lookups, Some(3));
    assert_eq!(report.spf.status, SpfStatus::Authorized);
    assert!(
        has(&report, "exists:%{i}._spf.%{d} uses macros"),
        "{:?}",
        report.warnings
    );
}

/// A zone that fans out (every record includes ten others, three levels
/// deep: 1110 names) costs at most the query budget.
#[tokio::test]
async fn a_hostile_zone_costs_at_most_the_query_budget() {
    let mut z = Vec::new();
    let children = |name: &str| -> String {
        let includes: Vec<String> = (0..10).map(|i| format!("include:x{i}.{name}")).collect();
        format!("v=spf1 {} -all", includes.join(" "))
    };
    add(&mut z, "fan.example", &children("fan.example"));
    for i in 0..10 {
        let one = format!("x{i}.fan.example");
        add(&mut z, &one, &children(&one));
        for j in 0..10 {
            let two = format!("x{j}.{one}");
            add(&mut z, &two, &children(&two));
        }
    }
    let (checker, server) = serve(&z);
    let report = checker.check(&domain("fan.example"), &sendgrid(), &[]).await.unwrap();
    // The domain's TXT, DMARC and two DKIM selectors, plus the budget.
    assert!(server.queries() <= QUERY_BUDGET + 4, "{} queries", server.queries());
    assert!(report.spf.lookups.unwrap() > QUERY_BUDGET);
    assert!(
        has(&report, "no further: the counts are lower bounds"),
        "{:?}",
        report.warnings
    );
    assert!(has(&report, "needs at least"), "{:?}", report.warnings);
    let permerror = report.spf.permerror.clone().unwrap();
    assert!(
        permerror.contains("include:x0.x0.x0.fan.example: x0.x0.x0.fan.example publishes no SPF record"),
        "{permerror}"
    );
}
