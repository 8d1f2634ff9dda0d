//! Routing beyond the server and domain smarthosts (issue 17): direct
//! exceptions, backup relays, mailboxes, recipient routes, bounces and
//! forwarded mail, through the commands users type.
//!
//! Two kinds of tests:
//! - `route`, `list --policy`, usage and validation errors: they read a
//!   policy file or refuse input, so they pass whatever the backend can write;
//! - `*_through_postfix`: each command rendered into a folder with the
//!   Postfix backend and read back (`list --json`), applied twice (the second
//!   run changes nothing) and disabled again. They need a Postfix backend that
//!   writes and reads the new rules.

use std::process::Output;

use test_support::process::{text, Rooted};

/// The password in the policy's secret file: it must never be printed.
const SECRET: &str = "routing-secret-Vq71";
/// The password given on standard input.
const STDIN_SECRET: &str = "stdin-secret-Hr42";

/// `smarthost` on a temporary root ([`Rooted`]), and a folder outside it.
struct Run {
    rooted: Rooted,
    /// Holds the policy file and its secret, outside the root.
    outside: tempfile::TempDir,
}

impl std::ops::Deref for Run {
    type Target = Rooted;
    fn deref(&self) -> &Rooted {
        &self.rooted
    }
}

impl Run {
    fn new() -> Self {
        Run {
            rooted: Rooted::new(env!("CARGO_BIN_EXE_smarthost")),
            outside: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes the policy (and its secret file beside it); returns its path.
    fn policy(&self, text: &str) -> String {
        std::fs::write(self.outside.path().join("relay.key"), format!("{SECRET}\n")).unwrap();
        let path = self.outside.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// `--json list`, parsed.
    fn list(&self) -> serde_json::Value {
        let out = self.run(&["--json", "list"]);
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}:\n{}", out.status.code(), text(out));
    assert_no_secret(out);
}

fn assert_no_secret(out: &Output) {
    let t = text(out);
    for secret in [SECRET, STDIN_SECRET] {
        assert!(!t.contains(secret), "secret leaked:\n{t}");
    }
}

/// Every kind of rule at once. The server relay is SendGrid, whose preset
/// refuses senders it has not verified (for the forwarding warning).
const ROUTING_POLICY: &str = r#"
bounces = "direct"

[server]
relay = "[smtp.sendgrid.net]:587"
username = "apikey"
password_file = "relay.key"
backup = ["[smtp2.example.net]:587", "[192.0.2.9]:2525"]

[domains."shop.example.com"]
relay = "[smtp.eu.mailgun.org]:465"
encryption = "implicit-tls"
username = "postmaster@mg.shop.example.com"
password_file = "relay.key"

[domains."intranet.example.com"]
direct = true

[mailboxes."alice@shop.example.com"]
relay = "[smtp.alice.example]:587"
username = "alice"
password_file = "relay.key"

[recipients."partner.example"]
relay = "[mx.partner.example]:25"
encryption = "none"

[recipients."gmail.example"]
direct = true
"#;

/// `route` with `--json`, parsed, against `policy`.
fn route_json(run: &Run, policy: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--policy", policy, "--json", "route"];
    all.extend_from_slice(args);
    let out = run.run(&all);
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn route_names_the_rule_that_won_for_each_rule() {
    let run = Run::new();
    let policy = run.policy(ROUTING_POLICY);
    // (arguments, via, rule, relay)
    let cases: &[(&[&str], &str, &str, Option<&str>)] = &[
        (
            &["alice@shop.example.com", "--to", "x@partner.example"],
            "recipient",
            "recipient",
            Some("[mx.partner.example]:25"),
        ),
        (
            &["alice@shop.example.com", "--to", "gmail.example"],
            "direct",
            "recipient",
            None,
        ),
        (&["<>", "--to", "x@else.example"], "direct", "bounces", None),
        (
            &["alice@shop.example.com", "--to", "x@else.example"],
            "mailbox",
            "mailbox",
            Some("[smtp.alice.example]:587"),
        ),
        (
            &["bob@shop.example.com"],
            "domain",
            "domain",
            Some("[smtp.eu.mailgun.org]:465"),
        ),
        (&["carol@intranet.example.com"], "direct", "direct-exception", None),
        (
            &["dave@blog.example.org"],
            "server",
            "server",
            Some("[smtp.sendgrid.net]:587"),
        ),
    ];
    for (args, via, rule, relay) in cases {
        let v = route_json(&run, &policy, args);
        assert_eq!(v["via"], *via, "{args:?}: {v}");
        assert_eq!(v["rule"], *rule, "{args:?}: {v}");
        assert_eq!(v["smarthost"]["relay"].as_str(), *relay, "{args:?}: {v}");
        assert!(!v["reason"].as_str().unwrap().is_empty());
        assert_eq!(v["schema"], smarthost_core::JSON_SCHEMA);
    }
    // The server-wide smarthost's backups, in order, and the recipient.
    let v = route_json(&run, &policy, &["dave@blog.example.org", "--to", "x@else.example"]);
    assert_eq!(
        v["smarthost"]["backups"],
        serde_json::json!(["[smtp2.example.net]:587", "[192.0.2.9]:2525"])
    );
    insta::assert_json_snapshot!("route_server_with_backups", v);
    assert_eq!(v["recipient"], "x@else.example");
    assert_eq!(v["recipient_domain"], "else.example");
    assert_eq!(v["smarthost"]["credentials"]["password"], "<redacted>");
    let v = route_json(&run, &policy, &["alice@shop.example.com", "--to", "x@partner.example"]);
    insta::assert_json_snapshot!("route_recipient", v);

    // No rule at all: direct delivery, rule "none".
    let empty = Run::new();
    let policy = empty.policy("");
    let v = route_json(&empty, &policy, &["a@b.example"]);
    assert_eq!((v["via"].as_str(), v["rule"].as_str()), (Some("direct"), Some("none")));
    // Bounces without a bounce setting follow the server-wide smarthost.
    let policy = empty.policy("[server]\nrelay = \"[relay.example]:587\"\n");
    let v = route_json(&empty, &policy, &["<>"]);
    assert_eq!(
        (v["via"].as_str(), v["rule"].as_str()),
        (Some("server"), Some("server"))
    );
    assert_eq!(v["sender_domain"], serde_json::Value::Null);
    // A bounce relay of its own.
    let policy = empty.policy("bounces = \"[bounces.example]:587\"\n");
    let v = route_json(&empty, &policy, &["<>"]);
    assert_eq!(
        (v["via"].as_str(), v["rule"].as_str()),
        (Some("bounces"), Some("bounces"))
    );
    assert_eq!(v["smarthost"]["relay"], "[bounces.example]:587");
}

#[test]
fn route_in_text_says_the_rule_the_relay_its_backups_and_why() {
    let run = Run::new();
    let policy = run.policy(ROUTING_POLICY);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["alice@shop.example.com", "--to", "bob@partner.example"],
            &[
                "alice@shop.example.com -> bob@partner.example: relayed via [mx.partner.example]:25 (none)",
                "rule: recipient route",
                "because mail to partner.example has its own route",
            ],
        ),
        (
            &["dave@blog.example.org"],
            &[
                "relayed via [smtp.sendgrid.net]:587 (starttls), user apikey; backups, in order: [smtp2.example.net]:587, [192.0.2.9]:2525",
                "rule: server-wide smarthost",
            ],
        ),
        (&["alice@shop.example.com"], &["rule: mailbox smarthost", "user alice"]),
        (
            &["carol@intranet.example.com"],
            &["delivered directly", "rule: direct exception", "is a direct exception"],
        ),
        (&["<>"], &["delivered directly", "rule: bounces"]),
    ];
    for (args, wanted) in cases {
        let mut all = vec!["--policy", &policy, "route"];
        all.extend_from_slice(args);
        let out = run.run(&all);
        assert_ok(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        for w in *wanted {
            assert!(stdout.contains(w), "{args:?}: {w:?} missing:\n{stdout}");
        }
    }
}

#[test]
fn route_forwarded_explains_the_path_and_warns_about_unverified_senders() {
    let run = Run::new();
    let policy = run.policy(ROUTING_POLICY);
    let out = run.run(&["--policy", &policy, "route", "--forwarded", "someone@elsewhere.example"]);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for w in [
        "mail forwarded to someone@elsewhere.example from an outside sender: relayed via [smtp.sendgrid.net]:587",
        "rule: server-wide smarthost",
        "unless sender rewriting (SRS",
        "warning (without SRS): mail forwarded to someone@elsewhere.example keeps its outside sender",
        "recipient set DOMAIN --direct",
    ] {
        assert!(stdout.contains(w), "{w:?} missing:\n{stdout}");
    }
    let v = route_json(&run, &policy, &["--forwarded", "someone@elsewhere.example"]);
    insta::assert_json_snapshot!("route_forwarded", v);
    assert_eq!(v["forwarded"], "someone@elsewhere.example");
    assert!(v.get("sender").is_none(), "{v}");
    assert_eq!(v["rule"], "server");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1, "{v}");

    // A forwarding target with a direct recipient route: no warning.
    let v = route_json(&run, &policy, &["--forwarded", "someone@gmail.example"]);
    assert_eq!(
        (v["via"].as_str(), v["rule"].as_str()),
        (Some("direct"), Some("recipient"))
    );
    assert!(v.get("warnings").is_none(), "{v}");
}

#[test]
fn list_of_a_policy_file_shows_every_rule_without_a_password() {
    let run = Run::new();
    let policy = run.policy(ROUTING_POLICY);
    let out = run.run(&["--policy", &policy, "list"]);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "server-wide: [smtp.sendgrid.net]:587 (starttls), user apikey; backups, in order: [smtp2.example.net]:587, [192.0.2.9]:2525
domain intranet.example.com: direct delivery (a direct exception to the server-wide smarthost)
domain shop.example.com: [smtp.eu.mailgun.org]:465 (implicit-tls), user postmaster@mg.shop.example.com
mailbox alice@shop.example.com: [smtp.alice.example]:587 (starttls), user alice
recipient gmail.example: direct delivery, whoever sends it
recipient partner.example: [mx.partner.example]:25 (none), whoever sends it
bounces: direct delivery (chosen for bounces)
"
    );
    let out = run.run(&["--policy", &policy, "--json", "list"]);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!("list_policy", v);
    assert!(run.files().is_empty(), "list writes nothing");
}

#[test]
fn usage_errors_exit_2_and_change_nothing() {
    let run = Run::new();
    assert_ok(&run.run(&["server", "set", "--relay", "[relay.example]:587"]));
    let before = run.files();
    let cases: &[(&[&str], &str)] = &[
        (&["domain", "set", "a.example"], "--direct"),
        (
            &["domain", "set", "a.example", "--direct", "--relay", "r.example"],
            "--direct",
        ),
        (
            &["domain", "set", "a.example", "--direct", "--backup-relay", "r.example"],
            "--direct",
        ),
        (&["recipient", "set", "p.example"], "--relay"),
        (
            &["recipient", "set", "p.example", "--direct", "--username", "u"],
            "--direct",
        ),
        (&["mailbox", "set", "a@b.example"], "--relay"),
        (&["mailbox", "set", "a@b.example", "--direct"], "--direct"),
        (&["bounces", "set"], "PATH"),
        (&["bounces", "set", "server", "--relay", "r.example"], "PATH"),
        (&["bounces", "set", "somewhere"], "somewhere"),
        (&["route"], "SENDER"),
        (&["route", "a@b.example", "--forwarded", "x@y.example"], "--forwarded"),
        (&["route", "--forwarded", "x@y.example", "--to", "z@y.example"], "--to"),
        (&["server", "set", "--direct"], "--direct"),
        (
            &[
                "mailbox",
                "set",
                "a@b.example",
                "--relay",
                "r.example",
                "--password",
                "x",
            ],
            "--password is not accepted",
        ),
    ];
    for (args, needle) in cases {
        let out = run.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(run.files(), before, "{args:?} changed a file");
    }
}

#[test]
fn invalid_values_name_the_field_and_change_nothing() {
    let run = Run::new();
    assert_ok(&run.run(&["server", "set", "--relay", "[relay.example]:587"]));
    let before = run.files();
    let cases: &[(&[&str], &str)] = &[
        (
            &["mailbox", "set", "alice", "--relay", "r.example"],
            "mailbox: \"alice\" is invalid: has no '@'",
        ),
        (
            &["mailbox", "set", "al ice@b.example", "--relay", "r.example"],
            "mailbox: \"al ice@b.example\" is invalid",
        ),
        (
            &["mailbox", "disable", "b.example"],
            "mailbox: \"b.example\" is invalid",
        ),
        (
            &["recipient", "set", "bad domain", "--direct"],
            "recipient: \"bad domain\" is invalid",
        ),
        (
            &["recipient", "disable", "[p.example]"],
            "recipient: \"[p.example]\" is invalid",
        ),
        (
            &["domain", "set", "bad domain", "--direct"],
            "domain: \"bad domain\" is invalid",
        ),
        (
            &["server", "set", "--relay", "r.example", "--backup-relay", "b.example:0"],
            "backup-relay[0].port",
        ),
        (
            &[
                "domain",
                "set",
                "a.example",
                "--relay",
                "r.example",
                "--backup-relay",
                "b.example",
                "--backup-relay",
                "b.example\nrelayhost=evil",
            ],
            "backup-relay[1]",
        ),
        (
            &[
                "recipient",
                "set",
                "p.example",
                "--relay",
                "[r.example]:587",
                "--backup-relay",
                "[r.example]:587",
            ],
            "backup-relay: \"[r.example]:587\" is invalid: is listed twice",
        ),
        (
            &[
                "bounces",
                "set",
                "--relay",
                "[b.example]:587",
                "--backup-relay",
                "[c.example",
            ],
            "backup-relay[0]: \"[c.example\" is invalid",
        ),
        (
            &["route", "a@b.example", "--to", "x@bad domain"],
            "recipient: \"bad domain\" is invalid",
        ),
        (
            &["route", "--forwarded", "x@bad domain"],
            "recipient: \"bad domain\" is invalid",
        ),
    ];
    for (args, needle) in cases {
        let out = run.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("smarthost: error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(run.files(), before, "{args:?} changed a file");
    }
    // Too many backups.
    let mut args = vec!["server", "set", "--relay", "r.example"];
    let backups: Vec<String> = (0..=smarthost_core::MAX_BACKUPS)
        .map(|i| format!("b{i}.example"))
        .collect();
    for b in &backups {
        args.extend(["--backup-relay", b.as_str()]);
    }
    let out = run.run(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("backup-relay: \"9 relays\" is invalid: has more than 8"),
        "{}",
        text(&out)
    );
    assert_eq!(run.files(), before);
}

/// Each command, run with the settings file `settings`, fails (exit 1)
/// naming its field and the `level` (`domain`, `server`) that is disabled.
fn assert_level_refused(run: &Run, settings: &str, level: &str, cases: &[(&[&str], &str)]) {
    for (args, field) in cases {
        let mut all = vec!["--settings", settings];
        all.extend_from_slice(args);
        let out = run.run(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "{field}: {level}-level smarthosts are disabled by the feature settings (features.{level}.enabled = false)"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn disabled_levels_refuse_the_new_rules_naming_the_setting() {
    let run = Run::new();
    let settings = run.outside.path().join("settings.toml");
    let settings = settings.to_str().unwrap();
    // Mailboxes and direct exceptions are domain-level.
    std::fs::write(settings, "[features.domain]\nenabled = false\n").unwrap();
    assert_level_refused(
        &run,
        settings,
        "domain",
        &[
            (
                &["mailbox", "set", "a@b.example", "--relay", "r.example"],
                "mailboxes.\"a@b.example\"",
            ),
            (&["domain", "set", "a.example", "--direct"], "domains.\"a.example\""),
        ],
    );
    // Recipient routes and bounces are server-level.
    std::fs::write(settings, "[features.server]\nenabled = false\n").unwrap();
    assert_level_refused(
        &run,
        settings,
        "server",
        &[
            (
                &["recipient", "set", "p.example", "--direct"],
                "recipients.\"p.example\"",
            ),
            (&["bounces", "set", "direct"], "bounces"),
            (&["bounces", "set", "--relay", "r.example"], "bounces"),
        ],
    );
    assert!(run.files().is_empty(), "nothing was written");
}

// ---- Rendered with the Postfix backend and read back: these need the
// ---- Postfix backend to write and read the new rules.

/// Runs a changing command twice: the first changes something, the second
/// nothing (and writes nothing).
fn apply_twice(run: &Run, args: &[&str]) {
    let out = run.run(args);
    assert_ok(&out);
    let first = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(first.contains("Applied"), "{args:?} changed nothing:\n{first}");
    let before = run.files();
    let out = run.run(args);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("No changes: the system already matches the policy."),
        "{args:?} again:\n{stdout}"
    );
    assert_eq!(run.files(), before, "{args:?} again wrote a file");
}

#[test]
fn a_direct_exception_through_postfix() {
    let run = Run::new();
    assert_ok(&run.run(&["server", "set", "--relay", "[relay.example]:587"]));
    apply_twice(&run, &["domain", "set", "intranet.example", "--direct"]);
    assert_eq!(run.list()["direct"], serde_json::json!(["intranet.example"]));
    let out = run.run(&["route", "a@intranet.example"]);
    assert!(text(&out).contains("rule: direct exception"), "{}", text(&out));
    // A relay for the domain ends the exception, and disable ends either.
    assert_ok(&run.run(&["domain", "set", "intranet.example", "--relay", "[other.example]:587"]));
    let list = run.list();
    assert!(list.get("direct").is_none(), "{list}");
    assert_eq!(list["domains"]["intranet.example"]["relay"], "[other.example]:587");
    assert_ok(&run.run(&["domain", "set", "intranet.example", "--direct"]));
    assert_ok(&run.run(&["domain", "disable", "intranet.example"]));
    let list = run.list();
    assert!(
        list.get("direct").is_none() && list["domains"] == serde_json::json!({}),
        "{list}"
    );
}

#[test]
fn backup_relays_through_postfix() {
    let run = Run::new();
    apply_twice(
        &run,
        &[
            "server",
            "set",
            "--relay",
            "[relay.example]:587",
            "--backup-relay",
            "[backup1.example]:587",
            "--backup-relay",
            "[backup2.example]:587",
        ],
    );
    assert_eq!(
        run.list()["server"]["backups"],
        serde_json::json!(["[backup1.example]:587", "[backup2.example]:587"])
    );
    apply_twice(
        &run,
        &[
            "domain",
            "set",
            "a.example",
            "--relay",
            "[relay-a.example]:587",
            "--backup-relay",
            "[backup-a.example]:587",
        ],
    );
    let list = run.list();
    assert_eq!(
        list["domains"]["a.example"]["backups"],
        serde_json::json!(["[backup-a.example]:587"])
    );
    // Without --backup-relay, a set drops the backups.
    assert_ok(&run.run(&["server", "set", "--relay", "[relay.example]:587"]));
    assert!(run.list()["server"].get("backups").is_none());
}

#[test]
fn mailboxes_through_postfix() {
    let run = Run::new();
    let out = run.run_with_stdin(
        &[
            "mailbox",
            "set",
            "Alice@Shop.Example",
            "--relay",
            "[relay-alice.example]:587",
            "--username",
            "alice",
            "--password-stdin",
        ],
        &format!("{STDIN_SECRET}\n"),
    );
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Applied"),
        "{}",
        text(&out)
    );
    apply_twice(
        &run,
        &[
            "mailbox",
            "set",
            "bob@shop.example",
            "--relay",
            "[relay-bob.example]:587",
        ],
    );
    let list = run.list();
    let mailboxes = &list["mailboxes"];
    assert_eq!(mailboxes["alice@shop.example"]["credentials"]["password"], "<redacted>");
    assert_eq!(mailboxes["bob@shop.example"]["relay"], "[relay-bob.example]:587");
    for args in [&["list"][..], &["--json", "list"], &["route", "alice@shop.example"]] {
        assert_ok(&run.run(args));
    }
    assert_ok(&run.run(&["mailbox", "disable", "alice@shop.example"]));
    let list = run.list();
    assert!(list["mailboxes"].get("alice@shop.example").is_none(), "{list}");
    let out = run.run(&["mailbox", "disable", "alice@shop.example"]);
    assert_ok(&out);
    assert!(text(&out).contains("nothing to disable"), "{}", text(&out));
}

#[test]
fn recipient_routes_through_postfix() {
    let run = Run::new();
    apply_twice(
        &run,
        &[
            "recipient",
            "set",
            "partner.example",
            "--relay",
            "[mx.partner.example]:25",
            "--encryption",
            "none",
        ],
    );
    apply_twice(&run, &["recipient", "set", "gmail.example", "--direct"]);
    let list = run.list();
    assert_eq!(
        list["recipients"]["partner.example"]["relay"],
        "[mx.partner.example]:25"
    );
    assert_eq!(list["direct_recipients"], serde_json::json!(["gmail.example"]));
    // --direct replaces a relay route, and disable removes either.
    assert_ok(&run.run(&["recipient", "set", "partner.example", "--direct"]));
    assert_eq!(
        run.list()["direct_recipients"],
        serde_json::json!(["gmail.example", "partner.example"])
    );
    assert_ok(&run.run(&["recipient", "disable", "partner.example"]));
    assert_ok(&run.run(&["recipient", "disable", "gmail.example"]));
    let list = run.list();
    assert!(
        list.get("recipients").is_none() && list.get("direct_recipients").is_none(),
        "{list}"
    );
}

#[test]
fn bounces_through_postfix() {
    let run = Run::new();
    assert_ok(&run.run(&["server", "set", "--relay", "[relay.example]:587"]));
    apply_twice(&run, &["bounces", "set", "direct"]);
    assert_eq!(run.list()["bounces"], "direct");
    apply_twice(&run, &["bounces", "set", "--relay", "[bounces.example]:587"]);
    assert_eq!(run.list()["bounces"]["relay"], "[bounces.example]:587");
    apply_twice(&run, &["bounces", "set", "server"]);
    assert!(run.list().get("bounces").is_none());
}

#[test]
fn a_routing_policy_applies_once_and_reads_back_through_postfix() {
    let run = Run::new();
    let policy = run.policy(ROUTING_POLICY);
    let out = run.run(&["--policy", &policy, "apply"]);
    assert_ok(&out);
    let before = run.files();
    let out = run.run(&["--policy", &policy, "--json", "apply"]);
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changed"], false, "{report}");
    assert_eq!(run.files(), before);
    // What the backend reads back is what the policy says.
    let live = run.run(&["--json", "list"]);
    let file = run.run(&["--policy", &policy, "--json", "list"]);
    assert_ok(&live);
    let mut live: serde_json::Value = serde_json::from_slice(&live.stdout).unwrap();
    let mut file: serde_json::Value = serde_json::from_slice(&file.stdout).unwrap();
    // Features are the settings', not the policy's.
    live.as_object_mut().unwrap().remove("features");
    file.as_object_mut().unwrap().remove("features");
    assert_eq!(live, file);
}
