//! The connection lifecycle as the rest of natter sees it: a hook the binary injects (for
//! presence) and the edge calls when a client session starts and ends. Calls happen on the
//! connection's task, so an implementation must return at once (queue, never wait).

use crate::edge::auth::Identity;
use crate::edge::codec::CloseReason;

/// Why a client session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT.
    Clean,
    /// The connection dropped (its Last Will, if any, is published).
    Lost,
    /// No packet within 1.5 times the keep-alive.
    KeepAliveTimeout,
    /// A new connection of the same device took over: the device did not leave.
    TakenOver,
    /// The server disconnected it (the device was revoked).
    Kicked,
    /// The server is shutting down.
    ShuttingDown,
    /// The server closed it for a protocol violation or a client too slow to keep up.
    ProtocolError,
}

impl DisconnectReason {
    pub(crate) fn of_close(reason: CloseReason) -> DisconnectReason {
        match reason {
            CloseReason::ShuttingDown => DisconnectReason::ShuttingDown,
            CloseReason::SessionTakenOver => DisconnectReason::TakenOver,
            CloseReason::AdministrativeAction => DisconnectReason::Kicked,
            CloseReason::KeepAliveTimeout => DisconnectReason::KeepAliveTimeout,
            CloseReason::PacketTooLarge
            | CloseReason::MalformedPacket
            | CloseReason::ProtocolError
            | CloseReason::QuotaExceeded
            | CloseReason::TopicNameInvalid
            | CloseReason::QosNotSupported => DisconnectReason::ProtocolError,
            CloseReason::ServerBusy => DisconnectReason::Lost,
        }
    }
}

/// Told when an authenticated client session starts and ends. `session_id` is unique per
/// connection on this node, so that a take-over's "ended" can be told from the new
/// session's "started" whatever order they arrive in. Both methods must not block.
pub trait PresenceHook: Send + Sync + 'static {
    /// A session of `identity` was accepted (CONNACK sent, after any take-over).
    fn connected(&self, identity: &Identity, session_id: u64) {
        let _ = (identity, session_id);
    }

    /// The session `session_id` of `identity` ended for `reason`.
    fn disconnected(&self, identity: &Identity, session_id: u64, reason: DisconnectReason) {
        let _ = (identity, session_id, reason);
    }
}

/// A hook that does nothing (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPresenceHook;

impl PresenceHook for NoPresenceHook {}
