//! The bridge's messaging worker: takes outbox publishes in arrival order, decodes them,
//! hands them to the messaging rules ([`natter_chat::Chat`]), publishes what the rules
//! answer on the addressees' topics, and acknowledges. What a request means is the rules'
//! business; topics, encodings, packet limits and acknowledgements are this module's.

use natter_chat::{Address, Caller, Chat, Out, Outcome, Refusal, Refused, Request};
use natter_proto::envelope::Event;
use natter_proto::stamp::{self, Stamp};
use natter_proto::topics;
use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;
use tracing::warn;

use crate::telemetry::{
    BATCH_SIZE, HOP_BRIDGE_QUEUE, HOP_COMMIT, HOP_EDGE_TO_BRIDGE, HOP_PUBLISH, HOP_SECONDS,
};

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

/// How long to wait for the broker to accept a request's control messages before
/// acknowledging the request anyway (they are still queued in the client).
const EVENTS_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Handles outbox publishes in arrival order and acknowledges each after its work is
/// committed and its events are handed to the broker.
///
/// Whatever has queued up while the previous batch was in the database is taken as one batch
/// (at most `max_batch`, [`natter_chat::MAX_BATCH`]): its sends and receipts share one
/// transaction (group commit), so the per-commit cost is paid once per batch under load and
/// nothing waits for a batch to fill when idle. Events and acknowledgements follow the
/// commit, in order. Several sessions (or bridges) batch too: on PostgreSQL each batch first
/// locks the rows of every user it touches in ascending order, so batches of different
/// sessions never deadlock.
///
/// Events go to the broker at QoS 0: the hop is loopback to the router, the database is the
/// source of truth, and a device that misses a live event finds it with `sync` (clients
/// detect the gap in `inbox_seq`). QoS 1 here cost a 40 ms stall per message: rumqttd never
/// sets TCP_NODELAY, so its PUBACKs to the bridge sat unacknowledged and held back its next
/// delivery until the bridge's delayed ACK (docs/PERFORMANCE.md). Control messages (a member
/// removed, a device revoked) stay QoS 1, and the batch is acknowledged after the broker has
/// acknowledged them (`acked` counts the broker's PUBACKs).
pub(crate) async fn run(
    mut chat: Chat,
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
        let now = crate::now_ms();
        // Requests the rules get, and per publish either the rules' turn or the answer to a
        // publish that is no request.
        let mut requests = Vec::with_capacity(batch.len());
        let mut answered: Vec<Option<Vec<Publication>>> = Vec::with_capacity(batch.len());
        for Inbound { publish, .. } in &batch {
            match decode(&publish.topic, &publish.payload, now) {
                Ok(request) => {
                    requests.push(request);
                    answered.push(None);
                }
                Err(answer) => answered.push(Some(answer)),
            }
        }
        metrics::histogram!(BATCH_SIZE).record(batch.len() as f64);
        let callers: Vec<Caller> = requests.iter().map(|(caller, _)| *caller).collect();
        let outcomes = chat.handle_batch(requests).await;
        let committed = std::time::Instant::now();
        let count = batch.len();
        // Per request, as the other hops: each request of the batch waited for its commit.
        metrics::histogram!(HOP_SECONDS, "hop" => HOP_COMMIT)
            .record_many((committed - started).as_secs_f64(), count);
        // One stamp for the batch's events: they are handed on together, now.
        let stamp_now = Stamp::now(stamp::Origin::Bridge);
        let stamp_for = |topic: &str| stamp::applies_to(topic).then_some(stamp_now);
        let mut outcomes = callers.into_iter().zip(outcomes);
        for answer in answered {
            let publications = match answer {
                Some(answer) => answer,
                None => match outcomes.next() {
                    Some((caller, outcome)) => addressed(&caller, outcome),
                    None => Vec::new(),
                },
            };
            for Publication { topic, what } in publications {
                let (payload, qos) = match what {
                    What::Event(event) => {
                        let payload = fit(&topic, &event, max_packet, stamp_for(&topic));
                        (payload, QoS::AtMostOnce)
                    }
                    What::Control => (Some(Vec::new()), QoS::AtLeastOnce),
                };
                let Some(payload) = payload else { continue };
                if client.publish(topic, qos, false, payload).await.is_err() {
                    return;
                }
                if qos == QoS::AtLeastOnce {
                    published += 1;
                }
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

/// Something to publish: an event, or a control message carried in its topic alone.
struct Publication {
    topic: String,
    what: What,
}

enum What {
    /// An event, QoS 0 (typing's and every other: the database is the source of truth).
    Event(Event),
    /// A control message for every edge, QoS 1.
    Control,
}

/// What the rules' `outcome` for `caller` publishes, on the addressees' topics.
fn addressed(caller: &Caller, outcome: Outcome) -> Vec<Publication> {
    let topic_of = |address: Address| match address {
        Address::User(user) => topics::user_inbox(user),
        Address::CallerDevice => topics::device_replies(caller.user, caller.device),
        Address::CallerOtherDevices => topics::user_inbox_except(caller.user, caller.device),
    };
    outcome
        .into_iter()
        .map(|out| match out {
            Out::Event(address, event) | Out::Ephemeral(address, event) => Publication {
                topic: topic_of(address),
                what: What::Event(event),
            },
            Out::Refused(refused) => Publication {
                topic: topic_of(Address::CallerDevice),
                what: What::Event(refused.event()),
            },
            Out::Control(control) => Publication {
                topic: control.topic(),
                what: What::Control,
            },
        })
        .collect()
}

/// Reads an outbox message: who sent it and what it asks, with a call's method and
/// parameters read into a typed call. Otherwise what to answer (nothing for a topic that is
/// not a stamped outbox).
fn decode(topic: &str, payload: &[u8], now: i64) -> Result<(Caller, Request), Vec<Publication>> {
    let refusal = |topic: String, refused: Refused| {
        vec![Publication {
            topic,
            what: What::Event(refused.event()),
        }]
    };
    let Some((user, device)) = topics::parse_stamped_outbox(topic) else {
        // A publish under `u/{me}/out/…` (stamped `u/{me}/out/{device}/…`) carries no request:
        // say so on the device's reply topic rather than let it vanish.
        return Err(match topics::parse_deeper_outbox(topic) {
            Some((user, device)) => {
                let message =
                    format!("requests go to u/{user}/out itself, not to a topic below it");
                let refused = anonymous(Refusal::BadTopic(message));
                refusal(topics::device_replies(user, device), refused)
            }
            None => Vec::new(),
        });
    };
    let reply = topics::device_replies(user, device);
    let request = natter_proto::wire::read_request(payload)
        .map_err(|err| anonymous(Refusal::BadRequest(err)))
        .and_then(Request::from_envelope);
    match request {
        Ok(request) => Ok((Caller { user, device, now }, request)),
        Err(refused) => Err(refusal(reply, refused)),
    }
}

/// `refusal` of a request that names nothing (no client id, no call id).
fn anonymous(refusal: Refusal) -> Refused {
    Refused {
        id: None,
        rid: None,
        refusal,
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
            let refused = Refused {
                id: None,
                rid: Some(rid.clone()),
                refusal: Refusal::TooLarge {
                    bytes: packet,
                    limit: max_packet,
                },
            };
            encode(&refused.event(), stamp)
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

    #[test]
    fn a_call_with_an_unknown_method_is_refused_before_the_rules() {
        let payload = br#"{"type":"call","rid":"r9","method":"group.explode","params":{}}"#;
        let Err(answer) = decode("u/5/out/6", payload, 0) else {
            panic!("an unknown method is no request for the rules");
        };
        let [
            Publication {
                topic,
                what: What::Event(event),
            },
        ] = &answer[..]
        else {
            panic!("one error event");
        };
        assert_eq!(topic, "u/5/reply/6");
        match event {
            Event::Error { rid, code, .. } => {
                assert_eq!(
                    (rid.as_deref(), code.as_str()),
                    (Some("r9"), "unknown_method")
                );
            }
            other => panic!("expected unknown_method, got {other:?}"),
        }
    }
}
