//! Writes the seed corpora: valid MQTT 3.1.1 and 5 sessions made with rumqttc's writers.
//!
//! `cargo run --example seeds` (from `fuzz/`) rewrites `seeds/connection/` (a CONNECT and
//! what follows) and `seeds/decode/` (a max-size byte, then packets without the CONNECT).

use std::fs;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use natter_fuzz::connect;
use rumqttc::mqttbytes::{QoS, v4};
use rumqttc::v5::mqttbytes::{QoS as QoS5, v5};

fn v4_packets() -> Vec<(&'static str, v4::Packet)> {
    let mut qos1 = v4::Publish::new("g/42/m", QoS::AtLeastOnce, b"hello".to_vec());
    qos1.pkid = 7;
    let mut qos2 = v4::Publish::new("g/42/m", QoS::ExactlyOnce, b"x".to_vec());
    qos2.pkid = 8;
    let mut subscribe = v4::Subscribe::new_many([
        v4::SubscribeFilter::new("u/1/#".to_owned(), QoS::AtLeastOnce),
        v4::SubscribeFilter::new("g/+/m".to_owned(), QoS::AtMostOnce),
        v4::SubscribeFilter::new("$SYS/x".to_owned(), QoS::ExactlyOnce),
    ]);
    subscribe.pkid = 3;
    let mut unsubscribe = v4::Unsubscribe::new("u/1/#");
    unsubscribe.pkid = 4;
    vec![
        (
            "publish0",
            v4::Packet::Publish(v4::Publish::new(
                "u/1/inbox",
                QoS::AtMostOnce,
                b"hi".to_vec(),
            )),
        ),
        ("publish1", v4::Packet::Publish(qos1)),
        ("publish2", v4::Packet::Publish(qos2)),
        ("puback", v4::Packet::PubAck(v4::PubAck::new(7))),
        ("subscribe", v4::Packet::Subscribe(subscribe)),
        ("unsubscribe", v4::Packet::Unsubscribe(unsubscribe)),
        ("pingreq", v4::Packet::PingReq),
        ("disconnect", v4::Packet::Disconnect),
    ]
}

