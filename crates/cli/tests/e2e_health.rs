//! `smarthost test-send`, `status` and `doctor` against a real Postfix: a
//! private instance (shared notes, postfix-e2e.md) configured by
//! `smarthost apply` relays to local test relays (127.0.0.1 only): one
//! that accepts, one with a certificate from another CA, one that offers
//! only XOAUTH2, and a stopped one; one domain has a wrong password.
//!
//! Needs root and Debian's `postfix` + `libsasl2-modules`: ignored by a
//! plain `cargo test`, run by `cargo test -- --include-ignored` (as .ci/run
//! does, as root), where a missing prerequisite fails it.
#![cfg(unix)] // a private Postfix instance

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::certs::{Cert, TestCa};
use test_support::postfix::Instance;
use test_support::process::text;
use test_support::smtp::{Options, Server};

/// `smarthost --config-dir DIR --map-dir DIR ARGS...` on the instance.
fn smarthost(pf: &Instance, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("--config-dir")
        .arg(pf.config_dir())
        .arg("--map-dir")
        .arg(pf.map_dir())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // The outputs the guide shows come from here (--nocapture).
    eprintln!(
        "$ smarthost {}\n{}[exit {:?}]\n",
        args.join(" "),
        text(&out),
        out.status.code()
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// A relay offering STARTTLS with `cert`, one account, behaving as
/// `options` say otherwise.
fn relay(cert: Cert, options: Options) -> Server {
    Server::start(Options {
        name: "relay".into(),
        cert: Some(Arc::new(cert)),
        accounts: vec![("relay-user".into(), "relay-pass-1".into())],
        ..options
    })
}

/// Checks a file against the Prometheus text exposition format (version
/// 0.0.4): comment and sample syntax, metric and label names, escaped
/// label values, float values, one TYPE per family before its samples,
/// each family's samples together, no series twice, a final newline.
fn parse_prometheus(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let metric_name = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let label_name = |n: &str| {
        let mut chars = n.chars();
        !n.starts_with("__")
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["HELP", name, ..] if !metric_name(name) || !helped.insert(name.to_string()) => {
                    return Err(at("bad or repeated HELP"));
                }
                ["TYPE", name, kind] => {
                    let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !metric_name(name) || !kinds.contains(kind) {
                        return Err(at("bad TYPE"));
                    }
                    if typed.insert(name.to_string(), kind.to_string()).is_some()
                        || finished.contains(*name)
                        || current.as_deref() == Some(*name)
                    {
                        return Err(at("TYPE after the family's samples, or twice"));
                    }
                }
                _ => {}
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value"))?;
        let name = &line[..name_end];
        if !metric_name(name) {
            return Err(at("bad metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let end;
            loop {
                // label name
                let start = chars.peek().map(|(i, _)| *i).ok_or_else(|| at("open labels"))?;
                if inner[start..].starts_with('}') {
                    end = start + 1;
                    break;
                }
                let eq = inner[start..].find('=').ok_or_else(|| at("label without ="))? + start;
                let lname = &inner[start..eq];
                if !label_name(lname) {
                    return Err(at("bad label name"));
                }
                while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                    chars.next();
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(at("label value not quoted"));
                }
                let mut value = String::new();
                loop {
                    match chars.next().ok_or_else(|| at("unterminated label value"))?.1 {
                        '"' => break,
                        '\\' => match chars.next().ok_or_else(|| at("bad escape"))?.1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            _ => return Err(at("bad escape")),
                        },
                        '\n' => return Err(at("newline in label value")),
                        c => value.push(c),
                    }
                }
                labels.push(format!("{lname}={value:?}"));
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((i, '}')) => {
                        end = i + 1;
                        break;
                    }
                    _ => return Err(at("expected , or }")),
                }
            }
            rest = &inner[end..];
        }
        let mut fields = rest.split_whitespace();
        let value = fields.next().ok_or_else(|| at("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| at("value is not a float"))?,
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| at("bad timestamp"))?;
        }
        if fields.next().is_some() || !rest.starts_with(' ') {
            return Err(at("trailing text"));
        }
        if current.as_deref() != Some(name) {
            if let Some(previous) = current.take() {
                finished.insert(previous);
            }
            if finished.contains(name) {
                return Err(at("the family's samples are not together"));
            }
            current = Some(name.to_owned());
        }
        let key = format!("{name}{{{}}}", labels.join(","));
        if series.insert(key, value).is_some() {
            return Err(at("the same series twice"));
        }
    }
    Ok(series)
}

#[test]
fn the_prometheus_checker_refuses_what_the_format_forbids() {
    let good = "# HELP a_b x\n# TYPE a_b gauge\na_b{relay=\"[x]:1\",q=\"a\\\"b\"} 1\na_b 2.5\n";
    assert_eq!(parse_prometheus(good).unwrap().len(), 2);
    for bad in [
        "a_b 1",                                 // no final newline
        "1ab 1\n",                               // metric name
        "a{1x=\"y\"} 1\n",                       // label name
        "a{x=y} 1\n",                            // unquoted value
        "a{x=\"\\q\"} 1\n",                      // bad escape
        "a one\n",                               // value
        "a 1\na 2\n",                            // twice
        "a 1\nb 1\na{x=\"1\"} 1\n",              // not together
        "a 1\n# TYPE a gauge\n",                 // TYPE after samples
        "# TYPE a gauge\n# TYPE a gauge\na 1\n", // TYPE twice
    ] {
        assert!(parse_prometheus(bad).is_err(), "{bad:?} passed");
    }
}

#[test]
#[ignore = "needs root, Postfix 3.x and libsasl2-modules (run with --include-ignored as root; .ci/run does)"]
fn test_send_status_and_doctor_tell_what_postfix_does() {
    let started = Instant::now();
    let ca = TestCa::new();
    let good = relay(ca.leaf(&["localhost"]), Options::default());
    let untrusted = relay(TestCa::new().leaf(&["localhost"]), Options::default());
    let xoauth = relay(
        ca.leaf(&["localhost"]),
        Options {
            mechanisms: "XOAUTH2".into(),
            ..Options::default()
        },
    );
    let stopped_port = relay(ca.leaf(&["localhost"]), Options::default()).port();
    let pf = Instance::start(Some(&ca.pem()));
    let d = pf.dir.path();
    std::fs::write(d.join("good.pw"), "relay-pass-1\n").unwrap();
    std::fs::write(d.join("bad.pw"), "wrong-pass-2\n").unwrap();
    let at = |port: u16| format!("[localhost]:{port}");
    let domain = |name: &str, port: u16, pw: &str| {
        format!(
            "[domains.\"{name}\"]\nrelay = \"{}\"\nencryption = \"starttls\"\nusername = \"relay-user\"\npassword_file = \"{pw}\"\n\n",
            at(port)
        )
    };
    let policy = format!(
        "[server]\nrelay = \"{}\"\nencryption = \"starttls\"\nusername = \"relay-user\"\npassword_file = \"good.pw\"\n\n{}{}{}{}",
        at(good.port()),
        domain("badpw.example", good.port(), "bad.pw"),
        domain("cert.example", untrusted.port(), "good.pw"),
        domain("down.example", stopped_port, "good.pw"),
        domain("xoauth.example", xoauth.port(), "good.pw"),
    );
    std::fs::write(d.join("policy.toml"), policy).unwrap();
    let policy_arg = d.join("policy.toml").display().to_string();
    let out = smarthost(&pf, &["--policy", &policy_arg, "apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Before any mail: doctor without asking the relays passes; nothing
    // is deferred.
    let out = smarthost(&pf, &["doctor", "--no-probe"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("PASS  Postfix is installed: Postfix 3."),
        "{}",
        text(&out)
    );
    let out = smarthost(&pf, &["status", "--nagios"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with("SMARTHOST OK - no mail deferred on 4 smarthost relay(s) | deferred=0"),
        "{}",
        text(&out)
    );

    // Delivered through the server relay, verified TLS, its user.
    let out = smarthost(
        &pf,
        &[
            "test-send",
            "--from",
            "alice@ok.example",
            "--to",
            "bob@remote.example",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    for needle in [
        "result     DELIVERED in ",
        &format!("relay      localhost[127.0.0.1]:{}", good.port()),
        "TLS        Verified (certificate verified), TLSv1.3",
        "SASL user  relay-user (from the configuration",
        "reply      250 2.0.0 Ok: queued",
    ] {
        assert!(t.contains(needle), "{needle:?} not in:\n{t}");
    }
    let got = good.wait_for(1, Duration::from_secs(5));
    let delivery = got.iter().find(|d| d.mail_from == "alice@ok.example").unwrap();
    assert_eq!(delivery.username.as_deref(), Some("relay-user"));
    assert!(delivery.data.contains("X-Smarthost-Test: "), "{}", delivery.data);
    assert!(!t.contains("Subject") && !t.contains("relay-pass-1"), "{t}");

    // A stopped relay: connection refused, exit 4; Postfix retries, so
    // Nagios warns.
    let out = smarthost(
        &pf,
        &[
            "test-send",
            "--from",
            "s@down.example",
            "--to",
            "bob@remote.example",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("result     DEFERRED after"), "{}", text(&out));
    assert!(text(&out).contains(": connection refused"), "{}", text(&out));
    let out = smarthost(&pf, &["status", "--nagios"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).starts_with("SMARTHOST WARNING - 1 message(s) deferred"),
        "{}",
        text(&out)
    );

    // A wrong password: authentication rejected within the timeout, exit 4;
    // that needs the administrator, so Nagios is critical.
    let begun = Instant::now();
    let out = smarthost(
        &pf,
        &[
            "test-send",
            "--json",
            "--from",
            "s@badpw.example",
            "--to",
            "bob@remote.example",
            "--timeout",
            "10",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(begun.elapsed() < Duration::from_secs(10));
    let report = json(&out);
    assert_eq!(report["verdict"], "deferred");
    assert_eq!(report["reason"], "auth_rejected");
    assert_eq!(report["reason_label"], "authentication rejected");
    assert_eq!(report["configured_user"], "relay-user");
    assert_eq!(report["dsn"], "4.7.8");
    assert!(report["reply"].as_str().unwrap().contains("535 5.7.8"), "{report}");
    assert!(!text(&out).contains("wrong-pass-2"));
    let out = smarthost(&pf, &["status", "--nagios"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).starts_with("SMARTHOST CRITICAL - 2 message(s) deferred"),
        "{}",
        text(&out)
    );

    // A certificate from a CA Postfix does not trust, with the check on.
    let out = smarthost(
        &pf,
        &[
            "test-send",
            "--from",
            "s@cert.example",
            "--to",
            "bob@remote.example",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains(": certificate not verified"), "{}", text(&out));
    assert!(
        text(&out).contains("Untrusted (certificate NOT verified)"),
        "{}",
        text(&out)
    );

    // A relay that offers only XOAUTH2, which Cyrus SASL cannot do.
    let out = smarthost(
        &pf,
        &[
            "test-send",
            "--from",
            "s@xoauth.example",
            "--to",
            "bob@remote.example",
            "--timeout",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(": no SASL mechanism"), "{t}");
    assert!(t.contains("so the relay offers none of them"), "{t}");

    // Status groups the deferred mail by relay and by sender domain.
    let out = smarthost(&pf, &["status", "--json", "--since", "1h"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status = json(&out);
    assert_eq!(status["severity"], "CRITICAL");
    let relays: BTreeMap<String, (u64, Vec<String>, u64)> = status["relays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let reasons = r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["reason"].as_str().unwrap().to_owned())
                .collect();
            (
                r["relay"].as_str().unwrap().to_owned(),
                (
                    r["deferred"].as_u64().unwrap(),
                    reasons,
                    r["log"]["sent"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        relays,
        BTreeMap::from([
            (at(good.port()), (1, vec!["auth_rejected".to_owned()], 1)),
            (
                at(untrusted.port()),
                (1, vec!["certificate_not_verified".to_owned()], 0)
            ),
            (at(stopped_port), (1, vec!["connection_refused".to_owned()], 0)),
            (at(xoauth.port()), (1, vec!["no_sasl_mechanism".to_owned()], 0)),
        ]),
        "{status:#}"
    );
    let domains: BTreeMap<String, (String, String)> = status["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["sender_domain"].as_str().unwrap().to_owned(),
                (
                    d["relay"].as_str().unwrap().to_owned(),
                    d["reasons"][0]["reason"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(
        domains,
        BTreeMap::from([
            (
                "badpw.example".to_owned(),
                (at(good.port()), "auth_rejected".to_owned())
            ),
            (
                "cert.example".to_owned(),
                (at(untrusted.port()), "certificate_not_verified".to_owned())
            ),
            (
                "down.example".to_owned(),
                (at(stopped_port), "connection_refused".to_owned())
            ),
            (
                "xoauth.example".to_owned(),
                (at(xoauth.port()), "no_sasl_mechanism".to_owned())
            ),
        ])
    );
    let out = smarthost(&pf, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Deferred by sender domain:"), "{}", text(&out));

    // Prometheus: written atomically (nothing else left in the folder), and
    // it parses; Nagios at the same time.
    let prom_dir = d.join("textfile");
    std::fs::create_dir(&prom_dir).unwrap();
    let prom = prom_dir.join("smarthost.prom");
    let prom_arg = prom.display().to_string();
    let out = smarthost(&pf, &["status", "--nagios", "--prometheus", &prom_arg]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let file = std::fs::read_to_string(&prom).unwrap();
    eprintln!("{file}");
    let series = parse_prometheus(&file).unwrap_or_else(|e| panic!("{e}\n{file}"));
    assert_eq!(series["smarthost_status_success{}"], 1.0);
    assert_eq!(series["smarthost_status_severity{}"], 2.0);
    let key = |name: &str, labels: &str| format!("{name}{{{labels}}}");
    assert_eq!(
        series[&key(
            "smarthost_relay_deferred_messages",
            &format!("relay={:?}", at(good.port()))
        )],
        1.0
    );
    assert_eq!(
        series[&key(
            "smarthost_relay_deferred_by_reason_messages",
            &format!("relay={:?},reason=\"auth_rejected\"", at(good.port()))
        )],
        1.0
    );
    assert_eq!(
        series[&key(
            "smarthost_relay_log_deliveries",
            &format!("relay={:?},status=\"sent\"", at(good.port()))
        )],
        1.0
    );
    assert_eq!(
        series[&key(
            "smarthost_domain_deferred_messages",
            &format!("sender_domain=\"down.example\",relay={:?}", at(stopped_port))
        )],
        1.0
    );
    let left: Vec<_> = std::fs::read_dir(&prom_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["smarthost.prom"]);

    // Doctor, asking the relays: XOAUTH2 only is a FAIL, so is the queue.
    let out = smarthost(&pf, &["doctor", "--json", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    let grades: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_owned(),
                f["title"].as_str().unwrap().to_owned(),
                f["grade"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let grade = |check: &str, title: &str| {
        grades
            .iter()
            .find(|(c, t, _)| c == check && t.contains(title))
            .map(|(_, _, g)| g.as_str())
            .unwrap_or_else(|| panic!("{check} {title}: {grades:?}"))
    };
    assert_eq!(grade("sasl", &at(xoauth.port())), "FAIL");
    assert_eq!(grade("sasl", &at(good.port())), "PASS");
    assert_eq!(grade("queue", ""), "FAIL");
    for check in ["postfix", "instance", "parameters", "ca", "map_type"] {
        assert_eq!(grade(check, ""), "PASS", "{check}: {report:#}");
    }
    smarthost(&pf, &["doctor"]);

    // UNKNOWN when the instance cannot be read; the textfile says so too.
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args([
            "--config-dir",
            "/nonexistent/postfix",
            "status",
            "--nagios",
            "--prometheus",
            &prom_arg,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).starts_with("SMARTHOST UNKNOWN - "), "{}", text(&out));
    let file = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(parse_prometheus(&file).unwrap()["smarthost_status_success{}"], 0.0);

    // Other backends and rendered folders are refused with a reason.
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["--backend", "mailenable", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("MailEnable and SmarterMail are not covered"),
        "{}",
        text(&out)
    );
    assert!(Path::new(&prom).exists());
    eprintln!("cli e2e_health: {:.1} s", started.elapsed().as_secs_f64());
}
