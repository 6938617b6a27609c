//! [`TokenBucket`]: a token bucket with `golang.org/x/time/rate` semantics, and its
//! [`Reservation`].

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::sync::atomic::{
    AtomicBool, AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use gosync_core::sync::{Mutex, MutexGuard};

use crate::exponential::nanos_to_duration;
use crate::wide::U256;
use crate::{ConfigError, KeyRef, Limit, RateLimiter};

/// A token bucket: up to `burst` tokens, refilled at `limit`, with the semantics of Go's
/// `golang.org/x/time/rate.Limiter`.
///
/// * [`allow`](TokenBucket::allow) / [`allow_n`](TokenBucket::allow_n) take tokens only
///   if they are there now.
/// * [`reserve`](TokenBucket::reserve) / [`reserve_n`](TokenBucket::reserve_n) always
///   take the tokens (the balance may go negative) and tell how long to wait before
///   acting; the [`Reservation`] can be cancelled to give the tokens back.
/// * [`wait`](TokenBucket::wait) / [`wait_n`](TokenBucket::wait_n) reserve and sleep
///   through the bucket's [`Clock`]; `wait_context` (feature `context`) also gives up,
///   giving the tokens back, when a `gosync_context::Context` is done.
/// * [`set_limit`](TokenBucket::set_limit) / [`set_burst`](TokenBucket::set_burst)
///   (and their `_at` variants) change the rate and the size while the bucket is in
///   use.
///
/// As a [`RateLimiter`] (client-go's `BucketRateLimiter`) every `when` reserves one
/// token and returns the reservation's delay, whatever the item, so delays queue up:
/// with 10 events/s and a burst of 1, successive calls return 0, 100 ms, 200 ms, …
/// `forget` does nothing and `num_requeues` is always 0.
///
/// `allow` and `allow_n` are lock-free while the bucket's state fits one atomic word
/// (a finite, non-zero limit and no cancellable reservation alive): one read of the
/// cheap clock and one compare-exchange, as governor's GCRA limiter. The other
/// operations take a mutex; both paths compute the same exact arithmetic.
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
/// * [`Limit::ZERO`] grants the tokens the bucket holds, then nothing ever again (until
///   the limit is changed): `allow` is false, a reservation is not ok (its delay is
///   `Duration::MAX`) and `wait` fails.
/// * A burst of 0 with a finite limit is rejected by the constructors
///   ([`ConfigError::ZeroBurst`]); x/time accepts it and never allows anything.
///   [`set_burst`](TokenBucket::set_burst) accepts 0, as x/time's `SetBurst` does: the
///   bucket then allows nothing (but `n == 0`) until the burst is raised or the limit
///   made infinite.
/// * A request for more than `burst` tokens at once is never granted (unless the limit
///   is infinite).
///
/// # Changing the limit and the burst
///
/// [`set_limit_at`](TokenBucket::set_limit_at) and
/// [`set_burst_at`](TokenBucket::set_burst_at) follow x/time's `SetLimitAt` and
/// `SetBurstAt`:
///
/// * The bucket is first brought up to the given time at the **old** limit and burst,
///   so the tokens that accrued until then are kept; the balance (possibly negative,
///   while reservations are pending) carries over, and the new limit refills it from
///   then on. A larger burst does not fill the bucket; a smaller one caps the balance.
/// * Pending reservations keep their time to act: the new limit and burst may be
///   violated, or under-used, by reservations made before the change. Sleepers in
///   `wait`, `wait_n_timeout` and `wait_context` are not woken: they act at the time
///   they were given (x/time's `WaitN` keeps its timer too).
/// * [`Reservation::cancel`] gives back the reservation's tokens minus those that later
///   reservations count on, the latter counted at the limit in force when the
///   reservation was made (x/time keeps that limit in the reservation), and adds them to
///   the balance at the current limit, up to the current burst.
/// * Becoming [`Limit::INF`] freezes the balance (nothing is taken while it is
///   infinite; cancelling does nothing). Leaving it again, any time later, finds the
///   bucket full: an infinite rate fills any bucket in no time (x/time:
///   `tokensFromDuration` of `Inf`). Becoming [`Limit::ZERO`] keeps the balance as it
///   is, without refill.
///
/// The balance is kept exact across a limit change whenever the new limit's token
/// fraction can represent it, as it always can for whole tokens; otherwise it is rounded
/// *down* by less than one part of a token (the refill of less than a nanosecond at the
/// new rate), so a change never grants a sliver more than x/time's exact arithmetic.
/// One bound keeps the arithmetic overflow-free: a deficit that the new rate would need
/// more than 2¹²⁶ nanoseconds (about 2.7·10²¹ years) to refill is capped there. It takes
/// a debt of more than 2⁶² tokens (billions of maximal reservations at a very fast
/// limit) followed by a very slow limit to reach it; reservations are refused long
/// before (beyond `u64::MAX` nanoseconds), and only a later return to a fast limit would
/// show the debt forgiven beyond the cap.
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
///
/// bucket.set_limit(Limit::per_second(100)); // ten times faster from now on
/// assert_eq!(bucket.reserve().delay(), Duration::from_millis(20));
/// ```
pub struct TokenBucket {
    /// The lock-free path of `allow_n` (see [`Fast`]).
    fast: Fast,
    /// Reservations alive that `cancel` could still give tokens back for (ok, at least
    /// one token, finite limit). While any is alive the fast path is off: `cancel`
    /// needs the exact time of the last grant (`last_event`), which fast grants do not
    /// keep. Incremented under the lock, decremented by the reservation's drop.
    live: AtomicUsize,
    state: Mutex<State>,
    /// Whether the limit is [`Limit::INF`]: `state.config.limit.is_inf()`, written under
    /// the lock by `set_limit_at`, read without it by the infinite fast path of
    /// `reserve_at`. Relaxed: it guards no data (an infinite limit touches no state), and
    /// a reader ordered after a `set_limit_at` by any happens-before edge sees its store
    /// (coherence); a reader that sees `false` checks the limit again under the lock.
    inf: AtomicBool,
    clock: Clock,
    epoch: Instant,
    /// With the real clock, `clock.nanos()` when the bucket was created: the bucket's
    /// time is `clock.nanos() - nanos0` (the cheap clock; see "Clock" on the fast path).
    nanos0: u64,
    /// Unit tests: the fast path held off for good (the reference twin).
    #[cfg(test)]
    slow_only: bool,
}

/// The lock-free path of [`TokenBucket::allow_n`].
///
/// # Protocol
///
/// `word` is either `SLOW` (the state under the mutex is authoritative; `allow_n` takes
/// the lock) or `gen << 48 | x`: *fast mode*, where the word is authoritative and `x` is
/// the bucket's missing amount as a point on its refill line, GCRA style, in the
/// bucket's units: at time `t >= base` (bucket nanoseconds) the bucket is
/// `max(x - (t - base) · rate, 0)` units below full. A grant of `cost` units at `t` is
/// possible iff `max(x, (t - base) · rate) + cost - (t - base) · rate <= full`, and moves
/// `x` to `max(x, (t - base) · rate) + cost`; that is exactly the mutex path's `Amount`
/// arithmetic (`refilled` caps at zero, `add`, `saturating_sub`), written as one line.
///
/// 1. Only a thread holding the mutex changes `word` from SLOW, or the constants `base`,
///    `rate`, `token` and `full`: [`TokenBucket::lock`] swaps the word to SLOW first and
///    folds `x` back into the `State` (`absorb`); its guard's drop writes the constants
///    and publishes a new word (`publish`) when fast mode can represent the state.
/// 2. A fast grant is one compare-exchange of the word (its generation and `x`), so it
///    is linearized there, with every other fast grant and with the swap to SLOW (an
///    RMW on the same word): a grant either happens before the lock holder's swap (and
///    is in the `x` it absorbs) or fails and retries on SLOW, i.e. takes the lock.
///    A refusal is linearized by a compare-exchange of the word with itself.
/// 3. The constants are read after the word (Acquire loads pairing with `publish`'s
///    Release stores); a value from a later publication implies the word went SLOW in
///    between, so the compare-exchange fails. The 16-bit generation makes a word that
///    came back to the same `x` under different constants differ (it would take
///    exactly 65 536 publications during one fast-path call to alias).
/// 4. The time of the last fast grant goes to `last_grant` with a plain store after the
///    grant. `absorb` takes it as the state's `last`, exactly when the grant and the lock
///    are in one thread (every deterministic test); between threads it may lag a racing
///    grant by that grant's few instructions, which only makes the bucket stricter
///    (evaluating the line at an earlier time finds more missing), never more lenient.
/// 5. Fast mode is off while a cancellable `Reservation` is alive (`live`). `cancel`
///    reads `last_event`, which `absorb` raises to the last fast grant's time: exact
///    within a thread, but a grant racing on another thread may store its time a moment
///    late (4), and there a late `last_event` would give back slightly *more*. With no
///    reservation alive nothing reads `last_event` before a new reservation sets it.
///
/// # Clock
///
/// On the real clock the bucket's time is [`Clock::nanos`] (the TSC scaled to
/// nanoseconds where the kernel trusts it: about 10 ns where `Instant::now` takes 20+),
/// measured from the bucket's creation; instants given to or returned by the API are
/// converted through a fresh (`Instant::now`, `nanos`) pair. On a fake clock the time is
/// exact `Instant` arithmetic in `u128`, as before; the fast path then serves times that
/// fit in a `u64` and leaves the rest to the mutex.
struct Fast {
    word: AtomicU64,
    /// The time `x` is measured from, the state's `last` at publication, in the fast
    /// path's clock (see `fast_now`: the bucket's time plus `nanos0`).
    base: AtomicU64,
    /// Units refilled per nanosecond (`Scale::rate`).
    rate: AtomicU64,
    /// Units per token (`Scale::token_units`).
    token: AtomicU64,
    /// Units in a full bucket, `< X_LIMIT`.
    full: AtomicU64,
    /// The time of the latest fast grant, in the fast path's clock (see the protocol, 4).
    last_grant: AtomicU64,
}

/// The word's value when the mutex path is authoritative (`x` is never `X_MASK`).
const SLOW: u64 = u64::MAX;
const X_BITS: u32 = 48;
const X_MASK: u64 = (1 << X_BITS) - 1;
/// Fast mode keeps every `x` (and the full bucket) below this.
const X_LIMIT: u128 = X_MASK as u128;

/// The mutable part. Times are nanoseconds since `TokenBucket::epoch`: `u128`, so no
/// clock reading saturates.
struct State {
    /// How far the balance at `last` is below the burst: 0 when the bucket is full,
    /// more than `config.full` while reservations are outstanding (the balance is
    /// negative). Its `ns` is x/time's `maxElapsed`: the refill time that fills the
    /// bucket up. Counted in `config.scale`'s units.
    missing: Amount,
    /// When `missing` was last brought up to date. Never goes backwards.
    last: u128,
    /// The latest time-to-act of any reservation.
    last_event: u128,
    config: Config,
    /// The generation of the next fast-mode word (see [`Fast`]).
    generation: u16,
}

/// The limit and burst, and the amounts derived from them.
#[derive(Clone, Copy, Debug)]
struct Config {
    limit: Limit,
    burst: u32,
    scale: Scale,
    /// `burst` tokens.
    full: Amount,
    /// One token.
    token: Amount,
}

/// The units amounts are counted in: one token is `token_units` units, and each
/// nanosecond refills `rate` units. For a finite non-zero limit, its fraction
/// (`per_ns`, `events`); [`Limit::ZERO`] and [`Limit::INF`], which refill nothing or
/// everything, keep the scale of the limit before them (at first 1 and 1), so a balance
/// passes through them unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scale {
    token_units: u64,
    rate: u64,
}

