//! Messaging: what users publish on their outbox (send, receipt, sync, edit, delete, react,
//! typing, call) is persisted here and answered with events on their inboxes. The database
//! is the source of truth: a message is "sent" only once it is committed, and a device that
//! was away asks for everything after its last inbox position.

mod changes;
pub(crate) mod store;
mod typing;

use std::sync::Arc;

use natter_config::MessagingSettings;
use natter_proto::envelope::{Base64, Event, MessageKind, Request};
use natter_proto::stamp::{self, Stamp};
use natter_proto::topics::{self, ControlTopic};
use rumqttc::{AsyncClient, QoS};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::db_health::DatabaseHealth;
use crate::telemetry::{
    BATCH_SIZE, HOP_BRIDGE_QUEUE, HOP_COMMIT, HOP_EDGE_TO_BRIDGE, HOP_PUBLISH, HOP_SECONDS,
    MESSAGES_PERSISTED, PERSIST_ERRORS, PERSIST_SECONDS,
};

/// Most messages one sync page carries. Well under the edge's per-connection buffer (1024
/// deliveries), so that a page never makes a reading client "too slow".
pub(crate) const SYNC_PAGE_MESSAGES: usize = 200;
/// Most body bytes one sync page carries (a page always carries at least one message).
pub(crate) const SYNC_PAGE_BYTES: usize = 256 * 1024;
/// Rows read from the database at a time while a page is filled: what the bridge holds for
/// one sync is bounded by this many bodies plus the page, whatever the inbox holds.
const SYNC_CHUNK: u64 = 32;
/// Most ids one receipt may carry.
const MAX_RECEIPT_IDS: usize = 1000;

/// A publish taken from the broker, to handle in order.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) publish: rumqttc::Publish,
    /// When the bridge took it from its MQTT session.
    pub(crate) arrived: std::time::Instant,
}

impl Inbound {
    /// A publish just taken from the broker, without the edge's stamp (timed as the
    /// `edge_to_bridge` hop).
    pub(crate) fn arrived(mut publish: rumqttc::Publish) -> Inbound {
        let arrived = std::time::Instant::now();
        if let Some(stamp) = stamp::read(&publish.payload) {
            if stamp.origin == stamp::Origin::Edge {
                metrics::histogram!(HOP_SECONDS, "hop" => HOP_EDGE_TO_BRIDGE)
                    .record(stamp.seconds_until(stamp::now_micros()));
            }
            publish.payload = publish.payload.slice(stamp::LEN..);
        }
        Inbound { publish, arrived }
    }
}

/// What handling one request publishes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Out {
    /// An event, QoS 1.
    Event(String, Event),
    /// An ephemeral event (typing), QoS 0: never stored, never resent.
    Ephemeral(String, Event),
    /// A control message for every edge (a member removed).
    Control(ControlTopic),
}

/// The messaging worker's state: the database, the settings, and the typing rate limiter.
#[derive(Debug)]
pub(crate) struct Handler {
    pub(crate) db: DatabaseConnection,
    pub(crate) settings: MessagingSettings,
    calls: crate::rpc::CallSettings,
    typing: typing::Limiter,
    /// Whether the database answers; bounds each request's database work.
    health: Arc<DatabaseHealth>,
}

impl Handler {
    pub(crate) fn new(
        db: DatabaseConnection,
        settings: MessagingSettings,
        accounts: natter_config::AccountsSettings,
        presence: Option<std::sync::Arc<dyn natter_presence::PresenceStore>>,
        health: Arc<DatabaseHealth>,
    ) -> Handler {
        let typing = typing::Limiter::new(settings.typing_interval());
        let calls = crate::rpc::CallSettings {
            messaging: settings.clone(),
            accounts,
            presence,
        };
        Handler {
            db,
            settings,
            calls,
            typing,
            health,
        }
    }
}

/// How long to wait for the broker to accept a request's control messages before
/// acknowledging the request anyway (they are still queued in the client).
const EVENTS_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Most requests handled in one batch (one transaction for its sends and receipts).
pub(crate) const MAX_BATCH: usize = 64;

