//! The rules' entry point: [`Chat`] holds the database, the settings and the typing rate
//! limiter, and handles requests in batches. Runs of sends and receipts share one
//! transaction (group commit); if it fails, they run again one by one, so only the request
//! at fault is refused. Every request's database work is bounded by the statement timeout,
//! and while the database is known down requests are refused at once ([`DatabaseHealth`]).

use std::sync::Arc;

use natter_config::MessagingSettings;
use sea_orm::{DatabaseConnection, DbErr};
use tracing::warn;

use crate::db_health::DatabaseHealth;
use crate::refusal::{Refusal, Refused, UNAVAILABLE_REQUEST};
use crate::request::{Caller, Out, Outcome, Request};
use crate::telemetry::{PERSIST_ERRORS, PERSIST_SECONDS};
use crate::{calls, changes, send, sync, typing};

/// Most requests handled in one batch (one transaction for its sends and receipts).
pub const MAX_BATCH: usize = 64;

/// The settings the rules follow.
#[derive(Clone, Debug)]
pub struct ChatSettings {
    /// Groups, edits, typing.
    pub messaging: MessagingSettings,
    /// Contacts limits and the rest of the account rules, for account calls.
    pub accounts: natter_config::AccountsSettings,
    /// Where `presence.query` calls are answered from; `None` answers `unavailable`.
    pub presence: Option<Arc<dyn natter_presence::PresenceStore>>,
}

/// The messaging rules' state: the database, the settings, and the typing rate limiter.
#[derive(Debug)]
pub struct Chat {
    pub(crate) db: DatabaseConnection,
    pub(crate) settings: ChatSettings,
    typing: typing::Limiter,
    /// Whether the database answers; bounds each request's database work.
    health: Arc<DatabaseHealth>,
}

impl Chat {
    /// The rules over `db`, following `settings`; `health` is shared with whatever else
    /// watches the database (the health probe).
    pub fn new(
        db: DatabaseConnection,
        settings: ChatSettings,
        health: Arc<DatabaseHealth>,
    ) -> Chat {
        let typing = typing::Limiter::new(settings.messaging.typing_interval());
        Chat {
            db,
            settings,
            typing,
            health,
        }
    }

    /// What to tell whom in answer to each of `requests`, in order. Runs of sends and
    /// receipts share one transaction; if it fails, they are handled again one by one, so
    /// that only the request at fault is refused. Sync, edits, typing and calls run alone.
    pub async fn handle_batch(&mut self, requests: Vec<(Caller, Request)>) -> Vec<Outcome> {
        let mut answers = Vec::with_capacity(requests.len());
        let mut run = Vec::new();
        for (caller, request) in requests {
            if batchable(&request) {
                run.push((caller, request));
                continue;
            }
            self.serve_run(std::mem::take(&mut run), &mut answers).await;
            answers.push(if self.health.admit() {
                self.serve(caller, request).await
            } else {
                refuse(&request)
            });
        }
        self.serve_run(run, &mut answers).await;
        // Every `unavailable` carries the server's retry hint (docs/PROTOCOL.md).
        for out in answers.iter_mut().flatten() {
            if let Out::Refused(Refused {
                refusal: Refusal::Unavailable { retry_after_ms, .. },
                ..
            }) = out
                && retry_after_ms.is_none()
            {
                *retry_after_ms = Some(self.health.retry_after_ms());
            }
        }
        answers
    }

    /// Serves sends and receipts in one transaction, appending their answers. While the
    /// database is known down they are refused at once (but for the periodic trial).
    async fn serve_run(&mut self, run: Vec<(Caller, Request)>, answers: &mut Vec<Outcome>) {
        if run.is_empty() {
            return;
        }
        if !self.health.admit() {
            answers.extend(run.iter().map(|(_, request)| refuse(request)));
            return;
        }
        if run.len() == 1 {
            for (caller, request) in run {
                answers.push(self.serve(caller, request).await);
            }
            return;
        }
        let started = std::time::Instant::now();
        match bounded(&self.health, send::in_one_transaction(&self.db, &run)).await {
            Ok(outs) => {
                let each = started.elapsed().as_secs_f64();
                for _ in 0..outs.len() {
                    metrics::histogram!(PERSIST_SECONDS).record(each);
                }
                answers.extend(outs);
            }
            Err(err) if err.is_outage() => {
                // Handling them one by one would wait out the timeout once per request.
                metrics::counter!(PERSIST_ERRORS).increment(1);
                warn!(error = %err, requests = run.len(), "a batch met a database outage; refusing it");
                answers.extend(run.iter().map(|(_, request)| refuse(request)));
            }
            Err(err) => {
                warn!(error = %err, requests = run.len(), "a batch failed in the database; handling its requests one by one");
                for (caller, request) in run {
                    answers.push(self.serve(caller, request).await);
                }
            }
        }
    }

