//! Go's `io.Pipe` for Rust: a synchronous, unbuffered in-memory pipe.
//!
//! [`pipe()`] connects code that expects a [`std::io::Write`] with code that expects a
//! [`std::io::Read`]. There is no buffer in between: a write lends its slice to the
//! readers and returns only once they have copied all of it, each byte copied exactly
//! once, straight from the writer's buffer into the reader's. Closing works as in Go:
//! the reader sees end of file or the writer's error, the writer sees the reader's error
//! or a broken pipe.
//!
//! # Examples
//!
//! Stream a producer's output into a consumer without buffering it:
//!
//! ```
//! use gosync_pipe::pipe;
//! use std::io::{Read, Write};
//!
//! let (mut r, mut w) = pipe();
//! let producer = std::thread::spawn(move || {
//!     for line in ["alpha\n", "beta\n", "gamma\n"] {
//!         w.write_all(line.as_bytes())?; // returns once the consumer has the line
//!     }
//!     Ok::<_, std::io::Error>(())
//! }); // dropping `w` closes the pipe: the consumer sees end of file
//!
//! let mut text = String::new();
//! r.read_to_string(&mut text).unwrap();
//! assert_eq!(text, "alpha\nbeta\ngamma\n");
//! producer.join().unwrap().unwrap();
//! ```
//!
//! # Closing a pipe
//!
//! Each end has `close()` and `close_with_error(err)`, and dropping an end closes it.
//! Only the first close of each end counts. After the **writer** closed, reads return
//! `Ok(0)` (end of file), or the writer's error; writes on the closed writer fail with
//! [`ClosedPipe`]. After the **reader** closed, writes fail with the reader's error, or
//! with [`ClosedPipe`] (kind [`BrokenPipe`](std::io::ErrorKind::BrokenPipe)) after a
//! plain close; reads on the closed reader fail with [`ClosedPipe`]. The user's error is
//! shared by every call that reports it; get it back with [`CloseError::from_io`].
//!
//! A write in progress when either end closes is abandoned, as in Go: the part readers
//! had already copied is delivered, the rest is not, and the write returns the count
//! delivered (or the close error if it was zero).
//!
//! # Differences from Go
//!
//! * A write interrupted by a close after delivering `n > 0` bytes returns `Ok(n)` and
//!   the *next* call returns the error (std's `Write` contract: an error means nothing
//!   was written). Go returns `n` and the error together; so does
//!   [`PipeWriter::write_counted`].
//! * A zero-length write still waits for a reader, as in Go, but the read it meets does
//!   not return `Ok(0)` (end of file in Rust): it acknowledges the empty write and keeps
//!   waiting for data. A read into an empty buffer returns `Ok(0)` (or the close error)
//!   at once instead of waiting for a write.
//! * Errors are [`std::io::Error`]s: Go's `ErrClosedPipe` is [`ClosedPipe`] inside a
//!   `BrokenPipe` error; Go's `EOF` is `Ok(0)`; a user error is a [`CloseError`] whose
//!   kind is the user's own if it is an `io::Error` (except `Interrupted`, which std's
//!   retry loops would retry forever: see [`CloseError`]). Go's `CloseWithError(nil)`
//!   is `close()`: a Rust error cannot be nil.
//! * Extra: [`PipeReader::read_timeout`] / [`PipeWriter::write_timeout`] (and
//!   `_deadline`) on an injectable `Clock`
//!   ([`pipe_with_clock`]); `write_vectored` as one write of all its slices; `Read` and
//!   `Write` also on `&PipeReader` / `&PipeWriter`; calls a context can cancel (feature
//!   `context`, below).
//!
//! # Feature `context`
//!
//! Off by default. With it, a [`gosync_context`](https://docs.rs/gosync-context)
//! `Context` can cancel a read or write: `PipeReader::read_context`,
//! `PipeWriter::write_context` and `write_counted_context`, and the `with_context`
//! adapters (`ContextReader` / `ContextWriter`, for `read_exact`, `write_all`,
//! `io::copy`). A call parked in the pipe is woken by the cancellation and fails with
//! the context's error inside an `io::Error`: kind `TimedOut` for `DeadlineExceeded`,
//! `Other` for `Canceled` (never `Interrupted`, which std's helpers retry). A write
//! cancelled after readers took part of it returns the count delivered, as on a
//! timeout. The context is checked where the call would wait, as a timeout is: data
//! that is ready is still transferred.
//!
//! # Feature `diagnostics`
//!
//! Off by default; for benchmarks. Adds a hidden `park_counts()` to both ends: how many
//! times readers and writers have parked (slept in the kernel instead of spinning). It
//! costs one relaxed add per park and nothing on the spinning paths; no stability
//! promise.
//!
//! # Panic safety
//!
//! Where user code runs, and what a panic there leaves. The pipe has one lock (its
//! state) and runs no user code under it.
//!
//! * **The conversion of `close_with_error`'s argument** (`Into<Box<dyn Error + Send +
//!   Sync>>`) runs in that call before the pipe is touched: the end stays open.
//! * **`Drop` of the user error**, where its last handle goes:
//!   * a later `close_with_error` on an end already closed (the first cause wins): in
//!     that call, after the close is complete and the lock released; the panic
//!     propagates out of it, and the first cause stays;
//!   * the stored error: in the drop of whatever held it last: an [`io::Error`] or
//!     [`CloseError`] handed out, or the pipe's last end (after that end's own close),
//!     or, with the feature `context`, the wake-up hook a call left on a context (see
//!     below). The pipe itself is gone by then.
//! * **`Display`, `Debug` and `source` of the user error** never run in the pipe (the
//!   ends' `Debug` shows two flags); only in the caller's code, through the
//!   [`io::Error`] or [`CloseError`] it received.
//! * **Feature `context`**: a call about to park registers a wake-up hook
//!   (`Context::on_cancel`) that locks the pipe and notifies its condition variables; it
//!   runs on the thread that cancels the context, or on the context's timer thread for a
//!   deadline, and runs no user code, but the hook owns a handle of the pipe: if the
//!   ends are dropped while a cancel is running it, its drop drops the pipe and the
//!   stored user error there. The context runs hooks inside `catch_unwind`: the panic is
//!   resumed on the cancelling thread once the cancel is complete, or swallowed on the
//!   timer thread, which keeps running. `Context::err`, checked under the pipe's lock,
//!   is an atomic load.
//! * The `Read`/`Write` adapters (`ContextReader`, `ContextWriter`) and
//!   `Read`/`Write` on the ends take no user reader or writer: only byte slices.
//!
//! [`io::Error`]: std::io::Error
//!
//! # Performance
//!
//! One `memcpy` per byte, no allocation per write, and no syscalls while both sides are
//! busy: before parking, a waiting side spins for up to 10 µs of real time, or 50 µs
//! when it has just woken its partner or been told the partner is waking (a wake-up of a
//! parked thread costs 35-55 µs on a VM whose idle vCPU has halted; a side that stops
//! waiting sooner lets the two sides settle into parking on every write). A spin also
//! ends as soon as it finds its CPU taken by another thread (a loaded machine). The
//! budgets are in time, not in `spin_loop()` hints, whose cost differs tenfold between
//! CPUs. The copy avoids the 4K-aliasing slowdown of forward
//! `memcpy` when the reader's buffer sits just past the writer's modulo 4 KiB.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod async_io;
#[cfg(feature = "context")]
mod context;
mod copy;
mod error;
mod reader;
mod shared;
mod writer;

