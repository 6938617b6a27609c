//! The [`RateLimiter`] trait: how long to wait before retrying an item.

use std::sync::Arc;
use std::time::Duration;

/// Decides how long a failing item waits before its next retry (client-go's
/// `workqueue.TypedRateLimiter`).
///
/// A work queue calls [`when`](RateLimiter::when) each time processing `item` fails and
/// re-adds the item after the returned delay; it calls [`forget`](RateLimiter::forget)
/// once the item succeeds (or is given up on), so its failure history is dropped.
///
/// The trait is object safe (`Box<dyn RateLimiter<K>>` is itself a `RateLimiter<K>`), and
/// every limiter is `Send + Sync`: all methods take `&self` and may be called from many
/// threads at once. Keys are passed by reference, so asking never clones a key; the
/// per-item limiters clone a key only when they first record it.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{ExponentialLimiter, RateLimiter};
/// use std::time::Duration;
///
/// let limiter = ExponentialLimiter::new(Duration::from_millis(1), Duration::from_secs(1));
/// let delays: Vec<_> = (0..4).map(|_| limiter.when(&"pod-a")).collect();
/// assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_millis));
/// assert_eq!(limiter.num_requeues(&"pod-a"), 4);
/// limiter.forget(&"pod-a");
/// assert_eq!(limiter.when(&"pod-a"), Duration::from_millis(1));
/// ```
pub trait RateLimiter<K: ?Sized>: Send + Sync {
    /// Records one failure of `item` and returns how long to wait before retrying it.
    fn when(&self, item: &K) -> Duration;
    /// Stops tracking `item` (its failures are forgotten).
    fn forget(&self, item: &K);
    /// How many failures of `item` have been recorded since it was last forgotten.
    fn num_requeues(&self, item: &K) -> u32;
}

/// Forwards the trait through a pointer type (`&L`, `Box<L>`, `Arc<L>`), so shared and
/// boxed limiters (`Box<dyn RateLimiter<K>>`) are limiters too.
macro_rules! forward_rate_limiter {
    ($($ptr:ty),*) => {$(
        impl<K: ?Sized, L: RateLimiter<K> + ?Sized> RateLimiter<K> for $ptr {
            #[inline]
            fn when(&self, item: &K) -> Duration {
                (**self).when(item)
            }
            #[inline]
            fn forget(&self, item: &K) {
                (**self).forget(item)
            }
            #[inline]
            fn num_requeues(&self, item: &K) -> u32 {
                (**self).num_requeues(item)
            }
        }
    )*};
}

forward_rate_limiter!(&L, Box<L>, Arc<L>);
