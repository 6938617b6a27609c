//! Go's `sync.WaitGroup` for Rust: wait for a group of threads to finish.
//!
//! [`WaitGroup`] keeps Go's API (`add`, `done`, `wait`), Go's reuse across rounds and
//! Go's misuse panics, and adds what Rust can do better: a [`DoneGuard`] that makes a
//! forgotten `done` impossible, Go 1.25's `Go` as [`WaitGroup::go`] (plus `static` and
//! scoped variants) that counts down even when the task panics, and a timed wait.
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
//! * Extra: `WaitGroup::wait_context` (feature `context`, below),
//!   [`WaitGroup::wait_timeout`], [`WaitGroup::wait_deadline`] (on an injectable `Clock`,
//!   so tests can drive it with a `FakeClock`), [`WaitGroup::guard`], [`WaitGroup::guard_owned`],
//!   [`WaitGroup::go_scoped`], [`WaitGroup::go_static`], and [`WaitGroup::count`].
//! * A `WaitGroup` cannot be copied (Go relies on `go vet` to catch copies).
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

#[cfg(feature = "context")]
mod context;
mod wait_group;

pub use wait_group::{DoneGuard, OwnedDoneGuard, WaitGroup};
