//! ExponentialLimiter: client-go sequences, exact saturation, bounds.
#![cfg(not(loom))]

use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_ratelimit::{ExponentialLimiter, FailureMapBounds, RateLimiter};

const MS: Duration = Duration::from_millis(1);

#[test]
fn client_go_sequence() {
    let l = ExponentialLimiter::new(MS, Duration::from_secs(1));
    for want in [1, 2, 4, 8, 16] {
        assert_eq!(l.when(&"one"), want * MS);
    }
    assert_eq!(l.num_requeues(&"one"), 5);
    assert_eq!(l.when(&"two"), MS);
    assert_eq!(l.when(&"two"), 2 * MS);
    assert_eq!(l.num_requeues(&"two"), 2);
    l.forget(&"one");
    assert_eq!(l.num_requeues(&"one"), 0);
    assert_eq!(l.when(&"one"), MS);
    assert_eq!(l.num_requeues(&"two"), 2);
}

#[test]
fn caps_at_max_and_never_overflows() {
    let l = ExponentialLimiter::new(Duration::from_secs(60), Duration::from_secs(3600 * 1000));
    let got: Vec<_> = (0..3).map(|_| l.when(&"k").as_secs()).collect();
    assert_eq!(got, [60, 120, 240]);
    for _ in 0..1000 {
        assert!(l.when(&"k") <= Duration::from_secs(3600 * 1000));
    }
    assert_eq!(l.when(&"k"), Duration::from_secs(3600 * 1000));

    let l = ExponentialLimiter::new(Duration::from_nanos(1), Duration::MAX);
    let mut prev = Duration::ZERO;
    for n in 0..200u32 {
        let d = l.when(&0u8);
        assert!(d >= prev);
        if n < 64 {
            assert_eq!(d, Duration::from_nanos(1 << n));
        }
        prev = d;
    }
    assert_eq!(prev, Duration::MAX);
}

#[test]
fn degenerate_configs() {
    let zero = ExponentialLimiter::new(Duration::ZERO, Duration::from_secs(1));
    for _ in 0..300 {
        assert_eq!(zero.when(&1), Duration::ZERO);
    }
    let above = ExponentialLimiter::new(Duration::from_secs(5), Duration::from_secs(1));
    assert_eq!(above.when(&1), Duration::from_secs(1));
    assert_eq!(above.when(&1), Duration::from_secs(1));
    let max = ExponentialLimiter::new(Duration::MAX, Duration::MAX);
    assert_eq!(max.when(&1), Duration::MAX);
    assert_eq!(max.when(&1), Duration::MAX);
    let zero_max = ExponentialLimiter::new(MS, Duration::ZERO);
    assert_eq!(zero_max.when(&1), Duration::ZERO);
}

#[test]
fn delay_for_is_exact() {
    let l = ExponentialLimiter::<u8>::new(Duration::from_millis(5), Duration::from_secs(1000));
    assert_eq!(l.delay_for(0), Duration::from_millis(5));
    assert_eq!(l.delay_for(17), Duration::from_millis(5 << 17));
    assert_eq!(l.delay_for(18), Duration::from_secs(1000));
    assert_eq!(l.delay_for(u32::MAX), Duration::from_secs(1000));
}

#[test]
fn unsized_lookup_keys_and_trait_objects() {
    let l: Box<dyn RateLimiter<String>> = Box::new(ExponentialLimiter::new(MS, MS * 100));
    let key = String::from("a");
    assert_eq!(l.when(&key), MS);
    let by_ref: &dyn RateLimiter<String> = &l;
    assert_eq!(RateLimiter::num_requeues(&by_ref, &key), 1);
    let arc = std::sync::Arc::new(ExponentialLimiter::<String>::new(MS, MS));
    assert_eq!(RateLimiter::when(&arc, &key), MS);
}

#[test]
fn capacity_bound_evicts_least_recent() {
    // Capacity 4 -> 4 shards of 1 key, or fewer shards: at most 4 keys in total.
    let l = ExponentialLimiter::with_bounds(
        MS,
        Duration::from_secs(1),
        FailureMapBounds::new().capacity(4),
    );
    for k in 0..100u32 {
        l.when(&k);
        l.when(&k);
    }
    let remembered = (0..100u32).filter(|k| l.num_requeues(k) > 0).count();
    assert!(remembered <= 4, "{remembered} keys remembered");
    assert!(remembered >= 1);
    // The last key recorded is always remembered.
    assert_eq!(l.num_requeues(&99), 2);

    // Capacity 1: one shard, one key; a new key evicts the old.
    let l = ExponentialLimiter::with_bounds(
        MS,
        Duration::from_secs(1),
        FailureMapBounds::new().capacity(1),
    );
    l.when(&"a");
    l.when(&"a");
    l.when(&"b");
    assert_eq!(l.num_requeues(&"a"), 0);
    assert_eq!(l.when(&"a"), MS); // evicted: starts over
    assert_eq!(l.num_requeues(&"b"), 0);
}

