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
use tokio::sync::mpsc;

use crate::cli::ChatArgs;
use crate::{database, provision};

/// What one run measured.
struct Measured {
    delivered: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// Runs the scenario on natter and, when asked, on the baseline broker.
///
/// # Errors
/// When provisioning or connecting fails.
pub(crate) async fn run(args: ChatArgs) -> anyhow::Result<()> {
    println!(
        "| server | pairs | offered msg/s | delivered msg/s | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let natter = on_natter(&args).await?;
    report("natter", &args, &natter);
    if let Some(baseline) = args.baseline {
        let plain = on_plain_broker(&args, baseline).await?;
        report(&format!("plain broker {baseline}"), &args, &plain);
        let ratio = rate(&natter) / rate(&plain).max(f64::MIN_POSITIVE);
        println!("\nnatter / plain broker delivered msg/s: {ratio:.2}");
    }
    Ok(())
}

fn rate(measured: &Measured) -> f64 {
    measured.delivered as f64 / measured.elapsed.as_secs_f64()
}

fn report(server: &str, args: &ChatArgs, measured: &Measured) {
    let ms = |q: f64| measured.latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| {server} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
        args.pairs,
        args.pairs as u64 * args.rate,
        rate(measured),
        ms(0.5),
        ms(0.99),
        ms(0.999),
        measured.latency.max() as f64 / 1000.0,
    );
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

async fn on_natter(args: &ChatArgs) -> anyhow::Result<Measured> {
    let db = database::connect(&args.database).await?;
    let devices = provision::provision(&db, args.pairs * 2).await?;
    let outcome = async {
        let users = crate::fanout::user_ids(&db, &devices).await?;
        let origin = Instant::now();
        let latency = histogram()?;
        let (delivered_tx, mut delivered_rx) = mpsc::unbounded_channel::<()>();
        let server = args.server.to_string();
        let mut senders = Vec::new();
        let mut clients = Vec::new();
        for pair in 0..args.pairs {
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
        let measured = drive(args, &mut delivered_rx, |index| {
            let (sender, to) = &senders[index];
            sender
                .send(*to, body(origin, args.body_bytes), None)
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
        let latency = latency
            .lock()
            .map(|h| h.clone())
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        anyhow::Ok(Measured {
            latency,
            ..measured
        })
    }
    .await;
    provision::remove_all(&db).await?;
    outcome
}

/// Sends at the offered rate for the duration, then waits (at most 10 s) for what is in
/// flight; returns what was delivered while sending and draining.
async fn drive(
    args: &ChatArgs,
    delivered: &mut mpsc::UnboundedReceiver<()>,
    mut send: impl FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Measured> {
    let total_rate = (args.pairs as u64 * args.rate).max(1);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / total_rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let duration = Duration::from_secs(args.duration_secs);
    let mut sent = 0_u64;
    let mut count = 0_u64;
    let mut next = 0;
    while started.elapsed() < duration {
        tokio::select! {
            _ = tick.tick() => {
                send(next)?;
                next = (next + 1) % args.pairs.max(1);
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
    Ok(Measured {
        delivered: count,
        elapsed: started.elapsed(),
        latency: Histogram::new(3)?,
    })
}

/// The same relay on a plain broker: topic `loadgen/{pair}`, QoS 1 both ways.
async fn on_plain_broker(args: &ChatArgs, broker: SocketAddr) -> anyhow::Result<Measured> {
    let origin = Instant::now();
    let latency = histogram()?;
    let (delivered_tx, mut delivered_rx) = mpsc::unbounded_channel::<()>();
    let run = uuid_like();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for pair in 0..args.pairs {
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
    let measured = drive(args, &mut delivered_rx, |index| {
        let (sender, topic) = &senders[index];
        sender
            .try_publish(
                topic.clone(),
                QoS::AtLeastOnce,
                false,
                body(origin, args.body_bytes),
            )
            .map_err(anyhow::Error::from)
    })
    .await?;
    for client in senders.iter().map(|(client, _)| client).chain(&receivers) {
        let _ = client.try_disconnect();
    }
    let latency = latency
        .lock()
        .map(|h| h.clone())
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(Measured {
        latency,
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
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
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
                        let _ = ready.send(());
                    }
                }
                Ok(rumqttc::Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Ok(rumqttc::Event::Incoming(Packet::Publish(publish))) => {
                    if let Some(on_payload) = &on_payload {
                        on_payload(&publish.payload);
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .context("the plain broker did not answer")?
        .context("connection failed")?;
    Ok(client)
}

/// A short random tag, so that runs never share topics or client ids.
fn uuid_like() -> String {
    use rand::{RngCore, SeedableRng};
    format!("{:08x}", rand::rngs::StdRng::from_os_rng().next_u32())
}
