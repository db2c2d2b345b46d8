//! Size ceilings on the message path: every internal hop carries what the edge accepts.
//! A message of the largest packet a client may send, and the largest answer a call may give,
//! reach their receivers, and the bridge stays on the broker for everyone else.

use natter_proto::envelope::{Event, Target};
use natter_tests::{scenario, spawn_app};
use rumqttc::v5::mqttbytes::QoS;
use serde_json::json;

use crate::groups::call;
use crate::messaging::{device, event, request, send};

/// Bytes an MQTT remaining length takes.
fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// A JSON `send` whose QoS 1 PUBLISH on `topic` (MQTT 5, no properties) is exactly `packet`
/// bytes long: the body fills what the envelope leaves, and trailing spaces the rest.
fn send_of_packet_size(topic: &str, to: i64, packet: usize) -> Vec<u8> {
    let envelope = |body: &str| format!(r#"{{"type":"send","id":"big","to":{{"user":{to}}},"body":"{body}"}}"#);
    // Fixed header byte, topic length + topic, packet id, properties length (v5).
    let overhead = |payload: usize| {
        let remaining = 2 + topic.len() + 2 + 1 + payload;
        1 + varint_len(remaining) + remaining
    };
    let mut body_len = packet - overhead(envelope("").len());
    body_len -= body_len % 4; // whole base64 quanta
    let body = "QUJD".repeat(body_len / 4); // "ABC" in base64
    let mut payload = envelope(&body).into_bytes();
    while overhead(payload.len()) < packet {
        payload.push(b' ');
    }
    assert_eq!(overhead(payload.len()), packet, "packet arithmetic");
    payload
}

scenario!(
    the_largest_message_and_the_largest_answer_cross_the_bridge,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let max = app.settings.mqtt.max_packet_size;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut ada_phone = device(&app, &ada).await?;
        let mut bob_phone = device(&app, &bob).await?;

        // A message in a packet of exactly mqtt.max_packet_size bytes.
        let topic = format!("u/{}/out", ada.user_id);
        let payload = send_of_packet_size(&topic, bob.user_id, max);
        let body_len = (payload.len() - 100) / 4 * 3; // lower bound of the decoded body
        ada_phone
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        loop {
            match event(&mut ada_phone).await? {
                Event::Sent { id, .. } if id == "big" => break,
                Event::Error { code, message, .. } => anyhow::bail!("refused: {code}: {message}"),
                _ => {}
            }
        }
        let Event::Message { body, .. } = event(&mut bob_phone).await? else {
            anyhow::bail!("expected the large message")
        };
        assert!(
            body.0.len() >= body_len && body.0.iter().all(|&b| b"ABC".contains(&b)),
            "the large message arrived damaged: {} bytes",
            body.0.len()
        );

        // The largest presence query (256 users) has an answer over 10 KiB.
        let users: Vec<i64> = std::iter::repeat_n(bob.user_id, 256).collect();
        let answer = call(
            &mut ada_phone,
            ada.user_id,
            "presence.query",
            json!({ "users": users }),
        )
        .await?;
        assert_eq!(answer["users"].as_array().map(Vec::len), Some(256));
        assert!(
            answer.to_string().len() > 10 * 1024,
            "the answer should be over 10 KiB to test the ceiling"
        );

        // A receipt with the most ids a receipt may carry, and its event to the sender.
        let ids: Vec<i64> = (1..=1000).collect();
        let receipt = json!({"type": "receipt", "status": "delivered", "ids": ids});
        bob_phone
            .client
            .publish(
                format!("u/{}/out", bob.user_id),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&receipt)?,
            )
            .await?;

        // The bridge is still on the broker: a small message after all that goes through.
        request(
            &bob_phone,
            bob.user_id,
            &send("after", Target::User(ada.user_id), "still here"),
        )
        .await?;
        loop {
            match event(&mut ada_phone).await? {
                Event::Message { body, .. } if body.0 == b"still here" => break,
                Event::Receipt { .. } | Event::Message { .. } => {}
                other => anyhow::bail!("unexpected event {other:?}"),
            }
        }
        app.stop().await
    }
);
