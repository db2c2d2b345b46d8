//! Metric names of the messaging rules, one vocabulary for dashboards and tests (exported by
//! whichever process runs the rules: the bridge).

/// Gauge: 0 while the database is known not to answer (requests refused at once), else 1.
pub const DATABASE_UP: &str = "natter_database_up";

/// Counter: messages stored (duplicates of a client id not counted).
pub const MESSAGES_PERSISTED: &str = "natter_messages_persisted_total";
/// Counter: requests that failed in the database.
pub const PERSIST_ERRORS: &str = "natter_persist_errors_total";
/// Histogram: seconds to handle one outbox request, database included; requests that shared
/// a batch's transaction each record the batch's time.
pub const PERSIST_SECONDS: &str = "natter_persist_seconds";

/// Counter: typing indicators dropped by the rate limit.
pub const TYPING_DROPPED: &str = "natter_typing_dropped_total";

/// Registers the rules' metrics with their help texts, so that they are exported before
/// their first change.
pub fn describe() {
    metrics::describe_gauge!(
        DATABASE_UP,
        "0 while the database is known not to answer (requests refused at once), else 1"
    );
    metrics::describe_counter!(MESSAGES_PERSISTED, "messages stored");
    metrics::describe_counter!(
        PERSIST_ERRORS,
        "outbox requests that failed in the database"
    );
    metrics::describe_histogram!(
        PERSIST_SECONDS,
        "seconds to handle one outbox request (requests of one batch record the batch's time)"
    );
    metrics::counter!(MESSAGES_PERSISTED).increment(0);
    metrics::counter!(PERSIST_ERRORS).increment(0);
    // The rules start after the database answered (migrations).
    metrics::gauge!(DATABASE_UP).set(1.0);
}
