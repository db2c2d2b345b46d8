//! The in-process presence store: the default, for one node. Same contract as the Redis
//! store (heartbeats expire after the TTL), kept in one mutex-guarded table.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::error::Result;
use crate::store::{DeviceRef, PresenceStore, Reaped, UserPresence};

/// Presence in this process's memory.
#[derive(Debug)]
pub struct InProcessStore {
    ttl_ms: i64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// user → device → node.
    users: HashMap<i64, HashMap<i64, String>>,
    /// node → (last heartbeat, alive until), unix ms.
    nodes: HashMap<String, (i64, i64)>,
    /// node → its devices.
    node_devices: HashMap<String, BTreeSet<DeviceRef>>,
    /// user → last seen, unix ms.
    seen: HashMap<i64, i64>,
}

impl InProcessStore {
    /// A store whose heartbeats last `ttl`.
    pub fn new(ttl: Duration) -> InProcessStore {
        InProcessStore {
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update is a few map operations; a panicking holder cannot leave them torn.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn alive(&self, node: &str, now_ms: i64) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|(_, until)| *until > now_ms)
    }

    fn online(&self, user_id: i64, now_ms: i64) -> bool {
        self.users
            .get(&user_id)
            .is_some_and(|devices| devices.values().any(|node| self.alive(node, now_ms)))
    }

    /// Unregisters `device` if `node` holds it.
    fn unregister(&mut self, node: &str, device: DeviceRef) {
        if let Some(devices) = self.users.get_mut(&device.user_id)
            && devices
                .get(&device.device_id)
                .is_some_and(|held| held == node)
        {
            devices.remove(&device.device_id);
            if devices.is_empty() {
                self.users.remove(&device.user_id);
            }
        }
        if let Some(devices) = self.node_devices.get_mut(node) {
            devices.remove(&device);
        }
    }

    fn register(&mut self, node: &str, device: DeviceRef) {
        // A device held elsewhere moves here; its old node forgets it.
        if let Some(previous) = self
            .users
            .get(&device.user_id)
            .and_then(|devices| devices.get(&device.device_id))
            .filter(|previous| previous.as_str() != node)
            .cloned()
            && let Some(devices) = self.node_devices.get_mut(&previous)
        {
            devices.remove(&device);
        }
        self.users
            .entry(device.user_id)
            .or_default()
            .insert(device.device_id, node.to_owned());
        self.node_devices
            .entry(node.to_owned())
            .or_default()
            .insert(device);
    }
}

impl PresenceStore for InProcessStore {
    fn device_online<'a>(
        &'a self,
        node: &'a str,
        device: DeviceRef,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let now = crate::now_ms();
            let mut inner = self.lock();
            let was_online = inner.online(device.user_id, now);
            inner.register(node, device);
            Ok(!was_online)
        })
    }

    fn device_offline<'a>(
        &'a self,
        node: &'a str,
        device: DeviceRef,
        at_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let now = crate::now_ms();
            let mut inner = self.lock();
            let was_online = inner.online(device.user_id, now);
            inner.unregister(node, device);
            let went_offline = was_online && !inner.online(device.user_id, now);
            if went_offline {
                inner.seen.insert(device.user_id, at_ms);
            }
            Ok(went_offline)
        })
    }

    fn heartbeat<'a>(&'a self, node: &'a str, now_ms: i64) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let until = now_ms.saturating_add(self.ttl_ms);
            Ok(self
                .lock()
                .nodes
                .insert(node.to_owned(), (now_ms, until))
                .is_some())
        })
    }

    fn resync<'a>(
        &'a self,
        node: &'a str,
        devices: &'a [DeviceRef],
        at_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let held: Vec<DeviceRef> = inner
                .node_devices
                .get(node)
                .map(|held| held.iter().copied().collect())
                .unwrap_or_default();
            let mut dropped = Vec::new();
            for device in held {
                if !devices.contains(&device) {
                    inner.unregister(node, device);
                    dropped.push(device.user_id);
                }
            }
            for device in devices {
                inner.register(node, *device);
            }
            let now = crate::now_ms();
            for user_id in dropped {
                if !inner.online(user_id, now) {
                    inner.seen.insert(user_id, at_ms);
                }
            }
            Ok(())
        })
    }

    fn user_presence(&self, user_id: i64) -> BoxFuture<'_, Result<UserPresence>> {
        Box::pin(async move {
            let inner = self.lock();
            if inner.online(user_id, crate::now_ms()) {
                return Ok(UserPresence::Online);
            }
            Ok(UserPresence::Offline {
                last_seen: inner.seen.get(&user_id).copied(),
            })
        })
    }

    fn node_of(&self, device: DeviceRef) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let inner = self.lock();
            Ok(inner
                .users
                .get(&device.user_id)
                .and_then(|devices| devices.get(&device.device_id))
                .filter(|node| inner.alive(node, crate::now_ms()))
                .cloned())
        })
    }

    fn reap_dead_nodes(&self, now_ms: i64) -> BoxFuture<'_, Result<Vec<Reaped>>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let dead: Vec<(String, i64)> = inner
                .nodes
                .iter()
                .filter(|(_, (_, until))| *until <= now_ms)
                .map(|(node, (last, _))| (node.clone(), *last))
                .collect();
            let mut reaped = Vec::new();
            for (node, last_heartbeat) in dead {
                inner.nodes.remove(&node);
                let devices = inner.node_devices.remove(&node).unwrap_or_default();
                let mut users: Vec<i64> = devices.iter().map(|device| device.user_id).collect();
                users.dedup();
                for device in devices {
                    inner.unregister(&node, device);
                }
                for user_id in users {
                    if !inner.online(user_id, now_ms) {
                        inner.seen.insert(user_id, last_heartbeat);
                        reaped.push(Reaped {
                            user_id,
                            last_seen: last_heartbeat,
                        });
                    }
                }
            }
            Ok(reaped)
        })
    }

    fn remove_node<'a>(&'a self, node: &'a str, at_ms: i64) -> BoxFuture<'a, Result<Vec<i64>>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let now = crate::now_ms();
            let devices = inner.node_devices.remove(node).unwrap_or_default();
            let mut users: Vec<i64> = devices.iter().map(|device| device.user_id).collect();
            users.dedup();
            let was_online: Vec<i64> = users
                .into_iter()
                .filter(|user_id| inner.online(*user_id, now))
                .collect();
            for device in devices {
                inner.unregister(node, device);
            }
            inner.nodes.remove(node);
            let mut offline = Vec::new();
            for user_id in was_online {
                if !inner.online(user_id, now) {
                    inner.seen.insert(user_id, at_ms);
                    offline.push(user_id);
                }
            }
            Ok(offline)
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}
