//! The compiled tables of this backend (`relay_secrets.db`, `.lmdb`) that
//! main.cf names, and those a plan leaves without a use. Both the plan
//! and the apply need them, so they live apart from either.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use smarthost_core::transaction;
use smarthost_core::Plan;

use crate::cf::{CfFile, Kind};
use crate::maps::MapType;
use crate::schema::TABLES;
use crate::{Paths, PostfixOptions};

/// Whether `path` (on disk) is one of this backend's tables, and if so
/// whether it holds secrets. Other files of the map folder (the state file,
/// an administrator's tables) are not.
pub(crate) fn own_table(paths: &Paths, path: &Path) -> Option<bool> {
    if path.parent() != Some(paths.maps.as_path()) {
        return None;
    }
    let name = path.file_name().and_then(|n| n.to_str())?;
    TABLES
        .iter()
        .find(|(table, _)| *table == name)
        .map(|(_, secret)| *secret)
}

/// A compiled table that a change of map type leaves behind.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StaleCompiled {
    /// The compiled file (`relay_secrets.db`), on disk.
    pub(crate) path: PathBuf,
    /// Whether its table holds secrets.
    pub(crate) sensitive: bool,
}

/// The compiled files of this backend's tables that a main.cf text names
/// (`hash:<dir>/relay_secrets` names `<dir>/relay_secrets.db`), on disk.
/// Tables of other folders or names (the administrator's) are never
/// included.
fn named_compiled(text: &str, options: &PostfixOptions, paths: &Paths) -> BTreeSet<StaleCompiled> {
    let main = CfFile::parse(text, Kind::Main);
    let values: Vec<&str> = main.effective().into_iter().map(|(_, value)| value).collect();
    named_in(&values, options, paths)
}

/// The compiled files of this backend's tables that master.cf's `-o
/// name=type:file` overrides name (`nexthop_secrets`, named by the
/// smarthost-nexthop service only).
fn named_compiled_master(text: &str, options: &PostfixOptions, paths: &Paths) -> BTreeSet<StaleCompiled> {
    let values: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|word| word.split_once('=').map(|(_, value)| value))
        .collect();
    named_in(&values, options, paths)
}

fn named_in(values: &[&str], options: &PostfixOptions, paths: &Paths) -> BTreeSet<StaleCompiled> {
    let mut found = BTreeSet::new();
    for value in values {
        for item in value.split(|c: char| c == ',' || c.is_whitespace()) {
            let Some((kind, file)) = item.split_once(':') else {
                continue;
            };
            let Ok(kind) = kind.parse::<MapType>() else {
                continue;
            };
            let Ok(source) = transaction::safe_fs::under_root(&options.root, Path::new(file)) else {
                continue;
            };
            let Some(sensitive) = own_table(paths, &source) else {
                continue;
            };
            let Some(path) = kind.compiled_path(&source) else {
                continue;
            };
            found.insert(StaleCompiled { path, sensitive });
        }
    }
    found
}

/// Every map type, so that a new one cannot be left out (the match stops
/// the build until it is added).
fn every_map_type() -> [MapType; 3] {
    let all = [MapType::Hash, MapType::Lmdb, MapType::Texthash];
    for kind in all {
        match kind {
            MapType::Hash | MapType::Lmdb | MapType::Texthash => {}
        }
    }
    all
}

/// Whether a compiled file of any of this backend's tables, of any map
/// type, exists (what [`stale_compiled`] can return, and nothing else).
fn any_compiled(paths: &Paths) -> bool {
    TABLES.iter().any(|(name, _)| {
        every_map_type()
            .into_iter()
            .filter_map(|kind| kind.compiled_path(&paths.table(name)))
            .any(|compiled| std::fs::symlink_metadata(compiled).is_ok())
    })
}

