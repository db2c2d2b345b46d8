//! The JSON shapes of media answers.

use natter_entities::media;
use serde::Serialize;

/// A stored media item, as its owner and its viewers see it.
#[derive(Debug, Serialize)]
pub(super) struct MediaView {
    pub(super) id: i64,
    pub(super) kind: String,
    pub(super) mime: String,
    pub(super) size: i64,
    pub(super) sha256: String,
    pub(super) encrypted: bool,
    pub(super) width: Option<i32>,
    pub(super) height: Option<i32>,
    pub(super) duration_ms: Option<i64>,
    pub(super) thumbnail: bool,
    pub(super) created_at: i64,
    /// On upload: whether this is an earlier upload of the same bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) deduplicated: Option<bool>,
}

impl MediaView {
    pub(super) fn of(media: &media::Model) -> MediaView {
        MediaView {
            id: media.id,
            kind: media.kind.clone(),
            mime: media.mime.clone(),
            size: media.size_bytes,
            sha256: media.sha256.clone(),
            encrypted: media.encrypted,
            width: media.width,
            height: media.height,
            duration_ms: media.duration_ms,
            thumbnail: media.thumbnail_key.is_some(),
            created_at: media.created_at,
            deduplicated: None,
        }
    }
}

/// A media item with signed links to its bytes.
#[derive(Debug, Serialize)]
pub(super) struct DownloadView {
    #[serde(flatten)]
    pub(super) media: MediaView,
    /// Signed URL of the file (GET, range requests allowed).
    pub(super) url: String,
    /// Signed URL of the thumbnail, when there is one.
    pub(super) thumbnail_url: Option<String>,
    /// When the URLs stop working, unix milliseconds.
    pub(super) expires_at: i64,
}
