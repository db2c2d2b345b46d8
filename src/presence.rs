//! Presence wiring: the edge's lifecycle hook feeds the presence service (users' devices
//! only: IoT devices and operators have no presence), and presence events go out through
//! this node's broker. Neither crate knows the other; this module adapts one to the other.

use std::sync::Arc;

use anyhow::Context;
use natter_broker::{Broker, DisconnectReason, Identity, PresenceHook, Role};
use natter_config::Settings;
use natter_presence::{
    EventSink, InProcessStore, Leaving, PresenceHandle, PresenceStore, RedisStore,
};
use secrecy::ExposeSecret;

/// Tells presence about the edge's sessions.
#[derive(Debug)]
pub struct EdgePresence(pub PresenceHandle);

impl PresenceHook for EdgePresence {
    fn connected(&self, identity: &Identity, session_id: u64) {
        if identity.role == Role::User {
            self.0
                .connected(identity.user_id, identity.device_id, session_id);
        }
    }

    fn disconnected(&self, identity: &Identity, session_id: u64, reason: DisconnectReason) {
        if identity.role == Role::User {
            let leaving = match reason {
                DisconnectReason::TakenOver => Leaving::TakenOver,
                _ => Leaving::Gone,
            };
            self.0
                .disconnected(identity.user_id, identity.device_id, session_id, leaving);
        }
    }
}

/// Publishes presence events through this node's broker.
#[derive(Debug)]
pub struct BrokerSink(pub Broker);

impl EventSink for BrokerSink {
    fn publish(
        &self,
        topic: String,
        payload: bytes::Bytes,
    ) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.0
                .publish(topic, payload)
                .await
                .map_err(|err| err.to_string())
        })
    }
}

/// The presence store the settings ask for: Redis when `redis.url` is set, else in process.
///
/// # Errors
/// When Redis is configured but does not answer.
pub async fn store(settings: &Settings) -> anyhow::Result<Arc<dyn PresenceStore>> {
    let ttl = settings.presence.ttl();
    Ok(match &settings.redis.url {
        Some(url) => {
            let timeout = settings.redis.timeout().min(settings.presence.heartbeat());
            Arc::new(
                RedisStore::connect(
                    url.expose_secret(),
                    &settings.redis.key_prefix,
                    ttl,
                    timeout,
                )
                .await
                .context("starting presence")?,
            )
        }
        None => Arc::new(InProcessStore::new(ttl)),
    })
}
