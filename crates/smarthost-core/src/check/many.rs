//! Checking many smarthosts: each distinct (relay, encryption, credentials,
//! certificate check) once, several at a time.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::{check, CheckOptions, CheckReport};
use crate::encryption::Encryption;
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

/// One smarthost to check and who uses it.
#[derive(Clone, Debug)]
pub struct CheckTarget {
    /// Who uses it (`server`, `domain a.example`, ...), for the report.
    pub label: String,
    /// The smarthost.
    pub smarthost: Smarthost,
    /// Whether the relay's certificate is verified.
    pub check_certificate: bool,
}

/// The smarthosts that are checked once for all their users.
struct Group {
    used_by: Vec<String>,
    smarthost: Smarthost,
    check_certificate: bool,
}

/// Checks `targets`, each distinct (relay, encryption, credentials,
/// certificate check) once, at most `parallel` at a time; `on_done` runs
/// after each check (for progress bars). Results keep the order in which
/// each distinct smarthost first appears.
pub async fn check_many(
    targets: Vec<CheckTarget>,
    options: &CheckOptions,
    parallel: usize,
    on_done: impl Fn() + Send + Sync + 'static,
) -> Vec<Checked> {
    let mut groups: Vec<Group> = Vec::new();
    // Candidates by what can be compared without the password; passwords
    // are compared in place (no copy of them is made for the key).
    let mut by_key: HashMap<(String, Encryption, Option<String>, bool), Vec<usize>> = HashMap::new();
    for target in targets {
        let key = (
            target.smarthost.relay.to_string(),
            target.smarthost.encryption,
            target.smarthost.credentials.as_ref().map(|c| c.username().to_string()),
            target.check_certificate,
        );
        let candidates = by_key.entry(key).or_default();
        match candidates
            .iter()
            .find(|&&i| groups[i].smarthost.credentials == target.smarthost.credentials)
        {
            Some(&i) => groups[i].used_by.push(target.label),
            None => {
                candidates.push(groups.len());
                groups.push(Group {
                    used_by: vec![target.label],
                    smarthost: target.smarthost,
                    check_certificate: target.check_certificate,
                });
            }
        }
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let on_done = Arc::new(on_done);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, group) in groups.iter().enumerate() {
        let options = CheckOptions {
            check_certificate: group.check_certificate,
            ..options.clone()
        };
        let (smarthost, limit, on_done) = (group.smarthost.clone(), limit.clone(), on_done.clone());
        tasks.spawn(async move {
            let report = match limit.acquire().await {
                Ok(_permit) => check(&smarthost, &options).await,
                Err(_) => check(&smarthost, &options).await,
            };
            on_done();
            (index, report)
        });
    }
    let mut reports: Vec<Option<CheckReport>> = vec![None; groups.len()];
    while let Some(done) = tasks.join_next().await {
        if let Ok((index, report)) = done {
            reports[index] = Some(report);
        }
    }
    groups
        .into_iter()
        .zip(reports)
        .filter_map(|(group, report)| {
            Some(Checked {
                used_by: group.used_by,
                report: report?,
            })
        })
        .collect()
}
