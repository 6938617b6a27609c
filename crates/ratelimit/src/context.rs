//! `TokenBucket::wait_context` (feature `context`): x/time's `WaitN(ctx, n)`, waiting
//! for tokens until they are due or a [`gosync_context::Context`] is done.
//!
//! # Protocol
//!
//! The waiter reserves the tokens, then parks on a condition variable of its own
//! (`Wake`), with the bucket's [`Clock::wait_until`](gosync_core::clock::Clock::wait_until)
//! and the time to act as the deadline, so a fake clock drives it. Before parking it
//! registers an [`on_cancel`](Context::on_cancel) hook that takes `Wake`'s lock and
//! then notifies. Every check of the context (and of the clock) happens under that
//! lock, and the wait releases it atomically, so the hook either finds the waiter
//! parked and wakes it, or runs before the waiter's next check, which then sees the
//! context done (it is marked done before any hook runs): no lost wake-up.
//!
//! The hook must be `'static` (it may run on the cancelling thread until it is
//! deregistered, even just after the deregistration returned), so it owns an `Arc` of
//! the `Wake` rather than borrowing anything: a late hook only notifies a condition
//! variable nobody waits on.
//!
//! Lock order: `Wake`'s lock, then the fake clock's (in `Clock::now` and `wait_until`).
//! The bucket's own lock is never taken while `Wake`'s is held: the waiter releases it
//! before cancelling its reservation.

use std::error::Error;
use std::fmt;

use gosync_context::Context;
use gosync_core::sync::{Arc, Condvar, Mutex};

use crate::token_bucket::Refusal;
use crate::{Reservation, TokenBucket};

/// What a parked `wait_context` and its `on_cancel` hook share.
struct Wake {
    lock: Mutex<()>,
    cv: Condvar,
}

impl TokenBucket {
    /// Reserves `n` tokens and sleeps through the bucket's clock until they are due, or
    /// gives up, giving them back, when `ctx` is done first (x/time's `WaitN(ctx, n)`).
    /// Requires the `context` feature.
    ///
    /// In x/time's order:
    ///
    /// 1. `n` above the burst (with a finite limit) fails at once:
    ///    [`WaitContextError::ExceedsBurst`].
    /// 2. A `ctx` that is already done fails at once: [`WaitContextError::Done`].
    /// 3. The tokens are reserved, unless they would be due after `ctx`'s deadline:
    ///    then nothing is taken and the call fails at once
    ///    ([`WaitContextError::ExceedsDeadline`]). The deadline is compared, as an
    ///    instant, with the bucket's time to act, so give both the same clock (for
    ///    tests, a [`background_with_clock`](gosync_context::background_with_clock)
    ///    root on the bucket's fake clock).
    /// 4. Tokens due now return `Ok` at once. Otherwise the call sleeps on the bucket's
    ///    clock until the tokens are due (`Ok`) or `ctx` is done, whichever comes first;
    ///    a done `ctx` wakes it at once. If `ctx` is done first, the reservation is
    ///    cancelled as [`Reservation::cancel`] would, at the instant the waiter gave up
    ///    (the tokens come back, minus those later reservations count on), and the
    ///    context's error is returned.
    ///
    /// When both happen together, the tokens win: a waiter that finds its time to act
    /// reached returns `Ok` even if `ctx` is done by then (x/time's `select` picks at
    /// random). Like x/time, a sleeper is not woken by
    /// [`set_limit`](TokenBucket::set_limit) or
    /// [`set_burst`](TokenBucket::set_burst): it keeps its time to act.
    ///
    /// # Errors
    ///
    /// * [`WaitContextError::ExceedsBurst`]: `n` is above the burst (and the limit
    ///   finite); nothing taken.
    /// * [`WaitContextError::ExceedsDeadline`]: the tokens would be due after `ctx`'s
    ///   deadline (or never, with a deadline); nothing taken.
    /// * [`WaitContextError::Never`]: the limit is zero (or the wait beyond `u64::MAX`
    ///   nanoseconds) and `ctx` has no deadline; nothing taken. x/time would block until
    ///   `ctx` is done.
    /// * [`WaitContextError::Done`] with [`ctx.err()`](Context::err): `ctx` was done
    ///   before the tokens were due; what was taken was given back.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background_with_clock, with_cancel, with_timeout, Error};
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket, WaitContextError};
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let bucket = TokenBucket::with_clock(Limit::per_second(10), 3, fake.clock()).unwrap();
    /// let root = background_with_clock(fake.clock());
    ///
    /// bucket.wait_context(&root, 2).unwrap(); // in the burst: no sleep
    ///
    /// // 3 tokens with 1 left are due in 200 ms: beyond a 100 ms deadline.
    /// {
    ///     let (ctx, _cancel) = with_timeout(&root, Duration::from_millis(100));
    ///     assert_eq!(
    ///         bucket.wait_context(&ctx, 3),
    ///         Err(WaitContextError::ExceedsDeadline { n: 3 })
    ///     );
    /// }
    ///
    /// // A cancel while it sleeps: it wakes at once and gives the tokens back.
    /// let (ctx, cancel) = with_cancel(&root);
    /// std::thread::scope(|s| {
    ///     let waiter = s.spawn(|| bucket.wait_context(&ctx, 3));
    ///     assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
    ///     cancel.cancel();
    ///     assert_eq!(waiter.join().unwrap(), Err(WaitContextError::Done(Error::Canceled)));
    /// });
    /// assert_eq!(bucket.tokens(), 1.0);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn wait_context(&self, ctx: &Context, n: u32) -> Result<(), WaitContextError> {
        match self.reserve_for_context(ctx, n)? {
            None => Ok(()),
            Some(r) => self.sleep_or_give_up(ctx, r),
        }
    }

    /// x/time's `WaitN(ctx, n)` up to its sleep: the checks in order, then the
    /// reservation; `None` if the tokens are due now (taken), otherwise the held
    /// reservation to sleep on. Shared by `wait_context` and `wait_context_async`.
    pub(crate) fn reserve_for_context(
        &self,
        ctx: &Context,
        n: u32,
    ) -> Result<Option<Reservation<'_>>, WaitContextError> {
        if let Some(burst) = self.exceeded_burst(n) {
            return Err(WaitContextError::ExceedsBurst { n, burst });
        }
        if let Some(err) = ctx.err() {
            return Err(WaitContextError::Done(err));
        }
        let now = self.now_ns();
        let deadline = match ctx.deadline().map(|d| self.nanos_at(d)) {
            // Past, but not yet fired by the context's timer: x/time's negative wait
            // limit refuses even tokens that are there.
            Some(d) if d < now => return Err(WaitContextError::ExceedsDeadline { n }),
            d => d.map(|d| d - now),
        };
        let out = self.reserve_at(now, n, deadline, true);
        let act = match out.result {
            Ok(act) => act,
            // The burst changed since the check above.
            Err(Refusal::ExceedsBurst(burst)) => {
                return Err(WaitContextError::ExceedsBurst { n, burst })
            }
            Err(_) if deadline.is_some() => return Err(WaitContextError::ExceedsDeadline { n }),
            Err(_) => return Err(WaitContextError::Never),
        };
        let r = Reservation {
            bucket: self,
            ok: true,
            tokens: n,
            act,
            limit: out.limit,
            counted: out.counted,
        };
        // Due now: done; the drop keeps the tokens.
        Ok((act > now).then_some(r))
    }

    #[cold]
    #[inline(never)]
    fn sleep_or_give_up(&self, ctx: &Context, r: Reservation<'_>) -> Result<(), WaitContextError> {
        let wake = Arc::new(Wake {
            lock: Mutex::new(()),
            cv: Condvar::new(),
        });
        // Registered before the first check of the context below. If `ctx` is already
        // done it runs here, harmlessly.
        let _hook = {
            let wake = Arc::clone(&wake);
            ctx.on_cancel(move || {
                // The lock before the notify: see the module docs.
                let _g = wake.lock.lock();
                wake.cv.notify_one();
            })
        };
        let due = self.instant(r.act);
        let mut g = wake.lock.lock();
        let gave_up_at = loop {
            let now = self.now_ns();
            if now >= r.act {
                return Ok(());
            }
            if ctx.is_done() {
                break now;
            }
            match due {
                Some(t) => {
                    // Timed out or not, the loop reads the clock again.
                    self.clock().wait_until(&wake.cv, &mut g, t);
                }
                // Beyond what `Instant` represents: only the context can end it.
                None => wake.cv.wait(&mut g),
            }
        };
        drop(g);
        // At the instant the waiter saw the context done and its tokens not yet due, so
        // the tokens come back even if the clock reaches the time to act meanwhile.
        self.cancel_at(&r, gave_up_at);
        Err(WaitContextError::Done(
            ctx.err().unwrap_or(gosync_context::Error::Canceled),
        ))
    }
}

