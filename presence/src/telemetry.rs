//! Metric names of the presence crate, one vocabulary.

/// Counter: user state changes (online/offline) accepted from the lifecycle.
pub(crate) const CHANGES: &str = "natter_presence_changes_total";
/// Counter: changes that reached watchers after coalescing.
pub(crate) const EMITTED: &str = "natter_presence_emitted_total";
/// Counter: events published to watchers.
pub(crate) const EVENTS_OUT: &str = "natter_presence_events_out_total";
/// Gauge: 1 while the presence store answers, 0 while presence is degraded.
pub(crate) const STORE_UP: &str = "natter_presence_store_up";
/// Counter: store operations that failed.
pub(crate) const STORE_ERRORS: &str = "natter_presence_store_errors_total";
/// Counter: users set offline because their node stopped heartbeating.
pub(crate) const REAPED: &str = "natter_presence_reaped_total";
