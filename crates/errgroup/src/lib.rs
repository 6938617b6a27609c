//! Go's `golang.org/x/sync` for Rust threads: [`errgroup`] (run tasks, keep the first
//! error, cancel the rest through a [`Context`](gosync_context::Context), limit how many
//! run at once), a FIFO weighted [`semaphore`] whose acquire a context can cancel, and
//! [`singleflight`] (concurrent calls for one key share one execution).
//!
//! # Examples
//!
//! A bounded fan-out that stops at the first failure, with a semaphore guarding a
//! scarce resource and a singleflight in front of a slow lookup:
//!
//! ```
//! use gosync_context::background;
//! use gosync_errgroup::{singleflight, Group, Semaphore};
//! use std::sync::Arc;
//!
//! #[derive(Debug, Clone, PartialEq)]
//! struct Failed(u32);
//! impl std::fmt::Display for Failed {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "item {} failed", self.0)
//!     }
//! }
//! impl std::error::Error for Failed {}
//!
//! let connections = Arc::new(Semaphore::new(2)); // two "connections" to share
//! let lookups = singleflight::Group::new(); // one lookup per host at a time
//! let (g, ctx) = Group::with_context(&background());
//! g.set_limit(4); // at most four tasks at once
//! for item in 0..10u32 {
//!     let (ctx, connections, lookups) = (ctx.clone(), Arc::clone(&connections), lookups.clone());
//!     g.go(move || {
//!         let _conn = match connections.acquire_context_guard(&ctx, 1) {
//!             Ok(conn) => conn,
//!             Err(_) => return Ok(()), // cancelled: an earlier item failed
//!         };
//!         let (addr, _shared) = lookups.run(item % 3, || format!("10.0.0.{}", item % 3));
//!         assert!(addr.starts_with("10.0.0."));
//!         if item == 7 { Err(Failed(item)) } else { Ok(()) }
//!     });
//! }
//! assert_eq!(g.wait(), Err(Failed(7)));
//! assert!(ctx.is_done());
//! ```
//!
//! # One crate, three modules
//!
//! The three types are one package in Go and are used together (an errgroup's tasks take
//! a semaphore; a singleflight sits behind them); they share the panic handling and the
//! context integration, and each is a few hundred lines. One crate keeps one version to
//! depend on and one place for the panic-safety story; the modules keep the types apart
//! (`errgroup::Group` and `singleflight::Group` keep Go's names).
//!
//! | item | Go |
//! |---|---|
//! | [`Group`] (`errgroup::Group`) | `errgroup.Group`: `new`, `with_context`, `go`, `try_go`, `set_limit`, `wait`; plus `go_scoped` / `try_go_scoped` for borrowing closures, and `go_async` / `wait_async` |
//! | [`Semaphore`], [`SemaphoreGuard`], [`OwnedSemaphoreGuard`] | `semaphore.Weighted`: `acquire`, `acquire_context`, `try_acquire`, `release`; guards that release on drop (borrowed, or owning an `Arc` for spawned threads and tasks); `acquire_async`, `acquire_guard_async`, `acquire_owned_async` |
//! | [`singleflight::Group`], [`singleflight::Handle`] | `singleflight.Group`: `run` (Go's `Do`), `spawn` (`DoChan`), `forget`; a handle is waited on (`wait`) or awaited (it is a `Future`) |
//! | [`TaskPanicked`] | the context cause of a group whose task panicked |
//!
//! # Async
//!
//! Every blocking wait has a future twin that runs on any executor (it only uses the
//! task's `Waker`; tokio, `futures::executor`, smol, ...), is `Send`, and is cancel-safe
//! (dropping it loses nothing and leaves nothing behind):
//!
//! | blocking | future |
//! |---|---|
//! | [`Group::wait`] | [`Group::wait_async`] |
//! | [`Group::go`] (waiting for a slot of the limit) | [`Group::go_async`] |
//! | [`Semaphore::acquire`] / [`acquire_guard`](Semaphore::acquire_guard) / [`acquire_owned`](Semaphore::acquire_owned) | [`Semaphore::acquire_async`] / [`acquire_guard_async`](Semaphore::acquire_guard_async) / [`acquire_owned_async`](Semaphore::acquire_owned_async) (`'static`, for spawned tasks) |
//! | [`Semaphore::acquire_context`] | `ctx.run_until_done(sem.acquire_async(n))` ([`Context::run_until_done`](gosync_context::Context::run_until_done)) |
//! | [`singleflight::Handle::wait`] | `handle.await` |
//!
//! Threads and tasks wait on the same primitive and are woken by the same event: a
//! thread in `acquire` and a task in `acquire_async` queue in one FIFO line; a thread in
//! `wait` and a task in `wait_async` are released by the same last task; a blocked
//! `run` follower and an awaited handle get the same call's value; a thread in `go` and
//! a task in `go_async` compete for the same slots of a limit. Not async: the closures
//! themselves (a `Group` task and a singleflight leader run on threads), and
//! [`Group::go_scoped`] (a thread scope blocks by nature).
//!
//! # Differences from Go
//!
//! **errgroup**
//!
//! * Tasks run on OS threads, one per task (Go: goroutines). Use [`Group::set_limit`] to
//!   bound them.
//! * [`Group::wait`] hands the first error over (`Result<(), E>`, no `Clone` needed): a
//!   second `wait` returns `Ok(())` unless a later task failed; Go returns the same error
//!   from every `Wait` and ignores every later error.
//! * A panicking task is caught on its thread; `wait` resumes the first panic after every
//!   task has returned (Rust's convention for joining threads; Go's x/sync briefly did
//!   the same in 2025 and reverted it, so in Go a panicking goroutine ends the process).
//!   See "Panic safety".
//! * `go` with a limit of 0 panics (Go's blocks forever); `try_go` returns `false`, as
//!   Go's.
//! * [`Group::with_context`] needs `E: Error + Clone + Send + Sync` (the context's cause is
//!   a clone of the first error); [`Group::with_context_map`] takes a conversion for
//!   other error types.
//! * [`Group::go_async`] (no Go counterpart) is `go` waiting for a slot as a future; a
//!   freed slot wakes one blocked `go` thread and every waiting `go_async` task, and the
//!   first to come takes it (Go's channel serves blocked goroutines in order).
//! * [`Group::wait_async`] (no Go counterpart) has `wait`'s semantics; it never panics
//!   with the `WaitGroup`'s reuse message (a task is released by name; see
//!   `WaitGroup::wait_async`).
//! * `set_limit` while tasks started under an earlier limit still run: a task gives its
//!   slot back to the limit it was started under, so a replaced limit is never
//!   disturbed (in Go such a goroutine drains the new channel, which can block it
//!   forever).
//! * A `go` blocked on a full limit re-checks after `set_limit` and proceeds under the
//!   new limit (Go's blocks on the old channel).
//! * A thread the OS refuses to spawn is a panic of `go` (`errgroup: failed to spawn a
//!   thread`), with the slot given back.
//!
//! **semaphore**
//!
//! * Weights are `u64` (Go: `int64`), so negative weights cannot be passed.
//! * [`Semaphore::acquire`] takes no context and panics when the weight exceeds the size
//!   (Go's `Acquire(context.Background(), n > size)` blocks forever).
//!   [`Semaphore::acquire_context`] with such a weight waits for the context, as Go's.
//! * Releasing more than held panics with Go's message but leaves the semaphore as it was
//!   (Go leaves its counter negative).
//! * [`SemaphoreGuard`]s and [`OwnedSemaphoreGuard`]s release on drop.
//! * [`Semaphore::acquire_async`] (and its guard forms) is Go's `Acquire` with the
//!   context replaced by dropping the future: a dropped future that was queued leaves the
//!   queue, waking the waiters behind a head that now fit (Go's `notifyWaiters` on
//!   cancel); one granted but not yet polled puts the weight back, which is handed on
//!   (Go's "pretend we didn't"). Like `acquire`, it panics (when called) for a weight
//!   larger than the size, where Go's `Acquire` would wait for its context forever.
//!
//! **singleflight**
//!
//! * `Do` is [`singleflight::Group::run`] (`do` is a keyword) and returns `(V, shared)`;
//!   errors are part of `V` (e.g. `Result<T, Arc<E>>`). Keys are any `Hash + Eq + Clone`
//!   type (Go: `string`); values are cloned for each follower (`V: Clone`; Go shares one
//!   `interface{}`). The leader gets its own value without a clone when nobody joined.
//! * `DoChan` is [`singleflight::Group::spawn`], returning a [`singleflight::Handle`] to
//!   wait on (or await) instead of a channel. A handle of a caller that joined a call in
//!   flight follows it, so a task can follow another's call without blocking a thread.
//!   An async leader (a future as the call) is not offered: the leader's closure runs
//!   on a thread.
//! * A panic in the leader's closure: the leader's panic continues, each follower panics
//!   with a message naming it (Go re-panics the same value in every caller); with
//!   `spawn` the handles panic on `wait` (Go ends the process). `runtime.Goexit` has no
//!   Rust counterpart.
//!
//! **Additions** (no Go counterpart): [`Semaphore::available`] and
//! [`Semaphore::waiters`]; owned guards ([`Semaphore::acquire_owned`],
//! [`Semaphore::try_acquire_owned`]); the futures of "Async"; [`singleflight::Group::followers`],
//! [`singleflight::Group::in_flight`] and [`singleflight::Group::is_empty`] (snapshots
//! for tests and metrics); `Clone` handles for both groups.
//!
//! # Panic safety
//!
//! Where user code runs, and what a panic there leaves (nothing is ever left
//! half-updated, so every type here is `UnwindSafe` and `RefUnwindSafe`, as a std
//! `Mutex` is):
//!
//! * **errgroup task closures** (`go`, `try_go`, `go_scoped`) run on their own thread
//!   inside `catch_unwind`. A panic there: the task's limit slot is given back and the
//!   task counts as done (by a drop guard, so `wait` never hangs); the context is
//!   cancelled with a [`TaskPanicked`] cause unless an error or panic cancelled it
//!   first; the other tasks keep running (they see the cancelled context); `wait`
//!   resumes the first panic once they have all returned. The same holds for a panic in
//!   the error's `Clone` (the first error's, made for the context's cause with no lock
//!   held; that round's error is then lost and the panic reported instead) or `Drop` (of
//!   an error after the first), which run on the task's thread too.
//! * **Panics raised by the library**: `set_limit` while tasks run, `go` with a limit of
//!   0, `Semaphore::release` of more than held, `Semaphore::acquire` of more than the
//!   size: each panics before changing anything.
//! * **Semaphore**: runs no user code but task wakers (the context's hooks it registers
//!   are its own). A waker is cloned before anything changes (a panicking `clone`
//!   panics out of `poll` with the semaphore unchanged) and dropped and woken only after
//!   every lock is released: a panicking `wake` panics out of the `release` (or the
//!   future's drop) that granted its task, after the semaphore is fully updated and
//!   every other granted waiter, thread or task, woken. A thread or task that panics
//!   while holding a guard releases its weight.
//! * **Async waits** ([`Group::wait_async`], [`Group::go_async`], an awaited
//!   [`singleflight::Handle`]): the same rule for wakers; a panicking `wake` surfaces in
//!   the end of the task that released the waiter (errgroup: its `done`, see
//!   `WaitGroup::wait_async`, or its slot's release, after the slot was given back; on a
//!   task's thread, whose panic `wait` then resumes) or in the leader that published
//!   (singleflight, after the key is removed and every other waiter woken). `wait_async` resumes a task's
//!   panic as `wait` does.
//! * **singleflight closures** run on the leader's thread inside `catch_unwind`; the
//!   outcome is published and the key removed before the panic resumes, so followers
//!   never hang and no key leaks. `Clone` of a value runs in the caller that receives
//!   the clone, after every lock is released: a panic there is that caller's only.
//!   `Hash`/`Eq`/`Clone` of a key run under the group's lock: a panic before the call is
//!   registered changes nothing; a panic while the leader removes its key leaves the
//!   finished call in the map, where a later caller joins it and gets its value (if
//!   anyone had joined, the value was published first) or a panic saying the key's
//!   `Hash` or `Eq` panicked; [`singleflight::Group::forget`] drops the entry. Nobody
//!   waits forever.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

pub mod errgroup;
mod panic;
pub mod semaphore;
pub mod singleflight;

pub use errgroup::Group;
pub use panic::TaskPanicked;
pub use semaphore::{OwnedSemaphoreGuard, Semaphore, SemaphoreGuard};
