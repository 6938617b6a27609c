//! [`ExponentialLimiter`]: per-item exponential backoff (client-go's
//! `ItemExponentialFailureRateLimiter`).

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use crate::failure_map::{FailureMap, FailureMapBounds};
use crate::{KeyRef, RateLimiter};

/// Per-item exponential backoff: the `n`-th failure of an item (counting from 0) waits
/// `min(base · 2ⁿ, max)`.
///
/// The delay is computed in exact integer nanoseconds: a 1 ms base gives exactly 1, 2,
/// 4, 8, 16 ms, and no base, maximum or failure count can overflow (the product
/// saturates at `max`). A zero `base` always waits zero; a `base` above `max` always
/// waits `max`. [`forget`](RateLimiter::forget) resets the item.
///
/// Failures are counted per key in a sharded map, so threads working on different keys
/// rarely contend; see [`FailureMapBounds`] to bound its size.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{ExponentialLimiter, RateLimiter};
/// use std::time::Duration;
///
/// let limiter = ExponentialLimiter::new(Duration::from_millis(5), Duration::from_millis(30));
/// let delays: Vec<_> = (0..5).map(|_| limiter.when(&"key").as_millis()).collect();
/// assert_eq!(delays, [5, 10, 20, 30, 30]);
/// ```
pub struct ExponentialLimiter<K> {
    failures: FailureMap<K>,
    base: Duration,
    max: Duration,
}

impl<K: Hash + Eq + Clone> ExponentialLimiter<K> {
    /// A limiter whose delays start at `base` and double up to `max`, remembering every
    /// key until it is forgotten (client-go's `NewItemExponentialFailureRateLimiter`).
    pub fn new(base: Duration, max: Duration) -> ExponentialLimiter<K> {
        ExponentialLimiter::with_bounds(base, max, FailureMapBounds::new())
    }

    /// Like [`new`](ExponentialLimiter::new), with a bound on the keys remembered.
    pub fn with_bounds(
        base: Duration,
        max: Duration,
        bounds: FailureMapBounds,
    ) -> ExponentialLimiter<K> {
        ExponentialLimiter {
            failures: FailureMap::new(bounds),
            base,
            max,
        }
    }
}

impl<K> ExponentialLimiter<K> {
    /// The configured base delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The configured maximum delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay after `failures` earlier failures: `min(base · 2^failures, max)`,
    /// exactly, without recording anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::ExponentialLimiter;
    /// use std::time::Duration;
    ///
    /// let l = ExponentialLimiter::<u32>::new(Duration::from_nanos(3), Duration::MAX);
    /// assert_eq!(l.delay_for(10), Duration::from_nanos(3 * 1024));
    /// assert_eq!(l.delay_for(u32::MAX), Duration::MAX);
    /// ```
    pub fn delay_for(&self, failures: u32) -> Duration {
        exponential_delay(self.base, self.max, failures)
    }
}

/// `min(base · 2^exp, max)` in exact integer nanoseconds, saturating at `max`.
pub(crate) fn exponential_delay(base: Duration, max: Duration, exp: u32) -> Duration {
    let base_ns = base.as_nanos();
    if base_ns == 0 {
        return Duration::ZERO;
    }
    let max_ns = max.as_nanos();
    // Shifting by less than the leading zeros is exact; otherwise the product is at
    // least 2^127, far above any Duration (< 2^95 ns), so it saturates.
    let ns = if exp < base_ns.leading_zeros() {
        base_ns << exp
    } else {
        u128::MAX
    };
    nanos_to_duration(ns.min(max_ns))
}

/// A nanosecond count known to fit in a `Duration` (at most `Duration::MAX`).
pub(crate) fn nanos_to_duration(ns: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(ns / NANOS_PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (ns % NANOS_PER_SEC) as u32)
}

impl<K: Hash + Eq + Clone + Send + Sync> RateLimiter<K> for ExponentialLimiter<K> {
    #[inline]
    fn when(&self, item: &K) -> Duration {
        let exp = self.failures.record(item);
        exponential_delay(self.base, self.max, exp)
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

impl<K> fmt::Debug for ExponentialLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExponentialLimiter")
            .field("base", &self.base)
            .field("max", &self.max)
            .field("failures", &self.failures)
            .finish()
    }
}
