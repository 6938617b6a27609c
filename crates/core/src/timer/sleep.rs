//! [`Sleep`]: a future that completes when a [`Clock`] reaches a deadline, woken by the
//! clock's timer thread.
//!
//! # Protocol
//!
//! A `Sleep` allocates nothing until it is first polled before its deadline. That poll
//! creates a [`TimerEntry`] whose callback owns an `Arc` of the sleep's waker slot, and
//! the sleep keeps the other end:
//!
//! 1. `poll` reads the clock first: a deadline reached completes at once (so a test that
//!    has just advanced a fake clock finds the sleep ready on its next poll, whether or
//!    not the timer thread has run the callback yet).
//! 2. Otherwise, under the slot's lock, it completes if the callback has `fired`, and
//!    else stores the task's waker in the slot (replacing the one of an earlier poll,
//!    which may belong to another task). Only then, on the first such poll, does it
//!    schedule the entry, so the callback always runs after a waker is in place.
//! 3. The callback (on the timer thread, once the clock has reached the deadline) sets
//!    `fired` and takes the waker out under the lock, and wakes it after releasing the
//!    lock. The clock reading of step 1 does not close the race on its own: the
//!    callback may run between that reading and the lock of step 2, taking the waker
//!    of an earlier poll; `fired`, read under the lock, is what tells the poll.
//! 4. Dropping the sleep drops the entry, whose [`cancel`](TimerEntry::cancel) removes
//!    the registration and waits for a callback already running: once the drop returns,
//!    the waker is neither called nor held any longer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::clock::Clock;
use crate::sync::{Arc, Mutex};
use crate::timer::TimerEntry;

/// A future that completes once its [`Clock`] reaches a deadline: the async twin of
/// [`Clock::sleep_until`]. Made by [`Clock::sleep_until_async`] and
/// [`Clock::sleep_async`].
///
/// It is driven by the clock's timer thread (see [the module](crate::timer)), not by an
/// async runtime, so it runs under any executor, and on a
/// [`FakeClock`](crate::FakeClock) it completes exactly when a test advances the clock
/// to the deadline: a poll after that [`advance`](crate::FakeClock::advance) returns
/// `Ready`, and the task is woken.
///
/// * A deadline already reached completes on the first poll, with no registration and
///   no allocation.
/// * Otherwise the first poll registers the deadline with the timer thread (two small
///   allocations: the waker slot and the timer entry); later polls only swap the waker.
/// * Dropping it, at any point, removes the registration: the timer thread then no
///   longer counts it as a [`waiter`](crate::FakeClock::waiters) and never calls the
///   waker once the drop has returned (a call already in progress is waited for, so do
///   not drop a `Sleep` while holding a lock its waker's `wake` takes).
/// * It is `Send`, `Sync` and `Unpin`. Polling it again after it completed returns
///   `Ready` again.
///
/// # Examples
///
/// ```
/// use gosync_core::clock::FakeClock;
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Wake, Waker};
/// use std::time::Duration;
///
/// struct Noop; // (`Waker::noop` needs Rust 1.85; the MSRV is older)
/// impl Wake for Noop {
///     fn wake(self: std::sync::Arc<Self>) {}
/// }
/// let waker = Waker::from(std::sync::Arc::new(Noop));
/// let mut cx = Context::from_waker(&waker);
///
/// let fake = FakeClock::new();
/// let deadline = fake.now() + Duration::from_secs(60);
/// let mut sleep = fake.clock().sleep_until_async(deadline);
/// assert!(Pin::new(&mut sleep).poll(&mut cx).is_pending());
/// fake.advance(Duration::from_secs(59));
/// assert!(Pin::new(&mut sleep).poll(&mut cx).is_pending());
/// fake.advance(Duration::from_secs(1));
/// assert!(Pin::new(&mut sleep).poll(&mut cx).is_ready());
/// ```
#[must_use = "a Sleep does nothing unless polled"]
pub struct Sleep {
    clock: Clock,
    /// `None`: never (a duration beyond `Instant`'s range).
    deadline: Option<Instant>,
    /// Created by the first poll before the deadline.
    timer: Option<Registered>,
}

/// The registration of a pending [`Sleep`]. Field order: the entry is dropped (and so
/// cancelled) before the sleep's handle of the slot.
struct Registered {
    entry: TimerEntry,
    slot: Arc<Slot>,
}

/// The waker of the task that polled last, and whether the deadline fired; shared with
/// the entry's callback.
struct Slot {
    state: Mutex<SlotState>,
}

struct SlotState {
    fired: bool,
    waker: Option<Waker>,
}

impl Slot {
    /// The entry's callback: marks the slot fired and takes the waker out under the
    /// lock, wakes it outside.
    fn fire(&self) {
        let waker = {
            let mut st = self.state.lock();
            st.fired = true;
            st.waker.take()
        };
        if let Some(waker) = waker {
            // User code (the waker's `wake`), with no lock held. A panic unwinds into
            // the timer thread's `catch_unwind`; nothing is left to update.
            waker.wake();
        }
    }
}

/// `Arc::new` for the slot (loom's `Arc` has the same constructor).
fn new_slot() -> Arc<Slot> {
    Arc::new(Slot {
        state: Mutex::new(SlotState {
            fired: false,
            waker: None,
        }),
    })
}

impl Sleep {
    pub(crate) fn new(clock: Clock, deadline: Option<Instant>) -> Sleep {
        Sleep {
            clock,
            deadline,
            timer: None,
        }
    }

    /// The deadline, or `None` for a sleep that never ends (made by
    /// [`Clock::sleep_async`] with a duration beyond `Instant`'s range).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The clock this sleep waits on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether the clock has reached the deadline.
    pub fn is_elapsed(&self) -> bool {
        self.deadline.is_some_and(|d| self.clock.now() >= d)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(deadline) = this.deadline else {
            // Never: nothing will wake the task, and nothing needs to.
            return Poll::Pending;
        };
        // Protocol, 1.
        if this.clock.now() >= deadline {
            return Poll::Ready(());
        }
        let first = this.timer.is_none();
        let timer = this.timer.get_or_insert_with(|| {
            let slot = new_slot();
            let fire = Arc::clone(&slot);
            Registered {
                entry: TimerEntry::new(this.clock.clone(), move |_| fire.fire()),
                slot,
            }
        });
        {
            // Protocol, 2: the waker is in place before the entry can fire. Cloning
            // the waker is user code: a panic leaves the slot as it was (the lock is
            // released by unwinding, parking_lot locks are not poisoned).
            let mut st = timer.slot.state.lock();
            if st.fired {
                return Poll::Ready(());
            }
            match &mut st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
        }
        if first {
            timer.entry.schedule(deadline);
        }
        Poll::Pending
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("clock", &self.clock)
            .field("deadline", &self.deadline)
            .field("registered", &self.timer.is_some())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::FakeClock;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn no_registration_before_the_first_pending_poll() {
        let fake = FakeClock::new();
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut s = fake.clock().sleep_async(Duration::from_secs(1));
        assert!(s.timer.is_none());
        fake.advance(Duration::from_secs(1));
        assert!(Pin::new(&mut s).poll(&mut cx).is_ready());
        assert!(s.timer.is_none(), "a reached deadline registers nothing");
        let mut s = fake.clock().sleep_async(Duration::from_secs(1));
        assert!(Pin::new(&mut s).poll(&mut cx).is_pending());
        assert_eq!(s.timer.as_ref().unwrap().entry.scheduled(), s.deadline);
    }
}
