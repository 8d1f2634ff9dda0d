//! Smarthosts and policies from short literals, as every suite writes them.

use smarthost_core::{Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

/// A smarthost for `relay` (as a user types it, e.g. `[smtp.example.com]:587`)
/// with `encryption`, logging in as `login`'s user with its password when
/// given. Panics on input the model refuses: tests pass valid literals.
pub fn relay(relay: &str, encryption: Encryption, login: Option<(&str, &str)>) -> Smarthost {
    let smarthost = Smarthost::new(RelayHost::parse(relay).unwrap()).with_encryption(encryption);
    match login {
        Some((user, password)) => smarthost.with_credentials(Credentials::new(
            Username::new(user).unwrap(),
            Secret::new(password.to_owned()).unwrap(),
        )),
        None => smarthost,
    }
}

/// A domain name from a literal.
pub fn domain(name: &str) -> DomainName {
    name.parse().unwrap()
}

/// A policy with this server-wide smarthost and these per-domain ones;
/// the feature settings are the defaults.
pub fn policy(server: Option<Smarthost>, domains: &[(&str, Smarthost)]) -> Policy {
    Policy {
        server,
        domains: domains.iter().map(|(d, s)| (domain(d), s.clone())).collect(),
        ..Policy::default()
    }
}
