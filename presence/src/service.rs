//! The presence service: one task per node that turns the edge's connects and disconnects
//! into user state in the store, coalesces changes, and fans them out to watchers; it also
//! heartbeats the node, reaps the devices of dead nodes, and degrades and recovers with the
//! store.
//!
//! The edge must never wait for presence: [`PresenceHandle::connected`] and
//! [`PresenceHandle::disconnected`] only queue a command. While the store is unreachable,
//! the service keeps its local view of connected devices, sends no events (rather than false
//! "offline" ones), and at the first heartbeat that succeeds it re-registers its devices and
//! publishes the current state of every user whose devices changed meanwhile.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use metrics::{counter, gauge};
use natter_config::PresenceSettings;
use natter_entities::users;
use natter_proto::topics;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::coalesce::{Coalescer, Comparable};
use crate::error::{Error, Result};
use crate::event::{PresenceEvent, PresenceState};
use crate::store::{DeviceRef, PresenceStore, UserPresence};
use crate::telemetry::{CHANGES, EMITTED, EVENTS_OUT, REAPED, STORE_ERRORS, STORE_UP};

/// How long shutdown may spend unregistering the node.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(2);

/// Where presence events go: the binary publishes them through the broker.
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Publishes `payload` on `topic` (QoS 0, not retained).
    ///
    /// # Errors
    /// A message for the log when the broker cannot take it.
    fn publish(&self, topic: String, payload: Bytes) -> BoxFuture<'_, Result<(), String>>;
}

/// How a connection ended, as far as presence cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaving {
    /// The device is gone: clean DISCONNECT, lost connection, keep-alive timeout, kick.
    Gone,
    /// A new connection of the same device took over: not a departure.
    TakenOver,
}

/// A cheap handle to the presence service: lifecycle reports (never blocking) and queries.
#[derive(Clone, Debug)]
pub struct PresenceHandle {
    commands: mpsc::UnboundedSender<Command>,
    store: Arc<dyn PresenceStore>,
    db: DatabaseConnection,
}

/// The presence task of one node. Build it, take [`PresenceService::handle`]s, then
/// [`PresenceService::run`] it.
#[derive(Debug)]
pub struct PresenceService {
    node: String,
    coalesce: Duration,
    heartbeat: Duration,
    store: Arc<dyn PresenceStore>,
    db: DatabaseConnection,
    sink: Arc<dyn EventSink>,
    commands: mpsc::UnboundedReceiver<Command>,
    handle: PresenceHandle,
}

#[derive(Debug)]
enum Command {
    Connected {
        device: DeviceRef,
        session: u64,
    },
    Disconnected {
        device: DeviceRef,
        session: u64,
        leaving: Leaving,
        at_ms: i64,
    },
    Settled(oneshot::Sender<()>),
}

/// A user state change on its way to watchers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    state: PresenceState,
    last_seen: Option<i64>,
}

impl Comparable for Change {
    fn same(&self, other: &Change) -> bool {
        self.state == other.state
    }
}

impl Change {
    fn of(presence: UserPresence) -> Change {
        match presence {
            UserPresence::Online => Change {
                state: PresenceState::Online,
                last_seen: None,
            },
            UserPresence::Offline { last_seen } => Change {
                state: PresenceState::Offline,
                last_seen,
            },
        }
    }
}

impl PresenceHandle {
    /// Reports that `device_id` of `user_id` connected (session `session_id`). Never blocks.
    pub fn connected(&self, user_id: i64, device_id: i64, session_id: u64) {
        let _ = self.commands.send(Command::Connected {
            device: DeviceRef { user_id, device_id },
            session: session_id,
        });
    }

    /// Reports that session `session_id` of `device_id` ended. Never blocks.
    pub fn disconnected(&self, user_id: i64, device_id: i64, session_id: u64, leaving: Leaving) {
        let _ = self.commands.send(Command::Disconnected {
            device: DeviceRef { user_id, device_id },
            session: session_id,
            leaving,
            at_ms: crate::now_ms(),
        });
    }

