//! Downloads. `GET /v1/media/{id}` checks that the caller may see the item and answers with
//! short-lived signed URLs (presigned S3 URLs, or natter-signed ones for local files).
//! `GET /v1/media/{id}/content?variant=&expires=&sig=` serves natter-signed URLs, with single
//! byte ranges (`Range: bytes=a-b`, `a-`, `-n`).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use natter_entities::media;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use sea_orm::EntityTrait;
use serde::Deserialize;

use crate::v1::ApiContext;
use crate::v1::auth::Device;
use crate::v1::error::ApiError;
use crate::v1::media::access::may_download;
use crate::v1::media::signing::{Variant, download_url, verify};
use crate::v1::media::view::{DownloadView, MediaView};

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such media")
}

/// A media id from the path; anything but a number is `404 not_found`.
fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| not_found())
}

/// The live media row `media_id`, or `404 not_found`.
async fn live(ctx: &ApiContext, media_id: i64) -> Result<media::Model, ApiError> {
    match media::Entity::find_by_id(media_id)
        .one(&ctx.db)
        .await
        .map_err(|err| ApiError::internal(&err))?
    {
        Some(item) if item.deleted_at.is_none() => Ok(item),
        _ => Err(not_found()),
    }
}

pub(super) async fn describe(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<DownloadView>, ApiError> {
    let media_id = parse_id(&media_id)?;
    let item = live(&ctx, media_id).await?;
    let now = natter_accounts::now_ms();
    if !may_download(&ctx.db, identity.user_id, &item, now).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this media was not shared with you",
        ));
    }
    let ttl_ms = i64::try_from(ctx.settings.media.url_ttl().as_millis()).unwrap_or(i64::MAX);
    let expires_at = now.saturating_add(ttl_ms);
    let url = download_url(
        &ctx.settings,
        &headers,
        item.id,
        Variant::Original,
        &item.storage_key,
        expires_at,
    )
    .await?;
    let thumbnail_url = match &item.thumbnail_key {
        Some(key) => Some(
            download_url(
                &ctx.settings,
                &headers,
                item.id,
                Variant::Thumbnail,
                key,
                expires_at,
            )
            .await?,
        ),
        None => None,
    };
    Ok(Json(DownloadView {
        media: MediaView::of(&item),
        url,
        thumbnail_url,
        expires_at,
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct ContentQuery {
    variant: Variant,
    expires: i64,
    sig: String,
}

pub(super) async fn content(
    State(ctx): State<ApiContext>,
    Path(media_id): Path<String>,
    query: Result<Query<ContentQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let media_id = parse_id(&media_id)?;
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the link is incomplete (variant, expires and sig are required)",
        )
    })?;
    if !verify(
        &ctx.settings,
        media_id,
        query.variant,
        query.expires,
        &query.sig,
    )? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the link's signature is not valid",
        ));
    }
    if query.expires.saturating_mul(1000) < natter_accounts::now_ms() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "link_expired",
            "the link has expired; ask for a new one",
        ));
    }
    let item = live(&ctx, media_id).await?;
    let (key, mime) = match query.variant {
        Variant::Original => (item.storage_key.clone(), item.mime.clone()),
        Variant::Thumbnail => match &item.thumbnail_key {
            // A small image is its own thumbnail (the same object) and keeps its type.
            Some(key) if *key == item.storage_key => (key.clone(), item.mime.clone()),
            Some(key) => (key.clone(), "image/jpeg".to_owned()),
            None => return Err(not_found()),
        },
    };
    let location = ObjectPath::from(key);
    let store_error = |err: object_store::Error| match err {
        object_store::Error::NotFound { .. } => not_found(),
        other => ApiError::internal(&other),
    };
    let size = ctx.store.head(&location).await.map_err(store_error)?.size;
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(value) => Some(parse_range(value, size).ok_or_else(|| unsatisfiable(size))?),
    };
    let options = GetOptions::default().with_range(range.clone().map(GetRange::Bounded));
    let got = ctx
        .store
        .get_opts(&location, options)
        .await
        .map_err(store_error)?;
    let served = got.range.clone();
    let stream = got
        .into_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    let mut response = Body::from_stream(stream).into_response();
    let response_headers = response.headers_mut();
    let mut set = |name, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, mime);
    set(
        header::CONTENT_LENGTH,
        (served.end - served.start).to_string(),
    );
    set(header::ACCEPT_RANGES, "bytes".to_owned());
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned());
    set(
        header::CACHE_CONTROL,
        format!("private, max-age={}", ctx.settings.media.url_ttl_secs),
    );
    if item.kind == "file" || item.encrypted {
        set(header::CONTENT_DISPOSITION, "attachment".to_owned());
    }
    if range.is_some() {
        set(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{size}",
                served.start,
                served.end.saturating_sub(1)
            ),
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

/// `416 invalid_range` with `Content-Range: bytes */size`.
fn unsatisfiable(size: u64) -> ApiError {
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "invalid_range",
        format!("the range is not a single byte range within the file's {size} bytes"),
    )
}

/// A single `bytes=` range within `size`, as a half-open range; `None` when malformed, not
/// satisfiable or a multi-range (which natter does not serve).
fn parse_range(value: &HeaderValue, size: u64) -> Option<std::ops::Range<u64>> {
    let spec = value.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 {
            return None;
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = first.parse().ok()?;
        let end = if last.is_empty() {
            size
        } else {
            let last: u64 = last.parse().ok()?;
            if last < start {
                return None;
            }
            last.saturating_add(1).min(size)
        };
        start..end
    };
    (range.start < size && range.start < range.end).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str, size: u64) -> Option<std::ops::Range<u64>> {
        parse_range(&HeaderValue::from_str(value).expect("valid header"), size)
    }

    #[test]
    fn single_ranges_are_understood() {
        assert_eq!(parse("bytes=0-9", 100), Some(0..10));
        assert_eq!(parse("bytes=90-", 100), Some(90..100));
        assert_eq!(parse("bytes=-10", 100), Some(90..100));
        assert_eq!(parse("bytes=95-200", 100), Some(95..100));
        assert_eq!(parse("bytes=-500", 100), Some(0..100));
    }

    #[test]
    fn unsatisfiable_or_malformed_ranges_are_refused() {
        assert_eq!(parse("bytes=100-", 100), None);
        assert_eq!(parse("bytes=5-2", 100), None);
        assert_eq!(parse("bytes=0-1,5-6", 100), None);
        assert_eq!(parse("items=0-1", 100), None);
        assert_eq!(parse("bytes=-0", 100), None);
        assert_eq!(parse("bytes=x-y", 100), None);
    }
}
