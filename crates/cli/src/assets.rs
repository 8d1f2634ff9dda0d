//! Man pages (clap_mangen) and shell completions (clap_complete), made from
//! the same clap definition as the command line, for packaging.
//!
//! `smarthost assets DIR` writes:
//! - `smarthost.1`, and one page per subcommand, named as the SUBCOMMANDS
//!   sections name them: `smarthost-plan.1`, `smarthost-server-set.1`, ...
//!   Each has EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and SEE ALSO
//!   sections from [`DOCS`]. The global options are documented once, in
//!   smarthost(1).
//! - `smarthost.bash`, `_smarthost` and `smarthost.fish`: completions that
//!   offer the provider presets for `--provider` and leave out hidden
//!   commands and options (clap_complete would offer them).
//!
//! A new subcommand gets a page without anything added here; its EXAMPLES
//! (and any exit status of its own) come from an entry in [`DOCS`].

use std::io;
use std::path::Path;
use std::sync::OnceLock;

use clap::builder::PossibleValue;
use clap::{ArgGroup, Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;

use crate::args::Cli;

/// The completion scripts and their file names.
pub(crate) const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "smarthost.bash"),
    (Shell::Zsh, "_smarthost"),
    (Shell::Fish, "smarthost.fish"),
];

pub(crate) fn write(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, page) in man_pages()? {
        std::fs::write(dir.join(name), page)?;
    }
    for (shell, name) in SHELLS {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut completion_command(), "smarthost", &mut out);
        std::fs::write(dir.join(name), out)?;
    }
    Ok(())
}

/// What clap does not know about a command, for its man page.
pub(crate) struct Doc {
    /// The command below `smarthost`: `""` for smarthost itself, `"server set"`.
    pub(crate) path: &'static str,
    /// Exit statuses of its own, besides 0, 1 and 2.
    exit: &'static [(&'static str, &'static str)],
    /// Whether it reads or changes the mail server's configuration (FILES,
    /// the SmarterMail variables).
    config: bool,
    /// Environment variables of its own.
    env: &'static [(&'static str, &'static str)],
    /// What it does, and the command lines that do it.
    examples: &'static [(&'static str, &'static [&'static str])],
    /// More pages to see, besides smarthost(1) and the parent command's.
    see_also: &'static [&'static str],
}

const POLICY_ENV: (&str, &str) = (
    "variables named by password_env",
    "A policy file (--policy) can take a relay's password from the environment variable its password_env key names.",
);
const SET_ENV: (&str, &str) = (
    "the variable named by --password-env",
    "Holds the relay's password. Passwords are never taken from the command line.",
);
const CHECK_ENV: [(&str, &str); 2] = [
    (
        "SSL_CERT_FILE",
        "A file of CA certificates (PEM) to trust instead of the system's, when the Postfix instance sets no smtp_tls_CAfile or smtp_tls_CApath and no --ca-file is given.",
    ),
    ("SSL_CERT_DIR", "A folder of CA certificates, likewise."),
];
const CHECK_FAILED: (&str, &str) = ("4", "A connection check failed.");

