//! Readiness: `GET /healthz` answers 200 only when every component of this process is ready,
//! otherwise 503 with a JSON reason per component.
//!
//! Components register a probe; this module knows nothing about what they check.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// How long one probe may take before the component counts as not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One component's readiness probe: `Ok` when ready, else the reason.
#[derive(Clone)]
pub struct Probe {
    name: &'static str,
    check: Arc<dyn Fn() -> ProbeFuture + Send + Sync>,
}

impl Probe {
    /// A probe named `name` (as shown in the JSON) that runs `check`.
    pub fn new<F, Fut>(name: &'static str, check: F) -> Probe
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Probe {
            name,
            check: Arc::new(move || Box::pin(check())),
        }
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("name", &self.name).finish()
    }
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `"ok"` or `"unavailable"`.
    pub status: &'static str,
    /// Each component's state: `"ok"` or the reason it is not ready.
    pub checks: BTreeMap<&'static str, String>,
    /// The first failing component and its reason, for humans; absent when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Report {
    /// Whether every component is ready.
    pub fn is_ready(&self) -> bool {
        self.reason.is_none()
    }
}

/// Runs every probe concurrently and collects the report.
pub async fn check(probes: &[Probe]) -> Report {
    let results = futures_util::future::join_all(probes.iter().map(|probe| async move {
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, (probe.check)()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        };
        (probe.name, outcome)
    }))
    .await;
    let mut checks = BTreeMap::new();
    let mut reason = None;
    for (name, outcome) in results {
        let state = match outcome {
            Ok(()) => "ok".to_owned(),
            Err(why) => {
                reason.get_or_insert_with(|| format!("{name}: {why}"));
                why
            }
        };
        checks.insert(name, state);
    }
    Report {
        status: if reason.is_none() {
            "ok"
        } else {
            "unavailable"
        },
        checks,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn report_names_the_first_component_that_is_not_ready() {
        let probes = [
            Probe::new("database", || async { Ok(()) }),
            Probe::new("bridge", || async { Err("not connected".to_owned()) }),
        ];
        let report = check(&probes).await;
        assert!(!report.is_ready());
        assert_eq!(report.status, "unavailable");
        assert_eq!(report.reason.as_deref(), Some("bridge: not connected"));
        assert_eq!(report.checks["database"], "ok");
    }

    #[tokio::test]
    async fn report_is_ready_when_every_probe_passes() {
        let probes = [Probe::new("database", || async { Ok(()) })];
        let report = check(&probes).await;
        assert!(report.is_ready());
        assert_eq!(report.status, "ok");
    }
}
