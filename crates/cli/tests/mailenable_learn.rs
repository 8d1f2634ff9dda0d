//! `smarthost mailenable learn` (issue 18): the names learned from two
//! exports are saved in the settings folder and used by every mailenable
//! command after it.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use test_support::process::text;

const PASSWORD: &str = "learn-Pa55word";

fn smarthost(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["--backend", "mailenable", "--root"])
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A regedit export: UTF-16LE with a BOM, CRLF.
fn export(path: &Path, lines: &[&str]) {
    let mut text = String::from(
        "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Mail Enable\\Mail Enable\\Connectors\\SMTP]\r\n\"Host Name\"=\"mail.example.com\"\r\n",
    );
    for line in lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn learned_names_are_saved_and_used_by_later_commands() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    export(
        &dir.path().join("before.reg"),
        &["\"Smart Host Enabled\"=dword:00000000"],
    );
    export(
        &dir.path().join("after.reg"),
        &[
            "\"Smart Host Enabled\"=dword:00000001",
            "\"Smart Host\"=\"smtp.relay.example\"",
            "\"Smart Host Port\"=dword:0000024b",
            "\"Smart Host Requires Auth\"=dword:00000001",
            "\"Use TLS For Smart Host\"=dword:00000001",
            "\"Smart Host Username\"=\"relay-user\"",
            &format!("\"Smart Host Password\"=\"{PASSWORD}\""),
        ],
    );
    std::fs::write(dir.path().join("key"), format!("{PASSWORD}\n")).unwrap();
    let before = dir.path().join("before.reg");
    let after = dir.path().join("after.reg");
    let key = dir.path().join("key");
    let out = smarthost(
        &root,
        &[
            "mailenable",
            "learn",
            "--before",
            before.to_str().unwrap(),
            "--after",
            after.to_str().unwrap(),
            "--relay",
            "[smtp.relay.example]:587",
            "--username",
            "relay-user",
            "--password-file",
            key.to_str().unwrap(),
            "--tls",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD), "{}", text(&out));
    assert!(
        text(&out).contains("auth: SOFTWARE\\Mail Enable\\Mail Enable\\Connectors\\SMTP\\Smart Host Requires Auth"),
        "{}",
        text(&out)
    );
    let names = std::fs::read_to_string(root.join("etc/smarthost/mailenable-names.toml")).unwrap();
    assert!(
        names.contains("host = \"Smart Host\"") && !names.contains(PASSWORD),
        "{names}"
    );

    // A later render writes the learned names, with no UNCONFIRMED note.
    let out = smarthost(&root, &["server", "set", "--relay", "[smtp.other.example]:587"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bytes = std::fs::read(root.join("smarthost.reg")).unwrap();
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let reg = String::from_utf16(&units).unwrap();
    assert!(reg.contains("\"Smart Host\"=\"smtp.other.example\""), "{reg}");
    assert!(reg.contains("\"Use TLS For Smart Host\"=dword:00000001"), "{reg}");
    assert!(!reg.contains("SmartHost\"") && !reg.contains("UNCONFIRMED"), "{reg}");
    let list = smarthost(&root, &["list"]);
    assert!(text(&list).contains("[smtp.other.example]:587"), "{}", text(&list));
}

#[test]
fn what_cannot_be_matched_is_an_error_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    export(&dir.path().join("same.reg"), &["\"Smart Host Enabled\"=dword:00000000"]);
    let same = dir.path().join("same.reg");
    let out = smarthost(
        &root,
        &[
            "mailenable",
            "learn",
            "--before",
            same.to_str().unwrap(),
            "--after",
            same.to_str().unwrap(),
            "--relay",
            "[smtp.relay.example]:587",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no value of"), "{}", text(&out));
    assert!(!root.join("etc/smarthost/mailenable-names.toml").exists());
}

#[test]
fn a_user_name_without_a_password_is_asked_for_only_at_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = smarthost(
        &dir.path().join("root"),
        &[
            "mailenable",
            "learn",
            "--before",
            "b.reg",
            "--after",
            "a.reg",
            "--relay",
            "[smtp.relay.example]:587",
            "--username",
            "relay-user",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--username needs the password typed"),
        "{}",
        text(&out)
    );
}
