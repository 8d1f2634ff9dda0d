//! The check trusts what Postfix trusts and matches names as the written
//! TLS policy will: a private CA from `smtp_tls_CAfile`, a hashed
//! `smtp_tls_CApath`, a self-signed relay certificate pinned in the CA file,
//! CommonName-only certificates, relays given by address. Local servers on
//! 127.0.0.1 only. The cases mirror what Postfix 3.7.11 with OpenSSL 3.0
//! did on the wire (docs/check.md, "Trust: what Postfix trusts").

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use smarthost_core::check::{check, CheckOptions, CheckReport, Failure, NameCheck, PostfixTrust, StepName};
use smarthost_core::{Encryption, RelayHost, Smarthost};
use test_support::certs::{openssl_self_signed, params, self_signed, Cert, TestCa};
use test_support::smtp::{Options, Server};

fn serve(cert: Cert) -> Server {
    Server::start(Options {
        cert: Some(Arc::new(cert)),
        ..Options::default()
    })
}

fn relay(host: &str, port: u16) -> Smarthost {
    Smarthost::new(RelayHost::parse(&format!("[{host}]:{port}")).unwrap()).with_encryption(Encryption::Starttls)
}

/// Options with Postfix's trust from these settings.
fn postfix(trust: &PostfixTrust) -> CheckOptions {
    CheckOptions {
        step_timeout: Duration::from_millis(2000),
        roots: Some(trust.load().unwrap()),
        trust_source: Some(trust.describe()),
        ..CheckOptions::default()
    }
}

fn ca_file(dir: &Path, name: &str, pems: &[&str]) -> PostfixTrust {
    let path = dir.join(name);
    std::fs::write(&path, pems.concat()).unwrap();
    PostfixTrust {
        ca_file: Some(path),
        ..PostfixTrust::default()
    }
}

fn failed(report: &CheckReport) -> (StepName, Failure, String) {
    assert!(!report.ok, "{report:#?}");
    let step = report.failed_step().expect("a failed step");
    (step.name, step.failure.clone().unwrap(), step.advice.clone().unwrap())
}

#[tokio::test]
async fn a_private_ca_in_smtp_tls_ca_file_is_trusted_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::named("private relay CA");
    let (cert, _) = ca.sign(params(&["localhost"], "relay"));
    let server = serve(cert);
    let smarthost = relay("localhost", server.port());

    let trusted = ca_file(dir.path(), "relay-ca.pem", &[&ca.pem()]);
    let report = check(&smarthost, &postfix(&trusted)).await;
    assert!(report.ok, "{report:#?}");
    let trust = report.trust.as_deref().unwrap();
    assert!(
        trust.contains("chain to smtp_tls_CAfile")
            && trust.contains("relay-ca.pem")
            && trust.contains("secure match=localhost"),
        "{trust}"
    );
    assert!(report
        .steps
        .iter()
        .any(|s| s.detail.contains("verified: chain to smtp_tls_CAfile")));

    // Another CA in the file: the relay is not trusted, and the advice
    // names the file.
    let other = ca_file(dir.path(), "other-ca.pem", &[&TestCa::named("another CA").pem()]);
    let (step, failure, advice) = failed(&check(&smarthost, &postfix(&other)).await);
    assert_eq!((step, failure), (StepName::Starttls, Failure::CertificateUntrusted));
    assert!(advice.contains("other-ca.pem"), "{advice}");
    assert!(advice.contains("add the relay's CA to smtp_tls_CAfile"), "{advice}");

    // Neither smtp_tls_CAfile nor smtp_tls_CApath: Postfix trusts nothing,
    // tls_append_default_CA notwithstanding.
    let nothing = PostfixTrust {
        append_default_ca: true,
        ..PostfixTrust::default()
    };
    let (_, failure, advice) = failed(&check(&smarthost, &postfix(&nothing)).await);
    assert_eq!(failure, Failure::CertificateUntrusted);
    assert!(
        advice.contains("smtp_tls_CAfile and smtp_tls_CApath are empty"),
        "{advice}"
    );
}

#[tokio::test]
async fn a_hashed_ca_path_is_trusted_an_unhashed_file_in_it_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::named("path CA");
    let (cert, _) = ca.sign(params(&["localhost"], "relay"));
    let server = serve(cert);
    let smarthost = relay("localhost", server.port());

    let hashed = dir.path().join("hashed");
    std::fs::create_dir(&hashed).unwrap();
    // The name OpenSSL looks up is the subject hash; any hash-shaped name
    // is read here, as the test cannot compute OpenSSL's hash.
    std::fs::write(hashed.join("0a1b2c3d.0"), ca.pem()).unwrap();
    let trust = PostfixTrust {
        ca_path: Some(hashed),
        ..PostfixTrust::default()
    };
    let report = check(&smarthost, &postfix(&trust)).await;
    assert!(report.ok, "{report:#?}");
    assert!(report.trust.unwrap().contains("smtp_tls_CApath"));

    let unhashed = dir.path().join("unhashed");
    std::fs::create_dir(&unhashed).unwrap();
    std::fs::write(unhashed.join("relay-ca.pem"), ca.pem()).unwrap();
    let trust = PostfixTrust {
        ca_path: Some(unhashed),
        ..PostfixTrust::default()
    };
    let (_, failure, _) = failed(&check(&smarthost, &postfix(&trust)).await);
    assert_eq!(failure, Failure::CertificateUntrusted);
}