/// Handles outbox publishes in arrival order and acknowledges each after its work is
/// committed and its events are handed to the broker.
///
/// Whatever has queued up while the previous batch was in the database is taken as one batch
/// (at most `max_batch`, [`MAX_BATCH`] for a lone bridge session): its sends and receipts
/// share one transaction (group commit), so the per-commit cost is paid once per batch under
/// load and nothing waits for a batch to fill when idle. Events and acknowledgements follow
/// the commit, in order. Several sessions (or bridges) run with `max_batch` 1: batches of
/// different sessions lock conversation and inbox rows in no common order and would deadlock
/// on PostgreSQL, where one request per transaction cannot.
///
/// Events go to the broker at QoS 0: the hop is loopback to the router, the database is the
/// source of truth, and a device that misses a live event finds it with `sync` (clients
/// detect the gap in `inbox_seq`). QoS 1 here cost a 40 ms stall per message: rumqttd never
/// sets TCP_NODELAY, so its PUBACKs to the bridge sat unacknowledged and held back its next
/// delivery until the bridge's delayed ACK (docs/PERFORMANCE.md). Control messages (a member
/// removed, a device revoked) stay QoS 1, and the batch is acknowledged after the broker has
/// acknowledged them (`acked` counts the broker's PUBACKs).
pub(crate) async fn run(
    mut handler: Handler,
    client: AsyncClient,
    mut inbound: mpsc::Receiver<Inbound>,
    mut acked: tokio::sync::watch::Receiver<u64>,
    max_batch: usize,
    max_packet: usize,
) {
    let mut published = *acked.borrow();
    let max_batch = max_batch.max(1);
    let mut batch = Vec::with_capacity(max_batch);
    while inbound.recv_many(&mut batch, max_batch).await > 0 {
        let started = std::time::Instant::now();
        for request in &batch {
            metrics::histogram!(HOP_SECONDS, "hop" => HOP_BRIDGE_QUEUE)
                .record(started.duration_since(request.arrived).as_secs_f64());
        }
        let requests: Vec<(&str, &[u8])> = batch
            .iter()
            .map(|Inbound { publish, .. }| (publish.topic.as_str(), &publish.payload[..]))
            .collect();
        let answers = handler.handle_batch(&requests, crate::now_ms()).await;
        let committed = std::time::Instant::now();
        let count = requests.len();
        metrics::histogram!(BATCH_SIZE).record(count as f64);
        // Per request, as the other hops: each request of the batch waited for its commit.
        metrics::histogram!(HOP_SECONDS, "hop" => HOP_COMMIT)
            .record_many((committed - started).as_secs_f64(), count);
        // One stamp for the batch's events: they are handed on together, now.
        let now = Stamp::now(stamp::Origin::Bridge);
        let stamp_for = |topic: &str| stamp::applies_to(topic).then_some(now);
        for out in answers.into_iter().flatten() {
            let (topic, payload, qos) = match out {
                Out::Event(topic, event) => {
                    let payload = fit(&topic, &event, max_packet, stamp_for(&topic));
                    (topic, payload, QoS::AtMostOnce)
                }
                Out::Ephemeral(topic, event) => {
                    let payload = fit(&topic, &event, max_packet, stamp_for(&topic));
                    (topic, payload, QoS::AtMostOnce)
                }
                Out::Control(control) => (control.topic(), Some(Vec::new()), QoS::AtLeastOnce),
            };
            let Some(payload) = payload else { continue };
            if client.publish(topic, qos, false, payload).await.is_err() {
                return;
            }
            if qos == QoS::AtLeastOnce {
                published += 1;
            }
        }
        metrics::histogram!(HOP_SECONDS, "hop" => HOP_PUBLISH)
            .record_many(committed.elapsed().as_secs_f64(), count);
        // Tell the edges which requests are handled: they acknowledge them to their senders
        // only now (docs/PROTOCOL.md, "Accepted means handled").
        let report = handled_report(&batch);
        if !report.is_empty() {
            let report = topics::encode_handled(&report);
            let topic = topics::OUTBOX_HANDLED;
            if client
                .publish(topic, QoS::AtMostOnce, false, report)
                .await
                .is_err()
            {
                return;
            }
        }
        let accepted = tokio::time::timeout(EVENTS_ACK_WAIT, acked.wait_for(|n| *n >= published));
        if accepted.await.is_err() {
            // A reconnect lost count (or the broker is slow): go on, and count from here.
            published = *acked.borrow();
        }
        for Inbound { publish, .. } in batch.drain(..) {
            if publish.qos != QoS::AtMostOnce && client.ack(&publish).await.is_err() {
                return;
            }
        }
    }
}

