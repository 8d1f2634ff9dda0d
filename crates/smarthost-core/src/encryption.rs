//! [`Encryption`]: how the connection to the relay is protected.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the connection to a relay is encrypted. Each backend maps this to its
/// own setting in exactly one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// Plain SMTP; TLS is used if the relay offers it but is not required
    /// (Postfix `may`). Credentials may cross the network in clear text: only
    /// for relays on a trusted network.
    #[serde(alias = "may")]
    None,
    /// Plain connection upgraded with STARTTLS, required (panels call it
    /// "TLS"; usually port 587). A relay that does not offer STARTTLS fails.
    #[serde(alias = "tls")]
    Starttls,
    /// TLS from the first byte (panels call it "SSL"; usually port 465).
    #[serde(alias = "ssl", alias = "implicit_tls")]
    ImplicitTls,
}

impl Encryption {
    /// What to use when the user gives none: implicit TLS on port 465,
    /// STARTTLS everywhere else. Relays today all offer one of the two.
    pub fn default_for_port(port: u16) -> Self {
        if port == 465 {
            Encryption::ImplicitTls
        } else {
            Encryption::Starttls
        }
    }

    /// Whether the connection must be encrypted.
    pub fn is_required(self) -> bool {
        !matches!(self, Encryption::None)
    }
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encryption::None => "none",
            Encryption::Starttls => "starttls",
            Encryption::ImplicitTls => "implicit-tls",
        })
    }
}
