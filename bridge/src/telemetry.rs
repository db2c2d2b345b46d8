//! Metric names of the bridge, one vocabulary for dashboards and tests.

/// Gauge: 1 while the bridge holds an MQTT session with the broker, else 0.
pub(crate) const BRIDGE_CONNECTED: &str = "natter_bridge_connected";
/// Counter: connection attempts to the broker that failed.
pub(crate) const BRIDGE_CONNECT_ERRORS: &str = "natter_bridge_connect_errors_total";

// The messaging rules' metrics (stored messages, database state and time) are named in
// `natter_chat::telemetry`.

/// Histogram: outbox requests taken from the broker at once (one transaction for their sends
/// and receipts).
pub(crate) const BATCH_SIZE: &str = "natter_bridge_batch_size";

/// Counter: events too large for the internal packet limit (call answers become `too_large`).
pub(crate) const EVENTS_TOO_LARGE: &str = "natter_bridge_events_too_large_total";

/// Histogram: seconds a message spends on one hop, labelled `hop`; the edge records the hops
/// after the bridge (docs/PERFORMANCE.md, "Per-hop timing").
pub(crate) const HOP_SECONDS: &str = "natter_hop_seconds";
/// `hop`: from the edge reading a client's publish (its stamp, by its wall clock) to the
/// bridge taking it from its MQTT session (by this process's wall clock).
pub(crate) const HOP_EDGE_TO_BRIDGE: &str = "edge_to_bridge";
/// `hop`: from the bridge taking a request from its MQTT session to its batch starting.
pub(crate) const HOP_BRIDGE_QUEUE: &str = "bridge_queue";
/// `hop`: from a batch starting to its work committed and its answers ready (each request of
/// a batch records the batch's time).
pub(crate) const HOP_COMMIT: &str = "commit";
/// `hop`: from a batch committed to its events handed to the MQTT client.
pub(crate) const HOP_PUBLISH: &str = "publish";

/// Registers the bridge's metrics (and the rules', which the bridge runs) with their help
/// texts, so that they are exported before their first change.
pub(crate) fn describe() {
    natter_chat::telemetry::describe();
    metrics::describe_gauge!(
        BRIDGE_CONNECTED,
        "1 while the bridge is connected to the broker"
    );
    metrics::describe_counter!(
        BRIDGE_CONNECT_ERRORS,
        "failed connection attempts from the bridge to the broker"
    );
    metrics::describe_histogram!(
        BATCH_SIZE,
        "outbox requests handled together (sends and receipts share a transaction)"
    );
    metrics::describe_histogram!(
        HOP_SECONDS,
        metrics::Unit::Seconds,
        "seconds a message spends on each hop from edge to bridge to recipient"
    );
    metrics::describe_counter!(
        EVENTS_TOO_LARGE,
        "events over the internal packet limit, not sent (call answers answered too_large)"
    );
    metrics::counter!(EVENTS_TOO_LARGE).increment(0);
    metrics::gauge!(BRIDGE_CONNECTED).set(0.0);
    metrics::counter!(BRIDGE_CONNECT_ERRORS).increment(0);
}
