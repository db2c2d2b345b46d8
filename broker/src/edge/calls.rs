//! MQTT 5 request/response for calls: a client that publishes a `call` on its outbox with a
//! Response Topic (and usually Correlation Data) gets the answer on that topic, with the same
//! Correlation Data, as MQTT 5 clients expect. The bridge still answers on the device's reply
//! topic with the call's `rid`; the edge, which alone knows the v5 properties, re-addresses
//! that answer. The response topic must be one the device may subscribe to, and it must
//! subscribe to it to receive the answer.

use std::collections::VecDeque;

use natter_proto::envelope::{Event, Request};
use natter_proto::{topics, wire};

use crate::edge::acl::{self, PublishCheck, SubscribeCheck};
use crate::edge::codec::Response;
use crate::edge::connection::Live;
use crate::edge::hub::{Delivery, Message};

/// Calls one connection may have waiting for an answer; older ones are forgotten (their
/// answer then arrives only on the reply topic).
const MAX_PENDING: usize = 64;

/// Calls waiting for their answer.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    calls: VecDeque<(String, Response)>,
}

/// Records where the answer to the call in `payload` goes. A response topic outside what the
/// device may read refuses the publish (v5 PUBACK 0x87); a publish that is not a call is
/// forwarded as usual (the response topic is ignored).
pub(crate) fn expect(
    live: &mut Live<'_>,
    response: Option<Response>,
    payload: &[u8],
) -> PublishCheck {
    let Some(response) = response else {
        return PublishCheck::Allowed;
    };
    let readable = !response.topic.contains(['+', '#'])
        && matches!(
            acl::check_subscribe(&live.identity, &response.topic),
            SubscribeCheck::Allowed(_) | SubscribeCheck::Everything
        );
    if !readable {
        return PublishCheck::Denied;
    }
    if let Ok(Request::Call { rid, .. }) = wire::read_request(payload) {
        let calls = &mut live.calls.calls;
        calls.retain(|(pending, _)| *pending != rid);
        if calls.len() >= MAX_PENDING {
            calls.pop_front();
        }
        calls.push_back((rid, response));
    }
    PublishCheck::Allowed
}

/// The answer to a waiting call, re-addressed to its response topic, when `delivery` is one.
pub(crate) fn answer(live: &mut Live<'_>, delivery: &Delivery) -> Option<Delivery> {
    if live.calls.calls.is_empty()
        || *delivery.topic != topics::device_replies(live.identity.user_id, live.identity.device_id)
    {
        return None;
    }
    let rid = match wire::read_event(&delivery.payload).ok()? {
        Event::Result { rid, .. } => rid,
        Event::Error { rid: Some(rid), .. } => rid,
        _ => return None,
    };
    let calls = &mut live.calls.calls;
    let index = calls.iter().position(|(pending, _)| *pending == rid)?;
    let (_, response) = calls.remove(index)?;
    Some(Delivery::from(Message {
        topic: response.topic.into(),
        payload: delivery.payload.clone(),
        correlation: response.correlation,
        timing: delivery.timing,
    }))
}
