//! Messaging: what users publish on their outbox (send, receipt, sync) is persisted here and
//! answered with events on their inboxes. The database is the source of truth: a message is
//! "sent" only once it is committed, and a device that was away asks for everything after
//! its last inbox position.

mod store;

use natter_proto::envelope::{Base64, Event, Request};
use natter_proto::topics;
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

/// Handles outbox publishes one at a time, in arrival order, and acknowledges each after its
/// work is committed and its events are queued.
pub(crate) async fn run(
    db: DatabaseConnection,
    client: AsyncClient,
    mut inbound: mpsc::Receiver<Inbound>,
) {
    while let Some(Inbound { publish }) = inbound.recv().await {
        let events = handle(&db, &publish.topic, &publish.payload, crate::now_ms()).await;
        for (topic, event) in events {
            let payload = match serde_json::to_vec(&event) {
                Ok(payload) => payload,
                Err(err) => {
                    warn!(error = %err, "event not serialisable");
                    continue;
                }
            };
            if client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .is_err()
            {
                return;
            }
        }
        if publish.qos != QoS::AtMostOnce && client.ack(&publish).await.is_err() {
            return;
        }
    }
}

/// What to publish in answer to one outbox message: (topic, event) pairs.
pub(crate) async fn handle(
    db: &DatabaseConnection,
    topic: &str,
    payload: &[u8],
    now: i64,
) -> Vec<(String, Event)> {
    let Some((user, device)) = topics::parse_stamped_outbox(topic) else {
        return Vec::new();
    };
    let reply = topics::device_replies(user, device);
    let request: Request = match serde_json::from_slice(payload) {
        Ok(request) => request,
        Err(err) => {
            return vec![(
                reply,
                error(None, "bad_request", &format!("not a valid request: {err}")),
            )];
        }
    };
    let started = std::time::Instant::now();
    let outcome = match request {
        Request::Send {
            id,
            to,
            body,
            reply_to,
            media,
        } => {
            let attachments = Attachments { reply_to, media };
            send(db, user, device, id, to, body, attachments, now, &reply).await
        }
        Request::Receipt { status, ids } => {
            if ids.len() > MAX_RECEIPT_IDS {
                Ok(vec![(
                    reply.clone(),
                    error(None, "too_many_ids", "at most 1000 ids per receipt"),
                )])
            } else {
                store::record_receipt(db, user, status, &ids, now)
                    .await
                    .map(|changed| {
                        changed
                            .into_iter()
                            .map(|(sender, ids)| {
                                (
                                    topics::user_inbox(sender),
                                    Event::Receipt {
                                        status,
                                        ids,
                                        by: user,
                                    },
                                )
                            })
                            .collect()
                    })
            }
        }
        Request::Sync { after } => sync(db, user, after, &reply).await,
    };
    metrics::histogram!(PERSIST_SECONDS).record(started.elapsed().as_secs_f64());
    outcome.unwrap_or_else(|err| {
        metrics::counter!(PERSIST_ERRORS).increment(1);
        warn!(error = %err, user, device, "request failed in the database");
        vec![(
            reply,
            error(
                None,
                "unavailable",
                "the server could not store this; send it again",
            ),
        )]
    })
}

/// What a send refers to besides its body.
#[derive(Clone, Copy, Debug)]
struct Attachments {
    reply_to: Option<i64>,
    media: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
async fn send(
    db: &DatabaseConnection,
    user: i64,
    device: i64,
    id: String,
    to: natter_proto::envelope::Target,
    body: Base64,
    attachments: Attachments,
    now: i64,
    reply: &str,
) -> Result<Vec<(String, Event)>, DbErr> {
    if id.is_empty() || id.len() > 128 {
        return Ok(vec![(
            reply.to_owned(),
            error(Some(id), "bad_id", "the id must have 1 to 128 characters"),
        )]);
    }
    let send = store::Send {
        sender: user,
        device,
        client_id: &id,
        to,
        body: body.0,
        reply_to: attachments.reply_to,
        media: attachments.media,
        now,
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
            return Ok(vec![(reply.to_owned(), error(Some(id), code, message))]);
        }
    };
    metrics::counter!(MESSAGES_PERSISTED).increment(1);
    let message = &stored.message;
    let mut events = vec![(
        topics::user_inbox(user),
        Event::Sent {
            id,
            server_id: message.id,
            conversation_id: message.conversation_id,
            seq: message.seq,
            ts: message.created_at,
        },
    )];
    for &(recipient, inbox_seq) in &stored.deliveries {
        events.push((
            topics::user_inbox(recipient),
            message_event(message, inbox_seq, stored.group_id),
        ));
    }
    info!(
        server_id = message.id,
        recipients = stored.deliveries.len(),
        "message stored"
    );
    Ok(events)
}

async fn sync(
    db: &DatabaseConnection,
    user: i64,
    after: i64,
    reply: &str,
) -> Result<Vec<(String, Event)>, DbErr> {
    let mut events = Vec::new();
    let mut upto = after.max(0);
    loop {
        let page = store::inbox_after(db, user, upto, SYNC_PAGE).await?;
        let full = page.len() as u64 == SYNC_PAGE;
        for (delivery, message, group_id) in page {
            upto = delivery.inbox_seq;
            events.push((
                reply.to_owned(),
                message_event(&message, delivery.inbox_seq, group_id),
            ));
        }
        if !full {
            break;
        }
    }
    events.push((reply.to_owned(), Event::Synced { upto }));
    Ok(events)
}

fn message_event(
    message: &natter_entities::messages::Model,
    inbox_seq: i64,
    group_id: Option<i64>,
) -> Event {
    Event::Message {
        server_id: message.id,
        inbox_seq,
        conversation_id: message.conversation_id,
        seq: message.seq,
        group_id,
        from: message.sender_user_id,
        from_device: message.sender_device_id,
        body: Base64(message.body.clone()),
        reply_to: message.reply_to_id,
        media: message.media_id,
        ts: message.created_at,
    }
}

fn error(id: Option<String>, code: &str, message: &str) -> Event {
    Event::Error {
        id,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}
