//! [`Credentials`] and the [`Secret`] password they hold.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::text::{reject_control, reject_separators};

/// What a secret prints as, everywhere.
pub const REDACTED: &str = "<redacted>";

/// A password or API key. Its `Debug`, `Display` and `Serialize` print
/// [`REDACTED`]; the memory is zeroed when it is dropped. The only way to the
/// value is [`Secret::expose`], meant for the code that writes it into the
/// mail server's configuration.
///
/// Clones share one copy (the domains of one account: one password in
/// memory), zeroed when the last is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    /// Validates a secret: not empty, no line break, CR, NUL or other
    /// control character, no leading or trailing whitespace (lookup tables
    /// strip it). The error never contains the value.
    pub fn new(value: String) -> Result<Self, Error> {
        let value = Zeroizing::new(value);
        let reason = match reject_control("password", &value) {
            Err(Error::Invalid { reason, .. }) => Some(reason),
            Err(_) => Some("is not valid".to_owned()),
            Ok(()) if value.is_empty() => Some("is empty".to_owned()),
            Ok(()) if value.trim() != value.as_str() => {
                Some("starts or ends with whitespace, which lookup tables strip".to_owned())
            }
            Ok(()) => None,
        };
        match reason {
            Some(reason) => Err(Error::InvalidSecret {
                field: "password".into(),
                reason,
            }),
            None => Ok(Secret(Arc::new(value))),
        }
    }

    /// The secret itself. Call this only to write it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// A validated SMTP AUTH user name.
///
/// Rejected: empty, longer than 256 bytes, whitespace, control characters,
/// `#`, `,`, `=` (they break configuration files) and `:` (Postfix splits
/// `user:password` at the first colon).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Validates a user name; errors name the field `username`.
    pub fn new(value: &str) -> Result<Self, Error> {
        const FIELD: &str = "username";
        reject_separators(FIELD, value)?;
        if value.is_empty() {
            return Err(Error::invalid(FIELD, value, "is empty"));
        }
        if value.contains(':') {
            return Err(Error::invalid(
                FIELD,
                value,
                "contains ':', which Postfix uses to separate the user name from the password",
            ));
        }
        if value.len() > 256 {
            return Err(Error::invalid(FIELD, value, "is longer than 256 bytes"));
        }
        Ok(Username(value.to_owned()))
    }

    /// The user name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SMTP AUTH credentials: a user name and a [`Secret`] password.
///
/// `Debug` and `Serialize` show the user name and [`REDACTED`] for the password.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    username: Username,
    password: Secret,
}

impl Credentials {
    /// Pairs a validated user name with a validated password.
    pub fn new(username: Username, password: Secret) -> Self {
        Credentials { username, password }
    }

    /// The user name.
    pub fn username(&self) -> &Username {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &Secret {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username.as_str())
            .field("password", &self.password)
            .finish()
    }
}
