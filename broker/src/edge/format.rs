//! What a connection receives, and how compactly: the envelope encoding it asked for at
//! CONNECT and the topic aliases it lets the server use (MQTT 5).
//!
//! The bridge publishes messaging events in the binary form (protobuf, natter_proto::wire).
//! A connection that asked for it (v5 CONNECT user property `natter-format: protobuf`) gets
//! them as they are; every other connection gets JSON, converted here. Only event topics
//! (`u/{user}/inbox`, `u/{user}/reply/{device}`) are converted; other payloads pass untouched.

use std::collections::HashMap;

use bytes::Bytes;
use natter_proto::wire;

/// The user property a v5 client sets in CONNECT to choose its encoding.
pub(crate) const FORMAT_PROPERTY: &str = "natter-format";
/// The value of [`FORMAT_PROPERTY`] that selects the binary form.
pub(crate) const FORMAT_PROTOBUF: &str = "protobuf";

/// The envelope encoding of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Format {
    /// JSON (the default, and the only one for MQTT 3.1.1).
    #[default]
    Json,
    /// Protocol Buffers.
    Protobuf,
}

/// `payload` of a delivery on `topic` in the encoding `format` wants. A payload that cannot
/// be read is passed on as it is (it was not an event).
pub(crate) fn convert(format: Format, topic: &str, payload: Bytes) -> Bytes {
    if !is_event_topic(topic) || payload.is_empty() {
        return payload;
    }
    let is_json = wire::is_json(&payload);
    match (format, is_json) {
        (Format::Json, false) => match wire::decode_event(&payload) {
            Ok(event) => serde_json::to_vec(&event).map_or(payload, Bytes::from),
            Err(_) => payload,
        },
        (Format::Protobuf, true) => match serde_json::from_slice(&payload) {
            Ok(event) => Bytes::from(wire::encode_event(&event)),
            Err(_) => payload,
        },
        _ => payload,
    }
}

/// `u/{user}/inbox` or `u/{user}/reply/{device}`.
fn is_event_topic(topic: &str) -> bool {
    let mut levels = topic.split('/');
    matches!(
        (
            levels.next(),
            levels.next(),
            levels.next(),
            levels.next(),
            levels.next()
        ),
        (Some("u"), Some(_), Some("inbox"), None, None)
            | (Some("u"), Some(_), Some("reply"), Some(_), None)
    )
}

/// Server-to-client topic aliases (MQTT 5): the first PUBLISH on a topic carries the topic
/// and a new alias, later ones only the alias. At most the client's Topic Alias Maximum;
/// topics past it go out in full.
#[derive(Debug, Default)]
pub(crate) struct OutAliases {
    maximum: u16,
    assigned: HashMap<Box<str>, u16>,
}

impl OutAliases {
    /// Aliases for a client that accepts up to `maximum` (0: none).
    pub(crate) fn new(maximum: u16) -> OutAliases {
        OutAliases {
            maximum,
            assigned: HashMap::new(),
        }
    }

    /// The topic to write (empty when the alias is known to the client) and the alias.
    pub(crate) fn apply(&mut self, topic: &str) -> (String, Option<u16>) {
        if let Some(&alias) = self.assigned.get(topic) {
            return (String::new(), Some(alias));
        }
        let next = u16::try_from(self.assigned.len() + 1).unwrap_or(u16::MAX);
        if self.maximum == 0 || next > self.maximum {
            return (topic.to_owned(), None);
        }
        self.assigned.insert(topic.into(), next);
        (topic.to_owned(), Some(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_proto::envelope::Event;

    #[test]
    fn events_reach_each_connection_in_its_encoding() {
        let event = Event::Synced {
            upto: 4,
            more: false,
        };
        let binary = Bytes::from(wire::encode_event(&event));
        let json = convert(Format::Json, "u/1/inbox", binary.clone());
        assert_eq!(
            serde_json::from_slice::<Event>(&json).ok(),
            Some(event.clone())
        );
        let back = convert(Format::Protobuf, "u/1/reply/2", json);
        assert_eq!(back, binary);
        // Other topics pass untouched.
        assert_eq!(
            convert(Format::Json, "u/1/presence", binary.clone()),
            binary
        );
    }

    #[test]
    fn aliases_are_assigned_once_and_only_up_to_the_maximum() {
        let mut aliases = OutAliases::new(1);
        assert_eq!(aliases.apply("u/1/inbox"), ("u/1/inbox".into(), Some(1)));
        assert_eq!(aliases.apply("u/1/inbox"), (String::new(), Some(1)));
        assert_eq!(aliases.apply("u/1/reply/2"), ("u/1/reply/2".into(), None));
        let mut none = OutAliases::new(0);
        assert_eq!(none.apply("u/1/inbox"), ("u/1/inbox".into(), None));
    }
}
