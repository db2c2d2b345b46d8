//! The hub: the edge's one link to the rumqttd router, shared by every client connection of
//! this node, and the routing table from namespaces to connected sessions.
//!
//! Router-side state is four wildcard filters per node (`u/#`, `g/#`, `d/#` and the control
//! topics), whatever the number of users: the hub demultiplexes by namespace, and each
//! session matches its own filters. Publishes from clients go to the router through one
//! uplink thread, because rumqttd's local link sends with a blocking channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_proto::stamp::{self, Origin, Stamp};
use natter_proto::topics;
use rumqttd::Notification;
use rumqttd::local::{LinkRx, LinkTx};
use tokio::sync::mpsc;
use tracing::{debug, error, warn};

use crate::edge::acl::Namespace;
use crate::edge::cluster::{self, ClusterLink};
use crate::edge::codec::CloseReason;
use crate::edge::outbox::{Outbox, Ticket};
use crate::edge::telemetry::SLOW_CLIENT_CLOSES;

/// How many client publishes may wait for the uplink thread.
const UPLINK_CAPACITY: usize = 8192;

/// A message from the router to a session: one pointer, shared by every session it goes to.
/// Small on purpose: every session's delivery queue has room for 32 of them from the start,
/// idle or not (docs/PERFORMANCE.md, "Idle connections").
#[derive(Clone, Debug)]
pub(crate) struct Delivery(Arc<Message>);

/// What a [`Delivery`] carries.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub(crate) topic: Arc<str>,
    pub(crate) payload: Bytes,
    /// MQTT 5 correlation data, on the answer to a call that named a response topic.
    pub(crate) correlation: Option<Bytes>,
    /// When a bridge published it and this node received it, for the per-hop timing.
    pub(crate) timing: Option<Timing>,
}

impl std::ops::Deref for Delivery {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.0
    }
}

impl From<Message> for Delivery {
    fn from(message: Message) -> Delivery {
        Delivery(Arc::new(message))
    }
}

/// When an event from a bridge was handed on: by the bridge (its stamp) and to this node's
/// hub (on this process's monotonic clock).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) published: Stamp,
    pub(crate) received: Instant,
}

/// How often waiting outbox publishes are checked for a missing report.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Message {
    /// What the delivery counts against its session's buffer.
    pub(crate) fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

/// Instructions to a session from outside its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// Close the connection with this reason.
    Close(CloseReason),
    /// Drop every subscription in this group's namespace (the member was removed).
    LeaveGroup(i64),
    /// One of the session's outbox publishes was handled by a bridge (`failed: None`: the
    /// PUBACK is due, if `pkid`) or given up (`failed`: the request, to answer with an error).
    OutboxDone {
        pkid: Option<u16>,
        /// Boxed: the control queue, too, has room for 32 from the start.
        failed: Option<Box<Bytes>>,
    },
}

/// How the hub reaches one session.
#[derive(Clone, Debug)]
pub(crate) struct SessionHandle {
    pub(crate) id: u64,
    pub(crate) user_id: i64,
    pub(crate) device_id: i64,
    pub(crate) deliveries: mpsc::Sender<Delivery>,
    /// Bytes of deliveries held for the session (queued, waiting for the window, or sent and
    /// not yet acknowledged); past `max_buffered` it counts as too slow.
    pub(crate) buffered: Arc<AtomicUsize>,
    pub(crate) max_buffered: usize,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    /// Cancelled once the session has ended and stored its persistent state, so that a
    /// connection taking over can pick that state up.
    pub(crate) done: tokio_util::sync::CancellationToken,
}

/// The routing table and the uplink. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    routes: RwLock<HashMap<Namespace, Vec<SessionHandle>>>,
    /// Operators watching every namespace.
    watchers: RwLock<Vec<SessionHandle>>,
    /// Connected sessions by device, for take-over and revocation.
    devices: RwLock<HashMap<i64, SessionHandle>>,
    uplink: Option<mpsc::Sender<(String, Bytes)>>,
    /// The other nodes, when this node is one of several.
    cluster: OnceLock<Arc<dyn ClusterLink>>,
    /// Connected devices per user, changed only under the `devices` write lock: whether a
    /// device is its user's first or last on this node, without scanning every connection.
    devices_per_user: std::sync::Mutex<HashMap<i64, u32>>,
    /// Outbox publishes waiting for a bridge's report, and the node's budget for them.
    outbox: Outbox,
}