/// Every command's examples and what else its page says.
pub(crate) const DOCS: &[Doc] = &[
    Doc {
        path: "",
        exit: &[
            ("3", "plan --detailed-exitcode: changes are pending; dns: a domain's SPF record needs a change."),
            ("4", "check, and set --check: a connection check failed."),
        ],
        config: true,
        env: &[
            POLICY_ENV,
            SET_ENV,
            CHECK_ENV[0],
            CHECK_ENV[1],
            (
                "SOURCE_DATE_EPOCH",
                "The date (seconds since 1970) written into the manual pages that the hidden assets command generates for packaging; default: today.",
            ),
        ],
        examples: &[
            (
                "Show what a policy file would change on this server, then change it:",
                &[
                    "smarthost --policy /etc/smarthost/policy.toml plan",
                    "smarthost --policy /etc/smarthost/policy.toml apply",
                ],
            ),
            (
                "Relay all outgoing mail through SendGrid, the API key read from a file:",
                &["smarthost server set --provider sendgrid \\", "    --password-file /root/sendgrid.key"],
            ),
            (
                "Try it in a folder first: nothing on the machine changes:",
                &["smarthost --root /tmp/demo server set --relay '[smtp.example.net]:587'"],
            ),
            ("Where does a sender's mail go, and why?", &["smarthost route alice@shop.example.com"]),
        ],
        see_also: &["postconf(5)", "postmap(1)", "postfix(1)"],
    },
    Doc {
        path: "plan",
        exit: &[("3", "With --detailed-exitcode: changes are pending (0: nothing to change).")],
        config: true,
        env: &[POLICY_ENV],
        examples: &[
            ("Show the changes a policy file makes:", &["smarthost --policy /etc/smarthost/policy.toml plan"]),
            ("In a script, learn whether anything would change:", &["smarthost --policy policy.toml plan --detailed-exitcode"]),
            ("The same as JSON, for a program:", &["smarthost --policy policy.toml --json plan"]),
            (
                "Save the plan for review; apply exactly it later (refused if anything changed since):",
                &[
                    "smarthost --policy policy.toml plan --out change.plan",
                    "smarthost apply change.plan",
                ],
            ),
        ],
        see_also: &["smarthost-apply(1)"],
    },
    Doc {
        path: "apply",
        exit: &[],
        config: true,
        env: &[POLICY_ENV],
        examples: &[
            ("Make this server match a policy file:", &["smarthost --policy /etc/smarthost/policy.toml apply"]),
            (
                "Render into a folder instead (no postmap, no reload):",
                &["smarthost --root demo --policy policy.toml apply"],
            ),
            ("Only show the plan:", &["smarthost --policy policy.toml apply --dry-run"]),
            (
                "Apply a plan saved by plan --out, with the same global options it was made with:",
                &["smarthost apply change.plan"],
            ),
        ],
        see_also: &["smarthost-plan(1)"],
    },
    Doc {
        path: "list",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("What is configured:", &["smarthost list"]),
            ("What a SmarterMail server has, as JSON:", &["smarthost --backend smartermail \\", "    --url https://mail.example.com --json list"]),
        ],
        see_also: &["smarthost-route(1)"],
    },
    Doc {
        path: "route",
        exit: &[],
        config: true,
        env: &[POLICY_ENV],
        examples: &[
            ("Where a sender's mail goes, and why:", &["smarthost route alice@shop.example.com"]),
            ("Where bounces (the null sender) go:", &["smarthost route '<>'"]),
            ("Which rule wins for mail to a recipient:", &["smarthost route alice@shop.example.com --to bob@partner.example"]),
            ("The path of mail this server forwards to an outside address:", &["smarthost route --forwarded someone@gmail.example"]),
            ("According to a policy file rather than the live configuration:", &["smarthost --policy policy.toml route shop.example.com"]),
        ],
        see_also: &["smarthost-list(1)"],
    },
    Doc {
        path: "providers",
        exit: &[],
        config: false,
        env: &[],
        examples: &[
            ("The presets, and what each needs:", &["smarthost providers"]),
            ("Use one:", &["smarthost server set --provider mailgun-eu \\", "    --username postmaster@mg.example.com --password-stdin"]),
        ],
        see_also: &["smarthost-server-set(1)", "smarthost-dns(1)"],
    },
    Doc {
        path: "mailenable",
        exit: &[],
        config: false,
        env: &[],
        examples: &[("Show the smarthosts a regedit export holds:", &["smarthost mailenable import smtp.reg"])],
        see_also: &[],
    },
    Doc {
        path: "mailenable import",
        exit: &[],
        config: false,
        env: &[],
        examples: &[
            ("Show the smarthosts a regedit export holds:", &["smarthost mailenable import smtp.reg"]),
            ("The same as JSON:", &["smarthost --json mailenable import smtp.reg"]),
        ],
        see_also: &[],
    },
    Doc {
        path: "check",
        exit: &[CHECK_FAILED],
        config: true,
        env: &[POLICY_ENV, CHECK_ENV[0], CHECK_ENV[1]],
        examples: &[
            ("Check every configured relay:", &["smarthost check"]),
            ("Only the relay one domain's mail takes:", &["smarthost check --domain shop.example.com"]),
            ("A relay whose certificate a private CA signed:", &["smarthost check --server --ca-file /etc/postfix/relay-ca.pem"]),
        ],
        see_also: &["smarthost-server-set(1)", "smarthost-domain-set(1)"],
    },
    Doc {
        path: "test-send",
        exit: &[("4", "The message was not delivered to the relay (deferred, bounced, or still queued at the timeout).")],
        config: true,
        env: &[],
        examples: &[
            ("Send a test message and follow it to the relay's answer:", &["smarthost test-send --from alice@shop.example.com --to me@elsewhere.example"]),
            ("Wait longer, as JSON:", &["smarthost test-send --from alice@shop.example.com --to me@elsewhere.example --timeout 120 --json"]),
        ],
        see_also: &["smarthost-status(1)", "smarthost-doctor(1)"],
    },
    Doc {
        path: "status",
        exit: &[
            ("0, 1, 2, 3", "With --nagios: OK, WARNING, CRITICAL, UNKNOWN."),
        ],
        config: true,
        env: &[],
        examples: &[
            ("Mail the relays hold up, and the last day's counts:", &["smarthost status"]),
            ("For Nagios or Icinga:", &["smarthost status --nagios --critical-age 1h"]),
            ("For node_exporter's textfile collector:", &["smarthost status --prometheus /var/lib/node_exporter/smarthost.prom"]),
        ],
        see_also: &["smarthost-test-send(1)", "smarthost-doctor(1)"],
    },
    Doc {
        path: "doctor",
        exit: &[("4", "A prerequisite check failed.")],
        config: true,
        env: &[],
        examples: &[
            ("Every prerequisite of the configured relays, each with its fix:", &["smarthost doctor"]),
            ("Without asking the relays for their mechanisms:", &["smarthost doctor --no-probe"]),
        ],
        see_also: &["smarthost-check(1)", "smarthost-status(1)"],
    },
    Doc {
        path: "dns",
        exit: &[("3", "A domain's SPF record needs a change.")],
        config: true,
        env: &[POLICY_ENV],
        examples: &[
            ("SPF, DMARC and DKIM of one domain:", &["smarthost dns shop.example.com"]),
            ("Every domain, as JSON:", &["smarthost dns --all --json"]),
            ("Also look up DKIM at the provider's selectors:", &["smarthost dns shop.example.com \\", "    --dkim-selector s1 --dkim-selector s2"]),
        ],
        see_also: &["smarthost-providers(1)"],
    },
    Doc {
        path: "server",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("Relay all outgoing mail through SendGrid:", &["smarthost server set --provider sendgrid \\", "    --password-file /root/sendgrid.key"]),
            ("Deliver directly again:", &["smarthost server disable"]),
        ],
        see_also: &["smarthost-domain(1)"],
    },
    Doc {
        path: "server set",
        exit: &[("4", "With --check: the connection check failed; nothing was changed.")],
        config: true,
        env: &[SET_ENV, CHECK_ENV[0], CHECK_ENV[1]],
        examples: &[
            ("Relay through SendGrid, the API key read from a file:", &["smarthost server set --provider sendgrid \\", "    --password-file /root/sendgrid.key"]),
            (
                "Any relay; check the connection first and change nothing if it fails:",
                &[
                    "smarthost server set --relay '[smtp.example.net]:587' \\",
                    "    --username relay@example.net --password-env RELAY_PASSWORD --check",
                ],
            ),
            ("Only show the plan:", &["smarthost server set --relay '[smtp.example.net]:587' --dry-run"]),
            (
                "A backup relay, tried when the first cannot be reached:",
                &["smarthost server set --relay '[smtp.example.net]:587' \\", "    --backup-relay '[smtp2.example.net]:587'"],
            ),
        ],
        see_also: &["smarthost-server-disable(1)", "smarthost-providers(1)", "smarthost-check(1)"],
    },
    Doc {
        path: "server disable",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("Stop relaying server-wide:", &["smarthost server disable"]),
            ("Only show the plan:", &["smarthost server disable --dry-run"]),
        ],
        see_also: &["smarthost-server-set(1)"],
    },
    Doc {
        path: "domain",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("Relay one domain through Mailgun (EU):", &["smarthost domain set shop.example.com --provider mailgun-eu \\", "    --username postmaster@mg.shop.example.com --password-stdin"]),
            ("It uses the server-wide smarthost again:", &["smarthost domain disable shop.example.com"]),
        ],
        see_also: &["smarthost-server(1)"],
    },
    Doc {
        path: "domain set",
        exit: &[("4", "With --check: the connection check failed; nothing was changed.")],
        config: true,
        env: &[SET_ENV, CHECK_ENV[0], CHECK_ENV[1]],
        examples: &[
            (
                "Relay one domain through Mailgun (EU) on port 465, the password from standard input:",
                &[
                    "printf '%s\\n' \"$MAILGUN_PASSWORD\" |",
                    "  smarthost domain set shop.example.com --provider mailgun-eu \\",
                    "    --username postmaster@mg.shop.example.com --password-stdin",
                ],
            ),
            ("An internal relay by IP address, no encryption required:", &["smarthost domain set legacy.example.net \\", "    --relay '[192.0.2.25]:25' --encryption none"]),
            ("A direct exception: this domain delivers directly despite the server-wide smarthost:", &["smarthost domain set intranet.example.com --direct"]),
        ],
        see_also: &["smarthost-domain-disable(1)", "smarthost-providers(1)", "smarthost-check(1)"],
    },
    Doc {
        path: "domain disable",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("The domain uses the server-wide smarthost again (also ends a direct exception):", &["smarthost domain disable shop.example.com"]),
            ("Only show the plan:", &["smarthost domain disable shop.example.com --dry-run"]),
        ],
        see_also: &["smarthost-domain-set(1)"],
    },
    Doc {
        path: "mailbox",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("One address relays through its own account:", &["smarthost mailbox set alice@shop.example.com --relay '[smtp.example.net]:587' \\", "    --username alice --password-env ALICE_RELAY_PASSWORD"]),
            ("It uses its domain's smarthost again:", &["smarthost mailbox disable alice@shop.example.com"]),
        ],
        see_also: &["smarthost-domain(1)", "smarthost-route(1)"],
    },
    Doc {
        path: "mailbox set",
        exit: &[("4", "With --check: the connection check failed; nothing was changed.")],
        config: true,
        env: &[SET_ENV, CHECK_ENV[0], CHECK_ENV[1]],
        examples: &[(
            "One address relays through its own account, which wins over its domain's:",
            &["smarthost mailbox set alice@shop.example.com --relay '[smtp.example.net]:587' \\", "    --username alice --password-env ALICE_RELAY_PASSWORD"],
        )],
        see_also: &["smarthost-mailbox-disable(1)", "smarthost-route(1)"],
    },
    Doc {
        path: "mailbox disable",
        exit: &[],
        config: true,
        env: &[],
        examples: &[("The address uses its domain's smarthost again:", &["smarthost mailbox disable alice@shop.example.com"])],
        see_also: &["smarthost-mailbox-set(1)"],
    },
    Doc {
        path: "recipient",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("Mail to a partner goes through its own relay, whoever sends it:", &["smarthost recipient set partner.example --relay '[mx.partner.example]:25'"]),
            ("Mail to a domain is delivered directly, whoever sends it:", &["smarthost recipient set gmail.com --direct"]),
            ("Mail to it follows the sender rules again:", &["smarthost recipient disable partner.example"]),
        ],
        see_also: &["smarthost-route(1)"],
    },
    Doc {
        path: "recipient set",
        exit: &[("4", "With --check: the connection check failed; nothing was changed.")],
        config: true,
        env: &[SET_ENV, CHECK_ENV[0], CHECK_ENV[1]],
        examples: &[
            ("Mail to a partner goes through its own relay, whoever sends it:", &["smarthost recipient set partner.example --relay '[mx.partner.example]:25'"]),
            ("Mail to a domain is delivered directly, whoever sends it:", &["smarthost recipient set gmail.com --direct"]),
        ],
        see_also: &["smarthost-recipient-disable(1)", "smarthost-route(1)"],
    },
    Doc {
        path: "recipient disable",
        exit: &[],
        config: true,
        env: &[],
        examples: &[("Mail to the domain follows the sender rules again:", &["smarthost recipient disable partner.example"])],
        see_also: &["smarthost-recipient-set(1)"],
    },
    Doc {
        path: "bounces",
        exit: &[],
        config: true,
        env: &[],
        examples: &[
            ("Bounces go directly, because the relay refuses the null sender:", &["smarthost bounces set direct"]),
            ("Bounces take the server-wide path again:", &["smarthost bounces set server"]),
        ],
        see_also: &["smarthost-route(1)"],
    },
    Doc {
        path: "bounces set",
        exit: &[("4", "With --check: the connection check failed; nothing was changed.")],
        config: true,
        env: &[SET_ENV, CHECK_ENV[0], CHECK_ENV[1]],
        examples: &[
            ("Bounces go directly (Amazon SES refuses the null sender):", &["smarthost bounces set direct"]),
            ("Bounces go through a relay of their own:", &["smarthost bounces set --relay '[bounces.example.net]:587'"]),
            ("Bounces take the server-wide path again (the default):", &["smarthost bounces set server"]),
        ],
        see_also: &["smarthost-route(1)"],
    },
];

