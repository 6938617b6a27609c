//! `Slot`: one place in a shard that holds at most one idle object.
//!
//! # Protocol
//!
//! A slot's `state` is one word:
//!
//! * `EMPTY` (0): no object; `value` is uninitialized.
//! * `BUSY` (2): one thread has claimed the slot and is moving an object in or out; no
//!   other thread touches `value`.
//! * odd, `(generation << 1) | 1`: FULL, `value` holds an object put while the pool's
//!   trim generation was `generation` (the victim rule compares it with the current one).
//!
//! Every transition out of EMPTY or FULL is a compare-exchange to BUSY, so exactly one
//! thread owns `value` at a time whatever CPU it runs on (a thread that migrated between
//! reading its CPU id and touching the slot is just one more contender). The owner ends
//! with a Release store of EMPTY or FULL. No thread ever waits on a BUSY slot: it moves
//! on to the next slot, so the pool never blocks.
//!
//! A [`PoolGuard`](crate::PoolGuard) may keep a slot BUSY for as long as it lives: it
//! *claims* the object in place (FULL → BUSY, or EMPTY → BUSY to build one there), the
//! user works on it through a pointer into `value`, and the guard *releases* it with the
//! Release store of FULL (returned) or EMPTY (moved out). That makes a `get` + drop pair
//! one compare-exchange and one store, with no move of `T`.

use std::mem::MaybeUninit;

use gosync_core::sync::atomic::{AtomicUsize, Ordering::*};
use gosync_core::sync::UnsafeCell;

const EMPTY: usize = 0;
const BUSY: usize = 2;

/// Generations are compared modulo this many bits (63 on 64-bit targets).
const GEN_MASK: usize = usize::MAX >> 1;

/// A FULL state's stamp.
#[inline]
fn full(generation: usize) -> usize {
    (generation << 1) | 1
}

/// How many trims have started since an object stamped with `stamp` (a FULL state) was
/// put, with `current` the trim generation now.
#[inline]
fn age(stamp: usize, current: usize) -> usize {
    current.wrapping_sub(stamp >> 1) & GEN_MASK
}

/// Whether an object stamped with `stamp` has been idle through an earlier trim, seen by
/// the trim of generation `current`. A stamp *newer* than `current` (a later trim started
/// and the object was returned after it, while this trim was still scanning) wraps to a
/// huge age: it is fresh, not expired, so ages in the upper half of the range count as 0.
#[inline]
fn expired(stamp: usize, current: usize) -> bool {
    (2..=GEN_MASK / 2).contains(&age(stamp, current))
}

/// Whether an object stored (outside the slots) at trim generation `generation` has
/// been idle through an earlier trim, seen by the trim of generation `current`: the
/// slots' victim rule, for the burst store.
#[inline]
pub(crate) fn generation_expired(generation: usize, current: usize) -> bool {
    expired(full(generation), current)
}

