//! The async waits of [`TokenBucket`]: [`wait_async`](TokenBucket::wait_async),
//! [`wait_n_async`](TokenBucket::wait_n_async) and
//! [`wait_n_timeout_async`](TokenBucket::wait_n_timeout_async), all returning a
//! [`Wait`].
//!
//! # Protocol
//!
//! A `Wait` is a small state machine owned by its task; it shares nothing with other
//! threads but the bucket (whose own lock orders reservations and cancels) and its
//! sleep (whose waker paths belong to the [`Sleeper`]; the clock's is modelled in
//! gosync-core's `loom_sleep`).
//!
//! 1. *Start*: nothing is taken. The first poll reserves, as x/time's `WaitN` does when
//!    called: the tokens are either there (taken as `allow_n` takes them, lock-free on
//!    a finite bucket; the wait is over) or reserved for a time to act, with the
//!    reservation counted as alive (the bucket's lock-free path is off meanwhile, as
//!    for a held [`Reservation`]). A refusal ends the wait with its error, nothing
//!    taken.
//! 2. *Sleeping*: the reservation and the time to act. Each poll makes the sleep if
//!    there is none yet (the sleeper is called from inside the task's poll) and polls
//!    it; its completion ends the wait with `Ok`, the tokens kept.
//! 3. *Done*: after `Ready`. Polling again panics.
//!
//! Dropping the `Wait` in *Sleeping* cancels the reservation first, exactly as
//! [`Reservation::cancel`] (x/time's `r.Cancel()` when `WaitN`'s context is done), then
//! drops the sleep. In *Start* and *Done* there is nothing to give back.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;

use crate::token_bucket::Refusal;
use crate::{Reservation, Sleeper, TokenBucket, WaitError};

/// The future of [`TokenBucket::wait_async`], [`wait_n_async`](TokenBucket::wait_n_async)
/// and [`wait_n_timeout_async`](TokenBucket::wait_n_timeout_async): x/time's `WaitN`
/// as a future.
///
/// * **Reserved at the first poll**, not when the future is made: a `Wait` that is
///   never polled takes nothing. The first poll fails at once (nothing taken) if `n`
///   exceeds the burst, if the limit is zero, or (with a timeout) if the tokens would
///   not be due in time, with the errors of the blocking
///   [`wait_n_timeout`](TokenBucket::wait_n_timeout); it completes at once if the
///   tokens are there; otherwise it holds a [`Reservation`] and sleeps until its time
///   to act.
/// * **Cancel-safe**: dropping a `Wait` before it completed gives the tokens back as
///   [`Reservation::cancel`] does at the moment of the drop (in full if no later
///   reservation was made, minus what later reservations count on otherwise, nothing
///   if the time to act has passed), as x/time's `WaitN` does when its context is
///   done. Nothing else is left behind: the sleep is dropped too (the clock's timer
///   registration removed).
/// * **Sleeper**: by default it sleeps on the bucket's [`Clock`], woken by the clock's
///   timer thread under any executor (a
///   [`FakeClock`](gosync_core::clock::FakeClock) drives it: once the fake time reaches
///   the time to act, the next poll completes and the task is woken).
///   [`with_sleeper`](Wait::with_sleeper) uses another timer, such as tokio's or smol's.
/// * `Unpin`, and `Send` when its sleeper and the sleeper's sleep are (the default
///   is). Like x/time's sleepers, it keeps its time to act across
///   [`set_limit`](TokenBucket::set_limit) and [`set_burst`](TokenBucket::set_burst).
///
/// # Panics
///
/// Polling a `Wait` again after it returned `Ready` panics.
///
/// # Examples
///
/// ```
/// use gosync_core::clock::FakeClock;
/// use gosync_ratelimit::{Limit, TokenBucket};
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Wake, Waker};
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
/// let bucket = TokenBucket::with_clock(Limit::per_second(10), 1, fake.clock()).unwrap();
/// assert!(bucket.allow());
/// let mut wait = bucket.wait_async();
/// assert!(Pin::new(&mut wait).poll(&mut cx).is_pending()); // reserved, due in 100 ms
/// fake.advance(Duration::from_millis(99));
/// assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
/// fake.advance(Duration::from_millis(1));
/// assert!(Pin::new(&mut wait).poll(&mut cx).is_ready());
///
/// // Dropped while it sleeps: the token comes back.
/// let mut wait = bucket.wait_async();
/// assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
/// assert_eq!(bucket.tokens(), -1.0);
/// drop(wait);
/// assert_eq!(bucket.tokens(), 0.0);
/// ```
#[must_use = "futures do nothing unless polled; an unpolled Wait takes no tokens"]
pub struct Wait<'a, S: Sleeper = &'a Clock> {
    bucket: &'a TokenBucket,
    n: u32,
    /// The timeout in nanoseconds, for `wait_n_timeout_async`.
    max_wait: Option<u128>,
    sleeper: S,
    phase: Phase<'a, S::Sleep>,
}

