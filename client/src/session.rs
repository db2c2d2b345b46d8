//! The background side of a client: one task drives the MQTT event loop (and reconnects),
//! another owns the protocol state (pending sends, cursor, held messages) and talks to it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use natter_proto::envelope::{self, Base64, ReceiptStatus, Request, Target};
use natter_proto::topics;
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event as MqttEvent, EventLoop, MqttOptions};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::{CursorStore, Error, Event, Login, MemoryCursor, Message, Options, Result};

/// What the application asks for.
#[derive(Debug)]
pub(crate) enum Command {
    Send {
        id: String,
        to: Target,
        body: Vec<u8>,
    },
    Receipt {
        status: ReceiptStatus,
        ids: Vec<i64>,
    },
    Sync {
        after: i64,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// What the event-loop task reports.
#[derive(Debug)]
enum Link {
    Up,
    Down(String),
    SubAck(Vec<SubscribeReasonCode>),
    Publish { topic: Vec<u8>, payload: Vec<u8> },
}

/// Most bytes one packet may have, both ways.
const MAX_PACKET: u32 = 4 * 1024 * 1024;
/// How long closing waits for DISCONNECT to leave.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Most QoS 1 publishes in flight (waiting for PUBACK) on one connection; natter's own
/// default (`mqtt.max_inflight`). A server that allows fewer lowers it in its CONNACK. Sends
/// beyond it wait in the request queue, and every send stays in `pending` until `sent`.
const MAX_INFLIGHT: u16 = 100;
/// Requests (publishes, subscribes) queued for the event loop before `publish` waits.
const REQUESTS: usize = 1000;
/// After this many syncs that left a gap, held messages are handed over anyway (the
/// positions in between no longer exist, e.g. after retention).
const GAP_SYNCS: u32 = 3;

#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    host: &str,
    port: u16,
    login: Login,
    mut options: Options,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    first: oneshot::Sender<std::result::Result<(), String>>,
) -> Result<()> {
    let mut store = options
        .cursor
        .take()
        .unwrap_or_else(|| Box::new(MemoryCursor(0)));
    let cursor = store.load()?;
    let (mqtt, eventloop) = AsyncClient::new(mqtt_options(host, port, &login, &options), REQUESTS);
    let (link_tx, links) = mpsc::unbounded_channel();
    let driver = tokio::spawn(drive(
        eventloop,
        link_tx,
        options.reconnect_min,
        options.reconnect_max,
    ));
    let session = Session {
        device_id: login.device_id,
        inbox: topics::user_inbox(login.user_id),
        replies: topics::device_replies(login.user_id, login.device_id),
        outbox: topics::user_outbox(login.user_id),
        mqtt,
        events,
        first: Some(first),
        store,
        cursor,
        resend_after: options.resend_after,
        subacks_missing: 0,
        connected: false,
        syncing: None,
        gap_syncs: 0,
        held: BTreeMap::new(),
        pending: BTreeMap::new(),
        order_of: HashMap::new(),
        next_order: 0,
        receipts: Vec::new(),
        backoff_until: None,
        refusals: 0,
    };
    tokio::spawn(session.run(commands, links, driver));
    Ok(())
}

/// The MQTT options of a client.
fn mqtt_options(host: &str, port: u16, login: &Login, options: &Options) -> MqttOptions {
    let client_id = options
        .client_id
        .clone()
        .unwrap_or_else(|| format!("nc-{}", uuid::Uuid::new_v4().simple()));
    let mut mqtt_options = MqttOptions::new(client_id, host, port);
    mqtt_options
        .set_credentials(login.username.clone(), login.password.clone())
        .set_keep_alive(options.keep_alive)
        .set_clean_start(true)
        .set_max_packet_size(Some(MAX_PACKET))
        // rumqttc allocates a slot per possible in-flight publish up front (about 14 MB for
        // its default of 65,535) and only lowers the limit, not the allocation, when the
        // server's CONNACK asks for fewer.
        .set_outgoing_inflight_upper_limit(MAX_INFLIGHT);
    // Small packets both ways: without this, Nagle's algorithm can hold a send back until the
    // server's delayed ACK (~40 ms).
    let mut network = mqtt_options.network_options();
    network.set_tcp_nodelay(true);
    mqtt_options.set_network_options(network);
    mqtt_options
}

/// Drives the MQTT event loop: reports connection changes and incoming publishes, and waits
/// with exponential backoff before each reconnect (rumqttc reconnects on the next poll).
async fn drive(
    mut eventloop: EventLoop,
    links: mpsc::UnboundedSender<Link>,
    min: Duration,
    max: Duration,
) {
    let mut backoff = min;
    loop {
        let link = match eventloop.poll().await {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                backoff = min;
                Link::Up
            }
            Ok(MqttEvent::Incoming(Packet::SubAck(ack))) => Link::SubAck(ack.return_codes),
            Ok(MqttEvent::Incoming(Packet::Publish(publish))) => Link::Publish {
                topic: publish.topic.to_vec(),
                payload: publish.payload.to_vec(),
            },
            // We asked to leave: nothing more to drive.
            Ok(MqttEvent::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => continue,
            Err(err) => {
                if links.send(Link::Down(err.to_string())).is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max);
                continue;
            }
        };
        if links.send(link).is_err() {
            return;
        }
    }
}