#[tokio::test]
async fn a_self_signed_certificate_pinned_in_the_ca_file_passes() {
    let dir = tempfile::tempdir().unwrap();
    // CA:TRUE and a CommonName only, as `openssl req -x509 -subj
    // /CN=localhost` makes it: webpki alone says CaUsedAsEndEntity.
    let (cert, pem) = openssl_self_signed("localhost");
    let server = serve(cert);
    let smarthost = relay("localhost", server.port());

    let pinned = ca_file(dir.path(), "pinned.pem", &[&TestCa::named("unrelated CA").pem(), &pem]);
    let report = check(&smarthost, &postfix(&pinned)).await;
    assert!(report.ok, "{report:#?}");
    assert!(report.trust.unwrap().starts_with("pinned"));

    // Not pinned: a diagnosis, not Other(OtherError(CaUsedAsEndEntity)).
    let other = ca_file(dir.path(), "other.pem", &[&TestCa::named("unrelated CA").pem()]);
    let (step, failure, advice) = failed(&check(&smarthost, &postfix(&other)).await);
    assert_eq!((step, failure), (StepName::Starttls, Failure::CertificateSelfSigned));
    assert!(advice.contains("self-signed and not pinned"), "{advice}");
    assert!(advice.contains("other.pem"), "{advice}");

    // Pinned, but for another name: Postfix says "hostname mismatch".
    let (cert, pem) = openssl_self_signed("relay.example");
    let server = serve(cert);
    let pinned = ca_file(dir.path(), "pinned-other.pem", &[&pem]);
    let (_, failure, _) = failed(&check(&relay("localhost", server.port()), &postfix(&pinned)).await);
    assert_eq!(failure, Failure::CertificateWrongName(vec!["CN=relay.example".into()]));
}

#[tokio::test]
async fn a_pinned_certificate_is_still_checked_for_dates_and_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let mut expired = params(&["localhost"], "localhost");
    expired.not_before = rcgen::date_time_ymd(2020, 1, 1);
    expired.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let (cert, pem) = self_signed(expired);
    let server = serve(cert);
    let pinned = ca_file(dir.path(), "expired.pem", &[&pem]);
    let (_, failure, advice) = failed(&check(&relay("localhost", server.port()), &postfix(&pinned)).await);
    assert_eq!(failure, Failure::CertificateExpired("2021-01-01 00:00:00 UTC".into()));
    assert!(advice.starts_with("certificate expired on 2021-01-01"), "{advice}");

    let mut future = params(&["localhost"], "localhost");
    future.not_before = rcgen::date_time_ymd(2090, 1, 1);
    future.not_after = rcgen::date_time_ymd(2091, 1, 1);
    let (cert, pem) = self_signed(future);
    let server = serve(cert);
    let pinned = ca_file(dir.path(), "future.pem", &[&pem]);
    let (_, failure, _) = failed(&check(&relay("localhost", server.port()), &postfix(&pinned)).await);
    assert_eq!(failure, Failure::CertificateNotYetValid);

    let mut client_only = params(&["localhost"], "localhost");
    client_only.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let (cert, pem) = self_signed(client_only);
    let server = serve(cert);
    let pinned = ca_file(dir.path(), "client.pem", &[&pem]);
    let (_, failure, advice) = failed(&check(&relay("localhost", server.port()), &postfix(&pinned)).await);
    assert_eq!(failure, Failure::CertificateWrongPurpose);
    assert!(advice.contains("not for TLS servers"), "{advice}");
}

#[tokio::test]
async fn a_ca_signed_certificate_alone_in_the_ca_file_is_not_trusted() {
    // OpenSSL takes only a self-signed certificate as its own anchor: a
    // leaf without its CA fails ("untrusted issuer"), as measured.
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::named("relay CA");
    let (cert, leaf_pem) = ca.sign(params(&["localhost"], "localhost"));
    let server = serve(cert);
    let only_leaf = ca_file(dir.path(), "leaf.pem", &[&leaf_pem]);
    let (_, failure, _) = failed(&check(&relay("localhost", server.port()), &postfix(&only_leaf)).await);
    assert_eq!(failure, Failure::CertificateUntrusted);
}

