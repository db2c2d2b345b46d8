//! Staging: an upload's bytes streamed to a temporary file under the data directory while
//! they are counted and hashed, so that no upload is held in memory and an oversized one is
//! cut off as soon as it crosses its limit.

use axum::http::StatusCode;
use natter_config::Settings;
use natter_media::sniff::SNIFF_LEN;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use crate::v1::error::ApiError;
use crate::v1::media::runtime::staging_dir;

/// A complete upload on local disk, deleted when dropped.
#[derive(Debug)]
pub(super) struct Staged {
    /// The file.
    pub(super) path: TempPath,
    /// Its size in bytes.
    pub(super) size: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub(super) sha256: String,
    /// Its first bytes (up to [`SNIFF_LEN`]), for sniffing.
    pub(super) head: Vec<u8>,
}

/// An upload being staged.
#[derive(Debug)]
pub(super) struct Writer {
    file: tokio::fs::File,
    path: TempPath,
    size: u64,
    hasher: Sha256,
    head: Vec<u8>,
    limit: u64,
}

impl Writer {
    /// A new, empty staging file that refuses to grow past `limit` bytes.
    pub(super) async fn create(settings: &Settings, limit: u64) -> Result<Writer, ApiError> {
        let dir = staging_dir(settings);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|err| ApiError::internal(&err))?;
        let named = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&dir)
            .map_err(|err| ApiError::internal(&err))?;
        let (file, path) = named.into_parts();
        Ok(Writer {
            file: tokio::fs::File::from_std(file),
            path,
            size: 0,
            hasher: Sha256::new(),
            head: Vec::with_capacity(SNIFF_LEN),
            limit,
        })
    }

    /// Lowers or raises the limit (once the kind, and so its limit, is known).
    pub(super) fn set_limit(&mut self, limit: u64) -> Result<(), ApiError> {
        self.limit = limit;
        self.check_limit()
    }

    /// The first bytes received so far (at most [`SNIFF_LEN`]).
    pub(super) fn head(&self) -> &[u8] {
        &self.head
    }

    /// Bytes received so far.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Appends `bytes`; `413 too_large` once the total passes the limit.
    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        self.size += bytes.len() as u64;
        self.check_limit()?;
        if self.head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .await
            .map_err(|err| ApiError::internal(&err))
    }

    fn check_limit(&self) -> Result<(), ApiError> {
        if self.size > self.limit {
            return Err(too_large(self.limit));
        }
        Ok(())
    }

    /// Flushes the file and returns it.
    pub(super) async fn finish(mut self) -> Result<Staged, ApiError> {
        self.file
            .flush()
            .await
            .map_err(|err| ApiError::internal(&err))?;
        self.file
            .sync_data()
            .await
            .map_err(|err| ApiError::internal(&err))?;
        Ok(Staged {
            path: self.path,
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            head: self.head,
        })
    }
}

/// `413 too_large` naming the limit.
pub(super) fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the upload is larger than the {limit} bytes allowed for its kind"),
    )
}
