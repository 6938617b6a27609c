//! [`TokenBucket`]: a token bucket with `golang.org/x/time/rate` semantics, and its
//! [`Reservation`].

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::sync::Mutex;

use crate::exponential::nanos_to_duration;
use crate::{ConfigError, Limit, RateLimiter};

/// A token bucket: up to `burst` tokens, refilled at `limit`, with the semantics of Go's
/// `golang.org/x/time/rate.Limiter`.
///
/// * [`allow`](TokenBucket::allow) / [`allow_n`](TokenBucket::allow_n) take tokens only
///   if they are there now.
/// * [`reserve`](TokenBucket::reserve) / [`reserve_n`](TokenBucket::reserve_n) always
///   take the tokens (the balance may go negative) and tell how long to wait before
///   acting; the [`Reservation`] can be cancelled to give the tokens back.
/// * [`wait`](TokenBucket::wait) / [`wait_n`](TokenBucket::wait_n) reserve and sleep
///   through the bucket's [`Clock`].
///
/// As a [`RateLimiter`] (client-go's `BucketRateLimiter`) every `when` reserves one
/// token and returns the reservation's delay, whatever the item, so delays queue up:
/// with 10 events/s and a burst of 1, successive calls return 0, 100 ms, 200 ms, …
/// `forget` does nothing and `num_requeues` is always 0.
///
/// The bucket starts full. Tokens are counted in exact integer arithmetic (a token is
/// split into `per` parts of the [`Limit`] fraction), so the refill never drifts, and
/// wait times are rounded *up* to the nanosecond, so acting at the returned time always
/// finds the token there (two successive times to act may therefore be up to 1 ns
/// closer than the exact spacing; the tokens granted never exceed
/// `burst + rate · elapsed`).
///
/// No [`Limit`], burst or clock reading can overflow that arithmetic: times are counted
/// in `u128` nanoseconds since the bucket was created (so a fake clock advanced by
/// centuries still limits correctly), and the refill after an idle period is capped at
/// the time the bucket needs to fill up, as x/time caps it (`maxElapsed`), so the
/// balance never exceeds the burst and `elapsed · rate` is never formed for a longer
/// time than that.
///
/// # Limits and bursts
///
/// * [`Limit::INF`] allows every event at once and ignores the burst.
/// * [`Limit::ZERO`] grants the initial `burst` tokens, then nothing ever again: `allow`
///   is false, a reservation is not ok (its delay is `Duration::MAX`) and `wait` fails.
/// * A burst of 0 with a finite limit is rejected by the constructors
///   ([`ConfigError::ZeroBurst`]); x/time accepts it and never allows anything.
/// * A request for more than `burst` tokens at once is never granted (unless the limit
///   is infinite).
///
/// # Examples
///
/// ```
/// use gosync_core::clock::FakeClock;
/// use gosync_ratelimit::{Limit, TokenBucket};
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let bucket = TokenBucket::with_clock(Limit::per_second(10), 2, fake.clock()).unwrap();
/// assert!(bucket.allow());
/// assert!(bucket.allow());
/// assert!(!bucket.allow()); // burst used up
/// fake.advance(Duration::from_millis(100));
/// assert!(bucket.allow()); // one token refilled
///
/// let r = bucket.reserve();
/// assert_eq!(r.delay(), Duration::from_millis(100));
/// r.cancel(); // gives the token back
/// assert_eq!(bucket.reserve().delay(), Duration::from_millis(100));
/// ```
pub struct TokenBucket {
    state: Mutex<State>,
    limit: Limit,
    burst: u32,
    /// The units one nanosecond refills: `limit.events`, or 1 for [`Limit::ZERO`] (whose
    /// amounts are then plain units, and which never refills).
    rate: u64,
    /// `burst` tokens.
    full: Amount,
    /// One token.
    token: Amount,
    clock: Clock,
    epoch: Instant,
}

/// The mutable part. Times are nanoseconds since `TokenBucket::epoch`: `u128`, so no
/// clock reading saturates.
struct State {
    /// How far the balance at `last` is below the burst: 0 when the bucket is full,
    /// more than `full` while reservations are outstanding (the balance is negative).
    /// Its `ns` is x/time's `maxElapsed`: the refill time that fills the bucket up.
    missing: Amount,
    /// When `missing` was last brought up to date. Never goes backwards.
    last: u128,
    /// The latest time-to-act of any reservation.
    last_event: u128,
}

