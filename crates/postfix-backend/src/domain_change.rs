//! The change of one sender domain, planned by key: what a hosting panel
//! does all day (`domain set`, `domain disable`) on a server with 100,000
//! domains, without reading every domain back into a policy and rendering
//! every table again.
//!
//! The [`Layout`] of a policy depends on the other domains only through the
//! kinds of relay setting they use (their relay list, their transport,
//! whether they have an account: that makes the TLS entries, the warnings,
//! the services and the parameters) and through the domains of mailboxes
//! (whether such a domain has an account). So the sender tables are read
//! as a small policy ([`narrow`]): every entry that is not a domain's,
//! the changed domain's own entries, the first other domain of each kind,
//! the domains of mailboxes and the direct exceptions. The layouts of that
//! policy before and after the change are compared: when nothing but the
//! domain's lines differ, the whole change is those lines, spliced into
//! the tables at their key ([`spliced`]); the rest of the plan is made as
//! for any policy ([`plan::plan_layout`]). When more changes (a TLS entry,
//! a parameter, a service, another domain's transport), when the current
//! tables are not what this backend would write, or when a table is not in
//! its own form (a header, one sorted `key value` line per entry), the
//! whole configuration is read and planned as usual.
//!
//! Other domains' entries are kept byte for byte. They are checked for the
//! form and the order, and each has the same relay, transport and account
//! presence as a domain that was read and re-rendered, but their names and
//! accounts are not parsed one by one: a hand-written entry of another
//! domain with a name or account the whole read would refuse is left as
//! it is.

use smarthost_core::{DomainName, Policy};

use crate::cf::{CfFile, Kind};
use crate::error::Error;
use crate::incremental::own_entry;
use crate::layout::Layout;
use crate::maps::{FastMap, TableText, HEADER};
use crate::plan::{self, Snapshot};
use crate::read::{self, Sources};
use crate::schema::*;
use crate::{Paths, PostfixOptions};

/// The tables keyed by sender, in this order everywhere below.
const SENDER_TABLES: [&str; 3] = [SENDER_RELAY_MAP, SECRETS_MAP, SENDER_TRANSPORT_MAP];

/// The parameter naming each table that must name this backend's own
/// table alone (or nothing, with no table file) for a change by key.
const OWN_PARAMS: [(&str, &str); 4] = [
    (SENDER_RELAY_MAPS, SENDER_RELAY_MAP),
    (SASL_PASSWORD_MAPS, SECRETS_MAP),
    (SENDER_TRANSPORT_MAPS, SENDER_TRANSPORT_MAP),
    (TLS_POLICY_MAPS, TLS_POLICY_MAP),
];

type Entries<'s> = Vec<(&'s str, &'s str)>;

/// The sender tables as read, and the small policy that stands for them.
pub(crate) struct Narrowed<'s> {
    /// The policy of every rule but the domains left out.
    pub(crate) policy: Policy,
    /// Each sender table's text (`None`: no table).
    texts: [Option<&'s str>; 3],
    /// The entries kept in the small policy, in key order.
    kept: [Entries<'s>; 3],
}

/// What [`read_for_domain`] read and found, so that [`plan_for_domain`]
/// neither reads nor walks the tables again (apply reads them once more
/// and refuses the plan if they changed).
#[derive(Default)]
pub(crate) struct Remembered(Option<DomainRead>);

/// The domain, the files as read, the entries kept and the small policy.
type DomainRead = (DomainName, Snapshot, [Vec<(String, String)>; 3], Policy);

/// Only the domain: the files read hold passwords.
impl std::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Remembered")
            .field(&self.0.as_ref().map(|r| &r.0))
            .finish()
    }
}

/// A table's entries when its text is in this backend's own form: the
/// header, then one `key value` line per entry in strictly increasing key
/// order. `None` in any other form.
fn own_entries(text: &str) -> Option<Entries<'_>> {
    let mut lines = OwnLines::new(Some(text))?;
    let entries: Entries<'_> = lines.by_ref().collect();
    lines.in_form().then_some(entries)
}

