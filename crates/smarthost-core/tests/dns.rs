//! The DNS assistant against a DNS server started by the test on 127.0.0.1,
//! serving fixed zones (no other address is ever asked).
#![cfg(feature = "dns")]

use smarthost_core::dns::{DnsChecker, SpfStatus, TxtServer};
use smarthost_core::{DomainName, Preset, RelayHost, Smarthost};

fn zone() -> Vec<(String, String)> {
    let mut z = Vec::new();
    let mut add = |name: &str, txt: &str| z.push((name.to_owned(), txt.to_owned()));
    add("sendgrid.net", "v=spf1 ip4:167.89.0.0/17 -all");
    add("a.example", "v=spf1 mx include:sendgrid.net -all");
    add("_dmarc.a.example", "v=DMARC1; p=reject");
    add(
        "s1._domainkey.a.example",
        "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC",
    );
    add("b.example", "google-site-verification=abc");
    add("b.example", "v=spf1 include:_spf.b.example ~all");
    add("_spf.b.example", "v=spf1 ip4:192.0.2.1 include:sendgrid.net -all");
    add("d.example", "v=spf1 mx -all");
    add("d.example", "v=spf1 include:spf.protection.outlook.com -all");
    add("spf.protection.outlook.com", "v=spf1 ip4:40.92.0.0/15 -all");
    let includes: Vec<String> = (0..10).map(|i| format!("include:z{i}.example")).collect();
    add("e.example", &format!("v=spf1 {} -all", includes.join(" ")));
    for i in 0..10 {
        add(&format!("z{i}.example"), "v=spf1 a -all");
    }
    add("_dmarc.smtp2go.example", "v=DMARC1; p=none");
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
    let zone = zone();
    let pairs: Vec<(&str, &str)> = zone.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let server = TxtServer::start(&pairs).unwrap();
    (DnsChecker::with_server(server.addr()).unwrap(), server)
}

#[tokio::test]
async fn an_authorized_domain_with_dmarc_and_dkim() {
    let report = checker()
        .await
        .0
        .check(&domain("a.example"), &sendgrid(), &[])
        .await
        .unwrap();
    assert_eq!(report.spf.status, SpfStatus::Authorized);
    assert_eq!(report.spf.publish, None);
    assert_eq!(report.spf.lookups, Some(2), "mx + include:sendgrid.net");
    assert_eq!(report.dmarc.as_deref(), Some("v=DMARC1; p=reject"));
    let dkim: Vec<(&str, bool)> = report.dkim.iter().map(|d| (d.selector.as_str(), d.found)).collect();
    assert_eq!(dkim, [("s1", true), ("s2", false)]);
    assert!(
        report.warnings.iter().any(|w| w.contains("s2._domainkey.a.example")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn authorization_through_a_nested_include_is_found() {
    let report = checker()
        .await
        .0
        .check(&domain("b.example"), &sendgrid(), &[])
        .await
        .unwrap();
    assert_eq!(report.spf.status, SpfStatus::Authorized, "{report:?}");
    assert_eq!(report.spf.published, ["v=spf1 include:_spf.b.example ~all"]);
    assert_eq!(report.spf.lookups, Some(2));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("no DMARC record at _dmarc.b.example")));
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
    let publish = report.spf.publish.unwrap();
    assert_eq!(
        publish.record,
        "v=spf1 mx include:spf.protection.outlook.com ip4:192.0.2.25 -all"
    );
    assert!(
        report.warnings.iter().any(|w| w.contains("2 SPF records")),
        "{:?}",
        report.warnings
    );
    assert!(
        report.warnings.iter().any(|w| w.contains("DKIM not checked")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn the_lookup_limit_counts_nested_lookups() {
    let report = checker()
        .await
        .0
        .check(&domain("e.example"), &sendgrid(), &[])
        .await
        .unwrap();
    assert_eq!(report.spf.lookups, Some(20), "10 includes, each with one `a`");
    assert!(
        report.warnings.iter().any(|w| w.contains("20 DNS lookups")),
        "{:?}",
        report.warnings
    );
    assert!(
        report.warnings.iter().any(|w| w.contains("11 DNS lookups")),
        "after the merge: {:?}",
        report.warnings
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
