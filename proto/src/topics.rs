//! The topic namespace: per-user topics under `u/{user_id}/…`, per-group topics under
//! `g/{group_id}/…`, device topics under `d/{device_id}/…`, and control topics under
//! `natter/control/…` that only service clients can publish.

/// The filter a bridge worker subscribes to for what users send. The edge stamps the sending
/// device into the topic: a device's publish to `u/{user}/out` reaches the router as
/// `u/{user}/out/{device}`. Deeper topics (`u/{user}/out/{device}/…`, from a publish under
/// `u/{user}/out/…`) match too, so that the bridge can answer them with an error instead of
/// letting them vanish.
pub const USER_OUTBOX_FILTER: &str = "u/+/out/+/#";

/// The filter every edge subscribes to for control messages.
pub const CONTROL_FILTER: &str = "natter/control/#";

/// The topic on which user `user_id` publishes what it sends.
pub fn user_outbox(user_id: i64) -> String {
    format!("u/{user_id}/out")
}

/// The topic on which user `user_id` receives what is delivered to it (every device).
pub fn user_inbox(user_id: i64) -> String {
    format!("u/{user_id}/inbox")
}

/// The topic on which the bridge publishes the copy of an entry a device of `user_id` made
/// (its own sent message) for the user's *other* devices: the edge delivers it as
/// `u/{user_id}/inbox` to every connection of the user except `device_id`, which learns the
/// entry's inbox position from `sent` instead (no echo of its own body on a weak link).
pub fn user_inbox_except(user_id: i64, device_id: i64) -> String {
    format!("u/{user_id}/inbox/except/{device_id}")
}

/// Parses `u/{user}/inbox/except/{device}` into (user, device).
pub fn parse_inbox_except(topic: &str) -> Option<(i64, i64)> {
    let rest = topic.strip_prefix("u/")?;
    let (user, rest) = rest.split_once('/')?;
    let device = rest.strip_prefix("inbox/except/")?;
    if device.contains('/') {
        return None;
    }
    Some((user.parse().ok()?, device.parse().ok()?))
}

/// The topic on which one device of a user receives the answers to its own requests (sync).
pub fn device_replies(user_id: i64, device_id: i64) -> String {
    format!("u/{user_id}/reply/{device_id}")
}

/// The topic on which user `user_id` receives presence events of the users they watch
/// (every device; see docs/PROTOCOL.md, "Presence").
pub fn user_presence(user_id: i64) -> String {
    format!("u/{user_id}/presence")
}

/// Whether `topic` is a user's outbox or below it (`u/{id}/out[/…]`): requests for the
/// bridges, never delivered to users' sessions.
pub fn is_outbox(topic: &str) -> bool {
    let mut levels = topic.splitn(4, '/');
    matches!(
        (levels.next(), levels.next(), levels.next()),
        (Some("u"), Some(_), Some("out"))
    )
}

/// Parses a stamped outbox topic `u/{user}/out/{device}` into (user, device).
pub fn parse_stamped_outbox(topic: &str) -> Option<(i64, i64)> {
    let mut levels = topic.split('/');
    match (
        levels.next(),
        levels.next(),
        levels.next(),
        levels.next(),
        levels.next(),
    ) {
        (Some("u"), Some(user), Some("out"), Some(device), None) => {
            Some((user.parse().ok()?, device.parse().ok()?))
        }
        _ => None,
    }
}

/// Where a bridge reports which outbox requests it has handled (stored, or answered with an
/// error), so that the edge acknowledges them to their senders: the payload is
/// `{device}:{count}` pairs separated by commas, e.g. `12:3,40:1`.
pub const OUTBOX_HANDLED: &str = "natter/control/outbox/handled";

/// The payload of an [`OUTBOX_HANDLED`] report.
pub fn encode_handled(counts: &[(i64, u32)]) -> String {
    let pairs: Vec<String> = counts
        .iter()
        .map(|(device, count)| format!("{device}:{count}"))
        .collect();
    pairs.join(",")
}

/// Reads an [`OUTBOX_HANDLED`] payload; pairs that do not parse are skipped.
pub fn parse_handled(payload: &[u8]) -> Vec<(i64, u32)> {
    std::str::from_utf8(payload)
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| {
            let (device, count) = pair.split_once(':')?;
            Some((device.parse().ok()?, count.parse().ok()?))
        })
        .collect()
}

