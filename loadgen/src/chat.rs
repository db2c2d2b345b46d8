//! The `chat` scenario: N pairs of users, each sender sending to its partner at a fixed rate
//! (QoS 1, persisted, delivered); reports messages delivered per second and the
//! send-to-deliver latency (HDR histogram, p50/p99/p99.9). With `--baseline` the same relay
//! runs against a plain MQTT broker (no authentication, no persistence), so the two figures are
//! a ratio measured on one machine at one time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use natter_client::{Event, Target};
use rumqttc::{AsyncClient, MqttOptions, Packet, QoS};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use crate::cli::ChatArgs;
use crate::{database, provision};

/// How one chat run is driven.
#[derive(Clone, Debug)]
pub(crate) struct ChatParams {
    /// Sender/receiver pairs.
    pub(crate) pairs: usize,
    /// Messages per second offered by all senders together.
    pub(crate) total_rate: u64,
    /// How long to send.
    pub(crate) duration: Duration,
    /// Body size in bytes (at least 8).
    pub(crate) body_bytes: usize,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub(crate) struct ChatResult {
    /// Sender/receiver pairs.
    pub(crate) pairs: usize,
    /// Offered messages per second, all senders together.
    pub(crate) offered: u64,
    /// Messages sent.
    pub(crate) sent: u64,
    /// Messages delivered while sending and draining.
    pub(crate) delivered: u64,
    /// From the first send to the last delivery (or the end of the drain).
    pub(crate) elapsed: Duration,
    /// Send-to-deliver latency, microseconds.
    pub(crate) latency: Histogram<u64>,
}

impl ChatResult {
    /// Delivered messages per second.
    pub(crate) fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency at `quantile`, milliseconds.
    pub(crate) fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The largest latency, milliseconds.
    pub(crate) fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }

    /// Whether delivery kept up with the offered rate (at least 90 % delivered at 90 % of the
    /// offered rate).
    pub(crate) fn kept_up(&self) -> bool {
        self.delivered as f64 >= 0.9 * self.sent as f64 && self.rate() >= 0.9 * self.offered as f64
    }
}

/// The header of the results table.
pub(crate) const TABLE_HEADER: &str = "| server | pairs | offered msg/s | delivered msg/s | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|---|---|---|";

/// One row of the results table.
pub(crate) fn table_row(server: &str, result: &ChatResult) -> String {
    format!(
        "| {server} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
        result.pairs,
        result.offered,
        result.rate(),
        result.ms(0.5),
        result.ms(0.99),
        result.ms(0.999),
        result.max_ms(),
    )
}

/// Runs the scenario on natter and, when asked, on the baseline broker.
///
/// # Errors
/// When provisioning or connecting fails.
pub(crate) async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let params = ChatParams {
        pairs: args.pairs.max(1),
        total_rate: args.pairs.max(1) as u64 * args.rate,
        duration: Duration::from_secs(args.duration_secs),
        body_bytes: args.body_bytes,
    };
    println!("{TABLE_HEADER}");
    let db = database::connect(&args.database).await?;
    let natter = measure_natter(&db, args.server, &params).await?;
    println!("{}", table_row("natter", &natter));
    if let Some(baseline) = args.baseline {
        let plain = measure_plain(baseline, &params).await?;
        println!("{}", table_row(&format!("plain broker {baseline}"), &plain));
        let ratio = natter.rate() / plain.rate().max(f64::MIN_POSITIVE);
        println!("\nnatter / plain broker delivered msg/s: {ratio:.2}");
    }
    Ok(())
}

/// The body: 8 bytes of microseconds since `origin`, padded to `size` bytes.
fn body(origin: Instant, size: usize) -> Vec<u8> {
    let micros = u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut body = micros.to_be_bytes().to_vec();
    body.resize(size.max(8), b'.');
    body
}

fn latency_of(origin: Instant, body: &[u8]) -> Option<u64> {
    let sent = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    let now = u64::try_from(origin.elapsed().as_micros()).ok()?;
    Some(now.saturating_sub(sent))
}

