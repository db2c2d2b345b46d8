//! The whole stream of one connection: the input is every byte a client sends, starting with
//! its CONNECT. The codec detects the version, decodes packets until an error, a DISCONNECT or
//! the end of the input, and encodes the server's reply to each.
//!
//! Checks: no panic; the same outcome whether the bytes arrive at once or in small reads;
//! every reply is readable by rumqttc's client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_broker::edge::fuzzing;
use natter_fuzz::{MAX_PACKET_SIZE, assert_client_can_read};

fuzz_target!(|stream: &[u8]| {
    let whole = fuzzing::connection(stream, MAX_PACKET_SIZE, 0);
    assert_client_can_read(whole.protocol_level, &whole.written);

    // Reads of 1 to 16 bytes, varying with the input.
    let chunk = 1 + stream
        .iter()
        .fold(0usize, |sum, &byte| sum + usize::from(byte))
        % 16;
    let chunked = fuzzing::connection(stream, MAX_PACKET_SIZE, chunk);
    assert_eq!(
        whole, chunked,
        "outcome differs with reads of {chunk} bytes"
    );
});
