//! Media collection: a media item goes once no live message carries it (none ever did, or
//! every one was deleted or has expired) and no live user has it as profile photo, after a
//! grace period from its upload (so that an upload has time to be sent); resumable uploads
//! that were never finished go when they expire, with their chunks.
//!
//! The row is deleted first, re-checking the rule in the same statement, and the objects
//! after: a crash in between leaks an object, never leaves a message pointing at nothing.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use natter_config::MediaSettings;
use natter_entities::{media, media_uploads, messages, users};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::{Outcome, WorkersContext};

/// What the media collector needs besides the database.
#[derive(Clone, Debug)]
pub struct MediaGc {
    /// The object store holding the media.
    pub store: Arc<dyn ObjectStore>,
    /// How long an unreferenced upload is kept.
    pub grace: Duration,
    /// How old an object under `uploads/` without an upload row must be before it goes: longer
    /// than a presigned PUT lives, so that a client still uploading is never cut off.
    pub stray_age: Duration,
}

impl MediaGc {
    /// A collector for `store` with the `[media]` settings.
    pub fn new(store: Arc<dyn ObjectStore>, settings: &MediaSettings) -> MediaGc {
        MediaGc {
            store,
            grace: settings.gc_grace(),
            stray_age: settings.gc_grace().max(settings.url_ttl() * 2),
        }
    }
}

/// Collects up to `ctx.batch_size` expired uploads and as many unreferenced media items.
/// Idle when `ctx.media` is unset (this process has no object store).
///
/// # Errors
/// [`Error::MediaGc`] when the database fails, [`Error::MediaStore`] when listing an
/// upload's chunks fails. Objects that cannot be deleted are logged and left behind.
pub async fn run_once(ctx: &WorkersContext, now_ms: i64) -> Result<Outcome> {
    let Some(gc) = &ctx.media else {
        return Ok(Outcome::Idle);
    };
    let uploads = collect_uploads(ctx, gc, now_ms).await?;
    let items = collect_media(ctx, gc, now_ms).await?;
    let strays = collect_stray_objects(ctx, gc, now_ms).await?;
    if uploads + items + strays == 0 {
        return Ok(Outcome::Idle);
    }
    info!(
        uploads,
        media = items,
        stray_objects = strays,
        "collected media"
    );
    Ok(Outcome::Worked(uploads + items + strays))
}

/// The rule: deleted, or older than the grace period with nothing referring to it.
fn collectable(now_ms: i64, grace: Duration) -> Condition {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now_ms.saturating_sub(grace_ms);
    let live_message = Query::select()
        .expr(Expr::val(1))
        .from(messages::Entity)
        .and_where(
            Expr::col((messages::Entity, messages::Column::MediaId))
                .equals((media::Entity, media::Column::Id)),
        )
        .and_where(Expr::col((messages::Entity, messages::Column::DeletedAt)).is_null())
        .cond_where(
            Condition::any()
                .add(Expr::col((messages::Entity, messages::Column::ExpiresAt)).is_null())
                .add(Expr::col((messages::Entity, messages::Column::ExpiresAt)).gt(now_ms)),
        )
        .to_owned();
    let avatar = Query::select()
        .expr(Expr::val(1))
        .from(users::Entity)
        .and_where(
            Expr::col((users::Entity, users::Column::AvatarMediaId))
                .equals((media::Entity, media::Column::Id)),
        )
        .and_where(Expr::col((users::Entity, users::Column::DeletedAt)).is_null())
        .to_owned();
    Condition::any()
        .add(media::Column::DeletedAt.is_not_null())
        .add(
            Condition::all()
                .add(media::Column::CreatedAt.lt(cutoff))
                .add(Expr::exists(live_message).not())
                .add(Expr::exists(avatar).not()),
        )
}

async fn collect_media(ctx: &WorkersContext, gc: &MediaGc, now_ms: i64) -> Result<u64> {
    let candidates = media::Entity::find()
        .filter(collectable(now_ms, gc.grace))
        .limit(ctx.batch_size)
        .all(&ctx.db)
        .await
        .map_err(Error::MediaGc)?;
    let mut collected = 0;
    for item in candidates {
        // Re-checked in the DELETE itself: a message that took the item meanwhile keeps it.
        let deleted = media::Entity::delete_many()
            .filter(media::Column::Id.eq(item.id))
            .filter(collectable(now_ms, gc.grace))
            .exec(&ctx.db)
            .await
            .map_err(Error::MediaGc)?
            .rows_affected;
        if deleted == 0 {
            continue;
        }
        collected += 1;
        for key in std::iter::once(&item.storage_key).chain(item.thumbnail_key.as_ref()) {
            delete_object(gc, &ObjectPath::from(key.as_str())).await;
        }
    }
    Ok(collected)
}

async fn collect_uploads(ctx: &WorkersContext, gc: &MediaGc, now_ms: i64) -> Result<u64> {
    let expired = media_uploads::Entity::find()
        .filter(media_uploads::Column::ExpiresAt.lt(now_ms))
        .limit(ctx.batch_size)
        .all(&ctx.db)
        .await
        .map_err(Error::MediaGc)?;
    let mut collected = 0;
    for upload in expired {
        let prefix = ObjectPath::from(format!("uploads/{}/", upload.id));
        let chunks: Vec<ObjectPath> = gc
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(Error::MediaStore)?;
        for chunk in chunks {
            delete_object(gc, &chunk).await;
        }
        collected += media_uploads::Entity::delete_by_id(upload.id)
            .exec(&ctx.db)
            .await
            .map_err(Error::MediaGc)?
            .rows_affected;
    }
    Ok(collected)
}

/// Objects under `uploads/{id}/` whose upload row is gone (a presigned PUT replayed after
/// `complete`, a chunk whose row update lost a race, a removal that failed), once older than
/// `gc.stray_age`. At most `ctx.batch_size` uploads' objects per round.
async fn collect_stray_objects(ctx: &WorkersContext, gc: &MediaGc, now_ms: i64) -> Result<u64> {
    let age_ms = i64::try_from(gc.stray_age.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now_ms.saturating_sub(age_ms);
    let listing = match gc
        .store
        .list_with_delimiter(Some(&ObjectPath::from("uploads")))
        .await
    {
        Ok(listing) => listing,
        Err(object_store::Error::NotFound { .. }) => return Ok(0),
        Err(err) => return Err(Error::MediaStore(err)),
    };
    let mut deleted = 0;
    let batch = usize::try_from(ctx.batch_size).unwrap_or(usize::MAX);
    for prefix in listing.common_prefixes.into_iter().take(batch) {
        let Some(upload_id) = prefix.filename() else {
            continue;
        };
        let live = media_uploads::Entity::find_by_id(upload_id.to_owned())
            .one(&ctx.db)
            .await
            .map_err(Error::MediaGc)?
            .is_some();
        if live {
            continue;
        }
        let stale: Vec<ObjectPath> = gc
            .store
            .list(Some(&prefix))
            .try_filter(|meta| std::future::ready(meta.last_modified.timestamp_millis() < cutoff))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(Error::MediaStore)?;
        for location in stale {
            delete_object(gc, &location).await;
            deleted += 1;
        }
    }
    Ok(deleted)
}

async fn delete_object(gc: &MediaGc, location: &ObjectPath) {
    match gc.store.delete(location).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(err) => {
            warn!(key = %location, error = %err, "could not delete a media object; it is left behind");
        }
    }
}
