//! What natter's broker, bridge, workers and clients must agree on, and nothing else: the
//! topic scheme, the messaging envelope, the typed calls ([`Call`]) and well-known names.
//! No I/O.

pub mod call;
pub mod envelope;
pub mod stamp;
pub mod topics;
pub mod wire;

pub use call::Call;

/// The MQTT username that trusted service clients (bridge workers) use on the broker's
/// loopback listener.
pub const SERVICE_USERNAME: &str = "service";

/// Room the server adds around a client's payload on its way through: the stamped outbox
/// topic, and the envelope fields of the event that carries the payload on (ids, positions,
/// timestamps).
pub const INTERNAL_HEADROOM: usize = 64 * 1024;

/// The largest packet every internal hop (the broker's loopback listener, the bridge's MQTT
/// session) must carry when clients may send packets of `max_packet_size` bytes: what the
/// edge accepts, plus [`INTERNAL_HEADROOM`]. The bridge answers anything larger with a
/// `too_large` error instead of publishing it.
pub fn internal_packet_limit(max_packet_size: usize) -> usize {
    max_packet_size.saturating_add(INTERNAL_HEADROOM)
}
