//! Reads and writes that a [`gosync_context::Context`] can cancel (feature `context`).
//!
//! A context call runs the same loop as a timed one (see `shared.rs`, "Deadlines and
//! cancellation"): the context is checked under the pipe's lock next to the deadline,
//! and before the call first parks it registers an [`on_cancel`](Context::on_cancel)
//! hook that locks the pipe and wakes every parked call ([`Shared::interrupt`]). The
//! hook owns a handle of the pipe's shared state, so it may run at any time; it is
//! deregistered when the call returns. A call that never parks registers nothing.

use std::cell::Cell;
use std::fmt;
use std::io::{self, IoSlice, Read, Write};

use gosync_context::{Context, OnCancel};
use gosync_core::sync::Arc;

use crate::shared::{Interrupt, Shared};
use crate::{PipeReader, PipeWriter};

/// The [`Interrupt`] of a context call: the context's error, and a wake-up hook armed
/// before the call parks and deregistered when the call returns (when this is dropped).
struct Cancel<'a> {
    ctx: &'a Context,
    shared: &'a Arc<Shared>,
    armed: Cell<bool>,
    hook: Cell<Option<OnCancel<'a>>>,
}

impl<'a> Cancel<'a> {
    fn new(ctx: &'a Context, shared: &'a Arc<Shared>) -> Cancel<'a> {
        Cancel {
            ctx,
            shared,
            armed: Cell::new(false),
            hook: Cell::new(None),
        }
    }
}

impl Interrupt for Cancel<'_> {
    fn check(&self) -> Option<io::Error> {
        self.ctx.err().map(io::Error::from)
    }

    fn needs_arming(&self) -> bool {
        !self.armed.get()
    }

    fn arm(&self) {
        self.armed.set(true);
        let shared = Arc::clone(self.shared);
        // Runs here at once if the context is done by now: we hold no lock.
        let hook = self.ctx.on_cancel(move || shared.interrupt());
        self.hook.set(Some(hook));
    }
}

impl PipeReader {
    /// [`read`](Read::read), but gives up when `ctx` is done: a read parked waiting for
    /// a write is woken by the cancellation and fails with the context's error.
    /// Requires the `context` feature.
    ///
    /// The error's kind is [`TimedOut`](io::ErrorKind::TimedOut) for
    /// [`DeadlineExceeded`](gosync_context::Error::DeadlineExceeded) and
    /// [`Other`](io::ErrorKind::Other) for [`Canceled`](gosync_context::Error::Canceled)
    /// (not `Interrupted`, which `read_exact` and friends would silently retry); the
    /// [`gosync_context::Error`] itself is the inner error (`get_ref` + `downcast_ref`).
    /// Nothing is consumed by a read that fails this way.
    ///
    /// The context is checked where the read would otherwise wait, like a timeout: a
    /// write already waiting is read even if `ctx` is done, and a close is reported as
    /// usual; only when the read would park does a done `ctx` end it (at once, if it
    /// was already done).
    ///
    /// # Errors
    ///
    /// As `read`, plus the context's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, Error};
    /// use gosync_pipe::pipe;
    /// use std::io::ErrorKind;
    ///
    /// let (r, _w) = pipe();
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::spawn(move || cancel.cancel());
    /// let err = r.read_context(&mut [0; 8], &ctx).unwrap_err(); // no writer writes
    /// assert_eq!(err.kind(), ErrorKind::Other);
    /// let why = err.get_ref().unwrap().downcast_ref::<Error>();
    /// assert_eq!(why, Some(&Error::Canceled));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn read_context(&self, buf: &mut [u8], ctx: &Context) -> io::Result<usize> {
        self.shared
            .read_with(buf, None, &Cancel::new(ctx, &self.shared))
    }

    /// A [`Read`] adapter whose every read is a [`read_context`](PipeReader::read_context)
    /// with `ctx`, for `read_exact`, `read_to_end`, `io::copy` and the like.
    /// Requires the `context` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    /// use gosync_pipe::pipe;
    /// use std::io::{Read, Write};
    ///
    /// let (r, mut w) = pipe();
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::spawn(move || w.write_all(b"head").unwrap());
    /// let mut head = [0; 4];
    /// r.with_context(&ctx).read_exact(&mut head).unwrap();
    /// assert_eq!(&head, b"head");
    /// cancel.cancel();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn with_context<'a>(&'a self, ctx: &'a Context) -> ContextReader<'a> {
        ContextReader { reader: self, ctx }
    }
}

