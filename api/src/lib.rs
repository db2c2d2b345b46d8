//! natter's HTTP listener (`GET /healthz`, `GET /metrics`, the `/v1` API) and the
//! object store behind media.

mod connections;
mod error;
pub mod health;
mod http;
pub mod metrics;
pub mod storage;
pub mod v1;

pub use connections::ConnectionLimits;
pub use error::{Error, Result};
pub use http::{HttpServer, bind};
