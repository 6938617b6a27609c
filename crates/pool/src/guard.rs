//! `PoolGuard` and `OwnedPoolGuard`: an object checked out of a [`Pool`], given back on
//! drop.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::slot::Slot;
use crate::Pool;

/// What a guard holds: the claim on a slot of its pool (the object lives in the slot,
/// BUSY), or the object itself (every slot of the CPU was busy).
///
/// The two guards share it; each guard keeps its pool alive (a borrow or an `Arc`), and
/// so the slot a `Slot` variant points into (the pool's slots are one boxed slice that
/// never moves).
enum Held<T> {
    Slot(NonNull<Slot<T>>),
    Owned {
        value: ManuallyDrop<T>,
        shard: usize,
    },
}

impl<T> Held<T> {
    #[inline]
    fn slot(slot: &Slot<T>) -> Held<T> {
        Held::Slot(NonNull::from(slot))
    }

    #[inline]
    fn owned(value: T, shard: usize) -> Held<T> {
        Held::Owned {
            value: ManuallyDrop::new(value),
            shard,
        }
    }

    /// # Safety
    ///
    /// The guard holding `self` is alive (so is its pool, and the slot's claim), and the
    /// object was not taken out ([`take`](Held::take) or [`give_back`](Held::give_back)).
    #[inline]
    unsafe fn get(&self) -> &T {
        match self {
            // SAFETY: the guard holds the claim on the slot (caller), so the object is
            // initialized and nobody else touches it while this borrow lives.
            Held::Slot(slot) => unsafe { &*slot.as_ref().value_ptr() },
            Held::Owned { value, .. } => value,
        }
    }

    /// # Safety
    ///
    /// As [`get`](Held::get); `&mut self` makes the borrow unique.
    #[inline]
    unsafe fn get_mut(&mut self) -> &mut T {
        match self {
            // SAFETY: as in `get`, and the guard's `&mut` borrow makes this one unique.
            Held::Slot(slot) => unsafe { &mut *slot.as_ref().value_ptr() },
            Held::Owned { value, .. } => value,
        }
    }

    /// Moves the object out, detached from the pool.
    ///
    /// # Safety
    ///
    /// As [`get`](Held::get); called at most once, and the guard is then forgotten.
    #[inline]
    unsafe fn take(&mut self) -> T {
        match self {
            // SAFETY: the guard holds the claim on the slot and never releases it again
            // (the caller forgets the guard).
            Held::Slot(slot) => unsafe { slot.as_ref().release_take() },
            // SAFETY: taken exactly once (caller), and the guard is never dropped.
            Held::Owned { value, .. } => unsafe { ManuallyDrop::take(value) },
        }
    }

    /// Gives the object back to `pool`, its pool.
    ///
    /// # Safety
    ///
    /// As [`take`](Held::take), from the guard's `Drop`.
    #[inline]
    unsafe fn give_back(&mut self, pool: &Pool<T>) {
        match self {
            // SAFETY: the slot is `pool`'s and the guard holds its claim (caller).
            Held::Slot(slot) => pool.release_slot(unsafe { slot.as_ref() }),
            Held::Owned { value, shard } => {
                // SAFETY: taken exactly once (caller).
                let value = unsafe { ManuallyDrop::take(value) };
                pool.put_back_owned(*shard, value);
            }
        }
    }
}

/// An object checked out of a [`Pool`] by [`Pool::get`]; dereferences to it and gives it
/// back to the pool when dropped. [`OwnedPoolGuard`] is the same for an `Arc<Pool>`,
/// without the borrow.
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
/// holds its object itself, dropping it when the pool keeps no more, or the automatic
/// trim after.
///
/// # Examples
///
/// ```
/// use gosync_pool::{Pool, PoolGuard};
///
/// let pool = Pool::new(|| vec![0u8; 16]);
/// let mut buf: PoolGuard<'_, Vec<u8>> = pool.get();
/// buf[0] = 1;
/// let kept: Vec<u8> = PoolGuard::into_inner(buf); // detached: not given back
/// assert_eq!(kept[0], 1);
/// assert_eq!(pool.stats().idle, 0);
/// ```
#[must_use = "dropping the guard at once gives the object straight back to the pool"]
pub struct PoolGuard<'a, T> {
    pool: &'a Pool<T>,
    held: Held<T>,
    /// The slot pointer borrows from `pool` for `'a`.
    _slot: PhantomData<&'a Slot<T>>,
}

// SAFETY: the guard owns the object (or the claim on the slot holding it) and its pool is
// `Sync` when `T: Send`; moving the guard moves only that ownership, as a `Box<T>` would.
unsafe impl<T: Send> Send for PoolGuard<'_, T> {}
// SAFETY: `&PoolGuard` hands out `&T` and `&Pool<T>` (which is `Sync` when `T: Send`).
unsafe impl<T: Sync + Send> Sync for PoolGuard<'_, T> {}

impl<'a, T> PoolGuard<'a, T> {
    /// A guard for the object claimed in place in `slot`, a slot of `pool`.
    #[inline]
    pub(crate) fn in_slot(pool: &'a Pool<T>, slot: &'a Slot<T>) -> Self {
        PoolGuard {
            pool,
            held: Held::slot(slot),
            _slot: PhantomData,
        }
    }

