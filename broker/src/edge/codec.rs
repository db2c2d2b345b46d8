//! MQTT framing for the edge: detects 3.1.1 or 5 from the CONNECT packet and translates both
//! into one set of packet types, so that the session logic is written once.
//!
//! Parsing and serialisation are rumqttc's `mqttbytes` (v4 and v5); this module owns only the
//! version choice and the mapping. It does not decide anything about authorization.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;

/// The protocol version a connection speaks, fixed by its CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V4,
    /// MQTT 5 (protocol level 5).
    V5,
}

/// Why bytes could not be turned into a packet.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The first packet is not a CONNECT, or its header is malformed.
    #[error("malformed packet")]
    Malformed,
    /// A protocol level other than 4 or 5 (MQTT 3.1 is level 3).
    #[error("unsupported protocol level {0}")]
    UnsupportedVersion(u8),
    /// The packet is larger than `max_packet_size`.
    #[error("packet of {0} bytes exceeds the maximum packet size")]
    TooLarge(usize),
    /// The client sent a packet a client must not send (CONNACK, SUBACK, …) or QoS 2.
    #[error("unexpected packet")]
    Unexpected,
}

/// A Last Will message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Will {
    pub(crate) topic: String,
    pub(crate) payload: Bytes,
    pub(crate) qos: u8,
}

/// A CONNECT, in version-neutral form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Connect {
    pub(crate) client_id: String,
    pub(crate) clean_start: bool,
    pub(crate) keep_alive_secs: u16,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) will: Option<Will>,
    /// v5: session expiry interval; v3.1.1: 0 for a clean session, "never" otherwise.
    pub(crate) session_expiry_secs: u32,
    /// v5: the most unacknowledged QoS 1 messages the client accepts.
    pub(crate) receive_maximum: Option<u16>,
    /// v5: how many topic aliases the server may use towards the client (0: none).
    pub(crate) topic_alias_maximum: u16,
    /// v5: the envelope encoding asked for with the `natter-format` user property.
    pub(crate) format: crate::edge::format::Format,
}

/// An incoming PUBLISH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Publish {
    /// Empty when the client used a topic alias alone (v5).
    pub(crate) topic: String,
    pub(crate) payload: Bytes,
    pub(crate) qos: u8,
    pub(crate) pkid: u16,
    pub(crate) topic_alias: Option<u16>,
    /// v5: the Response Topic and Correlation Data of a request.
    pub(crate) response: Option<Response>,
}

/// Where a v5 requester wants its answer, and what to echo with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) topic: String,
    pub(crate) correlation: Option<Bytes>,
}

/// A packet from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    Connect(Connect),
    Publish(Publish),
    PubAck {
        pkid: u16,
    },
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    Disconnect,
}

/// CONNACK outcomes natter uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnAckCode {
    Success,
    UnsupportedVersion,
    ClientIdRejected,
    ServerUnavailable,
    BadCredentials,
    NotAuthorized,
}

/// Reasons a session ends from the server's side (sent as DISCONNECT to v5 clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    ShuttingDown,
    SessionTakenOver,
    AdministrativeAction,
    KeepAliveTimeout,
    PacketTooLarge,
    MalformedPacket,
    ProtocolError,
    QuotaExceeded,
    TopicNameInvalid,
    QosNotSupported,
    /// An outbox publish was given up (no bridge handled it in time).
    ServerBusy,
}

impl CloseReason {
    /// A short human explanation, sent as the v5 reason string.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            CloseReason::ShuttingDown => "server shutting down",
            CloseReason::SessionTakenOver => "another connection of this device took over",
            CloseReason::AdministrativeAction => "device revoked",
            CloseReason::KeepAliveTimeout => "no packet within 1.5 times the keep-alive",
            CloseReason::PacketTooLarge => "packet larger than the maximum packet size",
            CloseReason::MalformedPacket => "malformed packet",
            CloseReason::ProtocolError => "protocol error",
            CloseReason::QuotaExceeded => "client too slow to keep up",
            CloseReason::TopicNameInvalid => "invalid topic name",
            CloseReason::QosNotSupported => "QoS 2 is not supported",
            CloseReason::ServerBusy => "server busy: a request could not be handled in time",
        }
    }
}

