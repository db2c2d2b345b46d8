//! Short-lived links to media bytes: presigned S3 URLs when the store is S3 (the client then
//! talks to S3 directly), natter-signed URLs otherwise (HMAC-SHA256 over the media id, the
//! variant and the expiry, served by [`crate::v1::media::download::content`]).
//!
//! The HMAC key is `media.signing_key`, or else a random key generated once into
//! `{data_dir}/media-signing-key` (mode 0600), like the service password.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, header};
use hmac::{Hmac, Mac};
use natter_config::{Settings, StorageBackend};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, Signer};
use secrecy::ExposeSecret;
use sha2::Sha256;

use crate::v1::error::ApiError;

const KEY_FILE: &str = "media-signing-key";

/// Which bytes of a media item a link serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Variant {
    /// The stored file.
    Original,
    /// The JPEG thumbnail.
    Thumbnail,
}

impl Variant {
    fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

/// A signed GET link for `location` (media `media_id`, `variant`), valid until `expires_ms`.
pub(super) async fn download_url(
    settings: &Settings,
    headers: &HeaderMap,
    media_id: i64,
    variant: Variant,
    location: &str,
    expires_ms: i64,
) -> Result<String, ApiError> {
    if settings.storage.backend == StorageBackend::S3 {
        let url = s3_signer(settings)?
            .signed_url(
                Method::GET,
                &ObjectPath::from(location),
                settings.media.url_ttl(),
            )
            .await
            .map_err(|err| ApiError::internal(&err))?;
        return Ok(url.to_string());
    }
    let expires = expires_ms.div_euclid(1000);
    let signature = sign(&key(settings)?, media_id, variant, expires);
    Ok(format!(
        "{}/v1/media/{media_id}/content?variant={}&expires={expires}&sig={signature}",
        base_url(settings, headers),
        variant.as_str()
    ))
}

/// A presigned S3 PUT for `location`, or `None` when the store is not S3.
pub(super) async fn upload_url(
    settings: &Settings,
    location: &str,
    ttl: Duration,
) -> Result<Option<String>, ApiError> {
    if settings.storage.backend != StorageBackend::S3 {
        return Ok(None);
    }
    let url = s3_signer(settings)?
        .signed_url(Method::PUT, &ObjectPath::from(location), ttl)
        .await
        .map_err(|err| ApiError::internal(&err))?;
    Ok(Some(url.to_string()))
}

/// Whether `signature` is natter's for (`media_id`, `variant`, `expires` unix seconds).
/// Compares in constant time.
pub(super) fn verify(
    settings: &Settings,
    media_id: i64,
    variant: Variant,
    expires: i64,
    signature: &str,
) -> Result<bool, ApiError> {
    let Ok(given) = hex::decode(signature) else {
        return Ok(false);
    };
    let key = key(settings)?;
    let mut mac = mac(&key);
    mac.update(message(media_id, variant, expires).as_bytes());
    Ok(mac.verify_slice(&given).is_ok())
}

fn sign(key: &[u8], media_id: i64, variant: Variant, expires: i64) -> String {
    let mut mac = mac(key);
    mac.update(message(media_id, variant, expires).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; the error type exists for fixed-size MACs only.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("invariant: HMAC accepts any key length")
}

fn message(media_id: i64, variant: Variant, expires: i64) -> String {
    format!(
        "natter-media-v1\n{media_id}\n{}\n{expires}",
        variant.as_str()
    )
}

/// `media.public_url`, else `http://` and the request's `Host`.
fn base_url(settings: &Settings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.media.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The S3 client that presigns, built from `[storage]` (no I/O: cheap per request).
fn s3_signer(settings: &Settings) -> Result<AmazonS3, ApiError> {
    let storage = &settings.storage;
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&storage.bucket)
        .with_region(&storage.region)
        .with_allow_http(storage.allow_http);
    if let Some(endpoint) = &storage.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(key_id) = &storage.access_key_id {
        builder = builder.with_access_key_id(key_id);
    }
    if let Some(secret) = &storage.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose_secret());
    }
    builder.build().map_err(|err| ApiError::internal(&err))
}

/// The HMAC key: configured, or read from (or created in) the data directory once per process.
fn key(settings: &Settings) -> Result<Arc<Vec<u8>>, ApiError> {
    static KEYS: OnceLock<Mutex<HashMap<PathBuf, Arc<Vec<u8>>>>> = OnceLock::new();
    if let Some(key) = &settings.media.signing_key {
        return Ok(Arc::new(key.expose_secret().as_bytes().to_vec()));
    }
    let path = settings.data_dir.join(KEY_FILE);
    let keys = KEYS.get_or_init(Default::default);
    if let Some(key) = keys.lock().ok().and_then(|keys| keys.get(&path).cloned()) {
        return Ok(key);
    }
    let key = Arc::new(load_or_create(&path).map_err(|err| ApiError::internal(&err))?);
    if let Ok(mut keys) = keys.lock() {
        keys.insert(path, key.clone());
    }
    Ok(key)
}

fn load_or_create(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => {
            return Ok(existing.trim().as_bytes().to_vec());
        }
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is empty (delete it, or set NATTER__MEDIA__SIGNING_KEY)",
                path.display()
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(key.as_bytes())?;
            file.sync_all()?;
            Ok(key.into_bytes())
        }
        // Another request (or node on this data dir) created it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().as_bytes().to_vec())
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_binds_id_variant_and_expiry() {
        let key = b"k".repeat(32);
        let signature = sign(&key, 7, Variant::Original, 1000);
        assert_eq!(signature, sign(&key, 7, Variant::Original, 1000));
        assert_ne!(signature, sign(&key, 8, Variant::Original, 1000));
        assert_ne!(signature, sign(&key, 7, Variant::Thumbnail, 1000));
        assert_ne!(signature, sign(&key, 7, Variant::Original, 1001));
    }
}
