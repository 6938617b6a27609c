//! Fuzz the rate limiters of `gosync-ratelimit` on one fake clock:
//!
//! * a [`TokenBucket`] (`allow`, `allow_n`, `reserve_n`, cancelling, dropping and
//!   inspecting reservations, `tokens`, `when`, and `wait_n` / `wait_n_timeout` on a
//!   thread that sleeps through the fake clock) against an exact rational-arithmetic
//!   bucket with `golang.org/x/time/rate` semantics, as the crate documents them: times
//!   to act rounded up to the nanosecond, a zero limit counting tokens like any other,
//!   and a cancel never restoring more than the reservation took;
//! * an [`ExponentialLimiter`] (optionally bounded: idle expiry on the fake clock, a
//!   capacity of one key) and a [`FastSlowLimiter`] against a map from item to
//!   (failures, last failure): the delay is `min(base · 2^failures, max)`, or `fast`
//!   for the first `max_fast_attempts` failures and `slow` after;
//! * [`max_of`] over the three (sharing their state): the largest delay, the largest
//!   requeue count, a forget that reaches every member.
//!
//! The input starts with the configuration (limit, burst, delays, bounds), then each
//! operation is an opcode byte and its arguments. After every operation the requeue
//! counts of every item and the bucket's token count are compared with the models.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use gosync_core::FakeClock;
use gosync_ratelimit::{
    max_of, ConfigError, ExponentialLimiter, FailureMapBounds, FastSlowLimiter, Limit, MaxOf,
    RateLimiter, Reservation, TokenBucket, WaitError,
};

use crate::input::Input;

/// At most this many operations per input.
const MAX_OPS: usize = 512;
/// Items of the per-item limiters: `0..KEYS`.
const KEYS: u8 = 6;
/// Real time allowed for a thread to reach or leave a sleep on the fake clock: a hang
/// guard, not a timing assertion.
const HANG: Duration = Duration::from_secs(20);

