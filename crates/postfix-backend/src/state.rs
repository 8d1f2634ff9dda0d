//! What smarthost changed in main.cf and what was there before, so that a
//! disable puts back exactly what the administrator had.
//!
//! The state lives next to the tables (`<map dir>/smarthost.state`, JSON)
//! and is written in the same transaction as main.cf. For every managed
//! parameter smarthost set, it keeps the entry's exact text before the first
//! change (or that there was none). When the parameter is no longer needed,
//! that text comes back in place: a main.cf that had no relay settings is
//! byte for byte the same after enable and disable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The state file's name, in the map folder.
pub(crate) const STATE_FILE: &str = "smarthost.state";

const VERSION: u32 = 1;

/// What a parameter was before smarthost first set it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Original {
    /// The entry's exact text (continuation lines and line endings
    /// included); `None`: the parameter was absent.
    pub(crate) raw: Option<String>,
    /// The entry was a hand-made relay setting that smarthost took over
    /// (a `relayhost`, sender-dependent maps): on release it is not put
    /// back, since that would turn the manual relay on again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) taken_over: bool,
}

/// The state file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    version: u32,
    /// Parameter name -> what it was before smarthost set it.
    pub(crate) main_cf: BTreeMap<String, Original>,
    /// smarthost added a line break at the end of a main.cf that had none,
    /// to append its parameters; it goes again with the last of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) added_final_newline: bool,
}

impl State {
    /// Parses the state file; an unreadable one is an error naming it (the
    /// caller adds the path).
    pub(crate) fn parse(text: &str) -> Result<State, String> {
        let state: State = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if state.version != VERSION {
            return Err(format!(
                "version {} is not supported (expected {VERSION})",
                state.version
            ));
        }
        Ok(state)
    }

    /// The file's text; `None` when there is nothing to remember (the file
    /// is removed).
    pub(crate) fn render(&self) -> Option<String> {
        if self.main_cf.is_empty() {
            return None;
        }
        let state = State {
            version: VERSION,
            ..self.clone()
        };
        Some(serde_json::to_string_pretty(&state).expect("the state always serializes") + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut state = State::default();
        state.main_cf.insert(
            "relayhost".into(),
            Original {
                raw: Some("relayhost =\n".into()),
                taken_over: false,
            },
        );
        state.main_cf.insert("smtp_tls_CAfile".into(), Original::default());
        let text = state.render().unwrap();
        let back = State::parse(&text).unwrap();
        assert_eq!(back.main_cf, state.main_cf);
        assert!(State::default().render().is_none());
        assert!(State::parse("{\"version\": 9, \"main_cf\": {}}")
            .unwrap_err()
            .contains("version 9"));
    }
}
