//! Bounded input: passwords and policy files are read with a cap, so that
//! `--password-file /dev/zero`, a FIFO given as the policy or an endless
//! pipe on standard input ends in a clear error instead of exhausting
//! memory or blocking forever.
//!
//! - Passwords ([`read_secret_file`], [`read_secret_env`],
//!   [`read_secret_stdin`]): at most [`MAX_SECRET_BYTES`]. A secret file may
//!   be a regular file or a pipe (bash's `--password-file <(pass show x)`
//!   names `/dev/fd/63`); folders, devices and sockets are refused.
//! - Policy and settings files ([`read_policy_file`]): at most
//!   [`MAX_POLICY_BYTES`], regular files only. The file is opened with
//!   `O_NONBLOCK` and checked with `fstat` before the first read, so a FIFO
//!   or a device is refused without blocking.
//!
//! Every read goes through [`Read::take`] with the cap plus one byte, so
//! nothing larger than the cap is ever allocated, and errors name the field,
//! the source and the cap.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{BufRead, Read};
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use crate::credentials::Secret;
use crate::error::Error;

/// The most bytes a password source may hold (a trailing line break
/// included).
pub const MAX_SECRET_BYTES: u64 = 4 * 1024;

/// The most bytes a policy or settings file may hold: room for a policy
/// with a million domains.
pub const MAX_POLICY_BYTES: u64 = 512 * 1024 * 1024;

/// What an input file may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// Regular files only.
    Regular,
    /// Regular files and pipes (FIFOs).
    RegularOrPipe,
}

impl Accept {
    fn expected(self) -> &'static str {
        match self {
            Accept::Regular => "a regular file",
            Accept::RegularOrPipe => "a regular file or a pipe",
        }
    }
}

/// What a file is, in words, when it is not what `accept` allows.
fn refused_kind(meta: &Metadata, accept: Accept) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return (accept == Accept::Regular).then_some("a FIFO (named pipe)");
        }
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    let _ = accept;
    Some("a special file")
}

fn read_error(field: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Read {
        field: field.to_owned(),
        path: path.to_owned(),
        source,
    }
}

fn check_kind(field: &str, path: &Path, meta: &Metadata, accept: Accept) -> Result<(), Error> {
    match refused_kind(meta, accept) {
        None => Ok(()),
        Some(kind) => Err(Error::NotRegularFile {
            field: field.to_owned(),
            path: path.to_owned(),
            kind,
            expected: accept.expected(),
        }),
    }
}

/// Opens `path` for reading after checking what it is, without blocking on
/// anything but a pipe that `accept` allows: `stat` first (so a device is
/// never opened), then `open` (non-blocking unless it is such a pipe), then
/// `fstat` on the open file (so a file swapped in between is caught too).
fn open_checked(field: &str, path: &Path, accept: Accept) -> Result<(File, Metadata), Error> {
    let before = std::fs::metadata(path).map_err(|e| read_error(field, path, e))?;
    check_kind(field, path, &before, accept)?;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    if before.file_type().is_file() {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(|e| read_error(field, path, e))?;
    let meta = file.metadata().map_err(|e| read_error(field, path, e))?;
    // What was opened non-blocking must still be a regular file.
    let accept_now = if before.file_type().is_file() {
        Accept::Regular
    } else {
        accept
    };
    check_kind(field, path, &meta, accept_now)?;
    Ok((file, meta))
}

/// Reads at most `cap` bytes; one byte more is an error naming `from`.
/// What was read is wiped before an error drops it (it may be a secret).
fn read_capped(
    reader: impl Read,
    capacity: u64,
    cap: u64,
    field: &str,
    from: &dyn Fn() -> String,
    io: &dyn Fn(std::io::Error) -> Error,
) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(usize::try_from(capacity.min(cap) + 1).unwrap_or(0));
    if let Err(e) = reader.take(cap + 1).read_to_end(&mut buf) {
        buf.zeroize();
        return Err(io(e));
    }
    if buf.len() as u64 > cap {
        buf.zeroize();
        return Err(Error::TooLarge {
            field: field.to_owned(),
            from: from(),
            cap,
        });
    }
    Ok(buf)
}

