//! [`FastSlowLimiter`]: a fast delay for the first attempts, then a slow one (client-go's
//! `ItemFastSlowRateLimiter`).

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use crate::failure_map::{FailureMap, FailureMapBounds};
use crate::{KeyRef, RateLimiter};

/// Waits `fast` for an item's first `max_fast_attempts` failures and `slow` after that.
///
/// With `max_fast_attempts == 0` every failure waits `slow`. The failure count saturates
/// at `u32::MAX`. [`forget`](RateLimiter::forget) resets the item.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{FastSlowLimiter, RateLimiter};
/// use std::time::Duration;
///
/// let limiter = FastSlowLimiter::new(Duration::from_millis(5), Duration::from_secs(10), 3);
/// let delays: Vec<_> = (0..5).map(|_| limiter.when(&1u32).as_millis()).collect();
/// assert_eq!(delays, [5, 5, 5, 10_000, 10_000]);
/// ```
pub struct FastSlowLimiter<K> {
    failures: FailureMap<K>,
    fast: Duration,
    slow: Duration,
    max_fast_attempts: u32,
}

impl<K: Hash + Eq + Clone> FastSlowLimiter<K> {
    /// A limiter that waits `fast` for the first `max_fast_attempts` failures of an item,
    /// then `slow` (client-go's `NewItemFastSlowRateLimiter`).
    pub fn new(fast: Duration, slow: Duration, max_fast_attempts: u32) -> FastSlowLimiter<K> {
        FastSlowLimiter::with_bounds(fast, slow, max_fast_attempts, FailureMapBounds::new())
    }

    /// Like [`new`](FastSlowLimiter::new), with a bound on the keys remembered.
    pub fn with_bounds(
        fast: Duration,
        slow: Duration,
        max_fast_attempts: u32,
        bounds: FailureMapBounds,
    ) -> FastSlowLimiter<K> {
        FastSlowLimiter {
            failures: FailureMap::new(bounds),
            fast,
            slow,
            max_fast_attempts,
        }
    }
}

impl<K: Hash + Eq + Clone + Send + Sync> RateLimiter<K> for FastSlowLimiter<K> {
    #[inline]
    fn when(&self, item: &K) -> Duration {
        let failures = self.failures.record(item).saturating_add(1);
        if failures <= self.max_fast_attempts {
            self.fast
        } else {
            self.slow
        }
    }

    #[inline]
    fn forget(&self, item: &K) {
        self.failures.forget(item)
    }

    #[inline]
    fn num_requeues(&self, item: &K) -> u32 {
        self.failures.failures(item)
    }

    #[inline]
    fn forget_key(&self, item: &dyn KeyRef<K>) {
        self.failures.forget_ref(item)
    }

    #[inline]
    fn num_requeues_key(&self, item: &dyn KeyRef<K>) -> u32 {
        self.failures.failures_ref(item)
    }
}

impl<K> fmt::Debug for FastSlowLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastSlowLimiter")
            .field("fast", &self.fast)
            .field("slow", &self.slow)
            .field("max_fast_attempts", &self.max_fast_attempts)
            .field("failures", &self.failures)
            .finish()
    }
}
