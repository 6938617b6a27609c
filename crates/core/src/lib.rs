//! The shared foundation of the gosync crates.
//!
//! This crate holds what every other gosync crate builds on:
//!
//! * [`clock`]: the time source. [`Clock`] is either the real monotonic clock or a
//!   [`FakeClock`] that a test advances by hand. Every gosync primitive that sleeps or
//!   waits with a deadline (context deadlines, the delaying work queue, rate limiters)
//!   takes a `Clock`, so its tests are deterministic and take no real time. It is the
//!   Rust counterpart of client-go's `k8s.io/utils/clock` `FakeClock`.
//! * [`timer`]: the per-clock timer service. A [`TimerEntry`](timer::TimerEntry)
//!   registers a deadline and a callback; one thread per clock (one process-wide thread
//!   for the real clock, one per fake clock, sleeping on it) runs the callbacks of every
//!   entry of that clock, so a thousand delaying work queues share one thread.
//!   [`Sleep`](timer::Sleep) ([`Clock::sleep_until_async`], [`Clock::sleep_async`]) is
//!   the async twin of [`Clock::sleep_until`] built on it: a future the timer thread
//!   wakes, under any executor, that a `FakeClock` drives in tests.
//! * `sync` (hidden, not public API): the switch between the real synchronization
//!   primitives (std atomics, `parking_lot` locks, std threads) and [loom]'s
//!   model-checked ones, selected by `RUSTFLAGS="--cfg loom"`. See "API stability".
//! * [`waiters`]: the [`WakerList`](waiters::WakerList) a primitive keeps under its own
//!   lock so that async tasks wait next to its blocking threads and one release wakes
//!   both (the waiting mechanism behind every `*_async` wait of the gosync crates).
//! * [`spin`]: busy-waits bounded in time rather than in iterations (a `spin_loop()`
//!   hint costs 10 ns on one CPU and over 100 ns on another), calibrated once per
//!   process against the cheap clock.
//!
//! # API stability
//!
//! The documented items are the crate's public API and follow semver. Two things are
//! `pub` only so that the sibling gosync crates can share them, are hidden from these
//! docs, and are exempt from semver: the `sync` module (the std/loom switch, which
//! re-exports `parking_lot`'s `Mutex`, `Condvar` and guards) and the condition-variable
//! waits `Clock::wait_until` / `Clock::wait_timeout` that take its types. No documented
//! item names a `parking_lot` type, so moving to a new `parking_lot` major version is not
//! a breaking change of this crate; `ci/docsrs.sh` checks that the rendered docs link to
//! no `parking_lot` item. A user who needs a deadline wait on a [`Clock`] has
//! `gosync-cond`'s `Cond::wait_deadline` (whose `Cond` is documented as working with a
//! `parking_lot` guard: `parking_lot` is a public dependency of *that* crate).
//!
//! # Examples
//!
//! A deadline test that takes no real time:
//!
//! ```
//! use gosync_core::clock::{Clock, FakeClock};
//! use std::time::Duration;
//!
//! let fake = FakeClock::new();
//! let clock: Clock = fake.clock();
//! let start = clock.now();
//!
//! let sleeper = {
//!     let clock = clock.clone();
//!     std::thread::spawn(move || clock.sleep(Duration::from_secs(3600)))
//! };
//! // Wait until the thread is asleep on the fake clock, then make an hour pass at once.
//! assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
//! fake.advance(Duration::from_secs(3600));
//! sleeper.join().unwrap();
//! assert_eq!(clock.now() - start, Duration::from_secs(3600));
//! ```
//!
//! # Differences from Go
//!
//! * The fake clock is monotonic: [`FakeClock::set`] panics if asked to go backwards,
//!   because every gosync deadline is computed from a monotonic `Instant`. client-go's
//!   `FakeClock.SetTime` accepts any wall-clock time.
//! * There is no `Clock` interface to implement: [`Clock`] is a small value type (one
//!   pointer) that is either real or fake, so reading the real time costs no virtual call.
//! * [`FakeClock::advance`] returns only after every wait it made due has woken up, so a
//!   test that advances the clock never races the threads it released into the old time.
//!
//!
//! # Panic safety
//!
//! * **Timer callbacks** ([`TimerEntry`](timer::TimerEntry)): user code, run on the
//!   clock's timer thread, outside the service's lock, inside `catch_unwind`. A panic is
//!   reported by the panic hook, its payload dropped (leaked if that drop panics too),
//!   and the thread goes on with the next deadline: other entries of the clock still
//!   fire. The panicking entry is idle (its deadline fired) until scheduled again; a
//!   `cancel` waiting for that call returns.
//! * **Wakers of a [`Sleep`](timer::Sleep)**: the task's waker is cloned in `poll` (on
//!   the polling task, under the sleep's own small lock, before anything is changed: a
//!   panic leaves the slot as it was) and woken by the sleep's timer callback on the
//!   timer thread, with no lock held, after the sleep was marked fired: a panicking
//!   `wake` is caught as any callback's panic, and the sleep still completes on its next
//!   poll.
//!
//! Otherwise the crate calls no user closure, hook or trait method. Where a panic can
//! still start:
//!
//! * **The caller's condition variable in the hidden `Clock::wait_until`** (used by
//!   the sibling crates): `cv.wait` panics if `cv` is waited on with two different
//!   mutexes at once (parking_lot's check). On a fake clock the waiter registered its
//!   deadline before parking; a drop guard removes the entry while the panic unwinds, so
//!   [`FakeClock::advance`] never notifies a stale condition variable (it would
//!   otherwise keep notifying it forever). The panic reaches the caller with its guard
//!   still locked; the clock's own lock is not held.
//! * **[`FakeClock::advance`] past `Instant`'s range, [`FakeClock::set`] backwards**:
//!   panic before the time changes; the clock's lock is released by the unwinding, and
//!   its sleepers and waiters are untouched.
//! * [`Clock::sleep`] and [`Clock::sleep_until`] wait on a mutex and condition variable
//!   of their own; [`FakeClock::advance`] only notifies the registered condition
//!   variables, which runs no user code.
//!
//! [loom]: https://docs.rs/loom
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

pub mod clock;
mod nanos;
pub mod spin;
#[doc(hidden)]
pub mod sync;
pub mod timer;
pub mod waiters;

pub use clock::{Clock, FakeClock};

/// Declares a function that is `const fn` in normal builds and a plain `fn` under
/// `--cfg loom`, whose primitives cannot be built in a `const` context.
///
/// ```
/// gosync_core::const_fn_unless_loom! {
///     /// Doubles `x`.
///     pub fn double(x: u32) -> u32 { x * 2 }
/// }
/// # assert_eq!(double(2), 4);
/// ```
#[macro_export]
macro_rules! const_fn_unless_loom {
    ($(#[$meta:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])*
        $vis const fn $name $($rest)*

        #[cfg(loom)]
        $(#[$meta])*
        $vis fn $name $($rest)*
    };
}

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
