//! The `smarthost` binary, run as users run it, against a temporary root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_support::process::{text, Rooted};

const SENDGRID_KEY: &str = "SG.example-api-key-not-real";
const MAILGUN_KEY: &str = "example-mailgun-password-not-real";
const STDIN_SECRET: &str = "stdin-secret-Zq8";

fn example_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy.toml")
}

/// `smarthost` on a temporary root ([`Rooted`]), with this suite's steps.
struct Run(Rooted);

impl std::ops::Deref for Run {
    type Target = Rooted;
    fn deref(&self) -> &Rooted {
        &self.0
    }
}

impl Run {
    fn new() -> Self {
        Run(Rooted::new(env!("CARGO_BIN_EXE_smarthost")))
    }

    fn apply_example(&self) -> Output {
        let out = self.run(&["--policy", example_policy().to_str().unwrap(), "apply"]);
        assert_ok(&out);
        out
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.path().join(rel)).unwrap()
    }
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}:\n{}", out.status.code(), text(out));
}

fn assert_no_secret(out: &Output) {
    let t = text(out);
    for secret in [SENDGRID_KEY, MAILGUN_KEY, STDIN_SECRET] {
        assert!(!t.contains(secret), "secret leaked:\n{t}");
    }
}

#[test]
fn the_quick_start_renders_the_example_and_a_second_apply_changes_nothing() {
    let run = Run::new();
    let out = run.apply_example();
    assert_no_secret(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("+relayhost = [smtp.sendgrid.net]:587"), "{stdout}");
    assert!(run
        .read("etc/postfix/main.cf")
        .contains("sender_dependent_relayhost_maps = hash:/var/spool/postfix/plesk/sender_relay"));
    let secrets = run.read("var/spool/postfix/plesk/relay_secrets");
    assert!(
        secrets.contains(&format!("[smtp.sendgrid.net]:587 apikey:{SENDGRID_KEY}\n")),
        "the real secret is written"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(run.root.path().join("var/spool/postfix/plesk/relay_secrets"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let before = run.files();
    let out = run.run(&["--policy", example_policy().to_str().unwrap(), "--json", "apply"]);
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema"], smarthost_core::JSON_SCHEMA);
    assert_eq!(report["changed"], false);
    assert_eq!(run.files(), before, "a second apply writes nothing");
}

#[test]
fn plan_reports_pending_changes_with_a_distinct_exit_code() {
    let run = Run::new();
    let policy = example_policy();
    let args = ["--policy", policy.to_str().unwrap(), "plan", "--detailed-exitcode"];
    let out = run.run(&args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(run.files().is_empty(), "plan writes nothing");
    run.apply_example();
    let out = run.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn secrets_never_reach_any_output() {
    let run = Run::new();
    let policy = example_policy();
    let policy = policy.to_str().unwrap();
    for args in [
        vec!["--policy", policy, "plan"],
        vec!["--policy", policy, "--json", "plan"],
        vec!["--policy", policy, "--json", "apply"],
        vec!["list"],
        vec!["--json", "list"],
        vec!["route", "a@shop.example.com"],
        vec!["--json", "route", "a@other.example"],
        vec!["route", "a@shop.example.com", "--to", "b@partner.example"],
        vec!["--json", "route", "--forwarded", "b@partner.example"],
        vec!["--policy", policy, "list"],
        vec!["--policy", policy, "--json", "list"],
        vec!["--policy", policy, "--json", "route", "<>"],
        vec!["domain", "disable", "shop.example.com", "--dry-run"],
        vec!["domain", "set", "shop.example.com", "--direct", "--dry-run"],
    ] {
        let out = run.run(&args);
        assert_ok(&out);
        assert_no_secret(&out);
    }
    let out = run.run_with_stdin(
        &[
            "domain",
            "set",
            "new.example",
            "--relay",
            "[smtp.example.org]:587",
            "--username",
            "u",
            "--password-stdin",
        ],
        &format!("{STDIN_SECRET}\n"),
    );
    assert_ok(&out);
    assert_no_secret(&out);
    assert!(run
        .read("var/spool/postfix/plesk/relay_secrets")
        .contains(&format!("@new.example u:{STDIN_SECRET}\n")));
}

#[test]
fn rejected_commands_touch_no_file() {
    let run = Run::new();
    run.apply_example();
    let before = run.files();
    let cases: &[(&[&str], &str)] = &[
        (&["server", "set", "--relay", "smtp.example.com:0"], "relay.port"),
        (
            &["server", "set", "--relay", "smtp.example.com\nrelayhost=evil"],
            "line break",
        ),
        (&["server", "set", "--relay", "[smtp.example.com"], "without a closing"),
        (
            &["domain", "set", "bad domain", "--relay", "[smtp.example.com]"],
            "whitespace",
        ),
        (
            &[
                "domain",
                "set",
                "a.example",
                "--relay",
                "[smtp.example.com]",
                "--username",
                "a:b",
                "--password-env",
                "PATH",
            ],
            "username",
        ),
        (
            &[
                "domain",
                "set",
                "a.example",
                "--relay",
                "[smtp.example.com]",
                "--username",
                "u",
            ],
            "needs a password",
        ),
        (
            &[
                "domain",
                "set",
                "a.example",
                "--relay",
                "[smtp.example.com]",
                "--username",
                "u",
                "--password-env",
                "SMARTHOST_UNSET",
            ],
            "SMARTHOST_UNSET",
        ),
        (&["route", "bob@bad domain"], "sender"),
    ];
    for (args, needle) in cases {
        let out = run.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.starts_with("smarthost: error: "), "{stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
        assert_eq!(run.files(), before, "{args:?} changed a file");
    }
    // Not an error (issue 19), and nothing changes either.
    let out = run.run(&["domain", "disable", "never-configured.example"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing to disable"), "{}", text(&out));
    assert_eq!(run.files(), before);
}

#[test]
fn a_password_on_the_command_line_is_refused_without_echoing_it() {
    let run = Run::new();
    let out = run.run(&[
        "server",
        "set",
        "--relay",
        "[smtp.example.com]:587",
        "--username",
        "u",
        "--password",
        STDIN_SECRET,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password is not accepted"));
    assert_no_secret(&out);
    assert!(run.files().is_empty());
}

#[test]
fn a_disabled_level_refuses_set_but_allows_disable() {
    let run = Run::new();
    run.apply_example();
    let settings = run.root.path().join("etc/smarthost/settings.toml");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "[features.domain]\nenabled = false\n").unwrap();
    let before = run.files();
    let out = run.run(&["domain", "set", "a.example", "--relay", "[smtp.example.com]:587"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("domain-level smarthosts are disabled by the feature settings (features.domain.enabled = false)"),
        "{stderr}"
    );
    assert_eq!(run.files(), before);

    let out = run.run(&["--policy", example_policy().to_str().unwrap(), "plan"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a policy cannot re-enable a level: {}",
        text(&out)
    );

    // Disabling always works, so a forbidden level can be cleaned up.
    assert_ok(&run.run(&["domain", "disable", "shop.example.com"]));
    assert_ok(&run.run(&["domain", "disable", "legacy.example.net"]));
    assert!(!run
        .read("etc/postfix/main.cf")
        .contains("sender_dependent_relayhost_maps"));
}

#[test]
fn windows_backends_say_what_they_need_here() {
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["--backend", "mailenable", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use --root DIR to write a .reg file"),
        "{}",
        text(&out)
    );
    // Without --root the API is used, and its password must come from the
    // environment or a file.
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["--backend", "smartermail", "--url", "http://127.0.0.1:9", "list"])
        .env_remove("SMARTERMAIL_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SMARTERMAIL_PASSWORD"),
        "{}",
        text(&out)
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let run = Run::new();
    assert_eq!(run.run(&["plan"]).status.code(), Some(2), "plan without --policy");
    assert_eq!(run.run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn set_then_disable_restores_the_original_main_cf() {
    let run = Run::new();
    let original = "# my settings\nmyhostname = mx.example.com\nsmtpd_banner = $myhostname ESMTP\n";
    std::fs::create_dir_all(run.root.path().join("etc/postfix")).unwrap();
    std::fs::write(run.root.path().join("etc/postfix/main.cf"), original).unwrap();
    std::fs::write(
        run.root.path().join("etc/postfix/master.cf"),
        "smtp inet n - y - - smtpd\n",
    )
    .unwrap();
    assert_ok(&run.run(&["server", "set", "--relay", "[smtp.example.com]:465"]));
    assert!(run.read("etc/postfix/main.cf").starts_with(original));
    assert!(run.read("etc/postfix/master.cf").contains("smarthost-tls unix"));
    assert_ok(&run.run(&["server", "disable"]));
    let main = run.read("etc/postfix/main.cf");
    // Byte for byte (issue 15): no `relayhost =` and no CA bundle left
    // behind where the administrator had none.
    assert_eq!(main, original);
    assert_eq!(run.read("etc/postfix/master.cf"), "smtp inet n - y - - smtpd\n");
    assert!(!run.root.path().join("var/spool/postfix/plesk/tls_policy").exists());
}

#[test]
fn a_provider_preset_fills_in_the_relay_and_explicit_options_win() {
    let run = Run::new();
    let out = run.run_with_stdin(
        &["server", "set", "--provider", "sendgrid", "--password-stdin"],
        &format!("{STDIN_SECRET}\n"),
    );
    assert_ok(&out);
    assert_no_secret(&out);
    assert!(run
        .read("etc/postfix/main.cf")
        .contains("relayhost = [smtp.sendgrid.net]:587\n"));
    assert!(run
        .read("var/spool/postfix/plesk/relay_secrets")
        .contains(&format!("apikey:{STDIN_SECRET}")));

    let out = run.run(&[
        "domain",
        "set",
        "a.example",
        "--provider",
        "sendgrid",
        "--relay",
        "[smtp.sendgrid.net]:465",
        "--username",
        "other",
        "--password-env",
        "PATH",
        "--dry-run",
    ]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("+@a.example smarthost-tls:[smtp.sendgrid.net]:465"),
        "port 465 means implicit TLS: {text}"
    );
    assert!(text.contains("+@a.example other:<redacted>"), "{text}");

    let before = run.files();
    let out = run.run(&["domain", "set", "a.example", "--provider", "sendgird"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("provider: \"sendgird\" is invalid: is not a known provider"));
    assert_eq!(run.files(), before);
}

#[test]
fn providers_are_listed() {
    let out = Run::new().run(&["--json", "providers"]);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for wanted in [
        "sendgrid",
        "mailgun",
        "mailgun-eu",
        "mailjet",
        "amazon-ses",
        "postmark",
        "brevo",
        "smtp2go",
        "sparkpost",
        "microsoft365",
        "google-workspace",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
}

#[test]
fn dns_checks_every_domain_against_a_local_server() {
    use smarthost_core::dns::TxtServer;
    let server = TxtServer::start(&[
        ("shop.example.com", "v=spf1 mx include:mailgun.org -all"),
        ("mailgun.org", "v=spf1 ip4:198.51.100.0/24 -all"),
        ("_dmarc.shop.example.com", "v=DMARC1; p=quarantine"),
        ("legacy.example.net", "v=spf1 mx -all"),
    ])
    .unwrap();
    let run = Run::new();
    let policy = example_policy();
    let server_addr = server.addr().to_string();
    let args = [
        "--policy",
        policy.to_str().unwrap(),
        "--json",
        "dns",
        "--all",
        "--dns-server",
        server_addr.as_str(),
    ];
    let out = run.run(&args);
    assert_eq!(
        out.status.code(),
        Some(3),
        "legacy.example.net needs an SPF change: {}",
        text(&out)
    );
    assert_no_secret(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let domains = v["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 2);
    let by_name = |n: &str| domains.iter().find(|d| d["domain"] == n).unwrap();
    assert_eq!(by_name("shop.example.com")["spf"]["status"], "authorized");
    let legacy = by_name("legacy.example.net");
    assert_eq!(legacy["spf"]["status"], "not-authorized");
    assert_eq!(legacy["spf"]["publish"]["record"], "v=spf1 mx ip4:192.0.2.25 -all");

    let out = run.run(&[
        "--policy",
        policy.to_str().unwrap(),
        "dns",
        "shop.example.com",
        "--dns-server",
        server_addr.as_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SPF: the relay is authorized"), "{stdout}");
    assert!(stdout.contains("DMARC: v=DMARC1; p=quarantine"), "{stdout}");
}

#[test]
fn mailenable_renders_a_reg_file_and_imports_it_back() {
    let run = Run::new();
    let out = run.run_with_stdin(
        &[
            "--backend",
            "mailenable",
            "server",
            "set",
            "--provider",
            "sendgrid",
            "--password-stdin",
        ],
        &format!("{STDIN_SECRET}\n"),
    );
    assert_ok(&out);
    assert_no_secret(&out);
    let reg = run.root.path().join("smarthost.reg");
    let bytes = std::fs::read(&reg).unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xFE], "UTF-16LE with a BOM");
    let out = run.run(&["--json", "mailenable", "import", reg.to_str().unwrap()]);
    assert_ok(&out);
    assert_no_secret(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["server"]["relay"], "[smtp.sendgrid.net]:587");
    assert_eq!(v["server"]["credentials"]["username"], "apikey");
    let out = run.run(&[
        "--backend",
        "mailenable",
        "server",
        "set",
        "--relay",
        "[smtp.example.com]:465",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no implicit TLS"),
        "{}",
        text(&out)
    );
    // Domain level only where `mailenable learn` found it.
    let out = run.run(&[
        "--backend",
        "mailenable",
        "domain",
        "set",
        "a.example",
        "--relay",
        "[smtp.example.com]:587",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mailenable learn --domain"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_one_domain_set_without_the_settings_file_leaves_other_relays_tls_entries_alone() {
    // Issue 15: a set without the settings file rewrote every other relay's
    // TLS entry from `encrypt` to `secure`.
    let run = Run::new();
    let outside = tempfile::tempdir().unwrap();
    let settings = outside.path().join("settings.toml");
    std::fs::write(&settings, "[features.domain]\ncheck_certificate = false\n").unwrap();
    let key = outside.path().join("key");
    std::fs::write(&key, "a-password-for-a\n").unwrap();
    let settings = settings.to_str().unwrap();
    let key = key.to_str().unwrap();
    for (domain, relay) in [
        ("a.example", "[smtp.a.example]:587"),
        ("b.example", "[smtp.b.example]:587"),
    ] {
        assert_ok(&run.run(&[
            "--settings",
            settings,
            "domain",
            "set",
            domain,
            "--relay",
            relay,
            "--username",
            "u",
            "--password-file",
            key,
        ]));
    }
    let tls = "var/spool/postfix/plesk/tls_policy";
    let before = run.read(tls);
    assert!(before.contains("[smtp.a.example]:587 encrypt"), "{before}");
    assert_ok(&run.run(&[
        "domain",
        "set",
        "c.example",
        "--relay",
        "[smtp.c.example]:587",
        "--username",
        "u",
        "--password-file",
        key,
    ]));
    let after = run.read(tls);
    for line in before.lines() {
        assert!(after.lines().any(|l| l == line), "{line:?} was changed:\n{after}");
    }
}
