//! TLS for the check: a certificate verifier that checks as Postfix does
//! and remembers the server's certificate (so a failure can say what the
//! certificate is), and reading the details a report shows.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::names::{CertNames, NameRule};
use super::Failure;
use crate::peer_text::sanitize;

/// What the report shows about the TLS session and the certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// `TLSv1.3`, ...
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// The certificate's subject.
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
    /// The names the certificate is valid for (DNS and IP SANs).
    pub names: Vec<String>,
    /// Expiry, `YYYY-MM-DD HH:MM:SS UTC`.
    pub not_after: String,
    /// Days until expiry (negative once expired).
    pub days_left: i64,
}

/// Verifies the server's certificate as Postfix (OpenSSL) would for the
/// TLS policy smarthost writes, or not at all when the check is off, and
/// keeps the end-entity certificate for the report either way.
///
/// - A self-signed certificate that is itself among the trust anchors
///   (pinned in `smtp_tls_CAfile`) is accepted once its validity period,
///   purpose and names pass: OpenSSL takes it as its own trust anchor,
///   while webpki refuses it (`CaUsedAsEndEntity` when it is a CA).
/// - Otherwise webpki checks the chain; the names are then checked with
///   Postfix's rule ([`NameRule`]), not webpki's (which knows no
///   CommonName and no `dot-nexthop`).
/// - A refusal leaves its diagnosis in `verdict`.
#[derive(Debug)]
pub(crate) struct Recording {
    /// The chain verifier; `None` when the check is off or nothing is
    /// trusted.
    inner: Option<Arc<WebPkiServerVerifier>>,
    check: bool,
    roots: Vec<CertificateDer<'static>>,
    rule: NameRule,
    provider: Arc<rustls::crypto::CryptoProvider>,
    pub(crate) seen: Mutex<Option<CertificateDer<'static>>>,
    /// Why the certificate was refused.
    pub(crate) verdict: Mutex<Option<Failure>>,
    /// How it was accepted.
    pub(crate) accepted: Mutex<Option<Accepted>>,
}

/// How a certificate passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// It chains to a trust anchor.
    Chain,
    /// It is itself a trust anchor (self-signed, pinned).
    Pinned,
}

impl Recording {
    pub(crate) fn new(
        roots: Vec<CertificateDer<'static>>,
        check: bool,
        rule: NameRule,
    ) -> Result<Arc<Recording>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(roots.iter().cloned());
        let inner = if check && !store.is_empty() {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        Ok(Arc::new(Recording {
            inner,
            check,
            roots,
            rule,
            provider,
            seen: Mutex::new(None),
            verdict: Mutex::new(None),
            accepted: Mutex::new(None),
        }))
    }

    fn refuse(&self, failure: Failure) -> Result<ServerCertVerified, rustls::Error> {
        *self.verdict.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure);
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn accept(&self, how: Accepted) -> Result<ServerCertVerified, rustls::Error> {
        *self.accepted.lock().unwrap_or_else(|e| e.into_inner()) = Some(how);
        Ok(ServerCertVerified::assertion())
    }

    /// A pinned self-signed certificate: what OpenSSL still checks of a
    /// trust anchor that is the server's certificate.
    fn verify_pinned(&self, cert: &X509Certificate<'_>, now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let validity = cert.validity();
        if now > validity.not_after.timestamp() {
            return self.refuse(Failure::CertificateExpired(format_utc(validity.not_after.timestamp())));
        }
        if now < validity.not_before.timestamp() {
            return self.refuse(Failure::CertificateNotYetValid);
        }
        if !for_servers(cert) {
            return self.refuse(Failure::CertificateWrongPurpose);
        }
        let names = CertNames::of(cert);
        if !self.rule.matches(&names) {
            return self.refuse(Failure::CertificateWrongName(names.shown()));
        }
        self.accept(Accepted::Pinned)
    }
}

/// OpenSSL's `sslserver` purpose for the server's certificate: an extended
/// key usage, when present, allows TLS servers; a key usage, when present,
/// allows a TLS key exchange or signature.
fn for_servers(cert: &X509Certificate<'_>) -> bool {
    let eku_ok = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku.value.server_auth || eku.value.any,
        Ok(None) => true,
        Err(_) => false,
    };
    let ku_ok = match cert.key_usage() {
        Ok(Some(ku)) => ku.value.digital_signature() || ku.value.key_encipherment() || ku.value.key_agreement(),
        Ok(None) => true,
        Err(_) => false,
    };
    eku_ok && ku_ok
}