/// A packet to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outbound {
    ConnAck {
        code: ConnAckCode,
        session_present: bool,
        /// v5 only: tell the client the limits and the keep-alive we enforce.
        limits: Option<ServerLimits>,
    },
    Publish {
        /// Empty when `topic_alias` is already known to the client (v5).
        topic: String,
        payload: Bytes,
        qos: u8,
        pkid: u16,
        dup: bool,
        topic_alias: Option<u16>,
        /// v5: Correlation Data echoed on the answer to a call.
        correlation: Option<Bytes>,
    },
    PubAck {
        pkid: u16,
        authorized: bool,
    },
    /// v5 only: the publish was not handled (0x80); 3.1.1 has no way to say it.
    PubAckFailed {
        pkid: u16,
    },
    /// Per filter, in order.
    SubAck {
        pkid: u16,
        granted: Vec<Grant>,
    },
    UnsubAck {
        pkid: u16,
        count: usize,
    },
    PingResp,
    Disconnect(CloseReason),
}

/// The answer to one subscription filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Granted at this QoS.
    Qos(u8),
    /// Outside what the identity may read (v5 0x87).
    NotAuthorized,
    /// Over the per-connection subscription limit (v5 0x97).
    Quota,
}

/// What a v5 CONNACK announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerLimits {
    pub(crate) receive_maximum: u16,
    pub(crate) max_packet_size: u32,
    pub(crate) topic_alias_maximum: u16,
    pub(crate) server_keep_alive: Option<u16>,
    pub(crate) assigned_client_id: Option<String>,
}

/// Reads the protocol level from a buffered CONNECT. `Ok(None)` means more bytes are needed.
///
/// # Errors
/// [`DecodeError::Malformed`] when the bytes are not a CONNECT, and
/// [`DecodeError::UnsupportedVersion`] for levels other than 4 and 5.
pub(crate) fn detect_version(buf: &[u8]) -> Result<Option<Version>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != 0x10 {
        return Err(DecodeError::Malformed);
    }
    // Skip the remaining-length varint (1 to 4 bytes).
    let mut index = 1;
    loop {
        let Some(&byte) = buf.get(index) else {
            return Ok(None);
        };
        index += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if index > 4 {
            return Err(DecodeError::Malformed);
        }
    }
    let (Some(&len_hi), Some(&len_lo)) = (buf.get(index), buf.get(index + 1)) else {
        return Ok(None);
    };
    let name_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let level_at = index + 2 + name_len;
    let (Some(name), Some(&level)) = (buf.get(index + 2..level_at), buf.get(level_at)) else {
        return Ok(None);
    };
    match (name, level) {
        (b"MQTT", 4) => Ok(Some(Version::V4)),
        (b"MQTT", 5) => Ok(Some(Version::V5)),
        (b"MQTT" | b"MQIsdp", level) => Err(DecodeError::UnsupportedVersion(level)),
        _ => Err(DecodeError::Malformed),
    }
}

/// Decodes one packet from `buf` if a whole one is buffered. `Ok(None)` means more bytes are
/// needed.
///
/// # Errors
/// [`DecodeError`] for malformed, oversized or unexpected packets.
pub(crate) fn decode(
    version: Version,
    buf: &mut BytesMut,
    max_packet_size: usize,
) -> Result<Option<Inbound>, DecodeError> {
    match version {
        Version::V4 => decode_v4(buf, max_packet_size),
        Version::V5 => decode_v5(buf, max_packet_size),
    }
}