/// What an `unavailable` without a `retry_after_ms` waits.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Longest wait after `unavailable` refusals in a row (unless the server asks for more).
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// How long to hold sends after the `refusals`-th `unavailable` in a row: the server's hint,
/// doubled for each earlier refusal in the row (capped), plus up to a quarter more at random
/// so that clients refused together come back apart (docs/PROTOCOL.md, "Retrying").
fn backoff(retry_after_ms: Option<u64>, refusals: u32) -> Duration {
    let hint = retry_after_ms.map_or(DEFAULT_RETRY, Duration::from_millis);
    let factor = 1_u32 << refusals.saturating_sub(1).min(5);
    let base = hint.saturating_mul(factor).min(BACKOFF_CAP.max(hint));
    let span = u64::try_from((base / 4).as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let random = uuid::Uuid::new_v4().as_u128() % u128::from(span);
    base + Duration::from_millis(u64::try_from(random).unwrap_or(0))
}

/// A send waiting for its `sent`.
#[derive(Debug)]
struct Pending {
    payload: Vec<u8>,
    /// When it was last published on the current connection; `None`: not yet.
    published: Option<Instant>,
}

/// An inbox entry, handed over once and in inbox order.
#[derive(Debug)]
enum Entry {
    Message(Message),
    Read {
        conversation_id: i64,
        seq: i64,
        inbox_seq: i64,
    },
    /// The own copy of a send of this client, already reported as `Sent`: it only moves the
    /// cursor.
    OwnSend(i64),
}

impl Entry {
    fn inbox_seq(&self) -> i64 {
        match self {
            Entry::Message(message) => message.inbox_seq,
            Entry::Read { inbox_seq, .. } | Entry::OwnSend(inbox_seq) => *inbox_seq,
        }
    }
}

struct Session {
    /// This device, to recognise the own copies of its sends.
    device_id: i64,
    inbox: String,
    replies: String,
    outbox: String,
    mqtt: AsyncClient,
    events: mpsc::UnboundedSender<Event>,
    /// Told how the first connection attempt ended.
    first: Option<oneshot::Sender<std::result::Result<(), String>>>,
    store: Box<dyn CursorStore>,
    /// The highest inbox position handed to the application.
    cursor: i64,
    resend_after: Duration,
    subacks_missing: usize,
    /// Subscribed on the current connection.
    connected: bool,
    /// When the current sync was published.
    syncing: Option<Instant>,
    /// Syncs in a row that ended with held messages still after a gap.
    gap_syncs: u32,
    /// Live entries after a gap, by inbox position, until a sync fills it.
    held: BTreeMap<i64, Entry>,
    /// Unconfirmed sends in the order they were made.
    pending: BTreeMap<u64, Pending>,
    order_of: HashMap<String, u64>,
    next_order: u64,
    /// Receipts asked for while disconnected.
    receipts: Vec<Vec<u8>>,
    /// After `unavailable`: nothing is sent again before this.
    backoff_until: Option<Instant>,
    /// Rounds in a row that ended in `unavailable` (reset by a `sent`).
    refusals: u32,
}

impl Session {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut links: mpsc::UnboundedReceiver<Link>,
        mut driver: tokio::task::JoinHandle<()>,
    ) {
        let period = (self.resend_after / 4).max(Duration::from_millis(50));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let done = loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => break None,
                    Some(Command::Close { done }) => break Some(done),
                    Some(command) => self.command(command).await,
                },
                link = links.recv() => match link {
                    None => break None,
                    Some(link) => if !self.link(link).await { break None },
                },
                _ = tick.tick() => self.resend_stale().await,
            }
        };
        if self.connected {
            // NormalDisconnection without properties: rumqttc writes that one correctly.
            let _ = self.mqtt.disconnect().await;
            if tokio::time::timeout(CLOSE_GRACE, &mut driver)
                .await
                .is_err()
            {
                driver.abort();
            }
        } else {
            driver.abort();
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    async fn publish(&self, payload: Vec<u8>) {
        // Only fails once the event loop is gone; a lost publish is repeated by the resend
        // timer or the next connect.
        let _ = self
            .mqtt
            .publish(self.outbox.as_str(), QoS::AtLeastOnce, false, payload)
            .await;
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Send { id, to, body } => {
                if self.order_of.contains_key(&id) {
                    return;
                }
                let request = Request::Send {
                    id: id.clone(),
                    to,
                    body: Base64(body),
                    reply_to: None,
                    media: None,
                };
                let Some(payload) = self.encode(&request, Some(&id)) else {
                    return;
                };
                let order = self.next_order;
                self.next_order += 1;
                self.order_of.insert(id, order);
                let mut pending = Pending {
                    payload,
                    published: None,
                };
                if self.connected && !self.backing_off(Instant::now()) {
                    self.publish(pending.payload.clone()).await;
                    pending.published = Some(Instant::now());
                }
                self.pending.insert(order, pending);
            }
            Command::Receipt { status, ids } => {
                let Some(payload) = self.encode(&Request::Receipt { status, ids }, None) else {
                    return;
                };
                if self.connected {
                    self.publish(payload).await;
                } else {
                    self.receipts.push(payload);
                }
            }
            Command::Sync { after } => {
                self.cursor = after.max(0);
                self.held.clear();
                self.start_sync().await;
            }
            Command::Close { .. } => {}
        }
    }

    fn encode(&self, request: &Request, id: Option<&str>) -> Option<Vec<u8>> {
        match serde_json::to_vec(request) {
            Ok(payload) => Some(payload),
            Err(err) => {
                self.emit(Event::Error {
                    id: id.map(str::to_owned),
                    code: "encode".to_owned(),
                    message: Error::Encode(err).to_string(),
                });
                None
            }
        }
    }

    /// Handles what the event loop reports; `false` when the client should stop (the first
    /// connection failed).
    async fn link(&mut self, link: Link) -> bool {
        match link {
            Link::Up => {
                self.connected = false;
                self.subacks_missing = 2;
                for topic in [&self.inbox, &self.replies] {
                    let _ = self.mqtt.subscribe(topic.as_str(), QoS::AtLeastOnce).await;
                }
            }
            Link::SubAck(codes) => {
                if self.subacks_missing == 0 {
                    return true;
                }
                if let Some(code) = codes
                    .iter()
                    .find(|code| !matches!(code, SubscribeReasonCode::Success(_)))
                {
                    let reason = format!("subscription refused: {code:?}");
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(reason));
                        return false;
                    }
                    self.emit(Event::Error {
                        id: None,
                        code: "subscribe_refused".to_owned(),
                        message: reason,
                    });
                }
                self.subacks_missing -= 1;
                if self.subacks_missing == 0 {
                    self.up().await;
                }
            }
            Link::Down(reason) => {
                if let Some(first) = self.first.take() {
                    let _ = first.send(Err(reason));
                    return false;
                }
                let was_up = self.connected || self.subacks_missing > 0;
                self.connected = false;
                self.subacks_missing = 0;
                self.syncing = None;
                for pending in self.pending.values_mut() {
                    pending.published = None;
                }
                if was_up {
                    self.emit(Event::Disconnected { reason });
                }
            }
            Link::Publish { topic, payload } => {
                let from_sync = topic == self.replies.as_bytes();
                match serde_json::from_slice::<envelope::Event>(&payload) {
                    Ok(event) => self.server_event(event, from_sync).await,
                    Err(err) => self.emit(Event::Error {
                        id: None,
                        code: "bad_event".to_owned(),
                        message: format!("the server sent something unreadable: {err}"),
                    }),
                }
            }
        }
        true
    }

    /// Subscribed: report it, resume from the cursor, then publish what is still owed.
    async fn up(&mut self) {
        self.connected = true;
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(()));
        }
        self.emit(Event::Connected);
        self.start_sync().await;
        for payload in std::mem::take(&mut self.receipts) {
            self.publish(payload).await;
        }
        let payloads: Vec<Vec<u8>> = self
            .pending
            .values()
            .map(|pending| pending.payload.clone())
            .collect();
        for payload in payloads {
            self.publish(payload).await;
        }
        let now = Instant::now();
        for pending in self.pending.values_mut() {
            pending.published = Some(now);
        }
    }

    async fn start_sync(&mut self) {
        if !self.connected {
            return;
        }
        let Some(payload) = self.encode(&Request::Sync { after: self.cursor }, None) else {
            return;
        };
        self.publish(payload).await;
        self.syncing = Some(Instant::now());
    }

    /// Publishes again the sends (and the sync) that got no answer in time.
    async fn resend_stale(&mut self) {
        let now = Instant::now();
        if !self.connected || self.backing_off(now) {
            return;
        }
        let stale = |published: Option<Instant>| {
            published.is_none_or(|at| now.duration_since(at) >= self.resend_after)
        };
        let due: Vec<(u64, Vec<u8>)> = self
            .pending
            .iter()
            .filter(|(_, pending)| stale(pending.published))
            .map(|(order, pending)| (*order, pending.payload.clone()))
            .collect();
        let sync_due = self.syncing.is_some_and(|at| stale(Some(at)));
        for (order, payload) in due {
            self.publish(payload).await;
            if let Some(pending) = self.pending.get_mut(&order) {
                pending.published = Some(now);
            }
        }
        if sync_due {
            self.start_sync().await;
        }
    }

    /// Whether sends are held after `unavailable` (see [`backoff`]).
    fn backing_off(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }

    async fn server_event(&mut self, event: envelope::Event, from_sync: bool) {
        match event {
            envelope::Event::Sent {
                id,
                server_id,
                conversation_id,
                seq,
                inbox_seq,
                ts,
            } => {
                // Another device of this user, or a repeated answer: not ours to report.
                let Some(order) = self.order_of.remove(&id) else {
                    return;
                };
                self.pending.remove(&order);
                self.refusals = 0;
                self.emit(Event::Sent {
                    id,
                    server_id,
                    conversation_id,
                    seq,
                    ts,
                });
                // The own copy for the other devices sits at this inbox position; the server
                // does not send it to this device, so `sent` stands in for it.
                if let Some(inbox_seq) = inbox_seq {
                    self.entry(Entry::OwnSend(inbox_seq), false).await;
                }
            }
            envelope::Event::Read {
                inbox_seq,
                conversation_id,
                seq,
            } => {
                let read = Entry::Read {
                    conversation_id,
                    seq,
                    inbox_seq,
                };
                self.entry(read, from_sync).await;
            }
            envelope::Event::Message {
                server_id,
                inbox_seq,
                conversation_id,
                seq,
                group_id,
                from,
                from_device,
                body,
                reply_to,
                media,
                kind,
                reference,
                expires_at,
                deleted,
                id,
                ts,
            } => {
                // The own copy of a send of this device that is still waiting for `sent`
                // (the connection dropped after the server stored it): it confirms the send.
                if from_device == self.device_id
                    && let Some(order) = id.as_ref().and_then(|id| self.order_of.remove(id))
                {
                    self.pending.remove(&order);
                    self.emit(Event::Sent {
                        id: id.unwrap_or_default(),
                        server_id,
                        conversation_id,
                        seq,
                        ts,
                    });
                    self.entry(Entry::OwnSend(inbox_seq), from_sync).await;
                    return;
                }
                let message = Message {
                    server_id,
                    inbox_seq,
                    conversation_id,
                    seq,
                    group_id,
                    from,
                    from_device,
                    body: body.0,
                    reply_to,
                    media,
                    kind,
                    reference,
                    expires_at,
                    deleted,
                    ts,
                };
                self.entry(Entry::Message(message), from_sync).await;
            }
            envelope::Event::Receipt { status, ids, by } => {
                self.emit(Event::Receipt { status, ids, by });
            }
            envelope::Event::Synced { upto, more } => {
                if self.syncing.take().is_none() {
                    return;
                }
                if more {
                    // One page handed over: asking for the next one from the cursor is what
                    // lets the server send it (docs/PROTOCOL.md, "Resume"), so a long
                    // catch-up arrives at the pace the application takes it.
                    self.start_sync().await;
                    return;
                }
                self.drain_held();
                if self.held.is_empty() {
                    self.gap_syncs = 0;
                } else {
                    self.gap_syncs += 1;
                    if self.gap_syncs >= GAP_SYNCS {
                        self.gap_syncs = 0;
                        for (_, entry) in std::mem::take(&mut self.held) {
                            self.deliver(entry);
                        }
                    } else {
                        self.start_sync().await;
                    }
                }
                self.emit(Event::Synced { upto });
            }
            envelope::Event::Error {
                id,
                code,
                message,
                retry_after_ms,
                ..
            } => {
                if code == "unavailable" {
                    // Not stored: publish the owed sends and the sync again, after the wait
                    // the server asks for (one round of refusals counts once).
                    let now = Instant::now();
                    if !self.backing_off(now) {
                        self.refusals = self.refusals.saturating_add(1);
                        self.backoff_until = Some(now + backoff(retry_after_ms, self.refusals));
                    }
                    for pending in self.pending.values_mut() {
                        pending.published = None;
                    }
                    if self.syncing.is_some() {
                        self.syncing = Some(Instant::now() - self.resend_after);
                    }
                } else if let Some(order) = id.as_ref().and_then(|id| self.order_of.remove(id)) {
                    self.pending.remove(&order);
                }
                self.emit(Event::Error { id, code, message });
            }
            other => self.emit(Event::Other(other)),
        }
    }

    /// Hands an entry over once and in inbox order. A sync answer is in order by
    /// construction; a live entry after a gap waits for a sync to fill the gap.
    async fn entry(&mut self, entry: Entry, from_sync: bool) {
        let inbox_seq = entry.inbox_seq();
        if inbox_seq <= self.cursor {
            return;
        }
        if from_sync || inbox_seq == self.cursor + 1 {
            // A send already reported stays reported when a sync brings its own copy.
            let entry = match self.held.remove(&inbox_seq) {
                Some(held @ Entry::OwnSend(_)) => held,
                _ => entry,
            };
            self.deliver(entry);
            self.drain_held();
            return;
        }
        match self.held.get(&inbox_seq) {
            Some(Entry::OwnSend(_)) => {}
            _ => {
                self.held.insert(inbox_seq, entry);
            }
        }
        if self.syncing.is_none() {
            self.start_sync().await;
        }
    }

    fn drain_held(&mut self) {
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() <= self.cursor {
                entry.remove();
            } else if *entry.key() == self.cursor + 1 {
                let held = entry.remove();
                self.deliver(held);
            } else {
                break;
            }
        }
    }

    fn deliver(&mut self, entry: Entry) {
        if entry.inbox_seq() <= self.cursor {
            return;
        }
        self.cursor = entry.inbox_seq();
        if let Err(err) = self.store.save(self.cursor) {
            self.emit(Event::Error {
                id: None,
                code: "cursor_store".to_owned(),
                message: format!("the cursor could not be saved: {err}"),
            });
        }
        match entry {
            Entry::Message(message) => self.emit(Event::Message(message)),
            Entry::Read {
                conversation_id,
                seq,
                inbox_seq,
            } => self.emit(Event::Read {
                conversation_id,
                seq,
                inbox_seq,
            }),
            Entry::OwnSend(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session that is subscribed (as after a connect); what it publishes stays queued in
    /// the never-polled event loop, which is returned to keep the queue open.
    fn session() -> (Session, mpsc::UnboundedReceiver<Event>, EventLoop) {
        let login = Login::new(2, "d20", "pw").expect("a device username");
        let (mqtt, eventloop) = AsyncClient::new(
            mqtt_options("127.0.0.1", 1, &login, &Options::default()),
            REQUESTS,
        );
        let (events, receiver) = mpsc::unbounded_channel();
        let session = Session {
            device_id: 20,
            inbox: topics::user_inbox(2),
            replies: topics::device_replies(2, 20),
            outbox: topics::user_outbox(2),
            mqtt,
            events,
            first: None,
            store: Box::new(MemoryCursor(0)),
            cursor: 0,
            resend_after: Duration::from_secs(5),
            subacks_missing: 0,
            connected: true,
            syncing: None,
            gap_syncs: 0,
            held: BTreeMap::new(),
            pending: BTreeMap::new(),
            order_of: HashMap::new(),
            next_order: 0,
            receipts: Vec::new(),
            backoff_until: None,
            refusals: 0,
        };
        (session, receiver, eventloop)
    }

    #[test]
    fn backoff_follows_the_hint_then_doubles_up_to_a_cap() {
        let first = backoff(Some(1500), 1);
        assert!(first >= Duration::from_millis(1500) && first < Duration::from_millis(1876));
        let third = backoff(Some(1500), 3);
        assert!(third >= Duration::from_millis(6000) && third < Duration::from_millis(7501));
        let many = backoff(Some(1500), 40);
        assert!(many >= BACKOFF_CAP && many <= BACKOFF_CAP + BACKOFF_CAP / 4);
        assert!(backoff(None, 1) >= DEFAULT_RETRY);
    }

    fn message(inbox_seq: i64) -> envelope::Event {
        envelope::Event::Message {
            server_id: 100 + inbox_seq,
            inbox_seq,
            conversation_id: 1,
            seq: inbox_seq,
            group_id: None,
            from: 1,
            from_device: 10,
            body: Base64(b"x".to_vec()),
            reply_to: None,
            media: None,
            kind: envelope::MessageKind::Text,
            reference: None,
            expires_at: None,
            deleted: false,
            id: None,
            ts: 0,
        }
    }

    fn handed_over(receiver: &mut mpsc::UnboundedReceiver<Event>) -> Vec<i64> {
        let mut seqs = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            if let Event::Message(message) = event {
                seqs.push(message.inbox_seq);
            }
        }
        seqs
    }

    #[tokio::test]
    async fn messages_are_handed_over_once_and_in_inbox_order() {
        let (mut session, mut receiver, _eventloop) = session();
        session.server_event(message(1), false).await;
        session.server_event(message(1), false).await;
        // 2 and 3 are missing: 4 waits, and a sync asks for what follows 1.
        session.server_event(message(4), false).await;
        assert!(session.syncing.is_some());
        assert_eq!(handed_over(&mut receiver), vec![1]);
        for seq in [2, 3, 4] {
            session.server_event(message(seq), true).await;
        }
        session
            .server_event(
                envelope::Event::Synced {
                    upto: 4,
                    more: false,
                },
                true,
            )
            .await;
        session.server_event(message(3), false).await;
        assert_eq!(handed_over(&mut receiver), vec![2, 3, 4]);
        assert_eq!(
            (session.cursor, session.syncing, session.held.len()),
            (4, None, 0)
        );
    }

    #[tokio::test]
    async fn a_long_sync_is_asked_for_page_by_page_and_reported_once() {
        let (mut session, mut receiver, _eventloop) = session();
        session.start_sync().await;
        for seq in [1, 2] {
            session.server_event(message(seq), true).await;
        }
        let page = |upto, more| envelope::Event::Synced { upto, more };
        session.server_event(page(2, true), true).await;
        assert!(session.syncing.is_some(), "the next page is asked for");
        session.server_event(message(3), true).await;
        session.server_event(page(3, false), true).await;
        let mut seqs = Vec::new();
        let mut synced = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            match event {
                Event::Message(message) => seqs.push(message.inbox_seq),
                Event::Synced { upto } => synced.push(upto),
                _ => {}
            }
        }
        assert_eq!((seqs, synced), (vec![1, 2, 3], vec![3]));
        assert!(session.syncing.is_none());
    }

    #[tokio::test]
    async fn a_gap_the_sync_does_not_fill_is_given_up_after_a_few_syncs() {
        let (mut session, mut receiver, _eventloop) = session();
        session.server_event(message(3), false).await;
        for _ in 0..GAP_SYNCS {
            assert!(session.syncing.is_some());
            session
                .server_event(
                    envelope::Event::Synced {
                        upto: 0,
                        more: false,
                    },
                    true,
                )
                .await;
        }
        assert_eq!(handed_over(&mut receiver), vec![3]);
    }

    #[tokio::test]
    async fn a_send_is_kept_until_sent_and_reported_once() {
        let (mut session, mut receiver, _eventloop) = session();
        for id in ["a", "b"] {
            session
                .command(Command::Send {
                    id: id.to_owned(),
                    to: Target::User(1),
                    body: b"hi".to_vec(),
                })
                .await;
        }
        let sent = |id: &str| envelope::Event::Sent {
            id: id.to_owned(),
            server_id: 7,
            conversation_id: 1,
            seq: 1,
            inbox_seq: None,
            ts: 0,
        };
        session.server_event(sent("a"), false).await;
        session.server_event(sent("a"), false).await;
        let refused = envelope::Event::Error {
            id: Some("b".to_owned()),
            rid: None,
            code: "unavailable".to_owned(),
            message: String::new(),
            retry_after_ms: Some(1500),
        };
        session.server_event(refused, false).await;
        assert_eq!(session.pending.len(), 1, "unavailable: sent again later");
        let now = Instant::now();
        assert!(session.backing_off(now + Duration::from_millis(1400)));
        assert!(!session.backing_off(now + Duration::from_millis(2000)));
        let refused = envelope::Event::Error {
            id: Some("b".to_owned()),
            rid: None,
            code: "not_a_member".to_owned(),
            message: String::new(),
            retry_after_ms: None,
        };
        session.server_event(refused, false).await;
        assert!(session.pending.is_empty());
        let mut sent_events = 0;
        while let Ok(event) = receiver.try_recv() {
            sent_events += usize::from(matches!(event, Event::Sent { .. }));
        }
        assert_eq!(sent_events, 1);
    }

    #[tokio::test]
    async fn an_own_send_moves_the_cursor_once_without_a_sync_or_a_second_hand_over() {
        let (mut session, mut receiver, _eventloop) = session();
        for id in ["a", "b"] {
            session
                .command(Command::Send {
                    id: id.to_owned(),
                    to: Target::User(1),
                    body: b"hi".to_vec(),
                })
                .await;
        }
        session.server_event(message(1), false).await;
        // "a" is stored at inbox position 2 (its copy for the other devices).
        let sent_a = envelope::Event::Sent {
            id: "a".to_owned(),
            server_id: 50,
            conversation_id: 1,
            seq: 2,
            inbox_seq: Some(2),
            ts: 0,
        };
        session.server_event(sent_a, false).await;
        session.server_event(message(3), false).await;
        assert_eq!((session.cursor, session.syncing), (3, None), "no gap seen");
        // "b" was stored at 4 but its `sent` was lost: a sync brings the own copy first.
        let mut own_b = message(4);
        if let envelope::Event::Message {
            from,
            from_device,
            id,
            ..
        } = &mut own_b
        {
            (*from, *from_device, *id) = (2, 20, Some("b".to_owned()));
        }
        session.server_event(own_b, true).await;
        let sent_b = envelope::Event::Sent {
            id: "b".to_owned(),
            server_id: 104,
            conversation_id: 1,
            seq: 4,
            inbox_seq: Some(4),
            ts: 0,
        };
        session.server_event(sent_b, false).await;
        let (mut messages, mut sent) = (Vec::new(), Vec::new());
        while let Ok(event) = receiver.try_recv() {
            match event {
                Event::Message(message) => messages.push(message.inbox_seq),
                Event::Sent { id, .. } => sent.push(id),
                _ => {}
            }
        }
        assert_eq!(messages, vec![1, 3]);
        assert_eq!(sent, vec!["a".to_owned(), "b".to_owned()]);
        assert!(session.pending.is_empty());
        assert_eq!(session.cursor, 4);
    }

    #[tokio::test]
    async fn own_reads_are_handed_over_in_inbox_order() {
        let (mut session, mut receiver, _eventloop) = session();
        let read = envelope::Event::Read {
            inbox_seq: 2,
            conversation_id: 1,
            seq: 1,
        };
        session.server_event(read.clone(), false).await;
        assert!(session.syncing.is_some(), "2 after 0 is a gap");
        session.server_event(message(1), true).await;
        session.server_event(read, true).await;
        session
            .server_event(
                envelope::Event::Synced {
                    upto: 2,
                    more: false,
                },
                true,
            )
            .await;
        let mut seen = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            match event {
                Event::Message(message) => seen.push(("message", message.inbox_seq)),
                Event::Read { inbox_seq, .. } => seen.push(("read", inbox_seq)),
                _ => {}
            }
        }
        assert_eq!(seen, vec![("message", 1), ("read", 2)]);
    }

    /// This process's resident memory, KiB.
    #[cfg(target_os = "linux")]
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/self/status")
    }

    /// A load generator or a server-side bot runs thousands of clients in one process: each
    /// must cost kilobytes before it has sent anything, not the ~14 MB rumqttc reserves for
    /// 65,535 in-flight publishes unless told a limit (1,000 clients reconnecting at once
    /// used to take 22 GB).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_client_does_not_reserve_memory_for_thousands_of_publishes_in_flight() {
        const CLIENTS: u64 = 50;
        let login = Login::new(2, "d20", "pw").expect("a device username");
        let before = resident_kib();
        let clients: Vec<(AsyncClient, EventLoop)> = (0..CLIENTS)
            .map(|_| {
                AsyncClient::new(
                    mqtt_options("127.0.0.1", 1, &login, &Options::default()),
                    REQUESTS,
                )
            })
            .collect();
        let grown = resident_kib().saturating_sub(before);
        assert!(
            grown < CLIENTS * 512,
            "{CLIENTS} clients took {grown} KiB, over 512 KiB each"
        );
        drop(clients);
    }
}
