//! [`Backoff`]: a retry-delay iterator with a builder, the blocking
//! [`retry`](Backoff::retry) helper and its async twin
//! [`retry_async`](Backoff::retry_async).

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;

use crate::exponential::nanos_to_duration;
use crate::rng::SplitMix64;
use crate::{ConfigError, Jitter, Sleeper};

/// Fixed-point shift of the factor (32.32).
const FACTOR_SHIFT: u32 = 32;

/// The delays of a retry loop: `initial`, then multiplied by `factor` each step, capped
/// at `cap`, optionally jittered, ending after `max_steps` delays or once `max_elapsed`
/// would be exceeded (k8s `wait.Backoff`, Rust's `backoff`/`backon`).
///
/// `Backoff` is an [`Iterator`] of delays: `None` means "give up". The un-jittered delay
/// sequence is `min(initial · factorⁿ, cap)` in integer nanoseconds (the factor is kept
/// in 32.32 fixed point, so 1.5 and 2 are exact; each step rounds down to the
/// nanosecond), and it never overflows. Jitter (see [`Jitter`]) is applied to each
/// delay without feeding back into the sequence, so it never exceeds `cap`.
///
/// With `max_elapsed`, the iterator ends when the time since the backoff was built (or
/// last [`reset`](Backoff::reset)) by its [`Clock`] plus the next delay would exceed
/// `max_elapsed`.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::Backoff;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let backoff = Backoff::builder()
///     .initial(ms(100))
///     .factor(1.5)
///     .cap(ms(300))
///     .max_steps(5)
///     .build()
///     .unwrap();
/// let delays: Vec<_> = backoff.collect();
/// assert_eq!(delays, [ms(100), ms(150), ms(225), ms(300), ms(300)]);
/// ```
pub struct Backoff {
    initial: u128,
    factor: u128,
    cap: u128,
    jitter: Jitter,
    max_steps: Option<u32>,
    max_elapsed: Option<Duration>,
    clock: Clock,
    rng: SplitMix64,
    /// The next un-jittered delay, in nanoseconds.
    current: u128,
    steps: u32,
    start: Instant,
}

/// Builds a [`Backoff`]; see its docs. Defaults: 100 ms initial delay, factor 2, no cap,
/// no jitter, no limit on steps or elapsed time, the real clock, a random seed.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{Backoff, ConfigError, Jitter};
/// use std::time::Duration;
///
/// let b = Backoff::builder().jitter(Jitter::Full).seed(7).max_steps(3).build().unwrap();
/// assert_eq!(b.count(), 3);
/// assert!(matches!(Backoff::builder().factor(0.5).build(), Err(ConfigError::InvalidFactor(_))));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BackoffBuilder {
    initial: Duration,
    factor: f64,
    cap: Duration,
    jitter: Jitter,
    max_steps: Option<u32>,
    max_elapsed: Option<Duration>,
    clock: Clock,
    seed: Option<u64>,
}

impl Default for BackoffBuilder {
    fn default() -> BackoffBuilder {
        BackoffBuilder {
            initial: Duration::from_millis(100),
            factor: 2.0,
            cap: Duration::MAX,
            jitter: Jitter::None,
            max_steps: None,
            max_elapsed: None,
            clock: Clock::real(),
            seed: None,
        }
    }
}

impl BackoffBuilder {
    /// The first delay (zero gives zero delays forever).
    pub fn initial(mut self, d: Duration) -> BackoffBuilder {
        self.initial = d;
        self
    }

    /// The multiplier between delays; must be finite and at least 1 (1 gives a
    /// constant delay). Factors above 2³² act as 2³².
    pub fn factor(mut self, factor: f64) -> BackoffBuilder {
        self.factor = factor;
        self
    }

    /// The largest un-jittered delay.
    pub fn cap(mut self, cap: Duration) -> BackoffBuilder {
        self.cap = cap;
        self
    }

    /// How each delay is randomized.
    pub fn jitter(mut self, jitter: Jitter) -> BackoffBuilder {
        self.jitter = jitter;
        self
    }

    /// Give up after this many delays (0: give up at once).
    pub fn max_steps(mut self, steps: u32) -> BackoffBuilder {
        self.max_steps = Some(steps);
        self
    }