/// The diagnosis of a chain that webpki refused.
fn diagnose(error: &CertificateError, cert: &X509Certificate<'_>) -> Failure {
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    match error {
        CertificateError::Expired => Failure::CertificateExpired(format_utc(cert.validity().not_after.timestamp())),
        CertificateError::ExpiredContext { not_after, .. } => {
            Failure::CertificateExpired(format_utc(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX)))
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => Failure::CertificateNotYetValid,
        CertificateError::UnknownIssuer if self_issued => Failure::CertificateSelfSigned,
        CertificateError::UnknownIssuer => Failure::CertificateUntrusted,
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            Failure::CertificateWrongPurpose
        }
        // webpki's CaUsedAsEndEntity (and any other refusal of a CA
        // certificate in the server's place).
        CertificateError::Other(_) if cert.is_ca() && self_issued => Failure::CertificateSelfSigned,
        CertificateError::Other(_) if cert.is_ca() => Failure::CertificateIsCa,
        // A CA of the issuer's name is trusted, but another key signed the
        // certificate (another CA of the same name): untrusted, as for
        // OpenSSL ("certificate signature failure").
        CertificateError::BadSignature => Failure::CertificateUntrusted,
        CertificateError::BadEncoding => Failure::Certificate("the certificate is malformed".into()),
        CertificateError::Revoked => Failure::Certificate("the certificate is revoked".into()),
        CertificateError::UnhandledCriticalExtension => {
            Failure::Certificate("the certificate has a critical extension this check does not know".into())
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            Failure::Certificate("the certificate is signed with an algorithm this check does not support".into())
        }
        other => Failure::Certificate(other.to_string()),
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.clone().into_owned());
        if !self.check {
            return Ok(ServerCertVerified::assertion());
        }
        let Ok((_, cert)) = X509Certificate::from_der(end_entity.as_ref()) else {
            return self.refuse(Failure::Certificate("the certificate cannot be parsed".into()));
        };
        let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
        let pinned = self.roots.iter().any(|r| r.as_ref() == end_entity.as_ref());
        if pinned && self_issued {
            return self.verify_pinned(&cert, now);
        }
        let Some(inner) = &self.inner else {
            // Nothing is trusted.
            return self.refuse(if self_issued {
                Failure::CertificateSelfSigned
            } else {
                Failure::CertificateUntrusted
            });
        };
        // webpki checks the chain, then the name: a name error means the
        // chain passed.
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Ok(_)
            | Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => {
                let names = CertNames::of(&cert);
                if self.rule.matches(&names) {
                    self.accept(Accepted::Chain)
                } else {
                    self.refuse(Failure::CertificateWrongName(names.shown()))
                }
            }
            Err(rustls::Error::InvalidCertificate(e)) => self.refuse(diagnose(&e, &cert)),
            Err(other) => Err(other),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Subject, issuer, names and expiry of a DER certificate.
/// The most certificate names a report lists.
const MAX_NAMES: usize = 100;

pub(crate) fn describe(der: &[u8]) -> TlsInfo {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return TlsInfo {
            subject: "(unreadable certificate)".into(),
            ..TlsInfo::default()
        };
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) => names.push(match ip.len() {
                    4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(ip);
                        std::net::Ipv6Addr::from(a).to_string()
                    }
                    _ => format!("{ip:?}"),
                }),
                _ => {}
            }
        }
    }
    let not_after = cert.validity().not_after.timestamp();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // The certificate is the server's text: shown escaped and capped.
    let more = names.len().saturating_sub(MAX_NAMES);
    let mut names: Vec<String> = names.iter().take(MAX_NAMES).map(|n| sanitize(n)).collect();
    if more > 0 {
        names.push(format!("… [{more} more names]"));
    }
    TlsInfo {
        subject: sanitize(&cert.subject().to_string()),
        issuer: sanitize(&cert.issuer().to_string()),
        names,
        not_after: format_utc(not_after),
        days_left: (not_after - now).div_euclid(86_400),
        ..TlsInfo::default()
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (proleptic Gregorian).
pub(crate) fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::format_utc(1_795_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(super::format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
