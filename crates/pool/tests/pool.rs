//! Pool behaviour, with Go's `sync/pool_test.go` as the checklist, plus the Rust extras
//! (guard, reset hook, bounds, trimming, panic safety).
#![cfg(not(loom))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::Duration;

use common::{allowed_cpus, pin_to, pin_to_one_cpu, Census, Tracked};
use gosync_core::clock::FakeClock;
use gosync_pool::{Pool, PoolGuard, PoolStats, DEFAULT_CAPACITY, MAX_CAPACITY};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn pool_and_guard_are_send_and_sync() {
    assert_send_sync::<Pool<Vec<u8>>>();
    assert_send_sync::<gosync_pool::OwnedPoolGuard<String>>();
    assert_send_sync::<PoolGuard<'static, Vec<u8>>>();
}

/// Go's `TestPool`: Put "a" and "b", Get returns "a" (private) then "b" (shared), then
/// the pool is empty (here: the constructor runs).
#[test]
fn get_after_put_returns_the_object_on_the_same_cpu() {
    pin_to_one_cpu();
    let pool = Pool::new(|| "new");
    pool.put("a");
    pool.put("b");
    assert_eq!(pool.take(), "a");
    assert_eq!(pool.take(), "b");
    assert_eq!(pool.take(), "new");
    assert_eq!(pool.stats().created, 1);
}

/// Go's `TestPoolNew`: the constructor runs on every miss and never on a hit.
#[test]
fn a_new_pool_calls_the_constructor() {
    pin_to_one_cpu();
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new({
        let calls = Arc::clone(&calls);
        move || calls.fetch_add(1, SeqCst) + 1
    });
    assert_eq!(pool.take(), 1);
    assert_eq!(pool.take(), 2);
    pool.put(42);
    assert_eq!(pool.take(), 42);
    assert_eq!(pool.take(), 3);
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(pool.stats().created, 3);
}

/// Go's `TestPool` GC part: objects survive one GC (they move to the victim cache) and
/// are gone after the second.
#[test]
fn trimming_twice_drops_idle_objects() {
    pin_to_one_cpu();
    let census = Census::new();
    let pool = Pool::new({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    });
    let (a, b) = (pool.take(), pool.take());
    pool.put(a);
    pool.put(b);
    pool.trim();
    assert_eq!(pool.stats().idle, 2, "one trim keeps the victims");
    assert_eq!(census.live(), 2);
    // Reusing an object after the first trim rejuvenates it.
    let reused = pool.take();
    pool.put(reused);
    pool.trim();
    assert_eq!(pool.stats().idle, 1, "the victim not reused is dropped");
    pool.trim();
    assert_eq!(pool.stats().idle, 0);
    assert_eq!(census.live(), 0);
    assert_eq!(pool.stats().dropped, 2);
    assert_eq!(pool.stats().trims, 3);
}

/// `put; trim; get` reuses, `put; trim; trim; get` constructs (the documented rule).
#[test]
fn victim_objects_are_still_handed_out() {
    let pool = Pool::new(|| 0);
    pool.put(7);
    pool.trim();
    assert_eq!(pool.take(), 7);
    pool.put(8);
    pool.trim();
    pool.trim();
    assert_eq!(pool.take(), 0);
}

#[test]
fn guard_returns_the_object_and_into_inner_detaches_it() {
    pin_to_one_cpu();
    let pool = Pool::new(Vec::<u8>::new);
    {
        let mut g = pool.get();
        g.extend_from_slice(b"abc");
    }
    assert_eq!(pool.stats().idle, 1);
    let g = pool.get();
    assert_eq!(&g[..], b"abc", "no reset hook: contents kept");
    let v = PoolGuard::into_inner(g);
    assert_eq!(pool.stats().idle, 0);
    assert_eq!(pool.stats().live(), 1);
    pool.put(v);
    assert_eq!(pool.stats().live(), 0);
}

/// Two threads pinned to two different CPUs each get and return objects: each must use
/// its own CPU's shard (the CPU id is read right: rseq, or `sched_getcpu`), so neither
/// ever finds the other's object busy in its shard and has to steal or construct.
#[test]
fn threads_on_different_cpus_use_their_own_shards() {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("fewer than 2 CPUs available: skipped");
        return;
    }
    eprintln!("CPU id source: {}", gosync_pool::cpu_id_source());
    // One slot per CPU: two threads sharing a shard could not both keep their object.
    let pool = Pool::builder(|| 0u64).per_cpu_capacity(1).build();
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        for &cpu in &cpus[..2] {
            let (pool, start) = (&pool, &start);
            s.spawn(move || {
                pin_to(cpu);
                // Both hold an object at once: each constructs one in its own shard
                // (the other's is busy, so there is nothing to steal).
                let first = pool.get();
                start.wait();
                drop(first);
                start.wait();
                for _ in 0..if cfg!(miri) { 200 } else { 100_000 } {
                    *pool.get() += 1;
                }
            });
        }
    });
    let s = pool.stats();
    assert_eq!(
        (s.created, s.stolen, s.dropped, s.idle),
        (2, 0, 0, 2),
        "{s:?}"
    );
}