/// The entries of a table text in this backend's own form, one at a time;
/// the first line out of the form (or out of order) ends them, and
/// [`OwnLines::in_form`] then says no. No table (`None`) has no entries.
struct OwnLines<'s> {
    rest: &'s str,
    last: Option<&'s str>,
    /// The entry looked at by [`OwnLines::next_if`] and not taken.
    peeked: Option<(&'s str, &'s str)>,
    entries: usize,
    broken: bool,
}

impl<'s> OwnLines<'s> {
    /// `None` when the text does not start with the header.
    fn new(text: Option<&'s str>) -> Option<Self> {
        let rest = match text {
            Some(text) => text.strip_prefix(HEADER)?,
            None => "",
        };
        Some(OwnLines {
            rest,
            last: None,
            peeked: None,
            entries: usize::from(text.is_none()),
            broken: false,
        })
    }

    /// Whether every line was in the form and the table has an entry
    /// (this backend removes an empty table).
    fn in_form(&self) -> bool {
        !self.broken && self.entries > 0
    }

    fn read_entry(&mut self) -> Option<(&'s str, &'s str)> {
        if self.rest.is_empty() || self.broken {
            return None;
        }
        let entry = memchr::memchr(b'\n', self.rest.as_bytes()).and_then(|end| {
            let line = &self.rest[..end];
            self.rest = &self.rest[end + 1..];
            own_entry(line)
        });
        match entry {
            Some(entry) if self.last.is_none_or(|last| last < entry.0) => {
                self.last = Some(entry.0);
                self.entries += 1;
                Some(entry)
            }
            _ => {
                self.broken = true;
                None
            }
        }
    }

    /// The next entry when `take` says yes to it.
    fn next_if(&mut self, take: impl FnOnce(&(&'s str, &'s str)) -> bool) -> Option<(&'s str, &'s str)> {
        if self.peeked.is_none() {
            self.peeked = self.read_entry();
        }
        self.peeked.take_if(|e| take(e))
    }
}

impl<'s> Iterator for OwnLines<'s> {
    type Item = (&'s str, &'s str);

    fn next(&mut self) -> Option<Self::Item> {
        self.peeked.take().or_else(|| self.read_entry())
    }
}

/// Where the line of `key` is in `text`, a table in this backend's own
/// form: its start and its end (after the line break), or where it would
/// be inserted. A binary search on the text itself.
fn find_line(text: &str, key: &str) -> Result<(usize, usize), usize> {
    let bytes = text.as_bytes();
    // Both are always the start of a line.
    let (mut lo, mut hi) = (HEADER.len().min(bytes.len()), bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = memchr::memrchr(b'\n', &bytes[lo..mid]).map_or(lo, |i| lo + i + 1);
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1);
        let line_key = text[start..end].split([' ', '\n']).next().unwrap_or("");
        match line_key.cmp(key) {
            std::cmp::Ordering::Less => lo = end,
            std::cmp::Ordering::Equal => return Ok((start, end)),
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    Err(lo)
}

/// The table text of `entries` (as the small policy's reader takes it).
fn text_of(entries: &[(&str, &str)]) -> Vec<String> {
    let mut text = TableText::default();
    for (k, v) in entries {
        text.push_parts(k, &[v]);
    }
    text.finish().into_iter().collect()
}

/// Reads the configuration as a small policy for a change of `domain`;
/// `None` when the tables cannot be changed by key (main.cf names other
/// tables, a table is not in this backend's form, an account or transport
/// entry has no relay entry).
pub(crate) fn narrow<'s>(
    options: &PostfixOptions,
    paths: &Paths,
    snapshot: &'s Snapshot,
    domain: &DomainName,
) -> Result<Option<Narrowed<'s>>, Error> {
    let text = |path: &std::path::Path| snapshot.get(path).expect("a managed file");
    let main = CfFile::parse(text(&paths.main_cf).unwrap_or(""), Kind::Main);
    for (param, table) in OWN_PARAMS {
        let named = main.get(param).filter(|v| !v.trim().is_empty());
        let own = Layout::own_value(param, options);
        let ok = match named {
            Some(value) => Some(value.trim()) == own.as_deref(),
            None => text(&paths.table(table)).is_none(),
        };
        if !ok {
            return Ok(None);
        }
    }
    let texts = SENDER_TABLES.map(|name| text(&paths.table(name)));
    let Some(kept) = keep(texts, domain) else {
        return Ok(None);
    };
    let owned = |path: &std::path::Path| text(path).map(str::to_owned).into_iter().collect::<Vec<_>>();
    let sources = Sources {
        sender_relay: text_of(&kept[0]),
        secrets: text_of(&kept[1]),
        sender_transport: text_of(&kept[2]),
        tls_policy: owned(&paths.table(TLS_POLICY_MAP)),
        routes: if read::names_own_routes(&main, options, paths) {
            owned(&paths.table(RECIPIENT_ROUTES_MAP))
        } else {
            Vec::new()
        },
        hop_secrets: owned(&paths.table(NEXTHOP_SECRETS_MAP)),
    };
    let policy = read::from_sources(&paths.main_cf, &main, &sources)?;
    Ok(Some(Narrowed { policy, texts, kept }))
}

