//! `decode` after a valid CONNECT, for both versions: the input's first byte picks the
//! maximum packet size, the rest is the stream that follows the CONNECT; it is decoded once as
//! MQTT 3.1.1 and once as MQTT 5, with a reply encoded for each packet.
//!
//! Checks: no panic; the CONNECT prefix decodes as a CONNECT; every reply is readable by
//! rumqttc's client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_broker::edge::fuzzing;
use natter_fuzz::{MAX_PACKET_SIZE, assert_client_can_read, connect};

fuzz_target!(|input: &[u8]| {
    let Some((&limit, rest)) = input.split_first() else {
        return;
    };
    // Odd: the default 1 MiB; even: 64 to 318 bytes, to reach the size checks.
    let max_packet_size = if limit & 1 == 1 {
        MAX_PACKET_SIZE
    } else {
        64 + usize::from(limit)
    };
    for level in [4u8, 5] {
        let mut stream = connect(level);
        stream.extend_from_slice(rest);
        let trace = fuzzing::session(level, &stream, max_packet_size, 0);
        assert!(
            trace
                .packets
                .first()
                .is_some_and(|first| first.starts_with("Connect(")),
            "the CONNECT prefix did not decode: {trace:?}"
        );
        assert_client_can_read(trace.protocol_level, &trace.written);
    }
});
