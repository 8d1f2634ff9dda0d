//! Every SmarterMail name this backend uses, with its source.
//!
//! SmarterMail's web API is documented on each server (Settings > API
//! Documentation) but not in public material for gateways. What public
//! sources settle is marked *verified*; the rest is the most likely form,
//! marked **UNVERIFIED**, and each is one line to correct here. Every write
//! is read back and compared, so a wrong field name shows up as an error
//! naming the field instead of a silent no-op. See
//! `docs/backends/smartermail.md`.

use serde::{Deserialize, Serialize};

/// Verified: `POST` with `{"username","password"}`, returns `accessToken`
/// (public WHMCS module SmarterMailApi.php; SolidCP SmarterMail100 provider).
pub const AUTHENTICATE: &str = "api/v1/auth/authenticate-user";

/// UNVERIFIED: the list of outgoing gateways (`GET`), `{"gateways": [...]}`.
pub const GATEWAYS: &str = "api/v1/settings/sysadmin/gateways";

/// UNVERIFIED: creates a gateway (`POST`, `{"gateway": {...}}`), after the
/// API's `domain-put` naming for creation.
pub const GATEWAY_PUT: &str = "api/v1/settings/sysadmin/gateway-put";

/// UNVERIFIED: updates a gateway (`POST`, `{"gateway": {...}}`).
pub fn gateway(id: &str) -> String {
    format!("api/v1/settings/sysadmin/gateway/{id}")
}

/// UNVERIFIED: deletes a gateway (`POST`), after `domain-delete`.
pub fn gateway_delete(id: &str) -> String {
    format!("api/v1/settings/sysadmin/gateway-delete/{id}")
}

/// Verified: a domain's settings, `GET` and `POST` with
/// `{"domainSettings": {...}}` (public WHMCS and SolidCP clients).
pub fn domain_settings(domain: &str) -> String {
    format!("api/v1/settings/sysadmin/domain-settings/{domain}")
}

/// UNVERIFIED: the domain setting that selects a "Specific Domains" gateway.
pub const DOMAIN_GATEWAY_FIELD: &str = "outgoingGatewayId";

/// Gateway modes. Verified as UI names ("Round Robin", "Specific Domains",
/// SmarterTools KB a3624); UNVERIFIED as API values.
pub const MODE_ALL_DOMAINS: &str = "RoundRobin";
/// See [`MODE_ALL_DOMAINS`].
pub const MODE_SPECIFIC_DOMAINS: &str = "SpecificDomains";

/// Encryption values. Verified as UI choices (None, TLS, SSL); UNVERIFIED
/// as API values.
pub const ENCRYPTION_NONE: &str = "None";
/// STARTTLS.
pub const ENCRYPTION_TLS: &str = "TLS";
/// Implicit TLS.
pub const ENCRYPTION_SSL: &str = "SSL";

/// How smarthost recognises its own gateways: their description starts so.
pub const MANAGED_PREFIX: &str = "smarthost: ";

/// An outgoing gateway as the API carries it. Field names UNVERIFIED
/// (camelCase, as every verified SmarterMail API field is).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    /// The server's identifier; empty before creation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Free text; smarthost's gateways start with [`MANAGED_PREFIX`].
    #[serde(default)]
    pub description: String,
    /// Server address (host name or IP).
    #[serde(default)]
    pub address: String,
    /// Port.
    #[serde(default)]
    pub port: u16,
    /// [`ENCRYPTION_NONE`], [`ENCRYPTION_TLS`] or [`ENCRYPTION_SSL`].
    #[serde(default)]
    pub encryption: String,
    /// Status.
    #[serde(default)]
    pub is_enabled: bool,
    /// [`MODE_ALL_DOMAINS`] or [`MODE_SPECIFIC_DOMAINS`].
    #[serde(default)]
    pub mode: String,
    /// Whether the gateway authenticates.
    #[serde(default)]
    pub use_authentication: bool,
    /// SMTP user name.
    #[serde(default)]
    pub username: String,
    /// SMTP password; never shown by this crate.
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("id", &self.id)
            .field("description", &self.description)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("encryption", &self.encryption)
            .field("mode", &self.mode)
            .field("username", &self.username)
            .field("password", &smarthost_core::REDACTED)
            .finish()
    }
}

/// JSON pointer of the password in a `{"gateway": ...}` body.
pub const PASSWORD_POINTER: &str = "/gateway/password";

/// What a created gateway's id is called in a plan until the server
/// assigns it (smarthost's own notation; never sent as an id).
pub(crate) fn placeholder(description: &str) -> String {
    format!("{{new:{description}}}")
}
