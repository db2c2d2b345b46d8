//! Bytes on the wire for a 20-character text message on MQTT 5: the binary envelope
//! (`natter-format: protobuf`) with topic aliases both ways, against JSON without aliases.
//! Raw packets over TCP, so every byte is counted.

use bytes::BytesMut;
use natter_proto::envelope::{Base64, Event, Request, Target};
use natter_proto::wire;
use natter_tests::mqtt::{Login, PACKET_TIMEOUT};
use natter_tests::{scenario, spawn_app};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    self, ConnectProperties, Packet, PubAck, Publish, PublishProperties, Subscribe,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BODY: &[u8; 20] = b"see you at 8, ok?:-)";

/// A raw MQTT 5 connection that counts the bytes of each frame it reads and writes.
struct Raw {
    stream: TcpStream,
    input: BytesMut,
}

impl Raw {
    async fn connect(
        addr: std::net::SocketAddr,
        login: &Login,
        binary: bool,
    ) -> anyhow::Result<Raw> {
        let stream = TcpStream::connect(addr).await?;
        let mut raw = Raw {
            stream,
            input: BytesMut::new(),
        };
        let mut properties = ConnectProperties::new();
        properties.topic_alias_max = Some(16);
        if binary {
            properties.user_properties = vec![("natter-format".into(), "protobuf".into())];
        }
        let connect = v5::Connect {
            keep_alive: 30,
            client_id: format!("wire-{}", uuid::Uuid::new_v4().simple()),
            clean_start: true,
            properties: Some(properties),
        };
        raw.write(Packet::Connect(
            connect,
            None,
            Some(v5::Login::new(&login.username, &login.password)),
        ))
        .await?;
        let (Packet::ConnAck(ack), _) = raw.read().await? else {
            anyhow::bail!("expected CONNACK")
        };
        anyhow::ensure!(
            ack.code == v5::ConnectReturnCode::Success,
            "refused: {:?}",
            ack.code
        );
        Ok(raw)
    }

    /// Writes `packet` and returns its size in bytes.
    async fn write(&mut self, packet: Packet) -> anyhow::Result<usize> {
        let mut out = BytesMut::new();
        packet.write(&mut out, None)?;
        self.stream.write_all(&out).await?;
        Ok(out.len())
    }

    /// Reads the next packet and its size in bytes.
    async fn read(&mut self) -> anyhow::Result<(Packet, usize)> {
        tokio::time::timeout(PACKET_TIMEOUT, async {
            loop {
                let before = self.input.len();
                match Packet::read(&mut self.input, None) {
                    Ok(packet) => return Ok((packet, before - self.input.len())),
                    Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => {
                        if self.stream.read_buf(&mut self.input).await? == 0 {
                            anyhow::bail!("connection closed");
                        }
                    }
                    Err(err) => anyhow::bail!("bad packet: {err:?}"),
                }
            }
        })
        .await?
    }

    async fn subscribe(&mut self, filter: String) -> anyhow::Result<()> {
        let mut subscribe = Subscribe::new(v5::Filter::new(filter, QoS::AtLeastOnce), None);
        subscribe.pkid = 1;
        self.write(Packet::Subscribe(subscribe)).await?;
        loop {
            if let (Packet::SubAck(_), _) = self.read().await? {
                return Ok(());
            }
        }
    }

    /// The next PUBLISH (acknowledged), its decoded event and its size in bytes.
    async fn publish_in(&mut self) -> anyhow::Result<(Publish, Event, usize)> {
        loop {
            if let (Packet::Publish(publish), size) = self.read().await? {
                if publish.qos == QoS::AtLeastOnce {
                    self.write(Packet::PubAck(PubAck::new(publish.pkid, None)))
                        .await?;
                }
                let event = wire::read_event(&publish.payload).map_err(anyhow::Error::msg)?;
                return Ok((publish, event, size));
            }
        }
    }
}

/// Publishes a send request on the outbox; with `alias`, the topic goes only the first time.
async fn send(
    raw: &mut Raw,
    user: i64,
    id: &str,
    to: i64,
    binary: bool,
    alias: Option<(u16, bool)>,
) -> anyhow::Result<usize> {
    let request = Request::Send {
        id: id.into(),
        to: Target::User(to),
        body: Base64(BODY.to_vec()),
        reply_to: None,
        media: None,
    };
    let payload = if binary {
        wire::encode_request(&request)
    } else {
        serde_json::to_vec(&request)?
    };
    let (topic, properties) = match alias {
        Some((alias, first)) => (
            if first {
                format!("u/{user}/out")
            } else {
                String::new()
            },
            Some(PublishProperties {
                topic_alias: Some(alias),
                ..Default::default()
            }),
        ),
        None => (format!("u/{user}/out"), None),
    };
    let mut publish = Publish::new(topic, QoS::AtLeastOnce, payload, properties);
    publish.pkid = 10 + u16::from(id.as_bytes()[1]);
    raw.write(Packet::Publish(publish)).await
}

