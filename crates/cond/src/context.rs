//! `Cond::wait_context` (feature `context`): wait until signalled or a
//! [`gosync_context::Context`] is done.
//!
//! # Protocol
//!
//! The waiter queues its node as [`Cond::wait`] does (under the caller's mutex), then,
//! with the mutex released, registers an [`on_cancel`](Context::on_cancel) hook that sets
//! a flag and unparks the waiter's thread, and parks until its node is notified or the
//! flag is set. The hook owns what it touches (an `Arc` of the flag and a `Thread`), so
//! it may run at any time, even after the wait returned. The flag is set before the
//! unpark, and an unpark that comes before the park makes it return at once: a cancel is
//! never missed. On cancel the waiter withdraws under the queue lock exactly as a
//! timed-out wait does: a signal that had already chosen it wins (`Ok`), otherwise no
//! signal was meant for it.

use gosync_context::{Context, Error};
use gosync_core::sync::atomic::{AtomicBool, Ordering::*};
use gosync_core::sync::{thread, Arc, MutexGuard};

use crate::cond::{mutex_id, Node, Parked, Wake};
use crate::relock;
use crate::Cond;

impl Cond {
    /// [`wait`](Cond::wait) that also returns when `ctx` is done. Requires the `context`
    /// feature.
    ///
    /// Returns `Ok(())` if woken by a signal or broadcast, or `Err(ctx.err())` if the
    /// context was done first. The mutex is re-locked either way. A waiter that gives up
    /// withdraws from the queue, so a later signal goes to the next waiter; if a signal
    /// chose this waiter while the context was being cancelled, the signal wins and the
    /// call returns `Ok(())`, so no wake-up is lost. An already done `ctx` returns `Err`
    /// at once, without releasing the mutex.
    ///
    /// This is the lock-then-notify glue users get wrong when they build it from a
    /// condition variable and a cancel hook: here the cancel wakes exactly this waiter,
    /// and cannot slip in between its check of the context and its sleep.
    ///
    /// # Errors
    ///
    /// [`Error::Canceled`] or [`Error::DeadlineExceeded`]: the context was done before a
    /// signal chose this waiter.
    ///
    /// # Panics
    ///
    /// As [`wait`](Cond::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_cond::Cond;
    /// use gosync_context::{background, with_cancel, Error};
    /// use parking_lot::Mutex;
    ///
    /// let (m, cond) = (Mutex::new(()), Cond::new());
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| cancel.cancel());
    ///     let mut g = m.lock();
    ///     assert_eq!(cond.wait_context(&ctx, &mut g), Err(Error::Canceled)); // nobody signals
    /// });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    #[track_caller]
    pub fn wait_context<T>(
        &self,
        ctx: &Context,
        guard: &mut MutexGuard<'_, T>,
    ) -> Result<(), Error> {
        if let Some(err) = ctx.err() {
            return Err(err);
        }
        let node = Node::new(Wake::Thread(thread::current()));
        let reg = self.register(&node, mutex_id(guard));
        let mutex = relock::Mutex::of(guard);
        let notified = MutexGuard::unlocked(guard, || {
            let cancelled = Arc::new(AtomicBool::new(false));
            let hook = {
                let (cancelled, me) = (Arc::clone(&cancelled), thread::current());
                ctx.on_cancel(move || {
                    // Release pairs with the waiter's Acquire load: set before the unpark.
                    cancelled.store(true, Release);
                    me.unpark();
                })
            };
            // Acquire: pairs with the hook's Release store.
            let parked = node.park(|| cancelled.load(Acquire));
            let notified = reg.finish(matches!(parked, Parked::Notified));
            drop(hook);
            if notified {
                mutex.await_unlocked();
            }
            notified
        });
        if notified {
            Ok(())
        } else {
            // The hook ran, so the context is done and `err` is set for good.
            Err(ctx.err().unwrap_or(Error::Canceled))
        }
    }
}
