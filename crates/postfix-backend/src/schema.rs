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
/// The system CA bundle of Debian and Ubuntu, for `smtp_tls_CAfile` when it
/// is empty; the first of [`CA_BUNDLES`].
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where each family of distributions keeps its CA bundle, in the order they
/// are looked for: Debian/Ubuntu (ca-certificates), RHEL/Alma/Rocky/Fedora
/// (ca-certificates, `update-ca-trust`), SUSE (ca-certificates), Alpine and
/// the BSDs.
pub const CA_BUNDLES: &[&str] = &[
    SYSTEM_CA_FILE,
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Lookup table of sender domain → relay (`sender_dependent_relayhost_maps`).
pub const SENDER_RELAY_MAP: &str = "sender_relay";
/// Lookup table of credentials (`smtp_sasl_password_maps`), mode 0600.
pub const SECRETS_MAP: &str = "relay_secrets";
/// Lookup table of TLS policy per nexthop (`smtp_tls_policy_maps`).
pub const TLS_POLICY_MAP: &str = "tls_policy";
/// Lookup table of transport per sender (`sender_dependent_default_transport_maps`).
pub const SENDER_TRANSPORT_MAP: &str = "sender_transport";

/// The tables this backend owns, each with whether it holds secrets.
pub const TABLES: [(&str, bool); 4] = [
    (SENDER_RELAY_MAP, false),
    (SECRETS_MAP, true),
    (TLS_POLICY_MAP, false),
    (SENDER_TRANSPORT_MAP, false),
];

/// The master.cf service that speaks implicit TLS (port 465).
pub const TLS_WRAPPER_SERVICE: &str = "smarthost-tls";
/// The master.cf service for a domain without credentials whose relay is
/// also the server-wide one: without it, Postfix would fall back from the
/// missing `@domain` key to the relay's key and log in with the server's
/// account (SASL_README, "sender-dependent authentication": sender,
/// `@domain`, then next hop).
pub const NOAUTH_SERVICE: &str = "smarthost-noauth";
/// The same for implicit TLS.
pub const TLS_NOAUTH_SERVICE: &str = "smarthost-tls-noauth";
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
/// `smtp_tls_CApath`: an admin's CA folder; when set, smtp_tls_CAfile is not
/// filled in.
pub const TLS_CA_PATH: &str = "smtp_tls_CApath";
/// `smtp_sasl_mechanism_filter`: read only (doctor), never written.
pub const SASL_MECHANISM_FILTER: &str = "smtp_sasl_mechanism_filter";
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

/// List-valued parameters that smarthost shares with the administrator: its
/// table comes first, the administrator's tables stay after it (Postfix
/// uses the first table that has the key).
pub const COMPOSED: &[&str] = &[TLS_POLICY_MAPS, SASL_PASSWORD_MAPS];

/// Parameters that only carry relay settings: a hand-made value is a
/// manual smarthost, which smarthost takes over (and does not put back on
/// disable).
pub const TAKEN_OVER: &[&str] = &[RELAYHOST, SENDER_RELAY_MAPS, SENDER_TRANSPORT_MAPS];

/// The master.cf entry of a smarthost service: [`TLS_WRAPPER_SERVICE`],
/// [`NOAUTH_SERVICE`] or [`TLS_NOAUTH_SERVICE`] (`-o smtp_sasl_auth_enable=no`
/// turns SASL off for that transport; master(5), postconf(5)).
pub fn service_entry(service: &str) -> String {
    let mut entry = format!("{service} unix  -       -       n       -       -       smtp\n");
    if service == TLS_WRAPPER_SERVICE || service == TLS_NOAUTH_SERVICE {
        entry.push_str("  -o smtp_tls_wrappermode=yes\n  -o smtp_tls_security_level=encrypt\n");
    }
    if service == NOAUTH_SERVICE || service == TLS_NOAUTH_SERVICE {
        entry.push_str("  -o smtp_sasl_auth_enable=no\n");
    }
    entry
}

/// Every master.cf service smarthost may add.
pub const SERVICES: &[&str] = &[TLS_WRAPPER_SERVICE, NOAUTH_SERVICE, TLS_NOAUTH_SERVICE];

/// `maillog_file`: the file Postfix's own logger (postlogd) writes, when
/// set (Postfix 3.4 and later); read only, to follow mail.
pub const MAILLOG_FILE: &str = "maillog_file";
/// `syslog_name`: the prefix of an instance's log lines (`postfix/smtp`);
/// read only.
pub const SYSLOG_NAME: &str = "syslog_name";
/// `sendmail_path`: the instance's sendmail, which test messages are
/// submitted with; read only.
pub const SENDMAIL_PATH: &str = "sendmail_path";
/// `mail_version`: the installed Postfix's version, asked with `postconf
/// -d` (which reads no main.cf).
pub const MAIL_VERSION: &str = "mail_version";

/// Where syslog writes mail when Postfix's `maillog_file` is not set, in
/// the order they are looked for: Debian, Ubuntu and SUSE (rsyslog's
/// `mail.*` rule), then RHEL and its kin.
pub const SYSTEM_MAIL_LOGS: &[&str] = &["/var/log/mail.log", "/var/log/maillog"];
/// journald's socket: when it exists and no log file does, the log is read
/// with `journalctl` (facility mail).
pub const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";