/// A non-negative amount of the bucket's units (one token is `limit.per_ns` units, and
/// each nanosecond refills `rate` units), held as `ns · rate − slack` with
/// `0 <= slack < rate`: `ns` is the time the refill takes to bring the amount, rounded up
/// to the nanosecond, and `slack` what that whole nanosecond brings beyond it.
///
/// Every operation is exact and stays far inside `u128`: an amount is at most the burst
/// (`ns < 2⁹⁶`), plus a deficit the refill covers within `u64::MAX` nanoseconds (a
/// reservation further away is refused), plus one more burst being reserved: `ns < 2⁹⁸`,
/// and in units `< 2¹²⁸` for the burst and the deficit alone. Subtracting a refill is
/// subtracting a time, so the product `elapsed · rate`, which overflowed `i128` for long
/// idle times and fast rates, is never formed; a refill longer than `ns` (x/time's
/// `maxElapsed`) simply leaves zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Amount {
    ns: u128,
    slack: u64,
}

impl Amount {
    const ZERO: Amount = Amount { ns: 0, slack: 0 };

    /// `units` of a bucket refilling `rate` units per nanosecond (`units <= u32::MAX ·
    /// u64::MAX`: a burst).
    fn from_units(units: u128, rate: u64) -> Amount {
        let rate = u128::from(rate);
        let ns = units.div_ceil(rate);
        // ns · rate - units < rate, and ns · rate <= units + rate - 1 fits.
        let slack = (ns * rate - units) as u64;
        Amount { ns, slack }
    }

    /// The amount in units, if it fits in `u128` (it does for the burst and for a
    /// deficit: see the type docs).
    fn units(self, rate: u64) -> Option<u128> {
        self.ns
            .checked_mul(u128::from(rate))
            .map(|u| u - u128::from(self.slack))
    }

    /// `self + other`.
    fn add(self, other: Amount, rate: u64) -> Amount {
        let ns = self.ns + other.ns;
        let slack = u128::from(self.slack) + u128::from(other.slack);
        if slack >= u128::from(rate) {
            // A slack is positive only with `ns >= 1`, so `ns >= 1` here.
            Amount {
                ns: ns - 1,
                slack: (slack - u128::from(rate)) as u64,
            }
        } else {
            Amount {
                ns,
                slack: slack as u64,
            }
        }
    }

    /// `max(self − other, 0)`.
    fn saturating_sub(self, other: Amount, rate: u64) -> Amount {
        // self − other = (self.ns − other.ns) · rate − (self.slack − other.slack).
        let (ns, slack) = if self.slack >= other.slack {
            (self.ns.checked_sub(other.ns), self.slack - other.slack)
        } else {
            // = (self.ns − other.ns + 1) · rate − (rate − (other.slack − self.slack)).
            let borrow = other.slack - self.slack;
            ((self.ns + 1).checked_sub(other.ns), rate - borrow)
        };
        match ns {
            // With `ns == 0` the difference is `-slack <= 0`.
            Some(ns) if ns > 0 => Amount { ns, slack },
            _ => Amount::ZERO,
        }
    }

    /// `max(self − elapsed · rate, 0)`: what is left after `elapsed` nanoseconds of
    /// refill. The refill is capped at `ns`, the time that covers the whole amount.
    fn refilled(self, elapsed: u128) -> Amount {
        if elapsed >= self.ns {
            Amount::ZERO
        } else {
            Amount {
                ns: self.ns - elapsed,
                slack: self.slack,
            }
        }
    }
}

/// The outcome of reserving tokens, before the lock is released.
struct Granted {
    ok: bool,
    act: u128,
}

impl TokenBucket {
    /// A bucket of `burst` tokens refilled at `limit`, on the real clock.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroBurst`] if `burst` is 0 and `limit` is finite.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(100), 10).unwrap();
    /// assert!(bucket.allow_n(10));
    /// assert!(!bucket.allow_n(11)); // more than the burst: never
    /// ```
    pub fn new(limit: Limit, burst: u32) -> Result<TokenBucket, ConfigError> {
        TokenBucket::with_clock(limit, burst, Clock::real())
    }

