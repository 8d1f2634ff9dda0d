//! Shared inputs of the benchmarks (`cargo bench -p smarthost-benches`).
//! Figures are recorded in `docs/performance.md`.

use smarthost_core::{Credentials, DomainName, Policy, RelayHost, Secret, Smarthost, Username};

/// A policy with a server-wide relay and `n` domains spread over 50 relays,
/// half of them with credentials.
pub fn policy_with_domains(n: usize) -> Policy {
    let mut policy = Policy::default();
    let relay = |i: usize| RelayHost::parse(&format!("[relay{}.example.net]:587", i % 50)).expect("valid relay");
    policy.server = Some(Smarthost::new(relay(0)));
    for i in 0..n {
        let domain: DomainName = format!("customer{i}.example").parse().expect("valid domain");
        let mut smarthost = Smarthost::new(relay(i));
        if i % 2 == 0 {
            let user = Username::new(&format!("user{i}")).expect("valid user");
            let secret = Secret::new(format!("secret-{i}")).expect("valid secret");
            smarthost = smarthost.with_credentials(Credentials::new(user, secret));
        }
        policy.domains.insert(domain, smarthost);
    }
    policy
}
