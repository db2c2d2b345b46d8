//! What natter's broker, bridge, workers and clients must agree on, and nothing else: the
//! topic scheme, the messaging envelope and well-known names. No I/O.

pub mod envelope;
pub mod topics;
pub mod wire;

/// The MQTT username that trusted service clients (bridge workers) use on the broker's
/// loopback listener.
pub const SERVICE_USERNAME: &str = "service";