impl Scale {
    const PLAIN: Scale = Scale {
        token_units: 1,
        rate: 1,
    };
}

impl Config {
    fn new(limit: Limit, burst: u32, previous: Scale) -> Config {
        let scale = if limit.is_inf() || limit.is_zero() {
            previous
        } else {
            Scale {
                token_units: limit.per_ns,
                rate: limit.events,
            }
        };
        let token = u128::from(scale.token_units);
        Config {
            limit,
            burst,
            scale,
            full: Amount::from_units(u128::from(burst) * token, scale.rate),
            token: Amount::from_units(token, scale.rate),
        }
    }

    /// `n` tokens.
    #[inline]
    fn cost(&self, n: u32) -> Amount {
        if n == 1 {
            self.token
        } else {
            let units = u128::from(n) * u128::from(self.scale.token_units);
            Amount::from_units(units, self.scale.rate)
        }
    }
}

impl State {
    /// How far below full the bucket is at `now` (>= `self.last`), after the refill
    /// since `self.last`.
    #[inline]
    fn advanced(&self, now: u128) -> Amount {
        let limit = self.config.limit;
        if limit.is_zero() {
            self.missing
        } else if limit.is_inf() {
            // Any time at an infinite rate fills the bucket (x/time: `tokensFromDuration`
            // of `Inf` for a positive duration is beyond any burst).
            if now > self.last {
                Amount::ZERO
            } else {
                self.missing
            }
        } else {
            self.missing.refilled(now - self.last)
        }
    }

