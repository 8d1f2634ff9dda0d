//! `RelayHost::parse`, then `Display`, then `parse` again: what parses
//! prints in a form that parses back to the same relay, and prints the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smarthost_core::RelayHost;

fuzz_target!(|data: &str| {
    let Ok(relay) = RelayHost::parse(data) else {
        return;
    };
    let shown = relay.to_string();
    let again =
        RelayHost::parse(&shown).unwrap_or_else(|e| panic!("{data:?} prints as {shown:?}, which does not parse: {e}"));
    assert_eq!(again, relay, "{data:?} prints as {shown:?}");
    assert_eq!(again.to_string(), shown, "{data:?}");
});