/// How many requests of each sending device a batch holds, in order of first appearance.
fn handled_report(batch: &[Inbound]) -> Vec<(i64, u32)> {
    let mut counts: Vec<(i64, u32)> = Vec::new();
    for Inbound { publish, .. } in batch {
        let Some((_, device)) = topics::parse_stamped_outbox(&publish.topic) else {
            continue;
        };
        match counts.iter_mut().find(|(known, _)| *known == device) {
            Some((_, count)) => *count += 1,
            None => counts.push((device, 1)),
        }
    }
    counts
}

/// Events go out in the binary form, after their `stamp` (which the edge takes off); the
/// edge converts them for JSON clients.
fn encode(event: &Event, stamp: Option<Stamp>) -> Option<Vec<u8>> {
    let prefix = stamp.map(Stamp::to_bytes);
    Some(natter_proto::wire::encode_event_after(
        prefix.as_ref().map_or(&[][..], |prefix| &prefix[..]),
        event,
    ))
}

/// `event` encoded, if the packet carrying it on `topic` fits in `max_packet` bytes (the
/// internal hop's limit: a larger publish would drop the bridge's session). A call answer
/// that does not fit becomes a `too_large` error for the same `rid`; any other event that does
/// not fit cannot arise from a request that fitted, and is counted and logged, not sent.
fn fit(topic: &str, event: &Event, max_packet: usize, stamp: Option<Stamp>) -> Option<Vec<u8>> {
    let payload = encode(event, stamp)?;
    // Fixed header (at most 5 bytes), topic length (2) and the topic.
    let packet = payload.len() + topic.len() + 7;
    if packet <= max_packet {
        return Some(payload);
    }
    metrics::counter!(crate::telemetry::EVENTS_TOO_LARGE).increment(1);
    match event {
        Event::Result { rid, .. } | Event::Error { rid: Some(rid), .. } => {
            let refusal = Event::Error {
                id: None,
                rid: Some(rid.clone()),
                code: "too_large".to_owned(),
                retry_after_ms: None,
                message: format!(
                    "the answer is {packet} bytes, over the server's limit of {max_packet} \
                     (mqtt.max_packet_size plus headroom): ask for less at a time"
                ),
            };
            encode(&refusal, stamp)
        }
        _ => {
            warn!(
                topic,
                bytes = packet,
                limit = max_packet,
                "an event over the packet limit was not sent"
            );
            None
        }
    }
}

/// An outbox message read: who sent it and what it asks.
struct Decoded {
    caller: Caller,
    request: Request,
}

/// Reads an outbox message, or says what to answer when it cannot be read (nothing for a
/// topic that is not a stamped outbox).
fn decode(topic: &str, payload: &[u8], now: i64) -> Result<Decoded, Vec<Out>> {
    let Some((user, device)) = topics::parse_stamped_outbox(topic) else {
        // A publish under `u/{me}/out/…` (stamped `u/{me}/out/{device}/…`) carries no request:
        // say so on the device's reply topic rather than let it vanish.
        return Err(match topics::parse_deeper_outbox(topic) {
            Some((user, device)) => vec![Out::Event(
                topics::device_replies(user, device),
                error(
                    None,
                    "bad_topic",
                    &format!("requests go to u/{user}/out itself, not to a topic below it"),
                ),
            )],
            None => Vec::new(),
        });
    };
    let reply = topics::device_replies(user, device);
    match natter_proto::wire::read_request(payload) {
        Ok(request) => Ok(Decoded {
            caller: Caller {
                user,
                device,
                reply,
                now,
            },
            request,
        }),
        Err(err) => Err(vec![Out::Event(
            reply,
            error(None, "bad_request", &format!("not a valid request: {err}")),
        )]),
    }
}

