//! client-go `rate_limiting_queue_test.go`: exact limiter delays on a fake clock.
#![cfg(not(loom))]

use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::ratelimit::ExponentialLimiter;
use gosync_workqueue::{AddOpts, Queue, RateLimitingQueue};

/// A real-time hang guard (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn rate_limiting_queue() {
    let fake = FakeClock::new();
    let limiter = ExponentialLimiter::new(ms(1), Duration::from_secs(1));
    let q = RateLimitingQueue::with_limiter(Queue::builder().clock(fake.clock()), limiter);

    q.add_rate_limited("one"); // waits 1 ms
    assert_eq!(q.waiting_len(), 1);
    q.add_rate_limited("one"); // 2 ms, but the earlier 1 ms is kept
    assert_eq!(q.waiting_len(), 1);
    assert_eq!(q.num_requeues(&"one"), 2);
    q.add_rate_limited("two"); // 1 ms
    assert_eq!(q.waiting_len(), 2);
    assert_eq!(q.num_requeues(&"two"), 1);

    q.forget(&"one");
    assert_eq!(q.num_requeues(&"one"), 0);
    q.add_rate_limited("one"); // 1 ms again after forget; same time as before: merged
    assert_eq!(q.waiting_len(), 2);

    // Exact delay: nothing at 1 ms − 1 µs, both at 1 ms.
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(ms(1) - Duration::from_micros(1));
    assert_eq!(q.len(), 0);
    fake.advance(Duration::from_micros(1));
    let a = q.get().unwrap();
    let b = q.get().unwrap();
    let mut got = [*a, *b];
    got.sort();
    assert_eq!(got, ["one", "two"]);
    q.shut_down();
}

#[test]
fn exponential_delays_are_exact() {
    let fake = FakeClock::new();
    let limiter = ExponentialLimiter::new(ms(5), Duration::from_secs(1));
    let q = RateLimitingQueue::with_limiter(Queue::builder().clock(fake.clock()), limiter);
    for expected in [5u64, 10, 20, 40] {
        q.add_rate_limited("k");
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(ms(expected) - Duration::from_nanos(1));
        assert_eq!(q.len(), 0, "not ready before {expected} ms");
        fake.advance(Duration::from_nanos(1));
        q.get().unwrap().done();
    }
    assert_eq!(q.num_requeues(&"k"), 4);
    q.shut_down();
}

#[test]
fn default_controller_limiter_first_retry_is_5ms() {
    let fake = FakeClock::new();
    let q: RateLimitingQueue<&str> =
        RateLimitingQueue::from_builder(Queue::builder().clock(fake.clock()));
    q.add_rate_limited("x");
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(ms(4));
    assert_eq!(q.len(), 0);
    fake.advance(ms(1));
    assert_eq!(*q.get().unwrap(), "x");
    q.shut_down();
}

#[test]
fn priority_rate_limited_opts() {
    let fake = FakeClock::new();
    let limiter = ExponentialLimiter::new(ms(10), Duration::from_secs(1));
    let q = RateLimitingQueue::priority_with_limiter(Queue::builder().clock(fake.clock()), limiter);
    q.add_with_opts("a", AddOpts::new().rate_limited(true)); // 10 ms
    q.add_with_opts("b", AddOpts::new().rate_limited(true).after(ms(3))); // min(3, 10)
    q.add_with_opts("c", AddOpts::new().priority(1).after(ms(10)));
    assert_eq!(q.waiting_len(), 3);
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(ms(3));
    assert_eq!(*q.get().unwrap(), "b");
    fake.advance(ms(7));
    // "a" and "c" become ready together; "c" has the higher priority.
    while q.len() < 2 {
        std::thread::yield_now();
    }
    assert_eq!(*q.get().unwrap(), "c");
    assert_eq!(*q.get().unwrap(), "a");
    q.shut_down();
}

#[test]
fn after_zero_with_rate_limited_waits_the_limiters_delay() {
    // controller-runtime's priority queue: `if after == 0 || rlAfter < after { after =
    // rlAfter }`, so an After of 0 counts as unset and the limiter's delay applies.
    let fake = FakeClock::new();
    let limiter = ExponentialLimiter::new(ms(10), Duration::from_secs(1));
    let q = RateLimitingQueue::priority_with_limiter(Queue::builder().clock(fake.clock()), limiter);
    q.add_with_opts("a", AddOpts::new().rate_limited(true).after(Duration::ZERO));
    assert_eq!(q.num_requeues(&"a"), 1);
    assert_eq!(q.len(), 0, "After(0) let the item skip its backoff");
    assert_eq!(q.waiting_len(), 1);
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(ms(10) - Duration::from_nanos(1));
    assert_eq!(q.len(), 0, "ready before the limiter's 10 ms");
    fake.advance(Duration::from_nanos(1));
    assert_eq!(*q.get().unwrap(), "a");

    // The second failure: 20 ms, still not bypassed by After(0).
    q.add_with_opts("a", AddOpts::new().rate_limited(true).after(Duration::ZERO));
    assert_eq!(q.len(), 0);
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(ms(20) - Duration::from_nanos(1));
    assert_eq!(q.len(), 0);
    fake.advance(Duration::from_nanos(1));
    assert_eq!(*q.get().unwrap(), "a");

    // Without rate_limited, After(0) is a plain add: ready at once.
    q.add_with_opts("b", AddOpts::new().after(Duration::ZERO));
    assert_eq!(q.len(), 1);
    assert_eq!(*q.get().unwrap(), "b");
    q.shut_down();
}
