//! Go's `sync.Cond` for Rust: wait for a condition guarded by a mutex, with Go's
//! semantics and the waits Go cannot do.
//!
//! [`Cond`] works with a [`parking_lot::Mutex`](https://docs.rs/parking_lot) guard:
//! [`wait`](Cond::wait) releases the mutex while the thread sleeps and takes it back
//! before returning, [`signal`](Cond::signal) wakes one waiter and
//! [`broadcast`](Cond::broadcast) wakes them all. As in Go there are no spurious
//! wake-ups, waiters are woken in FIFO order (Go's notify list: a signal wakes the
//! oldest waiter that was queued before it), and a signal with no waiter is not
//! remembered. Beyond Go: [`wait_timeout`](Cond::wait_timeout) and
//! [`wait_deadline`](Cond::wait_deadline) on the gosync [`Clock`](gosync_core::Clock)
//! (so a `FakeClock` drives them in tests), and `Cond::wait_context` (feature `context`).
//!
//! Each waiter parks on its own (no shared condition variable, no thundering herd on
//! `signal`). A waiter spins briefly for its wake-up first (a budget measured in time,
//! not iterations: half a microsecond busy, then yielding the CPU), and a woken waiter
//! waits to see the mutex unlocked before it locks it (the signaller usually still
//! holds it), so a signal under the mutex rarely costs either side a system call.
//!
//! # Examples
//!
//! The classic bounded buffer: one mutex, two conditions.
//!
//! ```
//! use gosync_cond::Cond;
//! use parking_lot::Mutex;
//! use std::collections::VecDeque;
//!
//! const CAP: usize = 3;
//! let buf: Mutex<VecDeque<u64>> = Mutex::new(VecDeque::new());
//! let (not_full, not_empty) = (Cond::new(), Cond::new());
//!
//! let sum: u64 = std::thread::scope(|s| {
//!     for p in 0..2u64 {
//!         let (buf, not_full, not_empty) = (&buf, &not_full, &not_empty);
//!         s.spawn(move || {
//!             for i in 1..=100 {
//!                 let mut g = buf.lock();
//!                 while g.len() == CAP {
//!                     not_full.wait(&mut g);
//!                 }
//!                 g.push_back(p * 1000 + i);
//!                 not_empty.signal();
//!             }
//!         });
//!     }
//!     let mut sum = 0;
//!     for _ in 0..200 {
//!         let mut g = buf.lock();
//!         while g.is_empty() {
//!             not_empty.wait(&mut g);
//!         }
//!         sum += g.pop_front().unwrap();
//!         not_full.signal();
//!     }
//!     sum
//! });
//! assert_eq!(sum, 2 * 5050 + 100 * 1000);
//! ```
//!
//! # Differences from Go
//!
//! * **No `L` field.** A Go `Cond` is built around one `Locker`; here each wait is given
//!   the guard of the mutex, as with a `Condvar`. All threads waiting at the same time
//!   must use the same mutex: a wait with another one panics (Go cannot mix them at
//!   all). The mutex is a `parking_lot::Mutex` (`gosync_core::sync::Mutex`), not a
//!   generic `Locker`.
//! * **Waits that give up.** [`Cond::wait_timeout`], [`Cond::wait_deadline`] and
//!   `Cond::wait_context` have no Go counterpart. A waiter that gives up leaves the queue
//!   as if it had never waited, so it never swallows a signal meant for another waiter;
//!   if a signal chose it while it was giving up, the signal wins (the call reports it),
//!   so that signal is not lost either.
//! * **Re-locking is not fair**, as in Go. A woken waiter takes the mutex back with a
//!   plain `lock()`; a thread that arrives meanwhile may get the mutex first (parking_lot
//!   hands the lock over fairly only now and then, about every 0.5 ms; Go's mutex
//!   switches to hand-over after a waiter has starved for 1 ms). So FIFO is the order of
//!   the wake-ups, not a promise about who runs next under the mutex: re-check the
//!   condition in a loop. `broadcast` wakes every waiter and they then contend for the
//!   mutex (std's and parking_lot's `Condvar` move them to the mutex's queue instead).
//! * **No copy check.** Go panics at run time with `sync.Cond is copied` (its
//!   `TestCondCopy`); a Rust `Cond` cannot be moved while a wait borrows it, so there is
//!   nothing to check at run time. The compiler refuses it:
//!
//!   ```compile_fail,E0505
//!   use gosync_cond::Cond;
//!   use parking_lot::Mutex;
//!
//!   let (m, cond) = (Mutex::new(()), Cond::new());
//!   let waiting = &cond;
//!   std::thread::scope(|s| {
//!       s.spawn(|| waiting.wait(&mut m.lock()));
//!       let copy = cond; // error[E0505]: cannot move out of `cond` because it is borrowed
//!       copy.signal();
//!   });
//!   ```
//! * **Spinning.** A waiter spins (briefly busy, then yielding) for up to 100 µs before
//!   it parks (a timed wait on the real clock no longer than its time-out), and a woken
//!   waiter waits (about 2 µs at most, reading without writing) for the mutex to be
//!   unlocked before it locks it. This changes no outcome, only how fast a
//!   signal is seen.
//!
//! # Async: deliberately no `wait_async`
//!
//! Every other blocking wait in gosync has a future twin (`WaitGroup::wait_async`,
//! `Semaphore::acquire_async`, `Context::done`, ...); a `Cond` does not, on purpose. A
//! wait is bound to the guard of a blocking `parking_lot::Mutex`: the mutex is unlocked
//! while the waiter sleeps and locked again before the wait returns. As a future that
//! cannot work: the guard (`&mut MutexGuard`) would live across the `.await`, and a
//! `parking_lot` guard is not `Send` (so the future could not be spawned on a
//! multi-threaded runtime); re-taking the mutex when the task wakes would block an
//! executor thread for as long as another holder keeps the lock (or deadlock it, if
//! that holder is a task suspended on the same thread). Go's `Cond` has the same
//! limit and the same advice: use channels.
//!
//! What to use from async code instead:
//!
//! * the primitive that names the condition: a count reaching zero is
//!   `gosync_waitgroup::WaitGroup::wait_async`, a value published once is
//!   `gosync_once::OnceValue::get_async`, a bounded resource is
//!   `gosync_errgroup::Semaphore::acquire_async`, items to process are the work queue's
//!   `get_async`, cancellation is `gosync_context::Context::done`;
//! * for any other predicate over mutex-protected state, an event next to the mutex
//!   (`tokio::sync::Notify`, which runs on any executor, or the `event-listener`
//!   crate): create the listener, lock and check the predicate, **unlock**, then await
//!   the listener, and loop. The listener exists before the check, so a notification
//!   between the unlock and the `.await` is not lost; the guard never crosses an
//!   `.await`;
//! * a thread that must wait on a `Cond` from async code runs the wait on a blocking
//!   thread (`tokio::task::spawn_blocking`, `blocking::unblock`).
//!
//! # Panic safety
//!
//! A `Cond` runs no user code: it never touches the data the mutex protects, and it
//! calls no closure or trait method of a user type. What can still panic, and what it
//! leaves:
//!
//! * **A wait with a second mutex** panics before the waiter is queued: the queue is
//!   unchanged and the caller's guard is still locked while the panic unwinds.
//! * **A thread that panics while holding the guard**, anywhere outside a wait: the
//!   guard unlocks as it unwinds (parking_lot has no poisoning). That thread is not
//!   queued, so the waiter list is untouched, and the other waiters are woken by later
//!   signals as usual.
//! * **A wait that unwinds** (nothing inside the wait panics today; a guard covers it
//!   anyway): a queued waiter's node lives on its stack, so a drop guard withdraws it
//!   from the queue, under the queue's lock, before the frame goes. The queue never
//!   holds a node of a waiter that has left.
//! * **`wait_context`'s cancel hook** only sets a flag and unparks a thread; it cannot
//!   panic, and it owns what it touches, so it is harmless if it runs after the wait
//!   returned.
//!
//! # Feature `context`
//!
//! Off by default. With it, `Cond::wait_context(&ctx, &mut guard)` returns `Ok(())` when
//! signalled or `Err(ctx.err())` when a
//! [`gosync_context`](https://docs.rs/gosync-context) `Context` is done first, without
//! the lost wake-up of a hand-built cancel hook.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

mod cond;
#[cfg(feature = "context")]
mod context;
mod relock;

pub use cond::Cond;
