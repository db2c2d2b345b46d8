//! What the edge does with each packet of a live session, and with each delivery for it.

use bytes::Bytes;
use metrics::counter;
use natter_proto::envelope::{Event, Request};
use natter_proto::topics;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{info, warn};

use crate::edge::acl::{self, PublishCheck, SubscribeCheck};
use crate::edge::calls;
use crate::edge::codec::Version;
use crate::edge::codec::{CloseReason, Grant, Inbound, Outbound, Publish, Will};
use crate::edge::connection::{Live, TOPIC_ALIAS_MAXIMUM};
use crate::edge::hub::{Delivery, Message};
use crate::edge::outbox::{self, Ticket};
use crate::edge::session::{Source, State, Subscription};
use crate::edge::telemetry::{MESSAGES_IN, MESSAGES_OUT, REFUSED, SLOW_CLIENT_CLOSES};

/// Subscriptions one connection may hold; more are refused, the connection stays up.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 1000;

/// What the connection loop does after a packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The client sent DISCONNECT.
    Disconnect,
    /// Close with this reason.
    Close(CloseReason),
}

/// Handles one packet from the client.
pub(crate) async fn handle(live: &mut Live<'_>, packet: Inbound) -> Flow {
    match packet {
        Inbound::Publish(publish) => return on_publish(live, publish).await,
        Inbound::PubAck { pkid } => {
            if let Some(delivery) = live.state.inflight.remove(&pkid) {
                live.release(delivery.size());
            }
            send_queued(live);
        }
        Inbound::Subscribe { pkid, filters } => on_subscribe(live, pkid, filters).await,
        Inbound::Unsubscribe { pkid, filters } => {
            let count = filters.len();
            for filter in filters {
                if let Some(Source::Namespace(namespace)) = live.state.unsubscribe(&filter) {
                    live.ctx.hub.unroute(namespace, live.handle.id);
                }
            }
            live.send(Outbound::UnsubAck { pkid, count });
        }
        Inbound::PingReq => live.send(Outbound::PingResp),
        Inbound::Disconnect => return Flow::Disconnect,
        Inbound::Connect(_) => return Flow::Close(CloseReason::ProtocolError),
    }
    Flow::Continue
}

async fn on_publish(live: &mut Live<'_>, publish: Publish) -> Flow {
    // When the edge read it: the start of the per-hop timing.
    let read_at = natter_proto::stamp::now_micros();
    let Publish {
        topic,
        payload,
        qos,
        pkid,
        topic_alias,
        response,
    } = publish;
    if qos > 1 {
        return Flow::Close(CloseReason::QosNotSupported);
    }
    let Ok(topic) = live
        .aliases
        .resolve(topic, topic_alias, TOPIC_ALIAS_MAXIMUM)
    else {
        return Flow::Close(CloseReason::ProtocolError);
    };
    let check = match acl::check_publish(&live.identity, &topic) {
        PublishCheck::Allowed if response.is_some() => calls::expect(live, response, &payload),
        check => check,
    };
    match check {
        PublishCheck::Allowed => {
            let topic = stamp_device(&live.identity, topic);
            if topics::parse_stamped_outbox(&topic).is_some() {
                // A request for the bridge: acknowledged once a bridge has handled it, and
                // held here (the socket is not read) while the node or this connection has
                // too much waiting for the bridges.
                let cost = outbox::cost(&topic, &payload);
                live.parked = Some(Parked {
                    topic,
                    payload,
                    read_at,
                    qos,
                    pkid,
                    cost,
                });
                return try_unpark(live).await;
            }
            if live.ctx.hub.publish(topic, payload, read_at).await.is_err() {
                return Flow::Close(CloseReason::ShuttingDown);
            }
            counter!(MESSAGES_IN).increment(1);
            if qos == 1 {
                live.send(Outbound::PubAck {
                    pkid,
                    authorized: true,
                });
            }
        }
        PublishCheck::Denied => {
            counter!(REFUSED, "kind" => "publish").increment(1);
            info!(device_id = live.identity.device_id, topic = %topic, "unauthorized publish refused");
            // MQTT 5 gets PUBACK 0x87. MQTT 3.1.1 has no way to say "refused": the message is
            // dropped (counted and logged) and still acknowledged, as Mosquitto does, so that
            // the client does not resend it forever.
            if qos == 1 {
                live.send(Outbound::PubAck {
                    pkid,
                    authorized: false,
                });
            }
        }
        PublishCheck::Invalid => return Flow::Close(CloseReason::TopicNameInvalid),
    }
    Flow::Continue
}

