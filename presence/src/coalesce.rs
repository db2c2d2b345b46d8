//! Coalescing: at most one change per user reaches watchers per window, and the final state
//! always does. The first change after a quiet window goes out at once; changes inside the
//! window wait for its end, and only the last one is sent, and only if it differs from what
//! watchers last saw (a flap that ends where it started sends nothing more).
//!
//! Pure bookkeeping over `Instant`s: no I/O, no timers. The service asks for
//! [`Coalescer::next_deadline`] and calls [`Coalescer::due`] then.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Per-user coalescing of state changes of type `S` (compared by `same`).
#[derive(Debug)]
pub struct Coalescer<S> {
    window: Duration,
    users: HashMap<i64, Entry<S>>,
    /// When each emitted user's window ends, in emission order (the window is constant, so
    /// this is sorted).
    windows: VecDeque<(Instant, i64)>,
}

#[derive(Debug)]
struct Entry<S> {
    emitted: S,
    emitted_at: Instant,
    pending: Option<S>,
}

/// What makes two states "the same" for watchers.
pub trait Comparable {
    /// Whether watchers would see no difference between `self` and `other`.
    fn same(&self, other: &Self) -> bool;
}

impl<S: Comparable> Coalescer<S> {
    /// A coalescer with `window` between two changes of one user.
    pub fn new(window: Duration) -> Coalescer<S> {
        Coalescer {
            window,
            users: HashMap::new(),
            windows: VecDeque::new(),
        }
    }

    /// Offers `state` for `user_id` at `now`; returns it when it should go out at once.
    pub fn offer(&mut self, user_id: i64, state: S, now: Instant) -> Option<S>
    where
        S: Clone,
    {
        match self.users.get_mut(&user_id) {
            Some(entry) if now < entry.emitted_at + self.window => {
                entry.pending = Some(state);
                None
            }
            Some(entry) if entry.emitted.same(&state) => {
                entry.pending = None;
                None
            }
            _ => {
                self.emit(user_id, state.clone(), now);
                Some(state)
            }
        }
    }

    /// The changes whose window has ended by `now` and that still differ from what was
    /// sent; they count as sent.
    pub fn due(&mut self, now: Instant) -> Vec<(i64, S)>
    where
        S: Clone,
    {
        let mut out = Vec::new();
        while let Some(&(ends, user_id)) = self.windows.front() {
            if ends > now {
                break;
            }
            self.windows.pop_front();
            let Some(entry) = self.users.get_mut(&user_id) else {
                continue;
            };
            if entry.emitted_at + self.window != ends {
                // A later emission owns this user's window now.
                continue;
            }
            match entry.pending.take() {
                Some(state) if !entry.emitted.same(&state) => {
                    self.emit(user_id, state.clone(), now);
                    out.push((user_id, state));
                }
                _ => {
                    // Quiet for a whole window: forget the user, so the table holds only
                    // users that changed recently.
                    self.users.remove(&user_id);
                }
            }
        }
        out
    }

    /// When [`Coalescer::due`] next has something to look at.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.windows.front().map(|(ends, _)| *ends)
    }

    /// Users currently tracked (changed within the last window).
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user is tracked.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn emit(&mut self, user_id: i64, state: S, now: Instant) {
        self.users.insert(
            user_id,
            Entry {
                emitted: state,
                emitted_at: now,
                pending: None,
            },
        );
        if !self.window.is_zero() {
            self.windows.push_back((now + self.window, user_id));
        } else {
            self.users.remove(&user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Comparable for bool {
        fn same(&self, other: &bool) -> bool {
            self == other
        }
    }

    const WINDOW: Duration = Duration::from_secs(3);

    #[test]
    fn the_first_change_goes_out_at_once() {
        let mut coalescer = Coalescer::new(WINDOW);
        let now = Instant::now();
        assert_eq!(coalescer.offer(1, true, now), Some(true));
        assert_eq!(coalescer.offer(2, true, now), Some(true));
    }

    #[test]
    fn a_flapping_user_sends_at_most_one_change_per_window_and_the_final_state() {
        let mut coalescer = Coalescer::new(WINDOW);
        let start = Instant::now();
        assert_eq!(coalescer.offer(1, true, start), Some(true));
        for step in 1..=10u32 {
            let at = start + Duration::from_millis(100) * step;
            assert_eq!(coalescer.offer(1, step % 2 == 0, at), None);
        }
        // The last offer was `true` (step 10): same as sent, so nothing more goes out.
        assert!(coalescer.due(start + WINDOW).is_empty());
        assert_eq!(coalescer.offer(1, false, start + WINDOW * 2), Some(false));
    }

    #[test]
    fn a_change_inside_the_window_goes_out_when_it_ends() {
        let mut coalescer = Coalescer::new(WINDOW);
        let start = Instant::now();
        assert_eq!(coalescer.offer(1, true, start), Some(true));
        assert_eq!(
            coalescer.offer(1, false, start + Duration::from_millis(10)),
            None
        );
        assert_eq!(coalescer.next_deadline(), Some(start + WINDOW));
        assert!(
            coalescer
                .due(start + WINDOW - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(coalescer.due(start + WINDOW), vec![(1, false)]);
        // That emission opened a new window.
        assert_eq!(
            coalescer.offer(1, true, start + WINDOW + Duration::from_millis(1)),
            None
        );
        assert_eq!(coalescer.due(start + WINDOW * 2), vec![(1, true)]);
    }

    #[test]
    fn quiet_users_are_forgotten() {
        let mut coalescer = Coalescer::new(WINDOW);
        let start = Instant::now();
        coalescer.offer(1, true, start);
        assert_eq!(coalescer.len(), 1);
        assert!(coalescer.due(start + WINDOW).is_empty());
        assert!(coalescer.is_empty());
        assert_eq!(coalescer.next_deadline(), None);
    }

    #[test]
    fn a_zero_window_sends_every_change() {
        let mut coalescer = Coalescer::new(Duration::ZERO);
        let now = Instant::now();
        assert_eq!(coalescer.offer(1, true, now), Some(true));
        assert_eq!(coalescer.offer(1, false, now), Some(false));
        assert!(coalescer.is_empty());
    }
}
