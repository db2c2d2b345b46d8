//! The wall clock as the schema stores it: unix milliseconds in an `i64`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in unix milliseconds, the unit of every `*_at` column.
///
/// A clock set before 1970 reads as 0, and one beyond the year 292 million as `i64::MAX`:
/// neither is worth failing a request for.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2025() {
        // 2025-01-01T00:00:00Z.
        assert!(now_ms() > 1_735_689_600_000);
    }
}