    /// What to tell whom in answer to one request, handled in its own transaction.
    async fn serve(&mut self, caller: Caller, request: Request) -> Outcome {
        let (user, device) = (caller.user, caller.device);
        // A failure names the request it answers (its client id, or its call id).
        let (id, rid) = request.ids();
        let started = std::time::Instant::now();
        let work = async {
            match request {
                request @ (Request::Send { .. } | Request::Receipt { .. }) => {
                    let alone = [(caller, request)];
                    send::in_one_transaction(&self.db, &alone)
                        .await
                        .map(|answers| answers.into_iter().flatten().collect())
                }
                Request::Sync { after } => sync::sync(&self.db, &caller, after).await,
                Request::Edit { id, message, body } => {
                    let change = changes::Change::Edit(body);
                    let settings = &self.settings.messaging;
                    changes::apply(&self.db, settings, &caller, id, message, change).await
                }
                Request::Delete { id, message } => {
                    let change = changes::Change::Delete;
                    let settings = &self.settings.messaging;
                    changes::apply(&self.db, settings, &caller, id, message, change).await
                }
                Request::React { id, message, emoji } => {
                    let change = changes::Change::React(emoji);
                    let settings = &self.settings.messaging;
                    changes::apply(&self.db, settings, &caller, id, message, change).await
                }
                Request::Typing { to, active } => {
                    typing::forward(&self.db, &mut self.typing, &caller, to, active).await
                }
                Request::Call { rid, call } => {
                    Ok(calls::call(&self.db, &self.settings, &caller, rid, call).await)
                }
            }
        };
        let outcome = bounded(&self.health, work).await;
        metrics::histogram!(PERSIST_SECONDS).record(started.elapsed().as_secs_f64());
        outcome.unwrap_or_else(|err| {
            metrics::counter!(PERSIST_ERRORS).increment(1);
            warn!(error = %err, user, device, "request failed in the database");
            vec![Out::Refused(unavailable(id, rid))]
        })
    }
}

/// Whether a request may share the batch's transaction: sends and receipts, the bulk of
/// the traffic. Everything else (sync, calls, edits…) runs alone, in order.
fn batchable(request: &Request) -> bool {
    matches!(request, Request::Send { .. } | Request::Receipt { .. })
}

/// `unavailable` for the request with client id `id` or call id `rid` (its retry hint is
/// added in [`Chat::handle_batch`]).
fn unavailable(id: Option<String>, rid: Option<String>) -> Refused {
    Refused {
        id,
        rid,
        refusal: Refusal::Unavailable {
            retry_after_ms: None,
            message: UNAVAILABLE_REQUEST,
        },
    }
}

/// The answer to a request refused without trying the database, known to be down.
fn refuse(request: &Request) -> Outcome {
    // Typing is ephemeral: a refusal would only be noise.
    if matches!(request, Request::Typing { .. }) {
        return Vec::new();
    }
    let (id, rid) = request.ids();
    vec![Out::Refused(unavailable(id, rid))]
}

/// Why bounded database work failed.
#[derive(Debug, thiserror::Error)]
enum WorkError {
    /// It did not finish within the statement timeout.
    #[error("no answer from the database within {0:?}")]
    TimedOut(std::time::Duration),
    /// The database answered with an error, or could not be reached.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl WorkError {
    /// Whether this says the database is unreachable or stalled (rather than refusing one
    /// request): then other requests would fail the same way.
    fn is_outage(&self) -> bool {
        match self {
            WorkError::TimedOut(_) => true,
            WorkError::Db(err) => crate::db_health::is_outage(err),
        }
    }
}

/// Runs `work` within the statement timeout and records in `health` whether the database
/// answered. On a timeout the work is dropped: its transaction never commits (or, if the
/// commit was already sent, the client's resend finds its id stored and gets `sent`).
async fn bounded<T>(
    health: &DatabaseHealth,
    work: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, WorkError> {
    let outcome = match tokio::time::timeout(health.timeout(), work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(WorkError::Db(err)),
        Err(_) => Err(WorkError::TimedOut(health.timeout())),
    };
    match &outcome {
        Err(err) if err.is_outage() => health.failed(&err.to_string()),
        _ => health.succeeded(),
    }
    outcome
}
