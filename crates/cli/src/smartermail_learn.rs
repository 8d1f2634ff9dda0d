//! `smarthost smartermail learn`: learns SmarterMail's gateway names from
//! the server (GET requests only) and writes them into the settings folder.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use smartermail_backend::{LearnInput, LearnedSchema};
use smarthost_core::SecretSource;

use crate::args::{Cli, SmartermailLearnArgs};
use crate::error::CliError;

/// `NAME=VALUE` options as a map; `option` names them in errors.
fn pairs(option: &str, given: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for item in given {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("{option} {item}: expected NAME=VALUE")))?;
        if map.insert(k.trim().to_owned(), v.trim().to_owned()).is_some() {
            return Err(CliError::Usage(format!("{option} {k}: given twice")));
        }
    }
    Ok(map)
}

/// `HOST:PORT` (`[v6]:PORT` too).
fn relay(text: &str) -> Result<(String, u16), CliError> {
    let bad = || CliError::Usage(format!("--relay {text}: expected HOST:PORT, as typed into the gateway"));
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

pub(crate) fn run(cli: &Cli, args: &SmartermailLearnArgs) -> Result<u8, CliError> {
    let url = cli
        .url
        .as_deref()
        .ok_or_else(|| CliError::Usage("smartermail learn needs --url".into()))?;
    let (relay_host, relay_port) = relay(&args.relay)?;
    let input = LearnInput {
        endpoints: pairs("--endpoint", &args.endpoints)?,
        enums: pairs("--enum", &args.enums)?,
        fields: pairs("--field", &args.fields)?,
        wrapper: args.wrapper.clone(),
        relay_host,
        relay_port,
        username: args.username.clone(),
        domain: args.domain.clone(),
    };
    let source = match &cli.admin_password_file {
        Some(file) => SecretSource::File(file.clone()),
        None => SecretSource::Env("SMARTERMAIL_PASSWORD".into()),
    };
    let password = source.read("admin_password")?;
    let learning = smartermail_backend::learn(url, &cli.admin_user, password, Duration::from_secs(30), &input)
        .map_err(smarthost_core::WriterError::new)?;
    let dir = crate::policy_input::settings_dir(cli);
    let path = learning
        .schema
        .write_into(&dir)
        .map_err(smarthost_core::WriterError::new)?;
    // The file is read back as the backend will read it.
    LearnedSchema::load(&path).map_err(smarthost_core::WriterError::new)?;
    if cli.json {
        crate::output::json(&json!({
            "schema": smarthost_core::JSON_SCHEMA,
            "file": path.display().to_string(),
            "learned": learning.schema,
            "notes": learning.notes,
            "unconfirmed": learning.unconfirmed,
        }));
        return Ok(0);
    }
    let mut out = format!("Learned from {url} (GET requests only):\n");
    for note in &learning.notes {
        out.push_str(&format!("  {note}\n"));
    }
    for (role, learned) in &learning.schema.names {
        out.push_str(&format!("  {role} = {}    ({})\n", learned.value, learned.source));
    }
    if learning.unconfirmed.is_empty() {
        out.push_str("Every name smarthost writes is confirmed.\n");
    } else {
        out.push_str(&format!(
            "Still unconfirmed (writes that need them are refused): {}\n",
            learning.unconfirmed.join(", ")
        ));
    }
    out.push_str(&format!("Wrote {}\n", path.display()));
    crate::output::print(&out);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_takes_host_and_port() {
        assert_eq!(relay("relay.example:2525").unwrap(), ("relay.example".into(), 2525));
        assert_eq!(relay("[2001:db8::1]:25").unwrap(), ("2001:db8::1".into(), 25));
        assert!(relay("relay.example").is_err());
        assert!(relay("relay.example:0").is_err());
    }

    #[test]
    fn pairs_refuse_a_missing_value_and_duplicates() {
        assert!(pairs("--enum", &["mode.round-robin".into()]).is_err());
        assert!(pairs("--enum", &["a=1".into(), "a=2".into()]).is_err());
        assert_eq!(pairs("--enum", &["a = 1".into()]).unwrap()["a"], "1");
    }
}
