//! `WaitGroup::wait_context` (feature `context`): wait until the counter is zero or a
//! [`gosync_context::Context`] is done.
//!
//! # Protocol
//!
//! The waiter registers an [`on_cancel`](Context::on_cancel) hook, registers in the
//! state word as every waiter does, and parks on the group's condition variable through
//! [`WaitGroup::wait_registered`], whose `stop` check (under the `permits` lock) is
//! "the context is done". The hook takes the `permits` lock before notifying
//! ([`WaitGroup::wake_waiters`]), so a waiter is either already parked when the hook
//! notifies, or checks the context after the hook's lock and sees it done: no lost
//! wake-up. A waiter that gives up withdraws its registration exactly as a timed-out
//! `wait_timeout` does.
//!
//! The hook must be `'static` (it may run on the cancelling thread at any time until it
//! is deregistered, even just after the deregistration returned), but the group is only
//! borrowed. So the hook holds a [`Slot`]: a pointer to the group that the waiter
//! clears, under the slot's lock, before `wait_context` returns or unwinds. The hook
//! dereferences the pointer only while holding that lock with the pointer set, so the
//! borrow is still live. Lock order: the slot's lock, then the group's `permits` lock
//! (the waiter never takes the slot's lock while holding `permits`).

use gosync_context::{Context, Error};
use gosync_core::sync::{Arc, Mutex};

use crate::WaitGroup;

/// A pointer to the group a context-aware waiter is parked on.
struct GroupPtr(*const WaitGroup);

// SAFETY: a `WaitGroup` is `Sync`; the pointer is dereferenced (shared) only while the
// waiter that set it is still inside `wait_context` (see `Slot`).
unsafe impl Send for GroupPtr {}

/// What the `on_cancel` hook holds: the group while its waiter is still inside
/// `wait_context`, `None` once it is leaving (cleared by [`ClearOnDrop`], also on unwind).
struct Slot(Mutex<Option<GroupPtr>>);

impl WaitGroup {
    /// Blocks until the counter is zero (`Ok`) or `ctx` is done (`Err` with
    /// [`ctx.err()`](Context::err)), whichever comes first. Requires the `context`
    /// feature.
    ///
    /// This is Go's
    /// `select { case <-wgDone: case <-ctx.Done(): }` around `wg.Wait()`, without the
    /// helper goroutine Go needs (which stays blocked in `Wait` after the context
    /// fires). A waiter that gives up withdraws cleanly, exactly as a timed-out
    /// [`wait_timeout`](WaitGroup::wait_timeout) does: the group's current and later
    /// rounds are unaffected.
    ///
    /// When both are ready, the counter wins: a counter that is already zero returns
    /// `Ok(())` even if `ctx` is already done, and so does a waiter released by the
    /// counter reaching zero while the context was being cancelled. (Go's `select`
    /// picks at random; preferring the finished work loses nothing.) An already done
    /// `ctx` with a non-zero counter returns `Err` at once, without parking. On a
    /// context that can never be cancelled (`background()`) this is [`wait`](WaitGroup::wait).
    ///
    /// As with `wait`, every `done` that brought the counter to zero happens-before an
    /// `Ok` return.
    ///
    /// # Errors
    ///
    /// [`Error::Canceled`] or [`Error::DeadlineExceeded`]: the context was done before
    /// the counter reached zero.
    ///
    /// # Panics
    ///
    /// As [`wait`](WaitGroup::wait): with `sync: WaitGroup is reused before previous
    /// Wait has returned` if, by the time this waiter is released, a new round has
    /// already started.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, with_timeout, Error};
    /// use gosync_waitgroup::WaitGroup;
    /// use std::time::Duration;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(1); // a task that never finishes
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| cancel.cancel());
    ///     assert_eq!(wg.wait_context(&ctx), Err(Error::Canceled));
    /// });
    ///
    /// let (ctx, _cancel) = with_timeout(&background(), Duration::from_millis(5));
    /// assert_eq!(wg.wait_context(&ctx), Err(Error::DeadlineExceeded));
    ///
    /// wg.done();
    /// assert_eq!(wg.wait_context(&ctx), Ok(())); // zero counter: Ok, even if ctx is done
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn wait_context(&self, ctx: &Context) -> Result<(), Error> {
        if self.counter_is_zero() {
            return Ok(());
        }
        if let Some(err) = ctx.err() {
            return Err(err);
        }
        self.wait_context_slow(ctx)
    }

    #[cold]
    #[inline(never)]
    fn wait_context_slow(&self, ctx: &Context) -> Result<(), Error> {
        let slot = Arc::new(Slot(Mutex::new(Some(GroupPtr(self)))));
        // Clears the slot when this call ends, also when it unwinds (the reuse panic):
        // from then on a hook running late no longer touches `self`. Declared before the
        // hook, so dropped after the hook's deregistration.
        let _clear = ClearOnDrop(Arc::clone(&slot));
        // Registered before this waiter registers in the group, so that its wake-up can
        // never be missed; if `ctx` is already done it runs here, harmlessly.
        let _hook = ctx.on_cancel(move || {
            let g = slot.0.lock();
            if let Some(GroupPtr(wg)) = *g {
                // SAFETY: the pointer is set and we hold the slot's lock, so the waiter
                // has not cleared it yet (`ClearOnDrop`): it is still inside
                // `wait_context`, and its `&self` borrow of the group is live.
                unsafe { &*wg }.wake_waiters();
            }
        });
        if !self.register() || self.wait_registered(None, || ctx.is_done()) {
            Ok(())
        } else {
            // `stop` returned true: the context is done, so `err` is set for good.
            Err(ctx.err().unwrap_or(Error::Canceled))
        }
    }
}

/// Empties a [`Slot`] when dropped.
struct ClearOnDrop(Arc<Slot>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        *self.0 .0.lock() = None;
    }
}