enum Phase<'a, Z> {
    Start,
    Sleeping {
        reservation: Reservation<'a>,
        /// The time to act; `None` if `Instant` cannot represent it (then only a drop
        /// ends the wait).
        deadline: Option<Instant>,
        /// Made by the first poll that needs it.
        sleep: Option<Z>,
    },
    Done,
}

// No structural pinning: the sleeper is only used by reference, and the sleep is
// `Unpin` (a bound of `Sleeper::Sleep`), so a pinned `Wait` may move them.
impl<S: Sleeper> Unpin for Wait<'_, S> {}

impl<'a, S: Sleeper> Wait<'a, S> {
    /// The same wait, sleeping with `sleeper` instead: for example
    /// `TokioSleeper` (feature `tokio`) or `SmolSleeper` (feature `smol`), to use the
    /// runtime's timer rather than the clock's timer thread.
    ///
    /// Meant for a wait not polled yet; on one already sleeping, its sleep is dropped
    /// and the next poll sleeps with `sleeper` until the same time to act (the
    /// reservation is kept).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::Clock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1000), 1).unwrap();
    /// let other = Clock::real(); // any `Sleeper`
    /// futures::executor::block_on(bucket.wait_n_async(1).with_sleeper(&other)).unwrap();
    /// ```
    pub fn with_sleeper<T: Sleeper>(mut self, sleeper: T) -> Wait<'a, T> {
        let phase = match mem::replace(&mut self.phase, Phase::Done) {
            Phase::Start => Phase::Start,
            Phase::Sleeping {
                reservation,
                deadline,
                sleep: _,
            } => Phase::Sleeping {
                reservation,
                deadline,
                sleep: None,
            },
            Phase::Done => Phase::Done,
        };
        Wait {
            bucket: self.bucket,
            n: self.n,
            max_wait: self.max_wait,
            sleeper,
            phase,
        }
    }

    /// A wait already holding `reservation` (due later than now): the sleeping phase
    /// of `wait_context_async`.
    #[cfg(feature = "context")]
    pub(crate) fn sleeping(
        bucket: &'a TokenBucket,
        n: u32,
        reservation: Reservation<'a>,
        sleeper: S,
    ) -> Wait<'a, S> {
        Wait {
            bucket,
            n,
            max_wait: None,
            sleeper,
            phase: Phase::Sleeping {
                deadline: reservation.time_to_act(),
                reservation,
                sleep: None,
            },
        }
    }

    /// Gives up a sleeping wait: cancels its reservation now (as its drop would) and
    /// drops its sleep; the wait is then done.
    #[cfg(feature = "context")]
    pub(crate) fn give_up(&mut self) {
        if let Phase::Sleeping {
            reservation, sleep, ..
        } = mem::replace(&mut self.phase, Phase::Done)
        {
            reservation.cancel();
            drop(sleep);
        }
    }

    /// The tokens' time to act, once the first poll has reserved them and until the
    /// wait completes; `None` before, after, or if `Instant` cannot represent it.
    pub fn time_to_act(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Sleeping { deadline, .. } => *deadline,
            _ => None,
        }
    }
}

impl<S: Sleeper> Future for Wait<'_, S> {
    type Output = Result<(), WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WaitError>> {
        let this = self.get_mut();
        match this.phase {
            Phase::Start => match this.bucket.reserve_for_wait(this.n, this.max_wait) {
                Ok(None) => {
                    this.phase = Phase::Done;
                    return Poll::Ready(Ok(()));
                }
                Err(e) => {
                    this.phase = Phase::Done;
                    return Poll::Ready(Err(e));
                }
                Ok(Some(reservation)) => {
                    let deadline = reservation.time_to_act();
                    this.phase = Phase::Sleeping {
                        reservation,
                        deadline,
                        sleep: None,
                    };
                }
            },
            Phase::Sleeping { .. } => {}
            Phase::Done => panic!("`Wait` polled after it completed"),
        }
        let Phase::Sleeping {
            deadline, sleep, ..
        } = &mut this.phase
        else {
            unreachable!("the wait is sleeping here");
        };
        let Some(deadline) = *deadline else {
            // Beyond `Instant`: only a drop ends it (and gives the tokens back).
            return Poll::Pending;
        };
        // User code (the sleeper, its sleep's poll): a panic leaves the reservation in
        // place, and the drop that follows gives it back.
        let sleep = sleep.get_or_insert_with(|| this.sleeper.sleep_until(deadline));
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => {
                // Dropping the reservation keeps its tokens.
                this.phase = Phase::Done;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: Sleeper> Drop for Wait<'_, S> {
    fn drop(&mut self) {
        if let Phase::Sleeping {
            reservation, sleep, ..
        } = mem::replace(&mut self.phase, Phase::Done)
        {
            // First: the sleep's drop is user code and may panic.
            reservation.cancel();
            drop(sleep);
        }
    }
}

impl<S: Sleeper> fmt::Debug for Wait<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::Start => "start",
            Phase::Sleeping { .. } => "sleeping",
            Phase::Done => "done",
        };
        f.debug_struct("Wait")
            .field("n", &self.n)
            .field("phase", &phase)
            .field("time_to_act", &self.time_to_act())
            .finish_non_exhaustive()
    }
}

