//! Mail this server forwards out of itself: virtual aliases, aliases and
//! `.forward` files whose targets are outside the hosted domains. Such
//! mail keeps its outside envelope sender unless SRS rewrites it, so it
//! takes the route of an outside sender; a relay that refuses senders it
//! has not verified refuses it ([`Policy::forwarding_warnings`]).
//!
//! Bounded: at most [`MAX_TARGETS`] distinct targets are collected, at most
//! [`MAX_USERS`] `.forward` files are looked at, and at most
//! [`MAX_REPORTED`] warnings are given (then a count). Nothing is read at
//! all when no relay that forwarded mail would take refuses unverified
//! senders.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use smarthost_core::transaction::safe_fs;
use smarthost_core::{Policy, Provider};

use crate::cf::CfFile;
use crate::maps;
use crate::read::{table_file, table_files};
use crate::schema::*;
use crate::PostfixOptions;

/// The most forwarding targets collected from the tables.
pub(crate) const MAX_TARGETS: usize = 1_000;
/// The most warnings about forwarded mail in one plan.
pub(crate) const MAX_REPORTED: usize = 10;
/// The most home folders whose `.forward` is read.
pub(crate) const MAX_USERS: usize = 1_000;

/// What rewrites the envelope sender of forwarded mail (SRS), if anything
/// does: postsrsd behind `sender_canonical_maps` (`tcp:...:10001`, or a
/// `socketmap:` naming postsrsd), or any sender_canonical_maps that names
/// SRS.
pub(crate) fn srs(main: &CfFile) -> Option<String> {
    let value = main.get(SENDER_CANONICAL_MAPS)?;
    let lower = value.to_ascii_lowercase();
    let postsrsd = value.split([',', ' ', '\t']).any(|item| {
        (item.starts_with("tcp:") && item.ends_with(":10001"))
            || (item.starts_with("socketmap:") && item.to_ascii_lowercase().contains("postsrsd"))
    });
    (postsrsd || lower.contains("srs")).then(|| format!("{SENDER_CANONICAL_MAPS} = {value}"))
}

/// Whether forwarded mail could take a relay that refuses unverified
/// senders: the server-wide relay or a recipient route of such a provider.
fn worth_looking(policy: &Policy) -> bool {
    policy
        .server
        .iter()
        .chain(policy.recipients.values())
        .any(|s| Provider::for_relay(&s.relay).is_some_and(|p| p.verified_senders.is_some()))
}

/// `$name` and `${name}` of main.cf expanded once (`$myhostname`).
fn expand(value: &str, main: &CfFile) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            braced.split_once('}').unwrap_or((braced, ""))
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push_str(main.get(name).unwrap_or(""));
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn read(path: &Path) -> Option<String> {
    safe_fs::read_text(path).ok().flatten()
}

/// The domains this server hosts: mydestination, virtual_alias_domains
/// (by default the domain keys of virtual_alias_maps), virtual mailbox and
/// relay domains, and the policy's own domains.
fn hosted(main: &CfFile, options: &PostfixOptions, policy: &Policy, virtual_texts: &[String]) -> HashSet<String> {
    let mut out: HashSet<String> = HashSet::new();
    for param in HOSTED_DOMAIN_PARAMS {
        let Some(value) = main.get(param) else {
            continue;
        };
        for item in expand(value, main).split([',', ' ', '\t']).filter(|i| !i.is_empty()) {
            match table_file(item, options) {
                Some(file) => {
                    if let Some(text) = read(&file) {
                        maps::for_each_entry(&text, |k, _| {
                            out.insert(k.into_owned());
                        });
                    }
                }
                None if !item.contains(':') => {
                    out.insert(item.to_ascii_lowercase());
                }
                None => {}
            }
        }
    }
    if main.get("virtual_alias_domains").is_none() {
        // Postfix's default, `$virtual_alias_maps`: the keys that are
        // domains (a plain scan: no key is copied unless it is one).
        for text in virtual_texts {
            for line in text.lines() {
                let key = line.split([' ', '\t']).next().unwrap_or("");
                if !key.is_empty() && !key.contains('@') && !key.starts_with('#') {
                    out.insert(key.to_ascii_lowercase());
                }
            }
        }
    }
    out.insert("localhost".to_owned());
    out.extend(policy.domains.keys().map(|d| d.to_string()));
    out.extend(policy.direct.iter().map(|d| d.to_string()));
    out.extend(policy.mailboxes.keys().map(|m| m.domain().to_string()));
    out
}

/// Collects targets outside the hosted domains, at most [`MAX_TARGETS`].
struct Targets<'h> {
    hosted: &'h HashSet<String>,
    found: BTreeSet<String>,
}