/// An outbox publish waiting for room: the connection reads no more packets until it has
/// been handed to the router.
#[derive(Debug)]
pub(crate) struct Parked {
    topic: String,
    payload: Bytes,
    /// When the edge read it (wall-clock microseconds).
    read_at: u64,
    qos: u8,
    pkid: u16,
    /// Its share of the node budget.
    pub(crate) cost: u32,
}

/// Whether this connection may have one more outbox publish waiting for the bridges.
pub(crate) fn outbox_has_room(live: &Live<'_>) -> bool {
    live.outbox_waiting < outbox::PER_CONNECTION.min(usize::from(live.ctx.limits.max_inflight))
}

/// Hands the parked publish to the router if this connection and the node have room now;
/// otherwise it stays parked, and the connection waits for room.
pub(crate) async fn try_unpark(live: &mut Live<'_>) -> Flow {
    let Some(parked) = &live.parked else {
        return Flow::Continue;
    };
    if !outbox_has_room(live) {
        return Flow::Continue;
    }
    match live
        .ctx
        .hub
        .outbox_budget()
        .try_acquire_many_owned(parked.cost)
    {
        Ok(permit) => forward_parked(live, permit).await,
        Err(_) => Flow::Continue,
    }
}

/// Hands the parked publish to the router with its share of the node budget.
pub(crate) async fn forward_parked(live: &mut Live<'_>, permit: OwnedSemaphorePermit) -> Flow {
    let Some(Parked {
        topic,
        payload,
        read_at,
        qos,
        pkid,
        ..
    }) = live.parked.take()
    else {
        return Flow::Continue;
    };
    let ticket = Ticket {
        session_id: live.handle.id,
        pkid: (qos == 1).then_some(pkid),
        _permit: permit,
        at: std::time::Instant::now(),
        payload: payload.clone(),
    };
    // Tracked before it is published, so that the report cannot overtake it.
    live.ctx.hub.track_outbox(live.identity.device_id, ticket);
    live.outbox_waiting += 1;
    if live.ctx.hub.publish(topic, payload, read_at).await.is_err() {
        return Flow::Close(CloseReason::ShuttingDown);
    }
    counter!(MESSAGES_IN).increment(1);
    Flow::Continue
}

/// A bridge handled one of this connection's outbox publishes (`failed: None`): the PUBACK
/// is due. Or it was given up (`failed`, the request): the sender gets an `error` event
/// naming it and, for QoS 1, a failed PUBACK (v5 0x80); MQTT 3.1.1 cannot refuse a publish,
/// so the connection is closed instead (the client publishes it again after reconnecting).
pub(crate) async fn outbox_done(
    live: &mut Live<'_>,
    pkid: Option<u16>,
    failed: Option<Box<Bytes>>,
) -> Flow {
    live.outbox_waiting = live.outbox_waiting.saturating_sub(1);
    let Some(request) = failed else {
        if let Some(pkid) = pkid {
            live.send(Outbound::PubAck {
                pkid,
                authorized: true,
            });
        }
        return try_unpark(live).await;
    };
    let event = given_up(&request);
    let delivery = Delivery::from(Message {
        topic: topics::device_replies(live.identity.user_id, live.identity.device_id).into(),
        payload: Bytes::from(natter_proto::wire::encode_event(&event)),
        correlation: None,
        timing: None,
    });
    live.charge(delivery.size());
    let flow = deliver(live, delivery);
    if flow != Flow::Continue {
        return flow;
    }
    match (pkid, live.version) {
        (Some(_), Version::V4) => Flow::Close(CloseReason::ServerBusy),
        (Some(pkid), Version::V5) => {
            live.send(Outbound::PubAckFailed { pkid });
            try_unpark(live).await
        }
        (None, _) => try_unpark(live).await,
    }
}