    /// A bucket on the given clock (a fake clock makes tests deterministic).
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroBurst`] if `burst` is 0 and `limit` is finite.
    pub fn with_clock(limit: Limit, burst: u32, clock: Clock) -> Result<TokenBucket, ConfigError> {
        if burst == 0 && !limit.is_inf() {
            return Err(ConfigError::ZeroBurst);
        }
        let epoch = clock.now();
        let rate = limit.events.max(1);
        let per_ns = u128::from(limit.per_ns);
        Ok(TokenBucket {
            state: Mutex::new(State {
                missing: Amount::ZERO,
                last: 0,
                last_event: 0,
            }),
            limit,
            burst,
            rate,
            full: Amount::from_units(u128::from(burst) * per_ns, rate),
            token: Amount::from_units(per_ns, rate),
            clock,
            epoch,
        })
    }

    /// The refill rate.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// The bucket size.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The clock the bucket reads and sleeps on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The tokens available now (fractional, negative while reservations are pending);
    /// x/time's `Tokens()`.
    pub fn tokens(&self) -> f64 {
        if self.limit.is_inf() {
            return f64::from(self.burst);
        }
        let now = self.now_ns();
        let st = self.state.lock();
        let now = now.max(st.last);
        self.balance(self.advance(&st, now))
    }

    /// The balance, in tokens, of a bucket `missing` below full.
    fn balance(&self, missing: Amount) -> f64 {
        let units = |a: Amount| match a.units(self.rate) {
            Some(u) => u as f64,
            None => a.ns as f64 * self.rate as f64 - a.slack as f64,
        };
        let above_zero = self.full.saturating_sub(missing, self.rate);
        let signed = if above_zero != Amount::ZERO {
            units(above_zero)
        } else {
            -units(missing.saturating_sub(self.full, self.rate))
        };
        // The float division may round a balance just below the burst to above it.
        (signed / self.limit.per_ns as f64).min(f64::from(self.burst))
    }

    #[inline]
    fn now_ns(&self) -> u128 {
        let since = self.clock.now().saturating_duration_since(self.epoch);
        since.as_nanos()
    }

    fn instant(&self, ns: u128) -> Option<Instant> {
        self.epoch.checked_add(nanos_to_duration(ns))
    }

    /// How far below full the bucket is at `now` (>= `st.last`), after the refill since
    /// `st.last`.
    #[inline]
    fn advance(&self, st: &State, now: u128) -> Amount {
        if self.limit.is_zero() {
            st.missing
        } else {
            st.missing.refilled(now - st.last)
        }
    }

    /// `n` tokens.
    #[inline]
    fn cost(&self, n: u32) -> Amount {
        if n == 1 {
            self.token
        } else {
            Amount::from_units(u128::from(n) * u128::from(self.limit.per_ns), self.rate)
        }
    }

    /// x/time's `reserveN`: takes `n` tokens at `now` if they can be had within
    /// `max_wait` nanoseconds (`None`: any wait up to `u64::MAX` nanoseconds).
    fn reserve_at(&self, now: u128, n: u32, max_wait: Option<u128>) -> Granted {
        if self.limit.is_inf() {
            return Granted { ok: true, act: now };
        }
        let mut st = self.state.lock();
        // The clock was read before the lock: a thread that read it earlier may come
        // second. Treat it as arriving at `last`, so no interval is credited twice.
        let now = now.max(st.last);
        let after = self.advance(&st, now).add(self.cost(n), self.rate);
        // The balance after taking the tokens is `full − after`; below zero, the refill
        // brings it back to zero in `deficit.ns` nanoseconds (rounded up).
        let deficit = after.saturating_sub(self.full, self.rate);
        let wait = if deficit == Amount::ZERO {
            Some(0)
        } else if self.limit.is_zero() {
            None
        } else {
            Some(deficit.ns).filter(|&w| w <= u128::from(u64::MAX))
        };
        let ok = n <= self.burst
            && match (wait, max_wait) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(w), Some(max)) => w <= max,
            };
        let act = now + wait.unwrap_or(0);
        if ok {
            st.last = now;
            st.missing = after;
            st.last_event = act;
        }
        Granted { ok, act }
    }

    /// Takes one token if one is available now (x/time's `Allow`).
    #[inline]
    pub fn allow(&self) -> bool {
        self.allow_n(1)
    }

    /// Takes `n` tokens if they are all available now (x/time's `AllowN`). `n == 0` is
    /// allowed whenever no reservation is pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1), 5).unwrap();
    /// assert!(bucket.allow_n(3));
    /// assert!(!bucket.allow_n(3)); // only 2 left; nothing is taken
    /// assert!(bucket.allow_n(2));
    /// ```
    pub fn allow_n(&self, n: u32) -> bool {
        self.reserve_at(self.now_ns(), n, Some(0)).ok
    }