/// Bytes to text; invalid UTF-8 is wiped and reported as `io` says.
fn utf8(bytes: Vec<u8>, io: &dyn Fn(std::io::Error) -> Error) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        e.into_bytes().zeroize();
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// Validates a secret read for `field`: one trailing line break removed,
/// then [`Secret::new`], with errors naming `field`.
fn to_secret(field: &str, text: String) -> Result<Secret, Error> {
    Secret::new(strip_newline(text)).map_err(|e| match e {
        Error::InvalidSecret { reason, .. } => Error::InvalidSecret {
            field: field.to_owned(),
            reason,
        },
        other => other,
    })
}

/// Removes one trailing `\n` or `\r\n`, as editors add them to secret files.
fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Reads a password from a file (one trailing line break removed), at most
/// [`MAX_SECRET_BYTES`]. The file may be a regular file or a pipe; a
/// folder, device or socket is refused before it is read.
pub fn read_secret_file(field: &str, path: &Path) -> Result<Secret, Error> {
    let (file, meta) = open_checked(field, path, Accept::RegularOrPipe)?;
    let io = |e| read_error(field, path, e);
    let from = || path.display().to_string();
    let bytes = read_capped(file, meta.len(), MAX_SECRET_BYTES, field, &from, &io)?;
    to_secret(field, utf8(bytes, &io)?)
}

/// Reads a password from the environment variable `var`, at most
/// [`MAX_SECRET_BYTES`].
pub fn read_secret_env(field: &str, var: &str) -> Result<Secret, Error> {
    let missing = || Error::Env {
        field: field.to_owned(),
        var: var.to_owned(),
    };
    let value = std::env::var_os(var).ok_or_else(missing)?;
    if value.len() as u64 > MAX_SECRET_BYTES {
        return Err(Error::TooLarge {
            field: field.to_owned(),
            from: format!("environment variable {var}"),
            cap: MAX_SECRET_BYTES,
        });
    }
    let value = value.into_string().map_err(|_| missing())?;
    to_secret(field, value)
}

/// Reads a password from the first line of `reader` (standard input), at
/// most [`MAX_SECRET_BYTES`] including the line break; the rest of the
/// input is not read.
pub fn read_secret_stdin(field: &str, reader: impl BufRead) -> Result<Secret, Error> {
    let io = |source| Error::Stdin {
        field: field.to_owned(),
        source,
    };
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_SECRET_BYTES as usize + 1));
    reader
        .take(MAX_SECRET_BYTES + 1)
        .read_until(b'\n', &mut line)
        .map_err(io)?;
    if line.len() as u64 > MAX_SECRET_BYTES {
        return Err(Error::TooLarge {
            field: field.to_owned(),
            from: "standard input".into(),
            cap: MAX_SECRET_BYTES,
        });
    }
    let bytes = std::mem::take(&mut *line);
    to_secret(field, utf8(bytes, &io)?)
}

/// Reads a policy or settings file as text: a regular file of at most
/// [`MAX_POLICY_BYTES`]. A FIFO, device or folder is refused without
/// blocking. A missing file is an [`Error::Read`] whose source has
/// [`std::io::ErrorKind::NotFound`].
pub fn read_policy_file(field: &str, path: &Path) -> Result<String, Error> {
    read_policy_file_capped(field, path, MAX_POLICY_BYTES)
}

