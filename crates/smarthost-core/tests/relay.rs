//! RelayHost: every form users type, Postfix display, and round trips.

use proptest::prelude::*;
use smarthost_core::{Host, RelayHost};

#[test]
fn parses_every_form_users_type() {
    let cases = [
        ("smtp.example.com", "smtp.example.com:25", true, 25),
        ("smtp.example.com:587", "smtp.example.com:587", true, 587),
        ("[smtp.example.com]", "[smtp.example.com]:25", false, 25),
        ("[smtp.example.com]:587", "[smtp.example.com]:587", false, 587),
        ("SMTP.Example.COM.", "smtp.example.com:25", true, 25),
        ("192.0.2.1", "[192.0.2.1]:25", false, 25),
        ("192.0.2.1:2525", "[192.0.2.1]:2525", false, 2525),
        ("[192.0.2.1]:465", "[192.0.2.1]:465", false, 465),
        ("2001:db8::1", "[ipv6:2001:db8::1]:25", false, 25),
        ("[2001:db8::1]:587", "[ipv6:2001:db8::1]:587", false, 587),
        ("[ipv6:2001:db8::1]:587", "[ipv6:2001:db8::1]:587", false, 587),
        ("[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]:25", false, 25),
        ("relay.bücher.example:587", "relay.xn--bcher-kva.example:587", true, 587),
        ("localhost:2525", "localhost:2525", true, 2525),
    ];
    for (input, shown, mx, port) in cases {
        let relay = RelayHost::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(relay.to_string(), shown, "display of {input}");
        assert_eq!(relay.mx_lookup(), mx, "mx lookup of {input}");
        assert_eq!(relay.port(), port, "port of {input}");
    }
}

#[test]
fn ip_addresses_are_typed() {
    assert!(matches!(RelayHost::parse("[192.0.2.1]").unwrap().host(), Host::Ipv4(_)));
    assert!(matches!(RelayHost::parse("[::1]:25").unwrap().host(), Host::Ipv6(_)));
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
}

fn relay() -> impl Strategy<Value = RelayHost> {
    let name = (prop::collection::vec(label(), 1..4), "[a-z]{2,6}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")));
    let host = prop_oneof![
        name.prop_map(|n| Host::Name(n.parse().unwrap())),
        any::<std::net::Ipv4Addr>().prop_map(Host::Ipv4),
        any::<std::net::Ipv6Addr>().prop_map(Host::Ipv6),
    ];
    (host, 1u16..=u16::MAX, any::<bool>()).prop_map(|(host, port, mx)| {
        let mx = mx && matches!(host, Host::Name(_));
        RelayHost::new(host, port, mx).unwrap()
    })
}

proptest! {
    #[test]
    fn display_then_parse_round_trips(relay in relay()) {
        let shown = relay.to_string();
        prop_assert_eq!(RelayHost::parse(&shown).unwrap(), relay);
    }

    #[test]
    fn parser_never_panics(input in any::<String>()) {
        let _ = RelayHost::parse(&input);
    }

    #[test]
    fn parser_never_panics_on_relay_like_text(input in "[\\[\\]a-z0-9.:-]{0,40}") {
        if let Ok(relay) = RelayHost::parse(&input) {
            // Whatever is accepted displays as something accepted again.
            prop_assert_eq!(RelayHost::parse(&relay.to_string()).unwrap(), relay);
        }
    }
}
