//! `PipeReader`: the read end of a [`pipe`](crate::pipe()).

use std::error::Error;
use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use gosync_core::sync::Arc;

use crate::error::Cause;
use crate::shared::Shared;

/// The read end of a [`pipe`](crate::pipe()), Go's `*io.PipeReader`.
///
/// Each [`read`](Read::read) waits for a write and copies from it straight into the
/// caller's buffer: up to the buffer's length, never from two writes. A write is
/// delivered whole by as many reads as it takes. Reads return `Ok(0)` (end of file) once
/// the writer has [closed](crate::PipeWriter::close) and no write is pending.
///
/// `PipeReader` is `Send + Sync`, and `Read` is implemented for `&PipeReader` too, so
/// several threads can read from one shared reader (each read still takes data from one
/// write only). Dropping the reader [closes](PipeReader::close) it.
///
/// # Examples
///
/// ```
/// use gosync_pipe::pipe;
/// use std::io::{Read, Write};
///
/// let (mut r, mut w) = pipe();
/// let t = std::thread::spawn(move || w.write_all(b"hello"));
/// let mut s = String::new();
/// r.read_to_string(&mut s).unwrap(); // until the writer is dropped (closed)
/// assert_eq!(s, "hello");
/// t.join().unwrap().unwrap();
/// ```
pub struct PipeReader {
    pub(crate) shared: Arc<Shared>,
}

impl PipeReader {
    /// Diagnostics (feature `diagnostics`, for benchmarks; no stability promise): how
    /// many times this pipe's readers and writers have parked (blocked in the kernel
    /// rather than spinning), as `(readers, writers)`. Counted only on the park path,
    /// so it costs nothing while both sides keep up.
    #[cfg(feature = "diagnostics")]
    #[doc(hidden)]
    pub fn park_counts(&self) -> (u64, u64) {
        self.shared.parks()
    }

    /// Closes the reader (Go's `PipeReader.Close`): pending and later writes fail with
    /// [`ClosedPipe`](crate::ClosedPipe) (kind `BrokenPipe`), and so do this reader's own
    /// later reads. A write in progress returns the count readers had already consumed.
    ///
    /// Only the first close of each end counts; closing again does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::pipe;
    /// use std::io::{ErrorKind, Write};
    ///
    /// let (r, mut w) = pipe();
    /// r.close();
    /// assert_eq!(w.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    /// ```
    pub fn close(&self) {
        self.shared.close_read(Cause::Closed);
    }

    /// Closes the reader with an error (Go's `PipeReader.CloseWithError`): pending and
    /// later writes fail with `err` (see [`CloseError`](crate::CloseError)); this
    /// reader's own later reads fail with [`ClosedPipe`](crate::ClosedPipe).
    ///
    /// Only the first close of each end counts: if the reader is already closed, `err`
    /// is dropped, in this call and with no lock held.
    ///
    /// # Panics
    ///
    /// If converting `err` panics (the end stays open), or if a later `err` is dropped
    /// because the end was already closed and its `Drop` panics (after the lock is
    /// released; the first cause stays).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::pipe;
    /// use std::io::{ErrorKind, Write};
    ///
    /// let (r, mut w) = pipe();
    /// r.close_with_error(std::io::Error::new(ErrorKind::InvalidData, "bad header"));
    /// let err = w.write(b"x").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidData);
    /// assert_eq!(err.to_string(), "bad header");
    /// ```
    pub fn close_with_error<E>(&self, err: E)
    where
        E: Into<Box<dyn Error + Send + Sync>>,
    {
        self.shared.close_read(Cause::from_error(err.into()));
    }

    /// [`read`](Read::read), but gives up with [`ErrorKind::TimedOut`](io::ErrorKind::TimedOut)
    /// if no write arrives within `timeout` of the pipe's clock (see
    /// [`pipe_with_clock`](crate::pipe_with_clock)). Nothing is consumed on a time-out.
    /// A timeout too large to represent waits forever.
    ///
    /// # Errors
    ///
    /// As `read`, plus `TimedOut`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::pipe;
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    ///
    /// let (r, _w) = pipe();
    /// let err = r.read_timeout(&mut [0; 8], Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// ```
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let deadline = self.shared.clock().deadline_after(timeout);
        self.shared.read(buf, deadline)
    }

    /// [`read`](Read::read) with a deadline on the pipe's clock; see
    /// [`read_timeout`](PipeReader::read_timeout).
    ///
    /// # Errors
    ///
    /// As `read`, plus [`ErrorKind::TimedOut`](io::ErrorKind::TimedOut).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::pipe;
    /// use std::time::{Duration, Instant};
    ///
    /// let (r, _w) = pipe();
    /// let past = Instant::now() - Duration::from_millis(1);
    /// assert!(r.read_deadline(&mut [0; 8], past).is_err());
    /// ```
    pub fn read_deadline(&self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        self.shared.read(buf, Some(deadline))
    }
}

/// Go's `Read`: waits for a write, copies up to `buf.len()` bytes of it.
///
/// An empty `buf` returns `Ok(0)` at once (or the close error), without waiting for a
/// write. After the writer closed, `Ok(0)` (end of file) or the writer's error; after
/// this reader closed, [`ClosedPipe`](crate::ClosedPipe).
impl Read for &PipeReader {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.shared.read(buf, None)
    }
}

impl Read for PipeReader {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.shared.read(buf, None)
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (offered, closed) = self.shared.peek();
        f.debug_struct("PipeReader")
            .field("write_pending", &offered)
            .field("closed", &closed)
            .finish()
    }
}
