//! [`MaxOf`]: the longest wait of several limiters (client-go's `MaxOfRateLimiter`).

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::{KeyRef, RateLimiter};

/// Combines limiters: every member records each failure, and the longest wait wins.
///
/// [`when`](RateLimiter::when) calls `when` on every member (so each records the failure)
/// and returns the largest delay; [`num_requeues`](RateLimiter::num_requeues) is the
/// largest of the members'; [`forget`](RateLimiter::forget) reaches every member. With
/// no members, `when` returns zero and `num_requeues` 0.
///
/// # Panics
///
/// If a member panics, the remaining members are still called, and the first panic is
/// then resumed: a failure is recorded, and an item forgotten, by every member that does
/// not panic itself, so no member is left with a stale backoff because another one
/// panicked. No lock is held while the members run.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{max_of, ExponentialLimiter, FastSlowLimiter, RateLimiter};
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let limiter = max_of(vec![
///     Box::new(ExponentialLimiter::new(ms(1), ms(1000))),
///     Box::new(FastSlowLimiter::new(ms(3), ms(50), 2)),
/// ]);
/// let delays: Vec<_> = (0..4).map(|_| limiter.when(&"x")).collect();
/// assert_eq!(delays, [ms(3), ms(3), ms(50), ms(50)]);
/// ```
pub struct MaxOf<K: ?Sized> {
    limiters: Vec<Box<dyn RateLimiter<K>>>,
}

/// The limiter whose delay is the maximum of `limiters`' (client-go's
/// `NewMaxOfRateLimiter`); see [`MaxOf`].
pub fn max_of<K: ?Sized>(limiters: Vec<Box<dyn RateLimiter<K>>>) -> MaxOf<K> {
    MaxOf { limiters }
}

impl<K: ?Sized> MaxOf<K> {
    /// A `MaxOf` over `limiters`; the same as [`max_of`].
    pub fn new(limiters: Vec<Box<dyn RateLimiter<K>>>) -> MaxOf<K> {
        MaxOf { limiters }
    }

    /// Adds one more member.
    pub fn push(&mut self, limiter: Box<dyn RateLimiter<K>>) {
        self.limiters.push(limiter);
    }

    /// The members.
    pub fn limiters(&self) -> &[Box<dyn RateLimiter<K>>] {
        &self.limiters
    }
}

impl<K: ?Sized> MaxOf<K> {
    /// Calls `f` on every member, even after one of them panics; then resumes the first
    /// panic, if any.
    #[inline]
    fn each(&self, mut f: impl FnMut(&dyn RateLimiter<K>)) {
        let mut first_panic = None;
        for l in &self.limiters {
            // AssertUnwindSafe: `f` writes what it captures only after the member
            // returns, so a panic tears nothing, and the panic still reaches the caller.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(&**l))) {
                first_panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = first_panic {
            panic::resume_unwind(payload);
        }
    }
}

impl<K: ?Sized> RateLimiter<K> for MaxOf<K> {
    fn when(&self, item: &K) -> Duration {
        let mut max = Duration::ZERO;
        self.each(|l| max = max.max(l.when(item)));
        max
    }

    fn forget(&self, item: &K) {
        self.each(|l| l.forget(item));
    }

    fn num_requeues(&self, item: &K) -> u32 {
        let mut max = 0;
        self.each(|l| max = max.max(l.num_requeues(item)));
        max
    }

    fn forget_key(&self, item: &dyn KeyRef<K>) {
        self.each(|l| l.forget_key(item));
    }

    fn num_requeues_key(&self, item: &dyn KeyRef<K>) -> u32 {
        let mut max = 0;
        self.each(|l| max = max.max(l.num_requeues_key(item)));
        max
    }
}

impl<K: ?Sized> fmt::Debug for MaxOf<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxOf")
            .field("limiters", &self.limiters.len())
            .finish()
    }
}
