//! `PoolGuard`: an object checked out of a [`Pool`], given back on drop.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use crate::slot::Slot;
use crate::Pool;

/// An object checked out of a [`Pool`] by [`Pool::get`]; dereferences to it and gives it
/// back to the pool when dropped.
///
/// Usually the object stays *in place* in a slot of the current CPU's shard while it is
/// checked out (the slot is marked busy), so a `get` + drop pair is one compare-exchange
/// and one store, moves no `T`, and reads the CPU id once. If every slot of the CPU is
/// busy, the guard holds the object itself and returns it like [`Pool::put`] on drop.
/// The guard is `Send` when `T` is: dropping it on another thread is fine (the object
/// goes back to the slot or shard it came from, which any thread may use).
///
/// # Panics
///
/// Dropping the guard returns the object as [`Pool::put`] does, with the same panics:
/// the reset hook ([`Builder::reset`](crate::Builder::reset)), and, for a guard that
/// holds its object itself, dropping it into a full shard or the automatic trim after.
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
    held: Held<'a, T>,
}

enum Held<'a, T> {
    /// Checked out in place: the guard holds the claim on this slot of the pool (BUSY),
    /// and the object lives in it.
    Slot(&'a Slot<T>),
    /// Held by the guard (every slot of the CPU was busy); returned with `put`.
    Owned {
        value: ManuallyDrop<T>,
        shard: usize,
    },
}

impl<'a, T, F: Fn() -> T> PoolGuard<'a, T, F> {
    /// A guard for the object claimed in place in `slot`.
    #[inline]
    pub(crate) fn in_slot(pool: &'a Pool<T, F>, slot: &'a Slot<T>) -> Self {
        PoolGuard {
            pool,
            held: Held::Slot(slot),
        }
    }

    /// A guard holding `value`, to be returned to `shard`.
    #[inline]
    pub(crate) fn owned(pool: &'a Pool<T, F>, value: T, shard: usize) -> Self {
        PoolGuard {
            pool,
            held: Held::Owned {
                value: ManuallyDrop::new(value),
                shard,
            },
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
        match &mut this.held {
            // SAFETY: the guard holds the claim on the slot and never releases it again
            // (`this` is not dropped).
            Held::Slot(slot) => unsafe { slot.release_take() },
            // SAFETY: `this` is never dropped, so the value is taken exactly once, here.
            Held::Owned { value, .. } => unsafe { ManuallyDrop::take(value) },
        }
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
        match &self.held {
            // SAFETY: the guard holds the claim on the slot, so the object is initialized
            // and nobody else touches it while this borrow of the guard lives.
            Held::Slot(slot) => unsafe { &*slot.value_ptr() },
            Held::Owned { value, .. } => value,
        }
    }
}

impl<T, F: Fn() -> T> DerefMut for PoolGuard<'_, T, F> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.held {
            // SAFETY: as in `deref`; `&mut self` makes this borrow unique.
            Held::Slot(slot) => unsafe { &mut *slot.value_ptr() },
            Held::Owned { value, .. } => value,
        }
    }
}

impl<T, F: Fn() -> T> Drop for PoolGuard<'_, T, F> {
    #[inline]
    fn drop(&mut self) {
        match &mut self.held {
            Held::Slot(slot) => self.pool.release_slot(slot),
            Held::Owned { value, shard } => {
                // SAFETY: `drop` runs once and `into_inner` (the only other taker)
                // forgets the guard, so the value is still here and taken exactly once.
                let value = unsafe { ManuallyDrop::take(value) };
                self.pool.put_at(*shard, value);
            }
        }
    }
}

impl<T, F: Fn() -> T> fmt::Debug for PoolGuard<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolGuard")
            .field("in_slot", &matches!(self.held, Held::Slot(_)))
            .field("pool", self.pool)
            .finish_non_exhaustive()
    }
}
