//! client-go's `util/workqueue` for Rust: the work queue every Kubernetes controller is
//! built around.
//!
//! A [`Queue`] holds *keys* of work to do. Adding a key that is already waiting is free
//! (deduplicated); a key is never handed to two workers at once; a key added while it is
//! being processed is queued again when its processing ends, so no change is lost. Delayed
//! adds ([`Queue::add_after`]), retries with per-item backoff ([`RateLimitingQueue`], over
//! the [`ratelimit`] crate's limiters), priorities ([`PriorityQueue`]) and the seven
//! client-go metrics ([`MetricsProvider`]; `FacadeMetricsProvider` for the `metrics`
//! crate with the cargo feature `metrics`) come on top.
//!
//! Performance: one lock and, on the common path, one hash lookup per operation (one table
//! holds each item's dirty/processing/waiting state; a `VecDeque` holds the ready order).
//! Items are hashed (seeded `foldhash`) before the lock is taken, and the table slot an
//! operation will use is prefetched: before the lock for `add` and `done`, one item ahead
//! for `get`. So a deep queue, whose table no longer fits in the cache, still holds the
//! lock over cached lines. The priority machinery lives in a storage type parameter, so
//! the plain FIFO queue carries none of it.
//!
//! # Examples
//!
//! Two workers, a producer that adds duplicates, and a graceful drain:
//!
//! ```
//! use gosync_workqueue::Queue;
//! use std::sync::Mutex;
//!
//! let q = Queue::new();
//! let processed = Mutex::new(Vec::new());
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         s.spawn(|| {
//!             // `get` returns a guard; dropping it marks the key done, even on panic.
//!             while let Some(key) = q.get() {
//!                 processed.lock().unwrap().push(*key);
//!             }
//!         });
//!     }
//!     for key in [1, 2, 3, 1, 2, 3] {
//!         q.add(key);
//!     }
//!     q.shut_down_with_drain(); // returns once every key is processed
//! });
//! let mut keys = processed.into_inner().unwrap();
//! keys.sort();
//! keys.dedup();
//! assert_eq!(keys, [1, 2, 3]);
//! ```
//!
//! # Cargo features
//!
//! * `metrics`: `FacadeMetricsProvider`, reporting to
//!   the `metrics` facade under client-go's metric names.
//! * `context`: `Queue::get_context`, a `get` that also ends when a `gosync_context`
//!   `Context` is cancelled or reaches its deadline (no thread is left blocked, unlike
//!   Go's `select` around `Get`).
//!
//! # Differences from client-go
//!
//! * [`Queue::get`] returns a [`Guard`] that calls `done` when dropped (also when the
//!   worker panics), so a forgotten `Done` cannot wedge a key. The Go shape remains:
//!   [`Queue::get_detached`] + [`Queue::done`]. Extras: [`Queue::try_get`],
//!   [`Queue::get_timeout`] (on the queue's clock), [`Queue::waiting_len`], and the
//!   worker loop [`Guard::done_and_get`] / [`Queue::done_and_get_detached`]: `done` of
//!   one item and `get` of the next in one lock acquisition instead of two.
//! * `done` of an item that is not processing is a no-op returning `false`; client-go
//!   would queue a duplicate of a dirty item.
//! * One item is in the queue at most once, ready *or* waiting, and the earliest time
//!   wins: `add` of a waiting item drops its waiting entry, and `add_after` of a dirty
//!   item does nothing (client-go processes such an item twice: kubernetes#126027,
//!   #110642).
//! * [`Queue::shut_down_with_drain`] waits until nothing is processing *and* nothing is
//!   dirty (client-go waits only for the processing set), so queued items are processed
//!   before it returns; a later [`Queue::shut_down`] still forces it to return.
//! * Shutdown drops the waiting items and joins the delay thread; one thread serves all
//!   delays and the unfinished-work metrics tick (client-go: two goroutines).
//! * `PriorityQueue` (controller-runtime) is [`Queue`] with [`Priority`] storage; with
//!   `rate_limited` and `after` both given, the shorter delay is used. As in
//!   controller-runtime, an item added while it is being processed keeps the place of
//!   that add within its priority, so `done` queues it ahead of later adds; the plain
//!   [`Queue`] keeps client-go's order (`done` queues it at the back).
//! * Metric durations are measured with [`gosync_core::Clock::nanos`]: on the real clock
//!   and x86_64 Linux with an invariant TSC that the kernel uses as its clocksource, the
//!   TSC scaled to nanoseconds (the three timestamps per item cost about 10 ns each
//!   where `Instant::now()` costs 23). An operation reads it while it waits for the
//!   queue's lock, or, when the lock is free, just after taking it (a getter only if
//!   there is an item to hand out); never just before trying the lock, which held every
//!   attempt back.
//! * Metrics are configured per queue ([`QueueBuilder::metrics_provider`]); there is no
//!   global `SetProvider`.
//! * The queue is one type for the plain, delaying and (through [`RateLimitingQueue`])
//!   rate-limited interfaces; a delaying queue costs nothing until its first `add_after`.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

mod add_opts;
mod builder;
mod error;
mod metrics;
#[cfg(feature = "metrics")]
mod metrics_facade;
mod queue;
mod rate_limiting_queue;
mod state;
mod storage;
mod table;

pub use add_opts::AddOpts;
pub use builder::QueueBuilder;
pub use error::{GetTimeoutError, TryGetError};
/// The rate limiters (re-exported from `gosync-ratelimit`).
pub use gosync_ratelimit as ratelimit;
pub use metrics::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, SettableGaugeMetric,
};
#[cfg(feature = "metrics")]
pub use metrics_facade::FacadeMetricsProvider;
#[cfg(feature = "context")]
pub use queue::GetContextError;
pub use queue::{Guard, PriorityQueue, Queue};
pub use rate_limiting_queue::RateLimitingQueue;
pub use storage::{Fifo, Priority, Storage};