    /// Reserves one token (x/time's `Reserve`); see [`reserve_n`](TokenBucket::reserve_n).
    #[inline]
    pub fn reserve(&self) -> Reservation<'_> {
        self.reserve_n(1)
    }

    /// Reserves `n` tokens however long they take to arrive (x/time's `ReserveN`).
    ///
    /// The tokens are taken at once (the balance may go negative); the
    /// [`Reservation`] tells how long to wait before acting. It is not
    /// [`ok`](Reservation::ok) if `n` exceeds the burst, or if the tokens will never
    /// come (a zero limit, or a wait beyond `u64::MAX` nanoseconds, about 584 years);
    /// then nothing was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let bucket = TokenBucket::with_clock(Limit::per_second(2), 1, fake.clock()).unwrap();
    /// let delays: Vec<_> = (0..3).map(|_| bucket.reserve().delay()).collect();
    /// assert_eq!(delays, [0, 500, 1000].map(Duration::from_millis));
    /// assert!(!bucket.reserve_n(2).ok()); // above the burst
    /// ```
    pub fn reserve_n(&self, n: u32) -> Reservation<'_> {
        let now = self.now_ns();
        let g = self.reserve_at(now, n, None);
        Reservation {
            bucket: self,
            ok: g.ok,
            tokens: n,
            act: g.act,
        }
    }

    /// Waits until one token is available and takes it (x/time's `Wait`).
    ///
    /// # Errors
    ///
    /// See [`wait_n`](TokenBucket::wait_n).
    pub fn wait(&self) -> Result<(), WaitError> {
        self.wait_n(1)
    }

    /// Reserves `n` tokens and sleeps through the bucket's clock until they are due
    /// (x/time's `WaitN` without a deadline).
    ///
    /// # Errors
    ///
    /// * [`WaitError::ExceedsBurst`] if `n` is above the burst (and the limit finite);
    /// * [`WaitError::Never`] if the limit is zero and the tokens will never come.
    ///
    /// In both cases nothing is taken and the call returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket, WaitError};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1000), 2).unwrap();
    /// bucket.wait_n(2).unwrap(); // the burst: no sleep
    /// bucket.wait().unwrap(); // sleeps about 1 ms
    /// assert!(matches!(bucket.wait_n(3), Err(WaitError::ExceedsBurst { .. })));
    /// ```
    pub fn wait_n(&self, n: u32) -> Result<(), WaitError> {
        self.wait_inner(n, None)
    }

    /// Like [`wait_n`](TokenBucket::wait_n), but gives up at once, taking nothing, if the
    /// tokens would not be due within `timeout` (x/time's `WaitN` with a context
    /// deadline).
    ///
    /// # Errors
    ///
    /// Those of [`wait_n`](TokenBucket::wait_n), and [`WaitError::Timeout`] when the
    /// wait would exceed `timeout`.
    pub fn wait_n_timeout(&self, n: u32, timeout: Duration) -> Result<(), WaitError> {
        self.wait_inner(n, Some(timeout.as_nanos()))
    }

    fn wait_inner(&self, n: u32, max_wait: Option<u128>) -> Result<(), WaitError> {
        if n > self.burst && !self.limit.is_inf() {
            return Err(WaitError::ExceedsBurst {
                n,
                burst: self.burst,
            });
        }
        let now = self.now_ns();
        let g = self.reserve_at(now, n, max_wait);
        if !g.ok {
            return Err(if max_wait.is_some() && !self.limit.is_zero() {
                WaitError::Timeout
            } else {
                WaitError::Never
            });
        }
        if g.act > now {
            match self.instant(g.act) {
                Some(t) => self.clock.sleep_until(t),
                None => self.clock.sleep(nanos_to_duration(g.act - now)),
            }
        }
        Ok(())
    }

    /// x/time's `CancelAt`: gives back the tokens of a reservation that has not acted
    /// yet, minus those that later reservations already count on.
    fn cancel_at(&self, r: &Reservation<'_>, now: u128) {
        if !r.ok || r.tokens == 0 || self.limit.is_inf() || r.act < now {
            return;
        }
        let mut st = self.state.lock();
        let now = now.max(st.last);
        let cost = self.cost(r.tokens);
        // The refill of the time from this reservation's act to the last one's is
        // counted on by the later reservations (a zero limit refills nothing).
        let restore = if self.limit.is_zero() {
            cost
        } else {
            let later = Amount {
                ns: st.last_event.saturating_sub(r.act),
                slack: 0,
            };
            cost.saturating_sub(later, self.rate)
        };
        if restore == Amount::ZERO {
            return;
        }
        // Capped at full: `missing` does not go below zero.
        st.missing = self.advance(&st, now).saturating_sub(restore, self.rate);
        st.last = now;
        if r.act == st.last_event && !self.limit.is_zero() {
            // This was the latest reservation: the last event moves back to when the
            // tokens it took would have been ready.
            if let Some(prev) = r.act.checked_sub(cost.ns).filter(|&p| p >= now) {
                st.last_event = prev;
            }
        }
    }
}