impl TokenBucket {
    /// Waits, as a future, until one token is available and takes it (x/time's `Wait`):
    /// [`wait_n_async(1)`](TokenBucket::wait_n_async).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1000), 1).unwrap();
    /// futures::executor::block_on(async {
    ///     bucket.wait_async().await.unwrap(); // the burst: ready at once
    ///     bucket.wait_async().await.unwrap(); // sleeps about 1 ms
    /// });
    /// ```
    pub fn wait_async(&self) -> Wait<'_> {
        self.wait_n_async(1)
    }

    /// The async twin of [`wait_n`](TokenBucket::wait_n): a [`Wait`] future that
    /// reserves `n` tokens at its first poll and completes when they are due (x/time's
    /// `WaitN` without a deadline), sleeping on the bucket's clock (see
    /// [`Wait::with_sleeper`] for another timer). Dropping it before then gives the
    /// tokens back; see [`Wait`].
    ///
    /// # Errors
    ///
    /// The future's output, at its first poll, with nothing taken:
    ///
    /// * [`WaitError::ExceedsBurst`] if `n` is above the burst (and the limit finite);
    /// * [`WaitError::Never`] if the limit is zero and the tokens will never come.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket, WaitError};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1000), 2).unwrap();
    /// futures::executor::block_on(async {
    ///     bucket.wait_n_async(2).await.unwrap();
    ///     assert!(matches!(bucket.wait_n_async(3).await, Err(WaitError::ExceedsBurst { .. })));
    /// });
    /// ```
    pub fn wait_n_async(&self, n: u32) -> Wait<'_> {
        Wait {
            bucket: self,
            n,
            max_wait: None,
            sleeper: self.clock(),
            phase: Phase::Start,
        }
    }

    /// The async twin of [`wait_n_timeout`](TokenBucket::wait_n_timeout): like
    /// [`wait_n_async`](TokenBucket::wait_n_async), but the first poll gives up at
    /// once, taking nothing, if the tokens would not be due within `timeout` of it
    /// (x/time's `WaitN` with a context deadline).
    ///
    /// # Errors
    ///
    /// Those of [`wait_n_async`](TokenBucket::wait_n_async), and
    /// [`WaitError::Timeout`] when the wait would exceed `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket, WaitError};
    /// use std::time::Duration;
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1), 1).unwrap();
    /// futures::executor::block_on(async {
    ///     let ms = Duration::from_millis(10);
    ///     bucket.wait_n_timeout_async(1, ms).await.unwrap(); // the burst
    ///     // The next token is a second away: refused at once, nothing taken.
    ///     assert_eq!(bucket.wait_n_timeout_async(1, ms).await, Err(WaitError::Timeout));
    /// });
    /// ```
    pub fn wait_n_timeout_async(&self, n: u32, timeout: Duration) -> Wait<'_> {
        Wait {
            bucket: self,
            n,
            max_wait: Some(timeout.as_nanos()),
            sleeper: self.clock(),
            phase: Phase::Start,
        }
    }

    /// The first poll of a [`Wait`]: `None` if the tokens were there and are taken,
    /// otherwise the held reservation to sleep on.
    fn reserve_for_wait(
        &self,
        n: u32,
        max_wait: Option<u128>,
    ) -> Result<Option<Reservation<'_>>, WaitError> {
        // The ready path: the tokens are there now, which is a reservation due now
        // (lock-free on a finite bucket's fast path; the infinite check otherwise).
        if self.allow_n(n) {
            return Ok(None);
        }
        let now = self.now_ns();
        let out = self.reserve_at(now, n, max_wait, true);
        let act = match out.result {
            Ok(act) => act,
            Err(Refusal::ExceedsBurst(burst)) => return Err(WaitError::ExceedsBurst { n, burst }),
            Err(_) if max_wait.is_some() && !out.limit.is_zero() => return Err(WaitError::Timeout),
            Err(_) => return Err(WaitError::Never),
        };
        let reservation = Reservation {
            bucket: self,
            ok: true,
            tokens: n,
            act,
            limit: out.limit,
            counted: out.counted,
        };
        // Due already (refilled since the `allow_n`): done; the drop keeps the tokens.
        Ok((act > now).then_some(reservation))
    }
}
