//! From a staged upload to a stored media item: the kind from the bytes, the per-kind limit,
//! per-user deduplication, the quota, processing (images re-encoded, voice and video
//! transcoded, encrypted bytes untouched), the objects written and the row inserted.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use metrics::gauge;
use natter_config::{MediaSettings, Settings, StorageBackend};
use natter_entities::media;
use natter_media::image::{ImageOptions, process_image, thumbnail_of};
use natter_media::{Kind, sniff};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncReadExt;

use crate::metrics::MEDIA_PIXELS_IN_FLIGHT;
use crate::v1::ApiContext;
use crate::v1::error::ApiError;
use crate::v1::media::runtime::{
    pixel_budget, pixel_permits, processing_permits, staging_dir, transcoder,
};
use crate::v1::media::staging::{Staged, too_large};

/// Objects up to this size are written in one PUT; larger ones as multipart uploads.
const SINGLE_PUT_MAX: u64 = 8 * 1024 * 1024;
/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// The kind and type of an upload.
#[derive(Clone, Copy, Debug)]
pub(super) struct Resolved {
    pub(super) kind: Kind,
    pub(super) mime: &'static str,
}

/// Decides an upload's kind and type from its first bytes. Encrypted uploads are opaque: the
/// client's kind counts (for the limit) and the type is `application/octet-stream`. Otherwise
/// a declared kind must match the bytes (`file` accepts anything).
pub(super) fn resolve(
    declared: Option<Kind>,
    encrypted: bool,
    head: &[u8],
) -> Result<Resolved, ApiError> {
    if encrypted {
        return Ok(Resolved {
            kind: declared.unwrap_or(Kind::File),
            mime: "application/octet-stream",
        });
    }
    let sniffed = sniff(head);
    match declared {
        None | Some(Kind::File) => Ok(Resolved {
            kind: declared.unwrap_or(sniffed.kind),
            mime: sniffed.mime,
        }),
        Some(kind) if kind == sniffed.kind => Ok(Resolved {
            kind,
            mime: sniffed.mime,
        }),
        Some(kind) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_type",
            match kind {
                Kind::Image => format!(
                    "the bytes are {}, not a JPEG, PNG, WebP or GIF image",
                    sniffed.mime
                ),
                _ => format!("the bytes are {}, not {kind}", sniffed.mime),
            },
        )),
    }
}

/// The size limit of `kind`.
pub(super) fn limit_for(settings: &MediaSettings, kind: Kind) -> u64 {
    match kind {
        Kind::Image => settings.image_max_bytes,
        Kind::Audio => settings.audio_max_bytes,
        Kind::Video => settings.video_max_bytes,
        Kind::File => settings.file_max_bytes,
    }
}

/// The largest limit of any kind: what an upload of unknown kind may reach.
pub(super) fn largest_limit(settings: &MediaSettings) -> u64 {
    [Kind::Image, Kind::Audio, Kind::Video, Kind::File]
        .into_iter()
        .map(|kind| limit_for(settings, kind))
        .max()
        .unwrap_or(0)
}

/// Bytes of live media `owner` holds.
pub(super) async fn quota_used(ctx: &ApiContext, owner: i64) -> Result<u64, ApiError> {
    // PostgreSQL sums BIGINT into NUMERIC: cast back so that both backends return an i64.
    let used: Option<i64> = media::Entity::find()
        .select_only()
        .expr(Expr::cust("CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT)"))
        .filter(media::Column::OwnerUserId.eq(owner))
        .filter(media::Column::DeletedAt.is_null())
        .into_tuple()
        .one(&ctx.db)
        .await
        .map_err(|err| ApiError::internal(&err))?;
    Ok(u64::try_from(used.unwrap_or(0)).unwrap_or(0))
}

/// `413 quota_exceeded` unless `owner` has room for `more` bytes.
pub(super) async fn check_quota(ctx: &ApiContext, owner: i64, more: u64) -> Result<(), ApiError> {
    let used = quota_used(ctx, owner).await?;
    let quota = ctx.settings.media.quota_bytes;
    if used.saturating_add(more) > quota || (more == 0 && used >= quota) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota_exceeded",
            format!("storing this would exceed your media quota ({used} of {quota} bytes used)"),
        ));
    }
    Ok(())
}

/// A stored upload, and whether it was an earlier upload of the same bytes.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) media: media::Model,
    pub(super) deduplicated: bool,
}

