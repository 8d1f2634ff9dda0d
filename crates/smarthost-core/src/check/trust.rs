//! The trust anchors of Postfix's SMTP client, from its settings.
//!
//! Postfix's `tls_set_ca_certificate_info()` (src/tls/tls_certkey.c)
//! loads `smtp_tls_CAfile` and `smtp_tls_CApath` with
//! `SSL_CTX_load_verify_locations()`, and adds OpenSSL's default paths
//! (the system store) only when one of them is set AND
//! `tls_append_default_CA = yes`. With both empty it loads nothing: the
//! `secure` level then verifies no certificate at all, whatever
//! `tls_append_default_CA` says (measured with Postfix 3.7.11: "untrusted
//! issuer" for a relay signed by a CA of the system store). A CAfile that
//! cannot be loaded disables TLS altogether. A CApath is read lazily by
//! OpenSSL, by subject hash: only files named `HHHHHHHH.N` (what
//! `openssl rehash`/`c_rehash` create) are ever found.

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;

use crate::Error;

/// Postfix's trust settings: `smtp_tls_CAfile`, `smtp_tls_CApath` and
/// `tls_append_default_CA`, as `postconf -h -x` gives them (paths as this
/// process can open them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostfixTrust {
    /// `smtp_tls_CAfile`; `None` when empty.
    pub ca_file: Option<PathBuf>,
    /// `smtp_tls_CApath`; `None` when empty.
    pub ca_path: Option<PathBuf>,
    /// `tls_append_default_CA` (default `no`).
    pub append_default_ca: bool,
}

impl PostfixTrust {
    /// Whether neither `smtp_tls_CAfile` nor `smtp_tls_CApath` is set:
    /// Postfix then trusts no certificate authority at all.
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.ca_path.is_none()
    }

    /// The certificates Postfix trusts: those of the CAfile, those of the
    /// CApath's hashed files, and the system store when
    /// `tls_append_default_CA = yes` and one of the two is set. Empty when
    /// neither is set.
    ///
    /// Errors: a CAfile that cannot be read or holds no certificate (Postfix
    /// then logs "cannot load Certification Authority data" and disables
    /// TLS).
    pub fn load(&self) -> Result<Vec<CertificateDer<'static>>, Error> {
        let mut certs = Vec::new();
        if let Some(file) = &self.ca_file {
            certs.extend(read_pem(file, "smtp_tls_CAfile")?);
            if certs.is_empty() {
                return Err(Error::invalid(
                    "smtp_tls_CAfile",
                    file.display().to_string(),
                    "holds no PEM certificate: Postfix cannot load it and disables TLS",
                ));
            }
        }
        if let Some(dir) = &self.ca_path {
            certs.extend(read_hashed_dir(dir));
        }
        if self.append_default_ca && !self.is_empty() {
            certs.extend(rustls_native_certs::load_native_certs().certs);
        }
        Ok(certs)
    }

    /// The settings in words, for the report and the advice:
    /// `smtp_tls_CAfile /etc/postfix/relay-ca.pem`, ...
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(file) = &self.ca_file {
            parts.push(format!("smtp_tls_CAfile {}", file.display()));
        }
        if let Some(dir) = &self.ca_path {
            parts.push(format!("smtp_tls_CApath {}", dir.display()));
        }
        if parts.is_empty() {
            return "no CA (smtp_tls_CAfile and smtp_tls_CApath are empty)".to_owned();
        }
        if self.append_default_ca {
            parts.push("the system store (tls_append_default_CA = yes)".to_owned());
        }
        parts.join(" + ")
    }
}

/// Every PEM certificate of a file.
pub(crate) fn read_pem(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    use rustls::pki_types::pem::PemObject;
    let read = |e: rustls::pki_types::pem::Error| Error::Read {
        field: field.into(),
        path: path.to_owned(),
        source: match e {
            rustls::pki_types::pem::Error::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        },
    };
    CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)
}

/// Whether a file name is an OpenSSL subject hash link: 8 hex digits, a
/// dot, a number (`.rN` names hold CRLs).
fn is_hash_name(name: &str) -> bool {
    match name.split_once('.') {
        Some((hash, n)) => {
            hash.len() == 8
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The certificates of a CApath: the files OpenSSL can find by hash. An
/// unreadable directory or file contributes nothing, as for OpenSSL.
fn read_hashed_dir(dir: &Path) -> Vec<CertificateDer<'static>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_hash_name))
        .map(|e| e.path())
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|p| read_pem(p, "smtp_tls_CApath").ok())
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_names() {
        assert!(is_hash_name("0a4b67e5.0"));
        assert!(is_hash_name("0A4B67E5.12"));
        assert!(!is_hash_name("0a4b67e5.r0"));
        assert!(!is_hash_name("ca.pem"));
        assert!(!is_hash_name("0a4b67e5"));
        assert!(!is_hash_name("0a4b67e.0"));
    }

    #[test]
    fn nothing_set_trusts_nothing_even_with_append() {
        let t = PostfixTrust {
            append_default_ca: true,
            ..PostfixTrust::default()
        };
        assert!(t.is_empty());
        assert!(t.load().unwrap().is_empty());
        assert!(t.describe().starts_with("no CA"));
    }

    #[test]
    fn an_unreadable_or_empty_ca_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = PostfixTrust {
            ca_file: Some(dir.path().join("missing.pem")),
            ..PostfixTrust::default()
        };
        assert!(missing.load().is_err());
        std::fs::write(dir.path().join("empty.pem"), "no certificate here\n").unwrap();
        let empty = PostfixTrust {
            ca_file: Some(dir.path().join("empty.pem")),
            ..PostfixTrust::default()
        };
        let e = empty.load().unwrap_err().to_string();
        assert!(e.contains("disables TLS"), "{e}");
    }
}
