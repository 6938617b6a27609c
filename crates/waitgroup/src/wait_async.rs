//! `WaitGroup::wait_async`: the runtime-agnostic future of a wait.
//!
//! # Protocol
//!
//! A task waits next to the blocking waiters, under the same `permits` lock:
//!
//! 1. **Register**: with the waker cloned beforehand (user code, run before anything
//!    changes), take the lock, register in the state word (refused at a zero counter:
//!    the wait is over) and insert the waker in `Parked::tasks`, in one critical
//!    section. The release resets the state word under the same lock, so it either
//!    happened before (the registration is refused) or will count this task.
//! 2. **Release**: `release_waiters` marks every waiting task notified by name, under
//!    the lock, and wakes the wakers after unlocking. A task's release cannot be taken
//!    by a waiter of a later round (unlike a blocking waiter's anonymous permit).
//! 3. **Poll**: under the lock, a notified entry is removed and the future is ready;
//!    otherwise the stored waker is updated if the task moved.
//! 4. **Drop** (cancel): under the lock, a notified entry is removed; a waiting one
//!    withdraws from the state word and the list, leaving the group as if the task had
//!    never waited. That holds even when the counter is already zero and the release
//!    that would count the task has not run yet: the release needs the lock, so it then
//!    finds one waiter fewer. A dropped future is a wait that has returned: a `wait` and
//!    an `add` that follow the drop start the next round without the misuse panic,
//!    however late the previous round's release runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use gosync_core::waiters::{Removed, WaiterKey};

use crate::WaitGroup;

impl WaitGroup {
    /// Waits, as a future, until the counter is zero: the async twin of
    /// [`wait`](WaitGroup::wait). A thread in `wait` and tasks in `wait_async` on the
    /// same group are all released by the `done` that brings the counter to zero.
    ///
    /// The future is runtime-agnostic (it only uses the task's [`Waker`](std::task::Waker):
    /// tokio, `futures::executor`, smol, ... all drive it), `Send`, and `Unpin`. As with
    /// `wait`, every `done` that brought the counter to zero happens-before the future
    /// completes. A counter that is already zero completes on the first poll without
    /// taking a lock.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any point loses nothing and leaves nothing behind: before
    /// it registered, there is nothing to undo; while registered with a non-zero counter,
    /// its registration is withdrawn (the group is as if it had never waited, so the next
    /// round may start at once); after the round's release, the release is simply not
    /// observed. No other waiter's wake-up depends on it.
    ///
    /// # Reuse
    ///
    /// The blocking `wait` panics, as Go does, if it finds a new round started before it
    /// returned: its wake-up is an anonymous permit that a waiter of the new round could
    /// otherwise take. A task is released by name instead, at the moment the counter
    /// reaches zero, and an executor may poll it any time later; so `wait_async` never
    /// panics with the reuse message: a new round started after the release does not
    /// affect a future that was released, and the next `add` is legal as soon as the
    /// counter has reached zero.
    ///
    /// # Panics
    ///
    /// Never by itself. A task waker that panics in `clone` panics out of `poll` with the
    /// group unchanged; one that panics in `wake` does so in the `done` (or `add`) that
    /// released it, after every other waiter was released and woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    /// use std::sync::Arc;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// for _ in 0..3 {
    ///     let guard = wg.guard_owned();
    ///     std::thread::spawn(move || drop(guard)); // `done` when the thread ends
    /// }
    /// // Any executor: here the `futures` crate's `block_on`.
    /// futures::executor::block_on(wg.wait_async());
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    pub fn wait_async(&self) -> WaitAsync<'_> {
        WaitAsync {
            wg: self,
            key: None,
            finished: false,
        }
    }
}

/// The future of [`WaitGroup::wait_async`]: completes when the group's counter is zero.
///
/// `Send`, `Unpin`, and cancel-safe (see [`WaitGroup::wait_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct WaitAsync<'a> {
    wg: &'a WaitGroup,
    /// The task's entry in the group's waker list, while registered.
    key: Option<WaiterKey>,
    /// Completed: later polls return `Ready` at once.
    finished: bool,
}

impl Future for WaitAsync<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(());
        }
        match &this.key {
            None => {
                if this.wg.counter_is_zero() {
                    this.finished = true;
                    return Poll::Ready(());
                }
                this.register(cx)
            }
            Some(key) => {
                let mut parked = this.wg.parked();
                if parked.tasks.is_notified(key) {
                    let key = this.key.take().expect("registered");
                    // Notified under the lock by `release_waiters`, which acquired every
                    // `done`; this lock acquisition hands that on to the task.
                    let removed = parked.tasks.remove(key);
                    drop(parked);
                    debug_assert!(matches!(removed, Removed::Notified));
                    this.finished = true;
                    return Poll::Ready(());
                }
                let old = parked.tasks.update(key, cx.waker());
                drop(parked);
                drop(old); // user code: dropped with no lock held
                Poll::Pending
            }
        }
    }
}

impl WaitAsync<'_> {
    #[cold]
    #[inline(never)]
    fn register(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // User code, before anything changes: a panicking clone leaves the group as it was.
        let waker = cx.waker().clone();
        let mut parked = self.wg.parked();
        // Registering under the lock makes the state word and the waker list change
        // together (the invariant on `Parked`). A zero counter (Acquire on the failed
        // exchange inside `register`) means the wait is over.
        if !self.wg.register() {
            drop(parked);
            drop(waker);
            self.finished = true;
            return Poll::Ready(());
        }
        self.key = Some(parked.tasks.insert(waker));
        Poll::Pending
    }
}

impl Drop for WaitAsync<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut parked = self.wg.parked();
        let waker = if parked.tasks.is_notified(&key) {
            // Released: nothing to give back.
            drop(parked.tasks.remove(key));
            None
        } else {
            // Not released, so no release has run since this task registered (a release
            // notifies every task under this lock): withdraw from the state word and the
            // list together, leaving the group as if this task had never waited, even if
            // the counter is already zero and the release that would count this task is
            // still to come (it then finds one waiter fewer, perhaps none).
            self.wg.withdraw_task();
            match parked.tasks.remove(key) {
                Removed::Waiting(w) => Some(w),
                Removed::Notified => None,
            }
        };
        drop(parked);
        drop(waker); // user code: dropped with no lock held
    }
}

impl fmt::Debug for WaitAsync<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("wg", self.wg)
            .field("registered", &self.key.is_some())
            .field("finished", &self.finished)
            .finish()
    }
}
