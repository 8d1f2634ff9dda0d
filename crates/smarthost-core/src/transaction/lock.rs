//! The lock that serialises every run that reads or writes one
//! configuration: taken before the current state is read, held until the
//! commit or rollback ends.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

use super::safe_fs::{self, io};

/// The lock file's name, in the backend's state folder.
pub const LOCK_FILE: &str = ".smarthost.lock";

/// How long a run waits for another one to finish by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// An exclusive advisory lock (`flock`) on a file; released when dropped or
/// when the process ends, however it ends.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock at `path`, waiting up to `wait` for another run to
    /// release it. The lock file is created (mode 0600) if needed; a
    /// symbolic link, FIFO or other non-file there is refused.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Lock> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
        }
        safe_fs::check_file(path)?;
        let file = match options.open(path) {
            Ok(f) => f,
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Error::UnsafePath {
                    path: path.to_owned(),
                    reason: "is a symbolic link".into(),
                })
            }
            Err(e) => return Err(io(path, e)),
        };
        if !file.metadata().map_err(|e| io(path, e))?.is_file() {
            return Err(Error::UnsafePath {
                path: path.to_owned(),
                reason: "is not a regular file".into(),
            });
        }
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Lock {
                        _file: file,
                        path: path.to_owned(),
                    })
                }
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        path: path.to_owned(),
                        waited_secs: wait.as_secs(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(path, e)),
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let held = Lock::acquire(&path, Duration::ZERO).unwrap();
        let start = Instant::now();
        let err = Lock::acquire(&path, Duration::from_millis(200)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        drop(held);
        Lock::acquire(&path, Duration::ZERO).unwrap();
    }
}

/// A [`Lock`] that one writer takes once per operation and can hold across
/// several (read, plan, apply of one command): entering again while it is
/// held shares it instead of deadlocking on the process's own `flock`.
#[derive(Debug)]
pub struct Session {
    path: PathBuf,
    wait: Duration,
    held: std::sync::Mutex<(Option<std::sync::Arc<Lock>>, usize)>,
}

/// A hold on a [`Session`]'s lock; the lock is released when the last
/// guard is dropped.
#[derive(Debug)]
pub struct SessionGuard<'a> {
    session: &'a Session,
    lock: std::sync::Arc<Lock>,
}

impl Session {
    /// A session for the lock file at `path`, waiting up to `wait` for it.
    pub fn new(path: PathBuf, wait: Duration) -> Self {
        Session {
            path,
            wait,
            held: std::sync::Mutex::new((None, 0)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lock, or shares it when this session already holds it.
    pub fn enter(&self) -> Result<SessionGuard<'_>> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let lock = match &held.0 {
            Some(lock) => lock.clone(),
            None => std::sync::Arc::new(Lock::acquire(&self.path, self.wait)?),
        };
        held.0 = Some(lock.clone());
        held.1 += 1;
        Ok(SessionGuard { session: self, lock })
    }
}

impl Clone for Session {
    /// A new session on the same lock file, not holding it.
    fn clone(&self) -> Self {
        Session::new(self.path.clone(), self.wait)
    }
}

impl std::ops::Deref for SessionGuard<'_> {
    type Target = Lock;
    fn deref(&self) -> &Lock {
        &self.lock
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.session.held.lock().unwrap_or_else(|e| e.into_inner());
        held.1 -= 1;
        if held.1 == 0 {
            held.0 = None;
        }
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;

    #[test]
    fn a_session_is_reentrant_and_releases_with_the_last_guard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let session = Session::new(path.clone(), Duration::ZERO);
        let outer = session.enter().unwrap();
        let inner = session.enter().unwrap();
        assert!(Lock::acquire(&path, Duration::ZERO).is_err());
        drop(inner);
        assert!(
            Lock::acquire(&path, Duration::ZERO).is_err(),
            "the outer guard still holds it"
        );
        drop(outer);
        Lock::acquire(&path, Duration::ZERO).unwrap();
    }
}
