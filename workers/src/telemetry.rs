//! Metric names of the background jobs.

/// Counter: undelivered messages dropped after the retention period, per recipient.
pub(crate) const UNDELIVERED_DROPPED: &str = "natter_undelivered_dropped_total";

/// Registers the jobs' metrics so that they are exported before their first change.
pub(crate) fn describe() {
    metrics::describe_counter!(
        UNDELIVERED_DROPPED,
        "undelivered messages dropped after the retention period (one per recipient)"
    );
    metrics::counter!(UNDELIVERED_DROPPED).increment(0);
}
