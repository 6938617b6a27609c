//! The [`RateLimiter`] trait: how long to wait before retrying an item.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
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
/// # Borrowed keys
///
/// [`forget_key`](RateLimiter::forget_key) and
/// [`num_requeues_key`](RateLimiter::num_requeues_key) take a borrowed form of the key
/// (`&str` for a `String` key) as a [`KeyRef`], the way `HashMap::get` takes `&Q where
/// K: Borrow<Q>`. A generic method would make the trait unusable as `dyn RateLimiter<K>`
/// (which [`MaxOf`](crate::MaxOf) holds), so the borrowed form comes as a trait object
/// that can hash itself into the limiter's hasher and compare itself with a stored key.
/// Their default implementations make an owned key and call
/// [`forget`](RateLimiter::forget) / [`num_requeues`](RateLimiter::num_requeues); every
/// limiter of this crate overrides them to look the borrowed form up without allocating.
/// [`when`](RateLimiter::when) stays keyed by `&K`: it may have to store the key.
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

    /// [`forget`](RateLimiter::forget) by a borrowed form of the key (see [Borrowed
    /// keys](RateLimiter#borrowed-keys)).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Borrowed, ExponentialLimiter, RateLimiter};
    /// use std::time::Duration;
    ///
    /// let limiter: ExponentialLimiter<String> =
    ///     ExponentialLimiter::new(Duration::from_millis(1), Duration::from_secs(1));
    /// limiter.when(&"ns/pod".to_string());
    /// assert_eq!(limiter.num_requeues_key(&Borrowed("ns/pod")), 1);
    /// limiter.forget_key(&Borrowed("ns/pod"));
    /// assert_eq!(limiter.num_requeues_key(&Borrowed("ns/pod")), 0);
    /// ```
    fn forget_key(&self, item: &dyn KeyRef<K>) {
        item.with_owned(&mut |k| self.forget(k));
    }

    /// [`num_requeues`](RateLimiter::num_requeues) by a borrowed form of the key (see
    /// [Borrowed keys](RateLimiter#borrowed-keys)).
    fn num_requeues_key(&self, item: &dyn KeyRef<K>) -> u32 {
        let mut n = 0;
        item.with_owned(&mut |k| n = self.num_requeues(k));
        n
    }
}

/// A borrowed form of a key of type `K`, as a trait object: what
/// [`RateLimiter::forget_key`] and [`RateLimiter::num_requeues_key`] take.
///
/// Implemented by [`Borrowed`]; a lookup through it hashes and compares exactly as a
/// lookup by the owned key would (the contract of [`Borrow`]).
pub trait KeyRef<K: ?Sized> {
    /// Feeds the borrowed form to `state`, as `Hash::hash` of the owned key would.
    fn hash_key(&self, state: &mut dyn Hasher);
    /// Whether the stored `key` is equal to this borrowed form.
    fn eq_key(&self, key: &K) -> bool;
    /// Calls `f` with an owned key equal to this borrowed form (made for the call).
    fn with_owned(&self, f: &mut dyn FnMut(&K));
}

/// A borrowed form `&Q` of a key `K: Borrow<Q>`, as a [`KeyRef<K>`]: `Borrowed("ns/pod")`
/// for a `String` key, `Borrowed(&key)` for the key type itself.
///
/// `Q::to_owned` must give a `K` (`str` to `String`, `[u8]` to `Vec<u8>`, any `Clone`
/// key to itself); it runs only in limiters that do not override the `_key` methods.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{Borrowed, FastSlowLimiter, RateLimiter};
/// use std::time::Duration;
///
/// let limiter: FastSlowLimiter<String> =
///     FastSlowLimiter::new(Duration::from_millis(5), Duration::from_secs(10), 3);
/// limiter.when(&"job".to_string());
/// assert_eq!(limiter.num_requeues_key(&Borrowed("job")), 1);
/// ```
#[derive(Clone, Copy)]
pub struct Borrowed<'a, Q: ?Sized>(pub &'a Q);

impl<K, Q> KeyRef<K> for Borrowed<'_, Q>
where
    K: Borrow<Q>,
    Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    #[inline]
    fn hash_key(&self, mut state: &mut dyn Hasher) {
        self.0.hash(&mut state);
    }

    #[inline]
    fn eq_key(&self, key: &K) -> bool {
        key.borrow() == self.0
    }

    fn with_owned(&self, f: &mut dyn FnMut(&K)) {
        f(&self.0.to_owned());
    }
}

impl<Q: ?Sized> fmt::Debug for Borrowed<'_, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Borrowed(..)")
    }
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
            #[inline]
            fn forget_key(&self, item: &dyn KeyRef<K>) {
                (**self).forget_key(item)
            }
            #[inline]
            fn num_requeues_key(&self, item: &dyn KeyRef<K>) -> u32 {
                (**self).num_requeues_key(item)
            }
        }
    )*};
}

forward_rate_limiter!(&L, Box<L>, Arc<L>);
