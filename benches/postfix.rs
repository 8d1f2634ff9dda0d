//! Planning and rendering the Postfix configuration.

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::ConfigWriter;

fn main() {
    divan::main();
}

/// Plan (render every table and main.cf) for a fresh server.
#[divan::bench(args = [1_000, 100_000], sample_count = 10)]
fn plan_fresh(bencher: divan::Bencher<'_, '_>, domains: usize) {
    let policy = smarthost_benches::policy_with_domains(domains);
    let root = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
    bencher.bench(|| writer.plan(&policy).unwrap().changes.len());
}

/// Plan one domain's change on a server that already has every domain.
#[divan::bench(args = [100_000], sample_count = 10)]
fn plan_one_change(bencher: divan::Bencher<'_, '_>, domains: usize) {
    let mut policy = smarthost_benches::policy_with_domains(domains);
    let root = tempfile::tempdir().unwrap();
    let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
    writer.converge(&policy).unwrap();
    let first = policy.domains.keys().next().unwrap().clone();
    policy.domains.remove(&first);
    bencher.bench(|| writer.plan(&policy).unwrap().changes.len());
}