    /// Waits until every report sent before this call has been applied to the store (and
    /// any resulting change handed to coalescing). Returns at once if the service stopped.
    pub async fn settled(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Settled(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// What `viewer_id` may know of `user_id`'s presence; see [`crate::query`].
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn query(&self, viewer_id: i64, user_id: i64) -> Result<PresenceEvent> {
        crate::query(&self.db, self.store.as_ref(), viewer_id, user_id).await
    }

    /// The store, e.g. for a readiness probe.
    pub fn store(&self) -> &Arc<dyn PresenceStore> {
        &self.store
    }
}

impl PresenceService {
    /// A service for this node (`settings.node_id`, else [`crate::default_node_id`]).
    pub fn new(
        settings: &PresenceSettings,
        store: Arc<dyn PresenceStore>,
        db: DatabaseConnection,
        sink: Arc<dyn EventSink>,
    ) -> PresenceService {
        let (tx, commands) = mpsc::unbounded_channel();
        PresenceService {
            node: settings
                .node_id
                .clone()
                .unwrap_or_else(crate::default_node_id),
            coalesce: settings.coalesce(),
            heartbeat: settings.heartbeat(),
            handle: PresenceHandle {
                commands: tx,
                store: store.clone(),
                db: db.clone(),
            },
            store,
            db,
            sink,
            commands,
        }
    }

    /// A handle for the edge's hook and for queries.
    pub fn handle(&self) -> PresenceHandle {
        self.handle.clone()
    }

    /// This node's id in the registry.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Runs until `shutdown` is cancelled, then unregisters this node's devices (their users
    /// go offline for queries; last seen is persisted) and returns.
    ///
    /// # Errors
    /// None so far: store and database failures are logged and presence degrades.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let PresenceService {
            node,
            coalesce,
            heartbeat,
            store,
            db,
            sink,
            mut commands,
            handle,
        } = self;
        drop(handle);
        // Unbounded: the loop must never wait for the database, or heartbeats would stall
        // and the node would look dead. Coalescing bounds what queues up per user.
        let (fanout_tx, fanout_rx) = mpsc::unbounded_channel();
        let fanout = tokio::spawn(fan_out(db.clone(), sink, fanout_rx));
        let mut state = State {
            node,
            store,
            devices: HashMap::new(),
            dirty: HashSet::new(),
            healthy: true,
            coalescer: Coalescer::new(coalesce),
            fanout: fanout_tx,
        };
        gauge!(STORE_UP).set(1.0);
        info!(node = %state.node, "presence started");
        // The node must be alive in the store before its first device registers there.
        state.beat().await;
        let mut ticker = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let deadline = state.coalescer.next_deadline();
            // Heartbeats and due changes first: each is ready at most once per interval, so
            // they cannot starve the reports, and a flood of reports cannot starve them.
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => state.beat().await,
                _ = sleep_until(deadline) => state.flush_due().await,
                Some(command) = commands.recv() => state.apply(command).await,
            }
        }
        let State {
            node,
            store,
            fanout: fanout_tx,
            ..
        } = state;
        drop(fanout_tx);
        let stopping = async {
            let _ = fanout.await;
            let now = crate::now_ms();
            match store.remove_node(&node, now).await {
                Ok(users) => {
                    for user_id in users {
                        if let Err(err) = persist_last_seen(&db, user_id, now).await {
                            warn!(user_id, error = %err, "persisting last seen failed");
                        }
                    }
                }
                Err(err) => warn!(error = %err, "unregistering the node from presence failed"),
            }
        };
        if tokio::time::timeout(SHUTDOWN_BUDGET, stopping)
            .await
            .is_err()
        {
            warn!("presence did not finish unregistering the node in time");
        }
        info!(node = %node, "presence stopped");
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The service loop's state.
struct State {
    node: String,
    store: Arc<dyn PresenceStore>,
    /// Devices connected to this node, with their current session (`None`: taken over, the
    /// new session has not reported yet).
    devices: HashMap<DeviceRef, Option<u64>>,
    /// Users whose devices changed while the store was unreachable.
    dirty: HashSet<i64>,
    healthy: bool,
    coalescer: Coalescer<Change>,
    fanout: mpsc::UnboundedSender<(i64, Change)>,
}

impl State {
    async fn apply(&mut self, command: Command) {
        match command {
            Command::Connected { device, session } => {
                let previous = self.devices.insert(device, Some(session));
                if previous.is_some() {
                    // A take-over: the device never left.
                    return;
                }
                if !self.healthy {
                    self.dirty.insert(device.user_id);
                    return;
                }
                match self.store.device_online(&self.node, device).await {
                    Ok(true) => {
                        let change = Change {
                            state: PresenceState::Online,
                            last_seen: None,
                        };
                        self.change(device.user_id, change).await;
                    }
                    Ok(false) => {}
                    Err(err) => self.degrade(device.user_id, &err),
                }
            }
            Command::Disconnected {
                device,
                session,
                leaving,
                at_ms,
            } => {
                let Some(current) = self.devices.get_mut(&device) else {
                    return;
                };
                match (leaving, *current) {
                    (Leaving::TakenOver, Some(current_session)) if current_session == session => {
                        *current = None;
                        return;
                    }
                    // A session that is not the device's current one ended: stale news.
                    (_, Some(current_session)) if current_session != session => return,
                    (Leaving::TakenOver, _) => return,
                    _ => {}
                }
                self.devices.remove(&device);
                if !self.healthy {
                    self.dirty.insert(device.user_id);
                    return;
                }
                match self.store.device_offline(&self.node, device, at_ms).await {
                    Ok(true) => {
                        let change = Change {
                            state: PresenceState::Offline,
                            last_seen: Some(at_ms),
                        };
                        self.change(device.user_id, change).await;
                    }
                    Ok(false) => {}
                    Err(err) => self.degrade(device.user_id, &err),
                }
            }
            Command::Settled(done) => {
                let _ = done.send(());
            }
        }
    }