/// Whether a request may share the batch's transaction: sends and receipts, the bulk of
/// the traffic. Everything else (sync, calls, edits…) runs alone, in order.
fn batchable(request: &Request) -> bool {
    matches!(request, Request::Send { .. } | Request::Receipt { .. })
}

impl Handler {
    /// What to publish in answer to each of `requests` (topic, payload), in order. Runs of
    /// sends and receipts share one transaction; if it fails, they are handled again one by
    /// one, so that only the request at fault gets an error.
    pub(crate) async fn handle_batch(
        &mut self,
        requests: &[(&str, &[u8])],
        now: i64,
    ) -> Vec<Vec<Out>> {
        let mut answers = Vec::with_capacity(requests.len());
        let mut run = Vec::new();
        for &(topic, payload) in requests {
            match decode(topic, payload, now) {
                Ok(decoded) if batchable(&decoded.request) => run.push(decoded),
                other => {
                    self.serve_run(std::mem::take(&mut run), &mut answers).await;
                    answers.push(match other {
                        Ok(decoded) if self.health.admit() => self.serve(decoded).await,
                        Ok(decoded) => refuse(&decoded),
                        Err(answer) => answer,
                    });
                }
            }
        }
        self.serve_run(run, &mut answers).await;
        // Every `unavailable` carries the server's retry hint (docs/PROTOCOL.md).
        for out in answers.iter_mut().flatten() {
            if let Out::Event(
                _,
                Event::Error {
                    code,
                    retry_after_ms,
                    ..
                },
            ) = out
                && code == "unavailable"
                && retry_after_ms.is_none()
            {
                *retry_after_ms = Some(self.health.retry_after_ms());
            }
        }
        answers
    }

    /// Serves sends and receipts in one transaction, appending their answers. While the
    /// database is known down they are refused at once (but for the periodic trial).
    async fn serve_run(&mut self, run: Vec<Decoded>, answers: &mut Vec<Vec<Out>>) {
        if run.is_empty() {
            return;
        }
        if !self.health.admit() {
            answers.extend(run.iter().map(refuse));
            return;
        }
        if run.len() == 1 {
            for decoded in run {
                answers.push(self.serve(decoded).await);
            }
            return;
        }
        let started = std::time::Instant::now();
        match bounded(&self.health, in_one_transaction(&self.db, &run)).await {
            Ok(outs) => {
                let each = started.elapsed().as_secs_f64();
                for _ in 0..outs.len() {
                    metrics::histogram!(PERSIST_SECONDS).record(each);
                }
                answers.extend(outs);
            }
            Err(err) if err.is_outage() => {
                // Handling them one by one would wait out the timeout once per request.
                metrics::counter!(PERSIST_ERRORS).increment(1);
                warn!(error = %err, requests = run.len(), "a batch met a database outage; refusing it");
                answers.extend(run.iter().map(refuse));
            }
            Err(err) => {
                warn!(error = %err, requests = run.len(), "a batch failed in the database; handling its requests one by one");
                for decoded in run {
                    answers.push(self.serve(decoded).await);
                }
            }
        }
    }

