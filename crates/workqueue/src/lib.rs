//! client-go's `util/workqueue` for Rust: the work queue every Kubernetes controller is
//! built around.
//!
//! A [`Queue`] holds *keys* of work to do. Adding a key that is already waiting is free
//! (deduplicated); a key is never handed to two workers at once; a key added while it is
//! being processed is queued again when its processing ends, so no change is lost. Delayed
//! adds ([`Queue::add_after`]), retries with per-item backoff ([`RateLimitingQueue`], over
//! the [`ratelimit`] crate's limiters), priorities ([`PriorityQueue`]) and the seven
//! client-go metrics ([`MetricsProvider`]; [`InMemoryMetrics`] to read them directly,
//! `FacadeMetricsProvider` for the `metrics` crate with the cargo feature `metrics`) come
//! on top.
//!
//! Performance: one lock and, on the common path, one hash lookup per operation (one table
//! holds each item's dirty/processing/waiting state; a `VecDeque` holds the ready order).
//! Items are hashed (seeded `foldhash`) before the lock is taken, and the table slot an
//! operation will use is prefetched: before the lock for `add` and `done`, one item ahead
//! for `get`. So a deep queue, whose table no longer fits in the cache, still holds the
//! lock over cached lines. The priority machinery lives in a storage type parameter, so
//! the plain FIFO queue carries none of it. Memory is given back as a queue drains: each
//! container (ready order, delay heap, item table) shrinks when it falls below a quarter
//! full, to a size that many more operations must pass before the next reallocation.
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
//! # Async
//!
//! [`Queue::get_async`] (and [`Queue::get_async_owned`], whose future is `'static`) is
//! the `get` of a task: a runtime-agnostic future (tokio, `futures::executor`, smol,
//! ...: it only uses the task's `Waker`), `Send` and cancel-safe, that resolves to an
//! [`OwnedGuard`], or `None` once the queue is shut down and drained.
//! [`Queue::wait_idle_async`] is the async `wait_idle`, and `Queue::stream` (feature
//! `stream`) the items as a `Stream`. Threads and tasks wait on the same queue, under
//! its one lock: a thread in `get` and a task in `get_async` are both served.
//!
//! Two blocking calls have no future of their own, by choice:
//! * `Guard::done_and_get` (finish an item and take the next in one lock round) is an
//!   optimisation of `done` + `get`; a task drops its guard and awaits `get_async`.
//! * [`Queue::shut_down_with_drain`] waits for workers that hold items. From a task,
//!   stop the producers, `wait_idle_async().await` (which also waits out retries and
//!   delays, as a drain does not), then [`Queue::shut_down`]: the workers' `get_async`
//!   then returns `None` and the task joining them (e.g. `WaitGroup::wait_async`) sees
//!   the end. The `async_controller` example stops this way.
//!
//! ```
//! use gosync_workqueue::Queue;
//!
//! let q = Queue::new();
//! let worker = {
//!     let q = q.clone();
//!     std::thread::spawn(move || {
//!         futures::executor::block_on(async {
//!             let mut n = 0;
//!             while let Some(key) = q.get_async().await {
//!                 let _ = *key; // the guard is `'static`: it may move into a spawned task
//!                 n += 1;
//!             }
//!             n
//!         })
//!     })
//! };
//! q.add("a");
//! q.add("b");
//! q.shut_down_with_drain();
//! assert_eq!(worker.join().unwrap(), 2);
//! ```
//!
//! # Cargo features
//!
//! * `metrics`: `FacadeMetricsProvider`, reporting to
//!   the `metrics` facade under client-go's metric names.
//! * `context`: `Queue::get_context`, a `get` that also ends when a `gosync_context`
//!   `Context` is cancelled or reaches its deadline (no thread is left blocked, unlike
//!   Go's `select` around `Get`).
//! * `stream`: `Queue::stream`, the items as a `futures_core::Stream` of
//!   [`OwnedGuard`]s that ends once the queue is shut down and drained.
//!
//! # Differences from Go
//!
//! From client-go's `util/workqueue` (and controller-runtime's priority queue):
//!
//! * [`Queue::get`] returns a [`Guard`] that calls `done` when dropped (also when the
//!   worker panics), so a forgotten `Done` cannot wedge a key; [`Queue::get_owned`] (and
//!   `try_get_owned`, `get_timeout_owned`, `get_context_owned`) returns an [`OwnedGuard`]
//!   that holds a queue handle, `'static`, to move into another thread or task. The Go shape remains:
//!   [`Queue::get_detached`] + [`Queue::done`]. Extras: [`Queue::try_get`],
//!   [`Queue::get_timeout`] (on the queue's clock), [`Queue::waiting_len`], and the
//!   worker loop [`Guard::done_and_get`] / [`Queue::done_and_get_detached`]: `done` of
//!   one item and `get` of the next in one lock acquisition instead of two.
//! * `done` of an item that is not processing is a no-op returning `false`; client-go
//!   would queue a duplicate of a dirty item.
//! * [`Queue::done`], [`RateLimitingQueue::forget`] and [`RateLimitingQueue::num_requeues`]
//!   take any borrowed form of the key, as `HashMap::get` does (`q.forget("ns/pod")` on
//!   a `String` queue); a guard is passed as the key it dereferences to (`&*guard`).
//! * One item is in the queue at most once, ready *or* waiting, and the earliest time
//!   wins: `add` of a waiting item drops its waiting entry, and `add_after` of a dirty
//!   item does nothing (client-go processes such an item twice: kubernetes#126027,
//!   #110642).
//! * [`Queue::shut_down_with_drain`] waits until nothing is processing *and* nothing is
//!   dirty (client-go waits only for the processing set), so queued items are processed
//!   before it returns; a later [`Queue::shut_down`] still forces it to return. Like
//!   client-go's `ShutDownWithDrain`, it drops the items still waiting out a delay or a
//!   backoff; [`Queue::wait_idle`] (not in client-go) first waits until nothing is
//!   ready, processing *or* waiting, so "finish everything, retries included, then stop"
//!   is `wait_idle()` then `shut_down_with_drain()`.
//! * No thread per queue: every delaying queue of a clock registers its earliest deadline
//!   (the first waiting item, or the unfinished-work metrics tick) with that clock's one
//!   timer thread ([`gosync_core::timer`]; client-go: two goroutines per queue). 1,000
//!   delaying queues on the real clock use one thread. Shutdown drops the waiting items
//!   and cancels the queue's registration, waiting for a timer callback in progress.
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
//!   global `SetProvider`. A provider without a queue name panics at `build` (client-go
//!   silently keeps no metrics). [`InMemoryMetrics`] keeps them in memory, to read with
//!   no third-party recorder; `FacadeMetricsProvider` registers each metric with the
//!   `metrics` recorder at its first update, so the queue may be built before the
//!   recorder is installed.
//! * The queue is one type for the plain, delaying and (through [`RateLimitingQueue`])
//!   rate-limited interfaces; a delaying queue costs nothing until its first `add_after`.
//! * Go has no futures (a goroutine blocks in `Get`): [`Queue::get_async`],
//!   [`Queue::get_async_owned`], [`Queue::wait_idle_async`] and `Queue::stream`
//!   (feature `stream`) are extras, for tasks on any async runtime. A task waits next
//!   to the blocking getters; with threads and tasks waiting on one queue at once, an
//!   item made ready wakes one of each (the other finds it taken and waits again).
//! * A panic in user code leaves the queue consistent (see [Panic safety](#panic-safety));
//!   on the timer thread it is caught and the thread goes on, where a panic in client-go's
//!   waiting goroutine ends the process.
//!
//! # Panic safety
//!
//! User code (the key type's `Clone`, `Eq`, `Hash` and `Drop`, the [`MetricsProvider`]
//! and its metrics, a rate limiter) may panic. The queue runs it where nothing is
//! half-updated: before an operation's first write or after its last one, never between.
//! A panic therefore leaves the queue as it was before the call or as after it, and
//! reaches the caller that ran the user code. Where each runs, and what a panic there
//! leaves:
//!
//! * **`Hash`** of the item: in the calling thread, before the queue's lock is taken
//!   (`add`, `add_after`, `done`; for `done`, the `Hash` of the borrowed form passed,
//!   and under the lock its `Eq` against the stored keys' borrowed forms). Never under the lock or on the timer thread: every
//!   copy of an item carries its hash. A panic leaves the queue as before the call. (The
//!   table's hasher itself, a seeded `foldhash`, is the crate's own and does not panic.)
//! * **`Eq`**: under the lock, in the lookup that starts `add`, `add_after` and `done`,
//!   before anything is changed, and in each `get`, whose copy taken from the ready order
//!   is put back at its head if the lookup panics (a drop guard): the queue is as before
//!   the call, the getter's item stays ready and another waiting getter is woken in its
//!   place. Never on the timer thread: a delayed item finds its entry by its unique push
//!   number.
//! * **`Clone`**: under the lock, before anything is changed: an `add`/`add_after` of a
//!   new item (one copy for the order, one for the table), and [`Queue::done`] of an item
//!   re-added while processing (the copy it queues again). The queue is as before the
//!   call. A [`Guard`] queues its own item and never clones; neither does re-adding an
//!   item the queue already holds (the item passed becomes the copy).
//! * **`Drop`** of items the queue lets go of (a deduplicated add, a finished item, a
//!   superseded copy): once the state change is complete and no wake-up is owed any more
//!   (after the unlock, for an `add`), so a panic there leaves the call's effect made.
//!   Two exceptions: the stale copies an `add` compacts away are dropped before it
//!   changes anything (a panic leaves it undone), and the waiting items a shutdown drops
//!   are dropped last, once the queue is shut down, every getter woken, the timer
//!   registration cancelled and the drain over. (Items whose type has no drop glue are simply dropped
//!   where they are let go of: nothing runs.)
//! * **Metrics provider**: `new_*_metric` in the builder (no queue is made). The metric
//!   methods run under the lock: in `add`, `add_after` and `get` before anything is
//!   changed (`get`: as `Eq` above), which leaves the queue as before the call (though a
//!   metric updated just before the panicking one keeps its update); in `done` after the
//!   table update, with a getter woken on unwind for an item it queued again (the item is
//!   done). On the timer thread, see below.
//! * **Timer thread** (the clock's, shared by every delaying queue of that clock): a
//!   queue's callback runs only metrics (an item's add when it fires, the unfinished-work
//!   gauges every update period, 500 ms by default) and the `Drop` of superseded delayed
//!   copies, after the state change of each item and inside `catch_unwind`. A panic there
//!   is reported by the panic hook as any panic is (printed to stderr by default), its
//!   payload is then dropped, and the queue registers its next deadline: the items fired
//!   before it are ready (and getters woken for them), the later ones still fire, and the
//!   other queues of the clock are not held up (the thread catches a callback's panic too).
//! * **Rate limiter** ([`RateLimitingQueue`]: `when`, `forget`, `num_requeues`, and the
//!   key's `Hash`, `Eq`, `Clone` it runs): in the calling thread, before the queue is
//!   touched and outside its lock. The queue is as before the call; the limiter's own
//!   state is the limiter's (the `ratelimit` limiters record the failure or not).
//!
//! * **Task wakers** (`get_async`, `wait_idle_async`, the stream): a waker's `clone`
//!   runs in `poll`, under the lock, before anything changes (a panic leaves the queue
//!   as it was); its `drop` after the unlock. Its `wake` runs after the unlock, once the
//!   operation that woke it is complete: an `add` or `done` (after the thread
//!   getter's wake-up too), a shutdown (after every getter was woken and every task's
//!   `wake` ran: the first panic is then resumed, and the drain is not waited for), a
//!   `done` that makes the queue idle (every idle task woken, then the first panic).
//!   The panic propagates from that operation with the queue consistent; the item
//!   stays ready for the next getter (the task whose waker panicked may not have been
//!   scheduled). On the timer thread a panicking `wake` is caught and dropped, like the
//!   timer's other user code. The last handle's drop wakes every task and drops their
//!   panics. A dropped future that was woken passes the wake-up on; the waker it
//!   passes it to runs in the drop.
//!
//! Operations that combine two are atomic one half at a time: a panic in the `get` half
//! of [`Queue::done_and_get_detached`] or [`Guard::done_and_get`] leaves the `done` made.
//! A guard cannot retry its `done`: if the item's `Hash` or `Eq` panics there, the queue
//! cannot find the item, which stays processing (see [`Guard`]).
//!
//! The user code that runs under the queue's lock must not call back into that queue
//! (it would deadlock). The queue's own panics (more than 2^31 items) are raised before
//! anything is changed.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod add_opts;
mod builder;
mod error;
mod in_memory;
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
pub use in_memory::{HistogramSnapshot, InMemoryMetrics, MetricsSnapshot};
pub use metrics::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, SettableGaugeMetric,
};
#[cfg(feature = "metrics")]
pub use metrics_facade::FacadeMetricsProvider;
#[cfg(feature = "context")]
pub use queue::GetContextError;
#[cfg(feature = "stream")]
pub use queue::GetStream;
pub use queue::{GetAsync, GetAsyncOwned, Guard, OwnedGuard, PriorityQueue, Queue, WaitIdleAsync};
pub use rate_limiting_queue::RateLimitingQueue;
pub use storage::{Fifo, Priority, Storage};

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