    /// Brings `missing` up to `now` (>= `self.last`).
    fn advance_to(&mut self, now: u128) {
        self.missing = self.advanced(now);
        self.last = now;
    }

    /// The balance, in tokens, of a bucket `missing` below full.
    fn balance(&self, missing: Amount) -> f64 {
        let Config {
            full, scale, burst, ..
        } = self.config;
        let units = |a: Amount| match a.units(scale.rate) {
            Some(u) => u as f64,
            None => a.ns as f64 * scale.rate as f64 - a.slack as f64,
        };
        let above_zero = full.saturating_sub(missing, scale.rate);
        let signed = if above_zero != Amount::ZERO {
            units(above_zero)
        } else {
            -units(missing.saturating_sub(full, scale.rate))
        };
        // The float division may round a balance just below the burst to above it.
        (signed / scale.token_units as f64).min(f64::from(burst))
    }
}

/// A non-negative amount of the bucket's units (one token is `scale.token_units` units,
/// and each nanosecond refills `scale.rate` units), held as `ns · rate − slack` with
/// `0 <= slack < rate`: `ns` is the time the refill takes to bring the amount, rounded up
/// to the nanosecond, and `slack` what that whole nanosecond brings beyond it.
///
/// Every operation is exact and stays inside `u128`: an amount is at most the burst
/// (`ns < 2⁹⁶`), plus a deficit (a reservation whose refill would take more than
/// `u64::MAX` nanoseconds is refused, and a limit change caps the deficit at
/// [`DEFICIT_CAP_NS`]), plus one more burst being reserved: `ns < 2¹²⁷`. Its units
/// (`ns · rate < 2¹⁹¹`) fit in 256 bits even times another limit's units per token.
/// Subtracting a refill is subtracting a time, so the product `elapsed · rate`, which
/// overflowed `i128` for long idle times and fast rates, is never formed; a refill
/// longer than `ns` (x/time's `maxElapsed`) simply leaves zero.
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

    /// The amount in units, if it fits in `u128` (it does for the burst, and for a
    /// deficit the refill covers within `u64::MAX` nanoseconds).
    fn units(self, rate: u64) -> Option<u128> {
        self.ns
            .checked_mul(u128::from(rate))
            .map(|u| u - u128::from(self.slack))
    }

    /// The amount in units, exactly (`ns < 2¹²⁷`, so it fits).
    fn wide_units(self, rate: u64) -> U256 {
        U256::from_u128(self.ns)
            .checked_mul_u64(rate)
            .and_then(|u| u.checked_sub_u64(self.slack))
            .unwrap_or(U256::from_u128(0))
    }

    /// `units` of a bucket refilling `rate` units per nanosecond, if its refill time fits
    /// in a `u128`.
    fn from_wide_units(units: U256, rate: u64) -> Option<Amount> {
        match units.div_rem_u64(rate) {
            (ns, 0) => Some(Amount {
                ns: ns.to_u128()?,
                slack: 0,
            }),
            // (ns + 1) · rate − (rate − r) = ns · rate + r.
            (ns, r) => Some(Amount {
                ns: ns.to_u128()?.checked_add(1)?,
                slack: rate - r,
            }),
        }
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

/// Why `reserve_at` granted nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More tokens than the burst (the burst then).
    ExceedsBurst(u32),
    /// The tokens never come: a zero limit, or a wait beyond `u64::MAX` nanoseconds.
    Never,
    /// The wait is longer than the maximum asked for.
    TooLate,
}

/// The outcome of reserving tokens, before the lock is released: the limit then, and
/// the time to act or why nothing was taken.
pub(crate) struct Outcome {
    pub(crate) limit: Limit,
    pub(crate) result: Result<u128, Refusal>,
    /// Counted in `live`: the caller's `Reservation` must carry it (its drop uncounts).
    pub(crate) counted: bool,
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
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let bucket = TokenBucket::with_clock(Limit::per_second(1), 1, fake.clock()).unwrap();
    /// assert!(bucket.allow());
    /// assert!(!bucket.allow());
    /// fake.advance(Duration::from_secs(1));
    /// assert!(bucket.allow());
    /// ```
    pub fn with_clock(limit: Limit, burst: u32, clock: Clock) -> Result<TokenBucket, ConfigError> {
        if burst == 0 && !limit.is_inf() {
            return Err(ConfigError::ZeroBurst);
        }
        let (epoch, nanos0) = if clock.is_fake() {
            (clock.now(), 0)
        } else {
            (Instant::now(), clock.nanos())
        };
        let bucket = TokenBucket {
            fast: Fast {
                word: AtomicU64::new(SLOW),
                base: AtomicU64::new(0),
                rate: AtomicU64::new(0),
                token: AtomicU64::new(0),
                full: AtomicU64::new(0),
                last_grant: AtomicU64::new(0),
            },
            live: AtomicUsize::new(0),
            state: Mutex::new(State {
                missing: Amount::ZERO,
                last: 0,
                last_event: 0,
                config: Config::new(limit, burst, Scale::PLAIN),
                generation: 0,
            }),
            inf: AtomicBool::new(limit.is_inf()),
            clock,
            epoch,
            nanos0,
            #[cfg(test)]
            slow_only: false,
        };
        drop(bucket.lock()); // publishes fast mode if the limit allows it
        Ok(bucket)
    }