/// Padded to 128 bytes (crossbeam's `CachePadded` choice on x86_64: the adjacent-line
/// prefetcher pairs 64-byte lines), so threads on different CPUs never share a line.
#[repr(align(128))]
pub(crate) struct Slot<T> {
    state: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: a slot moves `T` values between threads (needs `T: Send`) but never lets two
// threads touch one at the same time: `value` is accessed only by the thread that moved
// `state` to BUSY (see the protocol above), so `T: Sync` is not needed.
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T> Slot<T> {
    pub(crate) fn new() -> Slot<T> {
        Slot {
            state: AtomicUsize::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Whether the slot holds an object (a Relaxed snapshot, for stats).
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.state.load(Relaxed) & 1 == 1
    }

    /// Takes the object if the slot holds one and no other thread has claimed it.
    #[inline]
    pub(crate) fn try_take(&self) -> Option<T> {
        let s = self.state.load(Relaxed);
        if s & 1 == 0 {
            return None;
        }
        self.take_claimed(s)
    }

    /// Takes the object if it has survived at least two trims (the victim rule), with
    /// `current` the generation of the trim now running.
    #[inline]
    pub(crate) fn try_take_expired(&self, current: usize) -> Option<T> {
        let s = self.state.load(Relaxed);
        if s & 1 == 0 || !expired(s, current) {
            return None;
        }
        self.take_claimed(s)
    }

    /// Takes the object if the slot holds one and no other thread has claimed it, and
    /// keeps the claim (the slot stays BUSY, empty): the caller owns `value` until it
    /// calls [`fill`](Slot::fill) or [`release_empty`](Slot::release_empty). The lease
    /// of [`Pool::take`](crate::Pool::take).
    #[inline]
    pub(crate) fn try_take_keep(&self) -> Option<T> {
        let s = self.state.load(Relaxed);
        // Acquire pairs with the Release stores of FULL (`try_put`, `release_full`,
        // `fill`): the object's bytes are visible here.
        if s & 1 == 0
            || self
                .state
                .compare_exchange(s, BUSY, Acquire, Relaxed)
                .is_err()
        {
            return None;
        }
        // SAFETY: the state was FULL, so `value` is initialized, and our CAS to BUSY makes
        // us its only user; the claim stays with the caller, who never reads it again.
        Some(self.value.with(|p| unsafe { move_out(p) }))
    }

    /// Frees a claimed, empty slot (BUSY → EMPTY).
    ///
    /// # Safety
    ///
    /// The caller claimed the slot and moved its object out (or never put one in), and
    /// has not released it yet.
    #[inline]
    pub(crate) unsafe fn release_empty(&self) {
        // A use of `value` that loom can see: the owner's move out happened before.
        self.value.with_mut(|_| ());
        // Release pairs with the Acquire CAS of the next writer (`try_put`,
        // `try_claim_empty`): our move out happens before its write.
        self.state.store(EMPTY, Release);
    }

    /// Moves `v` into a claimed, empty slot, which stays claimed (BUSY): the caller then
    /// owns the object in place as after [`try_claim`](Slot::try_claim).
    ///
    /// # Safety
    ///
    /// As for [`release_empty`](Slot::release_empty).
    #[inline]
    pub(crate) unsafe fn fill_claimed(&self, v: T) {
        // SAFETY: per the contract we own the empty `value`: nothing is overwritten.
        self.value.with_mut(|p| unsafe { move_in(p, v) });
    }

    #[inline]
    fn take_claimed(&self, seen: usize) -> Option<T> {
        // Acquire pairs with the Release store of FULL in `try_put`: the object's bytes
        // written there are visible here.
        if self
            .state
            .compare_exchange(seen, BUSY, Acquire, Relaxed)
            .is_err()
        {
            return None;
        }
        // SAFETY: the state was FULL, so `value` is initialized, and our CAS to BUSY makes
        // us its only user; we move it out and mark the slot EMPTY below.
        let v = self.value.with(|p| unsafe { move_out(p) });
        // Release pairs with the Acquire CAS in `try_put`: our read of `value` happens
        // before the next writer's write.
        self.state.store(EMPTY, Release);
        Some(v)
    }

    /// Claims the idle object in place (FULL → BUSY); the caller then owns `value` until
    /// it calls [`release_full`](Slot::release_full) or [`release_take`](Slot::release_take).
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        let s = self.state.load(Relaxed);
        // Acquire pairs with the Release stores of FULL (`try_put`, `release_full`): the
        // object's last writes are visible to the claimer.
        if s & 1 == 0
            || self
                .state
                .compare_exchange(s, BUSY, Acquire, Relaxed)
                .is_err()
        {
            return false;
        }
        // A read of `value` that loom can see, ordered after the previous owner's writes.
        self.value.with(|_| ());
        true
    }

    /// Claims an empty slot (EMPTY → BUSY) and moves `v` into it; hands `v` back if the
    /// slot is not empty. On success the caller owns `value` as after `try_claim`.
    #[inline]
    pub(crate) fn try_claim_empty(&self, v: T) -> Result<(), T> {
        // Acquire pairs with the Release store of EMPTY (`take_claimed`, `release_take`):
        // the last owner's move out happens before our write.
        if self.state.load(Relaxed) != EMPTY
            || self
                .state
                .compare_exchange(EMPTY, BUSY, Acquire, Relaxed)
                .is_err()
        {
            return Err(v);
        }
        // SAFETY: EMPTY → BUSY by our CAS: we are the only user and nothing is overwritten.
        self.value.with_mut(|p| unsafe { (*p).write(v) });
        Ok(())
    }

    /// A pointer to the object, for the thread that claimed the slot.
    #[inline]
    pub(crate) fn value_ptr(&self) -> *mut T {
        self.value.with_mut(|p| p.cast::<T>())
    }

    /// Gives the claimed object back (BUSY → FULL), stamped with `generation`.
    ///
    /// # Safety
    ///
    /// The caller claimed the slot (`try_claim` or `try_claim_empty`), has not released
    /// it yet, and `value` holds an initialized object.
    #[inline]
    pub(crate) unsafe fn release_full(&self, generation: usize) {
        // A write of `value` that loom can see: the owner's last use of the object.
        self.value.with_mut(|_| ());
        // Release pairs with the Acquire CAS of the next claimer or taker.
        self.state.store(full(generation), Release);
    }

    /// Moves the claimed object out and frees the slot (BUSY → EMPTY).
    ///
    /// # Safety
    ///
    /// As for [`release_full`](Slot::release_full).
    #[inline]
    pub(crate) unsafe fn release_take(&self) -> T {
        // SAFETY: per the contract, we own the initialized `value`; after the read, the
        // slot is marked EMPTY so nobody reads it again.
        let v = self.value.with(|p| unsafe { (*p).assume_init_read() });
        // Release pairs with the Acquire CAS of the next writer (`try_put`,
        // `try_claim_empty`): our read happens before its write.
        self.state.store(EMPTY, Release);
        v
    }

    /// Stores `v`, stamped with trim generation `generation`, if the slot is empty;
    /// otherwise hands `v` back.
    #[inline]
    pub(crate) fn try_put(&self, v: T, generation: usize) -> Result<(), T> {
        if self.state.load(Relaxed) != EMPTY {
            return Err(v);
        }
        // Acquire pairs with the Release store of EMPTY in `take_claimed`: the last
        // reader's move out of `value` happens before our write.
        if self
            .state
            .compare_exchange(EMPTY, BUSY, Acquire, Relaxed)
            .is_err()
        {
            return Err(v);
        }
        // SAFETY: the state was EMPTY and our CAS to BUSY makes us the only user of
        // `value`, which holds no object (nothing is overwritten without a drop).
        self.value.with_mut(|p| unsafe { move_in(p, v) });
        // Release pairs with the Acquire CAS in `take_claimed`: the object is visible to
        // whoever takes it.
        self.state.store(full(generation), Release);
        Ok(())
    }
}

/// Whether `T` moves in and out of a slot word by word (see [`move_out`]).
const fn by_words<T>() -> bool {
    let size = std::mem::size_of::<T>();
    size % 8 == 0 && std::mem::align_of::<T>() >= 8 && size > 8 && size <= 64
}

/// Moves the object out of `p` (`take`'s read).
///
/// A small object of whole 8-byte words (a `Vec` or `String` is three) is read one word
/// at a time, with volatile reads the compiler cannot merge: the `put` that wrote it
/// (usually on this thread, nanoseconds earlier) wrote it with [`move_in`] word by
/// word, and each read then forwards from one store. A plain copy reads 16 bytes at
/// once across two 8-byte stores, which stalls store-to-load forwarding: about 5 ns of
/// a `take` + `put` pair on the Xeon of issue 22.
///
/// # Safety
///
/// `p` holds an initialized object that the caller owns (the slot is BUSY by its
/// claim) and gives up: the bytes are not read again.
#[inline(always)]
unsafe fn move_out<T>(p: *const MaybeUninit<T>) -> T {
    if !by_words::<T>() {
        // SAFETY: per the contract.
        return unsafe { (*p).assume_init_read() };
    }
    let mut out = MaybeUninit::<T>::uninit();
    let src = p.cast::<MaybeUninit<u64>>();
    let dst = out.as_mut_ptr().cast::<MaybeUninit<u64>>();
    for i in 0..std::mem::size_of::<T>() / 8 {
        // SAFETY: both are valid for `size_of::<T>()` bytes and 8-aligned (`by_words`);
        // `MaybeUninit<u64>` copies any bytes (padding too) with their provenance.
        unsafe { dst.add(i).write(src.add(i).read_volatile()) };
    }
    // SAFETY: a bytewise copy of the initialized object, now moved.
    unsafe { out.assume_init() }
}

/// Moves `v` into `p` (`put`'s write), word by word for the objects [`move_out`] reads
/// that way.
///
/// # Safety
///
/// The caller owns `p` (the slot is BUSY by its claim) and it holds no object (nothing
/// is overwritten without a drop).
#[inline(always)]
unsafe fn move_in<T>(p: *mut MaybeUninit<T>, v: T) {
    if !by_words::<T>() {
        // SAFETY: per the contract.
        unsafe { (*p).write(v) };
        return;
    }
    let v = MaybeUninit::new(v);
    let src = v.as_ptr().cast::<MaybeUninit<u64>>();
    let dst = p.cast::<MaybeUninit<u64>>();
    for i in 0..std::mem::size_of::<T>() / 8 {
        // SAFETY: as in `move_out`; `v` is moved by this copy (never dropped here).
        unsafe { dst.add(i).write_volatile(src.add(i).read()) };
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can hold the slot, so the state is EMPTY, FULL, or
        // BUSY with no object (a lease that was never resolved; see `lease`).
        if self.state.load(Relaxed) & 1 == 1 {
            // SAFETY: FULL means `value` is initialized, and `&mut self` means nobody else
            // can reach it; it is dropped exactly once, here.
            self.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn age_wraps() {
        assert_eq!(age(full(5), 5), 0);
        assert_eq!(age(full(5), 7), 2);
        assert_eq!(age(full(GEN_MASK), 1), 2);
    }

    #[test]
    fn expiry_follows_the_victim_rule_and_ignores_newer_stamps() {
        assert!(!expired(full(5), 5));
        assert!(!expired(full(5), 6));
        assert!(expired(full(5), 7));
        assert!(expired(full(GEN_MASK), 1));
        // Returned after a later trim started (stamp 6) while the trim of generation 5
        // is still scanning: fresh, not 2^63 - 1 trims old.
        assert!(!expired(full(6), 5));
        assert!(!expired(full(7), 5));
        let s = Slot::new();
        s.try_put(1u8, 6).unwrap();
        assert!(s.try_take_expired(5).is_none());
        assert_eq!(s.try_take_expired(8), Some(1));
    }

    #[test]
    fn put_take_and_drop() {
        let s = Slot::new();
        assert!(s.try_take().is_none());
        s.try_put(String::from("a"), 0).unwrap();
        assert!(s.is_full());
        assert_eq!(s.try_put(String::from("b"), 0).unwrap_err(), "b");
        assert!(s.try_take_expired(1).is_none());
        assert_eq!(s.try_take_expired(2).as_deref(), Some("a"));
        s.try_put(String::from("c"), 0).unwrap();
        drop(s); // drops "c"
    }
}