impl PipeWriter {
    /// [`write`](Write::write), but gives up when `ctx` is done: a write parked waiting
    /// for the write slot or for readers is woken by the cancellation. Requires the
    /// `context` feature.
    ///
    /// As with [`write_timeout`](PipeWriter::write_timeout), a write cancelled after
    /// readers consumed `n > 0` of its bytes returns `Ok(n)` (the rest is not
    /// delivered), and one cancelled before any byte was consumed fails with the
    /// context's error: kind [`TimedOut`](io::ErrorKind::TimedOut) for
    /// [`DeadlineExceeded`](gosync_context::Error::DeadlineExceeded),
    /// [`Other`](io::ErrorKind::Other) for [`Canceled`](gosync_context::Error::Canceled),
    /// with the [`gosync_context::Error`] as the inner error.
    ///
    /// The context is checked where the write would otherwise wait: a write on a done
    /// `ctx` is still offered to readers, and the data they take before it would park
    /// is delivered.
    ///
    /// # Errors
    ///
    /// As `write`, plus the context's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_timeout, Error};
    /// use gosync_pipe::pipe;
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    ///
    /// let (_r, w) = pipe();
    /// let (ctx, _cancel) = with_timeout(&background(), Duration::from_millis(5));
    /// let err = w.write_context(b"nobody reads this", &ctx).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// let why = err.get_ref().unwrap().downcast_ref::<Error>();
    /// assert_eq!(why, Some(&Error::DeadlineExceeded));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn write_context(&self, buf: &[u8], ctx: &Context) -> io::Result<usize> {
        self.shared
            .write_with(&[IoSlice::new(buf)], None, &Cancel::new(ctx, &self.shared))
    }

    /// [`write_counted`](PipeWriter::write_counted) that `ctx` can cancel: Go's
    /// `(n, err)` in one call, `n` being the bytes readers consumed before the
    /// cancellation. Requires the `context` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    /// use gosync_pipe::pipe;
    /// use std::io::Read;
    ///
    /// let (mut r, w) = pipe();
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::scope(|s| {
    ///     s.spawn(move || {
    ///         let mut two = [0; 2];
    ///         r.read_exact(&mut two).unwrap(); // takes 2 of the 5 bytes
    ///         cancel.cancel();
    ///         r
    ///     });
    ///     let (n, result) = w.write_counted_context(b"hello", &ctx);
    ///     assert_eq!(n, 2);
    ///     assert!(result.is_err());
    /// });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn write_counted_context(&self, buf: &[u8], ctx: &Context) -> (usize, io::Result<()>) {
        self.shared
            .write_counted_with(&[IoSlice::new(buf)], None, &Cancel::new(ctx, &self.shared))
    }

    /// A [`Write`] adapter whose every write is a
    /// [`write_context`](PipeWriter::write_context) with `ctx` (vectored writes too), for
    /// `write_all`, `io::copy` and the like. Requires the `context` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    /// use gosync_pipe::pipe;
    /// use std::io::{ErrorKind, Write};
    ///
    /// let (r, w) = pipe();
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::spawn(move || cancel.cancel());
    /// let err = w.with_context(&ctx).write_all(b"nobody reads").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Other);
    /// # drop(r);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn with_context<'a>(&'a self, ctx: &'a Context) -> ContextWriter<'a> {
        ContextWriter { writer: self, ctx }
    }
}

/// A [`Read`] whose reads a context can cancel; see [`PipeReader::with_context`].
#[cfg_attr(docsrs, doc(cfg(feature = "context")))]
pub struct ContextReader<'a> {
    reader: &'a PipeReader,
    ctx: &'a Context,
}

impl Read for ContextReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read_context(buf, self.ctx)
    }
}

impl fmt::Debug for ContextReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextReader")
            .field("reader", self.reader)
            .field("ctx", self.ctx)
            .finish()
    }
}

/// A [`Write`] whose writes a context can cancel; see [`PipeWriter::with_context`].
#[cfg_attr(docsrs, doc(cfg(feature = "context")))]
pub struct ContextWriter<'a> {
    writer: &'a PipeWriter,
    ctx: &'a Context,
}

impl Write for ContextWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write_context(buf, self.ctx)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let shared = &self.writer.shared;
        shared.write_with(bufs, None, &Cancel::new(self.ctx, shared))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for ContextWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextWriter")
            .field("writer", self.writer)
            .field("ctx", self.ctx)
            .finish()
    }
}
