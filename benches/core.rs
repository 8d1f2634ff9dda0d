//! Parsing and routing.

use smarthost_core::RelayHost;

fn main() {
    divan::main();
}

#[divan::bench(args = ["smtp.example.com", "[smtp.sendgrid.net]:587", "[ipv6:2001:db8::1]:587"])]
fn parse_relay(input: &str) -> RelayHost {
    RelayHost::parse(divan::black_box(input)).unwrap()
}

#[divan::bench]
fn route_in_100k_domains(bencher: divan::Bencher<'_, '_>) {
    let policy = smarthost_benches::policy_with_domains(100_000);
    bencher.bench(|| {
        policy
            .route(divan::black_box("alice@customer77777.example"))
            .unwrap()
            .via
            == smarthost_core::Via::Direct
    });
}
