//! A full disk during `apply`: a small tmpfs is mounted as the `--root`, the
//! old policy is applied, a filler file leaves K bytes free, and the new
//! policy is applied. At every fill level the apply must either succeed with
//! exactly the new configuration or fail (exit 1) leaving exactly the old
//! one (every configuration file, path and content, absence included; the
//! filler, backups, lock, journal and temp files are not configuration, and
//! no temp file may remain). When the files are intact, the error must not
//! claim that restoring them failed. Once the filler is gone, `list` and the
//! apply must succeed and reach the new configuration.
//!
//! K steps from 0 to a bit more than the new configuration needs, over
//! SMARTHOST_ENOSPC_LEVELS levels (default 21); the highest level must
//! succeed, so that both outcomes are exercised.
//!
//! Mounting needs root (and CAP_SYS_ADMIN), so the test is `#[ignore]`d:
//! `cargo test -- --include-ignored` runs it (as .ci/run does, as root), and
//! fails it when the tmpfs cannot be mounted.
//!
//! Run: `cargo test -p smarthost --test enospc -- --include-ignored --nocapture` prints
//! `enospc: X fill levels, Y consistent`.
#![cfg(unix)]

#[path = "support/faults.rs"]
mod faults;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use faults::{Generation, Outcome, Snapshot, SnapshotOptions, TmpfsMount};

const DEFAULT_LEVELS: usize = 21;
const TIMEOUT: Duration = Duration::from_secs(60);
const FILLER: &str = "filler";

fn root_args(root: &Path, rest: &[&str]) -> Vec<String> {
    let mut args = vec!["--root".to_owned(), faults::path_str(root)];
    args.extend(rest.iter().map(|s| (*s).to_owned()));
    args
}

fn smarthost(root: &Path, rest: &[&str]) -> Outcome {
    faults::run(&root_args(root, rest), &[], TIMEOUT)
}

fn apply(root: &Path, policy: &Path) -> Outcome {
    smarthost(root, &["--policy", &faults::path_str(policy), "apply"])
}

fn options(root: &Path) -> SnapshotOptions {
    SnapshotOptions {
        normalize: Some(faults::path_str(root)),
        compiled_suffix: None,
        exclude: BTreeSet::from([FILLER.to_owned()]),
    }
}

fn total_bytes(s: &Snapshot) -> u64 {
    s.files.values().map(|c| c.len() as u64).sum()
}

/// Writes a filler file so that about `keep` bytes stay free; returns the
/// bytes actually free afterwards.
fn fill(mount: &TmpfsMount, keep: u64) -> u64 {
    let path = mount.path().join(FILLER);
    let avail = mount.available();
    if avail > keep {
        let data = vec![0x5au8; (avail - keep) as usize];
        // Page rounding can make the last bytes not fit: that is full enough.
        let _ = std::fs::write(&path, data);
    }
    mount.available()
}

/// How one fill level went.
struct Level {
    keep: u64,
    free: u64,
    outcome: String,
    problems: Vec<String>,
}

