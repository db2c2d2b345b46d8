//! natter's HTTP listener (`GET /healthz`, `GET /metrics`, later the `/v1` API) and the
//! object store behind media.

mod error;
pub mod health;
mod http;
pub mod metrics;
pub mod storage;

pub use error::{Error, Result};
pub use http::{HttpServer, bind};
