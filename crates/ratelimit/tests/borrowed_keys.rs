//! `forget_key` / `num_requeues_key`: lookups by a borrowed form of the key (`&str` for
//! `String` keys), through every limiter and combinator, and the trait's default for a
//! limiter that only implements the owned-key methods.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gosync_core::FakeClock;
use gosync_ratelimit::{
    default_controller_rate_limiter, max_of, with_max_wait, Borrowed, ExponentialLimiter,
    FailureMapBounds, FastSlowLimiter, Jitter, Jittered, KeyRef, Limit, RateLimiter, TokenBucket,
};

const MS: Duration = Duration::from_millis(1);

fn key(s: &str) -> String {
    s.to_string()
}

/// Fails `k` twice, checks the borrowed count, forgets by the borrowed form.
fn round_trip(l: &dyn RateLimiter<String>) {
    l.when(&key("ns/a"));
    l.when(&key("ns/a"));
    l.when(&key("ns/b"));
    assert_eq!(l.num_requeues_key(&Borrowed("ns/a")), 2);
    assert_eq!(l.num_requeues_key(&Borrowed("ns/b")), 1);
    assert_eq!(l.num_requeues_key(&Borrowed("ns/c")), 0);
    l.forget_key(&Borrowed("ns/a"));
    assert_eq!(l.num_requeues_key(&Borrowed("ns/a")), 0);
    assert_eq!(l.num_requeues(&key("ns/a")), 0);
    assert_eq!(
        l.num_requeues_key(&Borrowed("ns/b")),
        1,
        "another key is untouched"
    );
    // The owned key itself is a borrowed form too.
    l.forget_key(&Borrowed(&key("ns/b")));
    assert_eq!(l.num_requeues(&key("ns/b")), 0);
}

#[test]
fn every_per_item_limiter_and_combinator_looks_up_borrowed_keys() {
    let fake = FakeClock::new();
    round_trip(&ExponentialLimiter::new(MS, MS * 1000));
    round_trip(&ExponentialLimiter::with_bounds(
        MS,
        MS * 1000,
        FailureMapBounds::new()
            .capacity(1_000) // 15 per shard: the three keys are never evicted
            .idle_expiry(Duration::from_secs(60))
            .clock(fake.clock()),
    ));
    round_trip(&FastSlowLimiter::new(MS, MS * 10, 3));
    round_trip(&default_controller_rate_limiter::<String>());
    round_trip(&max_of::<String>(vec![
        Box::new(ExponentialLimiter::new(MS, MS * 1000)),
        Box::new(FastSlowLimiter::new(MS, MS * 10, 3)),
    ]));
    round_trip(&with_max_wait(
        ExponentialLimiter::new(MS, MS * 1000),
        MS * 3,
    ));
    round_trip(&Jittered::with_seed(
        ExponentialLimiter::new(MS, MS * 1000),
        Jitter::Full,
        7,
    ));
    // Through the pointer forwards.
    let boxed: Box<dyn RateLimiter<String>> = Box::new(ExponentialLimiter::new(MS, MS * 10));
    round_trip(&boxed);
    round_trip(&Arc::new(FastSlowLimiter::<String>::new(MS, MS * 10, 3)));
}

#[test]
fn idle_expiry_applies_to_borrowed_lookups() {
    let fake = FakeClock::new();
    let l: ExponentialLimiter<String> = ExponentialLimiter::with_bounds(
        MS,
        MS * 1000,
        FailureMapBounds::new()
            .idle_expiry(Duration::from_secs(10))
            .clock(fake.clock()),
    );
    l.when(&key("x"));
    assert_eq!(l.num_requeues_key(&Borrowed("x")), 1);
    fake.advance(Duration::from_secs(10));
    assert_eq!(l.num_requeues_key(&Borrowed("x")), 0);
}

#[test]
fn token_bucket_has_nothing_to_forget() {
    let b = TokenBucket::new(Limit::per_second(10), 100).unwrap();
    let l: &dyn RateLimiter<String> = &b;
    l.when(&key("x"));
    l.forget_key(&Borrowed("x"));
    assert_eq!(l.num_requeues_key(&Borrowed("x")), 0);
}

/// A limiter of the user's that implements only the owned-key methods: the defaults make
/// an owned key (`str::to_owned`) and call them.
#[derive(Default)]
struct Counting {
    seen: Mutex<Vec<String>>,
    forgets: AtomicUsize,
}

impl RateLimiter<String> for Counting {
    fn when(&self, item: &String) -> Duration {
        self.seen.lock().unwrap().push(item.clone());
        MS
    }
    fn forget(&self, item: &String) {
        self.forgets.fetch_add(1, SeqCst);
        self.seen.lock().unwrap().retain(|k| k != item);
    }
    fn num_requeues(&self, item: &String) -> u32 {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|k| *k == item)
            .count() as u32
    }
}

#[test]
fn the_defaults_fall_back_to_an_owned_key() {
    let l = Counting::default();
    round_trip(&l);
    assert_eq!(l.forgets.load(SeqCst), 2);
    // Inside a combinator too.
    round_trip(&max_of::<String>(vec![Box::new(Counting::default())]));
}

#[test]
fn a_borrowed_form_hashes_and_compares_as_the_owned_key() {
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let owned = key("ns/pod");
    let mut h = s.build_hasher();
    KeyRef::<String>::hash_key(&Borrowed("ns/pod"), &mut h);
    assert_eq!(h.finish(), s.hash_one(&owned));
    assert!(KeyRef::<String>::eq_key(&Borrowed("ns/pod"), &owned));
    assert!(!KeyRef::<String>::eq_key(&Borrowed("ns/po"), &owned));
}
