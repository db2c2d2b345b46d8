//! The real binary on its defaults: a message in a packet of the largest size a client may
//! send (`mqtt.max_packet_size`, 1 MiB) is stored and delivered, and the bridge stays on the
//! broker for the next one (its MQTT session once dropped at about 10 KiB, losing every event
//! in flight).

use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::durability::Server;

const MAX_PACKET: usize = 1_048_576;

/// A connected v3.1.1 client subscribed to its inbox, with room for the largest packets.
async fn client(
    server: &Server,
    login: &natter_client::Login,
) -> anyhow::Result<(AsyncClient, rumqttc::EventLoop)> {
    let (host, port) = server.mqtt.rsplit_once(':').context("mqtt address")?;
    let mut options = MqttOptions::new(format!("limits-{}", login.username), host, port.parse()?);
    options.set_credentials(login.username.clone(), login.password.clone());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(4 * MAX_PACKET, 4 * MAX_PACKET);
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    client
        .subscribe(format!("u/{}/inbox", login.user_id), QoS::AtLeastOnce)
        .await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await? {
            return Ok((client, eventloop));
        }
    }
}

/// The next inbox event of type `kind`, as JSON.
async fn next(eventloop: &mut rumqttc::EventLoop, kind: &str) -> anyhow::Result<serde_json::Value> {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) = eventloop.poll().await? {
                let event: serde_json::Value = serde_json::from_slice(&publish.payload)?;
                if event["type"] == kind {
                    return Ok(event);
                }
            }
        }
    })
    .await
    .with_context(|| format!("no {kind} event in time"))?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_the_largest_packet_crosses_the_real_binary() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut server = Server::new(dir.path(), None);
    server.start().await?;
    let ada = server.create_user("+15551230001").await?;
    let bob = server.create_user("+15551230002").await?;
    let (ada_client, mut ada_events) = client(&server, &ada).await?;
    let (_bob_client, mut bob_events) = client(&server, &bob).await?;
    // Drive Bob's connection in the background so that his deliveries are read.
    let (bob_tx, mut bob_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let event = next(&mut bob_events, "message").await;
            let done = event.is_err();
            if bob_tx.send(event).is_err() || done {
                return;
            }
        }
    });

    // A QoS 1 PUBLISH of exactly MAX_PACKET bytes: fixed header (1 + 3), topic, packet id.
    let topic = format!("u/{}/out", ada.user_id);
    let envelope = |body: &str, pad: usize| {
        format!(
            r#"{{"type":"send","id":"big","to":{{"user":{}}},"body":"{body}"}}{}"#,
            bob.user_id,
            " ".repeat(pad)
        )
    };
    let room = MAX_PACKET - 4 - 2 - topic.len() - 2 - envelope("", 0).len();
    let body = "QUJD".repeat(room / 4);
    let payload = envelope(&body, room % 4);
    assert_eq!(4 + 2 + topic.len() + 2 + payload.len(), MAX_PACKET);
    ada_client
        .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
        .await?;
    let sent = next(&mut ada_events, "sent").await?;
    assert_eq!(sent["id"], "big");
    let delivered = bob_rx
        .recv()
        .await
        .context("Bob's reader stopped")?
        .with_context(|| format!("server log:\n{}", server.log_tail()))?;
    let body_len = delivered["body"].as_str().map_or(0, str::len);
    assert_eq!(body_len, body.len(), "the large message arrived damaged");

    // The bridge is still on the broker: a small message follows.
    let small = format!(
        r#"{{"type":"send","id":"small","to":{{"user":{}}},"body":"aGk="}}"#,
        bob.user_id
    );
    ada_client
        .publish(topic, QoS::AtLeastOnce, false, small)
        .await?;
    // Polling Ada's connection sends the publish and reads its `sent`.
    let sent = next(&mut ada_events, "sent").await?;
    assert_eq!(sent["id"], "small");
    let delivered = bob_rx.recv().await.context("Bob's reader stopped")??;
    assert_eq!(delivered["body"], "aGk=");
    Ok(())
}
