//! FastSlowLimiter: client-go sequences.
#![cfg(not(loom))]

use std::time::Duration;

use gosync_ratelimit::{FastSlowLimiter, RateLimiter};

#[test]
fn client_go_sequence() {
    let fast = Duration::from_millis(5);
    let slow = Duration::from_secs(10);
    let l = FastSlowLimiter::new(fast, slow, 3);
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
fn zero_fast_attempts_is_always_slow() {
    let l = FastSlowLimiter::new(Duration::from_millis(1), Duration::from_secs(1), 0);
    assert_eq!(l.when(&1), Duration::from_secs(1));
    assert_eq!(l.when(&1), Duration::from_secs(1));
}
