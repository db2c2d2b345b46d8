//! One client's session state: its subscriptions, its outgoing QoS 1 window, its topic
//! aliases. No I/O here; `connection` drives it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rumqttc::mqttbytes::matches;

use crate::edge::acl::Namespace;
use crate::edge::hub::Delivery;

/// Where a subscription's deliveries come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// One namespace (users, devices, group members).
    Namespace(Namespace),
    /// Every namespace (operators).
    Everything,
}

/// A subscription: filter, granted QoS, source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) filter: String,
    pub(crate) qos: u8,
    pub(crate) source: Source,
}

/// What survives a disconnect of a persistent session.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    pub(crate) subscriptions: Vec<Subscription>,
    /// QoS 1 messages sent and not yet acknowledged, by packet id.
    pub(crate) inflight: BTreeMap<u16, Delivery>,
    /// QoS 1 messages waiting for room in the window.
    pub(crate) queued: VecDeque<Delivery>,
    next_pkid: u16,
}

impl State {
    /// The highest QoS among the subscriptions matching `topic`, or `None` when none does.
    pub(crate) fn qos_for(&self, topic: &str) -> Option<u8> {
        self.subscriptions
            .iter()
            .filter(|subscription| matches(topic, &subscription.filter))
            .map(|subscription| subscription.qos)
            .max()
    }

    /// Adds or replaces the subscription with the same filter.
    pub(crate) fn subscribe(&mut self, subscription: Subscription) {
        self.subscriptions
            .retain(|existing| existing.filter != subscription.filter);
        self.subscriptions.push(subscription);
    }

    /// Removes the subscription to `filter`; returns its source if it was the last one
    /// drawing from that source.
    pub(crate) fn unsubscribe(&mut self, filter: &str) -> Option<Source> {
        let position = self
            .subscriptions
            .iter()
            .position(|existing| existing.filter == filter)?;
        let removed = self.subscriptions.remove(position);
        (!self
            .subscriptions
            .iter()
            .any(|other| other.source == removed.source))
        .then_some(removed.source)
    }

    /// Drops every subscription in group `group_id`'s namespace.
    pub(crate) fn leave_group(&mut self, group_id: i64) {
        let source = Source::Namespace(Namespace::Group(group_id));
        self.subscriptions
            .retain(|subscription| subscription.source != source);
    }

    /// Takes the next free packet id, skipping 0 and ids still in flight.
    pub(crate) fn next_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1);
            if self.next_pkid != 0 && !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }
}

/// Client-to-server topic aliases of a v5 connection.
#[derive(Debug, Default)]
pub(crate) struct Aliases {
    topics: HashMap<u16, String>,
}

/// Why an alias could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AliasError;

impl Aliases {
    /// Resolves a PUBLISH's topic: records `alias → topic` when both are given, looks the
    /// alias up when the topic is empty.
    ///
    /// # Errors
    /// An alias of 0, above `maximum`, or unknown.
    pub(crate) fn resolve(
        &mut self,
        topic: String,
        alias: Option<u16>,
        maximum: u16,
    ) -> Result<String, AliasError> {
        let Some(alias) = alias else {
            return Ok(topic);
        };
        if alias == 0 || alias > maximum {
            return Err(AliasError);
        }
        if topic.is_empty() {
            self.topics.get(&alias).cloned().ok_or(AliasError)
        } else {
            self.topics.insert(alias, topic.clone());
            Ok(topic)
        }
    }
}

/// Persistent sessions of disconnected devices, kept in memory until they expire.
#[derive(Debug, Default)]
pub(crate) struct Store {
    sessions: Mutex<HashMap<i64, (State, Instant)>>,
}

impl Store {
    /// Keeps `state` for `device_id` for `expiry`.
    pub(crate) fn keep(&self, device_id: i64, state: State, expiry: Duration) {
        let now = Instant::now();
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sessions.retain(|_, (_, expires)| *expires > now);
        sessions.insert(
            device_id,
            (
                state,
                now.checked_add(expiry)
                    .unwrap_or(now + Duration::from_secs(86_400 * 365)),
            ),
        );
    }

    /// Takes the unexpired session of `device_id`, if any.
    pub(crate) fn take(&self, device_id: i64) -> Option<State> {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (state, expires) = sessions.remove(&device_id)?;
        (expires > Instant::now()).then_some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(filter: &str, qos: u8, group: i64) -> Subscription {
        Subscription {
            filter: filter.into(),
            qos,
            source: Source::Namespace(Namespace::Group(group)),
        }
    }

    #[test]
    fn the_highest_matching_qos_wins() {
        let mut state = State::default();
        state.subscribe(subscription("g/1/#", 0, 1));
        state.subscribe(subscription("g/1/chat", 1, 1));
        assert_eq!(state.qos_for("g/1/chat"), Some(1));
        assert_eq!(state.qos_for("g/1/typing"), Some(0));
        assert_eq!(state.qos_for("g/2/chat"), None);
    }

    #[test]
    fn unsubscribing_the_last_filter_of_a_source_releases_it() {
        let mut state = State::default();
        state.subscribe(subscription("g/1/#", 0, 1));
        state.subscribe(subscription("g/1/chat", 1, 1));
        assert_eq!(state.unsubscribe("g/1/#"), None);
        assert_eq!(
            state.unsubscribe("g/1/chat"),
            Some(Source::Namespace(Namespace::Group(1)))
        );
        assert_eq!(state.unsubscribe("g/1/chat"), None);
    }

    #[test]
    fn packet_ids_skip_zero_and_ids_in_flight() {
        let mut state = State {
            next_pkid: u16::MAX - 1,
            ..State::default()
        };
        let delivery = Delivery::from(crate::edge::hub::Message {
            topic: "u/1/inbox".into(),
            payload: bytes::Bytes::new(),
            correlation: None,
            timing: None,
        });
        state.inflight.insert(1, delivery);
        assert_eq!(state.next_pkid(), u16::MAX);
        assert_eq!(state.next_pkid(), 2);
    }

    #[test]
    fn aliases_resolve_once_recorded() {
        let mut aliases = Aliases::default();
        assert_eq!(
            aliases.resolve("u/1/out".into(), Some(3), 10),
            Ok("u/1/out".into())
        );
        assert_eq!(
            aliases.resolve(String::new(), Some(3), 10),
            Ok("u/1/out".into())
        );
        assert_eq!(aliases.resolve(String::new(), Some(4), 10), Err(AliasError));
        assert_eq!(aliases.resolve("x".into(), Some(11), 10), Err(AliasError));
        assert_eq!(aliases.resolve("x".into(), Some(0), 10), Err(AliasError));
    }
}