impl Hub {
    /// Subscribes the node-wide filters on the router link and starts the downlink task and
    /// the uplink thread. `link` comes from `LinkBuilder::build` on the router.
    ///
    /// # Errors
    /// When the router refuses a subscription or the uplink thread cannot start.
    pub(crate) fn start(link: (LinkTx, LinkRx)) -> std::io::Result<Hub> {
        let (mut link_tx, link_rx) = link;
        for filter in ["u/#", "g/#", "d/#", topics::CONTROL_FILTER] {
            link_tx.subscribe(filter).map_err(|err| {
                std::io::Error::other(format!("subscribing {filter} on the router: {err}"))
            })?;
        }
        let (uplink, uplink_rx) = mpsc::channel(UPLINK_CAPACITY);
        std::thread::Builder::new()
            .name("edge-uplink".into())
            .spawn(move || run_uplink(link_tx, uplink_rx))?;
        let hub = Hub {
            inner: Arc::new(Inner {
                uplink: Some(uplink),
                ..Inner::default()
            }),
        };
        tokio::spawn(run_downlink(hub.clone(), link_rx));
        tokio::spawn(sweep_outbox(std::sync::Arc::downgrade(&hub.inner)));
        Ok(hub)
    }

    /// Hands a client's publish to the router, waiting while the uplink is full. In a user's
    /// namespace (its outbox) the payload goes with a stamp of `read_at` (when the edge read
    /// it, wall-clock microseconds), for the per-hop timing; the hub takes it off again on the
    /// way back.
    ///
    /// # Errors
    /// When the uplink thread has stopped (the router is gone).
    pub(crate) async fn publish(
        &self,
        topic: String,
        payload: Bytes,
        read_at: u64,
    ) -> Result<(), ()> {
        let payload = if stamp::applies_to(&topic) {
            let stamp = Stamp {
                origin: Origin::Edge,
                micros: read_at,
            };
            Bytes::from(stamp::stamped(stamp, &payload))
        } else {
            payload
        };
        self.publish_unstamped(topic, payload).await
    }

    /// Hands a publish of this node (presence) to the router as it is: a payload natter
    /// wrote, which never looks stamped.
    ///
    /// # Errors
    /// When the uplink thread has stopped (the router is gone).
    pub(crate) async fn publish_unstamped(&self, topic: String, payload: Bytes) -> Result<(), ()> {
        match &self.inner.uplink {
            Some(uplink) => uplink.send((topic, payload)).await.map_err(drop),
            None => Err(()),
        }
    }

    /// Joins the cluster through `link` (once; later calls are ignored).
    pub(crate) fn join_cluster(&self, link: Arc<dyn ClusterLink>) {
        let _ = self.inner.cluster.set(link);
    }

    /// The node budget of outbox publishes not yet handled by a bridge.
    pub(crate) fn outbox_budget(&self) -> Arc<tokio::sync::Semaphore> {
        self.inner.outbox.budget()
    }

    /// Records an outbox publish of `device_id` about to be handed to the router: the
    /// session hears of it again when a bridge reports it handled, or when it is given up.
    pub(crate) fn track_outbox(&self, device_id: i64, ticket: Ticket) {
        self.inner.outbox.track(device_id, ticket);
    }

    /// Tells each ticket's session, if it is still connected, that the publish is done.
    fn outbox_done(&self, done: Vec<(i64, Ticket)>, failed: bool) {
        if done.is_empty() {
            return;
        }
        let devices = read(&self.inner.devices);
        for (device_id, ticket) in done {
            if let Some(session) = devices.get(&device_id)
                && session.id == ticket.session_id
            {
                let _ = session.control.send(Control::OutboxDone {
                    pkid: ticket.pkid,
                    failed: failed.then(|| Box::new(ticket.payload.clone())),
                });
            }
        }
    }

    /// Registers `session` as the connection of its device, returning the connection it
    /// replaces on this node (which the caller tells to close). Other nodes are told to close
    /// theirs.
    pub(crate) fn attach(&self, session: &SessionHandle) -> Option<SessionHandle> {
        let mut devices = write(&self.inner.devices);
        let previous = devices.insert(session.device_id, session.clone());
        let first_of_user = previous.is_none() && {
            let mut counts = lock(&self.inner.devices_per_user);
            let count = counts.entry(session.user_id).or_default();
            *count += 1;
            *count == 1
        };
        if let Some(link) = self.inner.cluster.get() {
            link.device_attached(session.user_id, session.device_id, first_of_user);
        }
        previous
    }