fn histogram() -> anyhow::Result<Arc<Mutex<Histogram<u64>>>> {
    Ok(Arc::new(Mutex::new(Histogram::new_with_bounds(
        1, 60_000_000, 3,
    )?)))
}

fn record(histogram: &Mutex<Histogram<u64>>, micros: u64) {
    if let Ok(mut histogram) = histogram.lock() {
        let _ = histogram.record(micros.max(1));
    }
}

/// Runs the pairs on natter: provisions them in `db`, chats, removes them.
///
/// # Errors
/// When provisioning or connecting fails.
pub(crate) async fn measure_natter(
    db: &DatabaseConnection,
    server: SocketAddr,
    params: &ChatParams,
) -> anyhow::Result<ChatResult> {
    let devices = provision::provision(db, params.pairs * 2).await?;
    let outcome = async {
        let users = crate::fanout::user_ids(db, &devices).await?;
        let origin = Instant::now();
        let latency = histogram()?;
        let (delivered_tx, mut delivered_rx) = mpsc::unbounded_channel::<()>();
        let server = server.to_string();
        let mut senders = Vec::new();
        let mut clients = Vec::new();
        for pair in 0..params.pairs {
            let (sender, mut sender_events) =
                crate::fanout::connect(&server, &devices[2 * pair], users[2 * pair]).await?;
            let (receiver, mut receiver_events) =
                crate::fanout::connect(&server, &devices[2 * pair + 1], users[2 * pair + 1])
                    .await?;
            tokio::spawn(async move { while sender_events.next().await.is_some() {} });
            let (latency, delivered) = (latency.clone(), delivered_tx.clone());
            tokio::spawn(async move {
                while let Some(event) = receiver_events.next().await {
                    if let Event::Message(message) = event {
                        if let Some(micros) = latency_of(origin, &message.body) {
                            record(&latency, micros);
                        }
                        let _ = delivered.send(());
                    }
                }
            });
            senders.push((sender, Target::User(users[2 * pair + 1])));
            clients.push(receiver);
        }
        let measured = drive(params, &mut delivered_rx, |index| {
            let (sender, to) = &senders[index];
            sender
                .send(*to, body(origin, params.body_bytes), None)
                .map(|_| ())
                .map_err(anyhow::Error::from)
        })
        .await?;
        for (sender, _) in senders {
            sender.close().await;
        }
        for client in clients {
            client.close().await;
        }
        anyhow::Ok(ChatResult {
            latency: snapshot(&latency)?,
            ..measured
        })
    }
    .await;
    provision::remove_all(db).await?;
    outcome
}

fn snapshot(histogram: &Mutex<Histogram<u64>>) -> anyhow::Result<Histogram<u64>> {
    histogram
        .lock()
        .map(|h| h.clone())
        .map_err(|_| anyhow::anyhow!("a latency recorder panicked"))
}

