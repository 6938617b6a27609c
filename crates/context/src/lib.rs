//! Go's `context` package for Rust threads and tasks: a tree of contexts where
//! cancelling a parent cancels every descendant, with deadlines, causes, typed
//! request-scoped values, callbacks, and every way to wait: blocking, async, and in a
//! channel `select!`.
//!
//! # Examples
//!
//! A request with a deadline, a worker that stops when the request is cancelled, and
//! the reason it stopped:
//!
//! ```
//! use gosync_context::{background, with_cancel_cause, with_timeout, with_value, Error, Key};
//! use std::time::Duration;
//!
//! static REQUEST_ID: Key<u64> = Key::new("request-id");
//!
//! let ctx = with_value(&background(), &REQUEST_ID, 7);
//! let (ctx, _cancel) = with_timeout(&ctx, Duration::from_secs(30));
//! let (ctx, cancel) = with_cancel_cause(&ctx);
//!
//! let (started, has_started) = std::sync::mpsc::channel();
//! let worker = {
//!     let ctx = ctx.clone();
//!     std::thread::spawn(move || {
//!         let id = *ctx.value(&REQUEST_ID).unwrap();
//!         let mut steps = 0;
//!         while !ctx.is_done() {
//!             steps += 1; // one unit of work
//!             let _ = started.send(());
//!             ctx.wait_timeout(Duration::from_millis(1));
//!         }
//!         (id, steps > 0, ctx.err(), ctx.cause().unwrap().to_string())
//!     })
//! };
//! has_started.recv().unwrap(); // the worker is under way
//! cancel.cancel(std::io::Error::other("client went away"));
//! let (id, worked, err, cause) = worker.join().unwrap();
//! assert_eq!((id, worked, err), (7, true, Some(Error::Canceled)));
//! assert_eq!(cause, "client went away");
//! ```
//!
//! # What is in the box
//!
//! * Roots: [`background`], [`todo()`], and [`background_with_clock`] (a root whose tree
//!   measures time by an injected [`Clock`](gosync_core::Clock), e.g. a `FakeClock`).
//! * Children: [`with_cancel`], [`with_cancel_cause`], [`with_deadline`],
//!   [`with_deadline_cause`], [`with_timeout`], [`with_timeout_cause`], [`with_value`]
//!   (typed [`Key`]s), [`without_cancel`].
//! * Observing: [`Context::is_done`] (one atomic load), [`Context::err`] ([`Error`]),
//!   [`cause`] / [`Context::cause`], [`Context::deadline`], [`Context::value`].
//! * Waiting: [`Context::wait`], [`Context::wait_timeout`], [`Context::done`] (a
//!   runtime-agnostic future) and [`Context::done_owned`] (the same, `'static`, for a
//!   spawned task), [`Context::run_until_done`] (a future cut short by the context),
//!   `Context::done_chan` (feature `crossbeam`: a
//!   `crossbeam_channel::Receiver<()>` that disconnects on cancel, for `select!`),
//!   [`Context::on_cancel`] (a hook for other blocking primitives), and [`after_func`].
//!
//! # Go's rules, kept
//!
//! * Cancelling a context cancels all its descendants, at any depth, and nothing else.
//! * The first cancel wins; later cancels and causes are ignored.
//! * A child created under a cancelled parent is born cancelled, with its error and cause.
//! * A child's deadline never extends its parent's; a deadline already past cancels at
//!   once with [`Error::DeadlineExceeded`].
//!
//! # Cost
//!
//! Cloning a [`Context`] is one reference-count increment and [`Context::is_done`] is
//! one atomic load. Creating and cancelling a child locks only its parent's node and
//! its own (no global lock). All deadlines of a clock are served by one timer thread
//! (one for the real clock, one per [`background_with_clock`] root), never a thread
//! per context.
//!
//! # Differences from Go
//!
//! * Lifetime: a child is released from its parent when it is cancelled **or** when all
//!   its handles are dropped, so forgetting to call cancel leaks nothing (Go needs
//!   `go vet`'s lostcancel check). Dropping a [`CancelFunc`] does not cancel; for
//!   Go's `defer cancel()`, [`CancelFunc::drop_guard`] returns a [`DropGuard`] that does
//!   (also on a panic) unless disarmed.
//! * `Done()` is not a channel: wait with [`Context::wait`],
//!   [`Context::wait_timeout`], `.done().await` (or `.done_owned().await` in a spawned
//!   task), or `done_chan()` in a `crossbeam_channel::select!`. Go's
//!   `select { case <-ctx.Done(): case r := <-work: }` around async work is
//!   [`Context::run_until_done`], which drops the work when the context wins.
//! * Values use typed [`Key`]s (a `static` per key) and return `Option<&T>`: no string
//!   keys, no `any` assertions.
//! * Causes are `Arc<dyn Error + Send + Sync>` ([`Cause`]); `err()` is an
//!   `Option<Error>` enum rather than a comparable `error`.
//! * [`after_func`]'s `f` runs on a new thread (Go: a new goroutine); the cheaper
//!   [`Context::on_cancel`] runs its callback on the cancelling thread after all locks
//!   are released.
//! * There is no `Context` trait to implement: the tree is closed, which is what makes
//!   `is_done` one load and cancellation lock-local.
//! * Cancellation and drop walk the tree in loops, not recursively (Go's cancel
//!   recurses): a chain of any depth is cancelled and dropped on a small stack.
//! * One context can have at most 4,294,967,294 live cancellable children (a documented
//!   panic beyond); Go has no bound.
//! * Time comes from the tree's clock ([`background_with_clock`]), so deadlines are
//!   testable without sleeping.
//! * [`with_timeout`] with a timeout too large to represent as an `Instant` (such as
//!   `Duration::MAX`) makes a context with **no** deadline: `deadline()` is `None`. Go
//!   saturates the `time.Time` and reports now + ~292 years.
//!
//! # Panic safety
//!
//! Where user code runs, and what a panic there leaves:
//!
//! * **[`Context::on_cancel`] callbacks and the wakers of [`Done`], [`OwnedDone`] and
//!   [`RunUntilDone`] futures** run after
//!   a cancel has updated the whole subtree and released every lock, each inside
//!   `catch_unwind`, so one panic never keeps the others from running. The first panic
//!   is resumed on the thread that called cancel (a [`CancelFunc`], a
//!   [`CancelCauseFunc`], or `on_cancel` on a done context). On the timer thread (a
//!   deadline) it is reported by the panic hook and swallowed: the thread keeps serving
//!   every deadline of its clock. If the timer thread cannot be spawned, the next
//!   deadline tries again.
//! * **[`after_func`] callbacks** run on a thread of their own: a panic ends that thread
//!   only.
//! * **Values** ([`with_value`]) and **causes** are dropped when the last handle of
//!   their node goes; a panicking `Drop` there unwinds the thread that dropped the
//!   handle after the node has left the tree (no registry refers to it any more).
//! * Deadlines are served by the tree's [`Clock`](gosync_core::clock::Clock), which
//!   runs no user code.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// # Layout (internal)
//
// The modules form layers; each uses only modules of lower layers (and std,
// gosync_core), never one of its own layer or above, so each can be read knowing only
// what is below it. tokio-util's `CancellationToken` is the model: the tree
// (`tree_node.rs` there, `tree.rs` here) knows nothing of the public handle, and the
// handle is a thin layer on top. `tests/layers.rs` parses the numbered lines below and
// fails if a module names (`crate::m`, or a re-export of m's) a module not below it.
//
//   5  cancel, done, hook: the public adapters. `cancel`: `with_cancel`,
//      `with_deadline`, `with_timeout` (and `_cause` forms), `CancelFunc`,
//      `CancelCauseFunc`, `DropGuard`. `done`: `Context::done`/`done_owned`/
//      `run_until_done` and their futures. `hook`: `Context::on_cancel` and `OnCancel`,
//      `after_func` and `AfterFuncStop`. Each adds an `impl Context` block next to its
//      types.
//        |
//   4  context: the public handle `Context` (an `Arc<Node>`), the roots, `with_value`,
//      `without_cancel`, the observers (`is_done`, `err`, `cause`, `deadline`,
//      `value`) and the blocking waits; `new_cancel`/`new_deadline` for layer 5.
//        |
//   3  node: `Node` (what a handle points to: its parent, its kind, links to the tree's
//      timer and nearest deadline) and its release on drop (parent registry, timer
//      entry), iterative over a chain.
//        |
//   2  timer: one thread per clock; fires each due deadline into its core
//      (`Core::cancel` + `detach`), the core's `OwnDeadline` being its entry.
//        |
//   1  tree: `Core` (state, registered children, waiters, cause), the cancel walk,
//      `Deferred` wake-ups; the crate's invariants and lock order are stated here.
//        |
//   0  error, key, slab: leaves (`Error`/`Cause`, `Key`, the waiter slab).

mod cancel;
mod context;
mod done;
mod error;
mod hook;
mod key;
mod node;
mod slab;
mod timer;
mod tree;

pub use cancel::{
    with_cancel, with_cancel_cause, with_deadline, with_deadline_cause, with_timeout,
    with_timeout_cause, CancelCauseFunc, CancelFunc, DropGuard,
};
pub use context::{
    background, background_with_clock, cause, todo, with_value, without_cancel, Context,
};
pub use done::{Done, OwnedDone, RunUntilDone};
pub use error::{Cause, Error};
pub use hook::{after_func, AfterFuncStop, OnCancel};
pub use key::Key;

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