fn decode_v4(buf: &mut BytesMut, max: usize) -> Result<Option<Inbound>, DecodeError> {
    use rumqttc::mqttbytes::Error;
    let buffered = buf.len();
    let packet = match v4::Packet::read(buf, max) {
        Ok(packet) => packet,
        // Only "the frame is not all here" means wait: rumqttc takes a complete frame out of
        // `buf` before parsing it, and a parse error inside it must not read as "need more".
        Err(Error::InsufficientBytes(_)) if buf.len() == buffered => return Ok(None),
        Err(Error::PayloadSizeLimitExceeded(size)) => return Err(DecodeError::TooLarge(size)),
        Err(_) => return Err(DecodeError::Malformed),
    };
    Ok(Some(match packet {
        v4::Packet::Connect(connect) => Inbound::Connect(Connect {
            session_expiry_secs: if connect.clean_session { 0 } else { u32::MAX },
            client_id: connect.client_id,
            clean_start: connect.clean_session,
            keep_alive_secs: connect.keep_alive,
            username: connect.login.as_ref().map(|login| login.username.clone()),
            password: connect.login.map(|login| login.password),
            will: connect.last_will.map(|will| Will {
                topic: will.topic,
                payload: will.message,
                qos: will.qos as u8,
            }),
            receive_maximum: None,
            topic_alias_maximum: 0,
            format: crate::edge::format::Format::Json,
        }),
        v4::Packet::Publish(publish) => Inbound::Publish(Publish {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos as u8,
            pkid: publish.pkid,
            topic_alias: None,
            response: None,
        }),
        v4::Packet::PubAck(ack) => Inbound::PubAck { pkid: ack.pkid },
        v4::Packet::Subscribe(subscribe) => Inbound::Subscribe {
            pkid: subscribe.pkid,
            filters: subscribe
                .filters
                .into_iter()
                .map(|filter| (filter.path, filter.qos as u8))
                .collect(),
        },
        // MQTT-3.10.3-2, which rumqttc's reader does not check.
        v4::Packet::Unsubscribe(unsubscribe) if unsubscribe.topics.is_empty() => {
            return Err(DecodeError::Malformed);
        }
        v4::Packet::Unsubscribe(unsubscribe) => Inbound::Unsubscribe {
            pkid: unsubscribe.pkid,
            filters: unsubscribe.topics,
        },
        v4::Packet::PingReq => Inbound::PingReq,
        v4::Packet::Disconnect => Inbound::Disconnect,
        _ => return Err(DecodeError::Unexpected),
    }))
}

/// The encoding a v5 CONNECT's user properties ask for.
fn format_of(properties: &[(String, String)]) -> crate::edge::format::Format {
    use crate::edge::format::{FORMAT_PROPERTY, FORMAT_PROTOBUF, Format};
    let protobuf = properties
        .iter()
        .any(|(key, value)| key == FORMAT_PROPERTY && value == FORMAT_PROTOBUF);
    if protobuf {
        Format::Protobuf
    } else {
        Format::Json
    }
}

fn decode_v5(buf: &mut BytesMut, max: usize) -> Result<Option<Inbound>, DecodeError> {
    use rumqttc::v5::mqttbytes::Error;
    // rumqttc refuses a DISCONNECT without a body, which MQTT 5 allows (reason 0x00).
    if buf.len() >= 2 && buf[0] == 0xE0 && buf[1] == 0x00 {
        let _ = buf.split_to(2);
        return Ok(Some(Inbound::Disconnect));
    }
    let max = u32::try_from(max).unwrap_or(u32::MAX);
    let buffered = buf.len();
    let packet = match v5::Packet::read(buf, Some(max)) {
        Ok(packet) => packet,
        // rumqttc reports a property length that runs past the end of a complete frame as
        // InsufficientBytes too, after it has taken the frame out of `buf`: that is malformed.
        Err(Error::InsufficientBytes(_)) if buf.len() == buffered => return Ok(None),
        Err(Error::PayloadSizeLimitExceeded { pkt_size, .. }) => {
            return Err(DecodeError::TooLarge(pkt_size));
        }
        Err(_) => return Err(DecodeError::Malformed),
    };
    Ok(Some(match packet {
        v5::Packet::Connect(connect, will, login) => {
            let properties = connect.properties.unwrap_or_default();
            Inbound::Connect(Connect {
                client_id: connect.client_id,
                clean_start: connect.clean_start,
                keep_alive_secs: connect.keep_alive,
                username: login.as_ref().map(|login| login.username.clone()),
                password: login.map(|login| login.password),
                will: will.map(|will| Will {
                    topic: String::from_utf8_lossy(&will.topic).into_owned(),
                    payload: will.message,
                    qos: will.qos as u8,
                }),
                session_expiry_secs: properties.session_expiry_interval.unwrap_or(0),
                receive_maximum: properties.receive_maximum,
                topic_alias_maximum: properties.topic_alias_max.unwrap_or(0),
                format: format_of(&properties.user_properties),
            })
        }
        v5::Packet::Publish(publish) => {
            let topic =
                String::from_utf8(publish.topic.to_vec()).map_err(|_| DecodeError::Malformed)?;
            Inbound::Publish(Publish {
                topic,
                payload: publish.payload,
                qos: publish.qos as u8,
                pkid: publish.pkid,
                topic_alias: publish
                    .properties
                    .as_ref()
                    .and_then(|properties| properties.topic_alias),
                response: publish.properties.and_then(|properties| {
                    properties.response_topic.map(|topic| Response {
                        topic,
                        correlation: properties.correlation_data,
                    })
                }),
            })
        }
        v5::Packet::PubAck(ack) => Inbound::PubAck { pkid: ack.pkid },
        v5::Packet::Subscribe(subscribe) => Inbound::Subscribe {
            pkid: subscribe.pkid,
            filters: subscribe
                .filters
                .into_iter()
                .map(|filter| (filter.path, filter.qos as u8))
                .collect(),
        },
        // MQTT-3.10.3-2, which rumqttc's reader does not check.
        v5::Packet::Unsubscribe(unsubscribe) if unsubscribe.filters.is_empty() => {
            return Err(DecodeError::Malformed);
        }
        v5::Packet::Unsubscribe(unsubscribe) => Inbound::Unsubscribe {
            pkid: unsubscribe.pkid,
            filters: unsubscribe.filters,
        },
        v5::Packet::PingReq(_) => Inbound::PingReq,
        v5::Packet::Disconnect(_) => Inbound::Disconnect,
        _ => return Err(DecodeError::Unexpected),
    }))
}

