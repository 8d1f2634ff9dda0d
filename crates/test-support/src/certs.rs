//! Test certificates: a CA that signs leaves (also expired ones or ones for
//! another name), and self-signed certificates as `openssl req -x509` makes
//! them.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and its private key, as a TLS server needs them.
pub type Cert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn pair(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Cert {
    (
        vec![cert.der().clone()],
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
}

/// Parameters for a certificate with these DNS names (subjectAltName) and
/// this CommonName.
pub fn params(dns: &[&str], common_name: &str) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    p
}

/// A certificate authority for tests.
pub struct TestCa {
    der: CertificateDer<'static>,
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    /// A CA named "smarthost test CA".
    pub fn new() -> TestCa {
        TestCa::named("smarthost test CA")
    }

    /// A CA with this CommonName (CA:TRUE, may sign certificates and CRLs).
    pub fn named(common_name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA certificate, DER (for a client's root store).
    pub fn der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    /// The CA certificate, PEM (for a CA file such as `smtp_tls_CAfile`).
    pub fn pem(&self) -> String {
        self.pem.clone()
    }

    /// A certificate signed by this CA from `params`, and its PEM.
    pub fn sign(&self, params: rcgen::CertificateParams) -> (Cert, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (pair(&cert, &key), cert.pem())
    }

    /// A server certificate for these DNS names (subjectAltName only).
    pub fn leaf(&self, names: &[&str]) -> Cert {
        let params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        self.sign(params).0
    }

    /// Valid for `localhost` (subjectAltName and CommonName).
    pub fn good(&self) -> Cert {
        self.sign(params(&["localhost"], "localhost")).0
    }

    /// Valid, but for another host (`mx.wrong.test`).
    pub fn wrong_name(&self) -> Cert {
        self.sign(params(&["mx.wrong.test"], "mx.wrong.test")).0
    }

    /// For `localhost`, expired on 2021-01-01.
    pub fn expired(&self) -> Cert {
        let mut p = params(&["localhost"], "localhost");
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.sign(p).0
    }
}

/// A self-signed certificate from `params`, and its PEM.
pub fn self_signed(params: rcgen::CertificateParams) -> (Cert, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (pair(&cert, &key), cert.pem())
}

/// Self-signed for these DNS names, not a CA: what a relay with a
/// certificate nobody issued presents.
pub fn self_signed_leaf(names: &[&str]) -> Cert {
    self_signed(rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap()).0
}

/// Self-signed as `openssl req -x509 -subj /CN=NAME` makes it: CA:TRUE,
/// CommonName only, no subjectAltName. With its PEM.
pub fn openssl_self_signed(common_name: &str) -> (Cert, String) {
    let mut p = params(&[], common_name);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    self_signed(p)
}
