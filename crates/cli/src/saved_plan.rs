//! Saved plans: `plan --out FILE` and `apply FILE`, as Terraform has them.
//!
//! A saved plan holds the policy file's text (which never holds a password:
//! passwords are named by `password_file`/`password_env`), the target it was
//! planned against (backend and folders), the plan as shown, and the plan's
//! [`fingerprint`](smarthost_core::Plan::fingerprint). `apply FILE` takes the
//! lock, reads the system, plans the saved policy again, and applies only
//! when that plan has the same fingerprint: exactly the reviewed changes,
//! or nothing. Passwords are read again from their sources when applying,
//! so a saved plan holds no secret; a password that changed since shows as
//! a different plan (the secrets table changes) unless the saved plan
//! already replaced that password, in which case the current value is
//! written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use smarthost_core::transaction::safe_fs;
use smarthost_core::{ConfigWriter, Plan};

use crate::args::Cli;
use crate::backend;
use crate::carry_out;
use crate::error::CliError;
use crate::policy_input::{policy_from_text, policy_text};

/// What the file says it is.
const FORMAT: &str = "smarthost-saved-plan";
/// The layout of the file.
const VERSION: u32 = 1;

/// The file `plan --out` writes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedPlan {
    format: String,
    version: u32,
    /// The smarthost version that made it: another version may render the
    /// same policy differently, so it must plan again.
    smarthost: String,
    target: Target,
    /// The policy file's absolute path: names it in errors and is the base
    /// of relative `password_file`s.
    policy_path: PathBuf,
    /// The policy file's text.
    policy: String,
    /// [`Plan::fingerprint`] of the saved plan.
    fingerprint: String,
    /// The plan as `plan --json` shows it, for people and tools reading the
    /// file; `apply` does not trust it, it plans again and compares
    /// fingerprints.
    plan: serde_json::Value,
}

/// What the plan was made against: the options that choose the system.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    backend: String,
    root: Option<PathBuf>,
    config_dir: Option<PathBuf>,
    map_dir: Option<PathBuf>,
    map_type: Option<String>,
    url: Option<String>,
}

impl Target {
    /// The target of `cli` (whose `--root` is [`rooted`]).
    fn of(cli: &Cli) -> Target {
        Target {
            backend: format!("{:?}", cli.backend).to_lowercase(),
            root: cli.root.clone(),
            config_dir: cli.config_dir.clone(),
            map_dir: cli.map_dir.clone(),
            map_type: cli.map_type.map(|t| t.to_string()),
            url: cli.url.clone(),
        }
    }

    /// The global options that name this target.
    fn options(&self) -> String {
        let mut text = format!("--backend {}", self.backend);
        let mut add = |option: &str, value: Option<String>| {
            if let Some(value) = value {
                text.push_str(&format!(" --{option} {value}"));
            }
        };
        add("root", self.root.as_ref().map(|p| p.display().to_string()));
        add("config-dir", self.config_dir.as_ref().map(|p| p.display().to_string()));
        add("map-dir", self.map_dir.as_ref().map(|p| p.display().to_string()));
        add("map-type", self.map_type.clone());
        add("url", self.url.clone());
        text
    }
}

/// The path without `.`, `..` or symbolic links when it exists (so that
/// `../r` and `/srv/r` are one target), else absolute with `..` folded.
fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    if let Ok(path) = std::fs::canonicalize(path) {
        return Ok(path);
    }
    let path = std::path::absolute(path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    let mut folded = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                folded.pop();
            }
            std::path::Component::CurDir => {}
            other => folded.push(other),
        }
    }
    Ok(folded)
}

/// The command line with `--root` made absolute, so that the plan's paths,
/// and with them its fingerprint, do not depend on the working folder.
fn rooted(cli: &Cli) -> Result<Cli, CliError> {
    let mut cli = cli.clone();
    cli.root = cli.root.as_deref().map(absolute).transpose()?;
    Ok(cli)
}

/// `plan --out FILE`: plans the policy file, shows the plan and saves it.
pub(crate) fn save(cli: &Cli, out: &Path) -> Result<Plan, CliError> {
    let cli = &rooted(cli)?;
    let (path, text) = policy_text(cli)?;
    let policy = policy_from_text(cli, &path, &text)?;
    let plan = backend::open(cli)?.plan(&policy)?;
    let saved = SavedPlan {
        format: FORMAT.to_owned(),
        version: VERSION,
        smarthost: env!("CARGO_PKG_VERSION").to_owned(),
        target: Target::of(cli),
        policy_path: absolute(&path)?,
        policy: text,
        fingerprint: plan.fingerprint(),
        plan: serde_json::to_value(&plan).map_err(|e| CliError::Other(Box::new(e)))?,
    };
    // Whole or not at all, 0600: the plan shows the system's configuration.
    let mut json = serde_json::to_vec_pretty(&saved).map_err(|e| CliError::Other(Box::new(e)))?;
    json.push(b'\n');
    safe_fs::replace_file(out, &json, 0o600).map_err(|e| CliError::Usage(format!("--out: {e}")))?;
    Ok(plan)
}

/// `apply FILE`: applies a saved plan if planning its policy again now
/// gives the same plan; refuses and changes nothing otherwise.
pub(crate) fn apply(cli: &Cli, file: &Path, dry_run: bool) -> Result<u8, CliError> {
    if cli.policy.is_some() {
        return Err(CliError::Usage(
            "apply FILE applies the policy saved in the plan: drop --policy".into(),
        ));
    }
    let cli = &rooted(cli)?;
    let text = smarthost_core::input::read_policy_file("plan", file)?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{}: not a saved plan (plan --out FILE writes one): {e}",
            file.display()
        ))
    })?;
    if saved.format != FORMAT || saved.version != VERSION {
        return Err(CliError::Usage(format!(
            "{}: not a saved plan of version {VERSION} (format {:?}, version {})",
            file.display(),
            saved.format,
            saved.version
        )));
    }
    let stale =
        |why: String| CliError::StalePlan(format!("{}: {why}; nothing was changed: plan again", file.display()));
    if saved.smarthost != env!("CARGO_PKG_VERSION") {
        return Err(stale(format!(
            "made by smarthost {}, this is {}",
            saved.smarthost,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let target = Target::of(cli);
    if target != saved.target {
        return Err(CliError::Usage(format!(
            "{}: this plan was made with {}; give the same options (this run has {})",
            file.display(),
            saved.target.options(),
            target.options()
        )));
    }
    let policy = policy_from_text(cli, &saved.policy_path, &saved.policy)?;
    let backend = backend::open(cli)?;
    // One hold of the lock from the read to the commit, as for apply.
    let _held = backend.hold()?;
    let plan = backend.plan(&policy)?;
    if plan.fingerprint() != saved.fingerprint {
        return Err(stale(
            "planning its policy again now gives a different plan (the configuration, the settings or a password changed since it was saved)".into(),
        ));
    }
    carry_out::plan(cli, &backend, &plan, dry_run)
}