/// Runs one input; panics where a limiter disagrees with its model.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let fake = FakeClock::new();
    let t0 = fake.now();

    // The bucket.
    let (limit, rate) = decode_limit(&mut input);
    let mut burst = u32::from(input.u8() % 9);
    if burst == 0 && !limit.is_inf() {
        let err = TokenBucket::with_clock(limit, 0, fake.clock()).unwrap_err();
        assert_eq!(err, ConfigError::ZeroBurst);
        burst = 1;
    }
    let bucket = Arc::new(TokenBucket::with_clock(limit, burst, fake.clock()).unwrap());
    let mut mb = BucketModel::new(rate, burst);

    // The per-item limiters.
    let (base, max) = (duration(input.u8()), duration(input.u8()));
    let bounds_byte = input.u8();
    let ttl = (bounds_byte & 1 != 0).then(|| duration(input.u8()));
    let capacity_one = bounds_byte & 2 != 0;
    let mut bounds = FailureMapBounds::new().clock(fake.clock());
    if let Some(ttl) = ttl {
        bounds = bounds.idle_expiry(ttl);
    }
    if capacity_one {
        bounds = bounds.capacity(1);
    }
    let exp = Arc::new(ExponentialLimiter::with_bounds(base, max, bounds));
    let mut me = ItemModel {
        failures: HashMap::new(),
        ttl: ttl.and_then(|d| u64::try_from(d.as_nanos()).ok().filter(|&t| t != u64::MAX)),
        capacity_one,
    };
    let (fast, slow) = (duration(input.u8()), duration(input.u8()));
    let max_fast = u32::from(input.u8() % 5);
    let fs = Arc::new(FastSlowLimiter::new(fast, slow, max_fast));
    let mut mf = ItemModel {
        failures: HashMap::new(),
        ttl: None,
        capacity_one: false,
    };
    let with_bucket = input.bool();
    let mut members: Vec<Box<dyn RateLimiter<u8>>> =
        vec![Box::new(Arc::clone(&exp)), Box::new(Arc::clone(&fs))];
    if with_bucket {
        members.push(Box::new(Arc::clone(&bucket)));
    }
    let combined: MaxOf<u8> = max_of(members);

    // Time in nanoseconds since t0 (the epoch of the bucket and of the failure map).
    let mut now: u64 = 0;
    let mut held: Vec<(Reservation<'_>, Grant)> = Vec::new();

    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        match op % 16 {
            0 => assert_eq!(bucket.allow(), mb.reserve(now, 1, Some(0)).ok, "allow"),
            1 => {
                let n = u32::from(input.u8() % 12);
                assert_eq!(
                    bucket.allow_n(n),
                    mb.reserve(now, n, Some(0)).ok,
                    "allow_n({n})"
                );
            }
            2 => {
                let n = u32::from(input.u8() % 12);
                let r = bucket.reserve_n(n);
                let want = mb.reserve(now, n, None).with_tokens(n);
                check_reservation(&r, &want, now, t0);
                held.push((r, want));
            }
            3 => {
                let i = usize::from(input.u8());
                if !held.is_empty() {
                    let (r, g) = held.swap_remove(i % held.len());
                    r.cancel();
                    mb.cancel(&g, now);
                }
            }
            4 => {
                let i = usize::from(input.u8());
                if !held.is_empty() {
                    // Dropping keeps the tokens taken.
                    drop(held.swap_remove(i % held.len()));
                }
            }
            5 => {
                let i = usize::from(input.u8());
                if !held.is_empty() {
                    let (r, g) = &held[i % held.len()];
                    check_reservation(r, g, now, t0);
                }
            }
            6 => {
                let got = RateLimiter::<u8>::when(&*bucket, &0);
                assert_eq!(got, mb.when(now), "bucket when");
            }
            7 => {
                let n = u32::from(input.u8() % 12);
                let timeout = match input.u8() % 4 {
                    0 => None,
                    1 => Some(Duration::ZERO),
                    2 => Some(duration(input.u8())),
                    _ => Some(Duration::MAX),
                };
                wait(&fake, &bucket, &mut mb, &mut now, n, timeout);
            }
            8 | 9 => {
                let d = advance_amount(&mut input);
                fake.advance(d);
                now += u64::try_from(d.as_nanos()).unwrap();
            }
            10 => {
                // To the time to act of a reservation, give or take a nanosecond: the
                // edges of `cancel` and `delay`.
                let i = usize::from(input.u8());
                let off = input.u8() % 3;
                // (A reservation that is not ok has no time to act.)
                let held_ok = held.get(i % held.len().max(1)).filter(|(_, g)| g.ok);
                if let Some((_, g)) = held_ok {
                    let to = g.act.saturating_add(u64::from(off)).saturating_sub(1);
                    if to > now && to - now < 1 << 50 {
                        fake.advance(Duration::from_nanos(to - now));
                        now = to;
                    }
                }
            }
            11 => {
                let k = input.u8() % KEYS;
                assert_eq!(
                    exp.when(&k),
                    me.exponential(k, now, base, max),
                    "exp when({k})"
                );
            }
            12 => {
                let k = input.u8() % KEYS;
                let want = mf.fast_slow(k, now, fast, slow, max_fast);
                assert_eq!(fs.when(&k), want, "fast/slow when({k})");
            }
            13 => {
                let k = input.u8() % KEYS;
                let mut want = me.exponential(k, now, base, max);
                want = want.max(mf.fast_slow(k, now, fast, slow, max_fast));
                if with_bucket {
                    want = want.max(mb.when(now));
                }
                assert_eq!(combined.when(&k), want, "max_of when({k})");
            }
            14 => {
                let b = input.u8();
                let k = b % KEYS;
                match b / KEYS % 3 {
                    0 => {
                        exp.forget(&k);
                        me.forget(k);
                    }
                    1 => {
                        fs.forget(&k);
                        mf.forget(k);
                    }
                    _ => {
                        combined.forget(&k);
                        me.forget(k);
                        mf.forget(k);
                    }
                }
            }
            _ => {
                // A bucket used as a per-item limiter tracks nothing.
                let k = input.u8() % KEYS;
                bucket.forget(&k);
                assert_eq!(RateLimiter::<u8>::num_requeues(&*bucket, &k), 0);
            }
        }

        for k in 0..KEYS {
            let (e, f) = (me.requeues(k, now), mf.requeues(k, now));
            assert_eq!(exp.num_requeues(&k), e, "exp num_requeues({k})");
            assert_eq!(fs.num_requeues(&k), f, "fast/slow num_requeues({k})");
            assert_eq!(
                combined.num_requeues(&k),
                e.max(f),
                "max_of num_requeues({k})"
            );
        }
        let (got, want) = (bucket.tokens(), mb.tokens(now));
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "tokens: {got} != {want}"
        );
    }
}

