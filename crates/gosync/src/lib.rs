//! Go's concurrency primitives for Rust, in one dependency: Go's semantics, Rust's
//! safety.
//!
//! `gosync` re-exports the gosync crates, one module per primitive, each behind a cargo
//! feature (all on by default). Each crate also stands alone: depend on
//! `gosync-workqueue` (or any other) directly when you need only that one. The types are
//! the same either way: `gosync::workqueue::Queue` *is* `gosync_workqueue::Queue`.
//!
//! # Examples
//!
//! A work queue that collapses duplicate keys, drained by workers that a `WaitGroup`
//! joins:
//!
//! ```
//! use gosync::workqueue::Queue;
//! use gosync::WaitGroup;
//! use std::sync::{Arc, Mutex};
//!
//! let queue = Queue::new();
//! let workers = Arc::new(WaitGroup::new());
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! for _ in 0..3 {
//!     let (queue, seen) = (queue.clone(), seen.clone());
//!     // Go 1.25's `wg.Go`: add, spawn, done when the closure returns (or panics).
//!     workers.go(move || {
//!         while let Some(key) = queue.get() {
//!             seen.lock().unwrap().push(*key); // the guard marks the key done on drop
//!         }
//!     });
//! }
//! for key in [1, 2, 3, 1, 2, 3, 1] {
//!     queue.add(key); // a key already waiting is not queued twice
//! }
//! queue.shut_down_with_drain(); // every queued key processed, then the workers stop
//! workers.wait();
//! let mut seen = seen.lock().unwrap().clone();
//! seen.sort();
//! seen.dedup();
//! assert_eq!(seen, [1, 2, 3]);
//! ```
//!
//! # The crates
//!
//! | module (feature) | crate | Go | main difference from Go |
//! |---|---|---|---|
//! | [`waitgroup`] | `gosync-waitgroup` | `sync.WaitGroup` | a wait can give up (timeout, deadline, context) and leaves the group as if it never waited; misuse panics are taken back, so the group stays usable |
//! | [`once`] | `gosync-once` | `sync.Once`, `OnceFunc`, `OnceValue(s)` | calling a `Once` from its own function panics instead of deadlocking; `OnceValue::get` returns `&T` |
//! | [`context`] | `gosync-context` | `context` | a child is released when its handles drop, so a forgotten cancel leaks nothing; `Done()` is a blocking wait, a future, or a `select!` channel |
//! | [`pool`] | `gosync-pool` | `sync.Pool` | typed and bounded, objects come back when a guard drops; no GC, so `trim` is the GC step (Go's victim rule) |
//! | [`pipe`] | `gosync-pipe` | `io.Pipe` | a write cut short by a close returns `Ok(n)` and the next call the error (std's `Write` contract); timeouts and context cancellation |
//! | [`workqueue`] | `gosync-workqueue` | client-go `util/workqueue` | `get` returns a guard that marks the item done on drop; an item is queued at most once, ready *or* waiting (the earliest time wins) |
//! | [`ratelimit`] | `gosync-ratelimit` | client-go rate limiters, `x/time/rate`, `wait.Backoff` | exact integer nanoseconds instead of `float64`; a sharded, boundable failure map |
//! | [`cond`] | `gosync-cond` | `sync.Cond` | each wait takes the mutex guard (no `L` field); waits can give up (timeout, deadline, context) without losing a signal |
//! | [`errgroup`] | `gosync-errgroup` | `golang.org/x/sync`: `errgroup`, `semaphore`, `singleflight` | a task's panic is caught, counted as done, and re-raised by `wait` after the others finish; `wait` hands the first error over once |
//! | [`clock`] (always) | `gosync-core` | client-go `clock.FakeClock` | `Clock` is a value (real or fake), not an interface; `FakeClock::advance` returns once every wait it made due has woken |
//!
//! Each crate's documentation has its full "Differences from Go" and "Panic safety"
//! sections.
//!
//! # Cargo features
//!
//! * `waitgroup`, `once`, `context`, `pool`, `pipe`, `workqueue`, `ratelimit`, `errgroup`,
//!   `cond` (all default): the primitive crates. `workqueue` turns on `ratelimit` (its retry
//!   limiters).
//! * `context` also turns on the context integration of every other enabled crate:
//!   `WaitGroup::wait_context`, `PipeReader::read_context` / `PipeWriter::write_context`,
//!   `TokenBucket::wait_context`, `Queue::get_context`, `Cond::wait_context`.
//! * `metrics` (off): the work queue's `FacadeMetricsProvider` for the `metrics` crate.
//! * `crossbeam` (off): `Context::done_chan`, a `crossbeam_channel::Receiver` for
//!   `select!`.
//! * `stream` (off): `Queue::stream`, the work queue's items as a `futures_core::Stream`.
//! * `futures-io` (off): `futures_io::AsyncRead` / `AsyncWrite` for the pipe's ends.
//! * `tokio` (off): tokio's `AsyncRead` / `AsyncWrite` for the pipe's ends and
//!   `TokioSleeper` for the rate limiters' async waits (in whichever of the two crates
//!   are enabled).
//! * `smol` (off): `SmolSleeper`, the rate limiters' async waits on smol's timer.
//!
//! Every blocking wait has a runtime-agnostic async twin in the default build (no
//! feature needed): `WaitGroup::wait_async`, `Queue::get_async`, `Context::done`,
//! `TokenBucket::wait_async`, `Semaphore::acquire_async`, and so on; the features above
//! only add the ecosystem's traits and timers.
//!
//! For fewer crates: `default-features = false, features = ["workqueue", "context"]`.
//!
//! # Differences from Go
//!
//! This crate adds no code of its own; each primitive's differences are listed in its
//! crate's docs, and the main one of each in the table above.
//!
//! # Panic safety
//!
//! This crate runs no code of its own. Where each primitive runs user code (closures,
//! hooks, `Clone`/`Eq`/`Hash`/`Drop` of your types) and what a panic there leaves is in
//! that crate's "Panic safety" section; the rule they all keep: shared state is
//! consistent before user code runs or rolled back when it unwinds, and a shared
//! background thread catches the panic and keeps running.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The injectable time source: [`Clock`] (real or fake) and [`FakeClock`] for tests
/// (re-exported from `gosync-core`).
pub use gosync_core::clock;
pub use gosync_core::{Clock, FakeClock};

/// Go's `sync.WaitGroup` (re-exported from `gosync-waitgroup`).
#[cfg(feature = "waitgroup")]
#[cfg_attr(docsrs, doc(cfg(feature = "waitgroup")))]
pub use gosync_waitgroup as waitgroup;
#[cfg(feature = "waitgroup")]
#[cfg_attr(docsrs, doc(cfg(feature = "waitgroup")))]
pub use gosync_waitgroup::WaitGroup;

/// Go's `sync.Once`, `OnceFunc`, `OnceValue` and `OnceValues` (re-exported from
/// `gosync-once`).
#[cfg(feature = "once")]
#[cfg_attr(docsrs, doc(cfg(feature = "once")))]
pub use gosync_once as once;
#[cfg(feature = "once")]
#[cfg_attr(docsrs, doc(cfg(feature = "once")))]
pub use gosync_once::{once_func, once_value, once_values, Once, OnceFunc, OnceValue, OnceValues};

/// Go's `context` package (re-exported from `gosync-context`).
#[cfg(feature = "context")]
#[cfg_attr(docsrs, doc(cfg(feature = "context")))]
pub use gosync_context as context;
#[cfg(feature = "context")]
#[cfg_attr(docsrs, doc(cfg(feature = "context")))]
pub use gosync_context::Context;

/// Go's `sync.Pool` (re-exported from `gosync-pool`).
#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
pub use gosync_pool as pool;
#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
pub use gosync_pool::Pool;

/// Go's `io.Pipe` (re-exported from `gosync-pipe`).
#[cfg(feature = "pipe")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipe")))]
pub use gosync_pipe as pipe;

/// client-go's work queue (re-exported from `gosync-workqueue`).
#[cfg(feature = "workqueue")]
#[cfg_attr(docsrs, doc(cfg(feature = "workqueue")))]
pub use gosync_workqueue as workqueue;

/// client-go's rate limiters, a token bucket and a retry `Backoff` (re-exported from
/// `gosync-ratelimit`).
#[cfg(feature = "ratelimit")]
#[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
pub use gosync_ratelimit as ratelimit;

/// Go's `golang.org/x/sync`: `errgroup`, the weighted `semaphore` and `singleflight`
/// (re-exported from `gosync-errgroup`).
#[cfg(feature = "errgroup")]
#[cfg_attr(docsrs, doc(cfg(feature = "errgroup")))]
pub use gosync_errgroup as errgroup;

/// Go's `sync.Cond`, with clock and context waits (re-exported from `gosync-cond`).
#[cfg(feature = "cond")]
#[cfg_attr(docsrs, doc(cfg(feature = "cond")))]
pub use gosync_cond as cond;
#[cfg(feature = "cond")]
#[cfg_attr(docsrs, doc(cfg(feature = "cond")))]
pub use gosync_cond::Cond;