#[tokio::test]
async fn names_as_openssl_matches_them() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::named("names CA");
    let trust = ca_file(dir.path(), "ca.pem", &[&ca.pem()]);

    // CommonName only: used because there is no dNSName.
    let (cert, _) = ca.sign(params(&[], "localhost"));
    let server = serve(cert);
    let report = check(&relay("localhost", server.port()), &postfix(&trust)).await;
    assert!(report.ok, "{report:#?}");

    // A dNSName hides the CommonName.
    let (cert, _) = ca.sign(params(&["mx.wrong.test"], "localhost"));
    let server = serve(cert);
    let (step, failure, advice) = failed(&check(&relay("localhost", server.port()), &postfix(&trust)).await);
    assert_eq!(
        (step, failure),
        (
            StepName::Starttls,
            Failure::CertificateWrongName(vec!["mx.wrong.test".into()])
        )
    );
    assert!(
        advice.starts_with(
            "certificate is for mx.wrong.test, not localhost (Postfix's `secure match=localhost` refuses it)"
        ),
        "{advice}"
    );
}

#[tokio::test]
async fn a_relay_given_by_ipv4_address_is_matched_by_the_address_in_its_certificate() {
    // What smarthost writes for an IPv4 relay, `secure match=nexthop`:
    // Postfix 3.7.11 verified a certificate with the address 127.0.0.1
    // and refused one without it (tests/e2e_check.rs in the CLI).
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::named("ip CA");
    let trust = ca_file(dir.path(), "ca.pem", &[&ca.pem()]);
    let mut p = params(&["localhost"], "localhost");
    p.subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let (cert, _) = ca.sign(p);
    let server = serve(cert);
    let report = check(&relay("127.0.0.1", server.port()), &postfix(&trust)).await;
    assert!(report.ok, "{report:#?}");

    let (cert, _) = ca.sign(params(&["localhost"], "localhost"));
    let server = serve(cert);
    let (step, failure, _) = failed(&check(&relay("127.0.0.1", server.port()), &postfix(&trust)).await);
    assert_eq!(step, StepName::Starttls);
    assert!(matches!(failure, Failure::CertificateWrongName(_)), "{failure:?}");
}

#[tokio::test]
async fn a_ca_certificate_presented_as_the_server_s_own() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::named("root CA");
    let mut p = params(&["localhost"], "localhost");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let (cert, _) = ca.sign(p);
    let server = serve(cert);
    let trust = ca_file(dir.path(), "ca.pem", &[&ca.pem()]);
    let (_, failure, advice) = failed(&check(&relay("localhost", server.port()), &postfix(&trust)).await);
    assert_eq!(failure, Failure::CertificateIsCa);
    assert!(advice.contains("CA certificate (CA:TRUE) as its own"), "{advice}");
}

/// Postfix sends no SNI (smtp_tls_servername is empty by default): the
/// check does not either, unless it checks for another mail server.
#[tokio::test]
async fn no_sni_as_postfix() {
    let ca = TestCa::named("sni CA");
    let (cert, _) = ca.sign(params(&["localhost"], "localhost"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = sni_recorder(cert, seen.clone()).await;
    let smarthost = Smarthost::new(RelayHost::parse(&format!("[localhost]:{port}")).unwrap())
        .with_encryption(Encryption::ImplicitTls);
    let options = CheckOptions {
        step_timeout: Duration::from_millis(500),
        roots: Some(vec![pem_der(&ca.pem())]),
        ..CheckOptions::default()
    };
    let _ = check(&smarthost, &options).await;
    let relay_options = CheckOptions {
        names: NameCheck::Relay,
        ..options
    };
    let _ = check(&smarthost, &relay_options).await;
    assert_eq!(*seen.lock().unwrap(), [None, Some("localhost".to_owned())]);
}

fn pem_der(pem: &str) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// An implicit-TLS listener that records each client's SNI and then closes.
async fn sni_recorder(cert: Cert, seen: Arc<Mutex<Vec<Option<String>>>>) -> u16 {
    #[derive(Debug)]
    struct Record {
        key: Arc<rustls::sign::CertifiedKey>,
        seen: Arc<Mutex<Vec<Option<String>>>>,
    }
    impl rustls::server::ResolvesServerCert for Record {
        fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
            self.seen.lock().unwrap().push(hello.server_name().map(str::to_owned));
            Some(self.key.clone())
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = provider.key_provider.load_private_key(cert.1).unwrap();
    let resolver = Record {
        key: Arc::new(rustls::sign::CertifiedKey::new(cert.0, key)),
        seen,
    };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = acceptor.accept(stream).await;
        }
    });
    port
}
