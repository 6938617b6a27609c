//! MaxOf and the default controller limiter: client-go sequences.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
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

/// A member that panics on one key (and counts its calls), and waits zero otherwise.
struct PanicsOn {
    key: u32,
    calls: AtomicU32,
}

impl PanicsOn {
    fn new(key: u32) -> Arc<PanicsOn> {
        Arc::new(PanicsOn {
            key,
            calls: AtomicU32::new(0),
        })
    }
    fn check(&self, item: &u32, what: &'static str) {
        self.calls.fetch_add(1, Relaxed);
        if *item == self.key {
            std::panic::panic_any(what);
        }
    }
}

impl RateLimiter<u32> for PanicsOn {
    fn when(&self, item: &u32) -> Duration {
        self.check(item, "when");
        Duration::ZERO
    }
    fn forget(&self, item: &u32) {
        self.check(item, "forget");
    }
    fn num_requeues(&self, item: &u32) -> u32 {
        self.check(item, "num_requeues");
        0
    }
}

/// The panic payload of `f`, which must panic.
fn panic_of<R>(f: impl FnOnce() -> R) -> &'static str {
    let payload = catch_unwind(AssertUnwindSafe(f))
        .err()
        .expect("did not panic");
    payload
        .downcast_ref::<&'static str>()
        .expect("a &str payload")
}

#[test]
fn a_panicking_member_does_not_keep_the_others_from_recording_or_forgetting() {
    let ms = Duration::from_millis;
    let exp = Arc::new(ExponentialLimiter::new(ms(1), Duration::from_secs(1)));
    let (first, last) = (PanicsOn::new(13), PanicsOn::new(13));
    let l = max_of(vec![
        Box::new(Arc::clone(&first)),
        Box::new(Arc::clone(&exp)),
        Box::new(Arc::clone(&last)),
    ]);
    let calls = || (first.calls.load(Relaxed), last.calls.load(Relaxed));

    // `when`: every member records the failure, then the first panic propagates.
    assert_eq!(panic_of(|| l.when(&13)), "when");
    assert_eq!(
        exp.num_requeues(&13),
        1,
        "the member after a panic was skipped"
    );
    assert_eq!(calls(), (1, 1));
    assert_eq!(panic_of(|| l.when(&13)), "when");
    assert_eq!(exp.num_requeues(&13), 2);

    // `forget` reaches every member too, so no member keeps a stale backoff.
    assert_eq!(panic_of(|| l.forget(&13)), "forget");
    assert_eq!(
        exp.num_requeues(&13),
        0,
        "the member after a panic did not forget"
    );
    assert_eq!(calls(), (3, 3));

    assert_eq!(panic_of(|| l.num_requeues(&13)), "num_requeues");
    assert_eq!(calls(), (4, 4));

    // Other keys, and the limiter as a whole, are unaffected.
    assert_eq!(l.when(&1), ms(1));
    assert_eq!(l.when(&1), ms(2));
    assert_eq!(l.num_requeues(&1), 2);
    assert_eq!(l.when(&14), ms(1));
}
