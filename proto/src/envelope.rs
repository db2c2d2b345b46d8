//! The messaging envelope: what a device publishes on its outbox and what it receives on its
//! inbox, as JSON (for plain MQTT devices and bots). Bodies are opaque bytes, base64 in JSON:
//! the server never reads them, so end-to-end encryption needs no protocol change.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A one-to-one chat with this user.
    User(i64),
    /// A group.
    Group(i64),
}

/// What a device publishes on `u/{me}/out`. Fields this server does not know are ignored, so
/// that a client written for a newer server still works here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Request {
    /// Send a message.
    Send {
        /// The client's id for the message; resending the same id never makes a second
        /// message.
        id: String,
        /// The recipient.
        to: Target,
        /// The opaque body, base64.
        body: Base64,
        /// The server id of the message this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// An uploaded media item (`POST /v1/media`) this message carries. The sender must
        /// have uploaded it or received it in a message (forwarding).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<i64>,
    },
    /// The device has received (`delivered`) or shown (`read`) these messages.
    Receipt {
        /// `delivered` or `read`.
        status: ReceiptStatus,
        /// Server ids of the messages.
        ids: Vec<i64>,
    },
    /// Send again everything delivered to me after this inbox position.
    Sync {
        /// The last inbox position the device has processed (0 for everything).
        after: i64,
    },
    /// Replace the body of a message I sent, within the edit window.
    Edit {
        /// The client's id for this edit (resends are deduplicated like sends).
        id: String,
        /// The server id of the message to edit.
        message: i64,
        /// The new opaque body, base64.
        body: Base64,
    },
    /// Delete a message I sent, for everyone.
    Delete {
        /// The client's id for this deletion.
        id: String,
        /// The server id of the message to delete.
        message: i64,
    },
    /// React to a message in one of my conversations; an empty emoji removes my reaction.
    React {
        /// The client's id for this reaction.
        id: String,
        /// The server id of the message.
        message: i64,
        /// The reaction, one emoji (at most 32 bytes); empty to remove.
        emoji: String,
    },
    /// I am typing (or stopped) in a conversation. Never stored; rate-limited.
    Typing {
        /// The conversation: a user or a group.
        to: Target,
        /// `true` while typing, `false` when stopped.
        active: bool,
    },
    /// Call an operation (groups, message info, profile, contacts, presence...); the answer
    /// is a `result` or `error` event with the same `rid` on `u/{me}/reply/{device}`.
    Call {
        /// The caller's request id, echoed in the answer (1 to 64 characters).
        rid: String,
        /// The operation, such as `group.create` (docs/PROTOCOL.md lists them).
        method: String,
        /// The operation's parameters, an object.
        #[serde(default)]
        params: serde_json::Value,
    },
}

/// What kind of entry a `message` event is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A message with an opaque body (the default, omitted in JSON).
    #[default]
    Text,
    /// A message carrying a media item (and an optional opaque caption body).
    Media,
    /// A new body for the message `ref` (sent by its author).
    Edit,
    /// The message `ref` was deleted for everyone.
    Delete,
    /// A reaction to the message `ref`; the body is the emoji (empty: removed).
    Reaction,
    /// A group or conversation change; the body is JSON (docs/PROTOCOL.md, system events).
    System,
}

impl MessageKind {
    /// The value stored in `messages.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Media => "media",
            MessageKind::Edit => "edit",
            MessageKind::Delete => "delete",
            MessageKind::Reaction => "reaction",
            MessageKind::System => "system",
        }
    }

    /// Parses the stored value; unknown values read as text.
    pub fn from_stored(stored: &str) -> MessageKind {
        match stored {
            "media" => MessageKind::Media,
            "edit" => MessageKind::Edit,
            "delete" => MessageKind::Delete,
            "reaction" => MessageKind::Reaction,
            "system" => MessageKind::System,
            _ => MessageKind::Text,
        }
    }

    fn is_text(&self) -> bool {
        *self == MessageKind::Text
    }
}

/// A receipt's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// Received by a device of the recipient.
    Delivered,
    /// Shown to the recipient.
    Read,
}

