//! Every MailEnable name this backend uses, with its source.
//!
//! MailEnable publishes no specification of its registry values. What its
//! documentation settles is marked *verified*; the rest is the most likely
//! form, marked **UNVERIFIED**, each in exactly one place here. The
//! UNVERIFIED value names are only the fallback of [`crate::Names::builtin`]:
//! on a live registry the backend writes names that `learn` found on the
//! server (or that the server already has), never these guesses. See
//! `docs/backends/mailenable.md`.
//!
//! Domain level has no built-in location: no public source describes
//! outbound routing by sender domain in MailEnable, so domain-level smart
//! hosts are written only where `learn` found them in the administrator's
//! own export ([`crate::names::DomainNames`]).

/// Verified (MailEnable guides; KB): the SMTP connector's settings, below
/// HKLM in the 32-bit view (MailEnable is a 32-bit program).
pub const SMTP_KEY: &str = r"SOFTWARE\Mail Enable\Mail Enable\Connectors\SMTP";

/// The same key as a 64-bit program sees it without KEY_WOW64_32KEY, and as
/// `.reg` files name it.
pub const SMTP_KEY_WOW64: &str = r"SOFTWARE\WOW6432Node\Mail Enable\Mail Enable\Connectors\SMTP";

/// The hive.
pub const HKLM: &str = "HKEY_LOCAL_MACHINE";

/// UNVERIFIED: "Smart host enabled" (REG_DWORD 0/1).
pub const ENABLED: &str = "SmartHostEnabled";
/// UNVERIFIED: the smart host's address (REG_SZ).
pub const HOST: &str = "SmartHost";
/// UNVERIFIED: the port (REG_DWORD).
pub const PORT: &str = "SmartHostPort";
/// UNVERIFIED: "Smart host requires authentication" (REG_DWORD 0/1).
pub const AUTH: &str = "SmartHostAuthentication";
/// UNVERIFIED: the user name (REG_SZ).
pub const USERNAME: &str = "SmartHostUsername";
/// UNVERIFIED: the password (REG_SZ; MailEnable may keep it encoded).
pub const PASSWORD: &str = "SmartHostPassword";
/// UNVERIFIED: STARTTLS towards the smart host (REG_DWORD 0/1). No public
/// source describes implicit TLS for the smart host, so it is refused.
pub const TLS: &str = "SmartHostTLS";

/// The domain-level "Act as Smart Host" fields. They redirect a domain's
/// INBOUND mail (MailEnable guide, domain properties): writing a relay there
/// would send the domain's incoming mail to the provider. This backend never
/// writes them; [`crate::Registry`] writes are checked against this list.
pub const FORBIDDEN: &[&str] = &["DomainRedirectionStatus", "DomainRedirectionHosts"];

/// Verified: the service to restart after a change ("MailEnable SMTP
/// Connector").
pub const SERVICE: &str = "MESMTPCS";
