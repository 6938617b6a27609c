//! TokenBucket: x/time/rate's `rate_test.go` scenarios, replayed on a fake clock.
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use gosync_core::clock::FakeClock;
use gosync_ratelimit::{ConfigError, Limit, RateLimiter, TokenBucket, WaitError};

/// The time step of the x/time tests.
const D: Duration = Duration::from_millis(100);

/// A bucket on a fake clock, and a way to move to `t0 + k·D`.
struct Fixture {
    fake: FakeClock,
    t0: Instant,
    bucket: TokenBucket,
}

impl Fixture {
    fn new(limit: Limit, burst: u32) -> Fixture {
        let fake = FakeClock::new();
        let t0 = fake.now();
        let bucket = TokenBucket::with_clock(limit, burst, fake.clock()).unwrap();
        Fixture { fake, t0, bucket }
    }
    fn at(&self, k: u32) -> &TokenBucket {
        self.fake.set(self.t0 + D * k);
        &self.bucket
    }
    /// Reserves `n` at `t_k`; checks ok and the time to act in steps of D.
    fn reserve(&self, k: u32, n: u32, act: u32, ok: bool) -> gosync_ratelimit::Reservation<'_> {
        let r = self.at(k).reserve_n(n);
        assert_eq!(r.ok(), ok, "reserve_n(t{k}, {n})");
        if ok {
            assert_eq!(
                r.time_to_act(),
                Some(self.t0 + D * act),
                "reserve_n(t{k}, {n})"
            );
            assert_eq!(r.delay(), D * act.saturating_sub(k));
        } else {
            assert_eq!(r.delay(), Duration::MAX);
            assert_eq!(r.time_to_act(), None);
        }
        r
    }
}

fn run_allows(f: &Fixture, steps: &[(u32, u32, bool)]) {
    for (i, &(k, n, ok)) in steps.iter().enumerate() {
        assert_eq!(f.at(k).allow_n(n), ok, "step {i}: allow_n(t{k}, {n})");
    }
}

#[test]
fn burst_1() {
    let f = Fixture::new(Limit::per_second(10), 1);
    run_allows(
        &f,
        &[
            (0, 1, true),
            (0, 1, false),
            (0, 1, false),
            (1, 1, true),
            (1, 1, false),
            (1, 1, false),
            (2, 2, false), // n above the burst: never
            (2, 1, true),
            (2, 1, false),
        ],
    );
}

#[test]
fn burst_3() {
    let f = Fixture::new(Limit::per_second(10), 3);
    run_allows(
        &f,
        &[
            (0, 2, true),
            (0, 2, false),
            (0, 1, true),
            (0, 1, false),
            (1, 4, false),
            (2, 1, true),
            (3, 1, true),
            (4, 1, true),
            (4, 1, true),
            (4, 1, false),
            (4, 1, false),
            (9, 3, true),
            (9, 0, true),
        ],
    );
}

#[test]
fn fractional_rate_allows_first_event() {
    // golang.org/issues/34861: no truncation error at the first token.
    let b = TokenBucket::new(Limit::from_qps(0.769_230_769_230_769_3).unwrap(), 1).unwrap();
    assert!(b.allow());
}

#[test]
fn simple_reserve() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let _ = f.reserve(0, 2, 2, true);
    let _ = f.reserve(3, 2, 4, true);
}

#[test]
fn mix_of_reserve_and_allow() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 3, 1, false); // n > burst
    let _ = f.reserve(0, 2, 0, true);
    run_allows(&f, &[(1, 2, false)]);
    let _ = f.reserve(1, 2, 2, true);
    run_allows(&f, &[(1, 1, false)]); // negative balance
    run_allows(&f, &[(3, 1, true)]);
}

#[test]
fn cancel_invalid_has_no_effect() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let r = f.reserve(0, 3, 3, false);
    r.cancel();
    let _ = f.reserve(0, 2, 2, true); // no extra tokens
}

#[test]
fn cancel_last_gives_tokens_back() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let r = f.reserve(0, 2, 2, true);
    f.at(1);
    r.cancel(); // two tokens back
    let _ = f.reserve(1, 2, 2, true);
}

#[test]
fn cancel_too_late_has_no_effect() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let r = f.reserve(0, 2, 2, true);
    f.at(3);
    r.cancel();
    let _ = f.reserve(3, 2, 4, true);
}