/// The entries of each sender table that the small policy keeps: every
/// entry not keyed by a domain (`@name`), `domain`'s, the first other
/// domain of each kind (relay list, transport, account or none), the
/// domains of mailboxes and the direct exceptions. `None` when a table is
/// not in this backend's own form, or when an account or a transport
/// (other than a direct exception) has no relay entry: the whole read
/// would leave it out, so the tables are not this backend's. One pass over
/// the three tables in key order, nothing copied.
fn keep<'s>(texts: [Option<&'s str>; 3], domain: &DomainName) -> Option<[Entries<'s>; 3]> {
    let own_key = format!("@{domain}");
    let [relays, secrets, transports] = texts.map(OwnLines::new);
    let (mut relays, mut secrets, mut transports) = (relays?, secrets?, transports?);
    let mut kept: [Entries<'s>; 3] = Default::default();
    let mut kinds: FastMap<(&str, Option<&str>, bool), ()> = FastMap::default();
    // The domains of mailboxes (`alice@a.example`): the layout asks
    // whether such a domain has an account. Mailboxes sort after the
    // domains (`@...`), so those are looked up at the end.
    let mut mailbox_domains = Vec::new();
    for (key, relay) in relays.by_ref() {
        // Entries of the other tables before this key: not a domain's
        // (kept), or a domain's without relay entry.
        while let Some((k, v)) = secrets.next_if(|e| e.0 < key) {
            if k.starts_with('@') {
                return None;
            }
            kept[1].push((k, v));
        }
        while let Some((k, v)) = transports.next_if(|e| e.0 < key) {
            if k.starts_with('@') && v != SMTP_TRANSPORT {
                return None;
            }
            kept[2].push((k, v));
        }
        let secret = secrets.next_if(|e| e.0 == key);
        let transport = transports.next_if(|e| e.0 == key);
        let entries = [Some((key, relay)), secret, transport];
        if !key.starts_with('@') {
            kept.iter_mut().zip(entries).for_each(|(slot, e)| slot.extend(e));
            if let Some((_, d)) = key.split_once('@') {
                mailbox_domains.push(format!("@{d}"));
            }
        } else if key == own_key
            || kinds
                .insert((relay, transport.map(|t| t.1), secret.is_some()), ())
                .is_none()
        {
            kept.iter_mut().zip(entries).for_each(|(slot, e)| slot.extend(e));
        }
    }
    for (k, v) in secrets.by_ref() {
        if k.starts_with('@') {
            return None;
        }
        kept[1].push((k, v));
    }
    for (k, v) in transports.by_ref() {
        if k.starts_with('@') && v != SMTP_TRANSPORT {
            return None;
        }
        kept[2].push((k, v));
    }
    if !(relays.in_form() && secrets.in_form() && transports.in_form()) {
        return None;
    }
    for key in &mailbox_domains {
        for (slot, text) in kept.iter_mut().zip(texts) {
            let Some(text) = text else { continue };
            if let Ok((start, end)) = find_line(text, key) {
                let entry = own_entry(&text[start..end - 1])?;
                if !slot.contains(&entry) {
                    slot.push(entry);
                }
            }
        }
    }
    for slot in &mut kept {
        slot.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    Some(kept)
}

/// Whether `a` and `b` differ in nothing but `domain` (its smarthost, its
/// direct exception) and the features.
pub(crate) fn same_outside(a: &Policy, b: &Policy, domain: &DomainName) -> bool {
    a.server == b.server
        && a.mailboxes == b.mailboxes
        && a.recipients == b.recipients
        && a.direct_recipients == b.direct_recipients
        && a.bounces == b.bounces
        && a.domains
            .iter()
            .filter(|(d, _)| *d != domain)
            .eq(b.domains.iter().filter(|(d, _)| *d != domain))
        && a.direct
            .iter()
            .filter(|d| *d != domain)
            .eq(b.direct.iter().filter(|d| *d != domain))
}

/// The sender tables of a layout, as entries (the layout's own texts are
/// always in this backend's form).
fn layout_entries(layout: &Layout) -> [Entries<'_>; 3] {
    [&layout.sender_relay, &layout.secrets, &layout.sender_transport]
        .map(|t| t.as_deref().and_then(own_entries).unwrap_or_default())
}

/// The layout of the whole configuration after the change, when it is
/// `after` (the small policy's) with `domain`'s lines spliced into the
/// current sender tables; `None` when anything else changes, or when the
/// tables read are not what this backend writes for them.
fn spliced(narrowed: &Narrowed<'_>, before: &Layout, mut after: Layout, domain: &DomainName) -> Option<Layout> {
    let same_rest = before.params == after.params
        && before.needs_ca_file == after.needs_ca_file
        && before.services == after.services
        && before.tls_policy == after.tls_policy
        && before.recipient_routes == after.recipient_routes
        && before.nexthop_secrets == after.nexthop_secrets;
    if !same_rest {
        return None;
    }
    let key = format!("@{domain}");
    let (old, new) = (layout_entries(before), layout_entries(&after));
    let mut texts: [Option<String>; 3] = Default::default();
    for t in 0..3 {
        // What was read is what this backend writes for it...
        if old[t] != narrowed.kept[t] {
            return None;
        }
        // ...and only the domain's line changes.
        let others = |e: &&(&str, &str)| e.0 != key;
        if !old[t].iter().filter(others).eq(new[t].iter().filter(others)) {
            return None;
        }
        let line = new[t].iter().find(|e| e.0 == key).map(|e| e.1);
        texts[t] = splice(narrowed.texts[t], &key, line);
    }
    let [sender_relay, secrets, sender_transport] = texts;
    after.sender_relay = sender_relay;
    after.secrets = secrets;
    after.sender_transport = sender_transport;
    Some(after)
}

/// `text` (a table in this backend's own form) with the entry of `key`
/// replaced by `value`, inserted at its place, or removed (`None`); `None`
/// when no entry is left.
fn splice(text: Option<&str>, key: &str, value: Option<&str>) -> Option<String> {
    let text = text.unwrap_or(HEADER);
    let (start, end) = find_line(text, key).unwrap_or_else(|at| (at, at));
    let mut out = String::with_capacity(text.len() + key.len() + value.map_or(0, str::len) + 2);
    out.push_str(&text[..start]);
    if let Some(value) = value {
        out.push_str(key);
        out.push(' ');
        out.push_str(value);
        out.push('\n');
    }
    out.push_str(&text[end..]);
    (out.len() > HEADER.len()).then_some(out)
}

/// [`ConfigWriter::read_for_domain`](smarthost_core::ConfigWriter::read_for_domain):
/// the small policy when the tables can be changed by key (remembered for
/// the plan), else the whole configuration.
pub(crate) fn read_for_domain(
    options: &PostfixOptions,
    paths: &Paths,
    domain: &DomainName,
    remembered: &mut Remembered,
) -> Result<Policy, Error> {
    let snapshot = Snapshot::read(paths)?;
    let Some(narrowed) = narrow(options, paths, &snapshot, domain)? else {
        remembered.0 = None;
        return read::read(options, paths);
    };
    let kept = narrowed
        .kept
        .map(|entries| entries.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect());
    let policy = narrowed.policy;
    remembered.0 = Some((domain.clone(), snapshot, kept, policy.clone()));
    Ok(policy)
}

/// [`ConfigWriter::plan_for_domain`](smarthost_core::ConfigWriter::plan_for_domain).
pub(crate) fn plan_for_domain(
    options: &PostfixOptions,
    paths: &Paths,
    domain: &DomainName,
    desired: &Policy,
    remembered: &mut Remembered,
) -> Result<smarthost_core::Plan, Error> {
    // The files `read_for_domain` read are the plan's basis: when they
    // changed since, apply finds it and refuses the plan as stale.
    let (snapshot, remembered) = match remembered.0.take().filter(|(d, ..)| d == domain) {
        Some((_, files, kept, policy)) => (files, Some((kept, policy))),
        None => (Snapshot::read(paths)?, None),
    };
    let narrowed = match &remembered {
        Some((kept, policy)) => Some(Narrowed {
            policy: policy.clone(),
            texts: SENDER_TABLES.map(|name| snapshot.get(&paths.table(name)).expect("a managed file")),
            kept: kept
                .each_ref()
                .map(|entries| entries.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()),
        }),
        None => narrow(options, paths, &snapshot, domain)?,
    };
    let by_key = match narrowed {
        None => None,
        Some(narrowed) => {
            if !same_outside(&narrowed.policy, desired, domain) {
                return Err(more_than(domain));
            }
            let layout = if narrowed.policy.features == desired.features {
                let before = Layout::new(&narrowed.policy, options)?;
                let after = Layout::new(desired, options)?;
                spliced(&narrowed, &before, after, domain)
            } else {
                None
            };
            Some(layout)
        }
    };
    match by_key {
        Some(Some(layout)) => plan::plan_layout(options, paths, snapshot, layout, desired),
        // The small policy was read, but the change reaches further: the
        // whole configuration with the domain as `desired` has it.
        Some(None) => {
            let mut whole = read::read(options, paths)?;
            whole.features = desired.features;
            whole.domains.remove(domain);
            whole.direct.remove(domain);
            if let Some(s) = desired.domains.get(domain) {
                whole.domains.insert(domain.clone(), s.clone());
            }
            if desired.direct.contains(domain) {
                whole.direct.insert(domain.clone());
            }
            plan::plan(options, paths, &whole)
        }
        // `read_for_domain` read everything too.
        None => {
            if !same_outside(&read::read(options, paths)?, desired, domain) {
                return Err(more_than(domain));
            }
            plan::plan(options, paths, desired)
        }
    }
}

fn more_than(domain: &DomainName) -> Error {
    Error::Unsupported {
        field: "domains".into(),
        reason: format!(
            "a plan for domain {domain} was asked for a policy that differs from the configuration in more than that domain (or the configuration changed since it was read): read it again with read_for_domain, change only {domain}, or use plan for other changes"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smarthost_core::{ConfigWriter, Encryption, RelayHost, Smarthost};
    use test_support::builders::{customer as name, numbered_relay as relay};

    /// A server relay and 30 domains over three relays, every other one
    /// with an account, rendered into a folder.
    fn fleet() -> (tempfile::TempDir, PostfixOptions) {
        let root = tempfile::tempdir().unwrap();
        let options = PostfixOptions::render_into(root.path());
        let mut policy = Policy {
            server: Some(relay(9, Some(9))),
            ..Policy::default()
        };
        for i in 0..30 {
            policy.domains.insert(name(i), relay(i % 3, (i % 2 == 0).then_some(i)));
        }
        crate::PostfixWriter::new(options.clone()).converge(&policy).unwrap();
        (root, options)
    }

    /// Whether the change `edit` of `domain` is planned by key.
    fn by_key(options: &PostfixOptions, domain: &DomainName, edit: impl FnOnce(&mut Policy)) -> bool {
        let paths = options.paths().unwrap();
        let snapshot = Snapshot::read(&paths).unwrap();
        let Some(narrowed) = narrow(options, &paths, &snapshot, domain).unwrap() else {
            return false;
        };
        // One domain of each kind (relay, account or none), and the domain.
        assert!(
            narrowed.policy.domains.len() <= 7,
            "{:?}",
            narrowed.policy.domains.keys()
        );
        let mut desired = narrowed.policy.clone();
        edit(&mut desired);
        let before = Layout::new(&narrowed.policy, options).unwrap();
        let after = Layout::new(&desired, options).unwrap();
        spliced(&narrowed, &before, after, domain).is_some()
    }

    #[test]
    fn lines_of_one_domain_are_changed_by_key() {
        let (_root, options) = fleet();
        let new = name(1000);
        assert!(by_key(&options, &new, |p| p
            .set_domain(new.clone(), relay(1, Some(1000)))
            .unwrap()));
        assert!(by_key(&options, &new, |p| p
            .set_domain(new.clone(), relay(2, None))
            .unwrap()));
        let old = name(4);
        assert!(by_key(&options, &old, |p| p
            .set_domain(old.clone(), relay(0, Some(77)))
            .unwrap()));
        assert!(by_key(&options, &old, |p| {
            p.domains.remove(&old);
        }));
    }

    #[test]
    fn a_change_that_reaches_further_is_planned_as_a_whole() {
        let (_root, options) = fleet();
        let new = name(1000);
        // A relay not used yet: a TLS entry more.
        assert!(!by_key(&options, &new, |p| p
            .set_domain(new.clone(), relay(5, None))
            .unwrap()));
        // Implicit TLS: a transport and a master.cf service.
        let mut wrapped = Smarthost::new(RelayHost::parse("[relay1.example.net]:465").unwrap());
        wrapped.encryption = Encryption::ImplicitTls;
        assert!(!by_key(&options, &new, |p| p.set_domain(new.clone(), wrapped).unwrap()));
        // A direct exception: relayhost moves to default_transport.
        assert!(!by_key(&options, &new, |p| p.set_direct(new.clone()).unwrap()));
    }

    #[test]
    fn tables_not_in_this_backends_form_are_not_changed_by_key() {
        let domain = name(1000);
        type HandEdit = fn(&str) -> String;
        let edits: [(&str, HandEdit); 4] = [
            ("a comment", |t| format!("{t}# added by hand\n")),
            ("unsorted", |t| format!("{t}@a.example [relay0.example.net]:587\n")),
            ("two spaces", |t| t.replacen(" [relay", "  [relay", 1)),
            ("no header", |t| t.replacen(HEADER, "", 1)),
        ];
        for (what, edit) in edits {
            let (_root, options) = fleet();
            let path = options.paths().unwrap().table(SENDER_RELAY_MAP);
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, edit(&text)).unwrap();
            assert!(!by_key(&options, &domain, |_| {}), "{what}");
        }
        // An account without relay entry: the whole read leaves it out.
        let (_root, options) = fleet();
        let path = options.paths().unwrap().table(SECRETS_MAP);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen(HEADER, &format!("{HEADER}@aaa.example u:p\n"), 1)).unwrap();
        assert!(!by_key(&options, &domain, |_| {}), "orphan account");
        // main.cf names another table too.
        let (_root, options) = fleet();
        let main_cf = options.paths().unwrap().main_cf;
        let text = std::fs::read_to_string(&main_cf).unwrap();
        let own = Layout::own_value(SENDER_RELAY_MAPS, &options).unwrap();
        std::fs::write(&main_cf, text.replace(&own, &format!("{own}, hash:/etc/postfix/mine"))).unwrap();
        assert!(!by_key(&options, &domain, |_| {}), "another table");
    }

    #[test]
    fn lines_are_found_and_spliced_at_their_key() {
        let text = format!("{HEADER}@b x\n@d y\n");
        assert_eq!(find_line(&text, "@b"), Ok((HEADER.len(), HEADER.len() + 5)));
        assert_eq!(find_line(&text, "@a"), Err(HEADER.len()));
        assert_eq!(find_line(&text, "@c"), Err(HEADER.len() + 5));
        assert_eq!(find_line(&text, "@e"), Err(text.len()));
        assert_eq!(find_line(HEADER, "@a"), Err(HEADER.len()));
        assert_eq!(
            splice(Some(&text), "@c", Some("z")).unwrap(),
            format!("{HEADER}@b x\n@c z\n@d y\n")
        );
        assert_eq!(
            splice(Some(&text), "@b", Some("w")).unwrap(),
            format!("{HEADER}@b w\n@d y\n")
        );
        assert_eq!(splice(Some(&text), "@d", None).unwrap(), format!("{HEADER}@b x\n"));
        assert_eq!(splice(None, "@a", Some("v")).unwrap(), format!("{HEADER}@a v\n"));
        assert_eq!(splice(Some(&format!("{HEADER}@a v\n")), "@a", None), None);
    }
}
