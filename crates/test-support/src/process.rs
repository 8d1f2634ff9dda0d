//! Commands run by the tests.

use std::process::{Command, Output, Stdio};

/// What a finished command printed: stdout, then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` with stdin closed; it must start and succeed (the test fails
/// with the command and its output otherwise). Returns stdout and stderr.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    let text = text(&out);
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// A command started by [`spawn`], to be waited for with a deadline.
pub struct Running {
    child: std::process::Child,
    err: std::fs::File,
    started: std::time::Instant,
}

/// How a [`Running`] command ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code; `None` when killed (by a signal, or at the deadline).
    pub code: Option<i32>,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Whether it was still running at the deadline (and was killed).
    pub blocked: bool,
    /// How long it ran.
    pub elapsed: std::time::Duration,
}

impl Finished {
    /// One line for an assertion message: how it ended, after how long, and
    /// the start of its stderr.
    pub fn describe(&self) -> String {
        let status = if self.blocked {
            format!("BLOCKED (killed after {:.1?})", self.elapsed)
        } else {
            format!("exit {:?} after {:.1?}", self.code, self.elapsed)
        };
        let stderr: String = self.stderr.trim().chars().take(600).collect();
        format!("{status}; stderr: {stderr:?}")
    }

    /// Whether it panicked (Rust's panic message or exit code 101).
    pub fn panicked(&self) -> bool {
        self.stderr.contains("panicked") || self.code == Some(101)
    }
}

/// Starts `cmd` with stdout discarded and stderr captured in a temporary
/// file (a child that writes a lot never blocks on a full pipe). Stdin is
/// what `cmd` says; take a piped one with [`Running::take_stdin`].
pub fn spawn(cmd: &mut Command) -> Running {
    let err = tempfile::tempfile().unwrap();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    Running {
        child,
        err,
        started: std::time::Instant::now(),
    }
}

impl Running {
    /// The child's stdin, when `cmd` had `Stdio::piped()` (once).
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Waits until `deadline`; kills the command if it is still running then.
    pub fn finish(mut self, deadline: std::time::Instant) -> Finished {
        use std::io::{Read, Seek};
        let mut blocked = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                blocked = true;
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let elapsed = self.started.elapsed();
        let mut bytes = Vec::new();
        self.err.rewind().unwrap();
        self.err.read_to_end(&mut bytes).unwrap();
        Finished {
            code: status.and_then(|s| s.code()),
            stderr: String::from_utf8_lossy(&bytes).into_owned(),
            blocked,
            elapsed,
        }
    }
}

/// Runs `cmd` with `stdin` written to its standard input; its output.
pub fn output_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A program run with `--root` on a temporary root of its own, stdin
/// closed: how the CLI suites run `smarthost` (give it
/// `env!("CARGO_BIN_EXE_smarthost")`).
pub struct Rooted {
    /// The root every run renders into.
    pub root: tempfile::TempDir,
    program: std::path::PathBuf,
}

impl Rooted {
    /// `program` with a new, empty root.
    pub fn new(program: impl Into<std::path::PathBuf>) -> Self {
        Rooted {
            root: tempfile::tempdir().unwrap(),
            program: program.into(),
        }
    }

    /// The command `program --root ROOT args...`, stdin closed.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.arg("--root").arg(self.root.path()).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs [`Rooted::cmd`]; its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs [`Rooted::cmd`] with `stdin` on its standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        output_with_stdin(&mut self.cmd(args), stdin)
    }

    /// Every file below the root with its content.
    pub fn files(&self) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
        crate::fs::tree(self.root.path())
    }
}