    /// The heartbeat: prove the node alive; after an outage, re-register and publish what
    /// changed; reap dead nodes.
    async fn beat(&mut self) {
        let now = crate::now_ms();
        let registered = match self.store.heartbeat(&self.node, now).await {
            Ok(registered) => registered,
            Err(err) => return self.degrade_quietly(&err),
        };
        if !self.healthy || !registered {
            let devices: Vec<DeviceRef> = self.devices.keys().copied().collect();
            if let Err(err) = self.store.resync(&self.node, &devices, now).await {
                return self.degrade_quietly(&err);
            }
        }
        if !self.healthy {
            self.healthy = true;
            gauge!(STORE_UP).set(1.0);
            info!(
                dirty_users = self.dirty.len(),
                "presence store reachable again"
            );
        }
        let dirty: Vec<i64> = self.dirty.drain().collect();
        for (index, user_id) in dirty.iter().enumerate() {
            match self.store.user_presence(*user_id).await {
                Ok(presence) => self.change(*user_id, Change::of(presence)).await,
                Err(err) => {
                    self.dirty.extend(&dirty[index..]);
                    return self.degrade_quietly(&err);
                }
            }
        }
        match self.store.reap_dead_nodes(now).await {
            Ok(reaped) => {
                counter!(REAPED).increment(reaped.len() as u64);
                for user in reaped {
                    let change = Change {
                        state: PresenceState::Offline,
                        last_seen: Some(user.last_seen),
                    };
                    self.change(user.user_id, change).await;
                }
            }
            Err(err) => self.degrade_quietly(&err),
        }
    }

    async fn change(&mut self, user_id: i64, change: Change) {
        counter!(CHANGES).increment(1);
        if let Some(change) = self.coalescer.offer(user_id, change, Instant::now()) {
            self.emit(user_id, change).await;
        }
    }

    async fn flush_due(&mut self) {
        for (user_id, change) in self.coalescer.due(Instant::now()) {
            self.emit(user_id, change).await;
        }
    }

    async fn emit(&mut self, user_id: i64, change: Change) {
        counter!(EMITTED).increment(1);
        if self.fanout.send((user_id, change)).is_err() {
            warn!(user_id, "presence fan-out stopped, dropping a change");
        }
    }

    fn degrade(&mut self, user_id: i64, err: &Error) {
        self.dirty.insert(user_id);
        self.degrade_quietly(err);
    }

    fn degrade_quietly(&mut self, err: &Error) {
        counter!(STORE_ERRORS).increment(1);
        if self.healthy {
            self.healthy = false;
            gauge!(STORE_UP).set(0.0);
            warn!(error = %err, error.chain = ?err, "presence store unreachable, presence degraded to unknown");
        }
    }
}

/// Delivers changes, in order, to the watchers of each user.
async fn fan_out(
    db: DatabaseConnection,
    sink: Arc<dyn EventSink>,
    mut changes: mpsc::UnboundedReceiver<(i64, Change)>,
) {
    while let Some((user_id, change)) = changes.recv().await {
        if let Err(err) = deliver(&db, sink.as_ref(), user_id, change).await {
            warn!(user_id, error = %err, "presence fan-out failed");
        }
    }
}

/// Persists an offline change's last seen, then publishes the change to every watcher.
async fn deliver(
    db: &DatabaseConnection,
    sink: &dyn EventSink,
    user_id: i64,
    change: Change,
) -> Result<()> {
    if let (PresenceState::Offline, Some(at)) = (change.state, change.last_seen) {
        persist_last_seen(db, user_id, at).await?;
    }
    let watchers = crate::watchers::of(db, user_id).await?;
    let event = PresenceEvent::new(user_id, change.state, change.last_seen);
    let payload = Bytes::from(
        serde_json::to_vec(&event).expect("invariant: a presence event always serializes"),
    );
    debug!(user_id, state = ?change.state, watchers = watchers.len(), "presence change");
    for watcher in watchers {
        sink.publish(topics::user_presence(watcher), payload.clone())
            .await
            .map_err(Error::Publish)?;
        counter!(EVENTS_OUT).increment(1);
    }
    Ok(())
}

/// Sets `users.last_seen_at` to `at`, unless it already holds a later time.
async fn persist_last_seen(db: &DatabaseConnection, user_id: i64, at: i64) -> Result<()> {
    users::Entity::update_many()
        .col_expr(users::Column::LastSeenAt, Expr::value(at))
        .filter(users::Column::Id.eq(user_id))
        .filter(
            Condition::any()
                .add(users::Column::LastSeenAt.is_null())
                .add(users::Column::LastSeenAt.lt(at)),
        )
        .exec(db)
        .await?;
    Ok(())
}
