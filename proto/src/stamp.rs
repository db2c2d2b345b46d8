//! The timing stamp on internal hops: 9 bytes in front of a payload that say who handed it on
//! and when, so that each hop of a message can be timed even when the bridge runs in a
//! process of its own (docs/PERFORMANCE.md, "Per-hop timing"). Only topics in a user's
//! namespace (`u/…`, [`applies_to`]) carry one: there the edge stamps every client publish
//! (a user's outbox) and the bridge every event, so a payload there that looks stamped is
//! stamped. Clients never see it: the bridge takes it off what the edge forwards, and the
//! edge's hub takes it off what the router delivers before anything else reads the payload.
//! Service clients on the internal listener see it as the bridge does.
//!
//! Layout: one tag byte ([`Origin`]), then the wall-clock time in microseconds since the Unix
//! epoch, u64 big-endian. No payload natter carries starts with either tag: JSON starts with
//! `{` or whitespace, and a protobuf message never starts with a key of field 0 (bytes 0x00 to
//! 0x07). A payload without a stamp is always accepted as it is.

/// Bytes a stamp takes in front of the payload.
pub const LEN: usize = 9;

/// Who put the stamp on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The edge, when it handed a client's publish to the router (the time it read it).
    Edge,
    /// The bridge, when it handed an event to its MQTT client.
    Bridge,
}

/// A stamp read from the front of a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Who put it on.
    pub origin: Origin,
    /// When: microseconds since the Unix epoch, by the wall clock of the stamping process.
    pub micros: u64,
}

impl Origin {
    fn tag(self) -> u8 {
        match self {
            Origin::Edge => 0x00,
            Origin::Bridge => 0x01,
        }
    }
}

impl Stamp {
    /// A stamp of `origin` with the time now.
    pub fn now(origin: Origin) -> Stamp {
        Stamp {
            origin,
            micros: now_micros(),
        }
    }

    /// The stamp as the bytes that go in front of a payload.
    pub fn to_bytes(self) -> [u8; LEN] {
        let mut bytes = [0; LEN];
        bytes[0] = self.origin.tag();
        bytes[1..].copy_from_slice(&self.micros.to_be_bytes());
        bytes
    }

    /// Seconds from this stamp to `now_micros` (by another clock, possibly another
    /// machine's: a clock behind counts as 0).
    pub fn seconds_until(self, now_micros: u64) -> f64 {
        // Microseconds fit an f64 exactly for the next 285 years.
        let micros = now_micros.saturating_sub(self.micros) as f64;
        micros / 1e6
    }
}

/// Whether publishes on `topic` carry a stamp: those in a user's namespace, `u/…`.
pub fn applies_to(topic: &str) -> bool {
    topic.starts_with("u/")
}

/// The stamp at the front of `payload`, if it has one. The payload proper starts [`LEN`]
/// bytes later.
pub fn read(payload: &[u8]) -> Option<Stamp> {
    let (&tag, time) = payload.get(..LEN)?.split_first()?;
    let origin = match tag {
        0x00 => Origin::Edge,
        0x01 => Origin::Bridge,
        _ => return None,
    };
    let micros = u64::from_be_bytes(time.try_into().ok()?);
    Some(Stamp { origin, micros })
}

/// `payload` with `stamp` in front, in a new buffer.
pub fn stamped(stamp: Stamp, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN + payload.len());
    out.extend_from_slice(&stamp.to_bytes());
    out.extend_from_slice(payload);
    out
}

/// Wall-clock microseconds since the Unix epoch (0 if the clock is before it).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Event;

    #[test]
    fn a_stamped_payload_gives_back_its_stamp_and_its_bytes() {
        let stamp = Stamp {
            origin: Origin::Bridge,
            micros: 1_764_000_000_123_456,
        };
        let payload = crate::wire::encode_event(&Event::Synced {
            upto: 3,
            more: false,
        });

        let stamped = stamped(stamp, &payload);

        assert_eq!(read(&stamped), Some(stamp));
        assert_eq!(&stamped[LEN..], &payload[..]);
    }

    #[test]
    fn payloads_natter_carries_have_no_stamp() {
        let binary = crate::wire::encode_event(&Event::Synced {
            upto: 3,
            more: false,
        });
        for payload in [
            &binary[..],
            br#"{"type":"sync","after":0}"#,
            b"\n\n  {\"type\":\"sync\"}",
            b"",
            b"\x00short",
        ] {
            assert_eq!(read(payload), None, "{payload:?}");
        }
    }

    #[test]
    fn only_user_topics_are_stamped() {
        assert!(applies_to("u/1/out/2"));
        assert!(applies_to("u/1/inbox"));
        assert!(!applies_to("d/1/status"));
        assert!(!applies_to("natter/control/outbox/handled"));
    }

    #[test]
    fn time_runs_forward_only() {
        let stamp = Stamp {
            origin: Origin::Edge,
            micros: 2_000_000,
        };
        assert!((stamp.seconds_until(3_500_000) - 1.5).abs() < 1e-9);
        // A clock behind the stamping one (another machine) reads as no time at all.
        assert!(stamp.seconds_until(1_000_000).abs() < f64::EPSILON);
    }
}