#[test]
fn guard_dropped_on_another_thread_returns_the_object() {
    let census = Census::new();
    let pool = Pool::new({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    });
    let g = pool.get();
    let id = g.id;
    std::thread::scope(|s| {
        s.spawn(move || drop(g));
    });
    assert_eq!(pool.stats().idle, 1);
    assert_eq!(pool.get().id, id, "stolen back from whichever shard");
    assert!(pool.stats().stolen <= 1);
    assert_eq!(census.live(), 1);
}

#[test]
fn reset_hook_runs_on_every_return() {
    let pool = Pool::builder(|| vec![0u8; 4]).reset(|v| v.fill(0)).build();
    pool.get()[0] = 9;
    assert_eq!(*pool.get(), [0; 4]);
    let mut v = pool.take();
    v[1] = 5;
    pool.put(v);
    assert_eq!(*pool.get(), [0; 4]);
}

#[test]
fn capacity_bounds_the_idle_objects() {
    let census = Census::new();
    let pool = Pool::builder({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    })
    .per_cpu_capacity(2)
    .burst_capacity(3)
    .build();
    let held: Vec<_> = (0..100).map(|_| pool.take()).collect();
    for t in held {
        pool.put(t);
    }
    let s = pool.stats();
    assert!(s.idle <= (2 + 3) * s.shards, "{s:?}");
    assert!(s.burst <= 3 * s.shards, "{s:?}");
    assert_eq!(s.idle + s.dropped, 100);
    assert_eq!(census.live(), s.idle);
    assert_eq!(s.capacity, 2);
}

#[test]
fn default_capacity_and_bad_capacity() {
    assert_eq!(Pool::new(|| 0).stats().capacity, DEFAULT_CAPACITY);
    let r = catch_unwind(|| Pool::builder(|| 0).per_cpu_capacity(0));
    assert!(r.is_err());
    let r = catch_unwind(|| Pool::builder(|| 0).per_cpu_capacity(MAX_CAPACITY + 1));
    assert!(r.is_err());
    let max = Pool::builder(|| 0).per_cpu_capacity(MAX_CAPACITY).build();
    assert_eq!(max.stats().capacity, MAX_CAPACITY);
    let r = catch_unwind(|| Pool::builder(|| 0).auto_trim(Duration::ZERO));
    assert!(r.is_err());
}

#[test]
fn dropping_the_pool_drops_idle_objects_once() {
    let census = Census::new();
    let pool = Pool::new({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    });
    let kept = pool.take();
    drop((pool.get(), pool.get()));
    assert_eq!(census.live(), 3);
    drop(pool);
    assert_eq!(census.live(), 1);
    drop(kept);
    assert_eq!(census.live(), 0);
}

/// A forgotten guard leaks its object and keeps its slot busy for good: safe, and the
/// pool works on with its other slots (and never drops the leaked object).
#[test]
fn forgetting_a_guard_leaks_only_its_object() {
    // The leaked object holds an `Arc` of the census, which is therefore leaked too.
    // Rooted in a static, the census stays reachable, so Miri's leak check (which skips
    // memory reachable from statics) does not report the leak this test makes on purpose.
    static CENSUS: LazyLock<Arc<Census>> = LazyLock::new(Census::new);
    pin_to_one_cpu();
    let census: &Arc<Census> = &CENSUS;
    let pool = Pool::builder({
        let census = Arc::clone(census);
        move || Tracked::new(&census)
    })
    .per_cpu_capacity(2)
    .build();
    std::mem::forget(pool.get());
    for _ in 0..10 {
        drop(pool.get());
    }
    pool.trim();
    pool.trim();
    let s = pool.stats();
    assert_eq!((s.created, s.idle, s.live()), (2, 0, 1), "{s:?}");
    drop(pool);
    assert_eq!(
        census.live(),
        1,
        "the forgotten object is leaked, not dropped"
    );
}

