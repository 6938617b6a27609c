//! The per-thread lease that makes [`Pool::take`](crate::Pool::take) +
//! [`Pool::put`](crate::Pool::put) one compare-exchange per pair instead of two.
//!
//! `take` claims a FULL slot (FULL → BUSY, the compare-exchange) and moves the object
//! out. Normally it then frees the slot (a store of EMPTY) and `put` claims an EMPTY slot
//! again (EMPTY → BUSY, a second compare-exchange). With a lease, `take` keeps the slot
//! BUSY and records it here, in the thread's lease; the thread's next `put` to the same
//! pool moves the object straight back into that slot and marks it FULL with one store,
//! with no compare-exchange and no CPU-id read. While leased the slot is BUSY, as under
//! a [`PoolGuard`](crate::PoolGuard): every other thread (and trim) skips it, and only
//! the leasing thread touches it, so the slot protocol is unchanged.
//!
//! # Invariants
//!
//! 1. A thread holds at most one lease, on one pool, named by the pool's process-unique
//!    id (never reused, so a lease on a dropped pool is never mistaken for another's).
//! 2. The lease is taken out of the thread's record *before* any user code (the reset
//!    hook) runs on its object, so a reentrant call on the same pool sees no lease.
//! 3. A lease is resolved by the thread's next `take` or `put` on the same pool: a `put`
//!    fills the slot; a `take` (the thread did not give the last object back itself)
//!    frees it, and the thread stops leasing on that pool (it *declines*) until it puts
//!    an object back, so threads that hand objects off to others do not keep slots BUSY.
//! 4. A lease that is never resolved (the thread exits, or never calls `take`/`put` on
//!    that pool again, between a `take` and its `put`) keeps its slot BUSY until the pool
//!    is dropped: one slot of one CPU's shard per such thread, never an object (the
//!    slot is empty). A thread leases only on the pool it first took from while the
//!    lease is unresolved (takes from other pools meanwhile use the plain protocol);
//!    dropping that pool on the same thread clears the lease.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A fresh pool id, never 0 (0 means "no lease"). A process-wide counter, not part of
/// the slot protocol, so a std atomic under loom too.
pub(crate) fn new_pool_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // Relaxed: only uniqueness matters, which the RMW gives.
    NEXT.fetch_add(1, Relaxed)
}

/// The thread's lease: the pool's id (0: none) and the slot's index in its slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) pool: u64,
    pub(crate) slot: usize,
}

impl Lease {
    const NONE: Lease = Lease { pool: 0, slot: 0 };
}

#[cfg(not(loom))]
std::thread_local! {
    static HELD: Cell<Lease> = const { Cell::new(Lease::NONE) };
    /// The pool this thread does not lease on (see the invariants, 3); 0: none.
    static DECLINED: Cell<u64> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static HELD: Cell<Lease> = Cell::new(Lease::NONE);
    static DECLINED: Cell<u64> = Cell::new(0);
}

/// The thread's lease, if any (none while thread-local storage is being torn down).
#[inline]
pub(crate) fn held() -> Lease {
    #[cfg(not(loom))]
    return HELD.try_with(Cell::get).unwrap_or(Lease::NONE);
    #[cfg(loom)]
    return HELD.with(Cell::get);
}

/// Records a lease (the caller checked that none is held).
#[inline]
pub(crate) fn hold(lease: Lease) {
    #[cfg(not(loom))]
    let _ = HELD.try_with(|h| h.set(lease));
    #[cfg(loom)]
    HELD.with(|h| h.set(lease));
}

/// Forgets the thread's lease (the caller resolves it).
#[inline]
pub(crate) fn release() {
    hold(Lease::NONE);
}

/// Whether the thread declined leasing on pool `id`.
#[inline]
pub(crate) fn declined(id: u64) -> bool {
    #[cfg(not(loom))]
    return DECLINED.try_with(|d| d.get() == id).unwrap_or(true);
    #[cfg(loom)]
    return DECLINED.with(|d| d.get() == id);
}

/// Sets (`true`) or clears the thread's decline of pool `id`.
#[inline]
pub(crate) fn decline(id: u64, declined: bool) {
    let set = |d: &Cell<u64>| {
        if declined {
            d.set(id);
        } else if d.get() == id {
            d.set(0);
        }
    };
    #[cfg(not(loom))]
    let _ = DECLINED.try_with(set);
    #[cfg(loom)]
    DECLINED.with(set);
}