    /// Locks the state and makes it authoritative: the fast word goes SLOW and what the
    /// fast path did is folded in. The guard publishes fast mode again when dropped.
    fn lock(&self) -> Locked<'_> {
        let mut st = self.state.lock();
        // AcqRel: Acquire pairs with the Release of the last fast grant's
        // compare-exchange (its `x` is what we fold in); Release orders the swap before
        // the constant stores of our `publish` for a fast-path reader (protocol, 3).
        let w = self.fast.word.swap(SLOW, AcqRel);
        if w != SLOW {
            self.absorb(&mut st, w);
        }
        Locked { bucket: self, st }
    }

    /// Folds the fast word `w` (published from `st`, with `base == st.last`) back into
    /// `st`: the state at the latest fast grant, or unchanged if there was none.
    fn absorb(&self, st: &mut State, w: u64) {
        // Relaxed: written by the granting thread after its compare-exchange; see the
        // protocol (4) for what a lagging value means.
        let g = self
            .fast
            .last_grant
            .load(Relaxed)
            .saturating_sub(self.nanos0);
        let last = u128::from(g).max(st.last);
        let rate = st.config.scale.rate;
        let x = u128::from(w & X_MASK);
        let units = match (last - st.last).checked_mul(u128::from(rate)) {
            Some(refill) => x.saturating_sub(refill),
            None => 0,
        };
        st.missing = Amount::from_units(units, rate);
        st.last = last;
        // A fast grant acts at once (x/time: `lastEvent = t`).
        st.last_event = st.last_event.max(last);
    }

    /// Publishes fast mode from `st` if it can hold the state: a finite non-zero limit,
    /// no cancellable reservation alive, and amounts below `X_LIMIT`.
    fn publish(&self, st: &mut State) {
        // Acquire pairs with the Release decrement in `Reservation::drop`: a cancel made
        // before that drop is in `st` (it ran under this lock).
        if self.live.load(Acquire) != 0 {
            return;
        }
        #[cfg(test)]
        if self.slow_only {
            return;
        }
        let c = &st.config;
        if c.limit.is_inf() || c.limit.is_zero() {
            return;
        }
        let rate = c.scale.rate;
        let (Some(full), Some(x), Some(base)) = (
            c.full.units(rate).filter(|&u| u < X_LIMIT),
            st.missing.units(rate).filter(|&u| u < X_LIMIT),
            u64::try_from(st.last)
                .ok()
                .and_then(|l| l.checked_add(self.nanos0)),
        ) else {
            return;
        };
        let f = &self.fast;
        // Release: a fast-path reader that sees one of these values (Acquire) also sees
        // the swap to SLOW before it (protocol, 3).
        f.base.store(base, Release);
        f.rate.store(rate, Release);
        f.token.store(c.scale.token_units, Release);
        f.full.store(full as u64, Release);
        st.generation = st.generation.wrapping_add(1);
        // Release pairs with the Acquire load in `allow_fast`: the constants above are
        // visible to a reader of this word.
        f.word
            .store(u64::from(st.generation) << X_BITS | x as u64, Release);
    }

    /// `allow_n` without the lock: `None` if the word is SLOW or the numbers leave fast
    /// mode's range (then the mutex path decides).
    #[inline]
    fn allow_fast(&self, n: u32) -> Option<bool> {
        let f = &self.fast;
        // Acquire pairs with the Release of `publish` (the constants) and of the last
        // grant's compare-exchange.
        let mut w = f.word.load(Acquire);
        loop {
            if w == SLOW {
                return None;
            }
            // Acquire: see `publish`.
            let base = f.base.load(Acquire);
            let rate = f.rate.load(Acquire);
            let token = f.token.load(Acquire);
            let full = f.full.load(Acquire);
            // Read after the word: every grant linearized before it read its clock
            // before this.
            let now = self.fast_now()?;
            // In u64: every amount in fast mode is below X_LIMIT (2⁴⁸); a refill that
            // reaches it fills the bucket and means it is time to rebase.
            let elapsed = now.saturating_sub(base);
            // A rate of 1 unit/ns (every limit whose interval is a whole number of
            // nanoseconds, e.g. any divisor of 10⁹ events/s) skips the multiply on the
            // critical path between the clock and the compare-exchange.
            let refill = if rate == 1 {
                elapsed
            } else {
                elapsed.checked_mul(rate)?
            };
            let cost = u64::from(n).checked_mul(token)?;
            let after = (w & X_MASK).max(refill).checked_add(cost)?;
            if after >= X_MASK {
                return None; // time to rebase: the mutex path republishes
            }
            let grant = after - refill <= full;
            let new = if grant { (w & !X_MASK) | after } else { w };
            // AcqRel: Release so the next reader's clock reading follows ours; Acquire
            // as for the load. Failure: Acquire, as for the load.
            match f.word.compare_exchange_weak(w, new, AcqRel, Acquire) {
                Ok(_) => {
                    if grant {
                        // Relaxed: see the protocol (4).
                        f.last_grant.store(now, Relaxed);
                    }
                    return Some(grant);
                }
                Err(cur) => w = cur,
            }
        }
    }

    /// The fast path's clock: the bucket's time plus `nanos0` (0 on a fake clock), i.e.
    /// the raw [`Clock::nanos`] on the real clock, one subtraction less on the hot path;
    /// `None` if it does not fit in a `u64`.
    #[inline]
    fn fast_now(&self) -> Option<u64> {
        if self.clock.is_fake() {
            u64::try_from(self.now_ns()).ok()
        } else {
            Some(self.clock.nanos())
        }
    }

    /// The refill rate (x/time's `Limit`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(5), 1).unwrap();
    /// assert_eq!(bucket.limit(), Limit::per_second(5));
    /// ```
    pub fn limit(&self) -> Limit {
        self.state.lock().config.limit
    }

    /// The bucket size (x/time's `Burst`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(5), 3).unwrap();
    /// assert_eq!(bucket.burst(), 3);
    /// ```
    pub fn burst(&self) -> u32 {
        self.state.lock().config.burst
    }

    /// The clock the bucket reads and sleeps on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The tokens available now (fractional, negative while reservations are pending);
    /// x/time's `Tokens()`.
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
    /// let _r = bucket.reserve_n(2);
    /// let _r = bucket.reserve_n(1);
    /// assert_eq!(bucket.tokens(), -1.0);
    /// fake.advance(Duration::from_millis(150));
    /// assert_eq!(bucket.tokens(), 0.5);
    /// ```
    pub fn tokens(&self) -> f64 {
        let now = self.now_ns();
        let st = self.lock();
        let now = now.max(st.last);
        st.balance(st.advanced(now))
    }

    /// Sets a new limit from now on: [`set_limit_at`](TokenBucket::set_limit_at) at the
    /// clock's current time (x/time's `SetLimit`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let bucket = TokenBucket::with_clock(Limit::ZERO, 1, fake.clock()).unwrap();
    /// assert!(bucket.allow());
    /// assert!(!bucket.reserve().ok()); // a zero limit never refills
    /// bucket.set_limit(Limit::per_second(10));
    /// assert_eq!(bucket.reserve().delay(), Duration::from_millis(100));
    /// ```
    pub fn set_limit(&self, limit: Limit) {
        self.set_limit_at(self.clock.now(), limit);
    }

    /// Sets a new limit at time `t` (x/time's `SetLimitAt`): the bucket is first brought
    /// up to `t` at the old limit, keeping the tokens that accrued until then, and refills
    /// at `limit` from `t` on. Reservations already made keep their time to act, so they
    /// may violate or under-use the new limit; see "Changing the limit and the burst" on
    /// [`TokenBucket`].
    ///
    /// A `t` older than the bucket's last update counts as that update (the bucket's time
    /// never goes backwards; x/time moves its clock back).
    ///
    /// # Examples
    ///
    /// The tokens accrued at the old rate are kept:
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let t0 = fake.now();
    /// let bucket = TokenBucket::with_clock(Limit::per_second(5), 2, fake.clock()).unwrap();
    /// assert!(bucket.allow_n(2));
    /// // 200 ms at 5/s bring one token; from then on, 10/s.
    /// bucket.set_limit_at(t0 + Duration::from_millis(200), Limit::per_second(10));
    /// fake.advance(Duration::from_millis(300));
    /// assert_eq!(bucket.tokens(), 2.0);
    /// ```
    pub fn set_limit_at(&self, t: Instant, limit: Limit) {
        let t = self.nanos_at(t);
        let mut guard = self.lock();
        let st = &mut *guard;
        let now = t.max(st.last);
        st.advance_to(now);
        let old = st.config.scale;
        st.config = Config::new(limit, st.config.burst, old);
        st.missing = rescale(st.missing, old, st.config.scale, st.config.full);
        self.inf.store(limit.is_inf(), Relaxed);
    }

    /// Sets a new burst from now on: [`set_burst_at`](TokenBucket::set_burst_at) at the
    /// clock's current time (x/time's `SetBurst`).
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
    /// bucket.set_burst(4);
    /// assert!(!bucket.allow_n(3)); // a larger burst does not fill the bucket...
    /// fake.advance(Duration::from_millis(200));
    /// assert!(bucket.allow_n(4)); // ...the refill does
    /// ```
    pub fn set_burst(&self, burst: u32) {
        self.set_burst_at(self.clock.now(), burst);
    }

    /// Sets a new burst at time `t` (x/time's `SetBurstAt`): the bucket is first brought
    /// up to `t` with the old burst, then its balance is kept, capped at the new burst.
    /// A burst of 0 is accepted (unlike the constructors): with a finite limit the
    /// bucket then allows no event until the burst is raised.
    ///
    /// A `t` older than the bucket's last update counts as that update.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let fake = FakeClock::new();
    /// let bucket = TokenBucket::with_clock(Limit::per_second(10), 5, fake.clock()).unwrap();
    /// bucket.set_burst_at(fake.now(), 2);
    /// assert_eq!(bucket.tokens(), 2.0); // capped at the new burst
    /// assert!(!bucket.allow_n(3));
    /// ```
    pub fn set_burst_at(&self, t: Instant, burst: u32) {
        let t = self.nanos_at(t);
        let mut guard = self.lock();
        let st = &mut *guard;
        let now = t.max(st.last);
        st.advance_to(now);
        let old = st.config;
        st.config = Config::new(old.limit, burst, old.scale);
        // The balance stays: `missing` grows or shrinks with the burst (capped at full).
        let rate = old.scale.rate;
        let grow = st.config.full.saturating_sub(old.full, rate);
        let shrink = old.full.saturating_sub(st.config.full, rate);
        st.missing = st.missing.add(grow, rate).saturating_sub(shrink, rate);
    }

    /// The bucket's nanoseconds at `t` (0 before the bucket was created). On the real
    /// clock, through a fresh (`Instant`, `nanos`) pair (see [`Fast`], "Clock").
    #[inline]
    pub(crate) fn nanos_at(&self, t: Instant) -> u128 {
        if self.clock.is_fake() {
            return t.saturating_duration_since(self.epoch).as_nanos();
        }
        // Bucket time first, `Instant` second: a stall between the two reads makes `i`
        // late, so `t` maps to an earlier bucket time (fewer tokens, a longer delay),
        // never to a later one.
        let n = self.now_ns();
        let i = Instant::now();
        if t >= i {
            n.saturating_add((t - i).as_nanos())
        } else {
            n.saturating_sub((i - t).as_nanos())
        }
    }

    /// The bucket's time now.
    #[inline]
    pub(crate) fn now_ns(&self) -> u128 {
        if self.clock.is_fake() {
            self.clock
                .now()
                .saturating_duration_since(self.epoch)
                .as_nanos()
        } else {
            u128::from(self.clock.nanos().saturating_sub(self.nanos0))
        }
    }

    /// The instant of bucket time `ns`, if `Instant` can represent it.
    pub(crate) fn instant(&self, ns: u128) -> Option<Instant> {
        if self.clock.is_fake() {
            return self.epoch.checked_add(nanos_to_duration(ns));
        }
        // Bucket time first, `Instant` second: a stall between the two reads makes `i`
        // late, so the instant comes out late by the stall, never early (a sleep to it
        // cannot end before the tokens are due).
        let n = self.now_ns();
        let i = Instant::now();
        if ns >= n {
            i.checked_add(nanos_to_duration(ns - n))
        } else {
            i.checked_sub(nanos_to_duration(n - ns))
        }
    }

    /// x/time's `reserveN`: takes `n` tokens at `now` if they can be had within
    /// `max_wait` nanoseconds (`None`: any wait up to `u64::MAX` nanoseconds). `hold`:
    /// the caller keeps a [`Reservation`] it may cancel; if the tokens are granted, it is
    /// counted in `live` (the outcome's `counted`) before the lock is released.
    #[inline]
    pub(crate) fn reserve_at(
        &self,
        now: u128,
        n: u32,
        max_wait: Option<u128>,
        hold: bool,
    ) -> Outcome {
        let infinite = Outcome {
            limit: Limit::INF,
            result: Ok(now),
            counted: false,
        };
        if self.inf.load(Relaxed) {
            return infinite;
        }
        let mut guard = self.lock();
        let st = &mut *guard;
        let c = &st.config;
        if c.limit.is_inf() {
            return infinite;
        }
        let refuse = |why| Outcome {
            limit: c.limit,
            result: Err(why),
            counted: false,
        };
        if n > c.burst {
            return refuse(Refusal::ExceedsBurst(c.burst));
        }
        // The clock was read before the lock: a thread that read it earlier may come
        // second. Treat it as arriving at `last`, so no interval is credited twice.
        let now = now.max(st.last);
        let rate = c.scale.rate;
        let after = st.advanced(now).add(c.cost(n), rate);
        // The balance after taking the tokens is `full − after`; below zero, the refill
        // brings it back to zero in `deficit.ns` nanoseconds (rounded up).
        let deficit = after.saturating_sub(c.full, rate);
        let wait = if deficit == Amount::ZERO {
            0
        } else if c.limit.is_zero() || deficit.ns > u128::from(u64::MAX) {
            return refuse(Refusal::Never);
        } else {
            deficit.ns
        };
        if max_wait.is_some_and(|max| wait > max) {
            return refuse(Refusal::TooLate);
        }
        let limit = c.limit;
        let act = now + wait;
        st.last = now;
        st.missing = after;
        st.last_event = act;
        let counted = hold && n > 0;
        if counted {
            // Relaxed: under the lock, which `publish` (the only reader that acts on
            // it) also holds.
            self.live.fetch_add(1, Relaxed);
        }
        Outcome {
            limit,
            result: Ok(act),
            counted,
        }
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
    #[inline]
    pub fn allow_n(&self, n: u32) -> bool {
        if let Some(granted) = self.allow_fast(n) {
            return granted;
        }
        self.allow_slow(n)
    }

    #[cold]
    #[inline(never)]
    fn allow_slow(&self, n: u32) -> bool {
        self.reserve_at(self.now_ns(), n, Some(0), false)
            .result
            .is_ok()
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
        let out = self.reserve_at(now, n, None, true);
        Reservation {
            bucket: self,
            ok: out.result.is_ok(),
            tokens: n,
            act: out.result.unwrap_or(now),
            limit: out.limit,
            counted: out.counted,
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
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket, WaitError};
    /// use std::time::Duration;
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1), 1).unwrap();
    /// bucket.wait_n_timeout(1, Duration::from_millis(10)).unwrap(); // the burst
    /// // The next token is a second away: refused at once, nothing taken.
    /// assert_eq!(
    ///     bucket.wait_n_timeout(1, Duration::from_millis(10)),
    ///     Err(WaitError::Timeout)
    /// );
    /// ```
    pub fn wait_n_timeout(&self, n: u32, timeout: Duration) -> Result<(), WaitError> {
        self.wait_inner(n, Some(timeout.as_nanos()))
    }

    fn wait_inner(&self, n: u32, max_wait: Option<u128>) -> Result<(), WaitError> {
        // Tokens available now: the lock-free grant of `allow_n` is exactly the
        // reservation that acts at once (as `wait_async`'s ready path). Anything else
        // (not enough tokens, n over the burst, an infinite or zero limit) goes to the
        // reservation below, which decides how long to wait or why not.
        if let Some(true) = self.allow_fast(n) {
            return Ok(());
        }
        let now = self.now_ns();
        let out = self.reserve_at(now, n, max_wait, false);
        let act = match out.result {
            Ok(act) => act,
            Err(Refusal::ExceedsBurst(burst)) => return Err(WaitError::ExceedsBurst { n, burst }),
            Err(_) if max_wait.is_some() && !out.limit.is_zero() => return Err(WaitError::Timeout),
            Err(_) => return Err(WaitError::Never),
        };
        if act > now {
            match self.instant(act) {
                Some(t) => self.clock.sleep_until(t),
                None => self.clock.sleep(nanos_to_duration(act - now)),
            }
        }
        Ok(())
    }

    /// The burst, if `n` tokens exceed it and the limit is finite (x/time's first check
    /// in `WaitN`).
    #[cfg(feature = "context")]
    pub(crate) fn exceeded_burst(&self, n: u32) -> Option<u32> {
        let st = self.state.lock(); // the config only changes under the lock
        (n > st.config.burst && !st.config.limit.is_inf()).then_some(st.config.burst)
    }

    /// x/time's `CancelAt`: gives back the tokens of a reservation that has not acted
    /// yet, minus those that later reservations already count on.
    pub(crate) fn cancel_at(&self, r: &Reservation<'_>, now: u128) {
        // An infinite reservation took nothing (x/time would hand back `r.tokens` if the
        // limit had become finite since: it keeps no limit for infinite reservations).
        if !r.ok || r.tokens == 0 || r.limit.is_inf() || r.act < now {
            return;
        }
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.config.limit.is_inf() {
            return;
        }
        let now = now.max(st.last);
        let lim = r.limit;
        // In parts of a token at the reservation's limit (`lim.per_ns` to a token): the
        // tokens taken, and the refill from this reservation's act to the last one's,
        // which later reservations count on (x/time: `r.limit.tokensFromDuration(
        // lastEvent − timeToAct)`; never below zero here, see the crate docs). A zero
        // limit refills nothing, so all of its tokens come back.
        let taken = u128::from(r.tokens) * u128::from(lim.per_ns);
        let later = st
            .last_event
            .saturating_sub(r.act)
            .checked_mul(u128::from(lim.events));
        let restore = match later {
            Some(later) if later < taken => taken - later,
            _ => return,
        };
        // In the current units (rounded down: never more than the exact amount).
        let scale = st.config.scale;
        let units = if scale.token_units == lim.per_ns {
            restore
        } else {
            // restore · token_units < 2⁹⁶ · 2⁶⁴; the quotient is at most `r.tokens`
            // tokens of the current scale, below 2⁹⁶.
            U256::from_u128(restore)
                .checked_mul_u64(scale.token_units)
                .map(|x| x.div_rem_u64(lim.per_ns).0)
                .and_then(U256::to_u128)
                .unwrap_or(0)
        };
        if units == 0 {
            return;
        }
        let restore = Amount::from_units(units, scale.rate);
        // Capped at full: `missing` does not go below zero.
        st.missing = st.advanced(now).saturating_sub(restore, scale.rate);
        st.last = now;
        if r.act == st.last_event && !lim.is_zero() {
            // This was the latest reservation: the last event moves back to when the
            // tokens it took would have been ready, at its limit.
            let took = taken.div_ceil(u128::from(lim.events));
            if let Some(prev) = r.act.checked_sub(took).filter(|&p| p >= now) {
                st.last_event = prev;
            }
        }
    }
}

