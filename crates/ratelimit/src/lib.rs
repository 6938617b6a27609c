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
//!   directly: `allow`, `reserve`, `wait`, `wait_context` (feature `context`), and
//!   the futures `wait_async`, `wait_n_async`, `wait_n_timeout_async` (see "Async
//!   waits" below); its limit and burst can change while it is in use (`set_limit`,
//!   `set_burst`).
//! * [`MaxOf`] / [`max_of`]: the longest wait of several limiters.
//! * [`WithMaxWait`] / [`with_max_wait`]: caps another limiter's delay.
//! * [`Jittered`]: randomizes another limiter's delay ([`Jitter::Full`] or
//!   [`Jitter::Equal`]) from a seedable generator.
//! * [`default_controller_rate_limiter`]: client-go's default.
//!
//! Keys are asked about by reference (`when(&key)`); [`RateLimiter::forget_key`] and
//! [`RateLimiter::num_requeues_key`] also take a borrowed form ([`Borrowed`]`("ns/pod")`
//! for a `String` key) while the trait stays object safe, so a work queue can offer
//! `forget(&str)`.
//!
//! For plain retry loops, [`Backoff`] is an iterator of delays (initial, factor, cap,
//! jitter, max steps, max elapsed time) with a blocking [`Backoff::retry`] that sleeps
//! through the injected clock, and its async twin [`Backoff::retry_async`].
//!
//! # Async waits
//!
//! Every blocking wait has a future twin that works under any executor and brings no
//! runtime of its own:
//!
//! | blocking | async |
//! |---|---|
//! | [`TokenBucket::wait`] | [`TokenBucket::wait_async`] |
//! | [`TokenBucket::wait_n`] | [`TokenBucket::wait_n_async`] |
//! | [`TokenBucket::wait_n_timeout`] | [`TokenBucket::wait_n_timeout_async`] |
//! | `TokenBucket::wait_context` (feature `context`) | `TokenBucket::wait_context_async` → `WaitContext` |
//! | [`Backoff::retry`] / [`Backoff::retry_if`] | [`Backoff::retry_async`] / [`Backoff::retry_if_async`] (and `_with` a [`Sleeper`]) |
//!
//! * The delay is slept by a [`Sleeper`]. By default it is the limiter's gosync
//!   [`Clock`](gosync_core::clock::Clock): the clock's timer thread wakes the task, and
//!   with a [`FakeClock`](gosync_core::clock::FakeClock) a test advances time and the
//!   futures complete exactly then. [`Wait::with_sleeper`] and
//!   [`Backoff::retry_async_with`] take another timer: `TokioSleeper` (feature `tokio`)
//!   or `SmolSleeper` (feature `smol`) use the runtime's own.
//! * A [`Wait`] reserves its tokens at its first poll, as x/time's `WaitN` does when
//!   called, and fails then, taking nothing, where the blocking wait fails.
//! * Cancel-safe: dropping a [`Wait`] before it completed gives its tokens back exactly
//!   as [`Reservation::cancel`] at that moment (x/time: `r.Cancel()` when `WaitN`'s
//!   context is done); dropping a `retry_async` future drops the attempt or the sleep
//!   in flight and leaves the backoff as after its last delay. Nothing stays
//!   registered with a timer.
//! * The futures are `Send` (with the default sleeper, the adapters here, and `Send`
//!   user closures and futures); a [`Wait`] is also `Unpin`.
//!
//! ```
//! use gosync_core::clock::FakeClock;
//! use gosync_ratelimit::{Limit, TokenBucket};
//! use std::time::Duration;
//!
//! let fake = FakeClock::new();
//! let bucket = TokenBucket::with_clock(Limit::per_second(10), 1, fake.clock()).unwrap();
//! let t0 = fake.now();
//! std::thread::scope(|s| {
//!     let task = s.spawn(|| {
//!         futures::executor::block_on(async {
//!             bucket.wait_async().await.unwrap(); // the burst: at once
//!             bucket.wait_async().await.unwrap(); // 100 ms of the fake clock
//!         })
//!     });
//!     // The clock's timer thread sleeps until the second token is due.
//!     assert!(fake.block_until_waiter_at(t0 + Duration::from_millis(100), Duration::from_secs(10)));
//!     fake.advance(Duration::from_millis(100));
//!     task.join().unwrap();
//! });
//! ```
//!
//! # Panic safety
//!
//! User code runs in the places below. None of them holds a lock that a panic could leave
//! poisoned (the locks are `parking_lot` mutexes, released on unwind and never poisoned),
//! and none leaves a limiter half-updated: after a panic, every limiter is consistent and
//! usable.
//!
//! * **Members of [`MaxOf`]** (their `when`, `forget` and `num_requeues`): no lock is
//!   held. If a member panics, the remaining members are still called, then the first
//!   panic is resumed: every member that does not panic itself records the failure or
//!   forgets the item, so none keeps a stale backoff because another one panicked.
//! * **The inner limiter of [`WithMaxWait`] and [`Jittered`]**: no lock is held, and the
//!   wrapper changes nothing of its own before the inner call returns ([`Jittered`] draws
//!   its random number afterwards): a panic leaves only what the inner limiter left.
//! * **Keys' `Hash`, `Eq`, `Clone` and `Drop`** in [`ExponentialLimiter`] and
//!   [`FastSlowLimiter`] (their failure map):
//!   * the key asked about is hashed before any lock is taken: a panic there changes
//!     nothing;
//!   * `Eq` (against stored keys), `Clone` (storing a new key), `Drop` (of a forgotten,
//!     evicted or expired key) and `Hash` of stored keys (when a shard's table grows)
//!     run under the lock of the key's shard;
//!   * an entry's count and time stamp are written only after every user call for it
//!     has returned, so a panic in `when` records no failure (though making room for a
//!     new key may already have evicted or swept others, which stay forgotten), and a
//!     panic in `Eq` during `forget` leaves the key remembered;
//!   * a panic in `Drop` comes after the table let go of the key: that key stays
//!     forgotten (and, in `when`, the new key that evicted it is not recorded);
//!   * a panic in `Hash` while a table grows keeps the old table with every key; while
//!     hashbrown rehashes in place it may drop some keys of that shard, which then
//!     count as forgotten;
//!   * beyond that, at most the shard's LRU tick has moved, which changes no count.
//! * **[`Backoff::retry`] / [`Backoff::retry_if`] closures**: no lock is held; the
//!   backoff is the caller's, borrowed mutably, and a panic leaves it as it was after
//!   the last delay it handed out (its steps and next delay), ready to go on or to be
//!   [`reset`](Backoff::reset).
//! * **[`Backoff::retry_async`] and its siblings**: the closure, the futures it returns
//!   and `transient` run in the caller's task, with no lock held and no sleep alive; a
//!   panic (in the closure or inside its future's poll) unwinds out of the retry
//!   future's poll and leaves the backoff as after the last delay it handed out, as for
//!   `retry`.
//! * **Sleepers and wakers of the async waits**: a [`Sleeper`]'s `sleep_until`, its
//!   sleep's `poll` and the task's waker clone run in the waiting task's poll; a
//!   [`Wait`] holding a reservation then unwinds, and its drop gives the tokens back
//!   (the cancel runs before the sleep is dropped, so a panicking sleep `Drop` cannot
//!   skip it). With the default (clock) sleeper, the waker's `wake` runs on the clock's
//!   timer thread, which catches a panic and goes on serving the clock; the sleep was
//!   marked fired first, so the wait completes on its next poll.
//! * [`TokenBucket`] otherwise runs no user code: its clock is gosync's, and its `when`
//!   ignores the item. `wait_context` registers an `on_cancel` hook of its own (it only
//!   notifies the waiter); the context runs each hook in `catch_unwind`, so a panicking
//!   hook of someone else's cannot keep it from waking the waiter.
//!
//! # Differences from Go
//!
//! Compared with client-go's `util/workqueue` rate limiters, `golang.org/x/time/rate`
//! and k8s `wait.Backoff`:
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
//!   rates that are NaN or negative are errors. Float rates are rounded to an exact
//!   [`Limit`]: positive rates below one event every `u64::MAX` nanoseconds are clamped
//!   up to that rate, and rates from about 1.8·10¹⁶/s on are infinite
//!   ([`Limit::from_qps`]).
//! * "Never" is `Duration::MAX` (Go's `InfDuration` is about 292 years): the delay of a
//!   reservation that is not ok, and `when` on a zero-limit bucket once its burst is
//!   spent. A wait longer than `u64::MAX` nanoseconds (about 584 years) counts as never.
//! * A [`Limit::ZERO`] bucket refuses a reservation it cannot fill from its balance (not
//!   ok, delay `Duration::MAX`, nothing taken); current x/time grants it with an
//!   `InfDuration` delay and holds the tokens until it is cancelled. A cancelled reservation of a
//!   zero-limit bucket gives its tokens back, as in x/time. Cancelling a reservation
//!   made at [`Limit::INF`] does nothing (x/time, if the limit has become finite since,
//!   hands back tokens that were never taken).
//! * On the real clock the token bucket measures time with
//!   [`Clock::nanos`](gosync_core::clock::Clock::nanos) (the TSC scaled to nanoseconds,
//!   calibrated once against `Instant`, where the kernel trusts the TSC), not
//!   `Instant::now` as Go's `time.Now()`: half the cost on the always-allowing path. Its
//!   rate is as good as the calibration (about 2·10⁻⁵), and readings on two CPUs may
//!   disagree by the skew the kernel tolerates; a reading that lands in the past counts
//!   as the bucket's last update, so neither ever grants more than the limit. Fake
//!   clocks are exact. While a cancellable [`Reservation`] is alive (even one leaked
//!   with `mem::forget`), `allow` takes the bucket's mutex instead of its lock-free path.
//! * The token bucket's times come from its [`Clock`](gosync_core::clock::Clock). The
//!   `*At(t)` variants are [`TokenBucket::set_limit_at`], [`TokenBucket::set_burst_at`]
//!   and [`Reservation::cancel_at`]; there is no `AllowN(t)`/`ReserveN(t)`/`TokensAt(t)`.
//!   Time never goes backwards for the bucket: a reading (or a `t`) older than its last
//!   update counts as that update, where x/time moves its clock back and credits the
//!   interval again (its jump-backwards tests note the result "should violate
//!   Limit,Burst"; so `TestReserveSetBurst`'s last request, which x/time takes at t0
//!   after a `SetBurstAt(t3)`, acts 0.9 s after t3 here, not after t0).
//! * [`TokenBucket::set_limit_at`] keeps the balance exactly when the new limit's token
//!   fraction can hold it (always for whole tokens) and otherwise rounds it down by less
//!   than one part of a token; a deficit that would take the new limit more than 2¹²⁶ ns
//!   to refill is capped there. x/time's `float64` balance rounds either way.
//! * [`Reservation::cancel`] never gives back more than the reservation took. After a
//!   limit change, a later reservation at a faster limit can act before an earlier one;
//!   x/time then counts the negative interval between them as tokens later reservations
//!   gave up, and hands back more than was taken.
//! * [`TokenBucket::set_burst`] accepts 0, as x/time's `SetBurst` does (the constructors
//!   reject it with a finite limit, above).
//! * [`TokenBucket::wait`] / [`TokenBucket::wait_n`] take no context;
//!   [`TokenBucket::wait_n_timeout`] is `WaitN(ctx, n)` with only a context deadline,
//!   and `TokenBucket::wait_context` (feature `context`, below) is `WaitN(ctx, n)`.
//! * `wait_context` on a zero limit, with no deadline, fails at once with
//!   `WaitContextError::Never`; x/time's `WaitN` blocks until the context is done.
//!   When the tokens come due as the context is done, the tokens win (x/time's
//!   `select` picks at random). A waiter that gives up cancels its reservation as of
//!   the instant it saw the context done (x/time: the instant `Cancel` reads the clock),
//!   so the tokens come back even if their time to act passes meanwhile.
//! * Go has no futures; the async twins keep x/time's semantics with these choices:
//!   a [`Wait`] reserves at its first poll (not when made: an unpolled future takes
//!   nothing); dropping it is the context's cancellation, and gives the tokens back as
//!   `Reservation::cancel` at the instant of the drop, so a wait whose time to act has
//!   been reached but which was dropped before the poll that would have completed it
//!   gives its tokens back (x/time's `Cancel` at exactly `timeToAct` does too, and later
//!   gives nothing back); `wait_n_timeout_async`'s timeout counts from the first poll.
//!   A wait completes when its sleeper's sleep does: the clock's never early, tokio's
//!   rounded up to its millisecond tick.
//! * [`Backoff`] keeps returning `cap` after reaching it until `max_steps` (k8s
//!   `wait.Backoff.Step` zeroes its remaining steps when it hits the cap), and its
//!   jitter never exceeds the delay (k8s `wait.Jitter` adds up to `factor · d` on top).
//! * [`BackoffBuilder::max_steps`] counts the delays handed out before giving up; k8s
//!   `Steps` counts the steps in which the delay may still grow (`Step` itself never
//!   ends, and `Steps <= 1` means a constant delay). Without `max_steps` the iterator
//!   is endless, like `Step`.
//! * [`MaxOf`] calls every member even after one of them panics, and then resumes the
//!   panic; a Go panic in `NewMaxOfRateLimiter`'s loop skips the members after it.
//! * A backoff factor below 1 (including k8s's "0 means no growth") is an error: ask
//!   for a constant delay with factor 1. A [`cap`](BackoffBuilder::cap) of zero caps
//!   every delay at zero (k8s `Cap: 0` means no cap; ours defaults to no cap).
//!
//! # Feature `tokio`
//!
//! Off by default. With it, `TokioSleeper` (and its sleep, `TokioSleep`) is a
//! [`Sleeper`] on `tokio::time::sleep_until`, for [`Wait::with_sleeper`] and
//! [`Backoff::retry_async_with`]; tokio is built with its `time` feature only. A wait
//! that sleeps on it must be polled inside a tokio runtime with the time driver.
//!
//! # Feature `smol`
//!
//! Off by default. With it, `SmolSleeper` (and `SmolSleep`) is a [`Sleeper`] on
//! `async_io::Timer`, the timer smol re-exports; the feature depends on `async-io`
//! alone, not on the whole of smol. It works under any executor (`async-io` drives its
//! timers from `block_on` or from a thread of its own).
//!
//! # Feature `context`
//!
//! Off by default. With it, `TokenBucket::wait_context(&ctx, n)` is x/time's
//! `WaitN(ctx, n)` on a [`gosync_context`](https://docs.rs/gosync-context) `Context`:
//! it fails at once if `n` exceeds the burst, if the context is already done, or if the
//! tokens would come after the context's deadline; otherwise it sleeps on the bucket's
//! clock until they are due, or until the context is done, which wakes it at once and
//! gives the tokens back (`WaitContextError::Done`). Its async twin,
//! `TokenBucket::wait_context_async(&ctx, n)`, returns a `WaitContext` future: the same
//! checks at its first poll, then a sleep that a cancel of `ctx` ends at once (waking
//! the task), giving the tokens back; tokens due by then win.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
mod sleeper;
mod token_bucket;
mod wait_async;
mod wide;
mod with_max_wait;

#[cfg(feature = "context")]
mod context;
#[cfg(feature = "context")]
mod wait_context_async;

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
pub use rate_limiter::{Borrowed, KeyRef, RateLimiter};
pub use sleeper::Sleeper;
#[cfg(all(feature = "smol", not(loom)))]
pub use sleeper::{SmolSleep, SmolSleeper};
#[cfg(all(feature = "tokio", not(loom)))]
pub use sleeper::{TokioSleep, TokioSleeper};
pub use token_bucket::{Reservation, TokenBucket, WaitError};
pub use wait_async::Wait;
pub use with_max_wait::{with_max_wait, WithMaxWait};

#[cfg(feature = "context")]
pub use context::WaitContextError;
#[cfg(feature = "context")]
pub use wait_context_async::WaitContext;

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