    /// A guard holding `value`, to be returned to `shard`.
    #[inline]
    pub(crate) fn owned(pool: &'a Pool<T>, value: T, shard: usize) -> Self {
        PoolGuard {
            pool,
            held: Held::owned(value, shard),
            _slot: PhantomData,
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
        // SAFETY: the guard is alive and is never dropped (`ManuallyDrop`).
        unsafe { this.held.take() }
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
    pub fn pool(this: &Self) -> &'a Pool<T> {
        this.pool
    }
}

impl<T> Deref for PoolGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard is alive and still holds the object.
        unsafe { self.held.get() }
    }
}

impl<T> DerefMut for PoolGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`.
        unsafe { self.held.get_mut() }
    }
}

impl<T> Drop for PoolGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `into_inner` (the only other taker) forgets the
        // guard; the slot and shard are `self.pool`'s.
        unsafe { self.held.give_back(self.pool) }
    }
}

impl<T> fmt::Debug for PoolGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolGuard")
            .field("in_slot", &matches!(self.held, Held::Slot(_)))
            .field("pool", self.pool)
            .finish_non_exhaustive()
    }
}

/// [`PoolGuard`] for a pool in an [`Arc`]: made by [`Pool::get_owned`], it holds a clone
/// of the `Arc` instead of a borrow, so it is `'static` and can move into
/// `std::thread::spawn` or an async task. The object is checked out and given back
/// exactly as with a `PoolGuard` (in place when a slot of the CPU is free), at the cost
/// of the `Arc` clone and drop.
///
/// # Examples
///
/// ```
/// use gosync_pool::{OwnedPoolGuard, Pool};
/// use std::sync::Arc;
///
/// let pool = Arc::new(Pool::new(|| Vec::<u8>::with_capacity(1024)));
/// let mut buf: OwnedPoolGuard<Vec<u8>> = pool.get_owned();
/// let worker = std::thread::spawn(move || {
///     buf.extend_from_slice(b"filled on another thread");
///     buf.len()
/// }); // `buf` goes back to the pool when the thread drops it
/// assert_eq!(worker.join().unwrap(), 24);
/// assert_eq!(pool.stats().idle, 1);
/// ```
#[must_use = "dropping the guard at once gives the object straight back to the pool"]
pub struct OwnedPoolGuard<T> {
    pool: Arc<Pool<T>>,
    held: Held<T>,
}

// SAFETY: as for `PoolGuard`; the `Arc<Pool<T>>` is `Send` and `Sync` when `T: Send`.
unsafe impl<T: Send> Send for OwnedPoolGuard<T> {}
// SAFETY: `&OwnedPoolGuard` hands out `&T` and `&Arc<Pool<T>>`.
unsafe impl<T: Sync + Send> Sync for OwnedPoolGuard<T> {}

impl<T> OwnedPoolGuard<T> {
    /// Turns a borrowed guard of `pool` into an owned one.
    #[inline]
    pub(crate) fn from_guard(pool: &Arc<Pool<T>>, guard: PoolGuard<'_, T>) -> Self {
        debug_assert!(std::ptr::eq(guard.pool, &**pool));
        let guard = ManuallyDrop::new(guard);
        // SAFETY: moved out of a guard that is never dropped; the slot pointer stays valid
        // while the new guard's `Arc` keeps the pool alive.
        let held = unsafe { std::ptr::read(&guard.held) };
        OwnedPoolGuard {
            pool: Arc::clone(pool),
            held,
        }
    }

    /// Detaches the object from the pool, as [`PoolGuard::into_inner`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::{OwnedPoolGuard, Pool};
    /// use std::sync::Arc;
    ///
    /// let pool = Arc::new(Pool::new(String::new));
    /// let s: String = OwnedPoolGuard::into_inner(pool.get_owned());
    /// # drop(s);
    /// ```
    #[inline]
    #[must_use = "the detached object is dropped at once if not used"]
    pub fn into_inner(this: Self) -> T {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: the guard is alive and is never dropped (`ManuallyDrop`).
        let value = unsafe { this.held.take() };
        // SAFETY: the `Arc` is dropped exactly once, here (the guard is never dropped).
        drop(unsafe { std::ptr::read(&this.pool) });
        value
    }

    /// The pool the object came from.
    #[inline]
    pub fn pool(this: &Self) -> &Arc<Pool<T>> {
        &this.pool
    }
}

impl<T> Deref for OwnedPoolGuard<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard is alive and still holds the object.
        unsafe { self.held.get() }
    }
}

impl<T> DerefMut for OwnedPoolGuard<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`.
        unsafe { self.held.get_mut() }
    }
}

impl<T> Drop for OwnedPoolGuard<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `into_inner` forgets the guard; the slot and
        // shard are `self.pool`'s, alive through the `Arc`.
        unsafe { self.held.give_back(&self.pool) }
    }
}

impl<T> fmt::Debug for OwnedPoolGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPoolGuard")
            .field("in_slot", &matches!(self.held, Held::Slot(_)))
            .field("pool", &*self.pool)
            .finish_non_exhaustive()
    }
}