fn v5_packets() -> Vec<(&'static str, v5::Packet)> {
    let mut aliased = v5::Publish::new(
        "g/42/m",
        QoS5::AtLeastOnce,
        Bytes::from_static(b"hello"),
        Some(v5::PublishProperties {
            topic_alias: Some(1),
            message_expiry_interval: Some(60),
            user_properties: vec![("k".to_owned(), "v".to_owned())],
            ..Default::default()
        }),
    );
    aliased.pkid = 7;
    let mut alias_only = v5::Publish::new("", QoS5::AtMostOnce, Bytes::from_static(b"again"), None);
    alias_only.properties = Some(v5::PublishProperties {
        topic_alias: Some(1),
        ..Default::default()
    });
    let mut subscribe = v5::Subscribe::new_many(
        [
            v5::Filter::new("u/1/#", QoS5::AtLeastOnce),
            v5::Filter::new("g/+/m", QoS5::AtMostOnce),
        ],
        Some(v5::SubscribeProperties {
            id: Some(5),
            user_properties: Vec::new(),
        }),
    );
    subscribe.pkid = 3;
    let mut unsubscribe = v5::Unsubscribe::new("u/1/#", None);
    unsubscribe.pkid = 4;
    vec![
        (
            "publish0",
            v5::Packet::Publish(v5::Publish::new(
                "u/1/inbox",
                QoS5::AtMostOnce,
                Bytes::from_static(b"hi"),
                None,
            )),
        ),
        ("publish1", v5::Packet::Publish(aliased)),
        ("publish_alias", v5::Packet::Publish(alias_only)),
        ("puback", v5::Packet::PubAck(v5::PubAck::new(7, None))),
        ("subscribe", v5::Packet::Subscribe(subscribe)),
        ("unsubscribe", v5::Packet::Unsubscribe(unsubscribe)),
        ("pingreq", v5::Packet::PingReq(v5::PingReq)),
        (
            "disconnect",
            v5::Packet::Disconnect(v5::Disconnect::new(
                v5::DisconnectReasonCode::NormalDisconnection,
            )),
        ),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).expect("invariant: the seed directory is writable");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let connection = root.join("connection");
    let decode = root.join("decode");
    for dir in [&connection, &decode] {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).expect("invariant: the seed directory can be made");
    }

    let encoded4: Vec<(&str, Vec<u8>)> = v4_packets()
        .into_iter()
        .map(|(name, packet)| {
            let mut buf = BytesMut::new();
            packet
                .write(&mut buf, usize::MAX)
                .expect("invariant: seeds encode");
            (name, buf.to_vec())
        })
        .collect();
    let encoded5: Vec<(&str, Vec<u8>)> = v5_packets()
        .into_iter()
        .map(|(name, packet)| {
            let mut buf = BytesMut::new();
            packet
                .write(&mut buf, None)
                .expect("invariant: seeds encode");
            (name, buf.to_vec())
        })
        .collect();

    for (level, encoded) in [(4u8, &encoded4), (5, &encoded5)] {
        let prefix = connect(level);
        write(&connection, &format!("v{level}-connect"), &prefix);
        let mut session = prefix.clone();
        let mut all = vec![1u8];
        for (name, bytes) in encoded.iter() {
            let mut one = prefix.clone();
            one.extend_from_slice(bytes);
            write(&connection, &format!("v{level}-{name}"), &one);
            let mut alone = vec![1u8];
            alone.extend_from_slice(bytes);
            write(&decode, &format!("v{level}-{name}"), &alone);
            session.extend_from_slice(bytes);
            all.extend_from_slice(bytes);
        }
        write(&connection, &format!("v{level}-session"), &session);
        write(&decode, &format!("v{level}-session"), &all);
    }

    // CONNECT variants: a Last Will, no client id, MQTT 3.1 (refused), a v5 DISCONNECT
    // without a body (which MQTT 5 allows).
    let mut buf = BytesMut::new();
    let mut with_will = v4::Connect::new("");
    with_will.last_will = Some(v4::LastWill::new(
        "u/1/status",
        b"gone".to_vec(),
        QoS::AtLeastOnce,
        false,
    ));
    with_will.set_login("device-1", "secret");
    v4::Packet::Connect(with_will)
        .write(&mut buf, usize::MAX)
        .expect("invariant: seeds encode");
    write(&connection, "v4-connect-will", &buf);

    let mut buf = BytesMut::new();
    v5::Packet::Connect(
        v5::Connect {
            keep_alive: 0,
            client_id: String::new(),
            clean_start: true,
            properties: None,
        },
        Some(v5::LastWill::new(
            "u/1/status",
            b"gone".to_vec(),
            QoS5::AtLeastOnce,
            false,
            None,
        )),
        Some(v5::Login::new("device-1", "secret")),
    )
    .write(&mut buf, None)
    .expect("invariant: seeds encode");
    write(&connection, "v5-connect-will", &buf);

    let mut mqtt31 = connect(4);
    // "\0\x04MQTT\x04" becomes "\0\x06MQIsdp\x03" with the lengths fixed up.
    let body = &mqtt31[2 + 6 + 1..];
    let mut v3 = vec![0x10, (body.len() + 9) as u8, 0, 6];
    v3.extend_from_slice(b"MQIsdp");
    v3.push(3);
    v3.extend_from_slice(body);
    mqtt31 = v3;
    write(&connection, "v3-connect", &mqtt31);

    let mut short_disconnect = connect(5);
    short_disconnect.extend_from_slice(&[0xE0, 0x00]);
    write(&connection, "v5-disconnect-short", &short_disconnect);
    write(&decode, "v5-disconnect-short", &[1, 0xE0, 0x00]);

    // Even first byte: a 64 + n byte maximum packet size.
    let mut big = vec![0u8, 0x30, 0x7f, 0x00, 0x01, b't'];
    big.extend(std::iter::repeat_n(b'x', 0x7f - 3));
    write(&decode, "small-max-publish", &big);
}
