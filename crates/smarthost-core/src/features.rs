//! [`Features`]: which levels may have a smarthost, and whether certificates
//! are checked (a panel's `smarthost.server.enabled`, `smarthost.domain.enabled`
//! and `smarthost.{server,domain}.checkConnection.checkCertificate`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The settings of one level (server-wide or per domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LevelFeatures {
    /// Whether smarthosts may be set at this level. When false, `set` is
    /// refused; `disable` still works, so a forbidden level can be cleaned up.
    pub enabled: bool,
    /// Whether the relay's certificate chain and host name are verified.
    /// Turn off only for relays with self-signed certificates.
    pub check_certificate: bool,
}

impl Default for LevelFeatures {
    fn default() -> Self {
        LevelFeatures {
            enabled: true,
            check_certificate: true,
        }
    }
}

/// Feature settings for both levels. Everything is on by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Features {
    /// The server-wide level.
    pub server: LevelFeatures,
    /// The per-domain level.
    pub domain: LevelFeatures,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(default)]
    features: Features,
}

impl Features {
    /// Combines two sources of settings (the administrator's settings file
    /// and a policy file): each setting is on only if both leave it on, so a
    /// policy can never re-enable what the settings file turned off.
    #[must_use]
    pub fn and(self, other: Features) -> Features {
        let level = |a: LevelFeatures, b: LevelFeatures| LevelFeatures {
            enabled: a.enabled && b.enabled,
            check_certificate: a.check_certificate && b.check_certificate,
        };
        Features {
            server: level(self.server, other.server),
            domain: level(self.domain, other.domain),
        }
    }

    /// Parses a settings file: TOML with one `[features]` table, the same as
    /// a policy file's. Unknown keys are errors.
    pub fn from_settings_toml(path: &Path, text: &str) -> Result<Features, Error> {
        toml::from_str::<SettingsFile>(text)
            .map(|s| s.features)
            .map_err(|e| Error::PolicySyntax {
                path: path.to_owned(),
                message: e.to_string(),
            })
    }

    /// Reads a settings file (a regular file, capped as a policy file is:
    /// see [`crate::input::read_policy_file`]); a missing file means the
    /// defaults.
    pub fn load_settings(path: &Path) -> Result<Features, Error> {
        match crate::input::read_policy_file("settings", path) {
            Ok(text) => Self::from_settings_toml(path, &text),
            Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(Features::default()),
            Err(e) => Err(e),
        }
    }
}
