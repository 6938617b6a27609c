//! The per-thread lease of `take` + `put` (see `lease.rs`): the slot a `take` moved an
//! object out of stays busy for the thread's next `put`, which fills it with one store.
//! Every test pins its threads to one CPU, so all of them use the same shard.
#![cfg(not(loom))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::LazyLock;

use common::{allowed_cpus, pin_to, Census, Tracked};
use gosync_pool::Pool;

/// The first CPU this process may use: every thread of a test pins there.
fn cpu() -> usize {
    allowed_cpus().first().copied().unwrap_or(0)
}

/// One slot per CPU and no burst store: where a returned object lands is visible.
fn tiny() -> Pool<Vec<u8>> {
    pin_to(cpu());
    Pool::builder(Vec::new)
        .per_cpu_capacity(1)
        .burst_capacity(0)
        .build()
}

/// A `put` from another thread (pinned to the same CPU): it can use the shard's only
/// slot unless that slot is leased (busy), in which case its object is dropped.
fn put_from_another_thread(pool: &Pool<Vec<u8>>) {
    let cpu = cpu();
    std::thread::scope(|s| {
        s.spawn(move || {
            pin_to(cpu);
            pool.put(vec![9]);
        });
    });
}

#[test]
fn take_then_put_gives_the_object_back_through_the_leased_slot() {
    let pool = tiny();
    pool.put(vec![1]);
    let v = pool.take();
    assert_eq!(v, [1]);
    // Leased: the slot is busy, so another thread's object finds no room.
    put_from_another_thread(&pool);
    assert_eq!((pool.stats().idle, pool.stats().dropped), (0, 1));
    pool.put(v);
    assert_eq!(pool.stats().idle, 1);
    assert_eq!(pool.take(), [1]);
}

#[test]
fn a_second_take_frees_the_unresolved_lease_and_stops_leasing() {
    let pool = tiny();
    pool.put(vec![1]);
    let a = pool.take(); // leases the slot
    let b = pool.take(); // frees it (a is not back): nothing idle, so a new object
    assert_eq!((a, b.len()), (vec![1], 0));
    assert_eq!(pool.stats().created, 1);
    // The slot is free again: another thread's object lands there.
    put_from_another_thread(&pool);
    assert_eq!((pool.stats().idle, pool.stats().dropped), (1, 0));
    // Declined: this thread's next take does not lease, so the slot stays free for
    // others after it.
    assert_eq!(pool.take(), [9]);
    put_from_another_thread(&pool);
    assert_eq!(pool.stats().idle, 1);
    // A put from this thread lifts the decline: the next take leases again.
    pool.put(vec![2]); // no room (slot full): dropped
    let c = pool.take();
    assert_eq!(c, [9]);
    put_from_another_thread(&pool);
    assert_eq!(pool.stats().idle, 0, "the slot is leased again");
    pool.put(c);
    assert_eq!(pool.stats().idle, 1);
}

#[test]
fn a_reset_panic_on_a_leased_put_drops_the_object_and_frees_the_slot() {
    pin_to(cpu());
    let census = Census::new();
    let pool = Pool::builder({
        let census = std::sync::Arc::clone(&census);
        move || Tracked::new(&census)
    })
    .reset(|t: &mut Tracked| {
        if t.id == 0 {
            panic!("reset refuses object 0");
        }
    })
    .per_cpu_capacity(1)
    .burst_capacity(0)
    .build();
    let first = pool.take(); // built (id 0): nothing idle, no lease
    pool.put(Tracked::new(&census)); // id 1: into the slot
    let leased = pool.take(); // id 1, leasing the slot
    assert_eq!(leased.id, 1);
    let r = catch_unwind(AssertUnwindSafe(|| pool.put(first)));
    assert!(r.is_err(), "the reset hook panicked");
    assert_eq!(pool.stats().dropped, 1);
    assert_eq!(
        census.live(),
        1,
        "object 0 was dropped during the unwinding"
    );
    // The lease went with the panic, and the slot is free: object 1 lands there.
    pool.put(leased);
    assert_eq!(pool.stats().idle, 1);
    drop(pool);
    assert_eq!(census.live(), 0);
}

static REENTRANT: LazyLock<Pool<Vec<u8>>> = LazyLock::new(|| {
    Pool::builder(Vec::new)
        .reset(|v: &mut Vec<u8>| {
            static ONCE: AtomicBool = AtomicBool::new(false);
            if v.first() == Some(&7) && !ONCE.swap(true, SeqCst) {
                // A put from inside the hook, on the same pool and thread: it must not
                // see the outer put's lease.
                REENTRANT.put(vec![8]);
            }
            v.clear();
        })
        .per_cpu_capacity(2)
        .burst_capacity(0)
        .build()
});

#[test]
fn a_put_from_the_reset_hook_does_not_use_the_outer_lease() {
    pin_to(cpu());
    let pool = &*REENTRANT;
    pool.put(vec![1]);
    let v = pool.take(); // leases slot 0 (the object was cleared by the hook)
    assert!(v.is_empty());
    pool.put(vec![7]); // reset puts [8] into slot 1, then [7] (cleared) fills slot 0
    let s = pool.stats();
    assert_eq!((s.idle, s.dropped), (2, 0));
    drop(v);
}

#[test]
fn dropping_the_pool_clears_this_threads_lease() {
    let old = tiny();
    old.put(vec![1]);
    let v = old.take(); // leases a slot of `old`, never resolved
    drop(old);
    drop(v);
    // This thread leases on a new pool at once.
    let pool = tiny();
    pool.put(vec![2]);
    let w = pool.take();
    put_from_another_thread(&pool);
    assert_eq!(pool.stats().dropped, 1, "the new pool's slot is leased");
    pool.put(w);
}

/// Lease invariant 4, documented: a thread that exits between `take` and `put` leaves
/// its leased slot busy (and empty) for the rest of the pool's life.
#[test]
fn a_thread_that_exits_holding_a_lease_leaves_its_slot_busy() {
    let pool = tiny();
    pool.put(vec![1]);
    let cpu = cpu();
    let v = std::thread::scope(|s| {
        s.spawn(|| {
            pin_to(cpu);
            pool.take()
        })
        .join()
        .unwrap()
    });
    assert_eq!(v, [1]);
    pool.put(v); // this thread holds no lease: the slot is busy, so the object is dropped
    assert_eq!((pool.stats().idle, pool.stats().dropped), (0, 1));
}