impl<K: ?Sized> RateLimiter<K> for TokenBucket {
    /// Reserves one token and returns its delay (`Duration::MAX` if it will never come).
    #[inline]
    fn when(&self, _item: &K) -> Duration {
        let now = self.now_ns();
        let g = self.reserve_at(now, 1, None);
        if g.ok {
            nanos_to_duration(g.act - now)
        } else {
            Duration::MAX
        }
    }

    /// Does nothing: a bucket does not track items.
    #[inline]
    fn forget(&self, _item: &K) {}

    /// Always 0: a bucket does not track items.
    #[inline]
    fn num_requeues(&self, _item: &K) -> u32 {
        0
    }
}

impl fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TokenBucket");
        d.field("limit", &self.limit).field("burst", &self.burst);
        match self.state.try_lock() {
            Some(st) if !self.limit.is_inf() => {
                d.field("tokens_at_last", &self.balance(st.missing))
            }
            Some(_) => &mut d,
            None => d.field("tokens_at_last", &"<locked>"),
        };
        d.field("clock", &self.clock).finish()
    }
}

/// Tokens taken from a [`TokenBucket`] by [`reserve`](TokenBucket::reserve), and when
/// they may be used (x/time's `Reservation`).
///
/// Dropping a reservation keeps the tokens taken; [`cancel`](Reservation::cancel) gives
/// them back.
#[must_use = "a reservation's delay must be waited out before acting (or the reservation cancelled)"]
pub struct Reservation<'a> {
    bucket: &'a TokenBucket,
    ok: bool,
    tokens: u32,
    /// Time to act, in the bucket's nanoseconds since its epoch.
    act: u128,
}

impl Reservation<'_> {
    /// Whether the tokens were granted. If not, nothing was taken and
    /// [`delay`](Reservation::delay) is `Duration::MAX`.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// How long to wait from now before acting; 0 if the tokens are already due, and
    /// `Duration::MAX` if the reservation is not ok (x/time's `Delay`).
    pub fn delay(&self) -> Duration {
        self.delay_from(self.bucket.clock.now())
    }

    /// How long to wait from `t` before acting (x/time's `DelayFrom`).
    pub fn delay_from(&self, t: Instant) -> Duration {
        if !self.ok {
            return Duration::MAX;
        }
        let since = t.saturating_duration_since(self.bucket.epoch).as_nanos();
        nanos_to_duration(self.act.saturating_sub(since))
    }

    /// When the tokens are due, or `None` if the reservation is not ok (or the time is
    /// beyond what `Instant` can represent).
    pub fn time_to_act(&self) -> Option<Instant> {
        if self.ok {
            self.bucket.instant(self.act)
        } else {
            None
        }
    }

    /// Gives the tokens back as far as possible (x/time's `Cancel`): in full if no later
    /// reservation was made, minus what later reservations already count on otherwise.
    /// Does nothing if the reservation is not ok or its time to act has passed.
    pub fn cancel(self) {
        let now = self.bucket.now_ns();
        self.bucket.cancel_at(&self, now);
    }
}

impl fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("ok", &self.ok)
            .field("tokens", &self.tokens)
            .field("delay", &self.delay())
            .finish()
    }
}

/// Why [`TokenBucket::wait_n`] did not wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError {
    /// More tokens were asked for than the bucket can ever hold.
    ExceedsBurst {
        /// Tokens asked for.
        n: u32,
        /// The bucket's burst.
        burst: u32,
    },
    /// The limit is zero and the tokens will never arrive.
    Never,
    /// The tokens would not be due within the timeout.
    Timeout,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::ExceedsBurst { n, burst } => {
                write!(f, "rate: wait(n={n}) exceeds limiter's burst {burst}")
            }
            WaitError::Never => f.write_str("rate: wait would never end (zero limit)"),
            WaitError::Timeout => f.write_str("rate: wait would exceed the timeout"),
        }
    }
}

impl Error for WaitError {}
