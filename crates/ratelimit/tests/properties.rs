//! Property tests against simple reference models.
#![cfg(not(loom))]

use std::collections::HashMap;
use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_ratelimit::{
    max_of, Backoff, Borrowed, ExponentialLimiter, FastSlowLimiter, Jitter, Limit, RateLimiter,
    Reservation, TokenBucket,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    When(u8),
    Forget(u8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u8..4).prop_map(Op::When),
            1 => (0u8..4).prop_map(Op::Forget),
        ],
        0..200,
    )
}

/// Durations from 0 to `Duration::MAX`, biased to small and to the extremes.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..2_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::ZERO),
        Just(Duration::MAX),
    ]
}

/// The reference: `min(base · 2^n, max)` with unbounded-precision reasoning.
fn reference_delay(base: Duration, max: Duration, n: u32) -> Duration {
    let b = base.as_nanos();
    if b == 0 {
        return Duration::ZERO;
    }
    let exact = if n < 128 {
        b.checked_mul(1u128 << n)
    } else {
        None
    };
    match exact {
        Some(ns) if ns <= max.as_nanos() => {
            Duration::new((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
        }
        _ => max,
    }
}

/// One year of 365 days.
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Limits from the slowest to the fastest representable, biased to the extremes where
/// `elapsed · rate` and the token counts are largest.
fn limit() -> impl Strategy<Value = Limit> {
    let ns = Duration::from_nanos;
    let top = u64::MAX - 3..=u64::MAX;
    prop_oneof![
        (1u64..1000, 1u64..10_000_000_000).prop_map(move |(e, p)| Limit::new(e, ns(p))),
        (any::<u64>(), any::<u64>()).prop_map(move |(e, p)| Limit::new(e, ns(p))),
        (top.clone(), top.clone()).prop_map(move |(e, p)| Limit::new(e, ns(p))),
        (top.clone(), 1u64..4).prop_map(move |(e, p)| Limit::new(e, ns(p))),
        (1u64..4, top).prop_map(move |(e, p)| Limit::new(e, ns(p))),
        Just(Limit::ZERO),
        Just(Limit::INF),
    ]
}

fn burst() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..10, any::<u32>(), Just(u32::MAX)]
}

/// Clock steps from a nanosecond to a thousand years, biased to small steps and to steps
/// beyond the `u64::MAX` nanoseconds (about 584 years) a `u64` can count.
fn step() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => (0u64..1_000_000_000).prop_map(Duration::from_nanos),
        1 => any::<u64>().prop_map(Duration::from_nanos),
        1 => (0u32..1000).prop_map(|years| YEAR * years),
        1 => Just(YEAR * 600),
    ]
}

#[derive(Clone, Debug)]
enum BucketOp {
    Advance(Duration),
    /// `allow_n` of this many tokens; `None`: the burst.
    Allow(Option<u32>),
    Reserve(Option<u32>),
    When,
    /// Cancels the reservation of this index (modulo the number held).
    Cancel(usize),
    SetLimit(Limit),
    SetBurst(u32),
}

fn bucket_ops() -> impl Strategy<Value = Vec<BucketOp>> {
    let n = prop_oneof![3 => (0u32..4).prop_map(Some), 1 => any::<u32>().prop_map(Some), 1 => Just(None)];
    prop::collection::vec(
        prop_oneof![
            2 => step().prop_map(BucketOp::Advance),
            2 => n.clone().prop_map(BucketOp::Allow),
            2 => n.prop_map(BucketOp::Reserve),
            2 => Just(BucketOp::When),
            1 => any::<usize>().prop_map(BucketOp::Cancel),
            1 => limit().prop_map(BucketOp::SetLimit),
            1 => prop_oneof![Just(0u32), burst()].prop_map(BucketOp::SetBurst),
        ],
        0..40,
    )
}

/// What an operation on a bucket observed.
#[derive(Debug, PartialEq)]
enum Seen {
    Allowed(bool),
    Reserved { ok: bool, delay: Duration },
    When(Duration),
    Cancelled,
    Advanced,
    Set,
}

/// A bucket on its own fake clock, the reservations it holds, and what it saw.
struct Run<'a> {
    fake: &'a FakeClock,
    bucket: &'a TokenBucket,
    held: Vec<Reservation<'a>>,
}