/// Sends at the offered rate for the duration, then waits (at most 10 s) for what is in
/// flight; returns what was delivered while sending and draining.
async fn drive(
    params: &ChatParams,
    delivered: &mut mpsc::UnboundedReceiver<()>,
    mut send: impl FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<ChatResult> {
    let total_rate = params.total_rate.max(1);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / total_rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent = 0_u64;
    let mut count = 0_u64;
    let mut next = 0;
    while started.elapsed() < params.duration {
        tokio::select! {
            _ = tick.tick() => {
                send(next)?;
                next = (next + 1) % params.pairs.max(1);
                sent += 1;
            }
            Some(()) = delivered.recv() => count += 1,
        }
    }
    let drain = tokio::time::timeout(Duration::from_secs(10), async {
        while count < sent {
            if delivered.recv().await.is_none() {
                break;
            }
            count += 1;
        }
    });
    let _ = drain.await;
    let lost = sent.saturating_sub(count);
    if lost > 0 {
        eprintln!("{lost} of {sent} messages not delivered within 10 s of the end");
    }
    Ok(ChatResult {
        pairs: params.pairs,
        offered: total_rate,
        sent,
        delivered: count,
        elapsed: started.elapsed(),
        latency: Histogram::new(3)?,
    })
}

/// The same relay on a plain broker: topic `loadgen/{run}/{pair}`, QoS 1 both ways.
///
/// # Errors
/// When the broker does not answer (it is never skipped: a baseline that is down is an
/// error).
pub(crate) async fn measure_plain(
    broker: SocketAddr,
    params: &ChatParams,
) -> anyhow::Result<ChatResult> {
    let origin = Instant::now();
    let latency = histogram()?;
    let (delivered_tx, mut delivered_rx) = mpsc::unbounded_channel::<()>();
    let run = uuid_like();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for pair in 0..params.pairs {
        let topic = format!("loadgen/{run}/{pair}");
        let sender = plain_client(broker, &format!("lg-{run}-s{pair}"), None).await?;
        let receiver_topic = topic.clone();
        let (latency, delivered) = (latency.clone(), delivered_tx.clone());
        let receiver = plain_client(
            broker,
            &format!("lg-{run}-r{pair}"),
            Some((
                receiver_topic,
                Box::new(move |payload: &[u8]| {
                    if let Some(micros) = latency_of(origin, payload) {
                        record(&latency, micros);
                    }
                    let _ = delivered.send(());
                }),
            )),
        )
        .await?;
        receivers.push(receiver);
        senders.push((sender, topic));
    }
    let measured = drive(params, &mut delivered_rx, |index| {
        let (sender, topic) = &senders[index];
        sender
            .try_publish(
                topic.clone(),
                QoS::AtLeastOnce,
                false,
                body(origin, params.body_bytes),
            )
            .map_err(anyhow::Error::from)
    })
    .await?;
    for client in senders.iter().map(|(client, _)| client).chain(&receivers) {
        let _ = client.try_disconnect();
    }
    Ok(ChatResult {
        latency: snapshot(&latency)?,
        ..measured
    })
}

type OnPayload = Box<dyn Fn(&[u8]) + Send>;

/// A connected rumqttc client; with `subscribe`, subscribed (SUBACK seen) and calling back on
/// every publish.
async fn plain_client(
    broker: SocketAddr,
    id: &str,
    subscribe: Option<(String, OnPayload)>,
) -> anyhow::Result<AsyncClient> {
    let mut options = MqttOptions::new(id, broker.ip().to_string(), broker.port());
    options.set_keep_alive(Duration::from_secs(120));
    options.set_inflight(100);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    eventloop.set_network_options(network);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let (topic, on_payload) = match subscribe {
        Some((topic, on_payload)) => (Some(topic), Some(on_payload)),
        None => (None, None),
    };
    if let Some(topic) = &topic {
        client.subscribe(topic.clone(), QoS::AtLeastOnce).await?;
    }
    tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(Packet::ConnAck(_))) if topic.is_none() => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(()));
                    }
                }
                Ok(rumqttc::Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(()));
                    }
                }
                Ok(rumqttc::Event::Incoming(Packet::Publish(publish))) => {
                    if let Some(on_payload) = &on_payload {
                        on_payload(&publish.payload);
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Err(err.to_string()));
                    }
                    return;
                }
            }
        }
    });
    let outcome = tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .with_context(|| format!("the plain broker at {broker} did not answer within 10 s"))?
        .with_context(|| format!("the connection to the plain broker at {broker} ended"))?;
    if let Err(err) = outcome {
        anyhow::bail!("cannot use the plain broker at {broker} (is Mosquitto running?): {err}");
    }
    Ok(client)
}

/// A short random tag, so that runs never share topics or client ids.
fn uuid_like() -> String {
    use rand::{RngCore, SeedableRng};
    format!("{:08x}", rand::rngs::StdRng::from_os_rng().next_u32())
}
