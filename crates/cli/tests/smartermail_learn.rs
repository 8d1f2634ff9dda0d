//! `smarthost smartermail learn` and the live preflight, end to end: the
//! real binary against a small fake SmarterMail API on 127.0.0.1 whose
//! names differ from the built-in guesses (numeric enums, no description
//! field, other endpoints). The fake is a plain HTTP/1.1 responder on a
//! std TcpListener, kept in this file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "admin-Secret-42";
const BASE: &str = "api/v1/settings/sysadmin/";

#[derive(Default)]
struct Fake {
    gateways: Vec<Value>,
    next_id: u64,
    /// Every request: "METHOD path".
    log: Vec<String>,
}

fn handle(fake: &mut Fake, method: &str, path: &str, body: Value) -> Value {
    fake.log.push(format!("{method} {path}"));
    if path == "api/v1/auth/authenticate-user" {
        return if body["password"] == ADMIN_PASSWORD {
            json!({"success": true, "accessToken": "t"})
        } else {
            json!({"success": false, "message": "Invalid username or password"})
        };
    }
    let rest = path.strip_prefix(BASE).unwrap_or_default();
    match (method, rest) {
        ("GET", "relay-gateways") => json!({"success": true, "list": fake.gateways}),
        ("POST", "relay-gateway-new") => {
            fake.next_id += 1;
            let mut g = body["item"].clone();
            g["key"] = json!(fake.next_id);
            g["pwd"] = json!("");
            fake.gateways.push(g);
            json!({"success": true})
        }
        ("POST", r) if r.starts_with("relay-gateway-edit/") => {
            let id: u64 = r["relay-gateway-edit/".len()..].parse().unwrap_or(0);
            match fake.gateways.iter_mut().find(|g| g["key"] == id) {
                Some(g) => {
                    for (k, v) in body["item"].as_object().unwrap() {
                        g[k] = if k == "pwd" { json!("") } else { v.clone() };
                    }
                    json!({"success": true})
                }
                None => json!({"success": false, "message": "not found"}),
            }
        }
        _ => json!({"success": false, "message": "Not found"}),
    }
}

struct Server {
    url: String,
    fake: Arc<Mutex<Fake>>,
}

fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Mutex::new(Fake {
        gateways: vec![json!({
            "key": 1, "host": "relay.handmade.example", "portNumber": 2525, "tls": 1, "on": true,
            "kind": 4, "authOn": true, "login": "handmade-user", "pwd": "", "weight": 1
        })],
        next_id: 1,
        log: Vec::new(),
    }));
    let f = fake.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_owned();
            let path = parts.next().unwrap_or_default().trim_start_matches('/').to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, reply) = match handle(&mut f.lock().unwrap(), &method, &path, body) {
                v if v["message"] == "Not found" => ("404 Not Found", v),
                v => ("200 OK", v),
            };
            let text = reply.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    Server { url, fake }
}

impl Server {
    fn writes(&self) -> Vec<String> {
        let fake = self.fake.lock().unwrap();
        fake.log
            .iter()
            .filter(|l| !l.starts_with("GET ") && !l.ends_with("authenticate-user"))
            .cloned()
            .collect()
    }
}

fn smarthost(settings: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["--backend", "smartermail", "--settings"])
        .arg(settings.join("settings.toml"))
        .args(args)
        .env("SMARTERMAIL_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const LEARN: &[&str] = &[
    "smartermail",
    "learn",
    "--relay",
    "relay.handmade.example:2525",
    "--username",
    "handmade-user",
    "--endpoint",
    "list=api/v1/settings/sysadmin/relay-gateways",
    "--endpoint",
    "create=api/v1/settings/sysadmin/relay-gateway-new",
    "--endpoint",
    "update=api/v1/settings/sysadmin/relay-gateway-edit/{id}",
    "--endpoint",
    "delete=api/v1/settings/sysadmin/relay-gateway-drop/{id}",
    "--enum",
    "mode.round-robin=3",
    "--enum",
    "mode.specific-domains=4",
    "--enum",
    "encryption.none=0",
    "--enum",
    "encryption.starttls=1",
    "--enum",
    "encryption.implicit-tls=2",
    "--wrapper",
    "item",
    "--field",
    "enabled=on",
    "--field",
    "use-authentication=authOn",
    "--field",
    "password=pwd",
    "--field",
    "id=key",
];

#[test]
fn learn_writes_the_schema_into_the_settings_folder_and_prints_it() {
    let server = start();
    let settings = tempfile::tempdir().unwrap();
    let mut args = vec!["--url", server.url.as_str()];
    args.extend_from_slice(LEARN);
    let out = smarthost(settings.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("field.address = \"host\""), "{stdout}");
    assert!(stdout.contains("enum.mode.specific-domains = 4"), "{stdout}");
    assert!(stdout.contains("smartermail-schema.json"), "{stdout}");
    assert!(!text(&out).contains(ADMIN_PASSWORD));
    let file = std::fs::read_to_string(settings.path().join("smartermail-schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&file).unwrap();
    assert_eq!(schema["version"], 1);
    assert_eq!(schema["names"]["field.port"]["value"], "portNumber");
    assert!(server.writes().is_empty(), "learn only reads: {:?}", server.writes());
}

#[test]
fn a_live_apply_is_refused_before_learn_and_works_after() {
    let server = start();
    let settings = tempfile::tempdir().unwrap();
    let policy = settings.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[server]\nrelay = \"[smtp.example.net]:587\"\nencryption = \"starttls\"\n",
    )
    .unwrap();
    let apply = [
        "--url",
        server.url.as_str(),
        "--policy",
        policy.to_str().unwrap(),
        "apply",
    ];

    let out = smarthost(settings.path(), &apply);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not confirmed by this server"), "{stderr}");
    assert!(stderr.contains("smarthost smartermail learn --url"), "{stderr}");
    assert!(server.writes().is_empty(), "no write request: {:?}", server.writes());

    let mut args = vec!["--url", server.url.as_str()];
    args.extend_from_slice(LEARN);
    assert!(smarthost(settings.path(), &args).status.success());
    let out = smarthost(settings.path(), &apply);
    assert!(out.status.success(), "{}", text(&out));
    let fake = server.fake.lock().unwrap();
    let ours = fake.gateways.iter().find(|g| g["host"] == "smtp.example.net").unwrap();
    assert_eq!(ours["tls"], 1);
    assert_eq!(ours["kind"], 3);
    assert_eq!(ours["on"], true);
    drop(fake);
    assert!(settings.path().join("smartermail-gateways.json").is_file());

    // list shows it, recognised by the gateways file.
    let out = smarthost(settings.path(), &["--url", server.url.as_str(), "list"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("smtp.example.net"),
        "{}",
        text(&out)
    );
}
