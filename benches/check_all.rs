//! `check --all` at fleet scale: 1,000 domains sharing 50 relays, each
//! relay (on 127.0.0.1) waiting 100 ms before every reply. Prints the total
//! time as a ratio to the slowest single check, and the time checking the
//! domains one after another would take.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smarthost_core::check::{check, check_many, CheckOptions, CheckTarget};
use smarthost_core::{Credentials, RelayHost, Secret, Smarthost, Username};
use test_support::certs::TestCa;
use test_support::smtp::{Options, Server};

const RELAYS: usize = 50;
const DOMAINS: usize = 1_000;
const SEQUENTIAL_SAMPLE: usize = 10;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn smarthost(port: u16, relay: usize) -> Smarthost {
    Smarthost::new(RelayHost::parse(&format!("[localhost]:{port}")).unwrap()).with_credentials(Credentials::new(
        Username::new(&format!("user{relay}")).unwrap(),
        Secret::new(format!("secret{relay}")).unwrap(),
    ))
}

async fn run() {
    let certs = TestCa::new();
    let cert = Arc::new(certs.good());
    let mut servers = Vec::new();
    for i in 0..RELAYS {
        let b = Options {
            cert: Some(cert.clone()),
            accounts: vec![(format!("user{i}"), format!("secret{i}"))],
            delay: Duration::from_millis(100),
            ..Options::default()
        };
        servers.push(Server::start(b));
    }
    let options = CheckOptions {
        roots: Some(vec![certs.der()]),
        ..CheckOptions::default()
    };

    let mut slowest = Duration::ZERO;
    for (i, server) in servers.iter().enumerate().take(5) {
        let start = Instant::now();
        let report = check(&smarthost(server.port(), i), &options).await;
        assert!(report.ok, "{report:#?}");
        slowest = slowest.max(start.elapsed());
    }

    let targets: Vec<_> = (0..DOMAINS)
        .map(|d| CheckTarget {
            label: format!("domain customer{d}.example"),
            smarthost: smarthost(servers[d % RELAYS].port(), d % RELAYS),
            check_certificate: true,
        })
        .collect();
    let start = Instant::now();
    let checked = check_many(targets, &options, 64, || {}).await;
    let all = start.elapsed();
    assert_eq!(checked.len(), RELAYS);
    assert!(checked
        .iter()
        .all(|c| c.report.ok && c.used_by.len() == DOMAINS / RELAYS));

    let start = Instant::now();
    for d in 0..SEQUENTIAL_SAMPLE {
        assert!(
            check(&smarthost(servers[d % RELAYS].port(), d % RELAYS), &options)
                .await
                .ok
        );
    }
    let per_check = start.elapsed() / SEQUENTIAL_SAMPLE as u32;
    let sequential = per_check * DOMAINS as u32;

    println!("slowest single check (of 5): {slowest:.2?}");
    println!(
        "check --all, {DOMAINS} domains over {RELAYS} relays: {all:.2?} = {:.2}x the slowest single check",
        all.as_secs_f64() / slowest.as_secs_f64()
    );
    println!(
        "one after another: {per_check:.2?} per domain, {sequential:.2?} for {DOMAINS} domains (from {SEQUENTIAL_SAMPLE} measured) = {:.0}x slower than --all",
        sequential.as_secs_f64() / all.as_secs_f64()
    );
}