/// Parses an outbox topic deeper than the stamped one, `u/{user}/out/{device}/…`, into
/// (user, device): a device published under `u/{me}/out/…`, which carries no request.
pub fn parse_deeper_outbox(topic: &str) -> Option<(i64, i64)> {
    let mut levels = topic.split('/');
    match (
        levels.next(),
        levels.next(),
        levels.next(),
        levels.next(),
        levels.next(),
    ) {
        (Some("u"), Some(user), Some("out"), Some(device), Some(_)) => {
            Some((user.parse().ok()?, device.parse().ok()?))
        }
        _ => None,
    }
}

/// A control message, carried in its topic (the payload is ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlTopic {
    /// The device was revoked: every edge disconnects it at once.
    DeviceRevoked {
        /// The revoked device.
        device_id: i64,
    },
    /// The user left or was removed from the group: every edge cuts its group subscriptions.
    MemberRemoved {
        /// The group.
        group_id: i64,
        /// The former member.
        user_id: i64,
    },
}

impl ControlTopic {
    /// The topic that carries this control message.
    pub fn topic(&self) -> String {
        match self {
            ControlTopic::DeviceRevoked { device_id } => {
                format!("natter/control/devices/{device_id}/revoked")
            }
            ControlTopic::MemberRemoved { group_id, user_id } => {
                format!("natter/control/groups/{group_id}/members/{user_id}/removed")
            }
        }
    }
}

/// Parses a control topic; `None` for any other topic.
pub fn parse_control(topic: &str) -> Option<ControlTopic> {
    let rest = topic.strip_prefix("natter/control/")?;
    let levels: Vec<&str> = rest.split('/').collect();
    match levels.as_slice() {
        ["devices", device_id, "revoked"] => Some(ControlTopic::DeviceRevoked {
            device_id: device_id.parse().ok()?,
        }),
        ["groups", group_id, "members", user_id, "removed"] => Some(ControlTopic::MemberRemoved {
            group_id: group_id.parse().ok()?,
            user_id: user_id.parse().ok()?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_topics_embed_the_user_id() {
        assert_eq!(user_outbox(42), "u/42/out");
        assert_eq!(user_inbox(42), "u/42/inbox");
    }

    #[test]
    fn stamped_outbox_topics_name_user_and_device() {
        assert_eq!(parse_stamped_outbox("u/7/out/70"), Some((7, 70)));
        assert_eq!(parse_stamped_outbox("u/7/out"), None);
        assert_eq!(parse_stamped_outbox("u/7/out/70/rpc"), None);
        assert_eq!(parse_stamped_outbox("u/x/out/70"), None);
        assert_eq!(parse_deeper_outbox("u/7/out/70/rpc"), Some((7, 70)));
        assert_eq!(parse_deeper_outbox("u/7/out/70"), None);
    }

    #[test]
    fn inbox_except_topics_name_user_and_device() {
        let topic = user_inbox_except(7, 70);
        assert_eq!(parse_inbox_except(&topic), Some((7, 70)));
        assert_eq!(parse_inbox_except("u/7/inbox"), None);
        assert_eq!(parse_inbox_except("u/7/inbox/except/70/x"), None);
    }

    #[test]
    fn handled_reports_round_trip() {
        let counts = vec![(12, 3), (40, 1)];
        assert_eq!(encode_handled(&counts), "12:3,40:1");
        assert_eq!(parse_handled(b"12:3,40:1"), counts);
        assert_eq!(parse_handled(b"12:x,,7:2"), vec![(7, 2)]);
        assert_eq!(parse_control(OUTBOX_HANDLED), None);
    }

    #[test]
    fn control_topics_round_trip() {
        for control in [
            ControlTopic::DeviceRevoked { device_id: 9 },
            ControlTopic::MemberRemoved {
                group_id: 3,
                user_id: 4,
            },
        ] {
            assert_eq!(parse_control(&control.topic()), Some(control));
        }
        assert_eq!(parse_control("natter/control/devices/x/revoked"), None);
        assert_eq!(parse_control("u/1/out"), None);
    }
}