#[test]
fn zero_sized_types_work() {
    let pool = Pool::new(|| ());
    let guards: Vec<_> = (0..20).map(|_| pool.get()).collect();
    drop(guards);
    let s = pool.stats();
    assert_eq!(s.created, 20);
    assert_eq!(s.idle + s.dropped, 20);
    pool.trim();
    pool.trim();
    assert_eq!(pool.stats().idle, 0);
}

#[test]
fn constructor_panic_leaves_the_pool_consistent() {
    let fail = Arc::new(AtomicBool::new(true));
    let pool = Pool::new({
        let fail = Arc::clone(&fail);
        move || {
            if fail.load(SeqCst) {
                panic!("constructor failed");
            }
            5
        }
    });
    assert!(catch_unwind(AssertUnwindSafe(|| pool.take())).is_err());
    assert_eq!(pool.stats().created, 0);
    fail.store(false, SeqCst);
    assert_eq!(*pool.get(), 5);
    assert_eq!(pool.stats().created, 1);
}

#[test]
fn reset_panic_drops_the_object_once_and_frees_no_slot_twice() {
    let census = Census::new();
    let pool = Pool::builder({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    })
    .reset(|t| assert!(t.id % 2 == 0, "odd object"))
    .build();
    let (even, odd) = (pool.take(), pool.take());
    assert_eq!((even.id, odd.id), (0, 1));
    assert!(catch_unwind(AssertUnwindSafe(|| pool.put(odd))).is_err());
    assert_eq!(census.live(), 1, "the odd object was dropped, once");
    assert_eq!(pool.stats().dropped, 1);
    pool.put(even);
    let s = pool.stats();
    assert_eq!((s.idle, s.live()), (1, 0));
    // A guard whose reset panics: same outcome.
    let g0 = pool.get();
    let g2 = pool.get();
    let g3 = pool.get();
    assert_eq!((g0.id, g2.id, g3.id), (0, 2, 3));
    assert!(catch_unwind(AssertUnwindSafe(move || drop(g3))).is_err());
    drop((g0, g2));
    let s = pool.stats();
    assert_eq!((s.idle, s.dropped, s.live()), (2, 2, 0));
    assert_eq!(census.live(), 2);
}

#[test]
fn drop_panics_are_contained() {
    let census = Census::new();
    let pool = Pool::builder({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    })
    .per_cpu_capacity(1)
    .build();
    // Fill every shard's only slot, then give back one more that panics when dropped.
    let shards = pool.stats().shards;
    let held: Vec<_> = (0..shards * 2).map(|_| pool.take()).collect();
    for mut t in held {
        t.panic_on_drop = true;
        let _ = catch_unwind(AssertUnwindSafe(|| pool.put(t)));
    }
    let s = pool.stats();
    assert_eq!(s.idle + s.dropped, shards * 2);
    assert_eq!(census.live(), s.idle);
    // Trimming panicking objects: each trim call stops at the first panic, but every
    // object is dropped exactly once and the pool stays usable.
    for _ in 0..(4 * shards + 4) {
        let _ = catch_unwind(AssertUnwindSafe(|| pool.trim()));
    }
    let s = pool.stats();
    assert_eq!((s.idle, census.live()), (0, 0));
    assert_eq!(s.dropped, shards * 2);
    let mut t = pool.take();
    t.panic_on_drop = false;
    pool.put(t);
}

#[test]
fn pool_drop_with_panicking_objects_drops_the_rest() {
    let census = Census::new();
    let pool = Pool::new({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    });
    pin_to_one_cpu();
    let mut a = pool.take();
    let b = pool.take();
    a.panic_on_drop = true;
    pool.put(a);
    pool.put(b);
    assert!(catch_unwind(AssertUnwindSafe(move || drop(pool))).is_err());
    assert_eq!(census.live(), 0);
}

static STATIC_POOL: LazyLock<Pool<Vec<u8>>> = LazyLock::new(|| Pool::new(Vec::new));

#[test]
fn a_pool_in_a_static() {
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..100u8 {
                    let mut b = STATIC_POOL.get();
                    b.clear();
                    b.push(i);
                    assert_eq!(b[..], [i]);
                }
            });
        }
    });
    assert!(STATIC_POOL.stats().idle >= 1);
}