/// Why [`TokenBucket::wait_context`] did not get its tokens (x/time's `WaitN` errors).
///
/// # Examples
///
/// ```
/// use gosync_context::Error;
/// use gosync_ratelimit::WaitContextError;
///
/// let e = WaitContextError::ExceedsBurst { n: 4, burst: 3 };
/// assert_eq!(e.to_string(), "rate: Wait(n=4) exceeds limiter's burst 3");
/// let e = WaitContextError::ExceedsDeadline { n: 3 };
/// assert_eq!(e.to_string(), "rate: Wait(n=3) would exceed context deadline");
/// // The context's own error, as Go's `WaitN` returns `ctx.Err()`.
/// assert_eq!(WaitContextError::Done(Error::Canceled).to_string(), "context canceled");
/// assert_eq!(WaitContextError::Done(Error::Canceled).context_error(), Some(Error::Canceled));
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "context")))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitContextError {
    /// More tokens were asked for than the burst; nothing was taken.
    ExceedsBurst {
        /// Tokens asked for.
        n: u32,
        /// The bucket's burst.
        burst: u32,
    },
    /// The tokens would be due after the context's deadline; nothing was taken.
    ExceedsDeadline {
        /// Tokens asked for.
        n: u32,
    },
    /// The limit is zero (or the wait beyond `u64::MAX` nanoseconds) and the context
    /// has no deadline: the tokens would never come; nothing was taken.
    Never,
    /// The context was done before the tokens were due; they were given back.
    Done(gosync_context::Error),
}

impl WaitContextError {
    /// The context's error, if the wait ended because the context was done.
    pub fn context_error(&self) -> Option<gosync_context::Error> {
        match *self {
            WaitContextError::Done(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for WaitContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitContextError::ExceedsBurst { n, burst } => {
                write!(f, "rate: Wait(n={n}) exceeds limiter's burst {burst}")
            }
            WaitContextError::ExceedsDeadline { n } => {
                write!(f, "rate: Wait(n={n}) would exceed context deadline")
            }
            WaitContextError::Never => f.write_str("rate: wait would never end (zero limit)"),
            // Transparent, as Go returns `ctx.Err()` itself.
            WaitContextError::Done(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl Error for WaitContextError {}
