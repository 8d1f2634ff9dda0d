//! The command line, as clap parses it. Only parsing and checking here; the
//! commands live in `commands`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use smarthost_core::Encryption;

/// Configure a smarthost (relay host) for the outgoing mail of a server or
/// of one hosted domain.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "smarthost",
    version,
    about,
    max_term_width = 100,
    next_help_heading = "Global options"
)]
pub(crate) struct Cli {
    /// The mail server to configure.
    #[arg(long, global = true, value_enum, default_value_t = BackendName::Postfix)]
    pub(crate) backend: BackendName,

    /// Render into this folder instead of the live system (`/`); no command
    /// (postmap, reload) is run.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,

    /// The policy file (TOML) for `plan` and `apply`; `route` uses it instead
    /// of the live configuration when given.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,

    /// The administrator's settings file (a `[features]` table only). Default:
    /// ROOT/etc/smarthost/settings.toml; a missing file means all features on.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) settings: Option<PathBuf>,

    /// Print JSON (see docs/json.md for the schema) instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// How long to wait for another smarthost run that holds the lock
    /// before giving up, in seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10)]
    pub(crate) lock_timeout: u64,

    /// Postfix: lookup table type (default: from `postconf -m` on a live
    /// server, hash when rendering into a folder).
    #[arg(long, global = true, value_name = "TYPE")]
    pub(crate) map_type: Option<postfix_backend::MapType>,

    /// Postfix: configuration folder (`postfix -c`), e.g. a second instance's
    /// `/etc/postfix-out`. Default: /etc/postfix.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) config_dir: Option<PathBuf>,

    /// Postfix: folder of the lookup tables, as Postfix sees it.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) map_dir: Option<PathBuf>,

    /// SmarterMail: the server's URL, e.g. `https://mail.example.com`. The
    /// administrator logs in with --admin-user and the password in
    /// SMARTERMAIL_PASSWORD or --admin-password-file (never an argument).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) url: Option<String>,

    /// SmarterMail: the system administrator's user name.
    #[arg(
        long,
        global = true,
        value_name = "USER",
        env = "SMARTERMAIL_USERNAME",
        default_value = "admin"
    )]
    pub(crate) admin_user: String,

    /// SmarterMail: read the administrator's password from this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) admin_password_file: Option<PathBuf>,

    /// Do not reload the mail server after applying.
    #[arg(long, global = true)]
    pub(crate) no_reload: bool,

    /// Reload command run after applying (default: `postfix reload`;
    /// MailEnable: `net stop/start MESMTPCS`). Words split at blanks, a part
    /// in double quotes kept whole (`"C:\Program Files\..."`); no shell.
    #[arg(long, global = true, value_name = "COMMAND", conflicts_with = "no_reload")]
    pub(crate) reload_command: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The command line as parsed: [`Cli`], with the global options listed
/// once, in `smarthost --help`; every subcommand's help points there
/// instead of repeating them (they are still accepted anywhere).
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().hide(true))
        .collect();
    hide_globals(cmd, &globals)
}

/// Gives every subcommand a hidden copy of each global option: clap then
/// propagates nothing (a subcommand that has the option keeps its own), so
/// the options work as before but are not listed.
fn hide_globals(mut cmd: clap::Command, globals: &[clap::Arg]) -> clap::Command {
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| {
            let sub = sub
                .args(globals.iter().cloned())
                .after_help("Global options (--backend, --root, --policy, --json, ...): see `smarthost --help`.");
            hide_globals(sub, globals)
        });
    }
    cmd
}