#[test]
fn cancel_restores_only_what_later_reservations_do_not_need() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let r = f.reserve(0, 1, 1, true);
    let _ = f.reserve(0, 1, 2, true);
    r.cancel(); // 0 tokens back: the later one counts on them
    let _ = f.reserve(0, 1, 3, true);

    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let r = f.reserve(0, 2, 2, true);
    let _ = f.reserve(0, 1, 3, true);
    f.at(2);
    r.cancel(); // 1 token back
    let _ = f.reserve(2, 2, 4, true);
}

#[test]
fn cancel_multi() {
    let f = Fixture::new(Limit::per_second(10), 4);
    let _ = f.reserve(0, 4, 0, true);
    let a = f.reserve(0, 3, 3, true);
    let _ = f.reserve(0, 1, 4, true);
    let c = f.reserve(0, 1, 5, true);
    f.at(1);
    c.cancel(); // 1 back
    a.cancel(); // 2 back, as if c had never been reserved
    let _ = f.reserve(1, 3, 5, true);
}

#[test]
fn when_always_reserves_and_queues_up() {
    let f = Fixture::new(Limit::per_second(10), 1);
    let b = &f.bucket;
    let delays: Vec<_> = (0..4).map(|_| RateLimiter::<str>::when(b, "x")).collect();
    assert_eq!(delays, [0, 100, 200, 300].map(Duration::from_millis));
    assert_eq!(RateLimiter::<str>::num_requeues(b, "x"), 0);
    RateLimiter::<str>::forget(b, "x");
    f.at(1);
    assert_eq!(RateLimiter::<str>::when(b, "y"), Duration::from_millis(300));
}

#[test]
fn exact_refill_at_awkward_rates() {
    // 3 per second: no drift after a million seconds of one-third steps.
    let fake = FakeClock::new();
    let b = TokenBucket::with_clock(Limit::per_second(3), 1, fake.clock()).unwrap();
    assert!(b.allow());
    let third = Duration::from_nanos(333_333_333);
    for _ in 0..1000 {
        fake.advance(third);
        assert!(!b.allow(), "a token 1 ns early");
        fake.advance(Duration::from_nanos(1));
        assert!(b.allow());
    }
    // Over 3 s exactly 9 tokens arrive (burst 10 to see them).
    let b = TokenBucket::with_clock(Limit::per_second(3), 10, fake.clock()).unwrap();
    assert!(b.allow_n(10));
    fake.advance(Duration::from_secs(3));
    assert!(b.allow_n(9));
    assert!(!b.allow());
    // Waits round up: the token is there at the time to act.
    let r = b.reserve();
    assert_eq!(r.delay(), Duration::from_nanos(333_333_334));
}

#[test]
fn infinite_limit_allows_everything() {
    let f = Fixture::new(Limit::INF, 0);
    for _ in 0..1000 {
        assert!(f.bucket.allow_n(1_000_000));
    }
    assert_eq!(f.bucket.reserve_n(u32::MAX).delay(), Duration::ZERO);
    f.bucket.wait_n(u32::MAX).unwrap();
}

#[test]
fn zero_limit_grants_the_burst_then_never() {
    let f = Fixture::new(Limit::ZERO, 3);
    assert!(f.bucket.allow_n(2));
    let r = f.bucket.reserve();
    assert!(r.ok());
    assert_eq!(r.delay(), Duration::ZERO);
    let r = f.bucket.reserve();
    assert!(!r.ok());
    assert_eq!(r.delay(), Duration::MAX);
    assert!(!f.at(1000).allow());
    assert_eq!(f.bucket.wait(), Err(WaitError::Never));
    assert_eq!(RateLimiter::<u8>::when(&f.bucket, &0), Duration::MAX);
}

