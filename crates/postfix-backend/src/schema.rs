//! Every Postfix name this backend reads or writes, with its source.
//!
//! Sources: postconf(5) (<https://www.postfix.org/postconf.5.html>),
//! SASL_README "Configuring Sender-Dependent SASL authentication",
//! TLS_README "TLS policy table", master(5). See `docs/backends/postfix.md`.

/// Postfix's default configuration folder.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/postfix";
/// main.cf, in the configuration folder.
pub const MAIN_CF: &str = "main.cf";
/// master.cf, in the configuration folder.
pub const MASTER_CF: &str = "master.cf";
/// Default folder of the lookup tables: the layout hosting panels (Plesk)
/// already use, so a server taken over keeps its paths.
pub const DEFAULT_MAP_DIR: &str = "/var/spool/postfix/plesk";
/// The system CA bundle, for `smtp_tls_CAfile` when it is empty (Debian).
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Lookup table of sender domain → relay (`sender_dependent_relayhost_maps`).
pub const SENDER_RELAY_MAP: &str = "sender_relay";
/// Lookup table of credentials (`smtp_sasl_password_maps`), mode 0600.
pub const SECRETS_MAP: &str = "relay_secrets";
/// Lookup table of TLS policy per nexthop (`smtp_tls_policy_maps`).
pub const TLS_POLICY_MAP: &str = "tls_policy";
/// Lookup table of transport per sender (`sender_dependent_default_transport_maps`).
pub const SENDER_TRANSPORT_MAP: &str = "sender_transport";

/// The master.cf service that speaks implicit TLS (port 465).
pub const TLS_WRAPPER_SERVICE: &str = "smarthost-tls";
/// The standard smtp client transport.
pub const SMTP_TRANSPORT: &str = "smtp";

/// `relayhost`: the server-wide nexthop.
pub const RELAYHOST: &str = "relayhost";
/// `smtp_sasl_auth_enable`.
pub const SASL_AUTH_ENABLE: &str = "smtp_sasl_auth_enable";
/// `smtp_sasl_password_maps`.
pub const SASL_PASSWORD_MAPS: &str = "smtp_sasl_password_maps";
/// `smtp_sasl_security_options`; the default `noplaintext, noanonymous`
/// refuses PLAIN and LOGIN, which most relays offer alone.
pub const SASL_SECURITY_OPTIONS: &str = "smtp_sasl_security_options";
/// `smtp_sasl_tls_security_options`, used once TLS is up.
pub const SASL_TLS_SECURITY_OPTIONS: &str = "smtp_sasl_tls_security_options";
/// `smtp_sender_dependent_authentication`: look credentials up by sender.
pub const SENDER_DEPENDENT_AUTH: &str = "smtp_sender_dependent_authentication";
/// `sender_dependent_relayhost_maps`.
pub const SENDER_RELAY_MAPS: &str = "sender_dependent_relayhost_maps";
/// `sender_dependent_default_transport_maps`.
pub const SENDER_TRANSPORT_MAPS: &str = "sender_dependent_default_transport_maps";
/// `default_transport`.
pub const DEFAULT_TRANSPORT: &str = "default_transport";
/// `smtp_tls_policy_maps`.
pub const TLS_POLICY_MAPS: &str = "smtp_tls_policy_maps";
/// `smtp_tls_CAfile`.
pub const TLS_CA_FILE: &str = "smtp_tls_CAfile";
/// `smtp_tls_security_level`: read only to warn; never written.
pub const TLS_SECURITY_LEVEL: &str = "smtp_tls_security_level";

/// Every main.cf parameter this backend owns, in the order it appends them.
/// `smtp_tls_CAfile` is not owned: it is only filled in when empty.
pub const MANAGED: &[&str] = &[
    RELAYHOST,
    DEFAULT_TRANSPORT,
    SASL_AUTH_ENABLE,
    SASL_PASSWORD_MAPS,
    SASL_SECURITY_OPTIONS,
    SASL_TLS_SECURITY_OPTIONS,
    SENDER_DEPENDENT_AUTH,
    SENDER_RELAY_MAPS,
    SENDER_TRANSPORT_MAPS,
    TLS_POLICY_MAPS,
];

/// The master.cf entry of [`TLS_WRAPPER_SERVICE`] (TLS_README, "Client-side
/// TLS wrappermode"; verified on Postfix 3.7, see shared notes).
pub fn tls_wrapper_entry() -> String {
    format!(
        "{TLS_WRAPPER_SERVICE} unix  -       -       n       -       -       smtp\n  -o smtp_tls_wrappermode=yes\n  -o smtp_tls_security_level=encrypt\n"
    )
}