/// The `error` event for a request no bridge handled in time, naming it when it can be read.
fn given_up(request: &[u8]) -> Event {
    let (id, rid) = match natter_proto::wire::read_request(request) {
        Ok(
            Request::Send { id, .. }
            | Request::Edit { id, .. }
            | Request::Delete { id, .. }
            | Request::React { id, .. },
        ) => (Some(id), None),
        Ok(Request::Call { rid, .. }) => (None, Some(rid)),
        _ => (None, None),
    };
    Event::Error {
        id,
        rid,
        code: "unavailable".to_owned(),
        message: "the server could not handle this request in time; send it again".to_owned(),
        // The node is far behind: a longer wait than a database hiccup's, jittered so that
        // the clients given up together do not come back together.
        retry_after_ms: Some(4000 + jitter_ms(4000)),
    }
}

/// A number in `0..bound` that differs from call to call (the clock's nanoseconds): spreads
/// retries, needs no randomness of quality.
fn jitter_ms(bound: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| u64::from(elapsed.subsec_nanos()));
    nanos % bound.max(1)
}

async fn on_subscribe(live: &mut Live<'_>, pkid: u16, filters: Vec<(String, u8)>) {
    let mut granted = Vec::with_capacity(filters.len());
    for (filter, requested) in filters {
        let qos = requested.min(1);
        let known = live
            .state
            .subscriptions
            .iter()
            .any(|existing| existing.filter == filter);
        if !known && live.state.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            counter!(REFUSED, "kind" => "subscription_quota").increment(1);
            granted.push(Grant::Quota);
            continue;
        }
        match authorize(live, &filter).await {
            Some(source) => {
                match source {
                    Source::Namespace(namespace) => live.ctx.hub.route(namespace, &live.handle),
                    Source::Everything => live.ctx.hub.watch(&live.handle),
                }
                live.state.subscribe(Subscription {
                    filter,
                    qos,
                    source,
                });
                granted.push(Grant::Qos(qos));
            }
            None => {
                counter!(REFUSED, "kind" => "subscribe").increment(1);
                info!(device_id = live.identity.device_id, filter = %filter, "subscription refused");
                granted.push(Grant::NotAuthorized);
            }
        }
    }
    live.send(Outbound::SubAck { pkid, granted });
}

/// Stamps the sending device into a user's outbox topic: `u/{me}/out[/rest]` goes to the
/// router as `u/{me}/out/{device_id}[/rest]`, so that workers know which device sent it
/// without trusting the payload. Other topics pass unchanged.
fn stamp_device(identity: &crate::edge::auth::Identity, topic: String) -> String {
    let outbox = natter_proto::topics::user_outbox(identity.user_id);
    match topic.strip_prefix(&outbox) {
        Some(rest) if identity.role == crate::edge::auth::Role::User => {
            format!("{outbox}/{}{rest}", identity.device_id)
        }
        _ => topic,
    }
}

/// Where `filter`'s deliveries come from, or `None` when the identity may not subscribe.
async fn authorize(live: &Live<'_>, filter: &str) -> Option<Source> {
    match acl::check_subscribe(&live.identity, filter) {
        SubscribeCheck::Allowed(namespace) => Some(Source::Namespace(namespace)),
        SubscribeCheck::Everything => Some(Source::Everything),
        SubscribeCheck::Denied => None,
        SubscribeCheck::NeedsMembership { group_id } => {
            match live
                .ctx
                .auth
                .is_member(live.identity.user_id, group_id)
                .await
            {
                Ok(true) => Some(Source::Namespace(acl::Namespace::Group(group_id))),
                Ok(false) => None,
                Err(err) => {
                    warn!(error = %err, group_id, "membership check failed, refusing the subscription");
                    None
                }
            }
        }
    }
}

