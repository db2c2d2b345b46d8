//! natter's background jobs. Each job exposes `run_once(&ctx) -> Outcome`; [`run`] calls
//! every job until all are idle, waits for the interval, and repeats until shutdown.
//!
//! Jobs so far: retention (undelivered messages past the retention period are dropped and
//! counted) and disappearing messages (deleted when their timer runs out). Push, archiving
//! and backup come later.

pub mod disappearing;
mod error;
pub mod media_gc;
pub mod retention;
mod telemetry;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use natter_config::WorkersSettings;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub use error::{Error, Result};

/// What the jobs need.
#[derive(Clone, Debug)]
pub struct WorkersContext {
    /// The database.
    pub db: DatabaseConnection,
    /// How long an undelivered message is kept.
    pub retention: Duration,
    /// How long to wait between rounds once every job is idle.
    pub interval: Duration,
    /// The most rows one `run_once` touches, so that a backlog never holds a long transaction.
    pub batch_size: u64,
    /// The media collector's store and grace period; `None`: media are not collected here.
    pub media: Option<media_gc::MediaGc>,
}

impl WorkersContext {
    /// A context from the `[workers]` settings.
    pub fn new(db: DatabaseConnection, settings: &WorkersSettings) -> WorkersContext {
        WorkersContext {
            db,
            retention: Duration::from_secs(u64::from(settings.retention_days) * 24 * 60 * 60),
            interval: Duration::from_millis(settings.interval_ms),
            batch_size: settings.batch_size,
            media: None,
        }
    }
}

/// What one `run_once` of a job did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It processed this many items; there may be more.
    Worked(u64),
    /// There was nothing to do.
    Idle,
}

/// Runs every job until `shutdown` is cancelled. A failing round is logged and retried at the
/// next interval: a database that went away must not end the process.
///
/// # Errors
/// None so far; the signature leaves room for fatal set-up errors.
pub async fn run(ctx: WorkersContext, shutdown: CancellationToken) -> Result<()> {
    telemetry::describe();
    loop {
        for job in Job::ALL {
            // Check for cancellation between units of work, never inside one.
            while !shutdown.is_cancelled() {
                match job.run_once(&ctx, now_ms()).await {
                    Ok(Outcome::Worked(_)) => continue,
                    Ok(Outcome::Idle) => break,
                    Err(err) => {
                        warn!(job = ?job, error = %err, error.chain = ?err, "job round failed");
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(ctx.interval) => {}
        }
    }
}

/// The background jobs, in the order each round runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Undelivered messages past the retention period: [`retention`].
    Retention,
    /// Messages whose disappearing timer ran out: [`disappearing`].
    Disappearing,
    /// Media no message refers to any more, and abandoned uploads: [`media_gc`].
    MediaGc,
}

impl Job {
    /// Every job.
    pub const ALL: [Job; 3] = [Job::Retention, Job::Disappearing, Job::MediaGc];

    /// One unit of this job's work at time `now_ms`.
    ///
    /// # Errors
    /// The job's own error; the loop logs it and tries again next round.
    pub async fn run_once(self, ctx: &WorkersContext, now_ms: i64) -> Result<Outcome> {
        match self {
            Job::Retention => retention::run_once(ctx, now_ms).await,
            Job::Disappearing => disappearing::run_once(ctx, now_ms).await,
            Job::MediaGc => media_gc::run_once(ctx, now_ms).await,
        }
    }
}

/// Milliseconds since the Unix epoch, the unit of every `*_at` column.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