/// The compiled tables the plan leaves without a use: main.cf named them
/// before the plan (`hash:` -> `.db`, `lmdb:` -> `.lmdb`) and no longer
/// does after it (another map type, or the table is gone), and they exist.
/// They are removed in the same transaction, so a rollback puts them back
/// with the old main.cf, and a compiled secrets table does not outlive its
/// use.
pub(crate) fn stale_compiled(options: &PostfixOptions, paths: &Paths, plan: &Plan) -> Vec<StaleCompiled> {
    let main = plan.files().find(|f| f.path() == paths.main_cf);
    let master = plan.files().find(|f| f.path() == paths.master_cf);
    if main.is_none() && master.is_none() {
        return Vec::new();
    }
    // Only an existing compiled table can be stale: without any, main.cf
    // and master.cf are not parsed (four parses of a large main.cf per
    // `server set` were half of its CPU time).
    if !any_compiled(paths) {
        return Vec::new();
    }
    // A file the plan does not change names the same tables before and
    // after: it is read as it is on disk.
    let on_disk = |path: &Path| transaction::safe_fs::read_text(path).ok().flatten().unwrap_or_default();
    let (main_before, main_after) = match main {
        Some(f) => (f.before().unwrap_or("").to_owned(), f.after().unwrap_or("").to_owned()),
        None => {
            let text = on_disk(&paths.main_cf);
            (text.clone(), text)
        }
    };
    let (master_before, master_after) = match master {
        Some(f) => (f.before().unwrap_or("").to_owned(), f.after().unwrap_or("").to_owned()),
        None => {
            let text = on_disk(&paths.master_cf);
            (text.clone(), text)
        }
    };
    let mut before = named_compiled(&main_before, options, paths);
    before.extend(named_compiled_master(&master_before, options, paths));
    let mut after = named_compiled(&main_after, options, paths);
    after.extend(named_compiled_master(&master_after, options, paths));
    before
        .into_iter()
        .filter(|c| !after.contains(c) && std::fs::symlink_metadata(&c.path).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smarthost_core::{Change, FileChange};

    /// A render folder whose map folder holds compiled tables: ours, and
    /// an administrator's in the same folder.
    fn setup() -> (tempfile::TempDir, PostfixOptions, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let options = PostfixOptions::render_into(dir.path());
        let paths = options.paths().unwrap();
        std::fs::create_dir_all(&paths.maps).unwrap();
        for name in [
            "relay_secrets.db",
            "tls_policy.db",
            "tls_policy.lmdb",
            "partner_tls.db",
            "sender_relay.db",
        ] {
            std::fs::write(paths.maps.join(name), name).unwrap();
        }
        (dir, options, paths)
    }

    fn main_cf_plan(paths: &Paths, before: &str, after: &str) -> Plan {
        let mut plan = Plan::new("postfix");
        plan.changes.push(Change::File(FileChange::new(
            paths.main_cf.clone(),
            0o644,
            Some(before.to_owned()),
            Some(after.to_owned()),
        )));
        plan
    }

    fn names(stale: &[StaleCompiled]) -> Vec<(String, bool)> {
        stale
            .iter()
            .map(|s| (s.path.file_name().unwrap().to_string_lossy().into_owned(), s.sensitive))
            .collect()
    }

    #[test]
    fn the_old_types_compiled_tables_are_stale_and_nothing_else() {
        let (_dir, options, paths) = setup();
        let m = schema_dir(&options);
        let before = format!(
            "smtp_sasl_password_maps = hash:{m}/relay_secrets\n\
             smtp_tls_policy_maps = hash:{m}/tls_policy, hash:{m}/partner_tls\n\
             sender_dependent_relayhost_maps = texthash:{m}/sender_relay\n\
             alias_maps = hash:/etc/aliases\n"
        );
        let after = format!(
            "smtp_sasl_password_maps = texthash:{m}/relay_secrets\n\
             smtp_tls_policy_maps = texthash:{m}/tls_policy, hash:{m}/partner_tls\n\
             sender_dependent_relayhost_maps = texthash:{m}/sender_relay\n\
             alias_maps = hash:/etc/aliases\n"
        );
        let plan = main_cf_plan(&paths, &before, &after);
        // The administrator's partner_tls.db stays; sender_relay.db was not
        // named before (texthash), tls_policy.lmdb neither.
        assert_eq!(
            names(&stale_compiled(&options, &paths, &plan)),
            [
                ("relay_secrets.db".to_owned(), true),
                ("tls_policy.db".to_owned(), false)
            ]
        );

        // hash -> lmdb: the .db goes, the .lmdb is the new type's.
        let after = before
            .replace("hash:", "lmdb:")
            .replace(&format!("lmdb:{m}/partner_tls"), &format!("hash:{m}/partner_tls"));
        let plan = main_cf_plan(&paths, &before, &after);
        assert_eq!(names(&stale_compiled(&options, &paths, &plan)).len(), 2);

        // No change of type: nothing is stale; a plan without main.cf
        // neither.
        let plan = main_cf_plan(&paths, &before, &format!("{before}# edited\n"));
        assert!(stale_compiled(&options, &paths, &plan).is_empty());
        assert!(stale_compiled(&options, &paths, &Plan::new("postfix")).is_empty());

        // Disabled (the parameter removed): the compiled table goes too.
        let plan = main_cf_plan(&paths, &before, "alias_maps = hash:/etc/aliases\n");
        assert_eq!(names(&stale_compiled(&options, &paths, &plan)).len(), 2);
    }

    #[test]
    fn the_nexthop_secrets_named_in_master_cf_go_with_a_change_of_type() {
        let (_dir, options, paths) = setup();
        std::fs::write(paths.maps.join("nexthop_secrets.db"), "x").unwrap();
        let m = schema_dir(&options);
        let entry = |kind: &str| {
            format!("smarthost-nexthop unix - - n - - smtp\n  -o smtp_sasl_password_maps={kind}:{m}/nexthop_secrets\n")
        };
        let mut plan = Plan::new("postfix");
        plan.changes.push(Change::File(FileChange::new(
            paths.master_cf.clone(),
            0o644,
            Some(entry("hash")),
            Some(entry("lmdb")),
        )));
        assert_eq!(
            names(&stale_compiled(&options, &paths, &plan)),
            [("nexthop_secrets.db".to_owned(), true)]
        );
        let mut plan = Plan::new("postfix");
        plan.changes.push(Change::File(FileChange::new(
            paths.master_cf.clone(),
            0o644,
            Some(entry("hash")),
            Some(format!("{}# edited\n", entry("hash"))),
        )));
        assert!(stale_compiled(&options, &paths, &plan).is_empty());
    }

    #[test]
    fn without_a_compiled_table_nothing_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let options = PostfixOptions::render_into(dir.path());
        let paths = options.paths().unwrap();
        let m = schema_dir(&options);
        let plan = main_cf_plan(&paths, &format!("smtp_tls_policy_maps = hash:{m}/tls_policy\n"), "");
        assert!(!any_compiled(&paths));
        assert!(stale_compiled(&options, &paths, &plan).is_empty());
        std::fs::create_dir_all(&paths.maps).unwrap();
        std::fs::write(paths.maps.join("tls_policy.db"), "x").unwrap();
        assert!(any_compiled(&paths));
        assert_eq!(
            names(&stale_compiled(&options, &paths, &plan)),
            [("tls_policy.db".to_owned(), false)]
        );
    }

    /// The map folder as Postfix sees it.
    fn schema_dir(options: &PostfixOptions) -> String {
        options.map_dir.display().to_string()
    }
}