/// For a command nobody wrote a [`Doc`] for yet: the common sections only.
const UNDOCUMENTED: Doc = Doc {
    path: "",
    exit: &[],
    config: true,
    env: &[],
    examples: &[],
    see_also: &[],
};

/// The files of the live system that every backend reads or writes.
const FILES: &[(&str, &str)] = &[
    (
        "/etc/postfix/main.cf, /etc/postfix/master.cf",
        "Postfix: only the parameters smarthost manages change (and, for implicit TLS, one master.cf transport); every other line stays byte for byte.",
    ),
    (
        "/var/spool/postfix/plesk/",
        "Postfix: the lookup tables sender_relay, relay_secrets (mode 0600), tls_policy and sender_transport, and their compiled forms (--map-dir, --map-type); smarthost.state, what main.cf had before smarthost changed it, put back on disable.",
    ),
    (
        "/etc/postfix/.smarthost.lock, /etc/postfix/.smarthost-journal",
        "The lock that one run holds from its read to its commit (--lock-timeout), and the journal from which the next run rolls an interrupted apply back.",
    ),
    (
        "/etc/smarthost/settings.toml",
        "The administrator's settings: which levels are enabled, and whether certificates are checked (--settings).",
    ),
    (
        "ROOT/smarthost.reg, ROOT/requests/, ROOT/state.json",
        "With --root: what the MailEnable backend (a .reg file) and the SmarterMail backend (the API requests) render into the folder. The Postfix files are below ROOT too.",
    ),
];