#[test]
fn auto_trim_follows_the_fake_clock() {
    pin_to_one_cpu();
    let fake = FakeClock::new();
    let census = Census::new();
    let pool = Pool::builder({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    })
    .per_cpu_capacity(1)
    .burst_capacity(0)
    .auto_trim(Duration::from_secs(10))
    .clock(fake.clock())
    .build();
    pool.put(Tracked::new(&census)); // idle in this CPU's slot
                                     // Not due: a full-shard return drops only the extra object.
    pool.put(Tracked::new(&census));
    assert_eq!(pool.stats().trims, 0);
    fake.advance(Duration::from_secs(10));
    pool.put(Tracked::new(&census)); // due: trims once (the idle object ages)
    assert_eq!(pool.stats().trims, 1);
    assert_eq!(pool.stats().idle, 1);
    pool.put(Tracked::new(&census)); // not due again yet
    assert_eq!(pool.stats().trims, 1);
    fake.advance(Duration::from_secs(10));
    pool.put(Tracked::new(&census)); // second trim: the idle object is dropped
    let s = pool.stats();
    assert_eq!((s.trims, s.idle), (2, 0));
    assert_eq!(census.live(), 0);
}

#[test]
fn stats_and_debug() {
    let pool = Pool::new(|| 1u8);
    let g = pool.get();
    let text = format!("{pool:?} {g:?}");
    assert!(text.contains("created: 1"), "{text}");
    assert!(text.contains("PoolGuard"), "{text}");
    drop(g);
    let s: PoolStats = pool.stats();
    assert_eq!((s.created, s.idle, s.dropped, s.live()), (1, 1, 0, 0));
    let b = Pool::builder(|| 1u8).per_cpu_capacity(3);
    assert!(format!("{b:?}").contains("capacity: 3"));
}

/// Go's `TestPoolStress` plus the Rust check: many threads get and return objects,
/// each object carries an in-use flag and a checksum, so an object handed to two users
/// at once, or corrupted, is caught; at the end nothing is lost or double-dropped.
/// Under Miri (scaled down) it is the pool's main data-race check, so it runs there.
#[test]
#[cfg_attr(not(miri), ignore = "stress: run in release by ci/test.sh")]
fn stress_no_object_is_handed_to_two_users() {
    struct Obj {
        in_use: AtomicBool,
        words: [u64; 16],
        _t: Tracked,
    }
    let census = Census::new();
    let c = Arc::clone(&census);
    let pool = Pool::builder(move || Obj {
        in_use: AtomicBool::new(false),
        words: [0; 16],
        _t: Tracked::new(&c),
    })
    .per_cpu_capacity(4)
    .build();
    let threads = if cfg!(miri) { 4 } else { 8 };
    let rounds = if cfg!(miri) { 300 } else { 1_000_000 };
    // Each thread trims every `trim_every` rounds (several times under Miri too).
    let trim_every = if cfg!(miri) { 50 } else { 1000 };
    std::thread::scope(|s| {
        for t in 0..threads {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..rounds as u64 {
                    if i % 2 == 1 {
                        // Checked out in place and given back by the guard.
                        let mut g = pool.get();
                        assert!(!g.in_use.swap(true, SeqCst), "object handed out twice");
                        let x = (t as u64) << 32 | i;
                        g.words.fill(x);
                        std::hint::black_box(&mut g.words);
                        assert!(g.words.iter().all(|&w| w == x), "object changed under us");
                        g.in_use.store(false, SeqCst);
                        continue;
                    }
                    let mut o = if i % 3 == 0 {
                        PoolGuard::into_inner(pool.get())
                    } else {
                        pool.take()
                    };
                    assert!(!o.in_use.swap(true, SeqCst), "object handed out twice");
                    let x = (t as u64) << 32 | i;
                    o.words.fill(x);
                    std::hint::black_box(&mut o.words);
                    assert!(o.words.iter().all(|&w| w == x), "object changed under us");
                    o.in_use.store(false, SeqCst);
                    if i % trim_every == trim_every - 2 {
                        pool.trim();
                    }
                    if i % 14 == 0 {
                        drop(o); // a detached object that never comes back
                    } else {
                        pool.put(o);
                    }
                }
            });
        }
    });
    let s = pool.stats();
    assert_eq!(census.live(), s.idle);
    assert!(s.idle <= 4 * s.shards);
    drop(pool);
    assert_eq!(census.live(), 0);
}