/// The longest refill, in nanoseconds, a deficit may need after a limit change (about
/// 2.7·10²¹ years); see "Changing the limit and the burst" on [`TokenBucket`].
const DEFICIT_CAP_NS: u128 = 1 << 126;

/// `missing`, counted in `from`'s units, in `to`'s units: exact when `to` can represent
/// it, otherwise rounded up by less than one unit of `to` (the balance is rounded down,
/// never up). A deficit beyond `full` (in `to`'s units) that `to`'s rate would need
/// more than [`DEFICIT_CAP_NS`] to refill is capped there.
fn rescale(missing: Amount, from: Scale, to: Scale, full: Amount) -> Amount {
    if from == to || missing == Amount::ZERO {
        return missing;
    }
    let cap = full.add(
        Amount {
            ns: DEFICIT_CAP_NS,
            slack: 0,
        },
        to.rate,
    );
    // units < 2¹²⁷ · 2⁶⁴ (see `Amount`), times `to.token_units` < 2²⁵⁵: fits.
    let units = missing
        .wide_units(from.rate)
        .checked_mul_u64(to.token_units)
        .map(|x| x.div_ceil_u64(from.token_units));
    match units.and_then(|u| Amount::from_wide_units(u, to.rate)) {
        Some(a) if a.saturating_sub(cap, to.rate) == Amount::ZERO => a,
        _ => cap,
    }
}

