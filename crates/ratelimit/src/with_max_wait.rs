//! [`WithMaxWait`]: caps another limiter's delay (client-go's `WithMaxWaitRateLimiter`).

use std::fmt;
use std::time::Duration;

use crate::{KeyRef, RateLimiter};

/// Caps the delay of another limiter at `max`; failures are still recorded by it.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{with_max_wait, ExponentialLimiter, RateLimiter};
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let limiter = with_max_wait(ExponentialLimiter::new(ms(10), ms(10_000)), ms(25));
/// let delays: Vec<_> = (0..4).map(|_| limiter.when(&0)).collect();
/// assert_eq!(delays, [ms(10), ms(20), ms(25), ms(25)]);
/// assert_eq!(limiter.num_requeues(&0), 4);
/// ```
pub struct WithMaxWait<L> {
    inner: L,
    max: Duration,
}

/// `limiter` with its delays capped at `max` (client-go's
/// `NewWithMaxWaitRateLimiter`).
pub fn with_max_wait<L>(limiter: L, max: Duration) -> WithMaxWait<L> {
    WithMaxWait {
        inner: limiter,
        max,
    }
}

impl<L> WithMaxWait<L> {
    /// The wrapped limiter.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }
}

impl<K: ?Sized, L: RateLimiter<K>> RateLimiter<K> for WithMaxWait<L> {
    #[inline]
    fn when(&self, item: &K) -> Duration {
        self.inner.when(item).min(self.max)
    }
    #[inline]
    fn forget(&self, item: &K) {
        self.inner.forget(item)
    }
    #[inline]
    fn num_requeues(&self, item: &K) -> u32 {
        self.inner.num_requeues(item)
    }

    fn forget_key(&self, item: &dyn KeyRef<K>) {
        self.inner.forget_key(item)
    }

    fn num_requeues_key(&self, item: &dyn KeyRef<K>) -> u32 {
        self.inner.num_requeues_key(item)
    }
}

impl<L> fmt::Debug for WithMaxWait<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithMaxWait")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}