/// Guards crossing threads under load: every guard is dropped on a different thread
/// than the one that took it. Scaled down, it runs under Miri too.
#[test]
#[cfg_attr(not(miri), ignore = "stress: run in release by ci/test.sh")]
fn stress_guards_dropped_on_other_threads() {
    let census = Census::new();
    let pool = Arc::new(Pool::new({
        let census = Arc::clone(&census);
        move || Tracked::new(&census)
    }));
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PoolGuard<'_, Tracked>>(64);
        let p = &pool;
        s.spawn(move || {
            for _ in 0..if cfg!(miri) { 300 } else { 200_000 } {
                tx.send(p.get()).unwrap();
            }
        });
        s.spawn(move || {
            for g in rx {
                drop(g);
            }
        });
    });
    let s = pool.stats();
    assert_eq!(census.live(), s.idle);
    assert_eq!(s.live(), 0);
}

/// A guard held for a long time occupies its slot, but does not shrink what the pool
/// can keep: returns beyond the free slots go to the burst store.
#[test]
fn a_long_held_guard_does_not_shrink_what_the_pool_keeps() {
    pin_to_one_cpu();
    let pool = Pool::builder(|| vec![0u8; 64]).per_cpu_capacity(1).build();
    let held = pool.get(); // the CPU's only slot, busy from now on
    let extra: Vec<_> = (0..50).map(|_| pool.take()).collect();
    for v in extra {
        pool.put(v);
    }
    let s = pool.stats();
    assert_eq!((s.idle, s.burst, s.dropped), (50, 50, 0), "{s:?}");
    drop(held);
    assert_eq!(pool.stats().idle, 51);
    // The store is served before the constructor.
    let again: Vec<_> = (0..51).map(|_| pool.take()).collect();
    assert_eq!(pool.stats().created, 51);
    drop(again);
}

/// `burst_capacity(0)`: the old bound, an object returned to a full shard is dropped.
#[test]
fn burst_capacity_zero_drops_past_the_slots() {
    pin_to_one_cpu();
    let pool = Pool::builder(|| 0u8)
        .per_cpu_capacity(1)
        .burst_capacity(0)
        .build();
    pool.put(1);
    pool.put(2);
    let s = pool.stats();
    assert_eq!((s.idle, s.burst, s.dropped), (1, 0, 1), "{s:?}");
}

/// The burst store ages and drops its objects with the slots' victim rule, and gives a
/// past burst's memory back.
#[test]
fn trim_applies_the_victim_rule_to_the_burst_store() {
    pin_to_one_cpu();
    let pool = Pool::builder(|| 0u32).per_cpu_capacity(1).build();
    for i in 0..10 {
        pool.put(i);
    }
    assert_eq!(pool.stats().burst, 9);
    pool.trim();
    assert_eq!(pool.stats().burst, 9, "one trim: victims, still kept");
    pool.put(100); // returned after the first trim: survives the second
    pool.trim();
    let s = pool.stats();
    // The nine aged ones in the store and the aged one in the slot are dropped.
    assert_eq!((s.burst, s.dropped), (1, 10), "{s:?}");
    pool.trim();
    assert_eq!(pool.stats().idle, 0);
}

/// An owned guard moves into another thread and gives its object back from there.
#[test]
fn owned_guards_move_into_threads() {
    let pool = Arc::new(Pool::new(|| vec![0u8; 8]));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let mut g = pool.get_owned();
            std::thread::spawn(move || {
                g[0] = i;
                assert!(std::ptr::eq(
                    &**gosync_pool::OwnedPoolGuard::pool(&g),
                    &**gosync_pool::OwnedPoolGuard::pool(&g)
                ));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // A thread may give its object back before the next `get_owned`: between 1 and 4
    // objects were built, and every one is idle again.
    let s = pool.stats();
    assert!((1..=4).contains(&s.created), "{s:?}");
    assert_eq!(s.idle, s.created, "{s:?}");
    let kept = gosync_pool::OwnedPoolGuard::into_inner(pool.get_owned());
    assert_eq!(kept.len(), 8);
    assert_eq!(Arc::strong_count(&pool), 1, "into_inner drops its Arc");
}

/// `Pool<T>` names a pool whatever closure built it (a capturing one included), and the
/// reset hook takes any `Fn(&mut T)`.
#[test]
fn pool_t_is_nameable_with_a_capturing_constructor_and_reset() {
    struct Service {
        buffers: Pool<Vec<u8>>,
    }
    let size = 512;
    let keep = 1024;
    let svc = Service {
        buffers: Pool::builder(move || Vec::with_capacity(size))
            .reset(move |v: &mut Vec<u8>| {
                v.clear();
                v.shrink_to(keep);
            })
            .build(),
    };
    svc.buffers.get().extend_from_slice(&[1; 4096]);
    let b = svc.buffers.get();
    assert!(b.is_empty() && b.capacity() <= 4096);
}
