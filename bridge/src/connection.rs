//! The bridge's MQTT session with the broker: connect, keep it up, report readiness, and
//! disconnect cleanly on shutdown.

use std::time::Duration;

use metrics::{counter, gauge};
use natter_proto::{SERVICE_USERNAME, topics};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::telemetry::{BRIDGE_CONNECT_ERRORS, BRIDGE_CONNECTED, describe};
use crate::worker;

/// How long to wait before reconnecting after the broker went away.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// How long a clean disconnect may take at shutdown.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// What the bridge needs to run.
#[derive(Debug)]
pub struct BridgeContext {
    /// `host:port` of the broker's loopback listener.
    pub broker_addr: String,
    /// The MQTT client id of this bridge worker.
    pub client_id: String,
    /// The password of the `service` user.
    pub service_password: SecretString,
    /// Capacity of the client's request channel.
    pub channel_capacity: usize,
    /// Set to `true` while the bridge holds a session with the broker.
    pub ready: watch::Sender<bool>,
    /// The database messages are stored in.
    pub db: DatabaseConnection,
    /// Whether the database answers, shared with the health probe; bounds each request's
    /// database work (`database.statement_timeout_ms`).
    pub db_health: std::sync::Arc<crate::DatabaseHealth>,
    /// Groups, edits, typing.
    pub messaging: natter_config::MessagingSettings,
    /// Contacts limits and the rest of the account rules, for account calls.
    pub accounts: natter_config::AccountsSettings,
    /// MQTT sessions this process runs (`bridge.sessions`); more than one share the work.
    pub sessions: u16,
    /// Whether the sessions join the shared subscription `$share/natter-bridge/…` (set when
    /// bridges run in several processes; implied by more than one session).
    pub shared: bool,
    /// Where `presence.query` calls are answered from; `None` answers `unavailable`.
    pub presence: Option<std::sync::Arc<dyn natter_presence::PresenceStore>>,
    /// The largest packet clients may send (`mqtt.max_packet_size`): the bridge's session
    /// carries that plus the server's headroom both ways
    /// ([`natter_proto::internal_packet_limit`]), and answers anything larger with
    /// `too_large`.
    pub max_packet_size: usize,
}

/// The shared-subscription group of every bridge session.
const SHARE_GROUP: &str = "$share/natter-bridge/";

/// Runs the bridge's sessions until `shutdown` is cancelled (see [`BridgeContext::sessions`]).
/// Readiness follows the first session.
///
/// # Errors
/// [`Error::BrokerAddr`] when the broker address cannot be parsed.
pub async fn run(ctx: BridgeContext, shutdown: CancellationToken) -> Result<()> {
    describe();
    split_host_port(&ctx.broker_addr)?;
    let ctx = std::sync::Arc::new(ctx);
    let mut sessions = tokio::task::JoinSet::new();
    for index in 0..ctx.sessions.max(1) {
        sessions.spawn(run_session(ctx.clone(), index, shutdown.clone()));
    }
    let mut outcome = Ok(());
    while let Some(ended) = sessions.join_next().await {
        match ended {
            Ok(Ok(())) => {}
            Ok(Err(err)) => outcome = Err(err),
            Err(join) => warn!(error = %join, "a bridge session task failed"),
        }
    }
    outcome
}