impl Run<'_> {
    fn apply(&mut self, op: &BucketOp) -> (Seen, f64) {
        let burst = self.bucket.burst();
        let seen = match *op {
            BucketOp::Advance(d) => {
                self.fake.advance(d);
                Seen::Advanced
            }
            BucketOp::Allow(n) => Seen::Allowed(self.bucket.allow_n(n.unwrap_or(burst))),
            BucketOp::Reserve(n) => {
                let r = self.bucket.reserve_n(n.unwrap_or(burst));
                let seen = Seen::Reserved {
                    ok: r.ok(),
                    delay: r.delay(),
                };
                self.held.push(r);
                seen
            }
            BucketOp::When => Seen::When(RateLimiter::<()>::when(self.bucket, &())),
            BucketOp::Cancel(i) => {
                if !self.held.is_empty() {
                    let i = i % self.held.len();
                    self.held.swap_remove(i).cancel();
                }
                Seen::Cancelled
            }
            BucketOp::SetLimit(limit) => {
                self.bucket.set_limit(limit);
                Seen::Set
            }
            BucketOp::SetBurst(burst) => {
                self.bucket.set_burst(burst);
                Seen::Set
            }
        };
        (seen, self.bucket.tokens())
    }
}

proptest! {
    /// A bucket left idle for any time, up to a thousand years, is full: from then on
    /// it behaves exactly like a new bucket, for every limit and burst, with clock steps
    /// up to a thousand years in between and any limit and burst changes. Also checks
    /// that nothing overflows (a panic in debug builds) and that the balance never
    /// exceeds the burst.
    #[test]
    fn bucket_idle_for_any_time_behaves_as_new(
        limit in limit(), burst in burst(), idle in step(), ops in bucket_ops(),
    ) {
        let (old_clock, new_clock) = (FakeClock::new(), FakeClock::new());
        let old = TokenBucket::with_clock(limit, burst, old_clock.clock()).unwrap();
        old_clock.advance(idle);
        let new = TokenBucket::with_clock(limit, burst, new_clock.clock()).unwrap();
        let mut old_run = Run { fake: &old_clock, bucket: &old, held: Vec::new() };
        let mut new_run = Run { fake: &new_clock, bucket: &new, held: Vec::new() };
        // Successive reservations at one instant queue up: their delays never shrink
        // until time moves or a reservation is cancelled.
        let mut last_delay = Duration::ZERO;
        for (i, op) in ops.iter().enumerate() {
            let (seen, tokens) = new_run.apply(op);
            let (old_seen, old_tokens) = old_run.apply(op);
            prop_assert_eq!(&old_seen, &seen, "op {} ({:?})", i, op);
            prop_assert_eq!(old_tokens, tokens, "tokens after op {} ({:?})", i, op);
            let burst = new.burst();
            prop_assert!(tokens <= f64::from(burst), "{} tokens above the burst {}", tokens, burst);
            let delay = match seen {
                Seen::Reserved { ok: true, delay } | Seen::When(delay) => delay,
                Seen::Advanced | Seen::Cancelled | Seen::Set => {
                    last_delay = Duration::ZERO;
                    continue;
                }
                _ => continue,
            };
            if delay != Duration::MAX {
                prop_assert!(delay >= last_delay, "op {}: {:?} after {:?}", i, delay, last_delay);
                prop_assert!(delay <= Duration::from_nanos(u64::MAX));
                last_delay = delay;
            }
        }
    }

    /// A limit change keeps the balance, exactly or rounded down by less than one part
    /// of a token of the new limit (`1 / per` token), never up; a change to the same
    /// limit, or to INF or ZERO and back at the same instant, changes nothing.
    #[test]
    fn set_limit_never_raises_the_balance(
        (e1, p1) in (1u64..20, 1u64..2_000_000_000),
        (e2, p2) in (1u64..20, 1u64..2_000_000_000),
        burst in 1u32..20,
        steps in prop::collection::vec((0u64..3_000_000_000, 0u32..25), 0..12),
    ) {
        let ns = Duration::from_nanos;
        let (from, to) = (Limit::new(e1, ns(p1)), Limit::new(e2, ns(p2)));
        let fake = FakeClock::new();
        let bucket = TokenBucket::with_clock(from, burst, fake.clock()).unwrap();
        for (advance, n) in steps {
            fake.advance(ns(advance));
            let r = bucket.reserve_n(n);
            if n % 3 == 0 {
                r.cancel();
            }
        }
        let before = bucket.tokens();
        for same in [from, Limit::INF, Limit::ZERO] {
            bucket.set_limit(same);
            bucket.set_limit(from);
            prop_assert_eq!(bucket.tokens(), before);
        }
        bucket.set_limit(to);
        let after = bucket.tokens();
        let slop = 1e-12 * before.abs().max(1.0);
        // One part of a token of `to`: its interval in lowest terms is `p2 / gcd` ns.
        let gcd = (1..=e2).rev().find(|g| e2 % g == 0 && p2 % g == 0).unwrap_or(1);
        let part = gcd as f64 / p2 as f64;
        prop_assert!(after <= before + slop, "{} -> {}: rose from {} to {}", from.as_qps(), to.as_qps(), before, after);
        prop_assert!(after >= before - part - slop, "{} -> {}: fell from {} to {}", from.as_qps(), to.as_qps(), before, after);
    }

    #[test]
    fn exponential_matches_the_model(base in duration(), max in duration(), ops in ops()) {
        let l = ExponentialLimiter::new(base, max);
        let mut model: HashMap<u8, u32> = HashMap::new();
        let mut last: HashMap<u8, Duration> = HashMap::new();
        for op in ops {
            match op {
                Op::When(k) => {
                    let n = model.entry(k).or_insert(0);
                    let d = l.when(&k);
                    prop_assert_eq!(d, reference_delay(base, max, *n));
                    prop_assert!(d <= max.max(Duration::ZERO) || base.is_zero());
                    if let Some(prev) = last.get(&k) {
                        prop_assert!(d >= *prev, "decreased without forget");
                    }
                    last.insert(k, d);
                    *n += 1;
                }
                Op::Forget(k) => {
                    l.forget(&k);
                    model.remove(&k);
                    last.remove(&k);
                }
            }
            for k in 0..4u8 {
                prop_assert_eq!(l.num_requeues(&k), model.get(&k).copied().unwrap_or(0));
            }
        }
    }

    /// `String` keys asked about by `&str` ([`Borrowed`]): the per-item limiters and
    /// `MaxOf` (whose members are `dyn RateLimiter<String>`) match the model, and every
    /// borrowed lookup agrees with the owned one.
    #[test]
    fn borrowed_lookups_match_the_model(base in 1u64..1_000_000, ops in ops(), bounded in any::<bool>()) {
        let ns = Duration::from_nanos;
        let bounds = gosync_ratelimit::FailureMapBounds::new();
        let bounds = if bounded { bounds.capacity(1_000) } else { bounds };
        let exp: ExponentialLimiter<String> = ExponentialLimiter::with_bounds(ns(base), ns(1 << 40), bounds);
        let fs: FastSlowLimiter<String> = FastSlowLimiter::new(ns(1), ns(2), 2);
        let combined = max_of::<String>(vec![
            Box::new(ExponentialLimiter::new(ns(base), ns(1 << 40))),
            Box::new(FastSlowLimiter::new(ns(1), ns(2), 2)),
        ]);
        let limiters: [&dyn RateLimiter<String>; 3] = [&exp, &fs, &combined];
        let mut model: HashMap<u8, u32> = HashMap::new();
        let key = |k: u8| format!("ns/pod-{k}");
        for op in ops {
            match op {
                Op::When(k) => {
                    for l in limiters {
                        l.when(&key(k));
                    }
                    *model.entry(k).or_insert(0) += 1;
                }
                Op::Forget(k) => {
                    let owned = key(k);
                    for l in limiters {
                        l.forget_key(&Borrowed(owned.as_str()));
                    }
                    model.remove(&k);
                }
            }
            for k in 0..4u8 {
                let want = model.get(&k).copied().unwrap_or(0);
                let owned = key(k);
                for l in limiters {
                    prop_assert_eq!(l.num_requeues_key(&Borrowed(owned.as_str())), want);
                    prop_assert_eq!(l.num_requeues(&owned), want);
                }
            }
        }
    }

    #[test]
    fn max_of_is_the_max_of_its_members(
        base in 0u64..1_000_000, fast in 0u64..1_000_000, slow in 0u64..10_000_000,
        attempts in 0u32..5, ops in ops(),
    ) {
        let ns = Duration::from_nanos;
        let exp = ExponentialLimiter::new(ns(base), ns(1 << 40));
        let fs = FastSlowLimiter::new(ns(fast), ns(slow), attempts);
        let combined = max_of(vec![
            Box::new(ExponentialLimiter::new(ns(base), ns(1 << 40))),
            Box::new(FastSlowLimiter::new(ns(fast), ns(slow), attempts)),
        ]);
        for op in ops {
            match op {
                Op::When(k) => {
                    let (a, b, m) = (exp.when(&k), fs.when(&k), combined.when(&k));
                    prop_assert!(m >= a && m >= b);
                    prop_assert_eq!(m, a.max(b));
                }
                Op::Forget(k) => {
                    exp.forget(&k);
                    fs.forget(&k);
                    combined.forget(&k);
                }
            }
            prop_assert_eq!(combined.num_requeues(&0), exp.num_requeues(&0).max(fs.num_requeues(&0)));
        }
    }

    /// Over every window of a random run, `allow_n` grants at most
    /// `burst + rate · window` tokens (checked exactly in integers).
    #[test]
    fn bucket_never_grants_more_than_burst_plus_rate(
        events in 1u64..50, per_ms in 1u64..2000, burst in 1u32..20,
        steps in prop::collection::vec((0u64..500, 0u32..6), 1..80),
    ) {
        let fake = FakeClock::new();
        let t0 = fake.now();
        let bucket = TokenBucket::with_clock(
            Limit::new(events, Duration::from_millis(per_ms)), burst, fake.clock(),
        ).unwrap();
        // (elapsed ms since t0, tokens granted at that moment)
        let mut grants: Vec<(u64, u64)> = Vec::new();
        for (advance_ms, n) in steps {
            fake.advance(Duration::from_millis(advance_ms));
            let t = (fake.now() - t0).as_millis() as u64;
            if bucket.allow_n(n) {
                grants.push((t, u64::from(n)));
            }
        }
        for i in 0..grants.len() {
            let mut total = 0u64;
            for j in i..grants.len() {
                total += grants[j].1;
                let window_ms = grants[j].0 - grants[i].0;
                // total <= burst + events · window / per  <=>  total·per <= burst·per + events·window
                prop_assert!(
                    u128::from(total) * u128::from(per_ms)
                        <= u128::from(burst) * u128::from(per_ms) + u128::from(events) * u128::from(window_ms),
                    "granted {} in {} ms", total, window_ms
                );
            }
        }
    }

    /// `when` on a bucket hands out times to act that, over any window, respect the
    /// same bound (up to the 1 ns rounding of each time to act).
    #[test]
    fn bucket_reservations_respect_the_rate(
        qps in 1u64..100, burst in 1u32..10,
        steps in prop::collection::vec(0u64..300, 1..60),
    ) {
        let fake = FakeClock::new();
        let t0 = fake.now();
        let bucket = TokenBucket::with_clock(Limit::per_second(qps), burst, fake.clock()).unwrap();
        let mut acts: Vec<u128> = Vec::new();
        for advance_ms in steps {
            fake.advance(Duration::from_millis(advance_ms));
            let now = (fake.now() - t0).as_nanos();
            let d = RateLimiter::<()>::when(&bucket, &());
            acts.push(now + d.as_nanos());
        }
        acts.sort_unstable();
        for i in 0..acts.len() {
            for j in i..acts.len() {
                let count = (j - i + 1) as u128;
                // Times to act are exact instants rounded up to the nanosecond, so two
                // of them can be up to 1 ns closer than the exact spacing.
                let window = acts[j] - acts[i] + 1;
                prop_assert!(
                    count * 1_000_000_000 <= u128::from(burst) * 1_000_000_000 + u128::from(qps) * window,
                    "{} acts in {} ns", count, window
                );
            }
        }
    }

    #[test]
    fn jitter_stays_in_bounds(d in duration(), r in any::<u64>()) {
        prop_assert_eq!(Jitter::None.apply(d, r), d);
        prop_assert!(Jitter::Full.apply(d, r) <= d);
        let e = Jitter::Equal.apply(d, r);
        let ns = d.as_nanos();
        prop_assert!(e <= d);
        prop_assert!(e.as_nanos() >= ns - ns / 2);
    }

    #[test]
    fn backoff_is_monotone_and_capped(
        initial in duration(), cap in duration(), factor in 1.0f64..10.0, steps in 0u32..100,
        seed in any::<u64>(), jitter in prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)],
    ) {
        let plain: Vec<_> = Backoff::builder().initial(initial).factor(factor).cap(cap)
            .max_steps(steps).build().unwrap().collect();
        prop_assert_eq!(plain.len(), steps as usize);
        for w in plain.windows(2) {
            prop_assert!(w[0] <= w[1]);
        }
        for d in &plain {
            prop_assert!(*d <= cap.max(Duration::ZERO));
        }
        let jittered: Vec<_> = Backoff::builder().initial(initial).factor(factor).cap(cap)
            .max_steps(steps).jitter(jitter).seed(seed).build().unwrap().collect();
        for (j, p) in jittered.iter().zip(&plain) {
            prop_assert!(j <= p);
        }
    }
}
