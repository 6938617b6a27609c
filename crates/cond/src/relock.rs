//! What a woken waiter does before it re-locks the caller's mutex.
//!
//! A signaller usually holds the mutex while it signals (the bounded buffer's
//! `push; not_empty.signal()` under the lock), and the waiter it chose, if it is spinning
//! on another CPU, learns of its signal from a store the signaller made inside that
//! critical section. Locking at once finds the mutex held, and `parking_lot`'s `lock`
//! then spins a little, yields its CPU and parks, and the signaller's unlock has to wake
//! it again: a system call on each side and trips through the scheduler, the costs the
//! waiter's spin was there to save. Even reading the lock at once hurts: it takes the
//! lock's cache line from the signaller just before its unlock needs it back.
//!
//! So a woken waiter first waits for the mutex to be free, reading the lock without
//! writing it, with exponential backoff before each read (test and test-and-set with
//! backoff: [`FIRST`] before the first read, doubling up to [`MAX_ROUND`], both times
//! turned into `spin_loop` hints through their calibrated cost), for at most
//! [`BUDGET`], and then locks as before.
//! Only *when* the waiter calls `lock` changes: no state of the `Cond` protocol, and no
//! outcome. Under loom it does nothing (loom explores the `lock` interleavings
//! themselves, and has no time to spin for).
//!
//! Measured on the bounded-buffer bench (5 producers, 3 consumers, one `parking_lot`
//! mutex, 2-CPU Xeon), capacity 3, M items/s, three runs each:
//!
//! | before `lock` | |
//! |---|---|
//! | nothing (as before) | 1.38 |
//! | read the lock at once, then poll it | 1.64-1.93 |
//! | backoff before each read, up to 1 hint | 2.52-2.96 |
//! | backoff before each read, up to 8 hints | 3.12-3.29 |
//! | backoff before each read, up to 64 hints (1 us here) | 3.19-3.32 |
//!
//! (A hint costs 16 ns there, so 64 hints are 1 us.) Context switches for 1.6 M items
//! fell from 840,000 to about 9,000: the woken waiter no longer yields or parks in
//! `lock`. Capacity 1024 measured alike with and without (11.4-12.8): there a wait is
//! rare.
//!
//! The first backoff matters most. Same bench and machine, a simpler harness (M items/s,
//! six runs each), by the wait before the first read: 0 ns, 1.36-1.79; 16 ns,
//! 2.03-2.50; 32 ns, 1.75-2.64; 64 ns, 2.60-3.30; 128 ns, 2.66-3.27; 256 ns, 2.19-2.82.
//! It has to cover the rest of the signaller's critical section and the trip of the
//! lock's cache line between two CPUs, a time, not a count of hints.

#[cfg(not(loom))]
use std::time::Duration;

use gosync_core::sync::MutexGuard;
#[cfg(not(loom))]
use gosync_core::Clock;

/// The backoff before the first read of the lock: the middle of the plateau measured
/// above (64-128 ns), about one cache-line round trip between two CPUs.
#[cfg(not(loom))]
pub(crate) const FIRST: Duration = Duration::from_nanos(100);

/// The longest backoff between two reads of the lock (the backoff doubles up to this):
/// 1 us, which is 64 hints on the Xeon measured above (16 ns a hint, so crossbeam's
/// `Backoff` limit of 2^6 hints there), and from 7 to 100 hints on CPUs whose hint costs
/// 140 to 10 ns. Capping rounds in time keeps the unlock from going unseen for long on
/// a CPU with slow hints. The table above: caps of 8 and 64 hints measured alike.
#[cfg(not(loom))]
pub(crate) const MAX_ROUND: Duration = Duration::from_micros(1);

/// The longest a woken waiter waits to see the mutex unlocked before it calls `lock`
/// anyway (which then spins, yields and parks as `parking_lot` does). A signaller's
/// critical section after its signal is a few hundred nanoseconds at most; a mutex still
/// held after 2 us is held by a thread that was descheduled or is doing long work, and
/// waiting on is `lock`'s job.
#[cfg(not(loom))]
pub(crate) const BUDGET: Duration = Duration::from_micros(2);

/// The mutex a wait re-locks, taken from the guard before the wait unlocks it.
pub(crate) struct Mutex<'a, T> {
    #[cfg(not(loom))]
    mutex: &'a gosync_core::sync::Mutex<T>,
    #[cfg(loom)]
    _mutex: std::marker::PhantomData<&'a T>,
}