    /// What to publish in answer to one request, handled in its own transaction.
    async fn serve(&mut self, decoded: Decoded) -> Vec<Out> {
        let Decoded { caller, request } = decoded;
        let reply = caller.reply.clone();
        let (user, device) = (caller.user, caller.device);
        // A failure names the request it answers, when the request has a client id.
        let client_id = match &request {
            Request::Send { id, .. }
            | Request::Edit { id, .. }
            | Request::Delete { id, .. }
            | Request::React { id, .. } => Some(id.clone()),
            _ => None,
        };
        let rid = match &request {
            Request::Call { rid, .. } => Some(rid.clone()),
            _ => None,
        };
        let started = std::time::Instant::now();
        let work = async {
            match request {
                request @ (Request::Send { .. } | Request::Receipt { .. }) => {
                    let alone = [Decoded {
                        caller: caller.clone(),
                        request,
                    }];
                    in_one_transaction(&self.db, &alone)
                        .await
                        .map(|answers| answers.into_iter().flatten().collect())
                }
                Request::Sync { after } => sync(&self.db, &caller, after).await,
                Request::Edit { id, message, body } => {
                    let change = changes::Change::Edit(body.0);
                    changes::apply(&self.db, &self.settings, &caller, id, message, change).await
                }
                Request::Delete { id, message } => {
                    let change = changes::Change::Delete;
                    changes::apply(&self.db, &self.settings, &caller, id, message, change).await
                }
                Request::React { id, message, emoji } => {
                    let change = changes::Change::React(emoji);
                    changes::apply(&self.db, &self.settings, &caller, id, message, change).await
                }
                Request::Typing { to, active } => {
                    typing::forward(&self.db, &mut self.typing, &caller, to, active).await
                }
                Request::Call {
                    rid,
                    method,
                    params,
                } => Ok(
                    crate::rpc::call(&self.db, &self.calls, &caller, rid, &method, params).await,
                ),
            }
        };
        let outcome = bounded(&self.health, work).await;
        metrics::histogram!(PERSIST_SECONDS).record(started.elapsed().as_secs_f64());
        outcome.unwrap_or_else(|err| {
            metrics::counter!(PERSIST_ERRORS).increment(1);
            warn!(error = %err, user, device, "request failed in the database");
            vec![Out::Event(reply, unavailable(client_id, rid))]
        })
    }
}

/// Who sent a request and where its private answers go.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) user: i64,
    pub(crate) device: i64,
    /// `u/{user}/reply/{device}`.
    pub(crate) reply: String,
    /// When the request is handled, unix milliseconds.
    pub(crate) now: i64,
}

/// What a send refers to besides its body.
#[derive(Clone, Copy, Debug)]
struct Attachments {
    reply_to: Option<i64>,
    media: Option<i64>,
}

/// Refuses client ids that are empty or too long; `None` when the id is fine.
pub(crate) fn check_id(caller: &Caller, id: &str) -> Option<Vec<Out>> {
    if id.is_empty() || id.len() > 128 {
        return Some(vec![Out::Event(
            caller.reply.clone(),
            error(
                Some(id.to_owned()),
                "bad_id",
                "the id must have 1 to 128 characters",
            ),
        )]);
    }
    None
}

/// Sends and receipts in one transaction: every answer, or the first error (then nothing is
/// stored). Other requests are not expected here and get no answer.
async fn in_one_transaction(
    db: &DatabaseConnection,
    run: &[Decoded],
) -> Result<Vec<Vec<Out>>, DbErr> {
    let txn = db.begin().await?;
    let mut answers = Vec::with_capacity(run.len());
    for Decoded { caller, request } in run {
        let outs = match request {
            Request::Send {
                id,
                to,
                body,
                reply_to,
                media,
            } => {
                let attachments = Attachments {
                    reply_to: *reply_to,
                    media: *media,
                };
                send(&txn, caller, id.clone(), *to, body.clone(), attachments).await?
            }
            Request::Receipt { status, ids } => receipt(&txn, caller, *status, ids).await?,
            _ => Vec::new(),
        };
        answers.push(outs);
    }
    txn.commit().await?;
    Ok(answers)
}

