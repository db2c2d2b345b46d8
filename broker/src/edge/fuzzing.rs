//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off in every build that
//! ships). They drive the packet codec as a connection does, so that a fuzzer outside the
//! crate reaches it without the codec becoming public. See `docs/FUZZING.md`.

use bytes::BytesMut;

use super::codec::{
    self, CloseReason, ConnAckCode, DecodeError, Grant, Inbound, Outbound, ServerLimits, Version,
};

/// What the codec made of a byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The protocol level the stream was decoded as (4 or 5), once known.
    pub protocol_level: Option<u8>,
    /// Every decoded packet, as its `Debug` text.
    pub packets: Vec<String>,
    /// Why decoding stopped: `"need more bytes"`, `"disconnect"`, or the error or close reason.
    pub end: String,
    /// Everything the server wrote back, in order.
    pub written: Vec<u8>,
}

/// Feeds `stream` to the codec as a client connection would, `chunk` bytes per read (`0`: all
/// at once): detects the version from the first packet, which must be a CONNECT, then decodes
/// packets until an error, a DISCONNECT or the end of the bytes, encoding a reply to each.
///
/// # Panics
/// When the codec breaks an invariant, which is what the fuzzer looks for: `decode` returns a
/// packet without consuming input, consumes input and asks for more, or yields a SUBSCRIBE or
/// UNSUBSCRIBE without topic filters.
pub fn connection(stream: &[u8], max_packet_size: usize, chunk: usize) -> Trace {
    drive(None, stream, max_packet_size, chunk)
}

/// Like [`connection`], but decodes `stream` as protocol level `protocol_level` (4: MQTT
/// 3.1.1, anything else: MQTT 5) without detecting it, as a connection does after its CONNECT.
///
/// # Panics
/// As [`connection`].
pub fn session(protocol_level: u8, stream: &[u8], max_packet_size: usize, chunk: usize) -> Trace {
    let version = if protocol_level == 4 {
        Version::V4
    } else {
        Version::V5
    };
    drive(Some(version), stream, max_packet_size, chunk)
}

fn level(version: Version) -> u8 {
    match version {
        Version::V4 => 4,
        Version::V5 => 5,
    }
}

fn drive(fixed: Option<Version>, stream: &[u8], max: usize, chunk: usize) -> Trace {
    let chunk = if chunk == 0 {
        stream.len().max(1)
    } else {
        chunk
    };
    let mut reads = stream.chunks(chunk);
    let mut input = BytesMut::new();
    let mut out = BytesMut::new();
    let mut trace = Trace {
        protocol_level: fixed.map(level),
        packets: Vec::new(),
        end: String::new(),
        written: Vec::new(),
    };
    let mut version = fixed;
    let mut next_pkid: u16 = 0;
    trace.end = loop {
        let version_now = match version {
            Some(known) => Ok(Some(known)),
            None => codec::detect_version(&input),
        };
        let step = match version_now {
            Ok(Some(known)) => {
                version = Some(known);
                trace.protocol_level = Some(level(known));
                let before = input.len();
                let decoded = codec::decode(known, &mut input, max);
                match &decoded {
                    Ok(Some(_)) => assert!(
                        input.len() < before,
                        "decode returned a packet without consuming input"
                    ),
                    Ok(None) => assert_eq!(
                        input.len(),
                        before,
                        "decode consumed bytes, then asked for more"
                    ),
                    Err(_) => {}
                }
                decoded.map(|packet| packet.map(|packet| (known, packet)))
            }
            Ok(None) => Ok(None),
            Err(err) => Err(err),
        };
        match step {
            Ok(Some((known, packet))) => {
                trace.packets.push(format!("{packet:?}"));
                let connected = trace.packets.len() > 1;
                if let Some(end) = reply(known, connected, packet, &mut next_pkid, &mut out) {
                    break end;
                }
            }
            Ok(None) => match reads.next() {
                Some(bytes) => input.extend_from_slice(bytes),
                None => break "need more bytes".to_owned(),
            },
            Err(err) => {
                match (&err, version) {
                    // As `refuse_malformed`: a CONNECT for another version is refused in
                    // 3.1.1's terms; any other broken CONNECT is dropped without a reply.
                    (DecodeError::UnsupportedVersion(_), _) => codec::encode(
                        Version::V4,
                        Outbound::ConnAck {
                            code: ConnAckCode::UnsupportedVersion,
                            session_present: false,
                            limits: None,
                        },
                        &mut out,
                    ),
                    (_, Some(known)) if trace.packets.len() > 1 => {
                        let reason = match err {
                            DecodeError::TooLarge(_) => CloseReason::PacketTooLarge,
                            _ => CloseReason::MalformedPacket,
                        };
                        codec::encode(known, Outbound::Disconnect(reason), &mut out);
                    }
                    _ => {}
                }
                break format!("{err:?}");
            }
        }
    };
    trace.written = out.to_vec();
    trace
}

