//! `TokenBucket::wait_context_async` (feature `context`): the async twin of
//! `wait_context`, x/time's `WaitN(ctx, n)` as a future racing the context's `done()`.
//!
//! The future is a [`Wait`] (the sleep on the reservation, its cancel-on-drop) next to
//! the context's [`Done`] future. Each poll polls the wait first, so tokens that are due
//! win over a context that is done by then (as the blocking `wait_context` decides),
//! then `done`; a done context cancels the reservation at that poll (the instant the
//! waiter saw the context done, as the blocking wait does) and ends the wait with the
//! context's error. The waker paths are those of the two futures: the clock's sleep
//! (modelled in gosync-core's `loom_sleep`) and the context's registry (gosync-context's
//! `loom_context_async`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use gosync_context::{Context, Done};
use gosync_core::clock::Clock;

use crate::{Sleeper, TokenBucket, Wait, WaitContextError, WaitError};

/// The future of [`TokenBucket::wait_context_async`]: x/time's `WaitN(ctx, n)` as a
/// future. Requires the `context` feature.
///
/// Like [`Wait`], it reserves at its first poll (after x/time's checks: the burst, a
/// context already done, the context's deadline), sleeps on the bucket's clock (or the
/// [`Sleeper`] given to [`with_sleeper`](WaitContext::with_sleeper)), and gives the
/// tokens back if dropped before it completed. It also ends when `ctx` is done first:
/// the task is woken by the cancel, the reservation is cancelled at that poll, and the
/// output is [`WaitContextError::Done`] with the context's error. Tokens that are due
/// when the context is done win.
///
/// `Unpin`, and `Send` when its sleeper and the sleeper's sleep are (the default is).
///
/// # Panics
///
/// Polling it again after it returned `Ready` panics.
///
/// # Examples
///
/// ```
/// use gosync_context::{background_with_clock, with_cancel, Error};
/// use gosync_core::clock::FakeClock;
/// use gosync_ratelimit::{Limit, TokenBucket, WaitContextError};
///
/// let fake = FakeClock::new();
/// let bucket = TokenBucket::with_clock(Limit::per_second(10), 1, fake.clock()).unwrap();
/// let root = background_with_clock(fake.clock());
/// let (ctx, cancel) = with_cancel(&root);
/// futures::executor::block_on(async {
///     bucket.wait_context_async(&ctx, 1).await.unwrap(); // the burst
///     let second = bucket.wait_context_async(&ctx, 1); // due in 100 ms
///     cancel.cancel(); // (from anywhere: it wakes the task)
///     assert_eq!(second.await, Err(WaitContextError::Done(Error::Canceled)));
/// });
/// assert_eq!(bucket.tokens(), 0.0); // the second token was given back
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "context")))]
#[must_use = "futures do nothing unless polled; an unpolled wait takes no tokens"]
pub struct WaitContext<'a, S: Sleeper = &'a Clock> {
    bucket: &'a TokenBucket,
    ctx: &'a Context,
    n: u32,
    phase: Phase<'a, S>,
}

enum Phase<'a, S: Sleeper> {
    Start(S),
    Waiting { wait: Wait<'a, S>, done: Done<'a> },
    Done,
}

// No structural pinning: the sleeper is only used by reference, `Wait` and `Done` are
// `Unpin`.
impl<S: Sleeper> Unpin for WaitContext<'_, S> {}

impl<'a, S: Sleeper> WaitContext<'a, S> {
    /// The same wait, sleeping with `sleeper` instead of the bucket's clock; see
    /// [`Wait::with_sleeper`].
    pub fn with_sleeper<T: Sleeper>(self, sleeper: T) -> WaitContext<'a, T> {
        let phase = match self.phase {
            Phase::Start(_) => Phase::Start(sleeper),
            Phase::Waiting { wait, done } => Phase::Waiting {
                wait: wait.with_sleeper(sleeper),
                done,
            },
            Phase::Done => Phase::Done,
        };
        WaitContext {
            bucket: self.bucket,
            ctx: self.ctx,
            n: self.n,
            phase,
        }
    }
}

impl<S: Sleeper> Future for WaitContext<'_, S> {
    type Output = Result<(), WaitContextError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), WaitContextError>> {
        let this = self.get_mut();
        if let Phase::Start(_) = this.phase {
            let Phase::Start(sleeper) = std::mem::replace(&mut this.phase, Phase::Done) else {
                unreachable!("checked above");
            };
            match this.bucket.reserve_for_context(this.ctx, this.n) {
                Ok(None) => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Some(r)) => {
                    this.phase = Phase::Waiting {
                        wait: Wait::sleeping(this.bucket, this.n, r, sleeper),
                        done: this.ctx.done(),
                    };
                }
            }
        }
        let Phase::Waiting { wait, done } = &mut this.phase else {
            panic!("`WaitContext` polled after it completed");
        };
        // The tokens first: due tokens win over a done context.
        if let Poll::Ready(r) = Pin::new(&mut *wait).poll(cx) {
            this.phase = Phase::Done;
            let n = this.n;
            return Poll::Ready(r.map_err(|e| match e {
                WaitError::ExceedsBurst { n, burst } => WaitContextError::ExceedsBurst { n, burst },
                WaitError::Timeout => WaitContextError::ExceedsDeadline { n },
                _ => WaitContextError::Never,
            }));
        }
        if Pin::new(done).poll(cx).is_ready() {
            wait.give_up();
            this.phase = Phase::Done;
            let err = this.ctx.err().unwrap_or(gosync_context::Error::Canceled);
            return Poll::Ready(Err(WaitContextError::Done(err)));
        }
        Poll::Pending
    }
}

impl<S: Sleeper> fmt::Debug for WaitContext<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("WaitContext");
        d.field("n", &self.n).field("ctx", self.ctx);
        match &self.phase {
            Phase::Start(_) => d.field("phase", &"start"),
            Phase::Waiting { wait, .. } => d.field("wait", wait),
            Phase::Done => d.field("phase", &"done"),
        };
        d.finish_non_exhaustive()
    }
}

impl TokenBucket {
    /// The async twin of [`wait_context`](TokenBucket::wait_context): a
    /// [`WaitContext`] future that reserves `n` tokens at its first poll and completes
    /// when they are due, or when `ctx` is done first (the tokens are then given back),
    /// with the checks, order and errors of `wait_context` (x/time's `WaitN(ctx, n)`).
    /// It sleeps on the bucket's clock (see [`WaitContext::with_sleeper`] for another
    /// timer); dropping it before it completed gives the tokens back. Requires the
    /// `context` feature.
    ///
    /// # Errors
    ///
    /// The future's output: those of [`wait_context`](TokenBucket::wait_context).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::background;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1000), 1).unwrap();
    /// let ctx = background();
    /// futures::executor::block_on(async {
    ///     bucket.wait_context_async(&ctx, 1).await.unwrap();
    ///     bucket.wait_context_async(&ctx, 1).await.unwrap(); // about 1 ms
    /// });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn wait_context_async<'a>(&'a self, ctx: &'a Context, n: u32) -> WaitContext<'a> {
        WaitContext {
            bucket: self,
            ctx,
            n,
            phase: Phase::Start(self.clock()),
        }
    }
}