    /// Give up once the time since the start plus the next delay would exceed this.
    pub fn max_elapsed(mut self, d: Duration) -> BackoffBuilder {
        self.max_elapsed = Some(d);
        self
    }

    /// The clock for elapsed time and for [`Backoff::retry`]'s sleeps.
    pub fn clock(mut self, clock: Clock) -> BackoffBuilder {
        self.clock = clock;
        self
    }

    /// A fixed jitter seed, for deterministic tests.
    pub fn seed(mut self, seed: u64) -> BackoffBuilder {
        self.seed = Some(seed);
        self
    }

    /// Builds the backoff; its elapsed time starts now.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidFactor`] if the factor is NaN, infinite or below 1.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        if !self.factor.is_finite() || self.factor < 1.0 {
            return Err(ConfigError::InvalidFactor(self.factor));
        }
        let fixed = (self.factor * f64::from(1u32 << 31) * 2.0).round();
        let factor = if fixed >= u64::MAX as f64 {
            u128::from(u64::MAX)
        } else {
            fixed as u128
        };
        let initial = self.initial.as_nanos();
        let start = self.clock.now();
        Ok(Backoff {
            initial,
            factor,
            cap: self.cap.as_nanos(),
            jitter: self.jitter,
            max_steps: self.max_steps,
            max_elapsed: self.max_elapsed,
            rng: match self.seed {
                Some(seed) => SplitMix64::from_seed(seed),
                None => SplitMix64::from_entropy(),
            },
            clock: self.clock,
            current: initial,
            steps: 0,
            start,
        })
    }
}

impl Backoff {
    /// A builder with the defaults listed on [`BackoffBuilder`].
    pub fn builder() -> BackoffBuilder {
        BackoffBuilder::default()
    }

    /// Starts over: the first delay again, zero steps taken, elapsed time from now.
    pub fn reset(&mut self) {
        self.current = self.initial;
        self.steps = 0;
        self.start = self.clock.now();
    }

    /// How many delays have been handed out since the start.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Runs `op` until it succeeds, sleeping through the backoff's clock between
    /// attempts; returns the last error once the backoff gives up.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::Backoff;
    /// use std::time::Duration;
    ///
    /// let mut backoff = Backoff::builder().initial(Duration::from_millis(1)).max_steps(5).build().unwrap();
    /// let mut attempts = 0;
    /// let result = backoff.retry(|| {
    ///     attempts += 1;
    ///     if attempts < 3 { Err("not yet") } else { Ok(attempts) }
    /// });
    /// assert_eq!(result, Ok(3));
    /// ```
    pub fn retry<T, E>(&mut self, op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
        self.retry_if(op, |_| true)
    }

    /// Like [`retry`](Backoff::retry), but an error for which `transient` returns
    /// `false` is returned at once, without retrying.
    pub fn retry_if<T, E>(
        &mut self,
        mut op: impl FnMut() -> Result<T, E>,
        mut transient: impl FnMut(&E) -> bool,
    ) -> Result<T, E> {
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if !transient(&e) => return Err(e),
                Err(e) => match self.next() {
                    Some(d) => self.clock.sleep(d),
                    None => return Err(e),
                },
            }
        }
    }
}

/// The async retry loops: the twins of [`Backoff::retry`] and [`Backoff::retry_if`].
impl Backoff {
    /// The async twin of [`retry`](Backoff::retry): awaits `op()` until it succeeds,
    /// sleeping between attempts on the backoff's [`Clock`] (woken by the clock's timer
    /// thread, under any executor; a fake clock drives it); returns the last error once
    /// the backoff gives up.
    ///
    /// Each attempt calls `op` for a new future and awaits it; after a failure the next
    /// delay is taken from the backoff and slept from then on. The future is `Send`
    /// when `op`, its futures, `T` and `E` are (the error is dropped before the sleep,
    /// so it is never held across one).
    ///
    /// Dropping the future (cancelling the retry loop) at any point loses nothing: the
    /// attempt in flight or the sleep is dropped (the sleep's timer registration
    /// removed), and the backoff stays as after the last delay it handed out, ready to
    /// go on or to be [`reset`](Backoff::reset), as after a panic in `op`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_ratelimit::Backoff;
    /// use std::time::Duration;
    ///
    /// let mut backoff = Backoff::builder().initial(Duration::from_millis(1)).max_steps(5).build().unwrap();
    /// let mut attempts = 0;
    /// let result = futures::executor::block_on(backoff.retry_async(|| {
    ///     attempts += 1;
    ///     let n = attempts;
    ///     async move { if n < 3 { Err("not yet") } else { Ok(n) } }
    /// }));
    /// assert_eq!(result, Ok(3));
    /// ```
    pub async fn retry_async<T, E, F, Fut>(&mut self, op: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let clock = self.clock.clone();
        self.retry_if_async_with(&clock, op, |_| true).await
    }