#[test]
fn bad_configs_are_errors() {
    assert_eq!(
        TokenBucket::new(Limit::per_second(1), 0).unwrap_err(),
        ConfigError::ZeroBurst
    );
    assert_eq!(
        TokenBucket::new(Limit::ZERO, 0).unwrap_err(),
        ConfigError::ZeroBurst
    );
    assert!(TokenBucket::new(Limit::INF, 0).is_ok());
    assert!(matches!(
        Limit::from_qps(-1.0),
        Err(ConfigError::InvalidRate(_))
    ));
    assert!(Limit::from_qps(f64::NAN).is_err());
    assert!(Limit::from_qps(f64::NEG_INFINITY).is_err());
    assert!(Limit::from_qps(f64::INFINITY).unwrap().is_inf());
    assert!(Limit::from_qps(0.0).unwrap().is_zero());
    assert!(Limit::from_qps(1e300).unwrap().is_inf());
    assert_eq!(
        Limit::from_qps(1e-300).unwrap(),
        Limit::every(Duration::from_nanos(u64::MAX))
    );
    assert_eq!(Limit::every(Duration::ZERO), Limit::INF);
    assert_eq!(Limit::per_second(0), Limit::ZERO);
    // The slowest representable rate still works without overflow.
    let f = Fixture::new(Limit::every(Duration::MAX), u32::MAX);
    assert!(f.bucket.allow_n(u32::MAX));
    let r = f.bucket.reserve_n(1);
    assert!(r.ok());
    assert_eq!(r.delay(), Duration::from_nanos(u64::MAX));
    // Tokens more than u64::MAX ns (~584 years) away count as never.
    let r = f.bucket.reserve_n(2);
    assert!(!r.ok());
    assert_eq!(r.delay(), Duration::MAX);
}

#[test]
fn wait_sleeps_through_the_clock() {
    let f = Fixture::new(Limit::per_second(10), 1);
    f.bucket.wait().unwrap(); // the burst: no sleep
    std::thread::scope(|s| {
        let h = s.spawn(|| f.bucket.wait());
        assert!(f.fake.block_until_waiters(1, Duration::from_secs(10)));
        f.fake.advance(D);
        h.join().unwrap().unwrap();
    });
    assert_eq!(
        f.bucket.wait_n(2),
        Err(WaitError::ExceedsBurst { n: 2, burst: 1 })
    );
}

#[test]
fn wait_with_timeout_takes_nothing_when_too_far() {
    let f = Fixture::new(Limit::per_second(10), 2);
    assert!(f.bucket.allow_n(2));
    assert_eq!(
        f.bucket.wait_n_timeout(1, Duration::from_millis(99)),
        Err(WaitError::Timeout)
    );
    // Nothing was taken: the next token is still due at t1.
    let _ = f.reserve(0, 1, 1, true);
    // A timeout that covers the wait waits.
    std::thread::scope(|s| {
        let h = s.spawn(|| f.bucket.wait_n_timeout(1, D * 2));
        assert!(f.fake.block_until_waiters(1, Duration::from_secs(10)));
        f.fake.advance(D * 2);
        h.join().unwrap().unwrap();
    });
}

