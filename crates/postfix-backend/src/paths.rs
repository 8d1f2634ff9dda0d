//! Every path the backend touches, validated once: the folders are
//! absolute, stay inside the root, and hold nothing that would break the
//! main.cf line they are written into.

use std::path::{Path, PathBuf};

use smarthost_core::transaction::{self, safe_fs};

use crate::error::Error;
use crate::schema;
use crate::PostfixOptions;

/// The on-disk paths of one Postfix instance, as the backend uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The root (`/` on a live server).
    pub root: PathBuf,
    /// The configuration folder, on disk.
    pub config: PathBuf,
    /// The lookup tables' folder, on disk.
    pub maps: PathBuf,
    /// main.cf.
    pub main_cf: PathBuf,
    /// master.cf.
    pub master_cf: PathBuf,
    /// The journal of an apply in progress.
    pub journal: PathBuf,
}

/// Refuses a folder that cannot be written into main.cf as it is, or that
/// could lead outside the root.
fn check_folder(option: &str, dir: &Path) -> Result<(), Error> {
    let invalid = |reason: &str| Error::InvalidPath {
        option: option.to_owned(),
        path: dir.to_owned(),
        reason: reason.to_owned(),
    };
    let text = dir.to_str().ok_or_else(|| invalid("is not valid UTF-8"))?;
    if !dir.is_absolute() {
        return Err(invalid("is not absolute; give the folder as Postfix sees it"));
    }
    for c in text.chars() {
        let reason = match c {
            c if c.is_control() => "contains a control character (a line break would start a new main.cf line)",
            c if c.is_whitespace() => "contains whitespace, which separates the items of a main.cf list",
            ',' => "contains ',', which separates the items of a main.cf list",
            '=' => "contains '=', which separates a main.cf parameter from its value",
            '#' => "contains '#', which starts a comment in main.cf",
            _ => continue,
        };
        return Err(invalid(reason));
    }
    if dir.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(invalid("contains '..'; give the folder without it"));
    }
    Ok(())
}

impl Paths {
    pub(crate) fn new(options: &PostfixOptions) -> Result<Paths, Error> {
        check_folder("config_dir", &options.config_dir)?;
        check_folder("map_dir", &options.map_dir)?;
        let root = options.root.clone();
        let config = safe_fs::under_root(&root, &options.config_dir)?;
        let maps = safe_fs::under_root(&root, &options.map_dir)?;
        Ok(Paths {
            main_cf: config.join(schema::MAIN_CF),
            master_cf: config.join(schema::MASTER_CF),
            journal: config.join(transaction::JOURNAL_FILE),
            root,
            config,
            maps,
        })
    }

    /// A lookup table's source file.
    pub fn table(&self, name: &str) -> PathBuf {
        self.maps.join(name)
    }

    /// Creates the root and the configuration folder (where the lock and
    /// the journal live) if needed; a symbolic link on the way is refused.
    pub(crate) fn ensure_state_dir(&self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        safe_fs::ensure_dir(&self.root, &self.config)?;
        Ok(())
    }

    /// Creates the folder of a managed file if needed.
    pub(crate) fn ensure_parent(&self, file: &Path) -> Result<(), Error> {
        if let Some(dir) = file.parent() {
            safe_fs::ensure_dir(&self.root, dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(config: &str, maps: &str) -> PostfixOptions {
        let mut o = PostfixOptions::render_into("/srv/root");
        o.config_dir = config.into();
        o.map_dir = maps.into();
        o
    }

    #[test]
    fn folders_that_would_break_main_cf_or_leave_the_root_are_refused() {
        for (maps, words) in [
            ("/m\nrelayhost = [evil.example]:25", "control character"),
            ("/etc/my maps", "whitespace"),
            ("/etc/a,b", "','"),
            ("/etc/a=b", "'='"),
            ("/etc/a#b", "'#'"),
            ("relative/maps", "not absolute"),
            ("/../../tmp/x", "'..'"),
        ] {
            let err = Paths::new(&options("/etc/postfix", maps)).unwrap_err().to_string();
            assert!(err.contains("map_dir") && err.contains(words), "{maps:?}: {err}");
        }
        let paths = Paths::new(&options("/etc/postfix", "/etc/postfix/maps")).unwrap();
        assert_eq!(
            paths.table("relay_secrets"),
            Path::new("/srv/root/etc/postfix/maps/relay_secrets")
        );
    }

    #[test]
    fn a_second_instance_gets_its_own_tables() {
        let o = PostfixOptions::render_into("/r").instance("/etc/postfix-out");
        assert_eq!(o.map_dir, Path::new("/etc/postfix-out"));
        let o = PostfixOptions::render_into("/r").instance(schema::DEFAULT_CONFIG_DIR);
        assert_eq!(o.map_dir, Path::new(schema::DEFAULT_MAP_DIR));
        let mut o = PostfixOptions::render_into("/r");
        o.map_dir = "/srv/maps".into();
        assert_eq!(o.instance("/etc/postfix-out").map_dir, Path::new("/srv/maps"));
    }
}
