//! main.cf and master.cf edited towards a [`Layout`]: compose with what the
//! administrator has, never clobber it, and put back exactly what was
//! there when smarthost no longer needs a parameter.

use crate::cf::{CfFile, Kind};
use crate::layout::Layout;
use crate::schema::*;
use crate::state::{Original, State};
use crate::PostfixOptions;

/// What editing main.cf found: problems, and the takeover report.
#[derive(Debug, Default)]
pub(crate) struct MainReport {
    pub(crate) warnings: Vec<String>,
    pub(crate) notes: Vec<String>,
}

/// The items of a list-valued parameter (`hash:/a, hash:/b` or
/// whitespace-separated).
fn items(value: &str) -> Vec<&str> {
    value.split([',', ' ', '\t']).filter(|item| !item.is_empty()).collect()
}

/// The value of an entry's text (`name = value` with continuation lines).
fn value_of(raw: &str) -> String {
    let file = CfFile::parse(raw, Kind::Main);
    let name = file.names().first().map(|n| n.to_string());
    name.and_then(|n| file.get(&n).map(str::to_owned)).unwrap_or_default()
}

/// Whether a list item names the same table as `ours`, whatever its map
/// type (`hash:/d/tls_policy` and `texthash:/d/tls_policy` are one table
/// after a change of type).
fn same_table(item: &str, ours: &str) -> bool {
    let path = |s: &str| s.split_once(':').map_or(s.to_owned(), |(_, p)| p.to_owned());
    item == ours || path(item) == path(ours)
}

/// Our table first, then every other table the administrator listed.
fn compose(ours: &str, current: Option<&str>) -> String {
    let mut out = vec![ours];
    out.extend(
        items(current.unwrap_or(""))
            .into_iter()
            .filter(|item| !same_table(item, ours)),
    );
    out.join(", ")
}

/// Edits main.cf towards the layout, remembering in `state` what each
/// parameter was before smarthost first set it. `ca_bundle` is the CA file
/// to name when a `secure` relay needs trust anchors and the administrator
/// has none configured.
pub(crate) fn main_cf(
    main: &mut CfFile,
    layout: &Layout,
    options: &PostfixOptions,
    state: &mut State,
    ca_bundle: &str,
) -> MainReport {
    let mut report = MainReport::default();
    let ended_with_newline = main.ends_with_newline();
    for (name, wanted) in &layout.params {
        let count = main.count(name);
        if count > 1 {
            report.warnings.push(format!(
                "main.cf: {name} appears {count} times (Postfix uses the last one and warns); collapsed into one"
            ));
        }
        match wanted {
            Some(ours) => take(main, name, ours, options, state, &mut report),
            None => release(main, name, options, state, &mut report),
        }
    }
    let cafile_empty = main.get(TLS_CA_FILE).unwrap_or("").is_empty();
    let capath_empty = main.get(TLS_CA_PATH).unwrap_or("").is_empty();
    if layout.needs_ca_file {
        if cafile_empty && capath_empty {
            remember(main, TLS_CA_FILE, options, state);
            main.set(TLS_CA_FILE, ca_bundle);
        }
    } else if state.main_cf.contains_key(TLS_CA_FILE) {
        release(main, TLS_CA_FILE, options, state, &mut report);
    }
    if !ended_with_newline && main.ends_with_newline() && !state.main_cf.is_empty() {
        state.added_final_newline = true;
    }
    if state.main_cf.is_empty() && state.added_final_newline {
        main.strip_final_newline();
        state.added_final_newline = false;
    }
    if let Some(level) = main.get(TLS_SECURITY_LEVEL) {
        if !matches!(level, "" | "none" | "may") {
            report.warnings.push(format!(
                "main.cf: smtp_tls_security_level = {level} applies to every direct delivery too; smarthost sets TLS per relay and leaves it as it is"
            ));
        }
    }
    // A count, not the names: a 5,000-line main.cf would make a note of
    // 100 KB, printed with every plan.
    let kept = main
        .names()
        .into_iter()
        .filter(|n| !MANAGED.contains(n) && *n != TLS_CA_FILE)
        .count();
    if kept > 0 {
        report
            .notes
            .push(format!("main.cf: keeps {kept} other parameter(s) byte for byte"));
    }
    report
}