/// A limit: zero, infinite, or `1..=16` events per `1..=65536` units of 1 ns, 1 µs,
/// 1 ms or 1 s. Also returns the model's rate in tokens per nanosecond (`None`: no
/// limit).
fn decode_limit(input: &mut Input<'_>) -> (Limit, Option<Q>) {
    let kind = input.u8();
    match kind % 8 {
        0 => (Limit::ZERO, Some(Q::int(0))),
        1 => (Limit::INF, None),
        _ => {
            let events = 1 + u64::from(input.u8() % 16);
            let unit = [1, 1_000, 1_000_000, 1_000_000_000][usize::from(kind >> 3 & 3)];
            let per = (1 + u64::from(input.u16())) * unit;
            let limit = Limit::new(events, Duration::from_nanos(per));
            (limit, Some(Q::new(i128::from(events), i128::from(per))))
        }
    }
}

/// A delay from one byte: zero, `Duration::MAX`, or a small number of nanoseconds,
/// milliseconds or seconds, or a power of two of seconds.
fn duration(b: u8) -> Duration {
    let v = u64::from(b >> 3);
    match b & 7 {
        0 => Duration::ZERO,
        1 => Duration::MAX,
        2 | 3 => Duration::from_nanos(v),
        4 | 5 => Duration::from_millis(v),
        6 => Duration::from_secs(v),
        _ => Duration::from_secs(1 << v),
    }
}

/// How far one advance moves the clock: up to 65535 ns, µs or ms, or up to 63 s.
fn advance_amount(input: &mut Input<'_>) -> Duration {
    let unit = input.u8();
    let v = u64::from(input.u16());
    match unit % 4 {
        0 => Duration::from_nanos(v),
        1 => Duration::from_micros(v),
        2 => Duration::from_millis(v),
        _ => Duration::from_secs(v % 64),
    }
}

/// Checks a reservation's `ok`, `delay` and `time_to_act` against the model's grant.
fn check_reservation(r: &Reservation<'_>, want: &Grant, now: u64, t0: Instant) {
    assert_eq!(r.ok(), want.ok, "reservation ok ({want:?})");
    if want.ok {
        assert_eq!(
            r.delay(),
            Duration::from_nanos(want.act.saturating_sub(now)),
            "delay of {want:?} at {now}"
        );
        assert_eq!(
            r.time_to_act(),
            Some(t0 + Duration::from_nanos(want.act)),
            "time to act of {want:?}"
        );
    } else {
        assert_eq!(r.delay(), Duration::MAX);
        assert_eq!(r.time_to_act(), None);
    }
}

/// `wait_n` (no timeout) or `wait_n_timeout` on a thread of its own; if the model says
/// it sleeps, waits for it to fall asleep on the fake clock and advances the clock to
/// its time to act.
fn wait(
    fake: &FakeClock,
    bucket: &Arc<TokenBucket>,
    mb: &mut BucketModel,
    now: &mut u64,
    n: u32,
    timeout: Option<Duration>,
) {
    let max_wait = timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
    let want = mb.wait(*now, n, max_wait);
    let b = Arc::clone(bucket);
    let waiter = thread::spawn(move || match timeout {
        None => b.wait_n(n),
        Some(t) => b.wait_n_timeout(n, t),
    });
    if let Ok(act) = want {
        if act > *now {
            assert!(
                fake.block_until_waiters(1, HANG),
                "wait_n({n}, {timeout:?}) did not sleep until {act} (now {now})"
            );
            fake.advance(Duration::from_nanos(act - *now));
            *now = act;
        }
    }
    let start = Instant::now();
    while !waiter.is_finished() {
        assert!(
            start.elapsed() < HANG,
            "wait_n({n}, {timeout:?}) still asleep at {now}, model: {want:?}"
        );
        thread::yield_now();
    }
    let got = waiter.join().unwrap();
    assert_eq!(got, want.map(|_| ()), "wait_n({n}, {timeout:?}) at {now}");
}