scenario!(
    a_twenty_character_message_costs_at_most_sixty_bytes_beyond_its_body_in_binary,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut ada_raw = Raw::connect(app.mqtt_addr(), &Login::from(&ada), true).await?;
        let mut bob_raw = Raw::connect(app.mqtt_addr(), &Login::from(&bob), true).await?;
        bob_raw
            .subscribe(format!("u/{}/inbox", bob.user_id))
            .await?;

        let mut delivered = Vec::new();
        let mut sent = Vec::new();
        for (index, id) in ["c1", "c2"].iter().enumerate() {
            sent.push(
                send(
                    &mut ada_raw,
                    ada.user_id,
                    id,
                    bob.user_id,
                    true,
                    Some((1, index == 0)),
                )
                .await?,
            );
            let (publish, event, size) = bob_raw.publish_in().await?;
            let Event::Message { body, .. } = event else {
                anyhow::bail!("expected a message")
            };
            assert_eq!(body.0, BODY);
            assert_eq!(
                publish.topic.is_empty(),
                index > 0,
                "the second delivery uses the alias only"
            );
            delivered.push(size);
        }
        let sent_overhead = sent[1] - BODY.len();
        let delivered_overhead = delivered[1] - BODY.len();
        println!(
            "binary+aliases: send {} B ({sent_overhead} B overhead), delivery {} B ({delivered_overhead} B overhead)",
            sent[1], delivered[1]
        );
        assert!(sent_overhead <= 60, "send overhead {sent_overhead} B");
        assert!(
            delivered_overhead <= 60,
            "delivery overhead {delivered_overhead} B"
        );

        // The same over JSON without aliases, for comparison: a plain MQTT client's cost.
        let cy = app.create_user("+15551230003").await?;
        let mut cy_raw = Raw::connect(app.mqtt_addr(), &Login::from(&cy), false).await?;
        let cy = cy.user_id;
        cy_raw.subscribe(format!("u/{cy}/inbox")).await?;
        let json_sent = send(&mut ada_raw, ada.user_id, "c3", cy, false, None).await?;
        let (_, event, json_delivered) = cy_raw.publish_in().await?;
        assert!(matches!(event, Event::Message { .. }), "{event:?}");
        println!("json: send {json_sent} B, delivery {json_delivered} B");
        assert!(
            json_delivered > delivered[1] * 2,
            "JSON {json_delivered} B vs binary {} B",
            delivered[1]
        );
        app.stop().await
    }
);

/// Publishes a `call` with a v5 Response Topic and Correlation Data; returns the packet id.
async fn call_with_response_topic(
    raw: &mut Raw,
    user: i64,
    response_topic: String,
    correlation: &'static [u8],
    pkid: u16,
) -> anyhow::Result<u16> {
    let call = Request::Call {
        rid: "r1".into(),
        method: "profile.get".into(),
        params: serde_json::Value::Null,
    };
    let properties = PublishProperties {
        response_topic: Some(response_topic),
        correlation_data: Some(bytes::Bytes::from_static(correlation)),
        ..Default::default()
    };
    let mut publish = Publish::new(
        format!("u/{user}/out"),
        QoS::AtLeastOnce,
        serde_json::to_vec(&call)?,
        Some(properties),
    );
    publish.pkid = pkid;
    raw.write(Packet::Publish(publish)).await?;
    Ok(pkid)
}

scenario!(
    an_mqtt5_call_is_answered_on_its_response_topic_with_its_correlation_data,
    |services| {
        let app = spawn_app(&services).await?;
        app.wait_healthy().await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut raw = Raw::connect(app.mqtt_addr(), &Login::from(&ada), false).await?;
        let answers = format!("u/{}/answers", ada.user_id);
        raw.subscribe(answers.clone()).await?;

        call_with_response_topic(&mut raw, ada.user_id, answers.clone(), b"corr-1", 7).await?;
        let (publish, event, _) = raw.publish_in().await?;
        assert_eq!(publish.topic, answers);
        let correlation = publish.properties.and_then(|p| p.correlation_data);
        assert_eq!(correlation.as_deref(), Some(&b"corr-1"[..]));
        let Event::Result { rid, result } = event else {
            anyhow::bail!("expected a result, got {event:?}")
        };
        assert_eq!(
            (rid.as_str(), result["user_id"].as_i64()),
            ("r1", Some(ada.user_id))
        );

        // A response topic the device may not read is refused, and nothing is answered.
        call_with_response_topic(
            &mut raw,
            ada.user_id,
            format!("u/{}/answers", bob.user_id),
            b"x",
            8,
        )
        .await?;
        // (The first call's PUBACK follows the bridge's report, so it may come only now.)
        let ack = loop {
            if let (Packet::PubAck(ack), _) = raw.read().await?
                && ack.pkid == 8
            {
                break ack;
            }
        };
        assert_eq!(ack.reason, v5::PubAckReason::NotAuthorized);
        app.stop().await
    }
);
