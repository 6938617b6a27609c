//! client-go's `DefaultControllerRateLimiter`.

use std::hash::Hash;
use std::time::Duration;

use gosync_core::clock::Clock;

use crate::{max_of, ExponentialLimiter, Limit, MaxOf, TokenBucket};

/// The limiter Kubernetes controllers use by default (client-go's
/// `DefaultControllerRateLimiter`): the maximum of a per-item exponential backoff from
/// 5 ms to 1000 s and an overall token bucket of 10 events/s with a burst of 100.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{default_controller_rate_limiter, RateLimiter};
/// use std::time::Duration;
///
/// let limiter = default_controller_rate_limiter::<String>();
/// let key = "ns/pod".to_string();
/// assert_eq!(limiter.when(&key), Duration::from_millis(5));
/// assert_eq!(limiter.when(&key), Duration::from_millis(10));
/// assert_eq!(limiter.num_requeues(&key), 2);
/// ```
pub fn default_controller_rate_limiter<K>() -> MaxOf<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    default_controller_rate_limiter_with_clock(Clock::real())
}

/// [`default_controller_rate_limiter`] with the token bucket on `clock`.
///
/// # Examples
///
/// ```
/// use gosync_core::clock::FakeClock;
/// use gosync_ratelimit::{default_controller_rate_limiter_with_clock, RateLimiter};
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let limiter = default_controller_rate_limiter_with_clock::<u32>(fake.clock());
/// for key in 0..100 {
///     assert_eq!(limiter.when(&key), Duration::from_millis(5)); // within the burst
/// }
/// assert_eq!(limiter.when(&100), Duration::from_millis(100)); // the bucket is empty
/// ```
pub fn default_controller_rate_limiter_with_clock<K>(clock: Clock) -> MaxOf<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    let bucket = TokenBucket::with_clock(Limit::per_second(10), 100, clock)
        .expect("a burst of 100 is valid");
    max_of(vec![
        Box::new(ExponentialLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        )),
        Box::new(bucket),
    ])
}