/// An exact rational `num / den` in lowest terms, `den > 0`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Q {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    (a, b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Q {
    fn new(num: i128, den: i128) -> Q {
        assert!(den != 0, "model: division by zero");
        let s = if den < 0 { -1 } else { 1 };
        let g = gcd(num, den).max(1);
        Q {
            num: s * num / g,
            den: s * den / g,
        }
    }

    fn int(n: impl Into<i128>) -> Q {
        Q::new(n.into(), 1)
    }

    fn add(self, o: Q) -> Q {
        let num = self.num * o.den + o.num * self.den;
        Q::new(num, self.den * o.den)
    }

    fn sub(self, o: Q) -> Q {
        self.add(Q::new(-o.num, o.den))
    }

    fn mul(self, o: Q) -> Q {
        Q::new(self.num * o.num, self.den * o.den)
    }

    fn div(self, o: Q) -> Q {
        Q::new(self.num * o.den, self.den * o.num)
    }

    fn min(self, o: Q) -> Q {
        if self <= o {
            self
        } else {
            o
        }
    }

    /// The smallest integer `>= self`.
    fn ceil(self) -> i128 {
        let (q, r) = (self.num.div_euclid(self.den), self.num.rem_euclid(self.den));
        q + i128::from(r != 0)
    }

    fn sign(self) -> Ordering {
        self.num.cmp(&0)
    }

    fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl PartialOrd for Q {
    fn partial_cmp(&self, o: &Q) -> Option<Ordering> {
        Some(self.sub(*o).sign())
    }
}

/// A reservation as the model granted it.
#[derive(Clone, Copy, Debug)]
struct Grant {
    ok: bool,
    tokens: u32,
    /// Time to act, in nanoseconds since t0.
    act: u64,
}

impl Grant {
    fn with_tokens(mut self, n: u32) -> Grant {
        self.tokens = n;
        self
    }
}

/// x/time/rate's `Limiter`, in exact rationals, with times in nanoseconds since t0.
struct BucketModel {
    /// Tokens per nanosecond; `None` for no limit.
    rate: Option<Q>,
    burst: u32,
    /// The balance at `last` (negative while reservations are pending).
    tokens: Q,
    last: u64,
    /// The latest time to act of any reservation.
    last_event: u64,
}

impl BucketModel {
    fn new(rate: Option<Q>, burst: u32) -> BucketModel {
        BucketModel {
            rate,
            burst,
            tokens: Q::int(burst),
            last: 0,
            last_event: 0,
        }
    }

    /// x/time's `advance`: the balance at `now`, refilled and capped at the burst.
    fn balance(&self, now: u64, rate: Q) -> Q {
        let refill = Q::int(now - self.last).mul(rate);
        self.tokens.add(refill).min(Q::int(self.burst))
    }

    /// Nanoseconds to refill `missing` tokens, rounded up; `None` if never (or beyond
    /// `u64`).
    fn refill_ns(missing: Q, rate: Q) -> Option<u64> {
        if missing.sign() != Ordering::Greater {
            return Some(0);
        }
        if rate.sign() == Ordering::Equal {
            return None;
        }
        u64::try_from(missing.div(rate).ceil()).ok()
    }