async fn send(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: String,
    to: natter_proto::envelope::Target,
    body: Base64,
    attachments: Attachments,
) -> Result<Vec<Out>, DbErr> {
    if let Some(refused) = check_id(caller, &id) {
        return Ok(refused);
    }
    let send = store::Send {
        sender: caller.user,
        device: caller.device,
        client_id: &id,
        to,
        body: body.0,
        reply_to: attachments.reply_to,
        media: attachments.media,
        now: caller.now,
    };
    let stored = match store::persist_in(db, send).await? {
        Ok(stored) => stored,
        Err(refusal) => {
            let (code, message) = match refusal {
                store::Refusal::UnknownRecipient => ("unknown_recipient", "no such user"),
                store::Refusal::NotAMember => {
                    ("not_a_member", "you are not a member of this group")
                }
                store::Refusal::UnknownMedia => (
                    "unknown_media",
                    "no such media item, or you neither uploaded nor received it",
                ),
                store::Refusal::UnknownReply => (
                    "unknown_reply",
                    "reply_to names no message of this conversation",
                ),
            };
            return Ok(vec![Out::Event(
                caller.reply.clone(),
                error(Some(id), code, message),
            )]);
        }
    };
    metrics::counter!(MESSAGES_PERSISTED).increment(1);
    // Per message: debug, not info (a line per message is noise at scale; metrics count them).
    debug!(
        server_id = stored.message.id,
        recipients = stored.deliveries.len(),
        "message stored"
    );
    Ok(stored_events(caller, id, &stored))
}

/// `sent` for the sender's devices, the own copy for the sender's other devices (not the
/// sending one: `sent` tells it the copy's inbox position) and `message` for each new
/// delivery. A duplicate gets `sent` only.
pub(crate) fn stored_events(caller: &Caller, id: String, stored: &store::Stored) -> Vec<Out> {
    let message = &stored.message;
    let mut outs = vec![Out::Event(
        topics::user_inbox(caller.user),
        Event::Sent {
            id,
            server_id: message.id,
            conversation_id: message.conversation_id,
            seq: message.seq,
            inbox_seq: stored.own,
            ts: message.created_at,
        },
    )];
    if let Some(own) = stored.own
        && !stored.duplicate
    {
        outs.push(Out::Event(
            topics::user_inbox_except(caller.user, caller.device),
            own_message_event(message, own, stored.group_id),
        ));
    }
    for &(recipient, inbox_seq) in &stored.deliveries {
        outs.push(Out::Event(
            topics::user_inbox(recipient),
            message_event(message, inbox_seq, stored.group_id),
        ));
    }
    outs
}

async fn receipt(
    db: &impl ConnectionTrait,
    caller: &Caller,
    status: natter_proto::envelope::ReceiptStatus,
    ids: &[i64],
) -> Result<Vec<Out>, DbErr> {
    if ids.len() > MAX_RECEIPT_IDS {
        return Ok(vec![Out::Event(
            caller.reply.clone(),
            error(None, "too_many_ids", "at most 1000 ids per receipt"),
        )]);
    }
    let recorded = store::record_receipt_in(db, caller.user, status, ids, caller.now).await?;
    let mut outs = Vec::new();
    if status == natter_proto::envelope::ReceiptStatus::Read {
        // The reader's devices (this one too: the entry takes an inbox position it must see)
        // learn the new read position of each conversation.
        let moved =
            store::move_read_positions_in(db, caller.user, &recorded.conversations, caller.now)
                .await?;
        for (conversation_id, seq, inbox_seq) in moved {
            outs.push(Out::Event(
                topics::user_inbox(caller.user),
                Event::Read {
                    inbox_seq,
                    conversation_id,
                    seq,
                },
            ));
        }
    }
    for change in recorded.by_sender {
        let inbox = topics::user_inbox(change.sender);
        outs.push(Out::Event(
            inbox.clone(),
            Event::Receipt {
                status,
                ids: change.ids,
                by: caller.user,
            },
        ));
        if !change.all.is_empty() {
            outs.push(Out::Event(
                inbox,
                Event::ReceiptAll {
                    status,
                    ids: change.all,
                },
            ));
        }
    }
    Ok(outs)
}