/// Records what `name` is before smarthost changes it, once.
fn remember(main: &CfFile, name: &str, options: &PostfixOptions, state: &mut State) {
    if state.main_cf.contains_key(name) {
        return;
    }
    let current = main.get(name);
    let own = Layout::own_value(name, options);
    // A value that names smarthost's own tables or service, found without
    // a record (written by a version that kept none), is smarthost's:
    // putting it back would name a table or service that is gone. Plain
    // values (`yes`, `noanonymous`) may be the administrator's own and are
    // put back as they are.
    let names_ours = name == DEFAULT_TRANSPORT || name.ends_with("_maps");
    let raw = match (current, own.as_deref()) {
        (Some(value), Some(own)) if names_ours && (value == own || same_table(value, own)) => None,
        _ => main.raw(name).map(str::to_owned),
    };
    let taken_over = TAKEN_OVER.contains(&name) && current.is_some_and(|v| !v.is_empty()) && raw.is_some();
    state.main_cf.insert(name.to_owned(), Original { raw, taken_over });
}

fn take(
    main: &mut CfFile,
    name: &str,
    ours: &str,
    options: &PostfixOptions,
    state: &mut State,
    report: &mut MainReport,
) {
    let current = main.get(name).map(str::to_owned);
    let composed = COMPOSED.contains(&name);
    let value = if composed {
        compose(ours, current.as_deref())
    } else {
        ours.to_owned()
    };
    // Remembered even when already right: the administrator's own value
    // stays when smarthost no longer needs it.
    remember(main, name, options, state);
    if current.as_deref() == Some(value.as_str()) && main.count(name) == 1 {
        return;
    }
    match current.as_deref() {
        Some(old) if composed && value != ours && !old.is_empty() => report.notes.push(format!(
            "main.cf: {name}: smarthost's table comes first, the administrator's ({}) stay after it",
            items(old)
                .into_iter()
                .filter(|i| !same_table(i, ours))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Some(old) if !composed && !old.is_empty() => report
            .notes
            .push(format!("main.cf: replaces {name} = {old} with {value}")),
        _ => {}
    }
    main.set(name, &value);
}

fn release(main: &mut CfFile, name: &str, options: &PostfixOptions, state: &mut State, report: &mut MainReport) {
    let current = main.get(name).map(str::to_owned);
    let own = Layout::own_value(name, options);
    let composed = COMPOSED.contains(&name);
    let rest: Vec<String> = items(current.as_deref().unwrap_or(""))
        .into_iter()
        .filter(|item| !own.as_deref().is_some_and(|own| same_table(item, own)))
        .map(str::to_owned)
        .collect();
    match state.main_cf.remove(name) {
        Some(original) if composed => {
            let before = original.raw.as_deref().map(value_of).unwrap_or_default();
            match original.raw {
                Some(raw) if items(&before) == rest => main.restore(name, &raw, Kind::Main),
                None if rest.is_empty() => main.remove(name),
                _ if rest.is_empty() => main.remove(name),
                _ => main.set(name, &rest.join(", ")),
            }
        }
        // A manual relay taken over is not turned on again: relayhost is
        // emptied in place (as Debian ships it), the maps removed.
        Some(Original { taken_over: true, .. }) if name == RELAYHOST => {
            if current.is_some_and(|v| !v.is_empty()) {
                main.set(name, "");
            }
        }
        Some(Original { taken_over: true, .. }) => main.remove(name),
        Some(Original { raw: Some(raw), .. }) => main.restore(name, &raw, Kind::Main),
        Some(Original { raw: None, .. }) => main.remove(name),
        // No record: the rules of versions that kept none.
        None => match current {
            Some(old) if name == RELAYHOST && !old.is_empty() => main.set(name, ""),
            Some(_) if name == RELAYHOST => {}
            Some(old)
                if own
                    .as_deref()
                    .is_some_and(|own| old == own || (name.ends_with("_maps") && same_table(&old, own))) =>
            {
                main.remove(name)
            }
            Some(_) if composed && rest.len() < items(current.as_deref().unwrap_or("")).len() => {
                if rest.is_empty() {
                    main.remove(name)
                } else {
                    main.set(name, &rest.join(", "))
                }
            }
            Some(old) if name != TLS_CA_FILE => report.warnings.push(format!(
                "main.cf: {name} = {old} is not needed by the policy but was not written by smarthost; left as it is"
            )),
            _ => {}
        },
    }
}

/// master.cf with exactly the smarthost services the layout needs.
pub(crate) fn master_cf(text: &str, needed: &[(&str, String)]) -> String {
    let mut master = CfFile::parse(text, Kind::Master);
    for service in SERVICES {
        if let Some((_, entry)) = needed.iter().find(|(name, _)| name == service) {
            let entry = entry.clone();
            let current = master
                .raws(service)
                .map(|raw| raw.replace("\r\n", "\n"))
                .collect::<Vec<_>>();
            if current != [entry.clone()] {
                master.replace(service, &entry, Kind::Master);
            }
        } else {
            master.remove(service);
        }
    }
    master.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smarthost_core::Policy;

    fn enable_then_disable(base: &str) -> (String, String) {
        let options = PostfixOptions::render_into("/r");
        let policy: Policy = toml_policy();
        let mut state = State::default();
        let mut main = CfFile::parse(base, Kind::Main);
        main_cf(
            &mut main,
            &Layout::new(&policy, &options).unwrap(),
            &options,
            &mut state,
            SYSTEM_CA_FILE,
        );
        let enabled = main.render();
        main_cf(
            &mut main,
            &Layout::new(&Policy::default(), &options).unwrap(),
            &options,
            &mut state,
            SYSTEM_CA_FILE,
        );
        assert!(state.main_cf.is_empty(), "{state:?}");
        (enabled, main.render())
    }

    fn toml_policy() -> Policy {
        Policy {
            server: Some(smarthost_core::Smarthost {
                relay: "[smtp.example.com]:587".parse().unwrap(),
                encryption: smarthost_core::Encryption::Starttls,
                credentials: Some(smarthost_core::Credentials::new(
                    smarthost_core::Username::new("u").unwrap(),
                    smarthost_core::Secret::new("p".into()).unwrap(),
                )),
                backups: Vec::new(),
            }),
            ..Policy::default()
        }
    }

    #[test]
    fn an_admins_tls_policy_stays_after_ours_and_comes_back_as_it_was() {
        let base = "myhostname = mx.example\nsmtp_tls_policy_maps = hash:/etc/postfix/partner_tls\n";
        let (enabled, disabled) = enable_then_disable(base);
        assert!(
            enabled.contains(
                "smtp_tls_policy_maps = hash:/var/spool/postfix/plesk/tls_policy, hash:/etc/postfix/partner_tls"
            ),
            "{enabled}"
        );
        assert_eq!(disabled, base);
    }

    #[test]
    fn disable_is_byte_exact_without_relay_settings() {
        for base in [
            "",
            "myhostname = mx.example",
            "myhostname = mx.example\r\nrelayhost =\r\n",
            "# comment\nrelayhost =\nsmtp_tls_CAfile =\n",
            "smtp_sasl_auth_enable = yes\nsmtp_sasl_security_options = noanonymous, noplaintext\n",
        ] {
            let (enabled, disabled) = enable_then_disable(base);
            assert_ne!(enabled, base);
            assert_eq!(disabled, base, "enabled:\n{enabled}");
        }
    }

    #[test]
    fn a_manual_relayhost_is_taken_over_not_put_back() {
        let (_, disabled) = enable_then_disable("relayhost = [old.example]:25\n");
        assert_eq!(disabled, "relayhost =\n");
    }
}

#[cfg(test)]
mod type_change_tests {
    use super::*;

    #[test]
    fn our_table_under_another_map_type_is_still_ours() {
        assert_eq!(
            compose(
                "texthash:/d/tls_policy",
                Some("hash:/d/tls_policy, hash:/etc/postfix/partner")
            ),
            "texthash:/d/tls_policy, hash:/etc/postfix/partner"
        );
        assert!(!same_table("hash:/etc/postfix/tls_policy", "hash:/d/tls_policy"));
    }
}
