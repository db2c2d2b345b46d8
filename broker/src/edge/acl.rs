//! Topic authorization: which filters a connection may subscribe to and which topics it may
//! publish to. Pure functions of the identity and the topic; group membership is looked up
//! by the caller when [`SubscribeCheck::NeedsMembership`] says so.
//!
//! Namespaces: `u/{user_id}/…` per user, `g/{group_id}/…` per group, `d/{device_id}/…` per
//! device. A filter is authorized only if its first two levels are literal and name the
//! caller's own namespace (or a group it belongs to): `#`, `+/…`, `u/+/…`, `$share/…`,
//! `$SYS/…` and anyone else's topics are refused.

use rumqttc::mqttbytes::{valid_filter, valid_topic};

use crate::edge::auth::{Identity, Role};

/// The answer for one subscription filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SubscribeCheck {
    /// Allowed; deliveries come from the namespace with this routing key.
    Allowed(Namespace),
    /// Allowed if the user is a member of this group right now.
    NeedsMembership { group_id: i64 },
    /// Operators watch everything (a filter that may match any namespace).
    Everything,
    /// Refused.
    Denied,
}

/// The first two levels of a topic: the unit the hub routes by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Namespace {
    User(i64),
    Group(i64),
    Device(i64),
}

impl Namespace {
    /// The namespace a concrete topic belongs to, if any.
    pub(crate) fn of_topic(topic: &str) -> Option<Namespace> {
        let mut levels = topic.splitn(3, '/');
        let kind = levels.next()?;
        let id = parse_id(levels.next()?)?;
        match kind {
            "u" => Some(Namespace::User(id)),
            "g" => Some(Namespace::Group(id)),
            "d" => Some(Namespace::Device(id)),
            _ => None,
        }
    }
}

/// Decides whether `identity` may subscribe to `filter`.
pub(crate) fn check_subscribe(identity: &Identity, filter: &str) -> SubscribeCheck {
    if !valid_filter(filter) || filter.starts_with('$') {
        // `$share/…` (rumqttd panics on some patterns), `$SYS/…` and anything malformed.
        return SubscribeCheck::Denied;
    }
    if identity.role == Role::Operator {
        return SubscribeCheck::Everything;
    }
    let mut levels = filter.split('/');
    let (Some(kind), Some(id)) = (levels.next(), levels.next().and_then(parse_id)) else {
        return SubscribeCheck::Denied;
    };
    match (identity.role, kind) {
        (Role::User, "u") if id == identity.user_id => SubscribeCheck::Allowed(Namespace::User(id)),
        (Role::User, "g") => SubscribeCheck::NeedsMembership { group_id: id },
        (Role::Device, "d") if id == identity.device_id => {
            SubscribeCheck::Allowed(Namespace::Device(id))
        }
        _ => SubscribeCheck::Denied,
    }
}

/// The answer for one PUBLISH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PublishCheck {
    Allowed,
    /// A well-formed topic the identity may not write to.
    Denied,
    /// Not a valid topic name (wildcards, empty levels are fine but `+`/`#` are not).
    Invalid,
}

/// Decides whether `identity` may publish to `topic`: users only to their outbox
/// `u/{me}/out` (and below it), devices anywhere below `d/{me}/`, operators nowhere.
pub(crate) fn check_publish(identity: &Identity, topic: &str) -> PublishCheck {
    if topic.is_empty() || !valid_topic(topic) {
        return PublishCheck::Invalid;
    }
    let allowed = match identity.role {
        Role::User => {
            let outbox = format!("u/{}/out", identity.user_id);
            topic == outbox
                || topic
                    .strip_prefix(&outbox)
                    .is_some_and(|rest| rest.starts_with('/'))
        }
        Role::Device => topic
            .strip_prefix(&format!("d/{}/", identity.device_id))
            .is_some_and(|rest| !rest.is_empty()),
        Role::Operator => false,
    };
    if allowed {
        PublishCheck::Allowed
    } else {
        PublishCheck::Denied
    }
}

