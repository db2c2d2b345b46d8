//! Metric names of the edge.

/// Gauge: authenticated client connections open now.
pub(crate) const CONNECTIONS: &str = "natter_mqtt_connections";
/// Counter: CONNECT outcomes, labelled `outcome` (accepted, bad_credentials, revoked, …).
pub(crate) const CONNECTS: &str = "natter_mqtt_connects_total";
/// Counter: PUBLISH packets accepted from clients.
pub(crate) const MESSAGES_IN: &str = "natter_messages_in_total";
/// Counter: PUBLISH packets sent to clients.
pub(crate) const MESSAGES_OUT: &str = "natter_messages_out_total";
/// Counter: refused subscriptions and publishes, labelled `kind`.
pub(crate) const REFUSED: &str = "natter_mqtt_refused_total";
/// Counter: connections closed because the client could not keep up.
pub(crate) const SLOW_CLIENT_CLOSES: &str = "natter_mqtt_slow_client_closes_total";
/// Counter: connections closed for a protocol error, labelled `reason`.
pub(crate) const PROTOCOL_ERRORS: &str = "natter_mqtt_protocol_errors_total";
/// Histogram: seconds a message spends on one hop, labelled `hop`; the bridge records the
/// hops up to the publishing of events (docs/PERFORMANCE.md, "Per-hop timing").
pub(crate) const HOP_SECONDS: &str = "natter_hop_seconds";
/// `hop`: from a bridge handing an event to its MQTT client (its stamp, by its wall clock) to
/// the edge writing it to a recipient's socket (by this process's wall clock).
pub(crate) const HOP_BRIDGE_TO_SOCKET: &str = "bridge_to_socket";
/// `hop`: from this node's hub receiving an event from the router to writing it to a
/// recipient's socket (monotonic clock): the part of `bridge_to_socket` in this process.
pub(crate) const HOP_HUB_TO_SOCKET: &str = "hub_to_socket";

/// Registers the edge's metrics so that they are exported before their first change.
pub(crate) fn describe() {
    metrics::describe_gauge!(CONNECTIONS, "authenticated MQTT client connections");
    metrics::describe_counter!(CONNECTS, "MQTT CONNECT outcomes");
    metrics::describe_counter!(MESSAGES_IN, "PUBLISH packets accepted from clients");
    metrics::describe_counter!(MESSAGES_OUT, "PUBLISH packets sent to clients");
    metrics::describe_counter!(REFUSED, "refused subscriptions and publishes");
    metrics::describe_counter!(
        SLOW_CLIENT_CLOSES,
        "connections closed because the client was too slow"
    );
    metrics::describe_counter!(PROTOCOL_ERRORS, "connections closed for a protocol error");
    metrics::describe_histogram!(
        HOP_SECONDS,
        metrics::Unit::Seconds,
        "seconds a message spends on each hop from edge to bridge to recipient"
    );
    metrics::gauge!(CONNECTIONS).set(0.0);
    metrics::counter!(MESSAGES_IN).increment(0);
    metrics::counter!(MESSAGES_OUT).increment(0);
}
