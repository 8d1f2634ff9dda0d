//! Peak memory (VmHWM) and time of one Postfix plan for 100,000 domains, in
//! a fresh process so nothing else counts. Linux only.

use std::time::Instant;

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::ConfigWriter;

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` asks benches to list themselves
    }
    let before = vm_hwm_kib();
    let start = Instant::now();
    let policy = smarthost_benches::policy_with_domains(100_000);
    let built = start.elapsed();
    let root = tempfile::tempdir().expect("temp dir");
    let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
    let start = Instant::now();
    let plan = writer.plan(&policy).expect("plan");
    let rendered = plan.render();
    let planned = start.elapsed();
    println!(
        "policy of 100,000 domains built in {built:.2?}; plan + render in {planned:.2?} ({} changes, {} bytes of diff)",
        plan.changes.len(),
        rendered.len()
    );
    match (before, vm_hwm_kib()) {
        (Some(b), Some(a)) => println!("peak memory (VmHWM): {} MiB (at start {} MiB)", a / 1024, b / 1024),
        _ => println!("peak memory: /proc/self/status not available"),
    }
}