/// Appends `packet` in `version`'s encoding to `buf`. A DISCONNECT is written for v5 only:
/// MQTT 3.1.1 has no server-sent DISCONNECT, the server just closes.
pub(crate) fn encode(version: Version, packet: Outbound, buf: &mut BytesMut) {
    // Serialisation only fails for packets over the size limit given here, and the limit
    // is usize::MAX / u32::MAX: the size check against the client's limit happens earlier.
    let _ = match version {
        Version::V4 => to_v4(packet).map(|packet| packet.write(buf, usize::MAX).map(drop)),
        Version::V5 => Some(
            to_v5(packet)
                .write(buf, None)
                .map(drop)
                .map_err(|_| rumqttc::mqttbytes::Error::MalformedPacket),
        ),
    };
}

fn to_v4(packet: Outbound) -> Option<v4::Packet> {
    Some(match packet {
        Outbound::ConnAck {
            code,
            session_present,
            ..
        } => v4::Packet::ConnAck(v4::ConnAck {
            session_present,
            code: match code {
                ConnAckCode::Success => v4::ConnectReturnCode::Success,
                ConnAckCode::UnsupportedVersion => v4::ConnectReturnCode::RefusedProtocolVersion,
                ConnAckCode::ClientIdRejected => v4::ConnectReturnCode::BadClientId,
                ConnAckCode::ServerUnavailable => v4::ConnectReturnCode::ServiceUnavailable,
                ConnAckCode::BadCredentials => v4::ConnectReturnCode::BadUserNamePassword,
                ConnAckCode::NotAuthorized => v4::ConnectReturnCode::NotAuthorized,
            },
        }),
        Outbound::Publish {
            topic,
            payload,
            qos,
            pkid,
            dup,
            ..
        } => {
            let mut publish = v4::Publish::from_bytes(topic, qos_v4(qos), payload);
            publish.pkid = pkid;
            publish.dup = dup;
            v4::Packet::Publish(publish)
        }
        // MQTT 3.1.1 has no refusal in PUBACK: an unauthorized publish is not acknowledged
        // with success either; the session decides (drop and count).
        Outbound::PubAck { pkid, .. } => v4::Packet::PubAck(v4::PubAck::new(pkid)),
        // Never sent to a 3.1.1 client (the session closes the connection instead).
        Outbound::PubAckFailed { pkid } => v4::Packet::PubAck(v4::PubAck::new(pkid)),
        Outbound::SubAck { pkid, granted } => v4::Packet::SubAck(v4::SubAck::new(
            pkid,
            granted
                .into_iter()
                .map(|granted| match granted {
                    Grant::Qos(qos) => v4::SubscribeReasonCode::Success(qos_v4(qos)),
                    Grant::NotAuthorized | Grant::Quota => v4::SubscribeReasonCode::Failure,
                })
                .collect(),
        )),
        Outbound::UnsubAck { pkid, .. } => v4::Packet::UnsubAck(v4::UnsubAck::new(pkid)),
        Outbound::PingResp => v4::Packet::PingResp,
        Outbound::Disconnect(_) => return None,
    })
}

