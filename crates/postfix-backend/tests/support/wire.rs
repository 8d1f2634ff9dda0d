//! What the on-the-wire suites (e2e_postfix, e2e_health, e2e_routing) share:
//! the writer's options for a private instance, smarthosts on local test
//! relays with `pw-USER` passwords, and finding a delivery by sender.
#![allow(dead_code)] // each suite uses part of it

use std::path::PathBuf;

use postfix_backend::{MapType, PostfixOptions, Reload};
use smarthost_core::{Encryption, Smarthost};
use test_support::postfix::Instance;
use test_support::smtp::{Delivery, Server};

/// Live options for the private instance `pf`: its configuration and
/// table folders, hash tables compiled, `postfix check` and `postfix
/// reload` run (without asking Postfix for the map type).
pub(crate) fn options(pf: &Instance) -> PostfixOptions {
    PostfixOptions {
        root: PathBuf::from("/"),
        config_dir: pf.config_dir(),
        map_dir: pf.map_dir(),
        map_type: MapType::Hash,
        compile_maps: true,
        check: true,
        reload: Reload::Postfix,
        ..PostfixOptions::render_into("/")
    }
}

/// A smarthost for `[localhost]:PORT` with `encryption`, logging in as
/// `user` with the password `pw-USER` when given.
pub(crate) fn relay_at(port: u16, encryption: Encryption, user: Option<&str>) -> Smarthost {
    let password = user.map(|u| format!("pw-{u}"));
    let login = user.zip(password.as_deref());
    test_support::builders::relay(&format!("[localhost]:{port}"), encryption, login)
}

/// [`relay_at`] the port of `relay`.
pub(crate) fn smarthost(relay: &Server, encryption: Encryption, user: Option<&str>) -> Smarthost {
    relay_at(relay.port(), encryption, user)
}

/// The delivery whose MAIL FROM is `from`; fails the test without one.
pub(crate) fn delivery<'a>(deliveries: &'a [Delivery], from: &str) -> &'a Delivery {
    deliveries
        .iter()
        .find(|d| d.mail_from == from)
        .unwrap_or_else(|| panic!("no delivery from {from:?}: {deliveries:?}"))
}