/// The state, locked and authoritative; publishes fast mode again when dropped.
struct Locked<'a> {
    bucket: &'a TokenBucket,
    st: MutexGuard<'a, State>,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.st
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.st
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.bucket.publish(&mut self.st);
    }
}

impl<K: ?Sized> RateLimiter<K> for TokenBucket {
    /// Reserves one token and returns its delay (`Duration::MAX` if it will never come).
    #[inline]
    fn when(&self, _item: &K) -> Duration {
        let now = self.now_ns();
        match self.reserve_at(now, 1, None, false).result {
            Ok(act) => nanos_to_duration(act - now),
            Err(_) => Duration::MAX,
        }
    }

    /// Does nothing: a bucket does not track items.
    #[inline]
    fn forget(&self, _item: &K) {}

    /// Nothing to forget: the bucket keeps no per-item state.
    fn forget_key(&self, _item: &dyn KeyRef<K>) {}

    fn num_requeues_key(&self, _item: &dyn KeyRef<K>) -> u32 {
        0
    }

    /// Always 0: a bucket does not track items.
    #[inline]
    fn num_requeues(&self, _item: &K) -> u32 {
        0
    }
}

impl fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TokenBucket");
        match self.state.try_lock() {
            Some(st) => {
                // In fast mode `missing` is as of the last publication (the word is
                // not folded in: Debug does not write).
                d.field("limit", &st.config.limit)
                    .field("burst", &st.config.burst);
                if !st.config.limit.is_inf() {
                    d.field("tokens_at_last", &st.balance(st.missing));
                }
            }
            None => {
                d.field("state", &"<locked>");
            }
        }
        d.field("clock", &self.clock).finish()
    }
}