fn doc(path: &str) -> &'static Doc {
    DOCS.iter().find(|d| d.path == path).unwrap_or(&UNDOCUMENTED)
}

/// Every man page: its file name and its text.
pub(crate) fn man_pages() -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let globals: Vec<String> = root
        .get_arguments()
        .filter(|a| a.is_global_set() && !a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let date = date();
    let mut pages = Vec::new();
    collect(&root, &[], &globals, &date, &mut pages)?;
    Ok(pages)
}

fn collect(
    cmd: &Command,
    path: &[&str],
    globals: &[String],
    date: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> io::Result<()> {
    pages.push((format!("{}.1", page_name(path)), page(cmd, path, globals, date)?));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name());
        collect(sub, &sub_path, globals, date, pages)?;
    }
    Ok(())
}

/// `smarthost`, `smarthost-server-set`: as clap_mangen names the pages in
/// a SUBCOMMANDS section.
fn page_name(path: &[&str]) -> String {
    std::iter::once("smarthost")
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join("-")
}

fn page(cmd: &Command, path: &[&str], globals: &[String], date: &str) -> io::Result<Vec<u8>> {
    let top = path.is_empty();
    let doc = doc(&path.join(" "));
    // The global options are documented once, on smarthost(1).
    let shown = if top {
        cmd.clone()
    } else {
        cmd.clone()
            .mut_args(|a| if a.is_global_set() { a.hide(true) } else { a })
    };
    let man = Man::new(shown)
        .title(page_name(path).to_uppercase())
        .date(date)
        .source(format!("smarthost {}", env!("CARGO_PKG_VERSION")))
        .manual("smarthost manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    let mut roff = Roff::new();
    if top {
        description(&mut roff);
    }
    roff.to_writer(&mut out)?;
    man.render_options_section(&mut out)?;

    let mut roff = Roff::new();
    if !top {
        roff.control("SH", ["GLOBAL OPTIONS"]);
        roff.text([
            roman("The global options of "),
            bold("smarthost"),
            roman("(1) go before or after the command name: "),
            roman(globals.join(", ")),
            roman("."),
        ]);
    }
    roff.to_writer(&mut out)?;
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }

    let mut roff = Roff::new();
    exit_status(&mut roff, doc);
    environment(&mut roff, doc);
    if doc.config {
        roff.control("SH", ["FILES"]);
        for (file, what) in FILES {
            item(&mut roff, [bold(*file)], what);
        }
    }
    examples(&mut roff, doc);
    see_also(&mut roff, path, doc);
    roff.control("SH", ["VERSION"]);
    roff.text([roman(format!("smarthost {}", env!("CARGO_PKG_VERSION")))]);
    roff.to_writer(&mut out)?;
    Ok(tidy(&out))
}

