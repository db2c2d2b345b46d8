//! Metric names of the background jobs.

/// Counter: undelivered messages dropped after the retention period, per recipient.
pub(crate) const UNDELIVERED_DROPPED: &str = "natter_undelivered_dropped_total";
/// Counter: messages deleted because their disappearing timer ran out.
pub(crate) const MESSAGES_EXPIRED: &str = "natter_messages_expired_total";

/// Registers the jobs' metrics so that they are exported before their first change.
pub(crate) fn describe() {
    metrics::describe_counter!(
        UNDELIVERED_DROPPED,
        "undelivered messages dropped after the retention period (one per recipient)"
    );
    metrics::counter!(UNDELIVERED_DROPPED).increment(0);
    metrics::describe_counter!(
        MESSAGES_EXPIRED,
        "messages deleted because their disappearing timer ran out"
    );
    metrics::counter!(MESSAGES_EXPIRED).increment(0);
}
