//! Several nodes behind one address: what the edge tells the rest of the cluster, through a
//! link the binary injects (Redis pub/sub in `natter`), and what it takes from it.
//!
//! Each node's router carries only its own node's traffic. The hub hands every message its
//! router delivers on a user's topics (`u/{id}/…` except the outbox, which the node's own
//! bridge consumes) and on the control topics to the link, which sends it to the nodes that
//! hold a device of that user; a message arriving from another node is dispatched to this
//! node's sessions directly, never published into the router again, so nothing loops. A
//! device that connects announces itself, so that its connection on any other node closes.
//! Calls happen on the router's or a connection's task: an implementation queues, never waits.

use bytes::Bytes;

/// The edge's side of the cluster. All methods must return at once.
pub trait ClusterLink: Send + Sync + std::fmt::Debug + 'static {
    /// This node's router delivered `payload` on `topic`; `user_id` is the user whose
    /// namespace it is, or `None` for a control topic (every node must see those).
    fn forward(&self, user_id: Option<i64>, topic: &str, payload: &Bytes);

    /// A device of `user_id` connected to this node (after any local take-over): other nodes
    /// close their connection of `device_id`. On the user's first device here, the node starts
    /// receiving that user's messages from the other nodes.
    fn device_attached(&self, user_id: i64, device_id: i64, first_of_user: bool);

    /// The last device of `user_id` left this node: stop receiving that user's messages.
    fn user_left(&self, user_id: i64);
}

/// Which cluster channel a message this node's router delivered on `topic` belongs to:
/// `Some(Some(user))` for a user's topics (not the outbox), `Some(None)` for control topics,
/// `None` for what stays on this node (outboxes, groups, device topics).
pub(crate) fn scope(topic: &str) -> Option<Option<i64>> {
    if natter_proto::topics::parse_control(topic).is_some() {
        return Some(None);
    }
    let rest = topic.strip_prefix("u/")?;
    let (id, below) = rest.split_once('/')?;
    if below == "out" || below.starts_with("out/") {
        return None;
    }
    id.parse().ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::scope;

    #[test]
    fn user_topics_and_control_cross_nodes_outboxes_do_not() {
        assert_eq!(scope("u/7/inbox"), Some(Some(7)));
        assert_eq!(scope("u/7/reply/70"), Some(Some(7)));
        assert_eq!(scope("u/7/presence"), Some(Some(7)));
        assert_eq!(scope("u/7/out/70"), None);
        assert_eq!(scope("u/7/out"), None);
        assert_eq!(scope("g/3/x"), None);
        assert_eq!(scope("d/9/status"), None);
        assert_eq!(scope("u/x/inbox"), None);
    }
}
