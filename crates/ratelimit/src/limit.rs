//! [`Limit`]: an exact event rate for the token bucket.

use std::fmt;
use std::time::Duration;

use crate::ConfigError;

/// An event rate: `events` per `per`, kept as an exact integer fraction.
///
/// The token bucket refills in exact integer arithmetic from this fraction, so there is
/// no floating-point drift however long it runs: at 3 events per second, exactly 3
/// tokens arrive every second. [`Limit::INF`] allows every event (no limit);
/// [`Limit::ZERO`] allows none beyond the initial burst.
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::Limit;
/// use std::time::Duration;
///
/// assert_eq!(Limit::per_second(10), Limit::every(Duration::from_millis(100)));
/// assert_eq!(Limit::new(3, Duration::from_secs(1)).as_qps(), 3.0);
/// assert_eq!(Limit::from_qps(0.5).unwrap(), Limit::every(Duration::from_secs(2)));
/// assert!(Limit::from_qps(f64::INFINITY).unwrap().is_inf());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Tokens gained every `per_ns` nanoseconds; 0 for [`Limit::ZERO`].
    pub(crate) events: u64,
    /// 0 for [`Limit::INF`]; otherwise coprime with `events` (1 when `events == 0`).
    pub(crate) per_ns: u64,
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Limit {
    /// No limit: every event is allowed at once (x/time's `rate.Inf`).
    pub const INF: Limit = Limit {
        events: 1,
        per_ns: 0,
    };

    /// No events at all beyond the bucket's initial burst (x/time's `Limit(0)`).
    pub const ZERO: Limit = Limit {
        events: 0,
        per_ns: 1,
    };

    /// `events` per `per`, reduced to lowest terms. Zero `events` is [`Limit::ZERO`]; a
    /// zero `per` (with non-zero `events`) is [`Limit::INF`]. A `per` beyond `u64::MAX`
    /// nanoseconds (about 584 years) is clamped to it.
    pub fn new(events: u64, per: Duration) -> Limit {
        let per_ns = u64::try_from(per.as_nanos()).unwrap_or(u64::MAX);
        if events == 0 {
            Limit::ZERO
        } else if per_ns == 0 {
            Limit::INF
        } else {
            let g = gcd(events, per_ns);
            Limit {
                events: events / g,
                per_ns: per_ns / g,
            }
        }
    }

    /// `qps` events per second; 0 is [`Limit::ZERO`].
    pub fn per_second(qps: u64) -> Limit {
        Limit::new(qps, Duration::from_secs(1))
    }

    /// One event every `interval` (x/time's `rate.Every`); a zero interval is
    /// [`Limit::INF`].
    pub fn every(interval: Duration) -> Limit {
        Limit::new(1, interval)
    }

    /// A rate given as a float number of events per second, as in Go (x/time's
    /// `rate.Limit`).
    ///
    /// `+∞` is [`Limit::INF`] and `0` is [`Limit::ZERO`]. Other rates are rounded to an
    /// exact fraction:
    ///
    /// * rates of at least 1/s to the nearest 1/1000 event per second (so 2.5 is exactly
    ///   5 every 2 s, and 1.0004 is 1/s);
    /// * smaller rates to the nearest nanosecond of interval between events (so 0.3 is
    ///   one event every 3.333333333 s), as far as an `f64` resolves it: an interval
    ///   beyond 2⁵³ ns (about 104 days) is rounded to the `f64` nearest to it.
    ///
    /// Two ranges are clamped, so that a positive rate never becomes [`Limit::ZERO`]:
    ///
    /// * **Tiny rates**: below 10⁹ / 2⁶⁴ ≈ 5.4·10⁻¹¹ events per second (less than one
    ///   event every `u64::MAX` nanoseconds, about 584 years), down to the smallest
    ///   positive `f64`, the rate is clamped *up* to the slowest representable one, one
    ///   event every `u64::MAX` nanoseconds
    ///   (`Limit::every(Duration::from_nanos(u64::MAX))`). A [`Limit`] holds its
    ///   interval in `u64` nanoseconds, so nothing slower exists;
    ///   rounding down instead would give [`Limit::ZERO`], which means no token ever again
    ///   after the burst: a different thing from a very slow rate.
    /// * **Huge rates**: from 2⁶⁴ / 1000 ≈ 1.8·10¹⁶ events per second on (when the count
    ///   of 1/1000 events no longer fits in a `u64`), the rate is [`Limit::INF`]: a token
    ///   bucket at such a rate refills any burst in under a nanosecond anyway.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRate`] for NaN and negative rates.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::Limit;
    /// use std::time::Duration;
    ///
    /// // Rounded to 1/1000 event per second from 1/s up, to the nanosecond below it.
    /// assert_eq!(Limit::from_qps(2.5).unwrap(), Limit::new(5, Duration::from_secs(2)));
    /// assert_eq!(Limit::from_qps(1.0004).unwrap(), Limit::per_second(1));
    /// assert_eq!(
    ///     Limit::from_qps(0.3).unwrap(),
    ///     Limit::every(Duration::from_nanos(3_333_333_333))
    /// );
    ///
    /// // Tiny rates are clamped up to the slowest Limit, never down to ZERO.
    /// let slowest = Limit::every(Duration::from_nanos(u64::MAX));
    /// assert_eq!(Limit::from_qps(5e-11).unwrap(), slowest);
    /// assert_eq!(Limit::from_qps(f64::MIN_POSITIVE).unwrap(), slowest);
    /// assert_ne!(Limit::from_qps(6e-11).unwrap(), slowest); // one event every ~528 years
    /// assert!(!Limit::from_qps(1e-300).unwrap().is_zero());
    ///
    /// // Huge rates are INF.
    /// assert!(Limit::from_qps(1e17).unwrap().is_inf());
    /// assert!(!Limit::from_qps(1e16).unwrap().is_inf());
    /// ```
    pub fn from_qps(qps: f64) -> Result<Limit, ConfigError> {
        if qps.is_nan() || qps < 0.0 {
            return Err(ConfigError::InvalidRate(qps));
        }
        if qps == 0.0 {
            return Ok(Limit::ZERO);
        }
        if qps >= 1.0 {
            let milli = (qps * 1000.0).round();
            if milli >= u64::MAX as f64 {
                return Ok(Limit::INF);
            }
            Ok(Limit::new(milli as u64, Duration::from_secs(1000)))
        } else {
            let interval = (NANOS_PER_SEC as f64 / qps).round();
            let ns = if interval >= u64::MAX as f64 {
                u64::MAX
            } else {
                interval as u64
            };
            Ok(Limit::new(1, Duration::from_nanos(ns)))
        }
    }

    /// Whether this is [`Limit::INF`].
    pub fn is_inf(self) -> bool {
        self.per_ns == 0
    }

    /// Whether this is [`Limit::ZERO`].
    pub fn is_zero(self) -> bool {
        self.events == 0
    }

    /// The rate in events per second, as a float (`f64::INFINITY` for [`Limit::INF`]).
    pub fn as_qps(self) -> f64 {
        if self.is_inf() {
            f64::INFINITY
        } else {
            self.events as f64 * NANOS_PER_SEC as f64 / self.per_ns as f64
        }
    }
}

impl fmt::Debug for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_inf() {
            f.write_str("Limit::INF")
        } else {
            write!(
                f,
                "Limit({} per {:?})",
                self.events,
                Duration::from_nanos(self.per_ns)
            )
        }
    }
}
