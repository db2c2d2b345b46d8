//! Typing indicators: forwarded at once as ephemeral events, never stored, at most one per
//! device and conversation per interval (more are dropped: the next one carries the state).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use natter_entities::{blocks, group_members, users};
use natter_proto::envelope::{Event, Target};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::request::{Address, Caller, Out, Outcome};
use crate::telemetry::TYPING_DROPPED;

/// Entries kept before old ones are swept.
const SWEEP_AT: usize = 10_000;

/// When each (device, conversation) last had an indicator forwarded.
#[derive(Debug)]
pub(crate) struct Limiter {
    interval: Duration,
    last: HashMap<(i64, Target), Instant>,
}

impl Limiter {
    pub(crate) fn new(interval: Duration) -> Limiter {
        Limiter {
            interval,
            last: HashMap::new(),
        }
    }

    /// Whether an indicator of `device` in `to` may go out now (and records it if so).
    /// Stopping always goes out, so that a watcher never sees "typing" forever.
    fn admit(&mut self, device: i64, to: Target, active: bool) -> bool {
        let now = Instant::now();
        if self.last.len() >= SWEEP_AT {
            let interval = self.interval;
            self.last.retain(|_, at| now.duration_since(*at) < interval);
        }
        if !active {
            self.last.remove(&(device, to));
            return true;
        }
        match self.last.get(&(device, to)) {
            Some(at) if now.duration_since(*at) < self.interval => false,
            _ => {
                self.last.insert((device, to), now);
                true
            }
        }
    }
}

/// Forwards a typing indicator to the other participants, if allowed and not rate-limited.
/// Refusals are silent on purpose: an indicator is a hint, and answering each would cost
/// more than the indicator.
pub(crate) async fn forward(
    db: &DatabaseConnection,
    limiter: &mut Limiter,
    caller: &Caller,
    to: Target,
    active: bool,
) -> Result<Outcome, DbErr> {
    if !limiter.admit(caller.device, to, active) {
        metrics::counter!(TYPING_DROPPED).increment(1);
        return Ok(Vec::new());
    }
    let (recipients, group_id) = match to {
        Target::User(other) => {
            let live = users::Entity::find_by_id(other)
                .one(db)
                .await?
                .is_some_and(|user| user.deleted_at.is_none());
            let blocked = blocks::Entity::find_by_id((other, caller.user))
                .one(db)
                .await?
                .is_some();
            if !live || blocked || other == caller.user {
                return Ok(Vec::new());
            }
            (vec![other], None)
        }
        Target::Group(group_id) => {
            let members: Vec<i64> = group_members::Entity::find()
                .select_only()
                .column(group_members::Column::UserId)
                .filter(group_members::Column::GroupId.eq(group_id))
                .into_tuple()
                .all(db)
                .await?;
            if !members.contains(&caller.user) {
                return Ok(Vec::new());
            }
            let others = members.into_iter().filter(|m| *m != caller.user).collect();
            (others, Some(group_id))
        }
    };
    Ok(recipients
        .into_iter()
        .map(|recipient| {
            Out::Ephemeral(
                Address::User(recipient),
                Event::Typing {
                    from: caller.user,
                    group_id,
                    active,
                },
            )
        })
        .collect())
}
