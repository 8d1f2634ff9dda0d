//! File system access that refuses what it cannot trust: symbolic links,
//! FIFOs, devices and folders where a regular file belongs, without
//! following them and without blocking on them.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn unsafe_path(path: &Path, reason: &str) -> Error {
    Error::UnsafePath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// What a path is, in the words of an error message; `None` for a regular
/// file.
fn kind_of(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_symlink() {
        return Some("is a symbolic link");
    }
    if t.is_dir() {
        return Some("is a folder, not a file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("is a FIFO (named pipe), not a file");
        }
        if t.is_socket() {
            return Some("is a socket, not a file");
        }
        if t.is_block_device() || t.is_char_device() {
            return Some("is a device, not a file");
        }
    }
    Some("is not a regular file")
}

/// Opens a file for reading without following a symbolic link in its last
/// component and without blocking on a FIFO; `None` when it does not exist.
/// Anything but a regular file is refused.
pub fn open_regular(path: &Path) -> Result<Option<File>> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(unsafe_path(path, "is a symbolic link")),
        Err(e) => return Err(io(path, e)),
    };
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if let Some(reason) = kind_of(&meta) {
        return Err(unsafe_path(path, reason));
    }
    #[cfg(not(unix))]
    if let Some(reason) = std::fs::symlink_metadata(path).ok().as_ref().and_then(kind_of) {
        return Err(unsafe_path(path, reason));
    }
    Ok(Some(file))
}

/// A regular file's bytes; `None` when it does not exist.
pub fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    let Some(mut file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| io(path, e))?;
    Ok(Some(bytes))
}

/// A regular file's text; `None` when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(None);
    };
    String::from_utf8(bytes).map(Some).map_err(|_| {
        io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8"),
        )
    })
}

/// Succeeds when `path` is absent or a regular file (not followed if it is
/// a symbolic link); refuses anything else.
pub fn check_file(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => match kind_of(&meta) {
            None => Ok(true),
            Some(reason) => Err(unsafe_path(path, reason)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(path, e)),
    }
}

/// Makes sure every folder from `root` (exclusive) down to `dir` exists and
/// is a real folder, not a symbolic link; creates the missing ones (0755).
/// `dir` must lie below `root`.
pub fn ensure_dir(root: &Path, dir: &Path) -> Result<()> {
    let rest = dir
        .strip_prefix(root)
        .map_err(|_| unsafe_path(dir, "is not below the root"))?;
    let mut at = root.to_path_buf();
    for part in rest.components() {
        match part {
            Component::Normal(name) => at.push(name),
            Component::CurDir => continue,
            _ => return Err(unsafe_path(dir, "has a '..' or root component below the root")),
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(unsafe_path(
                    &at,
                    "is a symbolic link (a managed folder must be a real folder)",
                ))
            }
            Ok(_) => return Err(unsafe_path(&at, "is not a folder")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                #[cfg_attr(not(unix), allow(unused_mut))]
                let mut builder = std::fs::DirBuilder::new();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    builder.mode(0o755);
                }
                match builder.create(&at) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && at.is_dir() => {}
                    Err(e) => return Err(io(&at, e)),
                }
            }
            Err(e) => return Err(io(&at, e)),
        }
    }
    Ok(())
}

/// Flushes a folder's entries (new names, renames, removals) to disk. An
/// error is an error: a rename that is not durable is not a commit.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let file = File::open(dir).map_err(|e| io(dir, e))?;
        file.sync_all().map_err(|e| io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates a new file with `mode`, refusing an existing name and a symbolic
/// link (`O_CREAT | O_EXCL | O_NOFOLLOW`); the mode is set again on the open
/// file before any byte is written, so the umask cannot widen or narrow it.
pub fn create_new(path: &Path, mode: u32) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    let file = options.open(path).map_err(|e| io(path, e))?;
    set_mode(&file, path, mode)?;
    Ok(file)
}

/// Replaces `path` with `bytes`, whole or not at all, for a single file
/// outside a transaction (a saved plan, learned names): a new file with an
/// unpredictable name beside it, given `mode` before any byte is written,
/// fsynced, renamed over `path`, then the folder fsynced. The folder is
/// created when missing. Managed configuration goes through
/// [`Transaction`](super::Transaction) instead.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut new = tempfile::Builder::new()
        .prefix(".smarthost-new.")
        .tempfile_in(dir)
        .map_err(|e| io(dir, e))?;
    set_mode(new.as_file(), new.path(), mode)?;
    new.write_all(bytes).map_err(|e| io(path, e))?;
    new.as_file().sync_all().map_err(|e| io(path, e))?;
    new.persist(path).map_err(|e| io(path, e.error))?;
    sync_dir(dir)
}

/// Sets an open file's permission bits.
pub fn set_mode(file: &File, path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (file, path, mode);
    Ok(())
}

/// A path's permission bits, if it exists (0 where there are none).
pub fn mode_of(path: &Path) -> Option<u32> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(meta.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some(0)
    }
}

/// Joins an absolute path as a program on the target system sees it
/// (`/etc/postfix`) below `root`, refusing `..` and anything that is not a
/// plain absolute path, so that nothing lands outside the root.
pub fn under_root(root: &Path, path: &Path) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return Err(unsafe_path(path, "is not an absolute path"));
    }
    for part in components {
        match part {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            _ => return Err(unsafe_path(path, "contains '..', which could lead outside the root")),
        }
    }
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());

        for (path, words) in [
            (&link, "symbolic link"),
            (&fifo, "FIFO"),
            (&dir.path().to_path_buf(), "folder"),
        ] {
            let err = read_text(path).unwrap_err().to_string();
            assert!(
                err.contains(words) && err.contains(&path.display().to_string()),
                "{err}"
            );
            let err = check_file(path).unwrap_err().to_string();
            assert!(err.contains(words), "{err}");
        }
        let err = read_text(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("device"), "{err}");
        assert_eq!(read_text(&target).unwrap().as_deref(), Some("secret"));
        assert_eq!(read_text(&dir.path().join("absent")).unwrap(), None);
    }

    #[test]
    fn create_new_refuses_existing_names_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(create_new(&link, 0o600).is_err());
        assert!(!outside.exists(), "a dangling symlink must not be followed");
        let file = dir.path().join("f");
        create_new(&file, 0o640).unwrap();
        assert_eq!(mode_of(&file), Some(0o640));
        assert!(create_new(&file, 0o600).is_err());
    }

    #[test]
    fn under_root_keeps_paths_inside() {
        let root = Path::new("/srv/r");
        assert_eq!(
            under_root(root, Path::new("/etc/postfix")).unwrap(),
            Path::new("/srv/r/etc/postfix")
        );
        assert!(under_root(root, Path::new("/etc/../../tmp")).is_err());
        assert!(under_root(root, Path::new("etc/postfix")).is_err());
    }

    #[test]
    fn ensure_dir_refuses_a_symlinked_folder() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("etc")).unwrap();
        let err = ensure_dir(dir.path(), &dir.path().join("etc/postfix")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!elsewhere.path().join("postfix").exists());
        ensure_dir(dir.path(), &dir.path().join("var/spool/x")).unwrap();
        assert!(dir.path().join("var/spool/x").is_dir());
    }
}
