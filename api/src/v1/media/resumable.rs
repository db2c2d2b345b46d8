//! Resumable uploads for large files: `POST /v1/media/uploads` announces the size, chunks
//! follow with `PUT /v1/media/uploads/{id}` and an `Upload-Offset` header (each chunk an
//! object under `uploads/{id}/`, so any node can take the next one), `GET` tells where to
//! resume, and `POST .../complete` assembles, processes and stores. With S3 the answer also
//! carries a presigned PUT: the client may instead send the whole file straight to S3.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use futures_util::{StreamExt, TryStreamExt};
use natter_entities::media_uploads;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use crate::v1::ApiContext;
use crate::v1::auth::Device;
use crate::v1::error::{ApiError, ApiJson};
use crate::v1::media::finish::{check_quota, finish, largest_limit, limit_for};
use crate::v1::media::signing::upload_url;
use crate::v1::media::staging::{Writer, too_large};
use crate::v1::media::upload::parse_kind;
use crate::v1::media::view::MediaView;

/// Header carrying a chunk's offset.
const UPLOAD_OFFSET: &str = "upload-offset";

#[derive(Debug, Deserialize)]
pub(super) struct StartRequest {
    /// Total size in bytes.
    size: u64,
    kind: Option<String>,
    #[serde(default)]
    encrypted: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct UploadView {
    upload_id: String,
    size: i64,
    offset: i64,
    chunk_max_bytes: u64,
    expires_at: i64,
    /// A presigned S3 PUT for the whole file, when the store is S3.
    #[serde(skip_serializing_if = "Option::is_none")]
    put_url: Option<String>,
}

fn view(
    upload: &media_uploads::Model,
    chunk_max_bytes: u64,
    put_url: Option<String>,
) -> UploadView {
    UploadView {
        upload_id: upload.id.clone(),
        size: upload.size_bytes,
        offset: upload.received_bytes,
        chunk_max_bytes,
        expires_at: upload.expires_at,
        put_url,
    }
}

fn chunk_prefix(upload_id: &str) -> String {
    format!("uploads/{upload_id}/")
}

fn direct_key(upload_id: &str) -> String {
    format!("uploads/{upload_id}/direct")
}

pub(super) async fn start(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    ApiJson(request): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    let declared = parse_kind(request.kind.as_deref())?;
    let media = &ctx.settings.media;
    let limit = declared.map_or_else(|| largest_limit(media), |kind| limit_for(media, kind));
    if request.size == 0 {
        return Err(ApiError::bad_request(
            "empty_upload",
            "size must be at least 1",
        ));
    }
    if request.size > limit {
        return Err(too_large(limit));
    }
    check_quota(&ctx, identity.user_id, 0).await?;
    let now = natter_accounts::now_ms();
    let ttl_ms = i64::try_from(media.upload_ttl().as_millis()).unwrap_or(i64::MAX);
    let upload_id = uuid::Uuid::new_v4().simple().to_string();
    let put_url = upload_url(&ctx.settings, &direct_key(&upload_id), media.url_ttl()).await?;
    let upload = media_uploads::ActiveModel {
        id: Set(upload_id),
        owner_user_id: Set(identity.user_id),
        kind: Set(declared.map(|kind| kind.as_str().to_owned())),
        encrypted: Set(request.encrypted),
        size_bytes: Set(i64::try_from(request.size).unwrap_or(i64::MAX)),
        received_bytes: Set(0),
        direct: Set(put_url.is_some()),
        created_at: Set(now),
        expires_at: Set(now.saturating_add(ttl_ms)),
    }
    .insert(&ctx.db)
    .await
    .map_err(|err| ApiError::internal(&err))?;
    Ok((
        StatusCode::CREATED,
        Json(view(&upload, media.chunk_max_bytes, put_url)),
    ))
}

/// The caller's live upload `upload_id`, or `404 not_found`.
async fn find(
    ctx: &ApiContext,
    owner: i64,
    upload_id: &str,
) -> Result<media_uploads::Model, ApiError> {
    let upload = media_uploads::Entity::find_by_id(upload_id.to_owned())
        .one(&ctx.db)
        .await
        .map_err(|err| ApiError::internal(&err))?;
    match upload {
        Some(upload)
            if upload.owner_user_id == owner && upload.expires_at > natter_accounts::now_ms() =>
        {
            Ok(upload)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such upload (finished, expired or never started)",
        )),
    }
}

