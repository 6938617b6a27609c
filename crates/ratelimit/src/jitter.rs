//! [`Jitter`] modes and the [`Jittered`] limiter wrapper.

use std::fmt;
use std::time::Duration;

use crate::exponential::nanos_to_duration;
use crate::rng::SplitMix64;
use crate::{KeyRef, RateLimiter};

/// How a delay `d` is randomized (the AWS "Exponential Backoff and Jitter" variants),
/// so that many clients failing together do not retry together.
///
/// Bounds, in exact nanoseconds:
///
/// * `None`: exactly `d`.
/// * `Full`: uniform in `[0, d]`.
/// * `Equal`: `d - d/2` plus uniform in `[0, d/2]` (integer halves), so in
///   `[⌈d/2⌉, d]`: at least half the delay is kept.
///
/// Jitter never lengthens a delay, so a cap on the un-jittered delay is also a cap on
/// the jittered one.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::Jitter;
/// use std::time::Duration;
///
/// let d = Duration::from_millis(100);
/// assert_eq!(Jitter::None.apply(d, 12345), d);
/// assert!(Jitter::Full.apply(d, 12345) <= d);
/// let e = Jitter::Equal.apply(d, 12345);
/// assert!(e >= d / 2 && e <= d);
/// assert_eq!(Jitter::Full.apply(d, u64::MAX), d); // the largest random value keeps d
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// No randomization.
    #[default]
    None,
    /// Uniform in `[0, d]`.
    Full,
    /// Uniform in `[⌈d/2⌉, d]`.
    Equal,
}

/// `⌊x · r / 2⁶⁴⌋` for `x < 2⁹⁶`: an exact scaling of `x` by `r / 2⁶⁴ ∈ [0, 1)`.
#[inline]
fn scale(x: u128, r: u64) -> u128 {
    let (hi, lo) = (x >> 64, x as u64 as u128);
    hi * u128::from(r) + ((lo * u128::from(r)) >> 64)
}

impl Jitter {
    /// Applies this jitter to `d`, using `random` as the random input (uniform over all
    /// `u64` values gives the uniform distributions above).
    pub fn apply(self, d: Duration, random: u64) -> Duration {
        let ns = d.as_nanos();
        let out = match self {
            Jitter::None => ns,
            // (ns + 1) · r / 2⁶⁴ ranges over [0, ns].
            Jitter::Full => scale(ns + 1, random),
            Jitter::Equal => {
                let half = ns / 2;
                ns - half + scale(half + 1, random)
            }
        };
        nanos_to_duration(out)
    }
}

/// A limiter whose delays are randomized by a [`Jitter`], from a seedable generator.
///
/// The failure counting is the inner limiter's; only the returned delay changes.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{ExponentialLimiter, Jitter, Jittered, RateLimiter};
/// use std::time::Duration;
///
/// let base = ExponentialLimiter::new(Duration::from_millis(10), Duration::from_secs(1));
/// let limiter = Jittered::with_seed(base, Jitter::Equal, 42);
/// let d = limiter.when(&"k");
/// assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(10));
/// let d = limiter.when(&"k");
/// assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
/// ```
pub struct Jittered<L> {
    inner: L,
    jitter: Jitter,
    rng: SplitMix64,
}

impl<L> Jittered<L> {
    /// Wraps `inner`, seeding the generator from process randomness.
    pub fn new(inner: L, jitter: Jitter) -> Jittered<L> {
        Jittered {
            inner,
            jitter,
            rng: SplitMix64::from_entropy(),
        }
    }

    /// Wraps `inner` with a fixed seed: the same sequence of calls gets the same delays.
    pub fn with_seed(inner: L, jitter: Jitter, seed: u64) -> Jittered<L> {
        Jittered {
            inner,
            jitter,
            rng: SplitMix64::from_seed(seed),
        }
    }

    /// The wrapped limiter.
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

impl<K: ?Sized, L: RateLimiter<K>> RateLimiter<K> for Jittered<L> {
    #[inline]
    fn when(&self, item: &K) -> Duration {
        let d = self.inner.when(item);
        self.jitter.apply(d, self.rng.next_u64())
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

impl<L> fmt::Debug for Jittered<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jittered")
            .field("jitter", &self.jitter)
            .field("rng_state", &self.rng.state())
            .finish_non_exhaustive()
    }
}