/// Puts the pieces together as mandoc -T lint wants a page: each roff
/// rendering starts with the same two-line preamble (the apostrophe
/// string), needed once; no trailing whitespace; no text line longer than
/// 80 bytes (filled text is broken at spaces, `.nf` blocks are left
/// alone); and clap_mangen's `.br`, empty line, `.br` before "Possible
/// values" becomes the `.sp` it means.
fn tidy(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let preamble = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let body = text.strip_prefix(preamble).unwrap_or(&text).replace(preamble, "");
    let body = body.replace(".br\n\n.br\n", ".sp\n");
    let mut out = String::from(preamble);
    let mut filled = true;
    for line in body.lines().map(str::trim_end) {
        match line {
            ".nf" => filled = false,
            ".fi" => filled = true,
            _ => {}
        }
        if !filled || line.starts_with('.') || line.len() <= 80 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ') {
            if !current.is_empty() && current.len() + 1 + word.len() > 80 {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if current.is_empty() {
                // A text line that starts with . or ' would be a request.
                if word.starts_with('.') || word.starts_with('\'') {
                    current.push_str("\\&");
                }
            } else {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    out.into_bytes()
}

/// A tagged paragraph: `.TP`, the tag, the text.
fn item(roff: &mut Roff, tag: impl Into<Vec<clap_mangen::roff::Inline>>, text: &str) {
    roff.control("TP", []);
    roff.text(tag);
    roff.text([roman(text)]);
}

fn description(roff: &mut Roff) {
    for paragraph in [
        "Relays all outgoing mail of a server, or of one hosted domain, through an external SMTP service (SendGrid, Mailgun, Amazon SES, Microsoft 365, or any SMTP relay), for Postfix, MailEnable and SmarterMail. A domain's smarthost always wins over the server-wide one; domains without one use the server-wide smarthost, or direct delivery when there is none.",
        "Every input is validated before anything is written, and a rejected command changes nothing. Passwords come from a file, an environment variable or standard input, never from the command line, and never appear in output, plans, diffs or errors. Every apply is one transaction: a failed apply puts the previous files back.",
    ] {
        roff.control("PP", []);
        roff.text([roman(paragraph)]);
    }
}

fn exit_status(roff: &mut Roff, doc: &Doc) {
    roff.control("SH", ["EXIT STATUS"]);
    let common = [
        ("0", "Success, also when there was nothing to do."),
        ("1", "An error; a failed apply has put the previous configuration back."),
        ("2", "A usage error: an unknown option, a missing or invalid argument."),
    ];
    for (code, what) in common.iter().chain(doc.exit) {
        item(roff, [bold(*code)], what);
    }
}

fn environment(roff: &mut Roff, doc: &Doc) {
    let smartermail: &[(&str, &str)] = if doc.config {
        &[
            (
                "SMARTERMAIL_USERNAME",
                "With --backend smartermail: the system administrator's user name, if --admin-user is not given.",
            ),
            (
                "SMARTERMAIL_PASSWORD",
                "With --backend smartermail: the administrator's password, if --admin-password-file is not given.",
            ),
        ]
    } else {
        &[]
    };
    let vars: Vec<&(&str, &str)> = smartermail.iter().chain(doc.env).collect();
    if vars.is_empty() {
        return;
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in vars {
        // Upper case: a variable's name; else a description of one.
        let tag = if name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            bold(*name)
        } else {
            italic(*name)
        };
        item(roff, [tag], what);
    }
}

fn examples(roff: &mut Roff, doc: &Doc) {
    if doc.examples.is_empty() {
        return;
    }
    roff.control("SH", ["EXAMPLES"]);
    for (i, (what, lines)) in doc.examples.iter().enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        roff.text([roman(*what)]);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        for line in *lines {
            roff.text([roman(*line)]);
        }
        roff.control("fi", []);
        roff.control("RE", []);
    }
}

fn see_also(roff: &mut Roff, path: &[&str], doc: &Doc) {
    let mut pages = Vec::new();
    if !path.is_empty() {
        pages.push("smarthost(1)".to_owned());
    }
    if path.len() > 1 {
        pages.push(format!("{}(1)", page_name(&path[..path.len() - 1])));
    }
    pages.extend(doc.see_also.iter().map(|p| (*p).to_owned()));
    if pages.is_empty() {
        return;
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        let (name, section) = page.split_once('(').unwrap_or((page, ""));
        line.push(bold(name));
        line.push(roman(format!("({section}")));
    }
    roff.text(line);
}

/// The pages' date: SOURCE_DATE_EPOCH (reproducible builds), else today.
fn date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    let (y, m, d) = civil_from_days(secs / 86_400);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Gregorian date of a day counted from 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The command line as the completions offer it: hidden commands and
/// options left out, the provider presets as the values of `--provider`.
pub(crate) fn completion_command() -> Command {
    // Kept for the life of the process, so that names borrowed from it are
    // `'static`, as clap's builders want them.
    static CLI: OnceLock<Command> = OnceLock::new();
    visible(CLI.get_or_init(Cli::command))
}

fn visible(cmd: &'static Command) -> Command {
    let args: Vec<_> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .map(|a| {
            if a.get_id() == "provider" {
                a.clone().value_parser(providers())
            } else {
                a.clone()
            }
        })
        .collect();
    let kept = |id: &clap::Id| args.iter().any(|a| a.get_id() == id);
    let groups: Vec<_> = cmd
        .get_groups()
        .map(|g| {
            ArgGroup::new(g.get_id().clone())
                .args(g.get_args().filter(|id| kept(id)).cloned())
                .multiple(g.clone().is_multiple())
                .required(g.is_required_set())
        })
        .collect();
    let mut out = Command::new(cmd.get_name())
        .version(cmd.get_version())
        .visible_aliases(cmd.get_visible_aliases())
        .subcommand_required(cmd.is_subcommand_required_set())
        .args(args)
        .groups(groups);
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(about) = cmd.get_long_about() {
        out = out.long_about(about.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(visible(sub));
    }
    out
}

/// `--provider` values: every preset, with its title.
fn providers() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(smarthost_core::PROVIDERS.iter().map(|p| {
        let help = if p.regional {
            format!("{} (with a region: {}:eu-west-1)", p.title, p.name)
        } else {
            p.title.to_owned()
        };
        PossibleValue::new(p.name).help(help)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_paths(cmd: &Command, path: Vec<String>, out: &mut Vec<String>) {
        out.push(path.join(" "));
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            let mut p = path.clone();
            p.push(sub.get_name().to_owned());
            all_paths(sub, p, out);
        }
    }

    #[test]
    fn every_doc_is_of_a_command_that_exists() {
        let mut paths = Vec::new();
        all_paths(&Cli::command(), Vec::new(), &mut paths);
        for doc in DOCS {
            assert!(
                paths.contains(&doc.path.to_owned()),
                "DOCS has `{}`, which is no command",
                doc.path
            );
        }
    }

    #[test]
    fn documented_pages_have_every_section() {
        let pages = man_pages().unwrap();
        for doc in DOCS {
            let name = format!("{}.1", page_name(&doc.path.split_whitespace().collect::<Vec<_>>()));
            let (_, text) = pages
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("no {name}"));
            let text = String::from_utf8_lossy(text);
            for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "EXAMPLES", "VERSION"] {
                assert!(
                    text.contains(&format!(".SH {section}\n")) || text.contains(&format!(".SH \"{section}\"\n")),
                    "{name}: no {section}"
                );
            }
            if doc.config {
                assert!(text.contains("SMARTERMAIL_PASSWORD"), "{name}: no SMARTERMAIL_PASSWORD");
                assert!(text.contains(".SH FILES"), "{name}: no FILES");
            }
            if !doc.path.is_empty() {
                assert!(
                    text.contains("\\fBsmarthost\\fR(1)"),
                    "{name}: SEE ALSO misses smarthost(1)"
                );
            }
        }
    }

    #[test]
    fn global_options_are_shown_once() {
        let pages = man_pages().unwrap();
        for (name, text) in &pages {
            let text = String::from_utf8_lossy(text);
            // An option's entry in an options section.
            let described = text.matches(".TP\n\\fB\\-\\-lock\\-timeout\\fR").count();
            assert!(text.contains(".SH \"GLOBAL OPTIONS\""), "{name}");
            if name == "smarthost.1" {
                assert_eq!(described, 1, "{name}");
            } else {
                assert_eq!(described, 0, "{name}: global options described again");
                assert!(
                    text.contains("\\-\\-lock\\-timeout"),
                    "{name}: global options not named"
                );
            }
        }
    }

    #[test]
    fn the_hidden_command_gets_no_page() {
        let pages = man_pages().unwrap();
        assert!(pages.iter().all(|(n, _)| !n.contains("assets") && !n.contains("help")));
    }

    #[test]
    fn see_also_names_only_pages_that_exist() {
        let pages = man_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.trim_end_matches(".1")).collect();
        for doc in DOCS {
            for page in doc.see_also.iter().filter(|p| p.starts_with("smarthost")) {
                let name = page.trim_end_matches("(1)");
                assert!(
                    names.contains(&name),
                    "{}: SEE ALSO {page}, which is not generated",
                    doc.path
                );
            }
        }
    }

    #[test]
    fn the_completion_command_is_consistent() {
        let mut cmd = completion_command();
        cmd.build();
        cmd.clone().debug_assert();
        assert!(cmd.find_subcommand("assets").is_none());
        let set = cmd
            .find_subcommand("server")
            .and_then(|s| s.find_subcommand("set"))
            .unwrap();
        assert!(set.get_arguments().all(|a| a.get_id() != "password"));
        let providers: Vec<String> = set
            .get_arguments()
            .find(|a| a.get_id() == "provider")
            .unwrap()
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert!(providers.contains(&"sendgrid".to_owned()) && providers.contains(&"amazon-ses".to_owned()));
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }
}
