//! Messaging: what users publish on their outbox (send, receipt, sync, edit, delete, react,
//! typing, call) is persisted here and answered with events on their inboxes. The database
//! is the source of truth: a message is "sent" only once it is committed, and a device that
//! was away asks for everything after its last inbox position.

mod changes;
pub(crate) mod store;
mod typing;

use natter_config::MessagingSettings;
use natter_proto::envelope::{Base64, Event, MessageKind, Request};
use natter_proto::topics::{self, ControlTopic};
use rumqttc::{AsyncClient, QoS};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::telemetry::{MESSAGES_PERSISTED, PERSIST_ERRORS, PERSIST_SECONDS};

/// Messages one sync sends per page.
const SYNC_PAGE: u64 = 500;
/// Most ids one receipt may carry.
const MAX_RECEIPT_IDS: usize = 1000;

/// A publish taken from the broker, to handle in order.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) publish: rumqttc::Publish,
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
}

impl Handler {
    pub(crate) fn new(
        db: DatabaseConnection,
        settings: MessagingSettings,
        accounts: natter_config::AccountsSettings,
        presence: Option<std::sync::Arc<dyn natter_presence::PresenceStore>>,
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
        }
    }
}

/// How long to wait for the broker to accept a request's control messages before
/// acknowledging the request anyway (they are still queued in the client).
const EVENTS_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Handles outbox publishes one at a time, in arrival order, and acknowledges each after its
/// work is committed and its events are handed to the broker.
///
/// Events go to the broker at QoS 0: the hop is loopback to the router, the database is the
/// source of truth, and a device that misses a live event finds it with `sync` (clients
/// detect the gap in `inbox_seq`). QoS 1 here cost a 40 ms stall per message: rumqttd never
/// sets TCP_NODELAY, so its PUBACKs to the bridge sat unacknowledged and held back its next
/// delivery until the bridge's delayed ACK (docs/BENCHMARKS.md). Control messages (a member
/// removed, a device revoked) stay QoS 1, and the request is acknowledged after the broker
/// has acknowledged them (`acked` counts the broker's PUBACKs).
pub(crate) async fn run(
    mut handler: Handler,
    client: AsyncClient,
    mut inbound: mpsc::Receiver<Inbound>,
    mut acked: tokio::sync::watch::Receiver<u64>,
) {
    let mut published = *acked.borrow();
    while let Some(Inbound { publish }) = inbound.recv().await {
        let outs = handler
            .handle(&publish.topic, &publish.payload, crate::now_ms())
            .await;
        for out in outs {
            let (topic, payload, qos) = match out {
                Out::Event(topic, event) => (topic, encode(&event), QoS::AtMostOnce),
                Out::Ephemeral(topic, event) => (topic, encode(&event), QoS::AtMostOnce),
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
        let accepted = tokio::time::timeout(EVENTS_ACK_WAIT, acked.wait_for(|n| *n >= published));
        if accepted.await.is_err() {
            // A reconnect lost count (or the broker is slow): go on, and count from here.
            published = *acked.borrow();
        }
        if publish.qos != QoS::AtMostOnce && client.ack(&publish).await.is_err() {
            return;
        }
    }
}

/// Events go out in the binary form; the edge converts them for JSON clients.
fn encode(event: &Event) -> Option<Vec<u8>> {
    Some(natter_proto::wire::encode_event(event))
}

impl Handler {
    /// What to publish in answer to one outbox message.
    pub(crate) async fn handle(&mut self, topic: &str, payload: &[u8], now: i64) -> Vec<Out> {
        let Some((user, device)) = topics::parse_stamped_outbox(topic) else {
            return Vec::new();
        };
        let reply = topics::device_replies(user, device);
        let request: Request = match natter_proto::wire::read_request(payload) {
            Ok(request) => request,
            Err(err) => {
                return vec![Out::Event(
                    reply,
                    error(None, "bad_request", &format!("not a valid request: {err}")),
                )];
            }
        };
        let started = std::time::Instant::now();
        let caller = Caller {
            user,
            device,
            reply: reply.clone(),
            now,
        };
        let outcome = match request {
            Request::Send {
                id,
                to,
                body,
                reply_to,
                media,
            } => {
                let attachments = Attachments { reply_to, media };
                send(&self.db, &caller, id, to, body, attachments).await
            }
            Request::Receipt { status, ids } => receipt(&self.db, &caller, status, &ids).await,
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
            } => Ok(crate::rpc::call(&self.db, &self.calls, &caller, rid, &method, params).await),
        };
        metrics::histogram!(PERSIST_SECONDS).record(started.elapsed().as_secs_f64());
        outcome.unwrap_or_else(|err| {
            metrics::counter!(PERSIST_ERRORS).increment(1);
            warn!(error = %err, user, device, "request failed in the database");
            vec![Out::Event(
                reply,
                error(
                    None,
                    "unavailable",
                    "the server could not store this; send it again",
                ),
            )]
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

async fn send(
    db: &DatabaseConnection,
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
    let stored = match store::persist(db, send).await? {
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
            };
            return Ok(vec![Out::Event(
                caller.reply.clone(),
                error(Some(id), code, message),
            )]);
        }
    };
    metrics::counter!(MESSAGES_PERSISTED).increment(1);
    info!(
        server_id = stored.message.id,
        recipients = stored.deliveries.len(),
        "message stored"
    );
    Ok(stored_events(caller.user, id, &stored))
}

/// `sent` for the sender's devices and `message` for each new delivery.
pub(crate) fn stored_events(sender: i64, id: String, stored: &store::Stored) -> Vec<Out> {
    let message = &stored.message;
    let mut outs = vec![Out::Event(
        topics::user_inbox(sender),
        Event::Sent {
            id,
            server_id: message.id,
            conversation_id: message.conversation_id,
            seq: message.seq,
            ts: message.created_at,
        },
    )];
    for &(recipient, inbox_seq) in &stored.deliveries {
        outs.push(Out::Event(
            topics::user_inbox(recipient),
            message_event(message, inbox_seq, stored.group_id),
        ));
    }
    outs
}

async fn receipt(
    db: &DatabaseConnection,
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
    let changes = store::record_receipt(db, caller.user, status, ids, caller.now).await?;
    let mut outs = Vec::new();
    for change in changes {
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

async fn sync(db: &DatabaseConnection, caller: &Caller, after: i64) -> Result<Vec<Out>, DbErr> {
    let mut outs = Vec::new();
    let mut upto = after.max(0);
    loop {
        let page = store::inbox_after(db, caller.user, upto, SYNC_PAGE, caller.now).await?;
        let full = page.len() as u64 == SYNC_PAGE;
        for (delivery, message, group_id) in page {
            upto = delivery.inbox_seq;
            outs.push(Out::Event(
                caller.reply.clone(),
                message_event(&message, delivery.inbox_seq, group_id),
            ));
        }
        if !full {
            break;
        }
    }
    outs.push(Out::Event(caller.reply.clone(), Event::Synced { upto }));
    Ok(outs)
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
    }
}