    /// The async twin of [`retry_if`](Backoff::retry_if): like
    /// [`retry_async`](Backoff::retry_async), but an error for which `transient`
    /// returns `false` is returned at once, without retrying.
    pub async fn retry_if_async<T, E, F, Fut>(
        &mut self,
        op: F,
        transient: impl FnMut(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let clock = self.clock.clone();
        self.retry_if_async_with(&clock, op, transient).await
    }

    /// [`retry_async`](Backoff::retry_async) sleeping with `sleeper` instead of the
    /// backoff's clock (for example `TokioSleeper`, feature `tokio`). The deadlines
    /// handed to it are the backoff's clock's `now()` plus each delay, so the sleeper
    /// must measure the same time (any runtime timer does for the default real clock).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::Clock;
    /// use gosync_ratelimit::Backoff;
    /// use std::time::Duration;
    ///
    /// let mut backoff = Backoff::builder().initial(Duration::from_millis(1)).max_steps(2).build().unwrap();
    /// let sleeper = Clock::real(); // any `Sleeper`
    /// let result: Result<(), &str> =
    ///     futures::executor::block_on(backoff.retry_async_with(&sleeper, || async { Err("down") }));
    /// assert_eq!(result, Err("down")); // three attempts, two delays
    /// assert_eq!(backoff.steps(), 2);
    /// ```
    pub async fn retry_async_with<T, E, F, Fut>(
        &mut self,
        sleeper: impl Sleeper,
        op: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.retry_if_async_with(sleeper, op, |_| true).await
    }

    /// [`retry_if_async`](Backoff::retry_if_async) sleeping with `sleeper` instead of
    /// the backoff's clock; see [`retry_async_with`](Backoff::retry_async_with).
    pub async fn retry_if_async_with<T, E, F, Fut>(
        &mut self,
        sleeper: impl Sleeper,
        mut op: F,
        mut transient: impl FnMut(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        loop {
            // User code (`op`, its future, `transient`): a panic leaves the backoff as
            // after the last delay it handed out; no sleep is alive meanwhile.
            let e = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !transient(&e) {
                return Err(e);
            }
            let Some(d) = self.next() else {
                return Err(e);
            };
            drop(e);
            match self.clock.now().checked_add(d) {
                Some(deadline) => sleeper.sleep_until(deadline).await,
                // Beyond `Instant`: the blocking `retry` sleeps as long.
                None => std::future::pending::<()>().await,
            }
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.max_steps.is_some_and(|max| self.steps >= max) {
            return None;
        }
        let base = nanos_to_duration(self.current.min(self.cap));
        let delay = self.jitter.apply(base, self.rng.next_u64());
        if let Some(max) = self.max_elapsed {
            let elapsed = self.clock.now().saturating_duration_since(self.start);
            if elapsed.saturating_add(delay) > max {
                return None;
            }
        }
        self.steps = self.steps.saturating_add(1);
        if self.current < self.cap {
            // A product beyond u128 is far beyond any Duration: saturate at the cap.
            self.current = match self.current.checked_mul(self.factor) {
                Some(p) => (p >> FACTOR_SHIFT).min(self.cap),
                None => self.cap,
            };
        }
        Some(delay)
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("next", &nanos_to_duration(self.current.min(self.cap)))
            .field("steps", &self.steps)
            .field("max_steps", &self.max_steps)
            .field("cap", &nanos_to_duration(self.cap))
            .field("jitter", &self.jitter)
            .field("max_elapsed", &self.max_elapsed)
            .finish_non_exhaustive()
    }
}
