//! [`TokenBucket`]: a token bucket with `golang.org/x/time/rate` semantics, and its
//! [`Reservation`].

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::sync::Mutex;

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
/// finds the token there.
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
    clock: Clock,
    epoch: Instant,
}

/// The mutable part, in units where one token is `limit.per_ns` and each nanosecond
/// adds `limit.events`. Times are nanoseconds since `TokenBucket::epoch`.
struct State {
    /// The balance at `last`; negative while reservations are outstanding.
    tokens: i128,
    /// When `tokens` was last brought up to date. Never goes backwards.
    last: u64,
    /// The latest time-to-act of any reservation.
    last_event: u64,
}

/// The outcome of reserving tokens, before the lock is released.
struct Granted {
    ok: bool,
    act: u64,
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
        Ok(TokenBucket {
            state: Mutex::new(State {
                tokens: i128::from(burst) * i128::from(limit.per_ns),
                last: 0,
                last_event: 0,
            }),
            limit,
            burst,
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
        self.advance(&st, now) as f64 / self.limit.per_ns as f64
    }

    #[inline]
    fn now_ns(&self) -> u64 {
        let since = self.clock.now().saturating_duration_since(self.epoch);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, ns: u64) -> Option<Instant> {
        self.epoch.checked_add(Duration::from_nanos(ns))
    }

    /// The balance at `now` (>= `st.last`), refilled and capped at the burst.
    #[inline]
    fn advance(&self, st: &State, now: u64) -> i128 {
        let elapsed = i128::from(now - st.last);
        let cap = i128::from(self.burst) * i128::from(self.limit.per_ns);
        // elapsed < 2^64 and events < 2^64, so the product fits; the balance is >= a
        // saturated i128::MIN / 2 in practice, and saturating_add keeps it sane anyway.
        st.tokens
            .saturating_add(elapsed * i128::from(self.limit.events))
            .min(cap)
    }

    /// Nanoseconds until a deficit of `missing` units is refilled, rounded up; `None`
    /// if never (zero limit) or beyond `u64`.
    #[inline]
    fn refill_ns(&self, missing: i128) -> Option<u64> {
        if missing <= 0 {
            return Some(0);
        }
        if self.limit.events == 0 {
            return None;
        }
        let events = i128::from(self.limit.events);
        u64::try_from((missing + events - 1) / events).ok()
    }

    /// x/time's `reserveN`: takes `n` tokens at `now` if they can be had within
    /// `max_wait` nanoseconds (`None`: any finite wait).
    fn reserve_at(&self, now: u64, n: u32, max_wait: Option<u64>) -> Granted {
        if self.limit.is_inf() {
            return Granted { ok: true, act: now };
        }
        let mut st = self.state.lock();
        // The clock was read before the lock: a thread that read it earlier may come
        // second. Treat it as arriving at `last`, so no interval is credited twice.
        let now = now.max(st.last);
        let cost = i128::from(n) * i128::from(self.limit.per_ns);
        let after = self.advance(&st, now).saturating_sub(cost);
        let wait = self.refill_ns(-after);
        let ok = n <= self.burst
            && match (wait, max_wait) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(w), Some(max)) => w <= max,
            };
        let act = now.saturating_add(wait.unwrap_or(u64::MAX));
        if ok {
            st.last = now;
            st.tokens = after;
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
    /// [`ok`](Reservation::ok) if `n` exceeds the burst or the limit is zero and the
    /// tokens will never come; then nothing was taken.
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
        self.wait_inner(
            n,
            Some(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    fn wait_inner(&self, n: u32, max_wait: Option<u64>) -> Result<(), WaitError> {
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
                None => self.clock.sleep(Duration::from_nanos(g.act - now)),
            }
        }
        Ok(())
    }

    /// x/time's `CancelAt`: gives back the tokens of a reservation that has not acted
    /// yet, minus those that later reservations already count on.
    fn cancel_at(&self, r: &Reservation<'_>, now: u64) {
        if !r.ok || r.tokens == 0 || self.limit.is_inf() || r.act < now {
            return;
        }
        let mut st = self.state.lock();
        let now = now.max(st.last);
        let events = i128::from(self.limit.events);
        let per = i128::from(self.limit.per_ns);
        let later = i128::from(st.last_event.saturating_sub(r.act));
        let restore = (i128::from(r.tokens) * per).saturating_sub(later.saturating_mul(events));
        if restore <= 0 {
            return;
        }
        let cap = i128::from(self.burst) * per;
        let tokens = self.advance(&st, now).saturating_add(restore).min(cap);
        st.last = now;
        st.tokens = tokens;
        if r.act == st.last_event {
            // This was the latest reservation: the last event moves back to when the
            // tokens it took would have been ready.
            let prev = self
                .refill_ns(i128::from(r.tokens) * per)
                .and_then(|d| r.act.checked_sub(d));
            if let Some(prev) = prev.filter(|&p| p >= now) {
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
            Duration::from_nanos(g.act - now)
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
            Some(st) if !self.limit.is_inf() => d.field(
                "tokens_at_last",
                &(st.tokens as f64 / self.limit.per_ns as f64),
            ),
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
    act: u64,
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
        let act = Duration::from_nanos(self.act);
        let since = t.saturating_duration_since(self.bucket.epoch);
        act.saturating_sub(since)
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