pub(super) async fn status(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Path(upload_id): Path<String>,
) -> Result<Json<UploadView>, ApiError> {
    let upload = find(&ctx, identity.user_id, &upload_id).await?;
    Ok(Json(view(
        &upload,
        ctx.settings.media.chunk_max_bytes,
        None,
    )))
}

pub(super) async fn chunk(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Path(upload_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UploadView>, ApiError> {
    let upload = find(&ctx, identity.user_id, &upload_id).await?;
    let offset = headers
        .get(UPLOAD_OFFSET)
        .and_then(|value| value.to_str().ok())
        // Parsed unsigned: a negative offset is malformed (400), not a position elsewhere
        // in the upload (409).
        .and_then(|value| value.trim().parse::<u64>().ok())
        .and_then(|value| i64::try_from(value).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_offset",
                "send the chunk's position as an Upload-Offset header (a whole number, 0 or more)",
            )
        })?;
    if offset != upload.received_bytes {
        return Err(offset_mismatch(upload.received_bytes));
    }
    let chunk_max = ctx.settings.media.chunk_max_bytes;
    let room = u64::try_from(upload.size_bytes - upload.received_bytes).unwrap_or(0);
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|err| {
            ApiError::bad_request(
                "upload_interrupted",
                format!("the chunk could not be read: {err}"),
            )
        })?;
        bytes.extend_from_slice(&piece);
        if bytes.len() as u64 > chunk_max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("a chunk may hold at most {chunk_max} bytes"),
            ));
        }
        if bytes.len() as u64 > room {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the chunk goes past the announced size of {} bytes",
                    upload.size_bytes
                ),
            ));
        }
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_upload",
            "the chunk has no bytes",
        ));
    }
    let length = bytes.len() as i64;
    // A random suffix: two racing copies of one chunk never overwrite each other's object.
    let key = format!(
        "{}{offset:020}-{}",
        chunk_prefix(&upload.id),
        uuid::Uuid::new_v4().simple()
    );
    let location = ObjectPath::from(key);
    ctx.store
        .put(&location, PutPayload::from(bytes))
        .await
        .map_err(|err| ApiError::internal(&err))?;
    let moved = media_uploads::Entity::update_many()
        .col_expr(
            media_uploads::Column::ReceivedBytes,
            sea_orm::sea_query::Expr::value(offset + length),
        )
        .filter(media_uploads::Column::Id.eq(upload.id.as_str()))
        .filter(media_uploads::Column::ReceivedBytes.eq(offset))
        .exec(&ctx.db)
        .await
        .map_err(|err| ApiError::internal(&err))?;
    if moved.rows_affected == 0 {
        ctx.store.delete(&location).await.ok();
        let now = find(&ctx, identity.user_id, &upload_id).await?;
        return Err(offset_mismatch(now.received_bytes));
    }
    let mut upload = upload;
    upload.received_bytes = offset + length;
    Ok(Json(view(&upload, chunk_max, None)))
}

fn offset_mismatch(expected: i64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "offset_mismatch",
        format!("the upload continues at offset {expected}"),
    )
}

