//! The database as this process sees it: whether its work is timing out or cannot reach the
//! database, the bound on one request's database work, and the retry hint that every
//! `unavailable` answer carries. Shared by the messaging rules ([`crate::Chat`], which record
//! what their requests met and fail fast while the database is known down) and the health
//! probe (which records its own bounded probe). It does not talk to the database itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::{DbErr, RuntimeErr};
use tracing::{info, warn};

use crate::telemetry::DATABASE_UP;

/// While the database is known down, one request per this interval still tries it (the
/// others are refused at once), so that recovery is noticed without a flood of attempts.
const TRIAL_INTERVAL: Duration = Duration::from_secs(1);
/// Retry hint while the database answers: 1 to 2 s.
const RETRY_BASE_MS: u64 = 1000;
/// Retry hint while the database is known down: 4 to 8 s.
const RETRY_DOWN_MS: u64 = 4000;

/// What this process knows about its database (see the module header).
#[derive(Debug)]
pub struct DatabaseHealth {
    timeout: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    down: Option<Down>,
    last_trial: Option<Instant>,
}

#[derive(Clone, Debug)]
struct Down {
    since: Instant,
    reason: String,
}

/// Why the database counts as down: since when and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// How long it has been down.
    pub for_: Duration,
    /// The last failure seen.
    pub reason: String,
}

impl DatabaseHealth {
    /// Healthy to begin with; `timeout` bounds one request's database work
    /// (`database.statement_timeout_ms`).
    pub fn new(timeout: Duration) -> DatabaseHealth {
        DatabaseHealth {
            timeout,
            state: Mutex::new(State::default()),
        }
    }

    /// The bound on one request's (or one probe's) database work.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Records work that reached the database and got its answer.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        metrics::gauge!(DATABASE_UP).set(1.0);
        if let Some(down) = state.down.take() {
            info!(
                down_for_ms = u64::try_from(down.since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the database answers again"
            );
        }
    }

    /// Records that the database did not answer in time or could not be reached.
    pub fn failed(&self, reason: &str) {
        let mut state = self.lock();
        // The next trial comes one interval after this failure, not after the attempt began
        // (which may be a whole timeout ago).
        state.last_trial = Some(Instant::now());
        metrics::gauge!(DATABASE_UP).set(0.0);
        match &mut state.down {
            Some(down) => reason.clone_into(&mut down.reason),
            None => {
                warn!(
                    reason,
                    "the database does not answer: refusing requests until it does"
                );
                state.down = Some(Down {
                    since: Instant::now(),
                    reason: reason.to_owned(),
                });
            }
        }
    }

    /// `Some` while the database is known down.
    pub fn outage(&self) -> Option<Outage> {
        self.lock().down.as_ref().map(|down| Outage {
            for_: down.since.elapsed(),
            reason: down.reason.clone(),
        })
    }

    /// Whether a request may try the database now: always while it answers; while it is
    /// known down, one request per [`TRIAL_INTERVAL`] (the trial), the others are refused.
    pub fn admit(&self) -> bool {
        let mut state = self.lock();
        if state.down.is_none() {
            return true;
        }
        let now = Instant::now();
        let due = state
            .last_trial
            .is_none_or(|last| now.duration_since(last) >= TRIAL_INTERVAL);
        if due {
            state.last_trial = Some(now);
        }
        due
    }

    /// How long a refused client should wait before sending again, in milliseconds: 1–2 s,
    /// or 4–8 s while the database is known down; jittered so that refused clients do not
    /// come back in step.
    pub fn retry_after_ms(&self) -> u64 {
        let base = if self.lock().down.is_some() {
            RETRY_DOWN_MS
        } else {
            RETRY_BASE_MS
        };
        base + jitter(base)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two plain fields, consistent after any panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `err` says the database is unreachable or stalled rather than refusing one
/// statement: no connection (pool timeout, connect or I/O failure), or a statement cancelled
/// by `statement_timeout` (PostgreSQL 57014), a lock wait given up (55P03), SQLite busy.
pub fn is_outage(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            match sqlx.as_ref() {
                SqlxError::Io(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed => true,
                SqlxError::Database(db) => {
                    matches!(db.code().as_deref(), Some("57014" | "55P03" | "5" | "517"))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// A random number in `0..span` (a v4 UUID's random bits: no extra crate for this).
fn jitter(span: u64) -> u64 {
    let random = uuid::Uuid::new_v4().as_u128();
    u64::try_from(random % u128::from(span.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hints_are_jittered_and_larger_while_down() {
        let health = DatabaseHealth::new(Duration::from_secs(5));
        let up: Vec<u64> = (0..50).map(|_| health.retry_after_ms()).collect();
        assert!(up.iter().all(|ms| (1000..2000).contains(ms)), "{up:?}");
        assert!(up.iter().any(|ms| *ms != up[0]), "no jitter: {up:?}");
        health.failed("timed out");
        assert!((4000..8000).contains(&health.retry_after_ms()));
        health.succeeded();
        assert!(health.outage().is_none());
    }

    #[test]
    fn while_down_one_request_per_interval_tries_the_database() {
        let health = DatabaseHealth::new(Duration::from_secs(5));
        assert!(health.admit() && health.admit());
        health.failed("timed out");
        assert!(
            !health.admit(),
            "refused until an interval after the failure"
        );
        health.lock().last_trial = Instant::now().checked_sub(TRIAL_INTERVAL);
        assert!(health.admit(), "the trial");
        assert!(!health.admit(), "one trial per interval");
        assert_eq!(health.outage().map(|o| o.reason), Some("timed out".into()));
    }
}