    /// Forgets `session` everywhere, unless its device has already been taken over.
    pub(crate) fn detach(&self, session_id: u64, device_id: i64) {
        let mut devices = write(&self.inner.devices);
        if let Some(current) = devices.get(&device_id)
            && current.id == session_id
        {
            let user_id = current.user_id;
            devices.remove(&device_id);
            let last_of_user = {
                let mut counts = lock(&self.inner.devices_per_user);
                let count = counts.entry(user_id).or_default();
                *count = count.saturating_sub(1);
                let last = *count == 0;
                if last {
                    counts.remove(&user_id);
                }
                last
            };
            if let Some(link) = self.inner.cluster.get()
                && last_of_user
            {
                link.user_left(user_id);
            }
        }
        drop(devices);
        write(&self.inner.routes).retain(|_, sessions| {
            sessions.retain(|session| session.id != session_id);
            !sessions.is_empty()
        });
        write(&self.inner.watchers).retain(|session| session.id != session_id);
    }

    /// Routes `namespace` to `session`.
    pub(crate) fn route(&self, namespace: Namespace, session: &SessionHandle) {
        let mut routes = write(&self.inner.routes);
        let sessions = routes.entry(namespace).or_default();
        if !sessions.iter().any(|existing| existing.id == session.id) {
            sessions.push(session.clone());
        }
    }

    /// Stops routing `namespace` to the session `session_id`.
    pub(crate) fn unroute(&self, namespace: Namespace, session_id: u64) {
        let mut routes = write(&self.inner.routes);
        if let Some(sessions) = routes.get_mut(&namespace) {
            sessions.retain(|session| session.id != session_id);
            if sessions.is_empty() {
                routes.remove(&namespace);
            }
        }
    }

    /// Routes every namespace to `session` (operators).
    pub(crate) fn watch(&self, session: &SessionHandle) {
        let mut watchers = write(&self.inner.watchers);
        if !watchers.iter().any(|existing| existing.id == session.id) {
            watchers.push(session.clone());
        }
    }

    /// Tells the connection of `device_id`, if any, to close.
    pub(crate) fn kick_device(&self, device_id: i64, reason: CloseReason) {
        if let Some(session) = read(&self.inner.devices).get(&device_id) {
            let _ = session.control.send(Control::Close(reason));
        }
    }

    /// The device connected to another node: its connection here, if any, closes as taken
    /// over.
    pub(crate) fn taken_over_elsewhere(&self, device_id: i64) {
        self.kick_device(device_id, CloseReason::SessionTakenOver);
    }

    /// Cuts `user_id`'s subscriptions to group `group_id` on this node.
    pub(crate) fn remove_member(&self, group_id: i64, user_id: i64) {
        let namespace = Namespace::Group(group_id);
        let mut routes = write(&self.inner.routes);
        if let Some(sessions) = routes.get_mut(&namespace) {
            sessions.retain(|session| {
                let member = session.user_id == user_id;
                if member {
                    let _ = session.control.send(Control::LeaveGroup(group_id));
                }
                !member
            });
            if sessions.is_empty() {
                routes.remove(&namespace);
            }
        }
    }

    /// A message from this node's router: to this node's sessions, and to the other nodes
    /// that need it.
    /// The stamp comes off first: neither sessions, operators nor other nodes see it.
    fn on_router_message(&self, topic: &str, payload: &Bytes) {
        let (timing, payload) = unstamp(topic, payload);
        self.dispatch(topic, &payload, timing);
        if let Some(link) = self.inner.cluster.get()
            && let Some(user) = cluster::scope(topic)
        {
            link.forward(user, topic, &payload);
        }
    }

    /// A message from another node (already without its stamp): to this node's sessions
    /// only.
    pub(crate) fn on_cluster_message(&self, topic: &str, payload: &Bytes) {
        self.dispatch(topic, payload, None);
    }

