//! Checking many smarthosts: each distinct (relay, encryption, credentials,
//! certificate check) once, several at a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::{check, CheckOptions, CheckReport};
use crate::smarthost::Smarthost;

/// One distinct smarthost's report and who uses it.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    /// Who uses this smarthost (`server`, `domain a.example`, ...).
    pub used_by: Vec<String>,
    /// The report.
    #[serde(flatten)]
    pub report: CheckReport,
}

/// Checks `targets` (label, smarthost, whether to verify the certificate),
/// each distinct one once, at most `parallel` at a time; `on_done` runs
/// after each check (for progress bars). Results keep the order in which
/// each distinct smarthost first appears.
pub async fn check_many(
    targets: Vec<(String, Smarthost, bool)>,
    options: &CheckOptions,
    parallel: usize,
    on_done: impl Fn() + Send + Sync + 'static,
) -> Vec<Checked> {
    type Key = (String, String, String, String, bool);
    let mut order: Vec<Key> = Vec::new();
    let mut groups: BTreeMap<Key, (Vec<String>, Smarthost, bool)> = BTreeMap::new();
    for (label, smarthost, check_certificate) in targets {
        let (user, pass) = smarthost
            .credentials
            .as_ref()
            .map(|c| (c.username().to_string(), c.password().expose().to_owned()))
            .unwrap_or_default();
        let key = (
            smarthost.relay.to_string(),
            smarthost.encryption.to_string(),
            user,
            pass,
            check_certificate,
        );
        let group = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (Vec::new(), smarthost, check_certificate)
        });
        group.0.push(label);
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let on_done = Arc::new(on_done);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, key) in order.iter().enumerate() {
        let (_, smarthost, check_certificate) = &groups[key];
        let options = CheckOptions {
            check_certificate: *check_certificate,
            ..options.clone()
        };
        let (smarthost, limit, on_done) = (smarthost.clone(), limit.clone(), on_done.clone());
        tasks.spawn(async move {
            let report = match limit.acquire().await {
                Ok(_permit) => check(&smarthost, &options).await,
                Err(_) => check(&smarthost, &options).await,
            };
            on_done();
            (index, report)
        });
    }
    let mut reports: Vec<Option<CheckReport>> = vec![None; order.len()];
    while let Some(done) = tasks.join_next().await {
        if let Ok((index, report)) = done {
            reports[index] = Some(report);
        }
    }
    order
        .iter()
        .zip(reports)
        .filter_map(|(key, report)| {
            Some(Checked {
                used_by: groups[key].0.clone(),
                report: report?,
            })
        })
        .collect()
}