/// Encodes what the session would answer to `packet`; `Some(end)` when the connection ends.
fn reply(
    version: Version,
    connected: bool,
    packet: Inbound,
    next_pkid: &mut u16,
    out: &mut BytesMut,
) -> Option<String> {
    let mut send = |packet| codec::encode(version, packet, out);
    if !connected {
        let Inbound::Connect(connect) = packet else {
            return Some("first packet is not a CONNECT".to_owned());
        };
        send(Outbound::ConnAck {
            code: ConnAckCode::Success,
            session_present: !connect.clean_start,
            limits: Some(ServerLimits {
                receive_maximum: connect.receive_maximum.unwrap_or(u16::MAX).max(1),
                max_packet_size: 1 << 20,
                topic_alias_maximum: 64,
                server_keep_alive: (connect.keep_alive_secs == 0).then_some(1200),
                assigned_client_id: connect.client_id.is_empty().then(|| "d1".to_owned()),
            }),
        });
        return None;
    }
    match packet {
        Inbound::Connect(_) => {
            send(Outbound::Disconnect(CloseReason::ProtocolError));
            return Some("second CONNECT".to_owned());
        }
        Inbound::Publish(publish) => {
            if publish.qos > 1 {
                send(Outbound::Disconnect(CloseReason::QosNotSupported));
                return Some("QoS 2".to_owned());
            }
            if publish.qos == 1 {
                send(Outbound::PubAck {
                    pkid: publish.pkid,
                    authorized: publish.pkid % 2 == 0,
                });
            }
            // Deliver it back, as to a subscriber of the topic.
            if !publish.topic.is_empty() {
                *next_pkid = next_pkid.checked_add(1).unwrap_or(1);
                send(Outbound::Publish {
                    topic: publish.topic,
                    payload: publish.payload,
                    qos: publish.qos,
                    pkid: if publish.qos == 0 { 0 } else { *next_pkid },
                    dup: false,
                    topic_alias: None,
                    correlation: None,
                });
            }
        }
        Inbound::PubAck { .. } => {}
        Inbound::Subscribe { pkid, filters } => {
            assert!(
                !filters.is_empty(),
                "decoded a SUBSCRIBE without topic filters"
            );
            send(Outbound::SubAck {
                pkid,
                granted: filters
                    .iter()
                    .enumerate()
                    .map(|(index, (_, qos))| match index % 3 {
                        0 => Grant::Qos((*qos).min(1)),
                        1 => Grant::NotAuthorized,
                        _ => Grant::Quota,
                    })
                    .collect(),
            });
        }
        Inbound::Unsubscribe { pkid, filters } => {
            // MQTT-3.10.3-2: at least one topic filter, in 3.1.1 and 5 alike.
            assert!(
                !filters.is_empty(),
                "decoded an UNSUBSCRIBE without topic filters"
            );
            send(Outbound::UnsubAck {
                pkid,
                count: filters.len(),
            });
        }
        Inbound::PingReq => send(Outbound::PingResp),
        Inbound::Disconnect => return Some("disconnect".to_owned()),
    }
    None
}
