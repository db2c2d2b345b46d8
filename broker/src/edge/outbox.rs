//! Outbox flow control: what clients publish on their outbox (`u/{me}/out`, stamped
//! `u/{me}/out/{device}`) is acknowledged only once a bridge reports it handled, and what the
//! bridges have not yet taken is bounded per connection and per node.
//!
//! Why: rumqttd's router keeps one commit log per subscription filter and drops its oldest
//! segment when the log is full, whether or not a slow reader has read it. A client flooding
//! its outbox faster than the bridge stores made the log for `u/+/out/+` roll over, and the
//! sends of every other client in it were lost after their PUBACK. Here the edge stops
//! reading a connection's socket instead (TCP back-pressure reaches the sender), and a
//! PUBACK means "handled by a bridge": stored, or answered with an `error` event.
//!
//! Owns: the node-wide byte budget and the table of publishes waiting for their report. The
//! session logic (parking a publish, sending the PUBACK) is in `handlers` and `connection`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of outbox publishes (as rumqttd counts them: 4 + topic + payload) handed to the
/// router and not yet reported handled, per node. The router's log for `u/+/out/+` holds at
/// least 3 MiB (segments of 1 MiB, 4 kept: `router.rs`), so nothing unread is ever dropped.
pub(crate) const NODE_BUDGET: usize = 1024 * 1024;
/// Outbox publishes one connection may have waiting for a bridge (at most `mqtt.max_inflight`).
/// Small, because the bridges serve requests in arrival order: what a flooding connection
/// has waiting is what every other sender on the node waits behind. 32 still fills a
/// bridge batch for a single busy client.
pub(crate) const PER_CONNECTION: usize = 32;
/// How long a publish may wait for its report before the edge gives it up: its sender gets
/// an error (the bridge is gone, or lost it while reconnecting).
pub(crate) const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

// The budget must stay below what the router keeps of one filter's log.
const _: () = assert!(NODE_BUDGET <= 3 * crate::router::SEGMENT_SIZE);

/// One outbox publish handed to the router, waiting for the bridge's report.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// The connection that published it.
    pub(crate) session_id: u64,
    /// Its packet id when it was QoS 1 (the PUBACK is owed).
    pub(crate) pkid: Option<u16>,
    /// Its share of the node budget, given back when the ticket is dropped.
    pub(crate) _permit: OwnedSemaphorePermit,
    pub(crate) at: Instant,
    /// The request, to name it in the error event if it is given up.
    pub(crate) payload: Bytes,
}

/// The node's budget and its waiting publishes, by device (a bridge handles each device's
/// requests in order, so reports release them oldest first).
#[derive(Debug)]
pub(crate) struct Outbox {
    budget: Arc<Semaphore>,
    waiting: Mutex<HashMap<i64, VecDeque<Ticket>>>,
}

impl Default for Outbox {
    fn default() -> Outbox {
        Outbox {
            budget: Arc::new(Semaphore::new(NODE_BUDGET)),
            waiting: Mutex::default(),
        }
    }
}

impl Outbox {
    /// The node budget, to acquire [`cost`] permits from before publishing.
    pub(crate) fn budget(&self) -> Arc<Semaphore> {
        self.budget.clone()
    }

    /// Records a publish of `device_id` handed to the router.
    pub(crate) fn track(&self, device_id: i64, ticket: Ticket) {
        lock(&self.waiting)
            .entry(device_id)
            .or_default()
            .push_back(ticket);
    }

    /// Takes the publishes a bridge's report (`natter_proto::topics::parse_handled`) says
    /// are handled.
    pub(crate) fn handled(&self, report: &[(i64, u32)]) -> Vec<(i64, Ticket)> {
        let mut waiting = lock(&self.waiting);
        let mut done = Vec::new();
        for &(device_id, count) in report {
            let Some(tickets) = waiting.get_mut(&device_id) else {
                continue;
            };
            for _ in 0..count {
                match tickets.pop_front() {
                    Some(ticket) => done.push((device_id, ticket)),
                    None => break,
                }
            }
            if tickets.is_empty() {
                waiting.remove(&device_id);
            }
        }
        done
    }

    /// Takes the publishes that waited longer than [`REPORT_TIMEOUT`].
    pub(crate) fn expired(&self, now: Instant) -> Vec<(i64, Ticket)> {
        let mut waiting = lock(&self.waiting);
        let mut expired = Vec::new();
        waiting.retain(|&device_id, tickets| {
            while tickets
                .front()
                .is_some_and(|ticket| now.duration_since(ticket.at) >= REPORT_TIMEOUT)
            {
                if let Some(ticket) = tickets.pop_front() {
                    expired.push((device_id, ticket));
                }
            }
            !tickets.is_empty()
        });
        expired
    }
}

/// What a publish costs of the node budget: what rumqttd counts in its log, at most the
/// whole budget (a publish larger than the budget waits until nothing else is outstanding).
pub(crate) fn cost(topic: &str, payload: &[u8]) -> u32 {
    let size = (4 + topic.len() + payload.len()).min(NODE_BUDGET);
    u32::try_from(size).unwrap_or(u32::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one call: the table stays consistent even if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(outbox: &Outbox, session_id: u64, pkid: u16) -> Ticket {
        Ticket {
            session_id,
            pkid: Some(pkid),
            _permit: outbox
                .budget()
                .try_acquire_many_owned(100)
                .expect("budget left"),
            at: Instant::now(),
            payload: Bytes::new(),
        }
    }

    #[test]
    fn reports_release_each_devices_publishes_oldest_first_and_give_the_budget_back() {
        let outbox = Outbox::default();
        for pkid in 1..=3 {
            outbox.track(7, ticket(&outbox, 1, pkid));
        }
        outbox.track(8, ticket(&outbox, 2, 1));
        assert_eq!(outbox.budget().available_permits(), NODE_BUDGET - 400);
        let done = outbox.handled(&[(7, 2), (9, 1)]);
        let released: Vec<_> = done
            .iter()
            .map(|(device, ticket)| (*device, ticket.pkid))
            .collect();
        assert_eq!(released, vec![(7, Some(1)), (7, Some(2))]);
        drop(done);
        assert_eq!(outbox.budget().available_permits(), NODE_BUDGET - 200);
        assert!(outbox.expired(Instant::now()).is_empty());
        let later = Instant::now() + REPORT_TIMEOUT;
        assert_eq!(outbox.expired(later).len(), 2);
        assert_eq!(outbox.budget().available_permits(), NODE_BUDGET);
    }
}