fn read_policy_file_capped(field: &str, path: &Path, cap: u64) -> Result<String, Error> {
    let (file, meta) = open_checked(field, path, Accept::Regular)?;
    let from = || path.display().to_string();
    if meta.len() > cap {
        return Err(Error::TooLarge {
            field: field.to_owned(),
            from: from(),
            cap,
        });
    }
    let io = |e| read_error(field, path, e);
    let bytes = read_capped(file, meta.len(), cap, field, &from, &io)?;
    utf8(bytes, &io)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    #[cfg(unix)]
    use std::time::{Duration, Instant};

    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_secret_file_loses_one_line_break() {
        let d = dir();
        let path = d.path().join("key");
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(read_secret_file("password", &path).unwrap().expose(), "s3cret");
    }

    #[test]
    fn a_secret_file_at_the_cap_is_read_and_one_byte_more_is_refused() {
        let d = dir();
        let path = d.path().join("key");
        std::fs::write(&path, "k".repeat(MAX_SECRET_BYTES as usize)).unwrap();
        assert_eq!(read_secret_file("password", &path).unwrap().expose().len(), 4096);
        std::fs::write(&path, "k".repeat(MAX_SECRET_BYTES as usize + 1)).unwrap();
        let err = read_secret_file("password", &path).unwrap_err();
        assert!(matches!(err, Error::TooLarge { cap: 4096, .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("password: ") && text.contains(&path.display().to_string()),
            "{text}"
        );
        assert!(text.contains("4096 bytes"), "{text}");
    }

    #[test]
    fn a_secret_file_that_is_a_device_or_folder_is_refused() {
        let err = read_secret_file("password", Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegularFile {
                    kind: "a character device",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "password: /dev/zero is a character device, not a regular file or a pipe"
        );
        let d = dir();
        let err = read_secret_file("password", d.path()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegularFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_secret_from_a_pipe_is_read_with_the_cap() {
        // /proc/self/fd/N of a pipe is what bash's <(...) names (/dev/fd/63).
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("printf 'piped-Secret\\n'")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let fd = {
            use std::os::fd::AsRawFd;
            out.as_raw_fd()
        };
        let path = std::path::PathBuf::from(format!("/proc/self/fd/{fd}"));
        assert_eq!(read_secret_file("password", &path).unwrap().expose(), "piped-Secret");
        child.wait().unwrap();

        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec cat /dev/zero")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let fd = {
            use std::os::fd::AsRawFd;
            out.as_raw_fd()
        };
        let path = std::path::PathBuf::from(format!("/proc/self/fd/{fd}"));
        let err = read_secret_file("password", &path).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        drop(out);
        let _ = child.kill();
        child.wait().unwrap();
    }

    #[test]
    fn an_env_secret_is_capped() {
        // Variables private to this test.
        let var = format!("SMARTHOST_INPUT_TEST_{}", std::process::id());
        std::env::set_var(&var, "env-Secret");
        assert_eq!(read_secret_env("password", &var).unwrap().expose(), "env-Secret");
        std::env::set_var(&var, "e".repeat(MAX_SECRET_BYTES as usize + 1));
        let err = read_secret_env("password", &var).unwrap_err();
        assert!(
            err.to_string().contains(&format!("environment variable {var}")),
            "{err}"
        );
        std::env::remove_var(&var);
        assert!(matches!(
            read_secret_env("password", &var).unwrap_err(),
            Error::Env { .. }
        ));
    }

    #[test]
    fn stdin_reads_the_first_line_within_the_cap() {
        let secret = read_secret_stdin("password", &b"line-One\nline two\n"[..]).unwrap();
        assert_eq!(secret.expose(), "line-One");
        let zeros = std::io::BufReader::new(std::io::repeat(0));
        let err = read_secret_stdin("password", zeros).unwrap_err();
        assert_eq!(
            err.to_string(),
            "password: standard input is larger than 4096 bytes, the limit for this input"
        );
        let at_cap = format!("{}\n", "s".repeat(MAX_SECRET_BYTES as usize - 1));
        assert!(read_secret_stdin("password", at_cap.as_bytes()).is_ok());
        let err = read_secret_stdin("password", &b"\xff\xfe\n"[..]).unwrap_err();
        assert!(matches!(err, Error::Stdin { .. }), "{err}");
    }

    #[test]
    fn a_policy_file_is_read_and_capped() {
        let d = dir();
        let path = d.path().join("policy.toml");
        std::fs::write(&path, "[server]\n").unwrap();
        assert_eq!(read_policy_file("policy", &path).unwrap(), "[server]\n");
        std::fs::write(&path, "#".repeat(101)).unwrap();
        let err = read_policy_file_capped("policy", &path, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "policy: {} is larger than 100 bytes, the limit for this input",
                path.display()
            )
        );
        let missing = read_policy_file("policy", &d.path().join("missing")).unwrap_err();
        assert!(
            matches!(&missing, Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{missing}"
        );
    }

    #[test]
    fn a_policy_that_is_not_a_regular_file_is_refused_without_blocking() {
        let err = read_policy_file("policy", Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(err, Error::NotRegularFile { .. }), "{err}");
        let d = dir();
        let err = read_policy_file("policy", d.path()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegularFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );
        #[cfg(unix)]
        {
            let fifo = d.path().join("fifo");
            let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
            assert!(status.success());
            let start = Instant::now();
            let err = read_policy_file("policy", &fifo).unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(2));
            assert_eq!(
                err.to_string(),
                format!("policy: {} is a FIFO (named pipe), not a regular file", fifo.display())
            );
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_the_file() {
        let d = dir();
        let path = d.path().join("policy.toml");
        std::fs::File::create(&path).unwrap().write_all(b"\xff\xfe").unwrap();
        let err = read_policy_file("policy", &path).unwrap_err();
        assert!(err.to_string().contains("valid UTF-8"), "{err}");
    }
}
