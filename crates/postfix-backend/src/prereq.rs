//! What Postfix needs on the system for the relays to work, beyond its own
//! configuration: a SASL client mechanism that relays accept (PLAIN or
//! LOGIN), and the package that brings it on each distribution family.
//!
//! Postfix's SMTP client authenticates only through Cyrus SASL
//! (SASL_README, "Enabling SASL authentication in the Postfix SMTP
//! client"); the PLAIN and LOGIN mechanisms are plugins
//! (`libplain.so`, `liblogin.so`) in the `sasl2` plugin folder. Without
//! them Postfix defers every message with "SASL authentication failed;
//! ... no mechanism available" (seen on Postfix 3.7, see
//! `../shared/notes/postfix.md`).

use std::path::{Path, PathBuf};

/// Folders where distributions keep Cyrus SASL plugins; `/usr/lib/<triplet>/sasl2`
/// (Debian multiarch) is searched as well.
const PLUGIN_DIRS: &[&str] = &["/usr/lib/sasl2", "/usr/lib64/sasl2", "/usr/local/lib/sasl2"];

/// The plugins that provide the mechanisms relays offer.
const MECHANISMS: &[(&str, &str)] = &[("libplain.so", "PLAIN"), ("liblogin.so", "LOGIN")];

/// Every folder below `root` that may hold Cyrus SASL plugins.
pub(crate) fn plugin_dirs(root: &Path) -> Vec<PathBuf> {
    let on_disk = |p: &str| root.join(p.trim_start_matches('/'));
    let mut dirs: Vec<PathBuf> = PLUGIN_DIRS.iter().map(|d| on_disk(d)).collect();
    if let Ok(entries) = std::fs::read_dir(on_disk("/usr/lib")) {
        let mut multiarch: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("sasl2"))
            .filter(|p| p.is_dir())
            .collect();
        multiarch.sort();
        dirs.extend(multiarch);
    }
    dirs
}

/// The SASL client mechanisms relays use (PLAIN, LOGIN) whose plugins are
/// installed below `root`.
pub(crate) fn sasl_mechanisms(root: &Path) -> Vec<&'static str> {
    let mut found = Vec::new();
    for dir in plugin_dirs(root) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            for (plugin, mechanism) in MECHANISMS {
                if name.starts_with(plugin) && !found.contains(mechanism) {
                    found.push(*mechanism);
                }
            }
        }
    }
    found
}

/// The distribution family from `/etc/os-release` below `root` (its `ID`
/// and `ID_LIKE`).
fn family(root: &Path) -> Option<&'static str> {
    let text = std::fs::read_to_string(root.join("etc/os-release")).ok()?;
    let ids: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ID=").or_else(|| l.strip_prefix("ID_LIKE=")))
        .flat_map(|v| {
            v.trim_matches('"')
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let has = |names: &[&str]| ids.iter().any(|id| names.contains(&id.as_str()));
    if has(&["debian", "ubuntu"]) {
        Some("debian")
    } else if has(&["rhel", "fedora", "centos", "rocky", "almalinux"]) {
        Some("rhel")
    } else if has(&["suse", "opensuse", "sles"]) {
        Some("suse")
    } else {
        None
    }
}

/// How to install the SASL PLAIN/LOGIN plugins on the system below `root`.
pub(crate) fn sasl_package_advice(root: &Path) -> String {
    match family(root) {
        Some("debian") => "install them: apt-get install libsasl2-modules".into(),
        Some("rhel") => "install them: dnf install cyrus-sasl-plain".into(),
        Some("suse") => "install them: zypper install cyrus-sasl-plain".into(),
        _ => "install the Cyrus SASL PLAIN and LOGIN plugins (Debian/Ubuntu: libsasl2-modules; RHEL, Alma, Rocky, Fedora, SUSE: cyrus-sasl-plain)".into(),
    }
}

/// When relays need AUTH and Postfix cannot do PLAIN or LOGIN: the problem
/// and its fix, in one sentence.
pub(crate) fn missing_sasl(root: &Path) -> Option<String> {
    if !sasl_mechanisms(root).is_empty() {
        return None;
    }
    Some(format!(
        "relays need AUTH, but no SASL client mechanism (PLAIN or LOGIN) is installed for Postfix, which would defer every message with \"no mechanism available\"; {}",
        sasl_package_advice(root)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_and_families_are_found_below_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(missing_sasl(r).unwrap().contains("libsasl2-modules"));
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(
            r.join("etc/os-release"),
            "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
        )
        .unwrap();
        let advice = missing_sasl(r).unwrap();
        assert!(advice.contains("dnf install cyrus-sasl-plain"), "{advice}");
        std::fs::create_dir_all(r.join("usr/lib/x86_64-linux-gnu/sasl2")).unwrap();
        std::fs::write(r.join("usr/lib/x86_64-linux-gnu/sasl2/libplain.so.2"), "").unwrap();
        assert_eq!(sasl_mechanisms(r), ["PLAIN"]);
        assert_eq!(missing_sasl(r), None);
        std::fs::write(r.join("etc/os-release"), "ID=debian\n").unwrap();
        assert!(sasl_package_advice(r).contains("apt-get install libsasl2-modules"));
    }
}