/// Runs one bridge session until `shutdown` is cancelled: connects to the broker, reconnects
/// when the connection drops, and disconnects cleanly at the end. Messages are handled one
/// at a time and acknowledged strictly in order.
async fn run_session(
    ctx: std::sync::Arc<BridgeContext>,
    index: u16,
    shutdown: CancellationToken,
) -> Result<()> {
    let (host, port) = split_host_port(&ctx.broker_addr)?;
    let client_id = match index {
        0 => ctx.client_id.clone(),
        n => format!("{}-{n}", ctx.client_id),
    };
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_credentials(SERVICE_USERNAME, ctx.service_password.expose_secret());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    options.set_manual_acks(true);
    // Every internal hop carries what the edge accepts (rumqttc's default is 10 KiB: a larger
    // publish either way would drop the session, and with it every event in flight).
    let limit = natter_proto::internal_packet_limit(ctx.max_packet_size);
    options.set_max_packet_size(limit, limit);
    let (client, mut eventloop) = AsyncClient::new(options, ctx.channel_capacity);
    // Small packets both ways (publish, ack): without this, Nagle's algorithm and delayed
    // ACKs add about 40 ms to every message.
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let (inbound, inbound_rx) = mpsc::channel(ctx.channel_capacity);
    let settings = natter_chat::ChatSettings {
        messaging: ctx.messaging.clone(),
        accounts: ctx.accounts.clone(),
        presence: ctx.presence.clone(),
    };
    let chat = natter_chat::Chat::new(ctx.db.clone(), settings, ctx.db_health.clone());
    let (acked, acked_rx) = watch::channel(0_u64);
    // Group commit in every session: batches lock in one global order (`natter_chat`).
    let max_batch = natter_chat::MAX_BATCH;
    let mut worker = tokio::spawn(worker::run(
        chat,
        client.clone(),
        inbound_rx,
        acked_rx,
        max_batch,
        limit,
    ));

    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            event = eventloop.poll() => {
                if let Some(publish) = on_event(&ctx, index, &client, &acked, event, &shutdown).await {
                    let inbound_publish = worker::Inbound::arrived(publish);
                    // Waits when the messaging task is behind: back-pressure on the broker.
                    if inbound.send(inbound_publish).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    // Finish what was taken from the broker (commit, answer, acknowledge), then leave.
    drop(inbound);
    let drained = tokio::time::timeout(DISCONNECT_GRACE, async {
        loop {
            tokio::select! {
                _ = &mut worker => return,
                event = eventloop.poll() => if event.is_err() { return },
            }
        }
    })
    .await;
    if drained.is_err() {
        warn!("bridge shutdown: messages still in progress were left for clients to resend");
    }
    disconnect(&ctx, &client, &mut eventloop).await;
    Ok(())
}

async fn on_event(
    ctx: &BridgeContext,
    index: u16,
    client: &AsyncClient,
    acked: &watch::Sender<u64>,
    event: Result<Event, rumqttc::ConnectionError>,
    shutdown: &CancellationToken,
) -> Option<rumqttc::Publish> {
    match event {
        Ok(Event::Incoming(Packet::ConnAck(_))) => {
            info!(broker = %ctx.broker_addr, "bridge connected to the broker");
            // A clean session: subscribe again after every (re)connect. Clean sessions keep
            // the shared subscription clear of rumqttd's panic (it needs persistent ones).
            let filter = if ctx.shared || ctx.sessions > 1 {
                format!("{SHARE_GROUP}{}", topics::USER_OUTBOX_FILTER)
            } else {
                topics::USER_OUTBOX_FILTER.to_owned()
            };
            if let Err(err) = client.try_subscribe(filter, QoS::AtLeastOnce) {
                warn!(error = %err, "bridge could not subscribe to the outboxes");
            }
        }
        Ok(Event::Incoming(Packet::SubAck(_))) if index == 0 => {
            gauge!(BRIDGE_CONNECTED).set(1.0);
            ctx.ready.send_replace(true);
        }
        Ok(Event::Incoming(Packet::Publish(publish))) => return Some(publish),
        Ok(Event::Incoming(Packet::PubAck(_))) => acked.send_modify(|count| *count += 1),
        Ok(_) => {}
        Err(err) if index > 0 => {
            warn!(session = index, error = %err, "bridge session lost the broker");
            counter!(BRIDGE_CONNECT_ERRORS).increment(1);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
        }
        Err(err) => {
            if ctx.ready.send_replace(false) {
                warn!(broker = %ctx.broker_addr, error = %err, "bridge lost the broker");
            }
            gauge!(BRIDGE_CONNECTED).set(0.0);
            counter!(BRIDGE_CONNECT_ERRORS).increment(1);
            // rumqttc reconnects on the next poll; wait a little so that a broker that is
            // down is not hammered, but wake at once on shutdown.
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
        }
    }
    None
}

async fn disconnect(ctx: &BridgeContext, client: &AsyncClient, eventloop: &mut EventLoop) {
    ctx.ready.send_replace(false);
    gauge!(BRIDGE_CONNECTED).set(0.0);
    if client.try_disconnect().is_err() {
        return;
    }
    // Drive the event loop until the DISCONNECT is written and the broker closes.
    let _ = tokio::time::timeout(DISCONNECT_GRACE, async {
        while eventloop.poll().await.is_ok() {}
    })
    .await;
    info!("bridge disconnected from the broker");
}

fn split_host_port(addr: &str) -> Result<(String, u16)> {
    let invalid = || Error::BrokerAddr {
        addr: addr.to_owned(),
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
    let port = port.parse().map_err(|_| invalid())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn broker_addr_splits_into_host_and_port() {
        assert_eq!(
            split_host_port("127.0.0.1:1884").ok(),
            Some(("127.0.0.1".to_owned(), 1884))
        );
        assert_eq!(
            split_host_port("[::1]:1884").ok(),
            Some(("::1".to_owned(), 1884))
        );
        assert!(split_host_port("localhost").is_err());
        assert!(split_host_port(":1884").is_err());
        assert!(split_host_port("host:http").is_err());
    }
}