/// What a device receives on `u/{me}/inbox` or `u/{me}/reply/{device}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The server stored a message this user sent.
    Sent {
        /// The client's id.
        id: String,
        /// The server's id.
        server_id: i64,
        /// The conversation.
        conversation_id: i64,
        /// Position in the conversation.
        seq: i64,
        /// The message's position in the sender's own inbox (its copy for the user's other
        /// devices): the sending device counts it as processed. Absent for messages stored
        /// before own copies existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inbox_seq: Option<i64>,
        /// When the server stored it, unix milliseconds.
        ts: i64,
    },
    /// A message for this user, or the copy of one this user sent from a device (`from` is
    /// this user: an own message, for the user's other devices).
    Message {
        /// The server's id.
        server_id: i64,
        /// Position in this user's inbox: resume with `sync` after the last one processed.
        inbox_seq: i64,
        /// The conversation and the position in it.
        conversation_id: i64,
        /// Position in the conversation.
        seq: i64,
        /// The group, for group messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<i64>,
        /// The sender.
        from: i64,
        /// The sending device.
        from_device: i64,
        /// The opaque body, base64.
        body: Base64,
        /// The message this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// The media item this message carries; download it through `/v1/media/{id}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<i64>,
        /// What this entry is; omitted for plain messages.
        #[serde(default, skip_serializing_if = "MessageKind::is_text")]
        kind: MessageKind,
        /// The message an edit, deletion or reaction is about.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<i64>,
        /// When the message disappears (unix milliseconds), in conversations with a timer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
        /// The message was deleted for everyone: its body and media are gone (omitted when
        /// false).
        #[serde(default, skip_serializing_if = "is_false")]
        deleted: bool,
        /// The client id the sender chose; only on the sender's own copy, so that the sending
        /// device recognises a message it is still waiting for `sent` for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// When the server stored it, unix milliseconds.
        ts: i64,
    },
    /// A device of this user read a conversation up to `seq`: the user's other devices mark
    /// it read too. An inbox entry like a message (resumable with `sync`).
    Read {
        /// Position in this user's inbox.
        inbox_seq: i64,
        /// The conversation.
        conversation_id: i64,
        /// The highest position in the conversation this user has read.
        seq: i64,
    },
    /// Recipients received or read messages this user sent.
    Receipt {
        /// `delivered` or `read`.
        status: ReceiptStatus,
        /// Server ids of the messages.
        ids: Vec<i64>,
        /// The recipient who sent the receipt.
        by: i64,
    },
    /// Every recipient of these group messages has received (`delivered`) or read them.
    ReceiptAll {
        /// `delivered` or `read`.
        status: ReceiptStatus,
        /// Server ids of the messages.
        ids: Vec<i64>,
    },
    /// Someone is typing (or stopped) in a conversation with me. Ephemeral (QoS 0).
    Typing {
        /// Who types.
        from: i64,
        /// The group, when typing in a group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<i64>,
        /// `true` while typing.
        active: bool,
    },
    /// The answer to a `call`.
    Result {
        /// The request id of the call.
        rid: String,
        /// The operation's answer.
        result: serde_json::Value,
    },
    /// The end of one sync page: everything up to this inbox position has been sent again.
    Synced {
        /// The highest inbox position sent (the `after` asked for when nothing was missed).
        upto: i64,
        /// Whether more messages follow `upto`: ask for them with `sync` after `upto` once
        /// this page is processed (docs/PROTOCOL.md, "Resume").
        #[serde(default)]
        more: bool,
    },
    /// A request was refused.
    Error {
        /// The client's id of the message, when the request was a send.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The request id, when the request was a call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rid: Option<String>,
        /// A stable machine-readable code.
        code: String,
        /// A human explanation.
        message: String,
        /// For `unavailable`: how long the server asks the client to wait before sending the
        /// request again, in milliseconds (the server adds jitter; clients back off further
        /// on repeated refusals, see docs/PROTOCOL.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Opaque bytes, base64 (standard alphabet, padded) in JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Base64(pub Vec<u8>);

impl Serialize for Base64 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Base64)
            .map_err(|_| serde::de::Error::custom("body is not valid base64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_request_reads_from_json() {
        let request: Request =
            serde_json::from_str(r#"{"type":"send","id":"c1","to":{"user":2},"body":"aGk="}"#)
                .expect("valid");
        assert_eq!(
            request,
            Request::Send {
                id: "c1".into(),
                to: Target::User(2),
                body: Base64(b"hi".to_vec()),
                reply_to: None,
                media: None,
            }
        );
    }

    #[test]
    fn unknown_fields_are_ignored_so_newer_clients_work() {
        let request: Request = serde_json::from_str(
            r#"{"type":"sync","after":1,"page":50,"since_client_version":"9.1"}"#,
        )
        .expect("unknown fields are ignored");
        assert_eq!(request, Request::Sync { after: 1 });
    }

    #[test]
    fn bad_base64_is_refused() {
        assert!(
            serde_json::from_str::<Request>(
                r#"{"type":"send","id":"c","to":{"user":2},"body":"%%"}"#
            )
            .is_err()
        );
    }
}