/// A namespace id: a decimal i64 without sign, leading zeros or wildcards, so that each id
/// has exactly one spelling.
fn parse_id(level: &str) -> Option<i64> {
    let canonical = !level.is_empty()
        && level.bytes().all(|byte| byte.is_ascii_digit())
        && (level == "0" || !level.starts_with('0'));
    canonical.then(|| level.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: Identity = Identity {
        user_id: 7,
        device_id: 70,
        role: Role::User,
    };
    const SENSOR: Identity = Identity {
        user_id: 7,
        device_id: 71,
        role: Role::Device,
    };
    const OPS: Identity = Identity {
        user_id: 1,
        device_id: 10,
        role: Role::Operator,
    };

    #[test]
    fn users_subscribe_to_their_own_namespace_only() {
        assert_eq!(
            check_subscribe(&ADA, "u/7/inbox"),
            SubscribeCheck::Allowed(Namespace::User(7))
        );
        assert_eq!(
            check_subscribe(&ADA, "u/7/#"),
            SubscribeCheck::Allowed(Namespace::User(7))
        );
        for refused in [
            "#",
            "+/#",
            "u/+/inbox",
            "u/8/inbox",
            "u/07/inbox",
            "u/#",
            "$share/g/u/7/inbox",
            "$SYS/#",
            "d/70/x",
            "x/7/y",
            "u/7/in#",
        ] {
            assert_eq!(
                check_subscribe(&ADA, refused),
                SubscribeCheck::Denied,
                "{refused}"
            );
        }
    }

    #[test]
    fn group_filters_need_membership() {
        assert_eq!(
            check_subscribe(&ADA, "g/3/#"),
            SubscribeCheck::NeedsMembership { group_id: 3 }
        );
        assert_eq!(check_subscribe(&ADA, "g/+/#"), SubscribeCheck::Denied);
        assert_eq!(check_subscribe(&SENSOR, "g/3/#"), SubscribeCheck::Denied);
    }

    #[test]
    fn devices_own_their_device_namespace() {
        assert_eq!(
            check_subscribe(&SENSOR, "d/71/cmd/#"),
            SubscribeCheck::Allowed(Namespace::Device(71))
        );
        assert_eq!(check_subscribe(&SENSOR, "d/72/cmd"), SubscribeCheck::Denied);
        assert_eq!(
            check_subscribe(&SENSOR, "u/7/inbox"),
            SubscribeCheck::Denied
        );
        assert_eq!(
            check_publish(&SENSOR, "d/71/telemetry/temp"),
            PublishCheck::Allowed
        );
        assert_eq!(
            check_publish(&SENSOR, "d/72/telemetry"),
            PublishCheck::Denied
        );
    }

    #[test]
    fn operators_watch_everything_but_publish_nothing() {
        assert_eq!(check_subscribe(&OPS, "#"), SubscribeCheck::Everything);
        assert_eq!(
            check_subscribe(&OPS, "$share/ops/#"),
            SubscribeCheck::Denied
        );
        assert_eq!(check_publish(&OPS, "u/1/out"), PublishCheck::Denied);
    }

    #[test]
    fn users_publish_to_their_outbox_only() {
        assert_eq!(check_publish(&ADA, "u/7/out"), PublishCheck::Allowed);
        assert_eq!(check_publish(&ADA, "u/7/out/rpc"), PublishCheck::Allowed);
        assert_eq!(check_publish(&ADA, "u/7/outbox"), PublishCheck::Denied);
        assert_eq!(check_publish(&ADA, "u/8/out"), PublishCheck::Denied);
        assert_eq!(check_publish(&ADA, "u/7/inbox"), PublishCheck::Denied);
        assert_eq!(check_publish(&ADA, "g/3/x"), PublishCheck::Denied);
        assert_eq!(check_publish(&ADA, "u/7/+"), PublishCheck::Invalid);
        assert_eq!(check_publish(&ADA, ""), PublishCheck::Invalid);
    }

    #[test]
    fn namespaces_route_by_the_first_two_levels() {
        assert_eq!(Namespace::of_topic("u/7/inbox"), Some(Namespace::User(7)));
        assert_eq!(Namespace::of_topic("g/3"), Some(Namespace::Group(3)));
        assert_eq!(Namespace::of_topic("x/3/y"), None);
        assert_eq!(Namespace::of_topic("u/abc/y"), None);
    }
}
