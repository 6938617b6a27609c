//! MaxOf and the default controller limiter: client-go sequences.
#![cfg(not(loom))]

use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_ratelimit::{
    default_controller_rate_limiter_with_clock, max_of, ExponentialLimiter, FastSlowLimiter, MaxOf,
    RateLimiter,
};

#[test]
fn client_go_sequence() {
    let fast = Duration::from_millis(5);
    let slow = Duration::from_secs(3);
    let l = max_of(vec![
        Box::new(FastSlowLimiter::new(fast, slow, 3)),
        Box::new(ExponentialLimiter::new(
            Duration::from_millis(1),
            Duration::from_secs(1),
        )),
    ]);
    for want in [fast, fast, fast, slow, slow] {
        assert_eq!(l.when(&"one"), want);
    }
    assert_eq!(l.num_requeues(&"one"), 5);
    assert_eq!(l.when(&"two"), fast);
    assert_eq!(l.when(&"two"), fast);
    assert_eq!(l.num_requeues(&"two"), 2);
    l.forget(&"one");
    assert_eq!(l.num_requeues(&"one"), 0);
    assert_eq!(l.when(&"one"), fast);
}

#[test]
fn empty_is_zero() {
    let l: MaxOf<u8> = max_of(Vec::new());
    assert_eq!(l.when(&1), Duration::ZERO);
    assert_eq!(l.num_requeues(&1), 0);
    l.forget(&1);
}

#[test]
fn default_controller_sequence() {
    let fake = FakeClock::new();
    let l = default_controller_rate_limiter_with_clock::<u32>(fake.clock());
    // The exponential part for one key: 5 ms doubling, capped at 1000 s.
    let mut want = Duration::from_millis(5);
    for _ in 0..18 {
        assert_eq!(l.when(&0), want);
        want *= 2;
    }
    assert_eq!(l.when(&0), Duration::from_secs(1000));
    // 19 tokens used; 81 left in the burst of 100.
    for k in 1..=81 {
        assert_eq!(l.when(&k), Duration::from_millis(5));
    }
    // The bucket is empty: 10 qps queue up behind each other.
    for (i, k) in (82..90).enumerate() {
        assert_eq!(l.when(&k), Duration::from_millis(100 * (i as u64 + 1)));
    }
    fake.advance(Duration::from_secs(1));
    // 10 tokens refilled, 8 owed: 2 left.
    assert_eq!(l.when(&1000), Duration::from_millis(5));
    assert_eq!(l.when(&1001), Duration::from_millis(5));
    assert_eq!(l.when(&1002), Duration::from_millis(100));
    assert_eq!(l.num_requeues(&0), 19);
    l.forget(&0);
    assert_eq!(l.num_requeues(&0), 0);
}
