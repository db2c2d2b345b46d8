//! Object storage for media: local files under the data directory by default, S3 (MinIO,
//! SeaweedFS, AWS) by configuration, one `Arc<dyn ObjectStore>` either way.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use natter_config::{StorageBackend, StorageSettings};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use secrecy::ExposeSecret;

use crate::error::{Error, Result};

/// Builds the object store that `settings` describe. Local storage lives under
/// `settings.local_path(data_dir)`, created if missing.
///
/// # Errors
/// [`Error::MediaDir`] when the local directory cannot be created, [`Error::StorageConfig`]
/// when the S3 settings are rejected.
pub fn build(settings: &StorageSettings, data_dir: &Path) -> Result<Arc<dyn ObjectStore>> {
    match settings.backend {
        StorageBackend::Local => {
            let path = settings.local_path(data_dir);
            std::fs::create_dir_all(&path).map_err(|source| Error::MediaDir {
                path: path.display().to_string(),
                source,
            })?;
            let store = LocalFileSystem::new_with_prefix(&path).map_err(Error::StorageConfig)?;
            Ok(Arc::new(store))
        }
        StorageBackend::S3 => {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&settings.bucket)
                .with_region(&settings.region)
                .with_allow_http(settings.allow_http);
            if let Some(endpoint) = &settings.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(key_id) = &settings.access_key_id {
                builder = builder.with_access_key_id(key_id);
            }
            if let Some(secret) = &settings.secret_access_key {
                builder = builder.with_secret_access_key(secret.expose_secret());
            }
            Ok(Arc::new(builder.build().map_err(Error::StorageConfig)?))
        }
    }
}

/// Where `settings` point, for messages: the directory, or the endpoint and bucket.
pub fn describe(settings: &StorageSettings, data_dir: &Path) -> String {
    match settings.backend {
        StorageBackend::Local => settings.local_path(data_dir).display().to_string(),
        StorageBackend::S3 => format!(
            "{}/{}",
            settings.endpoint.as_deref().unwrap_or("s3"),
            settings.bucket
        ),
    }
}

/// Writes, reads back and deletes a small probe object, so that a wrong endpoint, bucket or
/// credential stops start-up instead of the first upload.
///
/// # Errors
/// The store's error when any of the three steps fails.
pub async fn probe(store: &dyn ObjectStore) -> Result<(), object_store::Error> {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    // Unique per process and call: several nodes (or test apps) may share one bucket.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let n = PROBES.fetch_add(1, Ordering::Relaxed);
    let location = ObjectPath::from(format!(".natter-probe/{}-{nanos}-{n}", std::process::id()));
    store
        .put(&location, PutPayload::from_static(b"natter"))
        .await?;
    store.get(&location).await?.bytes().await?;
    store.delete(&location).await
}
