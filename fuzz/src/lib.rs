//! Shared pieces of natter's fuzz targets: the valid CONNECT packets the targets and the seed
//! generator start from, and the check that everything the server writes, a client can read.

use bytes::BytesMut;
use rumqttc::mqttbytes::{self, v4};
use rumqttc::v5::mqttbytes::{self as mqttbytes5, v5};

/// The edge's default `mqtt.max_packet_size` (config/base.toml).
pub const MAX_PACKET_SIZE: usize = 1 << 20;

/// A valid CONNECT for protocol level 4 (MQTT 3.1.1) or 5, with credentials, as a device sends.
pub fn connect(protocol_level: u8) -> Vec<u8> {
    let mut buf = BytesMut::new();
    if protocol_level == 4 {
        let mut connect = v4::Connect::new("device-1");
        connect.keep_alive = 30;
        connect.set_login("device-1", "secret");
        v4::Packet::Connect(connect)
            .write(&mut buf, usize::MAX)
            .expect("invariant: a small CONNECT encodes");
    } else {
        let mut properties = v5::ConnectProperties::new();
        properties.session_expiry_interval = Some(3600);
        properties.receive_maximum = Some(16);
        let connect = v5::Connect {
            keep_alive: 30,
            client_id: "device-1".to_owned(),
            clean_start: false,
            properties: Some(properties),
        };
        v5::Packet::Connect(connect, None, Some(v5::Login::new("device-1", "secret")))
            .write(&mut buf, None)
            .expect("invariant: a small CONNECT encodes");
    }
    buf.to_vec()
}

/// Panics unless `written` is a sequence of whole packets that rumqttc's client reader for
/// `protocol_level` (4, or 5; `None`: nothing detected, the server answers in 3.1.1) accepts.
pub fn assert_client_can_read(protocol_level: Option<u8>, written: &[u8]) {
    let mut buf = BytesMut::from(written);
    while !buf.is_empty() {
        let before = buf.clone();
        let outcome = if protocol_level == Some(5) {
            v5::Packet::read(&mut buf, None)
                .map(drop)
                .map_err(|err| match err {
                    mqttbytes5::Error::InsufficientBytes(_) => "truncated".to_owned(),
                    other => format!("{other:?}"),
                })
        } else {
            v4::Packet::read(&mut buf, usize::MAX)
                .map(drop)
                .map_err(|err| match err {
                    mqttbytes::Error::InsufficientBytes(_) => "truncated".to_owned(),
                    other => format!("{other:?}"),
                })
        };
        if let Err(err) = outcome {
            panic!(
                "the server wrote a packet its client cannot read ({err}), level {protocol_level:?}: {:02x?}",
                &before[..before.len().min(64)]
            );
        }
    }
}
