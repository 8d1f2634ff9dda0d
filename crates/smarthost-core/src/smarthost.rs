//! [`Smarthost`]: a relay with its encryption and optional credentials.

use serde::Serialize;

use crate::credentials::Credentials;
use crate::encryption::Encryption;
use crate::relay::RelayHost;

/// The most backup relays one smarthost may list.
pub const MAX_BACKUPS: usize = 8;

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
    /// Relays tried in this order when the ones before them cannot be
    /// reached, with the same encryption and credentials. What "cannot be
    /// reached" means is the backend's (Postfix: a failed connection or a
    /// greeting that is not 2xx, not a refusal of the message itself).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backups: Vec<RelayHost>,
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
            backups: Vec::new(),
        }
    }

    /// The same smarthost with these backup relays (see
    /// [`Smarthost::backups`]). A backup equal to the relay or to an
    /// earlier backup is an error naming the field `backup`.
    pub fn with_backups(mut self, backups: Vec<RelayHost>) -> Result<Self, crate::Error> {
        for (i, backup) in backups.iter().enumerate() {
            if *backup == self.relay || backups[..i].contains(backup) {
                return Err(crate::Error::invalid(
                    "backup",
                    backup.to_string(),
                    "is listed twice (as the relay or as another backup)",
                ));
            }
        }
        if backups.len() > MAX_BACKUPS {
            return Err(crate::Error::invalid(
                "backup",
                format!("{} relays", backups.len()),
                format!("has more than {MAX_BACKUPS} backup relays"),
            ));
        }
        self.backups = backups;
        Ok(self)
    }

    /// The relay, then its backups, in the order they are tried.
    pub fn relays(&self) -> impl Iterator<Item = &RelayHost> {
        std::iter::once(&self.relay).chain(&self.backups)
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