impl<'a, T> Mutex<'a, T> {
    /// The mutex `guard` locks.
    #[inline]
    pub(crate) fn of(guard: &MutexGuard<'a, T>) -> Self {
        #[cfg(not(loom))]
        {
            Mutex {
                mutex: MutexGuard::mutex(guard),
            }
        }
        #[cfg(loom)]
        {
            let _ = guard;
            Mutex {
                _mutex: std::marker::PhantomData,
            }
        }
    }

    /// Called by a waiter a signal chose, while it does not hold the mutex: returns once
    /// the mutex looks unlocked, or after [`BUDGET`] (see the module docs).
    #[inline]
    pub(crate) fn await_unlocked(&self) {
        #[cfg(not(loom))]
        {
            let (first, max) = backoff_hints();
            // Back off *before* the first read too: the signaller is about to unlock.
            pause(first);
            // `is_locked` is a Relaxed load: only the moment of the `lock` call depends
            // on it, and `lock` itself synchronizes.
            if self.mutex.is_locked() {
                self.await_slow(first, max);
            }
        }
    }

    /// The rest of [`await_unlocked`](Mutex::await_unlocked), once the mutex was seen
    /// locked after the first backoff (`first` hints; at most `max` per round).
    #[cfg(not(loom))]
    #[inline(never)]
    fn await_slow(&self, first: u32, max: u32) {
        // The clock is read after every round, not every so many hints as a `Spin`
        // does: a round is 200 ns to `MAX_ROUND` of pausing, and the wait must end
        // within one round past `BUDGET` whatever a hint or a clock read costs here.
        let clock = Clock::real();
        let start = clock.nanos();
        let budget = BUDGET.as_nanos() as u64;
        let mut pauses = first.saturating_mul(2).min(max);
        loop {
            pause(pauses);
            // Relaxed: as in `await_unlocked`.
            if !self.mutex.is_locked() || clock.nanos().saturating_sub(start) >= budget {
                return;
            }
            pauses = pauses.saturating_mul(2).min(max);
        }
    }
}

/// [`FIRST`] and [`MAX_ROUND`] in `spin_loop` hints on this CPU, computed once.
#[cfg(not(loom))]
fn backoff_hints() -> (u32, u32) {
    static HINTS: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *HINTS.get_or_init(|| {
        let first = gosync_core::spin::hints_for(FIRST);
        (first, gosync_core::spin::hints_for(MAX_ROUND).max(first))
    })
}

#[cfg(not(loom))]
#[inline]
fn pause(hints: u32) {
    for _ in 0..hints {
        std::hint::spin_loop();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Mutex;
    use gosync_core::sync::Mutex as PlMutex;
    use std::sync::mpsc;
    use std::thread;

    #[test]
    fn returns_at_once_when_the_mutex_is_free() {
        let m = PlMutex::new(0u32);
        let g = m.lock();
        let relock = Mutex::of(&g);
        drop(g);
        relock.await_unlocked();
        assert!(!m.is_locked());
    }

    #[test]
    fn backoff_hint_counts_are_bounded() {
        // FIRST and MAX_ROUND in hints: at least one hint, and (with the calibration's
        // floor of 0.1 ns a hint) never the u32::MAX a calibration that read no time
        // would give.
        let (first, max) = super::backoff_hints();
        assert!(first >= 1 && max >= first, "{first} {max}");
        assert!(
            max <= 10_000,
            "1 us is at most 10,000 hints of 0.1 ns: {max}"
        );
    }

    #[test]
    fn gives_up_on_a_mutex_held_past_the_budget() {
        // The mutex stays locked by another thread until this thread has returned from
        // `await_unlocked`: the wait must end on its budget, not on the unlock.
        let m = PlMutex::new(0u32);
        let (locked_tx, locked_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        thread::scope(|s| {
            let m = &m;
            s.spawn(move || {
                let _g = m.lock();
                locked_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            });
            locked_rx.recv().unwrap();
            // What `Mutex::of` keeps of a waiter's guard (the holder has the only one).
            let relock = Mutex { mutex: m };
            relock.await_unlocked();
            assert!(m.is_locked(), "the holder has not unlocked yet");
            done_tx.send(()).unwrap();
        });
    }
}