/// One page of the caller's inbox after `after`: at most [`SYNC_PAGE_MESSAGES`] messages and
/// [`SYNC_PAGE_BYTES`] of bodies, then `synced` saying whether more follow. The client asks
/// for the next page (`sync` after `upto`) once it has processed this one: that request is
/// the flow control, so a sync never holds more than a page in the bridge, the router or the
/// edge, and a client catching up reads at its own pace.
async fn sync(db: &DatabaseConnection, caller: &Caller, after: i64) -> Result<Vec<Out>, DbErr> {
    let mut outs = Vec::new();
    let mut upto = after.max(0);
    let mut bytes = 0_usize;
    let more = 'page: loop {
        let room = SYNC_PAGE_MESSAGES.saturating_sub(outs.len());
        if room == 0 {
            // Full by count: say "more" only when something does follow.
            break more_after(db, caller, upto).await?;
        }
        let wanted = room.min(SYNC_CHUNK as usize) as u64;
        let chunk = store::inbox_after(db, caller.user, upto, wanted, caller.now).await?;
        let full = chunk.len() as u64 == wanted;
        // Read positions share the inbox: those up to the chunk's last entry (all of them
        // after the last chunk) go out in inbox order among the messages.
        let bound = full
            .then(|| chunk.last().map(|(delivery, _, _)| delivery.inbox_seq))
            .flatten();
        let mut reads = store::read_positions_after(db, caller.user, upto, bound)
            .await?
            .into_iter()
            .peekable();
        for (delivery, message, group_id) in chunk {
            while let Some(read) = reads.next_if(|read| read.inbox_seq < delivery.inbox_seq) {
                upto = read.inbox_seq;
                outs.push(Out::Event(caller.reply.clone(), read_event(&read)));
            }
            let size = message.body.len();
            if !outs.is_empty() && bytes + size > SYNC_PAGE_BYTES {
                break 'page true;
            }
            bytes += size;
            upto = delivery.inbox_seq;
            let event = if delivery.status == natter_entities::deliveries::STATUS_OWN {
                own_message_event(&message, delivery.inbox_seq, group_id)
            } else {
                message_event(&message, delivery.inbox_seq, group_id)
            };
            outs.push(Out::Event(caller.reply.clone(), event));
        }
        for read in reads {
            upto = Ord::max(upto, read.inbox_seq);
            outs.push(Out::Event(caller.reply.clone(), read_event(&read)));
        }
        if !full {
            break false;
        }
    };
    outs.push(Out::Event(
        caller.reply.clone(),
        Event::Synced { upto, more },
    ));
    Ok(outs)
}

/// Whether the caller's inbox has anything (a message or a read position) after `upto`.
async fn more_after(db: &DatabaseConnection, caller: &Caller, upto: i64) -> Result<bool, DbErr> {
    let next = store::inbox_after(db, caller.user, upto, 1, caller.now).await?;
    if !next.is_empty() {
        return Ok(true);
    }
    let reads = store::read_positions_after(db, caller.user, upto, None).await?;
    Ok(!reads.is_empty())
}

/// The `read` event for a stored read position.
fn read_event(read: &natter_entities::read_positions::Model) -> Event {
    Event::Read {
        inbox_seq: read.inbox_seq,
        conversation_id: read.conversation_id,
        seq: read.seq,
    }
}

/// The `message` event for the sender's own copy of an entry at `inbox_seq` of the sender's
/// inbox: a `message` event that also names the client id.
pub(crate) fn own_message_event(
    message: &natter_entities::messages::Model,
    inbox_seq: i64,
    group_id: Option<i64>,
) -> Event {
    let mut event = message_event(message, inbox_seq, group_id);
    if let Event::Message { id, .. } = &mut event {
        *id = Some(message.client_msg_id.clone());
    }
    event
}