impl Targets<'_> {
    fn full(&self) -> bool {
        self.found.len() >= MAX_TARGETS
    }

    /// Adds each address of a list of targets (`a@x, b@y`) that leaves.
    fn add_list(&mut self, list: &str) {
        for target in list.split([',', ' ', '\t']).map(str::trim) {
            if self.full() {
                return;
            }
            let target = target.trim_matches(['<', '>', '"']);
            let Some((local, domain)) = target.rsplit_once('@') else {
                continue;
            };
            if local.is_empty() || domain.is_empty() || local.starts_with(['|', '/', ':']) {
                continue;
            }
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if !self.hosted.contains(&domain) {
                self.found.insert(format!("{local}@{domain}"));
            }
        }
    }
}

/// The warnings about forwarded mail for `policy` on this server, bounded
/// (see the module).
pub(crate) fn warnings(policy: &Policy, main: &CfFile, options: &PostfixOptions) -> Vec<String> {
    if !worth_looking(policy) || srs(main).is_some() {
        return Vec::new();
    }
    let files = |param: &str| table_files(main.get(param).unwrap_or(""), options);
    let virtual_texts: Vec<String> = files(VIRTUAL_ALIAS_MAPS).iter().filter_map(|f| read(f)).collect();
    let hosted = hosted(main, options, policy, &virtual_texts);
    let mut targets = Targets {
        hosted: &hosted,
        found: BTreeSet::new(),
    };
    for text in &virtual_texts {
        for line in text.lines() {
            if targets.full() {
                break;
            }
            // `key target, target`; a continuation line holds targets only.
            let list = if line.starts_with([' ', '\t']) {
                line
            } else {
                line.split_once([' ', '\t']).map_or("", |(_, v)| v)
            };
            if !line.trim_start().starts_with('#') {
                targets.add_list(list);
            }
        }
    }
    for file in files(ALIAS_MAPS) {
        if targets.full() {
            break;
        }
        if let Some(text) = read(&file) {
            for_each_alias(&text, |list| targets.add_list(list));
        }
    }
    if !targets.full() {
        forward_files(options, &mut targets);
    }
    let list: Vec<String> = targets.found.into_iter().collect();
    let mut out = policy.forwarding_warnings(&list, None);
    if out.len() > MAX_REPORTED {
        let more = out.len() - MAX_REPORTED;
        out.truncate(MAX_REPORTED);
        out.push(format!(
            "and {more} more forwarding target(s) with the same problem{}",
            if list.len() >= MAX_TARGETS {
                format!(" (only the first {MAX_TARGETS} targets were looked at)")
            } else {
                String::new()
            }
        ));
    }
    out
}

/// Calls `f` with the target list of each entry of an aliases(5) file
/// (`name: a, b`, continuation lines start with whitespace).
fn for_each_alias(text: &str, mut f: impl FnMut(&str)) {
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            f(line);
            continue;
        }
        if let Some((_, list)) = line.split_once(':') {
            f(list);
        }
    }
}

/// The `.forward` files of the users in `/etc/passwd` (at most
/// [`MAX_USERS`]), where readable.
fn forward_files(options: &PostfixOptions, targets: &mut Targets<'_>) {
    let Ok(passwd) = safe_fs::under_root(&options.root, Path::new("/etc/passwd")) else {
        return;
    };
    let Some(text) = read(&passwd) else {
        return;
    };
    for line in text.lines().take(MAX_USERS) {
        if targets.full() {
            return;
        }
        let Some(home) = line.split(':').nth(5).filter(|h| h.starts_with('/') && *h != "/") else {
            continue;
        };
        let Ok(file) = safe_fs::under_root(&options.root, &Path::new(home).join(".forward")) else {
            continue;
        };
        if let Some(text) = read(&file) {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                targets.add_list(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::Kind;

    #[test]
    fn srs_is_recognised_and_expansion_works() {
        let main = CfFile::parse(
            "myhostname = mx.example\nmydomain = example\nsender_canonical_maps = tcp:localhost:10001\n",
            Kind::Main,
        );
        assert!(srs(&main).is_some());
        assert!(srs(&CfFile::parse(
            "sender_canonical_maps = hash:/etc/postfix/canonical\n",
            Kind::Main
        ))
        .is_none());
        assert!(srs(&CfFile::parse(
            "sender_canonical_maps = socketmap:unix:/run/postsrsd/postsrsd.sock:forward\n",
            Kind::Main
        ))
        .is_some());
        assert_eq!(
            expand("$myhostname, localhost.${mydomain}", &main),
            "mx.example, localhost.example"
        );
    }

    #[test]
    fn aliases_targets_outside_are_found_and_commands_are_not() {
        let hosted: HashSet<String> = ["here.example".to_owned()].into();
        let mut t = Targets {
            hosted: &hosted,
            found: BTreeSet::new(),
        };
        for_each_alias(
            "# c\npostmaster: root\nbob: bob@here.example, Out@Gmail.example\n  other@out.example\npipe: |/bin/x, /var/file\n",
            |l| t.add_list(l),
        );
        assert_eq!(
            t.found.into_iter().collect::<Vec<_>>(),
            ["Out@gmail.example", "other@out.example"]
        );
    }
}
