//! What the rules take (a [`Caller`] and a typed [`Request`]) and what they give back (an
//! [`Outcome`]: what to tell whom). Addresses are relative to the caller; the transport maps
//! them to its own (MQTT topics in the bridge). No topics or encodings here.

use natter_proto::Call;
use natter_proto::envelope::{self, Event, ReceiptStatus, Target};
use natter_proto::topics::ControlTopic;

use crate::refusal::{Refusal, Refused};

/// Longest request id of a call, in characters.
const MAX_RID_CHARS: usize = 64;

/// Who sent a request, and when it is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The sending user.
    pub user: i64,
    /// The sending device.
    pub device: i64,
    /// When the request is handled, unix milliseconds.
    pub now: i64,
}

/// A request, typed (the envelope's [`envelope::Request`] with its call read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Send a message.
    Send {
        /// The client's id (resending it never makes a second message).
        id: String,
        /// The recipient.
        to: Target,
        /// The opaque body.
        body: Vec<u8>,
        /// The message this one answers.
        reply_to: Option<i64>,
        /// An uploaded media item it carries.
        media: Option<i64>,
    },
    /// The caller's device received or showed these messages.
    Receipt {
        /// `delivered` or `read`.
        status: ReceiptStatus,
        /// Server ids.
        ids: Vec<i64>,
    },
    /// One page of the caller's inbox after this position.
    Sync {
        /// The last inbox position the device processed.
        after: i64,
    },
    /// Replace the body of a message the caller sent.
    Edit {
        /// The client's id for the edit.
        id: String,
        /// The message.
        message: i64,
        /// The new body.
        body: Vec<u8>,
    },
    /// Delete a message the caller sent, for everyone.
    Delete {
        /// The client's id for the deletion.
        id: String,
        /// The message.
        message: i64,
    },
    /// React to a message (empty: remove the reaction).
    React {
        /// The client's id for the reaction.
        id: String,
        /// The message.
        message: i64,
        /// One emoji, at most 32 bytes.
        emoji: String,
    },
    /// The caller is typing (or stopped).
    Typing {
        /// The conversation.
        to: Target,
        /// Whether typing.
        active: bool,
    },
    /// A call, answered with a result or a refusal for `rid`.
    Call {
        /// The caller's request id, 1 to 64 characters.
        rid: String,
        /// The operation.
        call: Call,
    },
}

impl Request {
    /// The typed form of a request as read from the wire: a call's method and parameters
    /// become a [`Call`].
    ///
    /// # Errors
    /// The refusal to answer instead (`bad_rid`, `unknown_method`, `bad_params`), for the
    /// call's `rid`.
    pub fn from_envelope(request: envelope::Request) -> Result<Request, Refused> {
        Ok(match request {
            envelope::Request::Send {
                id,
                to,
                body,
                reply_to,
                media,
            } => Request::Send {
                id,
                to,
                body: body.0,
                reply_to,
                media,
            },
            envelope::Request::Receipt { status, ids } => Request::Receipt { status, ids },
            envelope::Request::Sync { after } => Request::Sync { after },
            envelope::Request::Edit { id, message, body } => Request::Edit {
                id,
                message,
                body: body.0,
            },
            envelope::Request::Delete { id, message } => Request::Delete { id, message },
            envelope::Request::React { id, message, emoji } => {
                Request::React { id, message, emoji }
            }
            envelope::Request::Typing { to, active } => Request::Typing { to, active },
            envelope::Request::Call {
                rid,
                method,
                params,
            } => {
                let refused = |refusal| Refused {
                    id: None,
                    rid: Some(rid.clone()),
                    refusal,
                };
                if rid.is_empty() || rid.chars().count() > MAX_RID_CHARS {
                    return Err(refused(Refusal::BadRid));
                }
                match Call::parse(&method, params) {
                    Ok(call) => Request::Call { rid, call },
                    Err(err) => return Err(refused(Refusal::from(err))),
                }
            }
        })
    }

    /// The client id (sends, edits, deletions, reactions) and the call id (calls) a failure
    /// of this request names.
    pub(crate) fn ids(&self) -> (Option<String>, Option<String>) {
        match self {
            Request::Send { id, .. }
            | Request::Edit { id, .. }
            | Request::Delete { id, .. }
            | Request::React { id, .. } => (Some(id.clone()), None),
            Request::Call { rid, .. } => (None, Some(rid.clone())),
            Request::Typing { .. } | Request::Receipt { .. } | Request::Sync { .. } => (None, None),
        }
    }
}

/// Whom an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// Every device of this user (its inbox).
    User(i64),
    /// The caller's device only (answers, sync pages, refusals).
    CallerDevice,
    /// The caller's devices but the sending one.
    CallerOtherDevices,
}

/// One thing handling a request asks the transport to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// Deliver an event (the database holds it: a device that misses it finds it by `sync`).
    Event(Address, Event),
    /// Deliver an ephemeral event (typing): never stored, never resent.
    Ephemeral(Address, Event),
    /// Tell the caller's device that a request was refused.
    Refused(Refused),
    /// Tell every edge (a member removed, a device revoked): they act at once.
    Control(ControlTopic),
}

/// What handling one request asks for, in order.
pub type Outcome = Vec<Out>;
