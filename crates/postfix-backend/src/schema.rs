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

/// Lookup table of recipient domain → transport and relay (`transport_maps`):
/// the recipient routes (transport(5)).
pub const RECIPIENT_ROUTES_MAP: &str = "recipient_routes";
/// Lookup table of credentials keyed by nexthop only, mode 0600: the
/// private `smtp_sasl_password_maps` of [`NEXTHOP_SERVICE`], so that a
/// recipient route or the bounce relay logs in with its own account and
/// never with a sender's (SASL_README).
pub const NEXTHOP_SECRETS_MAP: &str = "nexthop_secrets";

/// The tables this backend owns, each with whether it holds secrets.
pub const TABLES: [(&str, bool); 6] = [
    (SENDER_RELAY_MAP, false),
    (SECRETS_MAP, true),
    (TLS_POLICY_MAP, false),
    (SENDER_TRANSPORT_MAP, false),
    (RECIPIENT_ROUTES_MAP, false),
    (NEXTHOP_SECRETS_MAP, true),
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
/// The master.cf service of recipient routes and of the bounce relay: the
/// smtp client with sender-dependent authentication off and its own
/// credentials table keyed by nexthop ([`NEXTHOP_SECRETS_MAP`]), or SASL
/// off when no such route has credentials.
pub const NEXTHOP_SERVICE: &str = "smarthost-nexthop";
/// The same for implicit TLS (port 465).
pub const NEXTHOP_TLS_SERVICE: &str = "smarthost-nexthop-tls";
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
/// `default_transport`. In direct mode (a server-wide relay and something
/// delivered directly) it carries the server relay as its nexthop
/// (`smtp:[relay]:587`) and `relayhost` stays empty: postconf(5) takes the
/// nexthop from sender_dependent_default_transport_maps first, and that
/// table cannot express "no relay" while relayhost is set.
pub const DEFAULT_TRANSPORT: &str = "default_transport";
/// `transport_maps`: recipient routes; shared with the administrator's
/// own tables (ours first).
pub const TRANSPORT_MAPS: &str = "transport_maps";
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
    TRANSPORT_MAPS,
];

/// List-valued parameters that smarthost shares with the administrator: its
/// table comes first, the administrator's tables stay after it (Postfix
/// uses the first table that has the key).
pub const COMPOSED: &[&str] = &[TLS_POLICY_MAPS, SASL_PASSWORD_MAPS, TRANSPORT_MAPS];

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

/// The master.cf entry of [`NEXTHOP_SERVICE`] or [`NEXTHOP_TLS_SERVICE`]:
/// sender-dependent authentication off, and either the nexthop-keyed
/// credentials table `secrets` (`type:/dir/nexthop_secrets`) or, when no
/// route has credentials, SASL off (a service must not name a table that
/// does not exist).
pub fn nexthop_service_entry(service: &str, secrets: Option<&str>) -> String {
    let mut entry = format!("{service} unix  -       -       n       -       -       smtp\n");
    if service == NEXTHOP_TLS_SERVICE {
        entry.push_str("  -o smtp_tls_wrappermode=yes\n  -o smtp_tls_security_level=encrypt\n");
    }
    entry.push_str("  -o smtp_sender_dependent_authentication=no\n");
    match secrets {
        Some(table) => entry.push_str(&format!(
            "  -o smtp_sasl_auth_enable=yes\n  -o smtp_sasl_password_maps={table}\n  -o smtp_sasl_security_options=noanonymous\n  -o smtp_sasl_tls_security_options=noanonymous\n"
        )),
        None => entry.push_str("  -o smtp_sasl_auth_enable=no\n"),
    }
    entry
}

/// Every master.cf service smarthost may add.
pub const SERVICES: &[&str] = &[
    TLS_WRAPPER_SERVICE,
    NOAUTH_SERVICE,
    TLS_NOAUTH_SERVICE,
    NEXTHOP_SERVICE,
    NEXTHOP_TLS_SERVICE,
];

/// `mail_version`'s first release that accepts a list of destinations in
/// relayhost and in a transport's nexthop (postconf(5), relayhost:
/// "Multiple destinations are supported in Postfix 3.5 and later").
pub const BACKUPS_SINCE: (u32, u32) = (3, 5);

/// `virtual_alias_maps`: read only, to find forwarding that leaves the server.
pub const VIRTUAL_ALIAS_MAPS: &str = "virtual_alias_maps";
/// `alias_maps`: read only, to find forwarding that leaves the server.
pub const ALIAS_MAPS: &str = "alias_maps";
/// `sender_canonical_maps`: read only, to see whether SRS rewrites senders.
pub const SENDER_CANONICAL_MAPS: &str = "sender_canonical_maps";
/// The parameters whose domains this server hosts (read only): mail to them
/// is not forwarded out.
pub const HOSTED_DOMAIN_PARAMS: &[&str] = &[
    "mydestination",
    "virtual_alias_domains",
    "virtual_mailbox_domains",
    "relay_domains",
];

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