/// QoS 1 messages queued behind a full window before the client counts as too slow.
const MAX_QUEUED: usize = 1024;

/// Sends a delivery from the router if a subscription matches, QoS 1 within the window. A
/// client whose window stays full while the queue grows past [`MAX_QUEUED`] is closed
/// (v5 0x97): it resumes from the database when it reconnects.
pub(crate) fn deliver(live: &mut Live<'_>, mut delivery: Delivery) -> Flow {
    // An own copy (`u/{me}/inbox/except/{device}`) reaches the user's devices as their inbox,
    // except the device that made it: `sent` told that one its position, and its body need not
    // travel back over its link.
    if let Some((user, device)) = natter_proto::topics::parse_inbox_except(&delivery.topic) {
        if device == live.identity.device_id {
            return Flow::Continue;
        }
        delivery = Delivery::from(Message {
            topic: natter_proto::topics::user_inbox(user).into(),
            ..Message::clone(&delivery)
        });
    }
    if let Some(answer) = calls::answer(live, &delivery) {
        live.charge(answer.size());
        let flow = deliver(live, answer);
        if flow != Flow::Continue {
            return flow;
        }
    }
    let Some(qos) = live.state.qos_for(&delivery.topic) else {
        live.release(delivery.size());
        return Flow::Continue;
    };
    if qos == 0 {
        live.publish(&delivery, 0, 0, false);
        live.release(delivery.size());
        counter!(MESSAGES_OUT).increment(1);
        return Flow::Continue;
    }
    if live.state.queued.len() >= MAX_QUEUED {
        counter!(SLOW_CLIENT_CLOSES).increment(1);
        warn!(
            device_id = live.identity.device_id,
            "client not acknowledging, closing its connection"
        );
        return Flow::Close(CloseReason::QuotaExceeded);
    }
    live.state.queued.push_back(delivery);
    send_queued(live);
    Flow::Continue
}

/// Moves queued QoS 1 messages into the window while it has room.
fn send_queued(live: &mut Live<'_>) {
    while live.state.inflight.len() < live.window {
        let Some(delivery) = live.state.queued.pop_front() else {
            return;
        };
        let pkid = live.state.next_pkid();
        live.publish(&delivery, 1, pkid, false);
        live.state.inflight.insert(pkid, delivery);
        counter!(MESSAGES_OUT).increment(1);
    }
}

/// Resumes a persistent session: re-checks and re-routes its subscriptions, then resends
/// what was in flight (DUP set) and what was queued.
pub(crate) async fn restore(live: &mut Live<'_>, restored: State) {
    let State {
        subscriptions,
        inflight,
        queued,
        ..
    } = restored;
    for subscription in subscriptions {
        // Membership may have changed while the device was away.
        if let Some(source) = authorize(live, &subscription.filter).await {
            match source {
                Source::Namespace(namespace) => live.ctx.hub.route(namespace, &live.handle),
                Source::Everything => live.ctx.hub.watch(&live.handle),
            }
            live.state.subscribe(Subscription {
                source,
                ..subscription
            });
        }
    }
    let held: usize = inflight
        .values()
        .chain(queued.iter())
        .map(|delivery| delivery.size())
        .sum();
    live.charge(held);
    for (pkid, delivery) in inflight {
        live.publish(&delivery, 1, pkid, true);
        live.state.inflight.insert(pkid, delivery);
    }
    live.state.queued = queued;
    send_queued(live);
}

/// Publishes the Last Will, if the identity may publish to its topic, stamped with the
/// device like its other publishes (a will cannot speak for a sibling device).
pub(crate) async fn publish_will(live: &Live<'_>, will: Will) {
    if acl::check_publish(&live.identity, &will.topic) == PublishCheck::Allowed {
        let topic = stamp_device(&live.identity, will.topic);
        let read_at = natter_proto::stamp::now_micros();
        let _ = live.ctx.hub.publish(topic, will.payload, read_at).await;
        counter!(MESSAGES_IN).increment(1);
    } else {
        counter!(REFUSED, "kind" => "will").increment(1);
    }
}
