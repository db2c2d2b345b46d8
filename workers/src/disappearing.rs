//! Disappearing messages: a message whose timer ran out (`messages.expires_at` in the past)
//! is deleted with its deliveries. Sync already hides it from the moment it expires; this job
//! frees the rows.

use natter_entities::{deliveries, messages};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use tracing::info;

use crate::error::{Error, Result};
use crate::telemetry::MESSAGES_EXPIRED;
use crate::{Outcome, WorkersContext};

/// Deletes up to `ctx.batch_size` messages that expired before `now_ms`.
///
/// # Errors
/// [`Error::Disappearing`] when the database fails; nothing is half-deleted (one transaction).
pub async fn run_once(ctx: &WorkersContext, now_ms: i64) -> Result<Outcome> {
    let expired: Vec<i64> = messages::Entity::find()
        .select_only()
        .column(messages::Column::Id)
        .filter(messages::Column::ExpiresAt.lt(now_ms))
        .limit(ctx.batch_size)
        .into_tuple()
        .all(&ctx.db)
        .await
        .map_err(Error::Disappearing)?;
    if expired.is_empty() {
        return Ok(Outcome::Idle);
    }
    let txn = ctx.db.begin().await.map_err(Error::Disappearing)?;
    deliveries::Entity::delete_many()
        .filter(deliveries::Column::MessageId.is_in(expired.iter().copied()))
        .exec(&txn)
        .await
        .map_err(Error::Disappearing)?;
    let deleted = messages::Entity::delete_many()
        .filter(messages::Column::Id.is_in(expired))
        .exec(&txn)
        .await
        .map_err(Error::Disappearing)?
        .rows_affected;
    txn.commit().await.map_err(Error::Disappearing)?;
    metrics::counter!(MESSAGES_EXPIRED).increment(deleted);
    info!(deleted, "deleted messages whose timer ran out");
    Ok(Outcome::Worked(deleted))
}