#[test]
fn simultaneous_allows_grant_exactly_the_burst() {
    let b = TokenBucket::new(Limit::per_second(1), 5).unwrap();
    let ok = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..15 {
            s.spawn(|| {
                if b.allow() {
                    ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    // Real clock: a token may arrive if the threads take over a second to start.
    let n = ok.into_inner();
    assert!((5..=6).contains(&n), "{n}");
}

#[test]
fn debug_and_tokens() {
    let f = Fixture::new(Limit::per_second(10), 4);
    assert_eq!(f.bucket.tokens(), 4.0);
    assert!(f.bucket.allow_n(3));
    assert_eq!(f.bucket.tokens(), 1.0);
    f.fake.advance(Duration::from_millis(50));
    assert_eq!(f.bucket.tokens(), 1.5);
    let s = format!("{:?}", f.bucket);
    assert!(s.contains("TokenBucket") && s.contains("burst: 4"), "{s}");
}

/// 600 years: more than the `u64::MAX` nanoseconds (about 584 years) a `u64` can count.
const CENTURIES: Duration = Duration::from_secs(600 * 365 * 24 * 3600);

/// 300 years: more than 2⁶³ ns, where `elapsed · events` overflowed `i128` for a rate
/// of about one token per nanosecond or more.
const THREE_CENTURIES: Duration = Duration::from_secs(300 * 365 * 24 * 3600);

fn when(b: &TokenBucket) -> Duration {
    RateLimiter::<()>::when(b, &())
}

#[test]
fn far_future_clock_keeps_limiting() {
    let f = Fixture::new(Limit::per_second(10), 3);
    assert!(f.bucket.allow_n(3));
    f.fake.advance(CENTURIES);
    // Refilled, but never beyond the burst.
    assert_eq!(f.bucket.tokens(), 3.0);
    assert!(f.bucket.allow_n(3));
    assert!(!f.bucket.allow());
    assert_eq!(when(&f.bucket), D);
    assert_eq!(when(&f.bucket), D * 2);
    assert_eq!(f.bucket.tokens(), -2.0);
    f.fake.advance(D * 2);
    assert_eq!(f.bucket.tokens(), 0.0);
    assert!(!f.bucket.allow());
    f.fake.advance(D);
    assert!(f.bucket.allow());
    assert!(!f.bucket.allow());
    let r = f.bucket.reserve();
    assert_eq!(r.delay(), D);
    assert_eq!(r.time_to_act(), Some(f.fake.now() + D));
    r.cancel();
    assert_eq!(f.bucket.tokens(), 0.0, "the cancel gave the token back");
    // Far beyond the first 584 years, again and again.
    for _ in 0..3 {
        f.fake.advance(CENTURIES);
        assert!(f.bucket.allow_n(3));
        assert!(!f.bucket.allow());
        assert_eq!(when(&f.bucket), D);
    }
}

#[test]
fn far_future_wait_sleeps_the_right_time() {
    let f = Fixture::new(Limit::per_second(10), 1);
    f.fake.advance(CENTURIES);
    f.bucket.wait().unwrap(); // the burst: no sleep
    std::thread::scope(|s| {
        let h = s.spawn(|| f.bucket.wait());
        assert!(f.fake.block_until_waiters(1, Duration::from_secs(10)));
        f.fake.advance(D - Duration::from_nanos(1));
        assert_eq!(f.fake.waiters(), 1, "woke up before its token was due");
        f.fake.advance(Duration::from_nanos(1));
        h.join().unwrap().unwrap();
    });
}

#[test]
fn huge_rates_with_huge_elapsed_times_do_not_overflow() {
    let ns = Duration::from_nanos;
    // About 2⁶⁴ and about 1 token per nanosecond (with the largest numerator and
    // denominator), and a plain rate.
    let limits = [
        Limit::new(u64::MAX, ns(1)),
        Limit::new(u64::MAX, ns(u64::MAX - 1)),
        Limit::new(u64::MAX - 1, ns(u64::MAX)),
        Limit::per_second(1),
    ];
    for limit in limits {
        for burst in [1, 2, u32::MAX] {
            let f = Fixture::new(limit, burst);
            assert!(f.bucket.allow_n(burst));
            for elapsed in [THREE_CENTURIES, CENTURIES, CENTURIES * 3] {
                let ctx = format!("{limit:?}, burst {burst}, after {elapsed:?}");
                f.fake.advance(elapsed);
                assert_eq!(f.bucket.tokens(), f64::from(burst), "{ctx}");
                assert!(f.bucket.allow_n(burst), "{ctx}: refilled");
                assert!(!f.bucket.allow(), "{ctx}: emptied");
                f.fake.advance(elapsed);
                assert_eq!(when(&f.bucket), Duration::ZERO, "{ctx}: refilled");
                assert!(f.bucket.allow_n(burst - 1), "{ctx}: the rest of the burst");
            }
        }
    }
}

#[test]
fn slowest_rate_refills_exactly_beyond_584_years() {
    // One token every u64::MAX ns (about 584.5 years), observed after 600 years.
    let per = u128::from(u64::MAX);
    let centuries = CENTURIES.as_nanos();
    let f = Fixture::new(Limit::every(Duration::from_nanos(u64::MAX)), 2);
    assert!(f.bucket.allow_n(2));
    f.fake.advance(CENTURIES);
    assert_eq!(f.bucket.tokens(), (centuries as f64) / (per as f64));
    assert!(f.bucket.allow());
    assert!(!f.bucket.allow());
    // The next token is due once 2 · per ns have passed since the burst was taken.
    let want = u64::try_from(2 * per - centuries).unwrap();
    assert_eq!(when(&f.bucket), Duration::from_nanos(want));
}

#[test]
fn huge_rates_refill_exactly() {
    // About one token per nanosecond (2^64 - 1 every 2^64 - 2 ns): after the burst,
    // each nanosecond brings one token and a sliver.
    let f = Fixture::new(
        Limit::new(u64::MAX, Duration::from_nanos(u64::MAX - 1)),
        u32::MAX,
    );
    f.fake.advance(CENTURIES);
    assert!(f.bucket.allow_n(u32::MAX));
    assert_eq!(when(&f.bucket), Duration::from_nanos(1));
    assert_eq!(when(&f.bucket), Duration::from_nanos(2));
    let r = f.bucket.reserve_n(u32::MAX);
    assert!(r.ok());
    // u32::MAX + 2 tokens missing, less a sliver (the sliver each nanosecond brings
    // beyond one token), rounded up.
    assert_eq!(r.delay(), Duration::from_nanos(u64::from(u32::MAX) + 2));
    // 2^64 - 1 tokens per ns: any burst refills in one nanosecond.
    let f = Fixture::new(Limit::new(u64::MAX, Duration::from_nanos(1)), u32::MAX);
    f.fake.advance(CENTURIES);
    assert!(f.bucket.allow_n(u32::MAX));
    assert!(!f.bucket.allow());
    assert_eq!(when(&f.bucket), Duration::from_nanos(1));
    f.fake.advance(Duration::from_nanos(1));
    assert!(f.bucket.allow_n(u32::MAX));
}

// ---------------------------------------------------------------------------------------
// set_limit / set_burst
// ---------------------------------------------------------------------------------------

const NS: Duration = Duration::from_nanos(1);

#[test]
fn set_limit_at_an_older_time_counts_as_the_last_update() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(2, 2, 2, true); // last update at t2, balance 0
                                      // t1 is before t2: the change takes effect at t2, with no refill credited twice.
    f.bucket.set_limit_at(f.t0 + D, Limit::per_second(5));
    assert_eq!(f.bucket.tokens(), 0.0);
    // 5/s from t2: one token at t4.
    let _ = f.reserve(2, 1, 4, true);
}

#[test]
fn infinite_limit_freezes_the_balance_and_any_time_later_fills_it() {
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let pending = f.reserve(0, 1, 1, true); // balance -1
    f.bucket.set_limit(Limit::INF);
    assert_eq!(f.bucket.limit(), Limit::INF);
    // Nothing is taken while the limit is infinite; the burst does not matter.
    assert!(f.bucket.allow_n(1000));
    let r = f.bucket.reserve_n(u32::MAX);
    assert!(r.ok());
    assert_eq!(r.delay(), Duration::ZERO);
    r.cancel(); // an infinite reservation took nothing: nothing to give back
                // Cancelling while the limit is infinite does nothing either (x/time: `Inf` returns).
    pending.cancel();
    assert_eq!(f.bucket.tokens(), -1.0, "frozen at the same instant");
    // Back to a finite limit at the same instant: the balance is still there.
    f.bucket.set_limit(Limit::per_second(10));
    assert_eq!(f.bucket.tokens(), -1.0);
    assert!(!f.bucket.allow());
    // Infinite again; a nanosecond at an infinite rate fills any bucket.
    f.bucket.set_limit(Limit::INF);
    f.fake.advance(NS);
    assert_eq!(f.bucket.tokens(), 2.0);
    f.bucket.set_limit(Limit::per_second(10));
    assert!(f.bucket.allow_n(2));
    assert!(!f.bucket.allow());
}

#[test]
fn infinite_limit_set_burst_fills_like_any_advance() {
    let f = Fixture::new(Limit::INF, 0);
    f.fake.advance(NS);
    f.bucket.set_burst(3); // x/time: advance under Inf, then the new burst
    f.bucket.set_limit(Limit::per_second(1));
    assert_eq!(
        f.bucket.tokens(),
        0.0,
        "the burst was 0 when the time passed"
    );
    let f = Fixture::new(Limit::INF, 0);
    f.bucket.set_burst(3);
    f.fake.advance(NS);
    f.bucket.set_limit(Limit::per_second(1));
    assert_eq!(f.bucket.tokens(), 3.0, "filled at an infinite rate");
}

#[test]
fn zero_limit_keeps_a_fractional_balance_exactly() {
    let f = Fixture::new(Limit::per_second(3), 2);
    assert!(f.bucket.allow_n(2));
    f.fake.advance(Duration::from_millis(500));
    assert_eq!(f.bucket.tokens(), 1.5);
    f.bucket.set_limit(Limit::ZERO);
    f.fake.advance(Duration::from_secs(3600));
    assert_eq!(f.bucket.tokens(), 1.5, "no refill");
    assert!(f.bucket.allow());
    assert!(!f.bucket.allow());
    assert!(!f.bucket.reserve().ok());
    // Half a token at 3/s: 1/6 s, rounded up to the nanosecond.
    f.bucket.set_limit(Limit::per_second(3));
    assert_eq!(f.bucket.tokens(), 0.5);
    assert_eq!(
        f.bucket.reserve().delay(),
        Duration::from_nanos(166_666_667)
    );
}

#[test]
fn limit_change_is_exact_when_representable_and_rounds_the_balance_down_otherwise() {
    // One token every 3 ns, a third refilled.
    let f = Fixture::new(Limit::every(NS * 3), 1);
    assert!(f.bucket.allow());
    f.fake.advance(NS);
    assert_eq!(f.bucket.tokens(), 1.0 / 3.0);
    // Every 6 ns: a sixth of a token is a part, a third is two parts: exact.
    f.bucket.set_limit(Limit::every(NS * 6));
    assert_eq!(f.bucket.tokens(), 1.0 / 3.0);
    assert_eq!(f.bucket.reserve().delay(), NS * 4);

    // Every 2 ns: halves cannot hold a third; the balance rounds down to 0 (less than
    // one part, half a token, below the exact third), never up to a half.
    let f = Fixture::new(Limit::every(NS * 3), 1);
    assert!(f.bucket.allow());
    f.fake.advance(NS);
    f.bucket.set_limit(Limit::every(NS * 2));
    assert_eq!(f.bucket.tokens(), 0.0);
    assert_eq!(f.bucket.reserve().delay(), NS * 2);

    // Same parts per token (100 ms), another rate: exact.
    let f = Fixture::new(Limit::per_second(10), 5);
    assert!(f.bucket.allow_n(5));
    f.fake.advance(Duration::from_millis(150));
    f.bucket.set_limit(Limit::new(3, D));
    assert_eq!(f.bucket.tokens(), 1.5);
}

#[test]
fn burst_changes_keep_the_balance_capped_at_the_new_burst() {
    let f = Fixture::new(Limit::per_second(10), 4);
    assert!(f.bucket.allow());
    assert_eq!(f.bucket.tokens(), 3.0);
    f.bucket.set_burst(2);
    assert_eq!(f.bucket.burst(), 2);
    assert_eq!(f.bucket.tokens(), 2.0, "capped");
    f.bucket.set_burst(6);
    assert_eq!(f.bucket.tokens(), 2.0, "a larger burst does not fill");
    f.fake.advance(D * 10);
    assert_eq!(f.bucket.tokens(), 6.0);
    // A debt is kept through burst changes: -1 stays -1.
    assert!(f.bucket.reserve_n(6).ok());
    assert!(f.bucket.reserve_n(1).ok());
    f.bucket.set_burst(1);
    assert_eq!(f.bucket.tokens(), -1.0);
    f.bucket.set_burst(3);
    assert_eq!(f.bucket.tokens(), -1.0);
}

#[test]
fn burst_zero_from_set_burst_allows_nothing_but_zero_tokens() {
    let f = Fixture::new(Limit::per_second(10), 2);
    f.bucket.set_burst(0);
    assert!(!f.bucket.allow());
    assert!(f.bucket.allow_n(0));
    assert!(!f.bucket.reserve().ok());
    assert_eq!(
        f.bucket.wait(),
        Err(WaitError::ExceedsBurst { n: 1, burst: 0 })
    );
    assert_eq!(RateLimiter::<()>::when(&f.bucket, &()), Duration::MAX);
    // An infinite limit ignores the burst, as at construction.
    f.bucket.set_limit(Limit::INF);
    assert!(f.bucket.allow_n(5));
    f.bucket.set_limit(Limit::per_second(10));
    f.bucket.set_burst(2);
    assert!(!f.bucket.allow(), "the burst grew, the balance did not");
    f.fake.advance(D);
    assert!(f.bucket.allow());
}

/// Deliberate difference: when a later reservation made under a faster limit acts
/// before an earlier one, x/time counts the negative interval between them as tokens
/// later reservations gave up, and hands back more than the cancelled reservation took
/// (here 3.85 tokens for 2). A cancel here gives back at most what it took.
#[test]
fn cancel_gives_back_at_most_what_it_took_after_a_faster_limit() {
    let f = Fixture::new(Limit::per_second(5), 10);
    assert!(f.bucket.allow_n(10));
    let slow = f.reserve(0, 2, 4, true); // 2 tokens at 5/s: t4
    f.bucket.set_limit(Limit::per_second(100));
    let fast = f.bucket.reserve(); // 1 token at 100/s after a debt of 2: 30 ms
    assert_eq!(fast.delay(), Duration::from_millis(30));
    slow.cancel();
    assert_eq!(f.bucket.tokens(), -1.0);
}

#[test]
fn cancel_counts_later_reservations_at_the_reservations_limit() {
    // x/time's TestCancel1Token with the limit changed before the cancel: the token the
    // later reservation counts on is measured at 10/s, the reservation's limit.
    let f = Fixture::new(Limit::per_second(10), 2);
    let _ = f.reserve(0, 2, 0, true);
    let r = f.reserve(0, 2, 2, true);
    let _ = f.reserve(0, 1, 3, true);
    f.bucket.set_limit(Limit::per_second(5));
    f.fake.set(f.t0 + D * 2);
    // At t2: -3 at t0, refilled at 5/s for 200 ms (+1), plus 1 token back: 2 taken,
    // less the 100 ms between its act (t2) and the last one (t3) at 10/s.
    r.cancel();
    assert_eq!(f.bucket.tokens(), -1.0);
}

#[test]
fn set_limit_does_not_wake_a_sleeper() {
    let f = Fixture::new(Limit::per_second(10), 1);
    assert!(f.bucket.allow());
    std::thread::scope(|s| {
        let h = s.spawn(|| f.bucket.wait_n(1)); // due at t1
        assert!(f.fake.block_until_waiters(1, Duration::from_secs(10)));
        f.bucket.set_limit(Limit::INF);
        f.bucket.set_burst(100);
        f.fake.advance(D - NS);
        assert_eq!(f.fake.waiters(), 1, "still sleeping until its time to act");
        f.fake.advance(NS);
        h.join().unwrap().unwrap();
    });
}

#[test]
fn huge_debts_survive_slow_limits_without_overflow() {
    let slowest = Limit::every(Duration::from_nanos(u64::MAX));
    let fastest = Limit::new(u64::MAX, NS);
    let f = Fixture::new(fastest, u32::MAX);
    // A debt of many bursts at about 1.8·10¹⁹ tokens per nanosecond.
    for _ in 0..1000 {
        assert!(f.bucket.reserve_n(u32::MAX).ok());
    }
    let debt = f.bucket.tokens();
    assert!(debt < -1e12, "{debt}");
    // At one token per 584 years the debt would take about 10¹⁵ years: kept exactly.
    f.bucket.set_limit(slowest);
    assert_eq!(f.bucket.tokens(), debt);
    assert!(!f.bucket.allow());
    assert!(!f.bucket.reserve().ok(), "beyond u64::MAX ns: never");
    f.fake.advance(CENTURIES);
    f.bucket.set_limit(fastest);
    // 600 years at the slowest limit refilled about one token.
    assert!((f.bucket.tokens() - (debt + 1.0)).abs() < 1e-3 * -debt);
    // Back at the fast limit the debt is repaid in nanoseconds.
    f.fake.advance(NS * 1000);
    assert_eq!(f.bucket.tokens(), f64::from(u32::MAX));
}

#[test]
fn limit_and_burst_changes_race_allow_reserve_and_cancel() {
    let f = Fixture::new(Limit::per_second(1000), 10);
    let limits = [
        Limit::per_second(1000),
        Limit::INF,
        Limit::ZERO,
        Limit::every(NS * 3),
        Limit::new(u64::MAX, NS),
        Limit::every(Duration::from_nanos(u64::MAX)),
    ];
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..2000 {
                f.bucket.set_limit(limits[i % limits.len()]);
                f.bucket.set_burst([10, 0, 1, u32::MAX, 3][i % 5]);
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                for i in 0..2000u32 {
                    let _ = f.bucket.allow_n(i % 4);
                    let r = f.bucket.reserve_n(i % 3);
                    if i % 2 == 0 {
                        r.cancel();
                    }
                    let _ = f.bucket.tokens();
                }
            });
        }
        for _ in 0..200 {
            f.fake.advance(Duration::from_micros(7));
        }
    });
    f.bucket.set_limit(Limit::per_second(1000));
    f.bucket.set_burst(10);
    assert!(f.bucket.tokens() <= 10.0);
    f.fake.advance(CENTURIES);
    assert_eq!(f.bucket.tokens(), 10.0);
    assert!(f.bucket.allow_n(10));
    assert!(!f.bucket.allow());
}
