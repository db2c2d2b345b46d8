//! natter's test harness: start the real app in-process on free ports with a fresh database,
//! on the embedded defaults or on real services (PostgreSQL, Redis, S3) named by environment
//! variables, and helpers to wait for conditions instead of sleeping.

pub mod mqtt;
pub mod proxy;
pub mod services;
mod spawn;
mod wait;
pub mod ws;

pub use services::Services;
pub use spawn::{TestApp, spawn_app, spawn_app_with, test_settings};
pub use wait::eventually;

/// Declares one scenario twice: `$name::embedded` on the embedded defaults and
/// `$name::services` on the services named by `NATTER_TEST_*` (embedded for each one unset).
/// The body is an async block receiving a `Services` value.
#[macro_export]
macro_rules! scenario {
    ($name:ident, |$services:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($services: $crate::Services) -> anyhow::Result<()> $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() -> anyhow::Result<()> {
                scenario($crate::Services::embedded()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn services() -> anyhow::Result<()> {
                scenario($crate::Services::from_env()?).await
            }
        }
    };
}