/// Tokens taken from a [`TokenBucket`] by [`reserve`](TokenBucket::reserve), and when
/// they may be used (x/time's `Reservation`).
///
/// Dropping a reservation keeps the tokens taken; [`cancel`](Reservation::cancel) gives
/// them back. A reservation remembers the bucket's limit when it was made: a later
/// [`set_limit`](TokenBucket::set_limit) changes neither its time to act nor how
/// `cancel` counts what later reservations took.
#[must_use = "a reservation's delay must be waited out before acting (or the reservation cancelled)"]
pub struct Reservation<'a> {
    pub(crate) bucket: &'a TokenBucket,
    pub(crate) ok: bool,
    pub(crate) tokens: u32,
    /// Time to act, in the bucket's nanoseconds since its epoch.
    pub(crate) act: u128,
    /// The bucket's limit when the reservation was made.
    pub(crate) limit: Limit,
    /// Counted in the bucket's `live` (uncounted on drop).
    pub(crate) counted: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.counted {
            // Release pairs with the Acquire load in `publish`: a cancel before this
            // drop is visible to the thread that re-enables the fast path.
            self.bucket.live.fetch_sub(1, Release);
        }
    }
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
        nanos_to_duration(self.act.saturating_sub(self.bucket.nanos_at(t)))
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
    /// Does nothing if the reservation is not ok, if its time to act has passed, or if
    /// the bucket's limit is (or was, when it was made) infinite.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    ///
    /// let fake = FakeClock::new();
    /// let bucket = TokenBucket::with_clock(Limit::per_second(10), 2, fake.clock()).unwrap();
    /// let r = bucket.reserve_n(2);
    /// assert_eq!(bucket.tokens(), 0.0);
    /// r.cancel();
    /// assert_eq!(bucket.tokens(), 2.0);
    /// ```
    pub fn cancel(self) {
        let now = self.bucket.now_ns();
        self.bucket.cancel_at(&self, now);
    }

    /// Like [`cancel`](Reservation::cancel), at time `t` (x/time's `CancelAt`). A `t`
    /// older than the bucket's last update counts as that update.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::{Limit, TokenBucket};
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let t0 = fake.now();
    /// let bucket = TokenBucket::with_clock(Limit::per_second(10), 2, fake.clock()).unwrap();
    /// let _first = bucket.reserve_n(2);
    /// let r = bucket.reserve_n(2); // due at t0 + 200 ms
    /// r.cancel_at(t0 + Duration::from_millis(300)); // too late: nothing comes back
    /// assert_eq!(bucket.tokens(), -2.0);
    /// ```
    pub fn cancel_at(self, t: Instant) {
        let now = self.bucket.nanos_at(t);
        self.bucket.cancel_at(&self, now);
    }
}

impl fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("ok", &self.ok)
            .field("tokens", &self.tokens)
            .field("delay", &self.delay())
            .field("limit", &self.limit)
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

