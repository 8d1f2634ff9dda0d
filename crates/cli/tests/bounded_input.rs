//! Bounded input, with the real binary against a temporary root: endless
//! password sources and policies that are devices or FIFOs end in a clear
//! error (exit 1, naming the source), without exhausting memory, without
//! blocking, and without writing anything.
#![cfg(unix)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than any of these runs takes; a run still going then is a hang.
const DEADLINE: Duration = Duration::from_secs(30);

const SET: &[&str] = &[
    "server",
    "set",
    "--relay",
    "[smtp.example.com]:587",
    "--username",
    "user",
];

struct Finished {
    code: Option<i32>,
    stderr: String,
}

fn command(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smarthost"));
    cmd.arg("--root")
        .arg(root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for `child` at most [`DEADLINE`]; kills it and fails the test
/// when it is still running then.
fn finish(mut child: Child) -> Finished {
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("smarthost still running after {DEADLINE:?}: it blocked");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        code: status.code(),
        stderr: reader.join().unwrap(),
    }
}

/// Every file and folder under `root`.
fn written(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// Exit 1, an error that contains each of `names`, and nothing written.
fn assert_refused(root: &Path, run: &Finished, names: &[&str]) {
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    // The error is the last line (a warning, e.g. about a password file
    // readable by others, may come before it).
    let last = run.stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("smarthost: error: "), "{}", run.stderr);
    for name in names {
        assert!(run.stderr.contains(name), "{name:?} not in: {}", run.stderr);
    }
    assert!(run.stderr.len() < 1000, "{}", run.stderr);
    assert_eq!(written(root), Vec::<PathBuf>::new(), "nothing is written");
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn an_endless_pipe_on_stdin_is_cut_at_the_cap() {
    let root = tempfile::tempdir().unwrap();
    let mut args = SET.to_vec();
    args.push("--password-stdin");
    let mut child = command(root.path(), &args).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // 64 MiB without a line break; the write fails once smarthost exits.
    let feeder = std::thread::spawn(move || {
        let block = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            if stdin.write_all(&block).is_err() {
                return;
            }
        }
    });
    let run = finish(child);
    feeder.join().unwrap();
    assert_refused(
        root.path(),
        &run,
        &["password: standard input is larger than 4096 bytes"],
    );
}

#[test]
fn dev_zero_on_stdin_is_cut_at_the_cap() {
    let root = tempfile::tempdir().unwrap();
    let mut args = SET.to_vec();
    args.push("--password-stdin");
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let child = command(root.path(), &args).stdin(zero).spawn().unwrap();
    assert_refused(root.path(), &finish(child), &["standard input", "4096 bytes"]);
}

#[test]
fn dev_zero_as_password_file_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let mut args = SET.to_vec();
    args.extend(["--password-file", "/dev/zero"]);
    let child = command(root.path(), &args).stdin(Stdio::null()).spawn().unwrap();
    assert_refused(
        root.path(),
        &finish(child),
        &["password: /dev/zero is a character device, not a regular file or a pipe"],
    );
}

#[test]
fn a_password_file_or_variable_over_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k".repeat(5000)).unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut args = SET.to_vec();
    args.extend(["--password-file", key.to_str().unwrap()]);
    let child = command(root.path(), &args).stdin(Stdio::null()).spawn().unwrap();
    assert_refused(
        root.path(),
        &finish(child),
        &[key.to_str().unwrap(), "larger than 4096 bytes"],
    );

    let mut args = SET.to_vec();
    args.extend(["--password-env", "SMARTHOST_TEST_BIG_KEY"]);
    let child = command(root.path(), &args)
        .env("SMARTHOST_TEST_BIG_KEY", "k".repeat(5000))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert_refused(
        root.path(),
        &finish(child),
        &["environment variable SMARTHOST_TEST_BIG_KEY is larger than 4096 bytes"],
    );
}

#[test]
fn a_pipe_as_password_file_is_read() {
    // What `--password-file <(pass show relay)` gives: a pipe.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("key");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(b"piped-Secret-6d2c\n").unwrap();
        })
    };
    let root = tempfile::tempdir().unwrap();
    let mut args = SET.to_vec();
    args.extend(["--password-file", fifo.to_str().unwrap()]);
    let child = command(root.path(), &args).stdin(Stdio::null()).spawn().unwrap();
    let run = finish(child);
    writer.join().unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let secrets = written(root.path())
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "relay_secrets"))
        .expect("relay_secrets written");
    let text = std::fs::read_to_string(secrets).unwrap();
    assert!(text.contains("user:piped-Secret-6d2c"), "{text}");
}

#[test]
fn dev_zero_as_policy_is_refused() {
    for command_name in ["plan", "apply"] {
        let root = tempfile::tempdir().unwrap();
        let child = command(root.path(), &["--policy", "/dev/zero", command_name])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        assert_refused(
            root.path(),
            &finish(child),
            &["policy: /dev/zero is a character device, not a regular file"],
        );
    }
}

#[test]
fn a_fifo_as_policy_is_refused_without_blocking() {
    // Nobody ever writes to this FIFO: opening it for reading the usual
    // way would block forever.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("policy.toml");
    mkfifo(&fifo);
    for command_name in ["plan", "apply"] {
        let root = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let child = command(root.path(), &["--policy", fifo.to_str().unwrap(), command_name])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let run = finish(child);
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
        assert_refused(
            root.path(),
            &run,
            &[&format!(
                "policy: {} is a FIFO (named pipe), not a regular file",
                fifo.display()
            )],
        );
    }
}

#[test]
fn a_fifo_as_settings_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("settings.toml");
    mkfifo(&fifo);
    let root = tempfile::tempdir().unwrap();
    let mut args = vec!["--settings", fifo.to_str().unwrap()];
    args.extend(SET);
    args.extend(["--password-env", "SMARTHOST_TEST_KEY"]);
    let child = command(root.path(), &args)
        .env("SMARTHOST_TEST_KEY", "settings-Secret-1")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert_refused(root.path(), &finish(child), &["settings: ", "is a FIFO (named pipe)"]);
}