pub(super) async fn complete(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Path(upload_id): Path<String>,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
    let upload = find(&ctx, identity.user_id, &upload_id).await?;
    let declared = parse_kind(upload.kind.as_deref())?;
    let limit = u64::try_from(upload.size_bytes).unwrap_or(0);
    let mut writer = Writer::create(&ctx.settings, limit).await?;
    if upload.received_bytes == upload.size_bytes {
        assemble_chunks(ctx.store.as_ref(), &upload, &mut writer).await?;
    } else if upload.received_bytes == 0 && upload.direct {
        copy_direct(ctx.store.as_ref(), &upload, &mut writer).await?;
    } else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "incomplete_upload",
            format!(
                "{} of {} bytes received",
                upload.received_bytes, upload.size_bytes
            ),
        ));
    }
    let staged = writer.finish().await?;
    let outcome = finish(&ctx, identity.user_id, staged, declared, upload.encrypted).await;
    // Done, or refused for good (wrong type, too large, over quota): either way the chunks
    // have served. A server failure keeps them so that the client can complete again.
    let retryable = matches!(&outcome, Err(err) if err.status.is_server_error());
    if !retryable {
        remove(&ctx, upload).await;
    }
    let finished = outcome?;
    let mut view = MediaView::of(&finished.media);
    view.deduplicated = Some(finished.deduplicated);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Streams the chunks, in offset order, into `writer`.
async fn assemble_chunks(
    store: &dyn ObjectStore,
    upload: &media_uploads::Model,
    writer: &mut Writer,
) -> Result<(), ApiError> {
    let store_error = |err: object_store::Error| ApiError::internal(&err);
    let prefix = ObjectPath::from(chunk_prefix(&upload.id));
    let mut chunks: Vec<(i64, ObjectPath)> = store
        .list(Some(&prefix))
        .map_ok(|meta| meta.location)
        .try_collect::<Vec<_>>()
        .await
        .map_err(store_error)?
        .into_iter()
        .filter_map(|location| {
            let name = location.filename()?.to_owned();
            let offset = name.split('-').next()?.parse::<i64>().ok()?;
            Some((offset, location))
        })
        .collect();
    chunks.sort_by_key(|(offset, _)| *offset);
    for (offset, location) in chunks {
        // Strays of a lost race sit at offsets already covered: skip them.
        if offset != i64::try_from(writer.size()).unwrap_or(i64::MAX) {
            continue;
        }
        let mut stream = store
            .get(&location)
            .await
            .map_err(store_error)?
            .into_stream();
        while let Some(bytes) = stream.next().await {
            writer.write(&bytes.map_err(store_error)?).await?;
        }
    }
    if i64::try_from(writer.size()).unwrap_or(i64::MAX) != upload.size_bytes {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "incomplete_upload",
            "the stored chunks do not add up to the announced size; resume the upload",
        ));
    }
    Ok(())
}

/// Streams the file the client PUT straight to S3 into `writer`.
async fn copy_direct(
    store: &dyn ObjectStore,
    upload: &media_uploads::Model,
    writer: &mut Writer,
) -> Result<(), ApiError> {
    let location = ObjectPath::from(direct_key(&upload.id));
    let got = match store.get(&location).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "incomplete_upload",
                "nothing was uploaded yet: PUT the file to put_url or send chunks",
            ));
        }
        Err(err) => return Err(ApiError::internal(&err)),
    };
    let mut stream = got.into_stream();
    while let Some(bytes) = stream.next().await {
        writer
            .write(&bytes.map_err(|err| ApiError::internal(&err))?)
            .await?;
    }
    Ok(())
}

/// Deletes an upload's objects and row; failures are left to the collector.
async fn remove(ctx: &ApiContext, upload: media_uploads::Model) {
    let prefix = ObjectPath::from(chunk_prefix(&upload.id));
    let locations: Vec<ObjectPath> = ctx
        .store
        .list(Some(&prefix))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .unwrap_or_default();
    for location in locations {
        ctx.store.delete(&location).await.ok();
    }
    if let Err(err) = upload.into_active_model().delete(&ctx.db).await {
        tracing::warn!(error = %err, "could not remove a finished upload; the collector will");
    }
}