/// The lock-free path against the mutex path alone: two buckets on two fake clocks get
/// the same operations; one has its fast path held off (as a live reservation would),
/// so every answer, balance and delay must be identical.
#[cfg(all(test, not(loom)))]
mod fast_path_tests {
    use super::*;
    use gosync_core::clock::FakeClock;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Advance(u64),
        Allow(u32),
        /// Reserve, and keep the reservation (`true`) or drop it.
        Reserve(u32, bool),
        Cancel(usize),
        /// `cancel_at` this many nanoseconds before now.
        CancelAt(usize, u64),
        SetLimit(Limit),
        /// `set_limit_at` this many nanoseconds before now.
        SetLimitAt(Limit, u64),
        SetBurst(u32),
        Tokens,
    }

    fn limit() -> impl Strategy<Value = Limit> {
        let ns = Duration::from_nanos;
        prop_oneof![
            4 => (1u64..20, 1u64..3_000_000_000).prop_map(move |(e, p)| Limit::new(e, ns(p))),
            1 => (1u64..1_000, 1u64..1_000_000).prop_map(move |(e, p)| Limit::per_second(e * p)),
            1 => (any::<u64>(), any::<u64>()).prop_map(move |(e, p)| Limit::new(e, ns(p))),
            1 => Just(Limit::ZERO),
            1 => Just(Limit::INF),
        ]
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let n = prop_oneof![6 => 0u32..3, 1 => 0u32..100, 1 => any::<u32>()];
        let step = prop_oneof![
            6 => 0u64..2_000_000_000,
            // Past the fast word's 2⁴⁸ units (a rebase) and past u64 bucket time.
            1 => (1u64 << 40)..(1u64 << 50),
            1 => any::<u64>(),
        ];
        prop::collection::vec(
            prop_oneof![
                3 => step.prop_map(Op::Advance),
                6 => n.clone().prop_map(Op::Allow),
                2 => (n, any::<bool>()).prop_map(|(n, keep)| Op::Reserve(n, keep)),
                1 => any::<usize>().prop_map(Op::Cancel),
                1 => (any::<usize>(), 0u64..3_000_000_000).prop_map(|(i, back)| Op::CancelAt(i, back)),
                1 => limit().prop_map(Op::SetLimit),
                1 => (limit(), 0u64..3_000_000_000).prop_map(|(l, back)| Op::SetLimitAt(l, back)),
                1 => prop_oneof![Just(0u32), 1u32..10, any::<u32>()].prop_map(Op::SetBurst),
                1 => Just(Op::Tokens),
            ],
            0..60,
        )
    }

    #[derive(Debug, PartialEq)]
    enum Seen {
        Allowed(bool),
        Reserved(bool, Duration),
        Tokens(f64),
        Nothing,
    }

    fn apply<'a>(
        fake: &FakeClock,
        b: &'a TokenBucket,
        held: &mut Vec<Reservation<'a>>,
        op: &Op,
    ) -> Seen {
        match *op {
            Op::Advance(ns) => {
                fake.advance(Duration::from_nanos(ns));
                Seen::Nothing
            }
            Op::Allow(n) => Seen::Allowed(b.allow_n(n)),
            Op::Reserve(n, keep) => {
                let r = b.reserve_n(n);
                let seen = Seen::Reserved(r.ok(), r.delay());
                if keep {
                    held.push(r);
                }
                seen
            }
            Op::Cancel(i) => {
                if !held.is_empty() {
                    let i = i % held.len();
                    held.swap_remove(i).cancel();
                }
                Seen::Nothing
            }
            Op::CancelAt(i, back) => {
                if !held.is_empty() {
                    let i = i % held.len();
                    let t = fake.now().checked_sub(Duration::from_nanos(back));
                    held.swap_remove(i)
                        .cancel_at(t.unwrap_or_else(|| fake.now()));
                }
                Seen::Nothing
            }
            Op::SetLimit(l) => {
                b.set_limit(l);
                Seen::Nothing
            }
            Op::SetLimitAt(l, back) => {
                let t = fake.now().checked_sub(Duration::from_nanos(back));
                b.set_limit_at(t.unwrap_or_else(|| fake.now()), l);
                Seen::Nothing
            }
            Op::SetBurst(n) => {
                b.set_burst(n);
                Seen::Nothing
            }
            Op::Tokens => Seen::Tokens(b.tokens()),
        }
    }

    proptest! {
        #[test]
        fn fast_path_matches_the_mutex_path(
            limit in limit(), burst in 1u32..20, ops in ops(),
        ) {
            let (fast_clock, slow_clock) = (FakeClock::new(), FakeClock::new());
            let fast = TokenBucket::with_clock(limit, burst, fast_clock.clock()).unwrap();
            let mut slow = TokenBucket::with_clock(limit, burst, slow_clock.clock()).unwrap();
            slow.slow_only = true;
            drop(slow.lock());
            prop_assert_eq!(slow.fast.word.load(Relaxed), SLOW);
            let (mut fast_held, mut slow_held) = (Vec::new(), Vec::new());
            for (i, op) in ops.iter().enumerate() {
                let a = apply(&fast_clock, &fast, &mut fast_held, op);
                let b = apply(&slow_clock, &slow, &mut slow_held, op);
                prop_assert_eq!(a, b, "op {} ({:?})", i, op);
            }
            drop(fast_held);
            prop_assert_eq!(fast.tokens(), slow.tokens());
        }
    }

    /// The fast path is live on a fresh finite bucket, off while a reservation is held,
    /// and back once it is dropped and the lock taken.
    #[test]
    fn fast_mode_follows_live_reservations() {
        let fake = FakeClock::new();
        let b = TokenBucket::with_clock(Limit::per_second(10), 5, fake.clock()).unwrap();
        assert_ne!(b.fast.word.load(Relaxed), SLOW);
        assert_eq!(b.allow_fast(1), Some(true));
        let r = b.reserve();
        assert_eq!(b.fast.word.load(Relaxed), SLOW);
        assert_eq!(b.allow_fast(1), None);
        assert!(b.allow()); // the mutex path; still held off
        assert_eq!(b.fast.word.load(Relaxed), SLOW);
        drop(r);
        assert!(b.allow()); // the mutex path republishes
        assert_eq!(b.allow_fast(1), Some(true));
        assert_eq!(b.tokens(), 0.0); // five tokens taken, no time passed
        assert_eq!(b.allow_fast(1), Some(false));
        // INF and ZERO have no fast mode.
        b.set_limit(Limit::ZERO);
        assert_eq!(b.allow_fast(1), None);
        b.set_limit(Limit::INF);
        assert_eq!(b.allow_fast(1), None);
    }
}
