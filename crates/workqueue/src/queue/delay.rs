//! The delaying queue's link to its clock's timer service: client-go's `waitingLoop` and
//! `updateUnfinishedWorkLoop`, run as callbacks on the clock's one timer thread
//! ([`gosync_core::timer`]) instead of on a thread per queue.
//!
//! # Protocol
//!
//! 1. A queue has at most one [`TimerEntry`], in `State::timer`, created by the first
//!    delayed add (or at build, with metrics) and read and written only under the state
//!    lock. Its deadline is the queue's earliest one, `State::next_deadline` (the first
//!    waiting item or the metrics tick), or earlier.
//! 2. Whoever makes the earliest deadline earlier (an add that becomes the first waiting
//!    item) schedules the entry under the state lock, unless a deadline at that time or
//!    earlier is still pending ([`TimerEntry::schedule_earlier`]).
//! 3. The callback takes the state lock, moves the due items, ticks the metrics and, still
//!    under the lock, schedules the entry for the next deadline (or cancels it: none),
//!    whatever the user code it ran did (a panic there is caught first). So a deadline that fired is always
//!    followed by a registration for the next one: nothing waits unserved.
//! 4. Shutdown (and the last handle's drop) takes the entry out of `State::timer` under
//!    the lock, then drops it after the unlock: dropping cancels the registration and
//!    waits for a callback in progress, which sees `shutting_down` and returns. So once
//!    the queue is shut down no callback runs, and none will.
//!
//! The callback owns an `Arc` of the queue's shared state, so it can never touch freed
//! memory; the cycle this makes (state, entry, callback, state) is broken by rule 4, which
//! the last handle always runs.
//!
//! Lock order: the state lock, then the timer service's (rule 2 schedules under the
//! state lock; the service never calls back under its own).

use std::hash::Hash;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use gosync_core::sync::Arc;
use gosync_core::timer::TimerEntry;

use super::shared::{discard, Shared};
use super::Queue;
use crate::state::State;
use crate::storage::Storage;

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Queue<T, S> {
    /// The queue's earliest deadline is now `at` (rule 2); called under the state lock.
    pub(super) fn arm_timer(&self, st: &mut State<T, S>, at: Instant) {
        let entry = match &mut st.timer {
            Some(entry) => entry,
            None => st.timer.insert(self.new_timer_entry()),
        };
        entry.schedule_earlier(at);
    }

    #[cold]
    fn new_timer_entry(&self) -> TimerEntry {
        let shared = Arc::clone(&self.shared);
        TimerEntry::new(self.shared.clock.clone(), move |_| shared.on_timer())
    }
}

impl<T: Hash + Eq + Clone + Send, S: Storage<T>> Shared<T, S> {
    /// The timer callback (rule 3): moves the due items into the queue and ticks the
    /// metrics.
    ///
    /// The user code it runs (metrics, the `Drop` of superseded items; never an item's
    /// `Eq`, `Hash` or `Clone`) runs inside `catch_unwind`: a panic there is reported by
    /// the panic hook, as any panic is, then its payload is dropped and the entry is
    /// scheduled again (at once, if items are still due).
    fn on_timer(&self) {
        let mut st = self.state.lock();
        if st.shutting_down {
            return;
        }
        let now = self.clock.now();
        let stamp = self.stamp();
        let mut woke = 0;
        // The items fired before a panic are woken for; the next call fires the rest.
        let fired = panic::catch_unwind(AssertUnwindSafe(|| st.fire_due(now, stamp, &mut woke)));
        // Tasks woken after the unlock (rule 4 of `queue/shared.rs`).
        let mut tasks = Vec::new();
        if woke > 0 {
            self.sync_hint(&mut st);
            // Protocol rule 3 of `queue/shared.rs`: wake only getters that are parked.
            match (st.parked, woke) {
                (0, _) => {}
                (1, _) | (_, 1) => {
                    self.ready.notify_one();
                }
                _ => {
                    self.ready.notify_all();
                }
            }
            // And one waiting task per item (rule 4 of `queue/shared.rs`).
            for _ in 0..woke {
                match st.tasks.notify_one() {
                    Some(waker) => tasks.push(waker),
                    None => break,
                }
            }
        }
        match fired {
            Err(payload) => discard(payload),
            // `next_tick` is set only with metrics.
            Ok(()) if st.next_tick.is_some_and(|tick| tick <= now) => {
                // Set first: a panicking gauge does not make the tick due again at once.
                st.next_tick = now.checked_add(self.metrics_period);
                if let Some(m) = &st.metrics {
                    let (total, oldest) = st.unfinished_work(stamp);
                    let set = panic::catch_unwind(AssertUnwindSafe(|| {
                        m.unfinished.set(total);
                        m.longest.set(oldest);
                    }));
                    if let Err(payload) = set {
                        discard(payload);
                    }
                }
            }
            Ok(()) => {}
        }
        let next = st.next_deadline();
        if let Some(entry) = &mut st.timer {
            match next {
                Some(next) => entry.schedule(next),
                // Idle until the next delayed add; on the timer thread, so no wait.
                None => entry.cancel(),
            }
        }
        drop(st);
        // User code, after the state change and the next registration: each waker in
        // `catch_unwind`, so that one panicking waker does not keep the others asleep.
        for waker in tasks {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                discard(payload);
            }
        }
    }
}
