//! Retention: a delivery still pending after the retention period (30 days by default) is
//! dropped and counted. Delivered and read state is kept; the message rows themselves are
//! the messaging layer's business.

use natter_entities::deliveries;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use tracing::info;

use crate::error::{Error, Result};
use crate::telemetry::UNDELIVERED_DROPPED;
use crate::{Outcome, WorkersContext};

/// Drops up to `ctx.batch_size` pending deliveries created before `now_ms - ctx.retention`.
///
/// # Errors
/// [`Error::Retention`] when the database fails; nothing is half-deleted (one transaction).
pub async fn run_once(ctx: &WorkersContext, now_ms: i64) -> Result<Outcome> {
    let retention_ms = i64::try_from(ctx.retention.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now_ms.saturating_sub(retention_ms);
    let expired: Vec<(i64, i64)> = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::MessageId)
        .column(deliveries::Column::RecipientUserId)
        .filter(deliveries::Column::Status.eq(deliveries::STATUS_PENDING))
        .filter(deliveries::Column::CreatedAt.lt(cutoff))
        .limit(ctx.batch_size)
        .into_tuple()
        .all(&ctx.db)
        .await
        .map_err(Error::Retention)?;
    if expired.is_empty() {
        return Ok(Outcome::Idle);
    }
    let keys = expired
        .iter()
        .fold(Condition::any(), |any, (message_id, recipient)| {
            any.add(
                Condition::all()
                    .add(deliveries::Column::MessageId.eq(*message_id))
                    .add(deliveries::Column::RecipientUserId.eq(*recipient)),
            )
        });
    let txn = ctx.db.begin().await.map_err(Error::Retention)?;
    let deleted = deliveries::Entity::delete_many()
        .filter(keys)
        // Re-check inside the transaction: a delivery acknowledged meanwhile stays.
        .filter(deliveries::Column::Status.eq(deliveries::STATUS_PENDING))
        .exec(&txn)
        .await
        .map_err(Error::Retention)?
        .rows_affected;
    txn.commit().await.map_err(Error::Retention)?;
    metrics::counter!(UNDELIVERED_DROPPED).increment(deleted);
    info!(
        dropped = deleted,
        cutoff_ms = cutoff,
        "dropped undelivered messages past retention"
    );
    Ok(Outcome::Worked(deleted))
}
