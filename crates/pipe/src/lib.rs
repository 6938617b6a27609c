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
//! * Async ends (features `futures-io`, `tokio`): Go has no futures, and a task's buffer
//!   cannot be lent across polls, so an async write returns once a *read has asked* for
//!   its bytes and they are in the pipe for that read, not once the reader has copied
//!   them; `flush` waits for that. See [Async reads and
//!   writes](#async-reads-and-writes-features-futures-io-and-tokio).
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
//! # Async reads and writes (features `futures-io` and `tokio`)
//!
//! Off by default. `futures-io` implements [`futures_io::AsyncRead`][far] for
//! [`PipeReader`] and [`futures_io::AsyncWrite`][faw] for [`PipeWriter`]; `tokio`
//! implements tokio's [`AsyncRead`][tar] and [`AsyncWrite`][taw] (tokio with no default
//! features: the traits only). The
//! crate spawns nothing and needs no runtime: a call that must wait stores its task's
//! waker in the pipe, and the other end wakes it. A thread and a task can be on the two
//! ends at once (a blocking writer feeding an async reader, or the reverse), and an end
//! can move between threads and tasks from one call to the next. The traits are
//! implemented on the owned ends, which they borrow `&mut`: one task per end, and no
//! blocking call on the same end can overlap an async one.
//!
//! Go's rendezvous copies from the writer's slice straight into the reader's buffer
//! while both calls are blocked. A task's buffer lives only for one poll, so an async
//! write cannot lend it across polls. What the async ends guarantee instead:
//!
//! * **A write moves bytes only when a read has asked for them.** A read that finds
//!   nothing to read leaves a *request* for up to its buffer's length (at most 256 KiB)
//!   and waits (`Pending`, or parks if it is a blocking read). `poll_write` returns
//!   `Ready(Ok(n))` once it has moved `n` bytes (at most the request) into the pipe for
//!   that read, and `Pending`, having moved nothing, while no request stands. One write
//!   fills one request, so a read never returns bytes of two writes (as in Go), and the
//!   pipe never holds more than one read's worth.
//! * **`poll_flush` returns once readers have copied every byte written**: the point at
//!   which Go's `Write` returns. `write_all(..).await` then `flush().await` is Go's
//!   blocking `Write`. If the reader closed first, the flush fails with its close error.
//! * **`Pending` means nothing moved**, on both ends: none of a pending write's buffer
//!   entered the pipe, and a pending read took nothing. So a write or read future
//!   dropped after `Pending` (losing a `select!`, say) has written or read nothing, and
//!   the bytes a write did report are delivered exactly once.
//! * **A read's request outlives the read.** If the read is abandoned after `Pending`,
//!   or (a blocking read) times out or is served by a blocking writer instead, its
//!   request stays, and the next async write may fill it without another read waiting;
//!   the next read returns those bytes. Still at most one request's worth is ever in
//!   the pipe.
//! * **Close rules unchanged.** After the reader closed, pending and later writes fail
//!   with [`ClosedPipe`] or the reader's error, and bytes written but not yet read are
//!   dropped. After the writer closed (`close`, `close_with_error`, a drop, or
//!   `poll_close` / `poll_shutdown`), reads return every byte of the writes that
//!   returned, then end of file or the writer's error. A close wakes the pending tasks.
//! * An empty `poll_write` returns `Ok(0)` at once (after the close checks), where a
//!   blocking empty write waits for a reader. Vectored writes are one write.
//! * **Wakers.** Each end holds at most one waker, that of the task last pending on it.
//!   It is dropped when woken, when the next pending poll replaces it, when either end
//!   closes, or with the pipe: a waker left by an abandoned poll is kept until then.
//! * **Cost.** Between two tasks each byte is copied twice (writer's buffer, pipe,
//!   reader's buffer), as through tokio's `duplex`; from a blocking writer to an async
//!   reader, once (the reader copies from the blocked writer's slice). Every async write
//!   waits for a request, a round of wake-ups per write: small writes are slower than
//!   through a buffered stream. The pipe keeps its buffer (up to 256 KiB) for reuse.
//!
//! Names: with `std::io::Write` and an `AsyncWriteExt` both in scope, `w.write_all(..)`
//! is ambiguous (call `AsyncWriteExt::write_all(&mut w, ..)`), and the inherent
//! [`PipeWriter::close`] is found before `AsyncWriteExt::close`; both close the writer,
//! but only the latter is a future.
//!
//! ```
//! # #[cfg(feature = "futures-io")] {
//! use futures::executor::block_on;
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use gosync_pipe::pipe;
//!
//! let (mut r, mut w) = pipe();
//! let producer = std::thread::spawn(move || {
//!     block_on(async {
//!         w.write_all(b"hello").await?; // once a read has asked for the bytes
//!         w.flush().await // once the reader has copied them all
//!     }) // `w` drops here: end of file
//! });
//! let mut text = String::new();
//! block_on(r.read_to_string(&mut text)).unwrap();
//! assert_eq!(text, "hello");
//! producer.join().unwrap().unwrap();
//! # }
//! ```
//!
//! With tokio, `tokio::io::copy` into the writer:
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
//! rt.block_on(async {
//!     let (mut r, mut w) = gosync_pipe::pipe();
//!     let writer = tokio::spawn(async move {
//!         tokio::io::copy(&mut &b"streamed"[..], &mut w).await?;
//!         w.shutdown().await // closes the writer: end of file
//!     });
//!     let mut got = Vec::new();
//!     r.read_to_end(&mut got).await.unwrap();
//!     assert_eq!(got, b"streamed");
//!     writer.await.unwrap().unwrap();
//! });
//! # }
//! ```
//!
//! [far]: https://docs.rs/futures-io/0.3/futures_io/trait.AsyncRead.html
//! [faw]: https://docs.rs/futures-io/0.3/futures_io/trait.AsyncWrite.html
//! [tar]: https://docs.rs/tokio/1/tokio/io/trait.AsyncRead.html
//! [taw]: https://docs.rs/tokio/1/tokio/io/trait.AsyncWrite.html
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
//! * **Wakers** (features `futures-io`, `tokio`): a poll clones its task's waker
//!   before it takes the lock (a panic there leaves nothing: no request, no
//!   registration). A waker is woken or dropped only after the lock is released, after
//!   the condition variables are notified, by the call that made its task's end ready
//!   (the other end's poll, a blocking read or write, a close or an end's drop) or that
//!   replaced it. Each wake and drop runs inside `catch_unwind`, so a panicking waker
//!   skips no other wake; the first panic is then resumed out of that call, whose
//!   transfer is complete: a `poll_write` has moved its bytes (the reader gets them), a
//!   `poll_read` or `read` has taken its bytes (lost to that caller, as with any panic
//!   after a read), a blocking write has taken its offer back, a close is done. During
//!   unwinding (a close by an end dropped in a panic) waker panics are not resumed.
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
