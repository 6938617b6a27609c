//! Go's `sync.Once`, `OnceFunc`, `OnceValue` and `OnceValues` for Rust.
//!
//! * [`Once`]: run a function exactly once across threads; every caller returns after it
//!   has finished. A panicking function counts as done (Go's rule, not std's poisoning).
//! * [`once_func`], [`once_value`], [`once_values`]: Go 1.21's wrappers: the function
//!   runs once, its result is shared, and if it panicked every call panics again with the
//!   same value (see [`OnceValue`]). The function is dropped after its run.
//!
//! * Async: [`Once::wait_async`], [`OnceValue::get_async`], [`OnceFunc::wait_async`] and
//!   [`OnceValues::get_async`] wait, as runtime-agnostic futures, for another caller's
//!   `call_once`/`get`/`call` to finish (they never run the
//!   function: there is no async initialiser).
//!
//! After completion, the fast path is one Acquire load, inlined; the first run and the
//! waiting are in a cold, non-generic function.
//!
//! # Examples
//!
//! ```
//! use gosync_once::{once_value, Once};
//!
//! static SETUP: Once = Once::new();
//! SETUP.call_once(|| println!("global setup runs once"));
//!
//! let table = once_value(|| (0..8u32).map(|i| i * i).collect::<Vec<_>>());
//! std::thread::scope(|s| {
//!     s.spawn(|| assert_eq!(table.get()[3], 9));
//!     s.spawn(|| assert_eq!(table.get()[7], 49));
//! });
//! ```
//!
//! # Differences from Go
//!
//! * Panics: as in Go, a [`Once`] whose function panicked is done, and the wrappers
//!   re-panic on every later call. The first call propagates the original payload;
//!   later calls re-raise an equal `&'static str` or `String` payload (what `panic!`
//!   makes), but any other payload (`panic_any(x)`) cannot be cloned, so they panic with
//!   the `String` `"Box<dyn Any>"` instead of Go's same value.
//! * Go's `runtime.Goexit` and `panic(nil)` have no Rust counterpart (a Rust thread
//!   cannot end its function except by returning or unwinding; a payload is never nil).
//! * Recursion: calling a `Once` from inside its own function deadlocks in Go; here it
//!   panics with a clear message (see [`Once`]).
//! * [`OnceValue::get`] returns `&T` instead of a copy; [`once_values`] takes a function
//!   returning `Result<T, E>` (Go's `(T, error)` idiom) and returns `Result<&T, &E>`.
//! * Extra: [`Once::is_done`], [`OnceValue::try_get`], [`OnceFunc::is_done`].
//! * Async twins (Go has no futures): [`Once::wait_async`] ([`OnceWait`]),
//!   [`OnceValue::get_async`], [`OnceFunc::wait_async`] and [`OnceValues::get_async`] wait for a run another caller started, from a task on any
//!   executor; `Send`, cancel-safe.
//!
//! # Panic safety
//!
//! Where user code runs, and what a panic there leaves:
//!
//! * **The function of [`Once::call_once`]** runs on the calling thread with no lock
//!   held, after the `Once` is marked running. If it panics, a drop guard marks the
//!   `Once` done and wakes the waiters while the panic unwinds; the payload reaches that
//!   caller untouched. The waiters return normally; later calls return at once.
//! * **Drop of that function's captures**: when it runs, at the end of the call (a panic
//!   there is the function panicking, as above). When it does not run (the `Once` is
//!   done, or became done while the caller waited), on the caller's thread once
//!   `call_once` has decided, with no lock held: the panic reaches that caller only. A
//!   recursive call panics, and its captures are dropped during that unwinding: a panic
//!   in their `Drop` then aborts the process, as any panic in `Drop` during unwinding.
//! * **The function of [`once_func`], [`once_value`], [`once_values`]** (and the `Drop`
//!   of its captures, which the call consumes) runs on the first caller's thread inside
//!   `catch_unwind`, with no lock held. The outcome is stored before the cell is marked
//!   done: on a panic the first caller gets the original payload, and every waiter and
//!   later caller panics again (see [`OnceValue`]).
//! * **The wakers of [`OnceWait`] futures** (the executor's code): a waker is cloned
//!   before the task registers (a panicking `clone` leaves nothing registered), and the
//!   drop guard that marks the `Once` done wakes the tasks after that, with no lock
//!   held, each inside `catch_unwind`. A panicking `wake` reaches the caller whose
//!   function completed, once every other waiter was woken (and is dropped if that
//!   caller is already unwinding from its function's panic).
//! * **The panic payload** is only read (`downcast_ref`, and a copy of a `String`
//!   payload), never kept: the caller that ran the function receives it and drops it.
//! * **Drop of a function that never ran, and of the stored value** (`T`; `T` or `E` for
//!   [`once_values`]): with the cell, on the thread that drops it, when no other thread
//!   can reach it. The panic propagates out of that drop; the cell's other parts are
//!   still dropped.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

mod once;
mod once_value;

pub use once::{Once, OnceWait};
pub use once_value::{once_func, once_value, once_values, OnceFunc, OnceValue, OnceValues};

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
