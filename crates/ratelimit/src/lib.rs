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
//! * [`WithMaxWait`] / [`with_max_wait`]: caps another limiter's delay.
//! * [`Jittered`]: randomizes another limiter's delay ([`Jitter::Full`] or
//!   [`Jitter::Equal`]) from a seedable generator.
//! * [`default_controller_rate_limiter`]: client-go's default.
//!
//! For plain retry loops, [`Backoff`] is an iterator of delays (initial, factor, cap,
//! jitter, max steps, max elapsed time) with a blocking [`Backoff::retry`] that sleeps
//! through the injected clock.
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
//! * "Never" is `Duration::MAX` (Go's `InfDuration` is about 292 years): the delay of a
//!   reservation that is not ok, and `when` on a zero-limit bucket once its burst is
//!   spent. A wait longer than `u64::MAX` nanoseconds (about 584 years) counts as never.
//! * A cancelled reservation of a [`Limit::ZERO`] bucket gives its tokens back (x/time
//!   decrements the burst itself and hands back a meaningless count), and cancelling an
//!   [`Limit::INF`] reservation does nothing.
//! * The token bucket's times come from its [`Clock`](gosync_core::clock::Clock); there
//!   are no `*At(t)` variants and no `SetLimit`/`SetBurst`. Time never goes backwards
//!   for the bucket: a reading older than its last update counts as that update, where
//!   x/time moves its clock back and credits the interval again (its jump-backwards
//!   tests note the result "should violate Limit,Burst").
//! * [`TokenBucket::wait`] takes no cancellation context; cancel a
//!   [`Reservation`] instead.
//! * [`TokenBucket::wait_n_timeout`] replaces `WaitN(ctx, n)` with a context deadline.
//! * [`Backoff`] keeps returning `cap` after reaching it until `max_steps` (k8s
//!   `wait.Backoff.Step` zeroes its remaining steps when it hits the cap), and its
//!   jitter never exceeds the delay (k8s `wait.Jitter` adds up to `factor · d` on top).
//! * [`BackoffBuilder::max_steps`] counts the delays handed out before giving up; k8s
//!   `Steps` counts the steps in which the delay may still grow (`Step` itself never
//!   ends, and `Steps <= 1` means a constant delay). Without `max_steps` the iterator
//!   is endless, like `Step`.
//! * A backoff factor below 1 (including k8s's "0 means no growth") is an error: ask
//!   for a constant delay with factor 1. A [`cap`](BackoffBuilder::cap) of zero caps
//!   every delay at zero (k8s `Cap: 0` means no cap; ours defaults to no cap).
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

mod backoff;
mod default_controller;
mod error;
mod exponential;
mod failure_map;
mod fast_slow;
mod jitter;
mod limit;
mod max_of;
mod rate_limiter;
mod rng;
mod token_bucket;
mod with_max_wait;

pub use backoff::{Backoff, BackoffBuilder};
pub use default_controller::{
    default_controller_rate_limiter, default_controller_rate_limiter_with_clock,
};
pub use error::ConfigError;
pub use exponential::ExponentialLimiter;
pub use failure_map::FailureMapBounds;
pub use fast_slow::FastSlowLimiter;
pub use jitter::{Jitter, Jittered};
pub use limit::Limit;
pub use max_of::{max_of, MaxOf};
pub use rate_limiter::RateLimiter;
pub use token_bucket::{Reservation, TokenBucket, WaitError};
pub use with_max_wait::{with_max_wait, WithMaxWait};
