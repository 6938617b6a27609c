//! Rate limiters for retrying failing work: client-go's per-item limiters, a token bucket
//! with `golang.org/x/time/rate` semantics, and their combinators.
//!
//! A work queue asks a [`RateLimiter`] how long a failing item must wait before its next
//! retry ([`when`](RateLimiter::when)) and tells it when the item succeeded
//! ([`forget`](RateLimiter::forget)). The limiters here reproduce client-go's
//! `util/workqueue/default_rate_limiters.go` value for value, in exact integer
//! arithmetic, with an injectable [`Clock`](gosync_core::clock::Clock) so tests take no
//! real time.
//!
//! # Examples
//!
//! The limiter Kubernetes controllers use by default:
//!
//! ```
//! use gosync_ratelimit::{default_controller_rate_limiter, RateLimiter};
//! use std::time::Duration;
//!
//! let limiter = default_controller_rate_limiter::<&str>();
//! // Per-item exponential backoff from 5 ms, doubled on each failure...
//! assert_eq!(limiter.when(&"pod-a"), Duration::from_millis(5));
//! assert_eq!(limiter.when(&"pod-a"), Duration::from_millis(10));
//! assert_eq!(limiter.when(&"pod-b"), Duration::from_millis(5));
//! // ...and reset once the item succeeds.
//! limiter.forget(&"pod-a");
//! assert_eq!(limiter.num_requeues(&"pod-a"), 0);
//! assert_eq!(limiter.when(&"pod-a"), Duration::from_millis(5));
//! ```
//!
//! # The limiters
//!
//! * [`ExponentialLimiter`]: `min(base · 2ⁿ, max)` per item.
//! * [`FastSlowLimiter`]: a fast delay for the first attempts of an item, then a slow one.
//! * [`TokenBucket`]: an overall rate (every `when` reserves a token), also usable
//!   directly: `allow`, `reserve`, `wait`.
//! * [`MaxOf`] / [`max_of`]: the longest wait of several limiters.
//! * [`default_controller_rate_limiter`]: client-go's default.
//!
//! # Differences from client-go and x/time/rate
//!
//! * Exponential delays are exact integer nanoseconds and saturate at `max`; client-go
//!   computes `base · 2ⁿ` in `float64`.
//! * Failure counts are `u32` and saturate.
//! * The per-item failure map is sharded (client-go uses one mutex) and may be bounded
//!   ([`FailureMapBounds`]).
//! * The token bucket refills in exact integer arithmetic from a [`Limit`] fraction
//!   (x/time uses `float64` tokens), rounds wait times up to the nanosecond, and never
//!   credits an interval twice when callers race on the clock.
//! * A burst of 0 with a finite limit is an error ([`ConfigError::ZeroBurst`]); float
//!   rates that are NaN or negative are errors.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

mod default_controller;
mod error;
mod exponential;
mod failure_map;
mod fast_slow;
mod limit;
mod max_of;
mod rate_limiter;
mod token_bucket;

pub use default_controller::{
    default_controller_rate_limiter, default_controller_rate_limiter_with_clock,
};
pub use error::ConfigError;
pub use exponential::ExponentialLimiter;
pub use failure_map::FailureMapBounds;
pub use fast_slow::FastSlowLimiter;
pub use limit::Limit;
pub use max_of::{max_of, MaxOf};
pub use rate_limiter::RateLimiter;
pub use token_bucket::{Reservation, TokenBucket, WaitError};