/// Processes and stores `staged` for `owner`.
pub(super) async fn finish(
    ctx: &ApiContext,
    owner: i64,
    staged: Staged,
    declared: Option<Kind>,
    encrypted: bool,
) -> Result<Finished, ApiError> {
    if staged.size == 0 {
        return Err(ApiError::bad_request(
            "empty_upload",
            "the upload has no bytes",
        ));
    }
    let resolved = resolve(declared, encrypted, &staged.head)?;
    let limit = limit_for(&ctx.settings.media, resolved.kind);
    if staged.size > limit {
        return Err(too_large(limit));
    }
    if let Some(existing) = media::Entity::find()
        .filter(media::Column::OwnerUserId.eq(owner))
        .filter(media::Column::SourceSha256.eq(staged.sha256.as_str()))
        .filter(media::Column::Encrypted.eq(encrypted))
        .filter(media::Column::DeletedAt.is_null())
        .one(&ctx.db)
        .await
        .map_err(|err| ApiError::internal(&err))?
    {
        return Ok(Finished {
            media: existing,
            deduplicated: true,
        });
    }
    check_quota(ctx, owner, 0).await?;
    let output = {
        // Pixels first, then a processing slot (always in this order): an image waiting for
        // memory does not hold a slot that a small upload could use.
        let pixels = pixels_to_decode(&ctx.settings, resolved, encrypted, &staged).await?;
        let _pixels = match pixels {
            Some(pixels) => Some(PixelsInFlight::reserve(&ctx.settings, pixels).await?),
            None => None,
        };
        let _permit = processing_permits(&ctx.settings)
            .acquire()
            .await
            .map_err(|err| ApiError::internal(&err))?;
        process(&ctx.settings, resolved, encrypted, &staged).await?
    };
    let body_size = output.body.size(staged.size).await?;
    let thumbnail_size = output
        .thumbnail
        .as_ref()
        .map_or(0, |bytes| bytes.len() as u64);
    check_quota(ctx, owner, body_size + thumbnail_size).await?;

    let object_id = uuid::Uuid::new_v4().simple().to_string();
    let storage_key = format!("media/{owner}/{object_id}");
    let s3 = ctx.settings.storage.backend == StorageBackend::S3;
    let disposition = matches!(resolved.kind, Kind::File) || encrypted;
    let (sha256, stored_size) = put_object(
        ctx.store.as_ref(),
        &storage_key,
        &output.body,
        attributes(s3, output.mime, disposition),
    )
    .await?;
    // A small image is its own thumbnail: one object, named twice (never a thumbnail larger
    // than the image).
    let mut thumbnail_key = output.own_thumbnail.then(|| storage_key.clone());
    if let Some(thumbnail) = output.thumbnail {
        let key = format!("{storage_key}.thumb.jpg");
        let stored = put_object(
            ctx.store.as_ref(),
            &key,
            &Body::Memory(thumbnail),
            attributes(s3, "image/jpeg", false),
        )
        .await;
        if let Err(err) = stored {
            discard(ctx.store.as_ref(), &[storage_key.as_str()]).await;
            return Err(err);
        }
        thumbnail_key = Some(key);
    }
    let row = media::ActiveModel {
        owner_user_id: Set(owner),
        sha256: Set(sha256),
        mime: Set(output.mime.to_owned()),
        size_bytes: Set(i64::try_from(stored_size).unwrap_or(i64::MAX)),
        storage_key: Set(storage_key.clone()),
        thumbnail_key: Set(thumbnail_key.clone()),
        encrypted: Set(encrypted),
        created_at: Set(natter_accounts::now_ms()),
        kind: Set(resolved.kind.as_str().to_owned()),
        width: Set(output.width.and_then(|value| i32::try_from(value).ok())),
        height: Set(output.height.and_then(|value| i32::try_from(value).ok())),
        duration_ms: Set(output.duration_ms),
        source_sha256: Set(Some(staged.sha256.clone())),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await;
    match row {
        Ok(media) => Ok(Finished {
            media,
            deduplicated: false,
        }),
        Err(err) => {
            let mut keys = vec![storage_key.as_str()];
            keys.extend(thumbnail_key.as_deref().filter(|key| *key != storage_key));
            discard(ctx.store.as_ref(), &keys).await;
            Err(ApiError::internal(&err))
        }
    }
}

/// Pixels an image upload will decode to, from its header; `None` for what is not decoded here.
async fn pixels_to_decode(
    settings: &Settings,
    resolved: Resolved,
    encrypted: bool,
    staged: &Staged,
) -> Result<Option<u64>, ApiError> {
    if encrypted || resolved.kind != Kind::Image {
        return Ok(None);
    }
    let input = tokio::fs::read(&staged.path)
        .await
        .map_err(|err| ApiError::internal(&err))?;
    let options = image_options(&settings.media);
    natter_media::image::pixels_to_decode(&input, &options)
        .map(Some)
        .map_err(media_error)
}

/// A share of the process's pixel budget, given back (and the gauge lowered) on drop.
struct PixelsInFlight {
    _permit: tokio::sync::SemaphorePermit<'static>,
    permits: u32,
}

impl PixelsInFlight {
    async fn reserve(settings: &Settings, pixels: u64) -> Result<PixelsInFlight, ApiError> {
        let permits = pixel_permits(settings, pixels);
        let permit = pixel_budget(settings)
            .acquire_many(permits)
            .await
            .map_err(|err| ApiError::internal(&err))?;
        gauge!(MEDIA_PIXELS_IN_FLIGHT).increment(f64::from(permits));
        Ok(PixelsInFlight {
            _permit: permit,
            permits,
        })
    }
}

impl Drop for PixelsInFlight {
    fn drop(&mut self) {
        gauge!(MEDIA_PIXELS_IN_FLIGHT).decrement(f64::from(self.permits));
    }
}

/// What processing produced.
struct Output {
    body: Body,
    mime: &'static str,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<i64>,
    thumbnail: Option<Vec<u8>>,
    /// The stored image serves as its own thumbnail.
    own_thumbnail: bool,
}

/// Bytes to store: in memory, or a file (the staged upload itself or a transcode).
enum Body {
    Memory(Vec<u8>),
    File(PathBuf, Option<TempPath>),
}

impl Body {
    async fn size(&self, staged_size: u64) -> Result<u64, ApiError> {
        match self {
            Body::Memory(bytes) => Ok(bytes.len() as u64),
            Body::File(_, None) => Ok(staged_size),
            Body::File(path, Some(_)) => tokio::fs::metadata(path)
                .await
                .map(|meta| meta.len())
                .map_err(|err| ApiError::internal(&err)),
        }
    }
}

async fn process(
    settings: &Settings,
    resolved: Resolved,
    encrypted: bool,
    staged: &Staged,
) -> Result<Output, ApiError> {
    let as_uploaded = |mime| Output {
        body: Body::File(staged.path.to_path_buf(), None),
        mime,
        width: None,
        height: None,
        duration_ms: None,
        thumbnail: None,
        own_thumbnail: false,
    };
    if encrypted {
        // The client compressed before it encrypted; the server cannot and must not look.
        return Ok(as_uploaded(resolved.mime));
    }
    match resolved.kind {
        Kind::Image => {
            let input = tokio::fs::read(&staged.path)
                .await
                .map_err(|err| ApiError::internal(&err))?;
            let options = image_options(&settings.media);
            let processed = tokio::task::spawn_blocking(move || process_image(&input, &options))
                .await
                .map_err(|err| ApiError::internal(&err))?
                .map_err(media_error)?;
            Ok(Output {
                body: Body::Memory(processed.bytes),
                mime: processed.mime,
                width: Some(processed.width),
                height: Some(processed.height),
                duration_ms: None,
                own_thumbnail: processed.thumbnail.is_none(),
                thumbnail: processed.thumbnail,
            })
        }
        Kind::Audio => {
            let Some(transcoder) = transcoder(settings).await else {
                return Ok(as_uploaded(resolved.mime));
            };
            let output = temp_path(settings)?;
            let done = transcoder
                .voice(&staged.path, &output)
                .await
                .map_err(media_error)?;
            Ok(Output {
                body: Body::File(output.to_path_buf(), Some(output)),
                mime: "audio/ogg",
                width: None,
                height: None,
                duration_ms: done.duration_ms,
                thumbnail: None,
                own_thumbnail: false,
            })
        }
        Kind::Video => {
            let Some(transcoder) = transcoder(settings).await else {
                return Ok(as_uploaded(resolved.mime));
            };
            let output = temp_path(settings)?;
            let done = transcoder
                .video(&staged.path, &output)
                .await
                .map_err(media_error)?;
            let thumbnail = poster(settings, &transcoder, &output).await;
            Ok(Output {
                body: Body::File(output.to_path_buf(), Some(output)),
                mime: "video/mp4",
                width: None,
                height: None,
                duration_ms: done.duration_ms,
                thumbnail,
                own_thumbnail: false,
            })
        }
        Kind::File => Ok(as_uploaded(resolved.mime)),
    }
}

/// A thumbnail from the first frame of a transcoded video; none if that fails (the video
/// itself is fine).
async fn poster(
    settings: &Settings,
    transcoder: &natter_media::ffmpeg::Transcoder,
    video: &Path,
) -> Option<Vec<u8>> {
    let frame = temp_path(settings).ok()?;
    transcoder.poster(video, &frame).await.ok()?;
    let png = tokio::fs::read(&frame).await.ok()?;
    let options = image_options(&settings.media);
    tokio::task::spawn_blocking(move || thumbnail_of(&png, &options).ok())
        .await
        .ok()
        .flatten()
}

fn image_options(settings: &MediaSettings) -> ImageOptions {
    ImageOptions {
        max_dimension: settings.image_max_dimension,
        quality: settings.image_quality,
        thumbnail_max_dimension: settings.thumbnail_max_dimension,
        thumbnail_quality: settings.thumbnail_quality,
        max_pixels: settings.image_max_pixels,
    }
}

fn temp_path(settings: &Settings) -> Result<TempPath, ApiError> {
    tempfile::Builder::new()
        .prefix("processed-")
        .tempfile_in(staging_dir(settings))
        .map(tempfile::NamedTempFile::into_temp_path)
        .map_err(|err| ApiError::internal(&err))
}

/// Maps a processing failure: the input's fault is a 4xx naming what is wrong.
fn media_error(err: natter_media::Error) -> ApiError {
    match &err {
        natter_media::Error::TooManyPixels { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", err.to_string())
        }
        _ if err.is_input_error() => {
            let mut message = err.to_string();
            if let Some(source) = std::error::Error::source(&err) {
                message.push_str(": ");
                message.push_str(&source.to_string());
            }
            ApiError::bad_request("invalid_media", message)
        }
        _ => ApiError::internal(&err),
    }
}

/// Content type (and, for documents, `attachment`) stored with S3 objects, so that presigned
/// downloads carry them. The local store keeps no attributes; natter sets the headers itself.
fn attributes(s3: bool, mime: &str, attachment: bool) -> Attributes {
    let mut attributes = Attributes::new();
    if s3 {
        attributes.insert(Attribute::ContentType, mime.to_owned().into());
        if attachment {
            attributes.insert(Attribute::ContentDisposition, "attachment".into());
        }
    }
    attributes
}

/// Writes `body` at `key` (one PUT when small, a multipart upload streamed from the file
/// when large) and returns the SHA-256 and size of what was written.
async fn put_object(
    store: &dyn ObjectStore,
    key: &str,
    body: &Body,
    attributes: Attributes,
) -> Result<(String, u64), ApiError> {
    let location = ObjectPath::from(key);
    let store_error = |err: object_store::Error| ApiError::internal(&err);
    let bytes = match body {
        Body::Memory(bytes) => Some(bytes.clone()),
        Body::File(path, _) => {
            let size = tokio::fs::metadata(path)
                .await
                .map_err(|err| ApiError::internal(&err))?
                .len();
            if size <= SINGLE_PUT_MAX {
                Some(
                    tokio::fs::read(path)
                        .await
                        .map_err(|err| ApiError::internal(&err))?,
                )
            } else {
                None
            }
        }
    };
    if let Some(bytes) = bytes {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        store
            .put_opts(
                &location,
                PutPayload::from(bytes),
                PutOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(store_error)?;
        return Ok((sha256, size));
    }
    let Body::File(path, _) = body else {
        return Err(ApiError::internal(&std::io::Error::other(
            "invariant: in-memory bodies are written in one PUT",
        )));
    };
    let upload = store
        .put_multipart_opts(
            &location,
            PutMultipartOptions {
                attributes,
                ..Default::default()
            },
        )
        .await
        .map_err(store_error)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|err| ApiError::internal(&err))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 1024 * 1024];
    loop {
        let read = match file.read(&mut buffer).await {
            Ok(read) => read,
            Err(err) => {
                writer.abort().await.ok();
                return Err(ApiError::internal(&err));
            }
        };
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
        // Bounded memory: at most a few parts in flight.
        if let Err(err) = writer.wait_for_capacity(4).await {
            return Err(store_error(err));
        }
        writer.write(&buffer[..read]);
    }
    writer.finish().await.map_err(store_error)?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Best-effort removal of objects written for an upload that failed afterwards.
async fn discard(store: &dyn ObjectStore, keys: &[&str]) {
    for key in keys {
        if let Err(err) = store.delete(&ObjectPath::from(*key)).await {
            tracing::warn!(key, error = %err, "could not remove the objects of a failed upload");
        }
    }
}