/// The `message` event for a stored entry at `inbox_seq` of its recipient.
pub(crate) fn message_event(
    message: &natter_entities::messages::Model,
    inbox_seq: i64,
    group_id: Option<i64>,
) -> Event {
    let kind = MessageKind::from_stored(&message.kind);
    // Edits, deletions and reactions keep the message they are about in reply_to_id.
    let (reply_to, reference) = match kind {
        MessageKind::Edit | MessageKind::Delete | MessageKind::Reaction => {
            (None, message.reply_to_id)
        }
        _ => (message.reply_to_id, None),
    };
    Event::Message {
        server_id: message.id,
        inbox_seq,
        conversation_id: message.conversation_id,
        seq: message.seq,
        group_id,
        from: message.sender_user_id,
        from_device: message.sender_device_id,
        body: Base64(message.body.clone()),
        reply_to,
        media: message.media_id,
        kind,
        reference,
        expires_at: message.expires_at,
        deleted: message.deleted_at.is_some(),
        id: None,
        ts: message.created_at,
    }
}

/// An `error` event answering a send (`id`) or nothing in particular.
pub(crate) fn error(id: Option<String>, code: &str, message: &str) -> Event {
    Event::Error {
        id,
        rid: None,
        code: code.to_owned(),
        message: message.to_owned(),
        retry_after_ms: None,
    }
}

/// `unavailable` for the request with client id `id` or call id `rid` (its retry hint is
/// added in [`Handler::handle_batch`]).
fn unavailable(id: Option<String>, rid: Option<String>) -> Event {
    Event::Error {
        id,
        rid,
        code: "unavailable".to_owned(),
        message: "the server could not do this now; send it again after retry_after_ms".to_owned(),
        retry_after_ms: None,
    }
}

/// The answer to a request refused without trying the database, known to be down.
fn refuse(decoded: &Decoded) -> Vec<Out> {
    let (id, rid) = match &decoded.request {
        Request::Send { id, .. }
        | Request::Edit { id, .. }
        | Request::Delete { id, .. }
        | Request::React { id, .. } => (Some(id.clone()), None),
        Request::Call { rid, .. } => (None, Some(rid.clone())),
        // Typing is ephemeral: a refusal would only be noise.
        Request::Typing { .. } => return Vec::new(),
        Request::Receipt { .. } | Request::Sync { .. } => (None, None),
    };
    vec![Out::Event(
        decoded.caller.reply.clone(),
        unavailable(id, rid),
    )]
}

/// Why bounded database work failed.
#[derive(Debug, thiserror::Error)]
enum WorkError {
    /// It did not finish within the statement timeout.
    #[error("no answer from the database within {0:?}")]
    TimedOut(std::time::Duration),
    /// The database answered with an error, or could not be reached.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl WorkError {
    /// Whether this says the database is unreachable or stalled (rather than refusing one
    /// request): then other requests would fail the same way.
    fn is_outage(&self) -> bool {
        match self {
            WorkError::TimedOut(_) => true,
            WorkError::Db(err) => crate::db_health::is_outage(err),
        }
    }
}

/// Runs `work` within the statement timeout and records in `health` whether the database
/// answered. On a timeout the work is dropped: its transaction never commits (or, if the
/// commit was already sent, the client's resend finds its id stored and gets `sent`).
async fn bounded<T>(
    health: &DatabaseHealth,
    work: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, WorkError> {
    let outcome = match tokio::time::timeout(health.timeout(), work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(WorkError::Db(err)),
        Err(_) => Err(WorkError::TimedOut(health.timeout())),
    };
    match &outcome {
        Err(err) if err.is_outage() => health.failed(&err.to_string()),
        _ => health.succeeded(),
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_answer_over_the_limit_becomes_too_large_for_the_same_rid() {
        let answer = Event::Result {
            rid: "r1".into(),
            result: serde_json::json!({"blob": "x".repeat(5000)}),
        };
        let topic = "u/1/reply/2";
        let stamp = Some(Stamp::now(stamp::Origin::Bridge));
        assert!(fit(topic, &answer, 10_000, stamp).is_some_and(|p| p.len() > 5000));
        let refused = fit(topic, &answer, 1000, stamp).expect("an error is sent instead");
        match natter_proto::wire::decode_event(&refused[stamp::LEN..]) {
            Ok(Event::Error { rid, code, .. }) => {
                assert_eq!((rid.as_deref(), code.as_str()), (Some("r1"), "too_large"));
            }
            other => panic!("expected too_large, got {other:?}"),
        }
    }
}