#[test]
#[ignore = "needs root to mount a tmpfs (run with --include-ignored as root; .ci/run does)"]
fn a_full_disk_leaves_the_old_or_the_new_configuration() {
    test_support::require::root("mounting a tmpfs");
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix("smarthost-enospc-work")
        .tempdir()
        .unwrap();
    let (old_policy, new_policy) = faults::write_policies(&work.path().join("policies"));

    // Reference snapshots from clean runs on an ordinary file system.
    let ref_old = work.path().join("ref-old");
    let ref_new = work.path().join("ref-new");
    for (root, policies) in [
        (&ref_old, vec![&old_policy]),
        (&ref_new, vec![&old_policy, &new_policy]),
    ] {
        for p in policies {
            let out = apply(root, p);
            assert!(out.success(), "clean apply into {}: {}", root.display(), out.brief());
        }
    }
    let old = faults::snapshot(&ref_old, &options(&ref_old));
    let new = faults::snapshot(&ref_new, &options(&ref_new));
    assert_ne!(old, new);

    // The highest level leaves room for the whole new configuration, half
    // of it again and 64 KiB (journal, folders, page rounding): the apply
    // must succeed there. The tmpfs holds that twice over; the filler takes
    // the rest.
    let max_keep = total_bytes(&new) * 3 / 2 + 64 * 1024;
    let size_kib = (total_bytes(&old) + 2 * max_keep) / 1024 + 1024;
    let mount = TmpfsMount::mount(size_kib).unwrap_or_else(|why| panic!("we are root, but {why}"));
    let root = mount.path().to_owned();
    let levels = faults::env_number("SMARTHOST_ENOSPC_LEVELS", DEFAULT_LEVELS).max(2);

    let mut results = Vec::new();
    for i in 0..levels {
        let keep = max_keep * i as u64 / (levels as u64 - 1);
        mount.clear();
        let out = apply(&root, &old_policy);
        assert!(out.success(), "the old policy on an empty tmpfs: {}", out.brief());
        assert_eq!(
            faults::classify(&faults::snapshot(&root, &options(&root)), &old, &new),
            Generation::Old,
            "the old policy on the tmpfs is not the reference"
        );
        let free = fill(&mount, keep);

        let out = apply(&root, &new_policy);
        let generation = faults::classify(&faults::snapshot(&root, &options(&root)), &old, &new);
        let mut problems = Vec::new();
        let outcome = match (out.code, &generation) {
            (Some(0), Generation::New) => "applied".to_owned(),
            (Some(1), Generation::Old) => "refused, old kept".to_owned(),
            _ => {
                problems.push(format!("files {} after {}", generation.describe(), out.brief()));
                "inconsistent".to_owned()
            }
        };
        if generation == Generation::Old {
            if let Some(phrase) = faults::claims_failed_restore(&out.stderr) {
                problems.push(format!(
                    "the files are intact but the error says {phrase:?}: {}",
                    out.stderr.trim()
                ));
            }
        }
        let temps = faults::temp_leftovers(&root);
        if !temps.is_empty() {
            problems.push(format!("temp files left: {}", temps.join(" ")));
        }

        // Space back: the next commands recover and converge.
        std::fs::remove_file(root.join(FILLER)).ok();
        let list = smarthost(&root, &["list"]);
        if !list.success() {
            problems.push(format!("`list` once space is back: {}", list.brief()));
        }
        let again = apply(&root, &new_policy);
        let after = faults::classify(&faults::snapshot(&root, &options(&root)), &old, &new);
        if !again.success() || after != Generation::New {
            problems.push(format!(
                "the apply once space is back: files {} after {}",
                after.describe(),
                again.brief()
            ));
        }
        results.push(Level {
            keep,
            free,
            outcome,
            problems,
        });
    }
    drop(mount);

    let consistent = results.iter().filter(|l| l.problems.is_empty()).count();
    let applied = results.iter().filter(|l| l.outcome == "applied").count();
    println!("enospc: {} fill levels, {consistent} consistent", results.len());
    println!(
        "enospc: {applied} applied, {} refused with the old configuration kept; free bytes per level: {}; {:.0?}",
        results.iter().filter(|l| l.outcome.starts_with("refused")).count(),
        results.iter().map(|l| l.free.to_string()).collect::<Vec<_>>().join(" "),
        started.elapsed()
    );
    let failures: Vec<String> = results
        .iter()
        .filter(|l| !l.problems.is_empty())
        .map(|l| format!("  free {} (asked {}): {}", l.free, l.keep, l.problems.join("; ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fill levels left neither exactly the old nor exactly the new configuration, or said the wrong thing:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    let top = results.last().unwrap();
    assert_eq!(
        top.outcome, "applied",
        "with {} bytes free the apply should succeed; raise the highest fill level if the apply legitimately needs more",
        top.free
    );
}