/// The supported mail servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendName {
    /// Postfix (Linux).
    Postfix,
    /// MailEnable (Windows).
    Mailenable,
    /// SmarterMail (Windows).
    Smartermail,
}

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum Command {
    /// Show the changes that would make the system match the policy file.
    Plan {
        /// Exit with 3 when changes are pending (0: nothing to change).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Also save the plan into FILE, for `apply FILE` (no password is
        /// saved; they are read again when applying).
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Make the system match the policy file, or apply a plan saved by
    /// `plan --out FILE` (refused when the system changed since).
    Apply {
        /// A plan saved by `plan --out`; instead of --policy.
        #[arg(value_name = "FILE")]
        plan_file: Option<PathBuf>,
        /// Only show the plan.
        #[arg(long)]
        dry_run: bool,
        /// Apply even when a prerequisite is missing (Postfix: no SASL
        /// client mechanism for relays that need AUTH).
        #[arg(long)]
        force: bool,
    },
    /// Show every routing rule: the server-wide smarthost, the domains'
    /// smarthosts and direct exceptions, mailboxes, recipient routes and
    /// bounces (from --policy FILE when given, else the live configuration).
    List,
    /// Say where mail from this sender (address or domain, `<>` for bounces)
    /// goes, which rule decided, and why.
    Route(RouteArgs),
    /// List the provider presets: relay, encryption, user name, SPF.
    Providers,
    /// MailEnable tools.
    #[command(subcommand)]
    Mailenable(MailenableCommand),
    /// SmarterMail tools.
    #[command(subcommand)]
    Smartermail(SmartermailCommand),
    /// Write the man page and shell completions into DIR (for packaging).
    #[command(hide = true)]
    Assets {
        /// Where to write smarthost.1, smarthost.bash, _smarthost and smarthost.fish.
        dir: PathBuf,
    },
    /// Check the connection to smarthosts (TCP, banner, EHLO, TLS,
    /// certificate, AUTH) without sending mail. Exits 4 when a check fails.
    Check(CheckArgs),
    /// Check a domain's DNS for the relay its mail takes: SPF (and the
    /// record to publish), DMARC, DKIM. Exits 3 when SPF needs a change.
    Dns(DnsArgs),
    /// The server-wide smarthost.
    #[command(subcommand)]
    Server(ServerCommand),
    /// A hosted domain's smarthost, or its direct exception.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// One sender address's own smarthost (wins over its domain's).
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// A route for mail TO a domain, whoever sends it (wins over every
    /// sender rule).
    #[command(subcommand)]
    Recipient(RecipientCommand),
    /// The path of bounces (mail from the null sender `<>`).
    #[command(subcommand)]
    Bounces(BouncesCommand),
    /// Postfix: send a test message through the local instance and follow
    /// it to the relay's answer. Exits 0 when delivered, 4 when not.
    TestSend(TestSendArgs),
    /// Postfix: mail that smarthost's relays hold up (deferred, by relay
    /// and sender domain, with reasons) and the log's counts; --nagios,
    /// --prometheus for monitoring.
    Status(StatusArgs),
    /// Postfix: check every prerequisite of the configured relays, each
    /// PASS/WARN/FAIL with its fix. Exits 4 when a check fails.
    Doctor(DoctorArgs),
}

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum MailenableCommand {
    /// Read a regedit export (or a .reg file smarthost wrote) and show the
    /// smarthosts it holds.
    Import {
        /// The .reg file.
        file: PathBuf,
    },
    /// Learn MailEnable's value names from two `regedit /E` exports of
    /// HKLM\SOFTWARE\WOW6432Node\Mail Enable, made before and after setting
    /// the smart host by hand in MailEnable's console; saves them in the
    /// settings folder, where every mailenable command then uses them.
    Learn(Box<LearnArgs>),
}

/// `mailenable learn`: the two exports and what was typed between them.
#[derive(Clone, Debug, Args)]
pub(crate) struct LearnArgs {
    /// The export made before setting the smart host.
    #[arg(long, value_name = "FILE")]
    pub(crate) before: PathBuf,

    /// The export made after.
    #[arg(long, value_name = "FILE")]
    pub(crate) after: PathBuf,

    /// The smart host and port typed, as `[host]:port`.
    #[arg(long, value_name = "RELAY")]
    pub(crate) relay: String,

    /// The user name typed (with "requires authentication" turned on); the
    /// password typed comes from one of the options below, or is asked for
    /// at a terminal.
    #[arg(long, value_name = "USER")]
    pub(crate) username: Option<String>,

    /// The password typed, from this file (its first line).
    #[arg(long, value_name = "FILE", group = "learn_secret")]
    pub(crate) password_file: Option<PathBuf>,

    /// The password typed, from this environment variable.
    #[arg(long, value_name = "VAR", group = "learn_secret")]
    pub(crate) password_env: Option<String>,

    /// The password typed, from standard input (one line).
    #[arg(long, group = "learn_secret")]
    pub(crate) password_stdin: bool,

    /// TLS towards the smart host was turned on.
    #[arg(long)]
    pub(crate) tls: bool,

    /// The domain whose own smart host was set too (to learn where
    /// MailEnable keeps domain-level smart hosts, if it does).
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: Option<String>,

    /// The value name of a role the exports cannot settle, e.g.
    /// `--value auth="Smart Host Auth"` (roles: enabled, host, port, auth,
    /// username, password, tls). Repeatable.
    #[arg(long = "value", value_name = "ROLE=NAME")]
    pub(crate) values: Vec<String>,
}

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum SmartermailCommand {
    /// Learn the gateway endpoints, field names and enum values from the
    /// server (--url), with GET requests only, from a gateway you made by
    /// hand; writes smartermail-schema.json into the settings folder.
    Learn(Box<SmartermailLearnArgs>),
}

/// `smartermail learn`: what the administrator typed into SmarterMail and
/// what its API documentation page shows.
#[derive(Clone, Debug, Args)]
pub(crate) struct SmartermailLearnArgs {
    /// The hand-made gateway's server address and port, as typed.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) relay: String,
    /// The hand-made gateway's authentication user name, as typed.
    #[arg(long, value_name = "USER")]
    pub(crate) username: Option<String>,
    /// A gateway endpoint from the API documentation page: list=PATH,
    /// create=PATH, update=PATH (with {id}), delete=PATH (with {id}).
    #[arg(long = "endpoint", value_name = "ROLE=PATH")]
    pub(crate) endpoints: Vec<String>,
    /// An enum value: mode.round-robin, mode.specific-domains,
    /// encryption.none, encryption.starttls, encryption.implicit-tls,
    /// status.enabled, status.disabled = a number or a name.
    #[arg(long = "enum", value_name = "NAME=VALUE")]
    pub(crate) enums: Vec<String>,
    /// A field that cannot be told apart by value: enabled,
    /// use-authentication, password, description, id (or any other) =
    /// its name in the gateway's JSON.
    #[arg(long = "field", value_name = "ROLE=NAME")]
    pub(crate) fields: Vec<String>,
    /// The key that wraps a gateway in a create or update request body
    /// (`none`: the body is the gateway itself).
    #[arg(long, value_name = "KEY")]
    pub(crate) wrapper: Option<String>,
    /// A domain whose settings select the hand-made gateway: learns the
    /// setting that links a domain to a gateway.
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: Option<String>,
}

/// `route`: a sender (and a recipient), or a forwarding target.
#[derive(Clone, Debug, Args)]
pub(crate) struct RouteArgs {
    /// `user@example.com`, `example.com` or `<>`.
    #[arg(required_unless_present = "forwarded")]
    pub(crate) sender: Option<String>,

    /// The recipient (address or domain): a recipient route wins over every
    /// sender rule.
    #[arg(long, value_name = "RECIPIENT", conflicts_with = "forwarded")]
    pub(crate) to: Option<String>,

    /// Explain the path of mail this server forwards to TARGET (an address
    /// outside the hosted domains) from an outside sender, without sender
    /// rewriting (SRS).
    #[arg(long, value_name = "TARGET", conflicts_with = "sender")]
    pub(crate) forwarded: Option<String>,
}

/// The relay options of a command that can also say "deliver directly":
/// `--direct` conflicts with every one of them.
const RELAY_OPTIONS: [&str; 9] = [
    "relay",
    "provider",
    "encryption",
    "username",
    "password_file",
    "password_env",
    "password_stdin",
    "backup_relays",
    "check",
];

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum ServerCommand {
    /// Relay all outgoing mail without a more specific rule through this relay.
    #[command(group = relay_required())]
    Set(Box<SetArgs>),
    /// Stop relaying server-wide: direct delivery for domains without their own.
    Disable(ChangeArgs),
}

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum DomainCommand {
    /// Relay this domain's outgoing mail through this relay, or (--direct)
    /// deliver it directly despite the server-wide smarthost.
    #[command(group = relay_or_direct())]
    Set {
        /// The hosted domain.
        domain: String,
        /// A direct exception: this domain's mail is delivered directly to
        /// the recipients' MX hosts although there is a server-wide
        /// smarthost.
        #[arg(long, conflicts_with_all = RELAY_OPTIONS)]
        direct: bool,
        #[command(flatten)]
        set: Box<SetArgs>,
    },
    /// Remove this domain's smarthost or direct exception: it uses the
    /// server-wide one again.
    Disable {
        /// The hosted domain.
        domain: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum MailboxCommand {
    /// Relay this sender address's mail through this relay.
    #[command(group = relay_required())]
    Set {
        /// The whole address, e.g. `alice@example.com`.
        address: String,
        #[command(flatten)]
        set: Box<SetArgs>,
    },
    /// Remove this address's smarthost: it uses its domain's again.
    Disable {
        /// The whole address.
        address: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum RecipientCommand {
    /// Route mail to this domain through this relay, or (--direct) deliver
    /// it directly, whoever sends it.
    #[command(group = relay_or_direct())]
    Set {
        /// The recipient domain, e.g. `partner.example`.
        domain: String,
        /// Deliver mail to this domain directly to its MX hosts, whoever
        /// sends it.
        #[arg(long, conflicts_with_all = RELAY_OPTIONS)]
        direct: bool,
        #[command(flatten)]
        set: Box<SetArgs>,
    },
    /// Remove this recipient domain's route: mail to it follows the sender
    /// rules again.
    Disable {
        /// The recipient domain.
        domain: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub(crate) enum BouncesCommand {
    /// Choose the path of bounces: `server` (like any sender without a rule
    /// of its own; the default), `direct`, or a relay given with --relay or
    /// --provider and the options of `server set`.
    #[command(group = relay_or_path())]
    Set {
        /// `server` or `direct`; leave out to give a relay.
        #[arg(value_enum, conflicts_with_all = RELAY_OPTIONS)]
        path: Option<BouncePath>,
        #[command(flatten)]
        set: Box<SetArgs>,
    },
}

/// `bounces set server|direct`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BouncePath {
    /// Like any sender without a rule of its own: the server-wide
    /// smarthost, else direct delivery.
    Server,
    /// Directly to the recipient's MX hosts.
    Direct,
}

/// `set` needs a relay: --relay, --provider, or both.
fn relay_required() -> ArgGroup {
    ArgGroup::new("target")
        .args(["relay", "provider"])
        .required(true)
        .multiple(true)
}

/// `set` needs a relay or --direct.
fn relay_or_direct() -> ArgGroup {
    relay_required().arg("direct")
}

/// `bounces set` needs a relay or `server`/`direct`.
fn relay_or_path() -> ArgGroup {
    relay_required().arg("path")
}

#[derive(Clone, Debug, Args)]
pub(crate) struct ChangeArgs {
    /// Only show the plan.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Options of the connection check, shared by `check` and `set --check`.
#[derive(Clone, Debug, Args)]
pub(crate) struct ProbeArgs {
    /// Seconds each step of a check may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub(crate) timeout: u64,

    /// Trust these CA certificates (PEM) instead of those the Postfix
    /// instance trusts (its smtp_tls_CAfile/smtp_tls_CApath).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// DNS server (IP:PORT) for MX lookups.
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) dns_server: Option<std::net::SocketAddr>,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct CheckArgs {
    /// Only the server-wide smarthost.
    #[arg(long, conflicts_with_all = ["domain", "all"])]
    pub(crate) server: bool,

    /// Only the smarthost this domain's mail takes.
    #[arg(long, value_name = "DOMAIN", conflicts_with = "all")]
    pub(crate) domain: Option<String>,

    /// Every configured smarthost (the default): the server-wide one, the
    /// domains', mailboxes', recipient routes', the bounce relay, and each
    /// backup relay with its smarthost's encryption and credentials.
    #[arg(long)]
    pub(crate) all: bool,

    #[command(flatten)]
    pub(crate) probe: ProbeArgs,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct SetArgs {
    /// The relay: host, host:port, `[host]:port` (no MX lookup) or an IP address.
    #[arg(long, value_name = "RELAY")]
    pub(crate) relay: Option<String>,

    /// A backup relay, tried when the relay (and the backups before it)
    /// cannot be reached, with the same encryption and credentials.
    /// Repeatable; tried in the order given.
    #[arg(long = "backup-relay", value_name = "RELAY")]
    pub(crate) backup_relays: Vec<String>,

    /// A provider preset (see `smarthost providers`), e.g. sendgrid or
    /// amazon-ses:eu-west-1: fills in relay, encryption and fixed user name;
    /// options given explicitly win.
    #[arg(long, value_name = "NAME")]
    pub(crate) provider: Option<String>,

    /// Encryption; default: the preset's, else implicit-tls on port 465 and
    /// starttls otherwise.
    #[arg(long, value_enum)]
    pub(crate) encryption: Option<EncryptionArg>,

    /// SMTP AUTH user name (SendGrid: `apikey`).
    #[arg(long, value_name = "USER")]
    pub(crate) username: Option<String>,

    /// Read the password from this file (its first line).
    #[arg(long, value_name = "FILE", group = "secret")]
    pub(crate) password_file: Option<PathBuf>,

    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", group = "secret")]
    pub(crate) password_env: Option<String>,

    /// Read the password from standard input (one line).
    #[arg(long, group = "secret")]
    pub(crate) password_stdin: bool,

    /// Check the connection first and refuse to apply if it fails.
    #[arg(long)]
    pub(crate) check: bool,

    /// Apply even if the connection check (--check) fails or a
    /// prerequisite is missing (Postfix: no SASL client mechanism for
    /// relays that need AUTH).
    #[arg(long)]
    pub(crate) force: bool,

    #[command(flatten)]
    pub(crate) probe: ProbeArgs,

    /// Not accepted: a password on the command line is visible to every user
    /// of the machine. Declared only to refuse it without echoing it.
    #[arg(long, hide = true, value_name = "SECRET", group = "secret")]
    pub(crate) password: Option<String>,

    #[command(flatten)]
    pub(crate) change: ChangeArgs,
}

/// `--encryption` values, with the names panels use as aliases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum EncryptionArg {
    /// No encryption required.
    None,
    /// STARTTLS required (panels: "TLS").
    #[value(alias = "tls")]
    Starttls,
    /// TLS from the first byte, usually port 465 (panels: "SSL").
    #[value(alias = "ssl")]
    ImplicitTls,
}

impl From<EncryptionArg> for Encryption {
    fn from(e: EncryptionArg) -> Self {
        match e {
            EncryptionArg::None => Encryption::None,
            EncryptionArg::Starttls => Encryption::Starttls,
            EncryptionArg::ImplicitTls => Encryption::ImplicitTls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        super::command().debug_assert();
    }

    #[test]
    fn panel_names_for_encryption_are_accepted() {
        let cli = Cli::try_parse_from([
            "smarthost",
            "server",
            "set",
            "--relay",
            "r.example",
            "--encryption",
            "ssl",
        ])
        .unwrap();
        let Command::Server(ServerCommand::Set(set)) = cli.command else {
            panic!()
        };
        assert_eq!(set.encryption, Some(EncryptionArg::ImplicitTls));
    }

    #[test]
    fn only_one_password_source() {
        let err = Cli::try_parse_from([
            "smarthost",
            "server",
            "set",
            "--relay",
            "r.example",
            "--username",
            "u",
            "--password-env",
            "A",
            "--password-stdin",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("smarthost").chain(args.iter().copied()))
    }

    #[test]
    fn backup_relays_are_repeatable_and_keep_their_order() {
        let cli = parse(&[
            "mailbox",
            "set",
            "a@b.example",
            "--relay",
            "r.example",
            "--backup-relay",
            "b2.example",
            "--backup-relay",
            "b1.example",
        ])
        .unwrap();
        let Command::Mailbox(MailboxCommand::Set { set, .. }) = cli.command else {
            panic!()
        };
        assert_eq!(set.backup_relays, ["b2.example", "b1.example"]);
        // Every set takes them.
        for cmd in [
            &["server", "set"][..],
            &["domain", "set", "a.example"],
            &["recipient", "set", "p.example"],
            &["bounces", "set"],
        ] {
            let args: Vec<&str> = cmd
                .iter()
                .copied()
                .chain(["--relay", "r", "--backup-relay", "b"])
                .collect();
            parse(&args).unwrap();
        }
    }

    #[test]
    fn direct_conflicts_with_every_relay_option() {
        for cmd in [&["domain", "set", "a.example"][..], &["recipient", "set", "p.example"]] {
            let direct: Vec<&str> = cmd.iter().copied().chain(["--direct"]).collect();
            let cli = parse(&direct).unwrap();
            assert!(matches!(
                cli.command,
                Command::Domain(DomainCommand::Set { direct: true, .. })
                    | Command::Recipient(RecipientCommand::Set { direct: true, .. })
            ));
            for option in [
                &["--relay", "r"][..],
                &["--provider", "sendgrid"],
                &["--backup-relay", "b"],
                &["--username", "u"],
                &["--password-env", "V"],
                &["--encryption", "none"],
                &["--check"],
            ] {
                let args: Vec<&str> = direct.iter().copied().chain(option.iter().copied()).collect();
                let err = parse(&args).unwrap_err();
                assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict, "{args:?}");
            }
        }
        // Neither a relay nor --direct: a usage error.
        let err = parse(&["domain", "set", "a.example"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&["server", "set", "--direct"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn bounces_take_a_path_or_a_relay() {
        let cli = parse(&["bounces", "set", "direct"]).unwrap();
        let Command::Bounces(BouncesCommand::Set { path, .. }) = cli.command else {
            panic!()
        };
        assert_eq!(path, Some(BouncePath::Direct));
        let cli = parse(&["bounces", "set", "--provider", "postmark", "--password-env", "K"]).unwrap();
        let Command::Bounces(BouncesCommand::Set { path, set }) = cli.command else {
            panic!()
        };
        assert_eq!((path, set.provider.as_deref()), (None, Some("postmark")));
        let err = parse(&["bounces", "set"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&["bounces", "set", "server", "--relay", "r"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err = parse(&["bounces", "set", "relay"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn route_takes_a_sender_and_recipient_or_a_forwarding_target() {
        let cli = parse(&["route", "a@b.example", "--to", "c@d.example"]).unwrap();
        let Command::Route(route) = cli.command else { panic!() };
        assert_eq!(route.sender.as_deref(), Some("a@b.example"));
        assert_eq!(route.to.as_deref(), Some("c@d.example"));
        let cli = parse(&["route", "--forwarded", "x@gmail.example"]).unwrap();
        let Command::Route(route) = cli.command else { panic!() };
        assert_eq!(
            (route.sender, route.forwarded.as_deref()),
            (None, Some("x@gmail.example"))
        );
        for bad in [
            &["route"][..],
            &["route", "a@b.example", "--forwarded", "x@y.example"],
            &["route", "--forwarded", "x@y.example", "--to", "c@d.example"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from(["smarthost", "list", "--root", "demo", "--json"]).unwrap();
        assert_eq!(cli.root, Some(PathBuf::from("demo")));
        assert!(cli.json);
    }
}

#[derive(Clone, Debug, Args)]
pub(crate) struct DnsArgs {
    /// The domain to check.
    #[arg(required_unless_present = "all")]
    pub(crate) domain: Option<String>,

    /// Check every domain of the policy (or of the live configuration), concurrently.
    #[arg(long, conflicts_with = "domain")]
    pub(crate) all: bool,

    /// Ask this DNS server (IP:PORT) instead of the system's resolver.
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) dns_server: Option<std::net::SocketAddr>,

    /// Also look up DKIM at this selector (repeatable).
    #[arg(long = "dkim-selector", value_name = "SELECTOR")]
    pub(crate) dkim_selectors: Vec<String>,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct TestSendArgs {
    /// The envelope sender; its domain picks the relay.
    #[arg(long, value_name = "SENDER")]
    pub(crate) from: String,

    /// The recipient, preferably a mailbox outside this server that you can read.
    #[arg(long, value_name = "RECIPIENT")]
    pub(crate) to: String,

    /// Seconds to wait for Postfix's first delivery attempt.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub(crate) timeout: u64,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct StatusArgs {
    /// The period of the log's counts: 90s, 30m, 24h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration)]
    pub(crate) since: u64,

    /// Print one Nagios line and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    #[arg(long, conflicts_with = "json")]
    pub(crate) nagios: bool,

    /// Write a node_exporter textfile-collector file (atomically).
    #[arg(long, value_name = "FILE")]
    pub(crate) prometheus: Option<PathBuf>,

    /// Deferred mail at least this old is a WARNING.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    pub(crate) warning_age: u64,

    /// Deferred mail at least this old is CRITICAL (so is any deferred for
    /// a reason that needs the administrator).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    pub(crate) critical_age: u64,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Do not ask the relays which AUTH mechanisms they offer.
    #[arg(long)]
    pub(crate) no_probe: bool,

    /// Seconds each step of asking a relay may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub(crate) timeout: u64,
}

/// A duration in seconds from `90`, `90s`, `30m`, `24h` or `7d`.
fn duration(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 30m, 24h or 7d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    n.checked_mul(unit).ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod health_tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("90"), Ok(90));
        assert_eq!(duration("30m"), Ok(1800));
        assert_eq!(duration("24h"), Ok(86_400));
        assert_eq!(duration("7d"), Ok(604_800));
        assert!(duration("1w").is_err() && duration("h").is_err() && duration("-1h").is_err());
        let cli = Cli::try_parse_from(["smarthost", "status", "--since", "2h", "--nagios"]).unwrap();
        let Command::Status(status) = cli.command else { panic!() };
        assert_eq!((status.since, status.nagios, status.critical_age), (7200, true, 3600));
        assert!(Cli::try_parse_from(["smarthost", "status", "--nagios", "--json"]).is_err());
    }
}
