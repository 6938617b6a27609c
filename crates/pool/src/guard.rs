//! `PoolGuard`: an object checked out of a [`Pool`], given back on drop.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use crate::Pool;

/// An object checked out of a [`Pool`] by [`Pool::get`]; dereferences to it and gives it
/// back to the pool when dropped.
///
/// The object goes back to the shard it came from, so a `get` + drop pair on one CPU
/// reads the CPU id once. The guard is `Send` when `T` is: dropping it on another thread
/// is fine (the object lands in the original CPU's shard, which any thread may use).
///
/// # Panics
///
/// Dropping the guard runs the pool's reset hook; see [`Builder::reset`](crate::Builder::reset).
///
/// # Examples
///
/// ```
/// use gosync_pool::{Pool, PoolGuard};
///
/// let pool = Pool::new(|| vec![0u8; 16]);
/// let mut buf: PoolGuard<'_, Vec<u8>, _> = pool.get();
/// buf[0] = 1;
/// let kept: Vec<u8> = PoolGuard::into_inner(buf); // detached: not given back
/// assert_eq!(kept[0], 1);
/// assert_eq!(pool.stats().idle, 0);
/// ```
#[must_use = "dropping the guard at once gives the object straight back to the pool"]
pub struct PoolGuard<'a, T, F: Fn() -> T = fn() -> T> {
    pool: &'a Pool<T, F>,
    value: ManuallyDrop<T>,
    shard: usize,
}

impl<'a, T, F: Fn() -> T> PoolGuard<'a, T, F> {
    #[inline]
    pub(crate) fn new(pool: &'a Pool<T, F>, value: T, shard: usize) -> Self {
        PoolGuard {
            pool,
            value: ManuallyDrop::new(value),
            shard,
        }
    }

    /// Detaches the object from the pool: it is the caller's and will not be given back
    /// (an associated function, so it does not shadow a method of `T`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::{Pool, PoolGuard};
    ///
    /// let pool = Pool::new(String::new);
    /// let s: String = PoolGuard::into_inner(pool.get());
    /// # drop(s);
    /// ```
    #[inline]
    #[must_use = "the detached object is dropped at once if not used"]
    pub fn into_inner(this: Self) -> T {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never dropped (ManuallyDrop), so the value is taken exactly
        // once, here, and the guard's `Drop` never sees it.
        unsafe { ManuallyDrop::take(&mut this.value) }
    }

    /// The pool the object came from.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::{Pool, PoolGuard};
    ///
    /// let pool = Pool::new(|| 0);
    /// let g = pool.get();
    /// assert!(std::ptr::eq(PoolGuard::pool(&g), &pool));
    /// ```
    #[inline]
    pub fn pool(this: &Self) -> &'a Pool<T, F> {
        this.pool
    }
}

impl<T, F: Fn() -> T> Deref for PoolGuard<'_, T, F> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T, F: Fn() -> T> DerefMut for PoolGuard<'_, T, F> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T, F: Fn() -> T> Drop for PoolGuard<'_, T, F> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `into_inner` (the only other taker) forgets the
        // guard, so the value is still here and is taken exactly once.
        let value = unsafe { ManuallyDrop::take(&mut self.value) };
        self.pool.put_at(self.shard, value);
    }
}

impl<T, F: Fn() -> T> fmt::Debug for PoolGuard<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolGuard")
            .field("shard", &self.shard)
            .field("pool", self.pool)
            .finish_non_exhaustive()
    }
}
