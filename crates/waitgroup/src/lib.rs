//! Go's `sync.WaitGroup` for Rust: wait for a group of threads to finish.
//!
//! [`WaitGroup`] keeps Go's API (`add`, `done`, `wait`), Go's reuse across rounds and
//! Go's misuse panics, and adds what Rust can do better: a [`DoneGuard`] that makes a
//! forgotten `done` impossible, Go 1.25's `Go` as [`WaitGroup::go`] (plus `static` and
//! scoped variants) that counts down even when the task panics, a timed wait, and
//! [`WaitGroup::wait_async`], a runtime-agnostic future: threads and async tasks can wait
//! on the same group, and the `done` that brings the counter to zero releases them all.
//!
//! An uncontended `add` + `done` is two atomic read-modify-writes, and a `wait` on a zero
//! counter is one load; waiters park and are woken when the counter reaches zero.
//!
//! # Examples
//!
//! Fan out over a slice and wait for every worker:
//!
//! ```
//! use gosync_waitgroup::WaitGroup;
//! use std::sync::Mutex;
//!
//! let wg = WaitGroup::new();
//! let results = Mutex::new(Vec::new());
//! std::thread::scope(|s| {
//!     for n in [1u64, 2, 3, 4] {
//!         let results = &results;
//!         wg.go_scoped(s, move || results.lock().unwrap().push(n * n));
//!     }
//!     wg.wait();
//! });
//! let mut squares = results.into_inner().unwrap();
//! squares.sort();
//! assert_eq!(squares, [1, 4, 9, 16]);
//! ```
//!
//! # Differences from Go
//!
//! * `add` takes an `isize` and panics with `sync: WaitGroup counter overflow` past
//!   `i32::MAX` (Go's counter is an `int32` that silently wraps to negative and then
//!   reports `sync: negative WaitGroup counter`).
//! * [`WaitGroup::go`] returns the thread's `JoinHandle`, and a panic in the task does
//!   not end the process: it is reported through `join`, after `done` has run during
//!   unwinding, so `wait` still returns. Go's `WaitGroup.Go` requires `f` not to panic.
//! * Async: [`WaitGroup::wait_async`] is `Wait` as a future ([`WaitAsync`]: `Send`,
//!   cancel-safe, on any executor). It never panics with Go's "reused before previous
//!   Wait has returned": a task is released by name when the counter reaches zero, so a
//!   round started before the task is polled again cannot take its release (the blocking
//!   `wait` keeps Go's check). Dropping the future unfinished is a wait that has returned:
//!   the group is left as if the task had never waited, even when the counter has just
//!   reached zero and that round's release has not run yet, so an `add` right after the
//!   drop starts the next round without the misuse panic.
//! * Extra: `WaitGroup::wait_context` (feature `context`, below),
//!   [`WaitGroup::wait_timeout`], [`WaitGroup::wait_deadline`] (on an injectable `Clock`,
//!   so tests can drive it with a `FakeClock`), [`WaitGroup::guard`], [`WaitGroup::guard_owned`],
//!   [`WaitGroup::go_scoped`], [`WaitGroup::go_static`], and [`WaitGroup::count`].
//! * A `WaitGroup` cannot be copied (Go relies on `go vet` to catch copies).
//! * Go's misuse panics end the program; here they are ordinary panics that a caller may
//!   catch, so each misused `add`/`done` is taken back before it panics: the group stays
//!   usable, and no later `wait` hangs on a counter the misuse changed.
//! * A waiter may give up (`wait_timeout`, `wait_deadline`, `wait_context`), which Go's
//!   `Wait` cannot. Giving up leaves the group exactly as if the waiter had never waited,
//!   so the next round may start at once.
//! * As in Go, a task that calls `wait` on its own group (for example inside the closure
//!   given to [`WaitGroup::go`]) deadlocks: its own `done` cannot run before its `wait`
//!   returns. Wait from outside the tasks the group counts.
//!
//! # Panic safety
//!
//! The only user code a `WaitGroup` runs is the closure given to [`WaitGroup::go`] (and
//! `go_static`, `go_scoped`). It runs on its own thread, outside any lock of the group,
//! with a [`DoneGuard`]-style guard that calls `done` while it unwinds: a panic there
//! reaches the `JoinHandle`, the group is counted down, and `wait` returns. If the thread
//! cannot be spawned, the `add` is undone before the spawn panic propagates.
//!
//! The wakers of [`WaitAsync`] futures are user code (the executor's). A waker is
//! cloned before the task registers, so a panicking `clone` leaves the group unchanged;
//! replaced and removed wakers are dropped with no lock held; and the `done` that
//! releases a round wakes the tasks after the whole round is released (state word reset,
//! blocking waiters granted their permits, tasks marked released), each inside
//! `catch_unwind`, so a panicking `wake` keeps no other waiter asleep. Its panic is then
//! resumed from that `done` (or `add`), unless the thread is already unwinding (a
//! [`DoneGuard`] dropped by a panic), where it is dropped so as not to abort.
//!
//! The group's own panics (the misuse messages above) are raised only after the state is
//! restored, never while its lock is held.
//!
//! # Feature `context`
//!
//! Off by default. With it, `WaitGroup::wait_context(&ctx)` waits until the counter is
//! zero (`Ok`) or a [`gosync_context`](https://docs.rs/gosync-context) `Context` is done
//! (`Err(ctx.err())`): Go's `select` on a `Wait` helper goroutine and `ctx.Done()`,
//! without the helper left blocked. A waiter that gives up withdraws cleanly, like a
//! timed-out `wait_timeout`; a counter that is already zero wins over a done context.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "context")]
mod context;
mod wait_async;
mod wait_group;

pub use wait_async::WaitAsync;
pub use wait_group::{DoneGuard, OwnedDoneGuard, WaitGroup};

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
