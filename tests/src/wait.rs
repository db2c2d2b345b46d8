//! Waiting for asynchronous effects: poll a condition until it holds or a deadline passes.

use std::future::Future;
use std::time::Duration;

use anyhow::bail;

/// Polls `check` every 20 ms until it returns `Ok(Some(value))`, and returns the value; fails
/// with the last observation once `deadline` has passed.
///
/// # Errors
/// When the deadline passes or `check` returns an error.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= until {
            bail!("condition not met within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
