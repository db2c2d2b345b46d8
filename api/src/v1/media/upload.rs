//! `POST /v1/media?kind=image&encrypted=false`: one upload in one request, the body streamed
//! to disk (never held in memory) and cut off at its kind's limit.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use natter_media::Kind;
use natter_media::sniff::SNIFF_LEN;
use serde::Deserialize;

use crate::v1::ApiContext;
use crate::v1::auth::Device;
use crate::v1::error::ApiError;
use crate::v1::media::finish::{check_quota, finish, largest_limit, limit_for, resolve};
use crate::v1::media::staging::{Writer, too_large};
use crate::v1::media::view::MediaView;

/// Query of an upload.
#[derive(Debug, Deserialize)]
pub(super) struct UploadQuery {
    /// `image`, `audio` (or `voice`), `video` or `file`; unset: from the bytes.
    kind: Option<String>,
    /// Whether the bytes are end-to-end encrypted (stored untouched).
    #[serde(default)]
    encrypted: bool,
}

/// Parses an optional kind; `400 invalid_kind` when it is not one.
pub(super) fn parse_kind(kind: Option<&str>) -> Result<Option<Kind>, ApiError> {
    kind.filter(|kind| !kind.is_empty())
        .map(|kind| {
            kind.parse::<Kind>()
                .map_err(|err| ApiError::bad_request("invalid_kind", err.to_string()))
        })
        .transpose()
}

pub(super) async fn upload(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let declared = parse_kind(query.kind.as_deref())?;
    let media = &ctx.settings.media;
    let ceiling = declared.map_or_else(|| largest_limit(media), |kind| limit_for(media, kind));
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > ceiling) {
        return Err(too_large(ceiling));
    }
    check_quota(&ctx, identity.user_id, 0).await?;

    let mut writer = Writer::create(&ctx.settings, ceiling).await?;
    let mut kind_known = false;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::bad_request(
                "upload_interrupted",
                format!("the upload body could not be read: {err}"),
            )
        })?;
        writer.write(&chunk).await?;
        if !kind_known && writer.head().len() >= SNIFF_LEN {
            // Cut an oversized upload off at its own kind's limit, not the largest one.
            let resolved = resolve(declared, query.encrypted, writer.head())?;
            writer.set_limit(limit_for(media, resolved.kind))?;
            kind_known = true;
        }
    }
    let staged = writer.finish().await?;
    let finished = finish(&ctx, identity.user_id, staged, declared, query.encrypted).await?;
    let mut view = MediaView::of(&finished.media);
    view.deduplicated = Some(finished.deduplicated);
    let status = if finished.deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view)))
}