    /// x/time's `reserveN` at `now`, with `max_wait` as `maxFutureReserve` (`None`: any
    /// finite wait).
    fn reserve(&mut self, now: u64, n: u32, max_wait: Option<u64>) -> Grant {
        let Some(rate) = self.rate else {
            return Grant {
                ok: true,
                tokens: n,
                act: now,
            };
        };
        let now = now.max(self.last);
        let after = self.balance(now, rate).sub(Q::int(n));
        let wait = BucketModel::refill_ns(Q::int(0).sub(after), rate);
        let ok = n <= self.burst
            && match (wait, max_wait) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(w), Some(max)) => w <= max,
            };
        let act = now.saturating_add(wait.unwrap_or(u64::MAX));
        if ok {
            self.last = now;
            self.tokens = after;
            self.last_event = act;
        }
        Grant { ok, tokens: n, act }
    }

    /// `when`: reserve one token; its delay, or `Duration::MAX` if never.
    fn when(&mut self, now: u64) -> Duration {
        let g = self.reserve(now, 1, None);
        if g.ok {
            Duration::from_nanos(g.act - now)
        } else {
            Duration::MAX
        }
    }

    /// `wait_n` / `wait_n_timeout`: the time to act, or why it fails at once.
    fn wait(&mut self, now: u64, n: u32, max_wait: Option<u64>) -> Result<u64, WaitError> {
        if n > self.burst && self.rate.is_some() {
            return Err(WaitError::ExceedsBurst {
                n,
                burst: self.burst,
            });
        }
        let g = self.reserve(now, n, max_wait);
        if g.ok {
            Ok(g.act)
        } else if max_wait.is_some() && self.rate != Some(Q::int(0)) {
            Err(WaitError::Timeout)
        } else {
            Err(WaitError::Never)
        }
    }

    /// x/time's `CancelAt`, except that a cancel never gives back more than the
    /// reservation took (a last event earlier than its time to act counts as equal).
    fn cancel(&mut self, g: &Grant, now: u64) {
        let Some(rate) = self.rate else { return };
        if !g.ok || g.tokens == 0 || g.act < now {
            return;
        }
        let now = now.max(self.last);
        let later = Q::int(self.last_event.saturating_sub(g.act));
        let restore = Q::int(g.tokens).sub(later.mul(rate));
        if restore.sign() != Ordering::Greater {
            return;
        }
        self.tokens = self.balance(now, rate).add(restore).min(Q::int(self.burst));
        self.last = now;
        if g.act == self.last_event {
            let prev =
                BucketModel::refill_ns(Q::int(g.tokens), rate).and_then(|d| g.act.checked_sub(d));
            if let Some(prev) = prev.filter(|&p| p >= now) {
                self.last_event = prev;
            }
        }
    }

    /// x/time's `Tokens` at `now`.
    fn tokens(&self, now: u64) -> f64 {
        match self.rate {
            None => f64::from(self.burst),
            Some(rate) => self.balance(now.max(self.last), rate).to_f64(),
        }
    }
}

/// The failures of each item and when the last one was (nanoseconds since t0).
struct ItemModel {
    failures: HashMap<u8, (u32, u64)>,
    /// Idle expiry in nanoseconds; `None`: never.
    ttl: Option<u64>,
    /// A capacity bound of one key: recording a new key forgets every other.
    capacity_one: bool,
}

impl ItemModel {
    fn requeues(&self, k: u8, now: u64) -> u32 {
        match self.failures.get(&k) {
            Some(&(n, at)) if !self.ttl.is_some_and(|ttl| now - at >= ttl) => n,
            _ => 0,
        }
    }

    /// Records a failure; returns the failures before it.
    fn record(&mut self, k: u8, now: u64) -> u32 {
        if self.capacity_one && !self.failures.contains_key(&k) {
            self.failures.clear();
        }
        let before = self.requeues(k, now);
        self.failures.insert(k, (before.saturating_add(1), now));
        before
    }

    fn forget(&mut self, k: u8) {
        self.failures.remove(&k);
    }

    /// `ExponentialLimiter::when`: `min(base · 2^failures, max)`.
    fn exponential(&mut self, k: u8, now: u64, base: Duration, max: Duration) -> Duration {
        let n = self.record(k, now);
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

    /// `FastSlowLimiter::when`: `fast` for the first `max_fast` failures, then `slow`.
    fn fast_slow(
        &mut self,
        k: u8,
        now: u64,
        fast: Duration,
        slow: Duration,
        max_fast: u32,
    ) -> Duration {
        if self.record(k, now).saturating_add(1) <= max_fast {
            fast
        } else {
            slow
        }
    }
}