#[cfg(feature = "context")]
pub use context::{ContextReader, ContextWriter};
pub use error::{CloseError, ClosedPipe};
pub use reader::PipeReader;
pub use writer::PipeWriter;

use gosync_core::clock::Clock;
use gosync_core::sync::Arc;

/// Creates a synchronous in-memory pipe (Go's `io.Pipe`).
///
/// # Examples
///
/// ```
/// use gosync_pipe::pipe;
/// use std::io::{Read, Write};
///
/// let (r, w) = pipe();
/// std::thread::scope(|s| {
///     s.spawn(|| (&w).write_all(b"ping"));
///     let mut buf = [0; 4];
///     (&r).read_exact(&mut buf).unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
pub fn pipe() -> (PipeReader, PipeWriter) {
    pipe_with_clock(Clock::real())
}

/// Creates a pipe whose timed calls ([`PipeReader::read_timeout`],
/// [`PipeWriter::write_timeout`], ...) read `clock`, so tests can use a
/// [`FakeClock`](gosync_core::clock::FakeClock).
///
/// # Examples
///
/// ```
/// use gosync_core::clock::FakeClock;
/// use gosync_pipe::pipe_with_clock;
/// use std::io::ErrorKind;
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let (r, _w) = pipe_with_clock(fake.clock());
/// std::thread::scope(|s| {
///     let t = s.spawn(|| r.read_timeout(&mut [0; 8], Duration::from_secs(60)));
///     assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
///     fake.advance(Duration::from_secs(60)); // no real minute passes
///     assert_eq!(t.join().unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
/// });
/// ```
pub fn pipe_with_clock(clock: Clock) -> (PipeReader, PipeWriter) {
    let shared = Arc::new(shared::Shared::new(clock));
    (
        PipeReader {
            shared: Arc::clone(&shared),
        },
        PipeWriter { shared },
    )
}

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