fn qos_v4(qos: u8) -> rumqttc::mqttbytes::QoS {
    match qos {
        0 => rumqttc::mqttbytes::QoS::AtMostOnce,
        _ => rumqttc::mqttbytes::QoS::AtLeastOnce,
    }
}

fn qos_v5(qos: u8) -> rumqttc::v5::mqttbytes::QoS {
    match qos {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        _ => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
    }
}

fn to_v5(packet: Outbound) -> v5::Packet {
    match packet {
        Outbound::ConnAck {
            code,
            session_present,
            limits,
        } => v5::Packet::ConnAck(v5::ConnAck {
            session_present,
            code: match code {
                ConnAckCode::Success => v5::ConnectReturnCode::Success,
                ConnAckCode::UnsupportedVersion => {
                    v5::ConnectReturnCode::UnsupportedProtocolVersion
                }
                ConnAckCode::ClientIdRejected => v5::ConnectReturnCode::ClientIdentifierNotValid,
                ConnAckCode::ServerUnavailable => v5::ConnectReturnCode::ServerUnavailable,
                ConnAckCode::BadCredentials => v5::ConnectReturnCode::BadUserNamePassword,
                ConnAckCode::NotAuthorized => v5::ConnectReturnCode::NotAuthorized,
            },
            properties: limits.map(|limits| v5::ConnAckProperties {
                session_expiry_interval: None,
                receive_max: Some(limits.receive_maximum),
                max_qos: Some(1),
                retain_available: Some(0),
                max_packet_size: Some(limits.max_packet_size),
                assigned_client_identifier: limits.assigned_client_id,
                topic_alias_max: Some(limits.topic_alias_maximum),
                reason_string: None,
                user_properties: Vec::new(),
                wildcard_subscription_available: Some(1),
                subscription_identifiers_available: Some(0),
                shared_subscription_available: Some(0),
                server_keep_alive: limits.server_keep_alive,
                response_information: None,
                server_reference: None,
                authentication_method: None,
                authentication_data: None,
            }),
        }),
        Outbound::Publish {
            topic,
            payload,
            qos,
            pkid,
            dup,
            topic_alias,
            correlation,
        } => {
            let properties =
                (topic_alias.is_some() || correlation.is_some()).then(|| v5::PublishProperties {
                    topic_alias,
                    correlation_data: correlation,
                    ..Default::default()
                });
            let mut publish = v5::Publish::new(topic, qos_v5(qos), payload, properties);
            publish.pkid = pkid;
            publish.dup = dup;
            v5::Packet::Publish(publish)
        }
        Outbound::PubAck { pkid, authorized } => {
            let mut ack = v5::PubAck::new(pkid, None);
            if !authorized {
                ack.reason = v5::PubAckReason::NotAuthorized;
            }
            v5::Packet::PubAck(ack)
        }
        Outbound::PubAckFailed { pkid } => {
            let mut ack = v5::PubAck::new(pkid, None);
            ack.reason = v5::PubAckReason::UnspecifiedError;
            v5::Packet::PubAck(ack)
        }
        Outbound::SubAck { pkid, granted } => v5::Packet::SubAck(v5::SubAck {
            pkid,
            return_codes: granted
                .into_iter()
                .map(|granted| match granted {
                    Grant::Qos(qos) => v5::SubscribeReasonCode::Success(qos_v5(qos)),
                    Grant::NotAuthorized => v5::SubscribeReasonCode::NotAuthorized,
                    Grant::Quota => v5::SubscribeReasonCode::QuotaExceeded,
                })
                .collect(),
            properties: None,
        }),
        Outbound::UnsubAck { pkid, count } => v5::Packet::UnsubAck(v5::UnsubAck {
            pkid,
            reasons: vec![v5::UnsubAckReason::Success; count],
            properties: None,
        }),
        Outbound::PingResp => v5::Packet::PingResp(v5::PingResp),
        // Always with a reason string: besides helping people, it keeps rumqttc's writer off
        // its short forms, which its own reader (and so rumqttc clients) reject.
        Outbound::Disconnect(reason) => v5::Packet::Disconnect(v5::Disconnect {
            properties: Some(v5::DisconnectProperties {
                session_expiry_interval: None,
                reason_string: Some(reason.describe().to_owned()),
                user_properties: Vec::new(),
                server_reference: None,
            }),
            reason_code: match reason {
                CloseReason::ShuttingDown => v5::DisconnectReasonCode::ServerShuttingDown,
                CloseReason::SessionTakenOver => v5::DisconnectReasonCode::SessionTakenOver,
                CloseReason::AdministrativeAction => v5::DisconnectReasonCode::AdministrativeAction,
                CloseReason::KeepAliveTimeout => v5::DisconnectReasonCode::KeepAliveTimeout,
                CloseReason::PacketTooLarge => v5::DisconnectReasonCode::PacketTooLarge,
                CloseReason::MalformedPacket => v5::DisconnectReasonCode::MalformedPacket,
                CloseReason::ProtocolError => v5::DisconnectReasonCode::ProtocolError,
                CloseReason::QuotaExceeded => v5::DisconnectReasonCode::QuotaExceeded,
                CloseReason::TopicNameInvalid => v5::DisconnectReasonCode::TopicNameInvalid,
                CloseReason::QosNotSupported => v5::DisconnectReasonCode::QoSNotSupported,
                CloseReason::ServerBusy => v5::DisconnectReasonCode::ServerBusy,
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::{DecodeError, Inbound, Version, decode, detect_version};

    fn decode_all(version: Version, bytes: &[u8]) -> Result<Vec<Inbound>, DecodeError> {
        let mut buf = BytesMut::from(bytes);
        let mut packets = Vec::new();
        while let Some(packet) = decode(version, &mut buf, 1024 * 1024)? {
            packets.push(packet);
        }
        Ok(packets)
    }

    #[test]
    fn the_version_comes_from_the_connect_protocol_level() {
        // CONNECT, remaining length 10, "MQTT", level 4 / 5 / 3.
        let connect = |level| [0x10, 0x0a, 0x00, 0x04, b'M', b'Q', b'T', b'T', level];
        assert_eq!(
            detect_version(&connect(4)).ok().flatten(),
            Some(Version::V4)
        );
        assert_eq!(
            detect_version(&connect(5)).ok().flatten(),
            Some(Version::V5)
        );
        assert!(matches!(
            detect_version(&connect(3)),
            Err(DecodeError::UnsupportedVersion(3))
        ));
        assert!(matches!(detect_version(&connect(4)[..5]), Ok(None)));
        assert!(matches!(
            detect_version(b"GET / HTTP/1.1"),
            Err(DecodeError::Malformed)
        ));
    }

    // Found by the fuzzer (fuzz/regressions): a v5 PUBLISH whose property length runs past its
    // frame must be malformed, not "need more bytes" (which silently dropped it).
    #[test]
    fn a_property_length_past_the_frame_is_malformed() {
        let publish_then_ping = [0x30, 0x03, 0x00, 0x00, 0x80, 0xC0, 0x00];
        assert!(matches!(
            decode_all(Version::V5, &publish_then_ping),
            Err(DecodeError::Malformed)
        ));
    }

    // Found by the fuzzer: UNSUBSCRIBE without a filter violates MQTT-3.10.3-2.
    #[test]
    fn an_unsubscribe_without_filters_is_malformed() {
        assert!(matches!(
            decode_all(Version::V5, &[0xA2, 0x03, 0x00, 0x01, 0x00]),
            Err(DecodeError::Malformed)
        ));
        assert!(matches!(
            decode_all(Version::V4, &[0xA2, 0x02, 0x00, 0x01]),
            Err(DecodeError::Malformed)
        ));
    }

    #[test]
    fn a_packet_split_across_reads_waits_for_the_rest() {
        let ping = [0xC0, 0x00];
        assert!(matches!(decode_all(Version::V4, &ping[..1]), Ok(packets) if packets.is_empty()));
        assert!(
            matches!(decode_all(Version::V4, &ping), Ok(packets) if packets == vec![Inbound::PingReq])
        );
    }
}
