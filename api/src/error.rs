//! Errors of the HTTP listener and the object store.

use std::net::SocketAddr;

/// What can go wrong in the HTTP listener or while setting up object storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP listener could not bind its address.
    #[error("cannot listen for HTTP on {addr} (NATTER__HTTP__LISTEN)")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an I/O error.
    #[error("http listener failed")]
    Serve(#[source] std::io::Error),
    /// The Prometheus recorder could not be installed.
    #[error("cannot install the metrics recorder")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    /// The object store could not be configured.
    #[error("invalid object storage settings (NATTER__STORAGE__…)")]
    StorageConfig(#[source] object_store::Error),
    /// The object store did not accept a probe write, read and delete.
    #[error("object storage at {location} is not usable (NATTER__STORAGE__…)")]
    StorageProbe {
        /// Where the store points (a directory or an endpoint and bucket).
        location: String,
        /// What the store said.
        #[source]
        source: object_store::Error,
    },
    /// The local media directory could not be created.
    #[error("cannot create the media directory {path} (NATTER__STORAGE__LOCAL_PATH)")]
    MediaDir {
        /// The directory.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of the api crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
