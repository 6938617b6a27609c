//! [`ConfigError`]: a rejected limiter or backoff configuration.

use std::error::Error;
use std::fmt;

/// A configuration that a constructor rejected, with the offending value.
///
/// Every constructor that can be handed a meaningless configuration returns this error
/// instead of misbehaving later (a panic inside `when`, a hang, a wrapped duration).
///
/// # Examples
///
/// ```
/// use gosync_ratelimit::{ConfigError, Limit, TokenBucket};
///
/// let err = TokenBucket::new(Limit::per_second(10), 0).unwrap_err();
/// assert_eq!(err, ConfigError::ZeroBurst);
/// assert_eq!(err.to_string(), "token bucket burst is 0 with a finite limit: it could never grant a token");
/// assert!(Limit::from_qps(f64::NAN).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A token bucket with a finite limit and a burst of 0 could never grant a token.
    ZeroBurst,
    /// A rate (events per second) that is NaN or negative.
    InvalidRate(f64),
    /// A backoff factor that is NaN, infinite or below 1.
    InvalidFactor(f64),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroBurst => f.write_str(
                "token bucket burst is 0 with a finite limit: it could never grant a token",
            ),
            ConfigError::InvalidRate(r) => {
                write!(
                    f,
                    "invalid rate {r} events/s: must be a non-negative number"
                )
            }
            ConfigError::InvalidFactor(x) => {
                write!(
                    f,
                    "invalid backoff factor {x}: must be a finite number >= 1"
                )
            }
        }
    }
}

impl Error for ConfigError {}
