//! The machine-readable contract (`--json`), pinned by snapshots.
//! See docs/json.md.

use std::path::Path;
use std::process::{Command, Stdio};

fn example_policy() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/policy.toml")
        .display()
        .to_string()
}

/// Runs the binary in `dir` with `--root demo`, so paths in the output are
/// the same on every machine.
fn json(dir: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .current_dir(dir)
        .args(["--root", "demo", "--json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

#[test]
fn plan_apply_list_and_route() {
    let dir = tempfile::tempdir().unwrap();
    let policy = example_policy();
    let (code, plan) = json(dir.path(), &["--policy", &policy, "plan"]);
    assert_eq!(code, Some(0));
    insta::assert_json_snapshot!("plan", plan);

    let (_, applied) = json(dir.path(), &["--policy", &policy, "apply"]);
    assert_eq!(applied["changed"], true);
    assert_eq!(
        applied["changes"], plan["changes"],
        "apply reports the plan it carried out"
    );
    let (_, again) = json(dir.path(), &["--policy", &policy, "apply"]);
    insta::assert_json_snapshot!("apply_unchanged", again);

    let (_, list) = json(dir.path(), &["list"]);
    insta::assert_json_snapshot!("list", list);
    let (_, route) = json(dir.path(), &["route", "bob@legacy.example.net"]);
    insta::assert_json_snapshot!("route", route);
}

#[test]
fn every_json_output_carries_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let policy = example_policy();
    for args in [
        vec!["--policy", &policy, "plan"],
        vec!["providers"],
        vec!["--policy", &policy, "route", "a@b.example"],
        vec!["--policy", &policy, "route", "a@b.example", "--to", "c@d.example"],
        vec!["--policy", &policy, "route", "--forwarded", "c@d.example"],
        vec!["--policy", &policy, "list"],
    ] {
        let (_, v) = json(dir.path(), &args);
        assert_eq!(v["schema"], smarthost_core::JSON_SCHEMA, "{args:?}");
    }
}
