//! The presence store: which node holds which device (the registry), node heartbeats, and
//! each user's last-seen time. A user is online when any of their devices is registered on a
//! node whose heartbeat has not expired.
//!
//! Two implementations share one contract (and one test suite, `presence/tests/store_suite.rs`):
//! [`crate::InProcessStore`] for a single node, [`crate::RedisStore`] for nodes that share a
//! Redis. This module owns the contract only; fan-out and privacy live elsewhere.

use std::fmt;

use futures_util::future::BoxFuture;

use crate::error::Result;

/// One device of one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceRef {
    /// The account.
    pub user_id: i64,
    /// The device.
    pub device_id: i64,
}

/// What the store knows of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserPresence {
    /// At least one device is registered on a live node.
    Online,
    /// None is; `last_seen` is when the last one left (unix ms), if the store knows.
    Offline {
        /// When the user's last device went offline.
        last_seen: Option<i64>,
    },
}

/// A user who went offline because the node holding their devices stopped heartbeating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reaped {
    /// The user.
    pub user_id: i64,
    /// The dead node's last heartbeat: the last time the user is known to have been online.
    pub last_seen: i64,
}

/// Where presence lives. Every method is one short round trip (or none, in process); errors
/// mean the store is unreachable, and callers degrade rather than guess.
pub trait PresenceStore: Send + Sync + fmt::Debug {
    /// Registers `device` as connected on `node`. Returns `true` when its user was offline
    /// before (the user went online).
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn device_online<'a>(&'a self, node: &'a str, device: DeviceRef)
    -> BoxFuture<'a, Result<bool>>;

    /// Unregisters `device` from `node` at `at_ms` (unix ms). Does nothing when the registry
    /// names another node (the device has moved). Returns `true` when its user is now offline
    /// (and records `at_ms` as their last seen).
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn device_offline<'a>(
        &'a self,
        node: &'a str,
        device: DeviceRef,
        at_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Proves that `node` is alive for the store's TTL. Returns `false` when the node was not
    /// registered (first heartbeat, or it was reaped while it could not reach the store):
    /// the caller then re-registers its devices with [`PresenceStore::resync`].
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn heartbeat<'a>(&'a self, node: &'a str, now_ms: i64) -> BoxFuture<'a, Result<bool>>;

    /// Makes `devices` exactly the set registered on `node` (after an outage), forgetting
    /// the others it held at `at_ms`.
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn resync<'a>(
        &'a self,
        node: &'a str,
        devices: &'a [DeviceRef],
        at_ms: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// What the store knows of `user_id`.
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn user_presence(&self, user_id: i64) -> BoxFuture<'_, Result<UserPresence>>;

    /// The node that holds `device`, if it is registered on a live one (for cross-node
    /// delivery).
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn node_of(&self, device: DeviceRef) -> BoxFuture<'_, Result<Option<String>>>;

    /// Finds nodes whose heartbeat expired, unregisters their devices, and returns the users
    /// who went offline because of it. Each dead node is reaped by one caller only.
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn reap_dead_nodes(&self, now_ms: i64) -> BoxFuture<'_, Result<Vec<Reaped>>>;

    /// Unregisters every device of `node` and its heartbeat (clean shutdown), recording
    /// `at_ms` as last seen; returns the users who went offline.
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn remove_node<'a>(&'a self, node: &'a str, at_ms: i64) -> BoxFuture<'a, Result<Vec<i64>>>;

    /// Checks that the store answers (for `/healthz`).
    ///
    /// # Errors
    /// When it does not.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;
}