    /// Sends a message to every session of this node routed to its namespace.
    fn dispatch(&self, topic: &str, payload: &Bytes, timing: Option<Timing>) {
        if topic == topics::OUTBOX_HANDLED {
            let done = self.inner.outbox.handled(&topics::parse_handled(payload));
            self.outbox_done(done, false);
        } else if let Some(control) = topics::parse_control(topic) {
            self.apply(control);
        }
        // Requests on outboxes are for the bridges: a user's own sessions never see them
        // echoed back (that was a wake-up of every connection of the sender per request).
        // Operators watching everything still do.
        let routes = read(&self.inner.routes);
        let sessions = Namespace::of_topic(topic)
            .filter(|_| !topics::is_outbox(topic))
            .and_then(|namespace| routes.get(&namespace));
        let watchers = read(&self.inner.watchers);
        if sessions.is_none_or(Vec::is_empty) && watchers.is_empty() {
            // Nobody here receives it: no delivery to build.
            return;
        }
        let delivery = Delivery::from(Message {
            topic: Arc::from(topic),
            payload: payload.clone(),
            correlation: None,
            timing,
        });
        sessions
            .into_iter()
            .flatten()
            .chain(watchers.iter())
            .for_each(|session| offer(session, &delivery));
    }

    fn apply(&self, control: topics::ControlTopic) {
        match control {
            topics::ControlTopic::DeviceRevoked { device_id } => {
                self.kick_device(device_id, CloseReason::AdministrativeAction);
            }
            topics::ControlTopic::MemberRemoved { group_id, user_id } => {
                self.remove_member(group_id, user_id);
            }
        }
    }
}

/// Takes the stamp off a payload from the router (the payload is sliced, not copied). Only
/// a bridge's stamp is worth keeping: an edge's is on a client's publish coming back.
fn unstamp(topic: &str, payload: &Bytes) -> (Option<Timing>, Bytes) {
    match stamp::read(payload).filter(|_| stamp::applies_to(topic)) {
        Some(published) => {
            let timing = (published.origin == Origin::Bridge).then(|| Timing {
                published,
                received: Instant::now(),
            });
            (timing, payload.slice(stamp::LEN..))
        }
        None => (None, payload.clone()),
    }
}

/// Queues `delivery` for `session`. A session that cannot keep up is closed rather than
/// silently missing messages: its device resumes from its cursor when it reconnects.
fn offer(session: &SessionHandle, delivery: &Delivery) {
    let size = delivery.size();
    let held = session.buffered.fetch_add(size, Ordering::Relaxed) + size;
    let refused = if held > session.max_buffered {
        true
    } else {
        matches!(
            session.deliveries.try_send(delivery.clone()),
            Err(mpsc::error::TrySendError::Full(_))
        )
    };
    if refused {
        session.buffered.fetch_sub(size, Ordering::Relaxed);
        metrics::counter!(SLOW_CLIENT_CLOSES).increment(1);
        warn!(
            device_id = session.device_id,
            "client too slow, closing its connection"
        );
        let _ = session
            .control
            .send(Control::Close(CloseReason::QuotaExceeded));
    }
}

async fn run_downlink(hub: Hub, mut link_rx: LinkRx) {
    loop {
        match link_rx.next().await {
            Ok(Some(Notification::Forward(forward))) => {
                match std::str::from_utf8(&forward.publish.topic) {
                    Ok(topic) => hub.on_router_message(topic, &forward.publish.payload),
                    Err(_) => debug!("dropping a router message with a non-UTF-8 topic"),
                }
            }
            Ok(Some(Notification::Unschedule)) => {
                if let Err(err) = link_rx.wake().await {
                    error!(error = %err, "edge link to the router failed");
                    return;
                }
            }
            Ok(_) => {}
            Err(err) => {
                error!(error = %err, "edge link to the router closed");
                return;
            }
        }
    }
}

/// Gives up outbox publishes whose report did not come in time, until the hub is gone.
async fn sweep_outbox(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let expired = inner.outbox.expired(Instant::now());
        if !expired.is_empty() {
            warn!(
                publishes = expired.len(),
                "no bridge reported outbox publishes handled in time; their senders get an error"
            );
            Hub { inner }.outbox_done(expired, true);
        }
    }
}

fn run_uplink(mut link_tx: LinkTx, mut uplink: mpsc::Receiver<(String, Bytes)>) {
    while let Some((topic, payload)) = uplink.blocking_recv() {
        if let Err(err) = link_tx.publish(topic, payload) {
            error!(error = %err, "edge uplink to the router failed");
            return;
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // The tables stay consistent even if a holder panicked: every update is one call.
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The counts stay consistent even if a holder panicked: every update is one call.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
