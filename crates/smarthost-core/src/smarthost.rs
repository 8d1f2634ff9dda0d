//! [`Smarthost`]: a relay with its encryption and optional credentials.

use serde::Serialize;

use crate::credentials::Credentials;
use crate::encryption::Encryption;
use crate::relay::RelayHost;

/// One smarthost: where to relay, how to encrypt, and how to authenticate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Smarthost {
    /// The relay host and port.
    pub relay: RelayHost,
    /// How the connection is encrypted.
    pub encryption: Encryption,
    /// SMTP AUTH credentials, if the relay needs them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
}

impl Smarthost {
    /// A smarthost with the encryption that suits its port
    /// ([`Encryption::default_for_port`]) and no credentials.
    pub fn new(relay: RelayHost) -> Self {
        let encryption = Encryption::default_for_port(relay.port());
        Smarthost {
            relay,
            encryption,
            credentials: None,
        }
    }

    /// The same smarthost with these credentials.
    #[must_use]
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The same smarthost with this encryption.
    #[must_use]
    pub fn with_encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = encryption;
        self
    }

    /// Problems worth a warning that are not errors: credentials sent
    /// without required encryption, implicit TLS on a port other than 465,
    /// STARTTLS on 465.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let port = self.relay.port();
        if self.credentials.is_some() && self.encryption == Encryption::None {
            out.push(format!(
                "{}: credentials are used without required encryption; the password may cross the network in clear text",
                self.relay
            ));
        }
        if self.encryption == Encryption::Starttls && port == 465 {
            out.push(format!(
                "{}: port 465 usually expects TLS immediately; consider encryption = \"implicit-tls\"",
                self.relay
            ));
        }
        if self.encryption == Encryption::ImplicitTls && port != 465 {
            out.push(format!(
                "{}: implicit TLS is usually offered on port 465, not {port}",
                self.relay
            ));
        }
        out
    }
}
