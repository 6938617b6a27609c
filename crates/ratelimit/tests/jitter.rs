//! Jitter and WithMaxWait wrappers.
#![cfg(not(loom))]

use std::time::Duration;

use gosync_ratelimit::{
    with_max_wait, ExponentialLimiter, Jitter, Jittered, Limit, RateLimiter, TokenBucket,
};

#[test]
fn jitter_bounds_at_the_extremes() {
    let d = Duration::from_millis(100);
    assert_eq!(Jitter::Full.apply(d, 0), Duration::ZERO);
    assert_eq!(Jitter::Full.apply(d, u64::MAX), d);
    assert_eq!(Jitter::Equal.apply(d, 0), d / 2);
    assert_eq!(Jitter::Equal.apply(d, u64::MAX), d);
    assert_eq!(Jitter::Full.apply(Duration::ZERO, 77), Duration::ZERO);
    assert!(Jitter::Full.apply(Duration::MAX, u64::MAX) > Duration::MAX - Duration::from_secs(1));
    assert!(Jitter::Equal.apply(Duration::MAX, u64::MAX) > Duration::MAX - Duration::from_secs(1));
    // Odd nanoseconds: equal jitter keeps at least ceil(d/2).
    assert_eq!(
        Jitter::Equal.apply(Duration::from_nanos(3), 0),
        Duration::from_nanos(2)
    );
}

#[test]
fn jittered_limiter_is_deterministic_per_seed() {
    let run = |seed| {
        let l = Jittered::with_seed(
            ExponentialLimiter::new(Duration::from_millis(1), Duration::from_secs(1)),
            Jitter::Full,
            seed,
        );
        (0..10).map(|_| l.when(&"k")).collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
    for (n, d) in run(7).into_iter().enumerate() {
        assert!(d <= Duration::from_millis(1 << n));
    }
    let l = Jittered::new(
        ExponentialLimiter::new(Duration::from_millis(1), Duration::from_secs(1)),
        Jitter::Equal,
    );
    l.when(&1);
    assert_eq!(l.num_requeues(&1), 1);
    l.forget(&1);
    assert_eq!(l.num_requeues(&1), 0);
}

#[test]
fn with_max_wait_caps_and_delegates() {
    let ms = Duration::from_millis;
    let l = with_max_wait(ExponentialLimiter::new(ms(1), ms(1000)), ms(5));
    let got: Vec<_> = (0..5).map(|_| l.when(&"a")).collect();
    assert_eq!(got, [ms(1), ms(2), ms(4), ms(5), ms(5)]);
    assert_eq!(l.num_requeues(&"a"), 5);
    l.forget(&"a");
    assert_eq!(l.when(&"a"), ms(1));
    // Caps a never-ready bucket's Duration::MAX too.
    let b = TokenBucket::new(Limit::ZERO, 1).unwrap();
    let l = with_max_wait(b, ms(30));
    assert_eq!(RateLimiter::<u8>::when(&l, &0), Duration::ZERO);
    assert_eq!(RateLimiter::<u8>::when(&l, &0), ms(30));
}