#[test]
fn idle_expiry_forgets_after_ttl() {
    let fake = FakeClock::new();
    let bounds = FailureMapBounds::new()
        .idle_expiry(Duration::from_secs(10))
        .clock(fake.clock());
    let l = ExponentialLimiter::with_bounds(MS, Duration::from_secs(1), bounds);
    assert_eq!(l.when(&"k"), MS);
    fake.advance(Duration::from_secs(9));
    assert_eq!(l.when(&"k"), 2 * MS); // refreshed at 9 s
    fake.advance(Duration::from_secs(9));
    assert_eq!(l.num_requeues(&"k"), 2);
    assert_eq!(l.when(&"k"), 4 * MS);
    fake.advance(Duration::from_secs(10));
    assert_eq!(l.num_requeues(&"k"), 0);
    assert_eq!(l.when(&"k"), MS);
}

#[test]
fn idle_expiry_sweeps_memory() {
    let fake = FakeClock::new();
    let bounds = FailureMapBounds::new()
        .idle_expiry(Duration::from_secs(1))
        .clock(fake.clock());
    let l = ExponentialLimiter::with_bounds(MS, Duration::from_secs(1), bounds);
    for k in 0..10_000u32 {
        l.when(&k);
    }
    fake.advance(Duration::from_secs(2));
    for k in 10_000..20_000u32 {
        l.when(&k);
    }
    let dbg = format!("{l:?}");
    let keys: usize = dbg
        .split("keys: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect(&dbg);
    assert!(keys <= 10_000, "{keys} keys held: {dbg}");
}

/// 600 years: more than the `u64::MAX` nanoseconds (about 584 years) a `u64` can count.
const CENTURIES: Duration = Duration::from_secs(600 * 365 * 24 * 3600);

#[test]
fn idle_expiry_works_centuries_after_the_limiter_was_built() {
    let fake = FakeClock::new();
    let bounds = FailureMapBounds::new()
        .idle_expiry(Duration::from_secs(10))
        .clock(fake.clock());
    let l = ExponentialLimiter::with_bounds(MS, Duration::from_secs(1), bounds);
    for _ in 0..3 {
        fake.advance(CENTURIES);
        assert_eq!(l.num_requeues(&7), 0);
        assert_eq!(l.when(&7), MS);
        fake.advance(Duration::from_secs(9));
        assert_eq!(l.when(&7), 2 * MS); // refreshed at 9 s
        fake.advance(Duration::from_secs(9));
        assert_eq!(l.num_requeues(&7), 2);
        fake.advance(Duration::from_secs(1));
        assert_eq!(l.num_requeues(&7), 0, "idle for 10 s: expired");
        assert_eq!(l.when(&7), MS);
    }
    // Expired keys are still swept out of memory.
    for k in 100..1100 {
        l.when(&k);
    }
    fake.advance(Duration::from_secs(10));
    for k in 1100..2100 {
        l.when(&k);
    }
    let dbg = format!("{l:?}");
    let keys: usize = dbg
        .split("keys: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect(&dbg);
    assert!(keys <= 1001, "{keys} keys held: {dbg}");
}

#[test]
fn zero_ttl_makes_every_failure_the_first() {
    let fake = FakeClock::new();
    let bounds = FailureMapBounds::new()
        .idle_expiry(Duration::ZERO)
        .clock(fake.clock());
    let l = ExponentialLimiter::with_bounds(MS, Duration::from_secs(1), bounds);
    assert_eq!(l.when(&1), MS);
    assert_eq!(l.when(&1), MS);
    assert_eq!(l.num_requeues(&1), 0);
}

#[test]
fn many_threads_many_keys_count_exactly() {
    let l = ExponentialLimiter::new(MS, Duration::from_secs(1));
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let l = &l;
            s.spawn(move || {
                for round in 0..50u32 {
                    for k in 0..200u32 {
                        let _ = (t, round);
                        l.when(&k);
                    }
                }
            });
        }
    });
    for k in 0..200u32 {
        assert_eq!(l.num_requeues(&k), 200);
    }
}

#[test]
#[ignore = "stress: run in release by ci/test.sh"]
fn stress_when_forget_many_threads() {
    // Each thread owns a disjoint key range, so the exact count per key is known even
    // though all threads share (and contend on) the same shards.
    const THREADS: u64 = 4;
    const KEYS: u64 = 5_000;
    const ROUNDS: u64 = 40;
    let l = ExponentialLimiter::new(Duration::from_nanos(1), Duration::from_secs(1));
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let l = &l;
            s.spawn(move || {
                for round in 0..ROUNDS {
                    for k in (t * KEYS)..((t + 1) * KEYS) {
                        if round % 10 == 9 && k % 3 == 0 {
                            l.forget(&k);
                        } else {
                            l.when(&k);
                        }
                    }
                }
            });
        }
    });
    for k in 0..THREADS * KEYS {
        // Keys divisible by 3 were forgotten in round 39, so they end at 0; the others
        // saw every round.
        let want = if k % 3 == 0 { 0 } else { ROUNDS as u32 };
        assert_eq!(l.num_requeues(&k), want, "key {k}");
    }

    // Bounded: the map never holds more than its capacity, under contention.
    let bounded = ExponentialLimiter::with_bounds(
        Duration::from_nanos(1),
        Duration::from_secs(1),
        FailureMapBounds::new().capacity(1_000),
    );
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let l = &bounded;
            s.spawn(move || {
                for k in 0..50_000u64 {
                    l.when(&(k * THREADS + t));
                }
            });
        }
    });
    let held = (0..50_000 * THREADS)
        .filter(|k| bounded.num_requeues(k) > 0)
        .count();
    assert!(held <= 1_000, "{held} keys held");
}
