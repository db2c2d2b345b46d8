//! Sends and receipts, the bulk of the traffic: they may share one transaction with the
//! rest of their batch. A refusal writes nothing, so the batch goes on after one.

use crate::statements;
use natter_proto::envelope::{Event, ReceiptStatus, Target};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use tracing::debug;

use crate::events::{message_event, own_message_event};
use crate::refusal::{Refusal, Refused};
use crate::request::{Address, Caller, Out, Outcome, Request};
use crate::store;
use crate::telemetry::MESSAGES_PERSISTED;

/// Most ids one receipt may carry.
const MAX_RECEIPT_IDS: usize = 1000;

/// What a send refers to besides its body.
#[derive(Clone, Copy, Debug)]
struct Attachments {
    reply_to: Option<i64>,
    media: Option<i64>,
}

/// Refuses client ids that are empty or too long; `None` when the id is fine.
pub(crate) fn check_id(id: &str) -> Option<Outcome> {
    if id.is_empty() || id.len() > 128 {
        return Some(refused(id.to_owned(), Refusal::BadId));
    }
    None
}

/// `refusal` of the request with client id `id`.
pub(crate) fn refused(id: String, refusal: Refusal) -> Outcome {
    vec![Out::Refused(Refused {
        id: Some(id),
        rid: None,
        refusal,
    })]
}

/// Sends and receipts in one transaction: every answer, or the first error (then nothing is
/// stored). Other requests are not expected here and get no answer.
pub(crate) async fn in_one_transaction(
    db: &DatabaseConnection,
    run: &[(Caller, Request)],
) -> Result<Vec<Outcome>, DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Several sessions (or bridges) commit batches side by side: the users whose rows
        // the batch will lock are locked first, in one global order, so two transactions
        // never wait on each other in a cycle (statements::lock_users says why users' rows
        // suffice). SQLite has one writer at a time: nothing to order.
        let mut users = Vec::new();
        for (caller, request) in run {
            users.push(caller.user);
            match request {
                Request::Send {
                    to: natter_proto::envelope::Target::User(recipient),
                    ..
                } => users.push(*recipient),
                Request::Send {
                    to: natter_proto::envelope::Target::Group(group_id),
                    ..
                } => users.extend(statements::other_members(&txn, *group_id, caller.user).await?),
                _ => {}
            }
        }
        statements::lock_users(&txn, users).await?;
    }
    let mut answers = Vec::with_capacity(run.len());
    for (caller, request) in run {
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
    to: Target,
    body: Vec<u8>,
    attachments: Attachments,
) -> Result<Outcome, DbErr> {
    if let Some(refused) = check_id(&id) {
        return Ok(refused);
    }
    let send = store::Send {
        sender: caller.user,
        device: caller.device,
        client_id: &id,
        to,
        body,
        reply_to: attachments.reply_to,
        media: attachments.media,
        now: caller.now,
    };
    let stored = match store::persist_in(db, send).await? {
        Ok(stored) => stored,
        Err(refusal) => return Ok(refused(id, refusal)),
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
pub(crate) fn stored_events(caller: &Caller, id: String, stored: &store::Stored) -> Outcome {
    let message = &stored.message;
    let mut outs = vec![Out::Event(
        Address::User(caller.user),
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
            Address::CallerOtherDevices,
            own_message_event(message, own, stored.group_id),
        ));
    }
    for &(recipient, inbox_seq) in &stored.deliveries {
        outs.push(Out::Event(
            Address::User(recipient),
            message_event(message, inbox_seq, stored.group_id),
        ));
    }
    outs
}

async fn receipt(
    db: &impl ConnectionTrait,
    caller: &Caller,
    status: ReceiptStatus,
    ids: &[i64],
) -> Result<Outcome, DbErr> {
    if ids.len() > MAX_RECEIPT_IDS {
        return Ok(vec![Out::Refused(Refused {
            id: None,
            rid: None,
            refusal: Refusal::TooManyIds,
        })]);
    }
    let recorded = store::record_receipt_in(db, caller.user, status, ids, caller.now).await?;
    let mut outs = Vec::new();
    if status == ReceiptStatus::Read {
        // The reader's devices (this one too: the entry takes an inbox position it must see)
        // learn the new read position of each conversation.
        let moved =
            store::move_read_positions_in(db, caller.user, &recorded.conversations, caller.now)
                .await?;
        for (conversation_id, seq, inbox_seq) in moved {
            outs.push(Out::Event(
                Address::User(caller.user),
                Event::Read {
                    inbox_seq,
                    conversation_id,
                    seq,
                },
            ));
        }
    }
    for change in recorded.by_sender {
        let inbox = Address::User(change.sender);
        outs.push(Out::Event(
            inbox,
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
