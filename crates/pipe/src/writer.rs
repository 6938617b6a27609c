//! `PipeWriter`: the write end of a [`pipe`](crate::pipe()).

use std::error::Error;
use std::fmt;
use std::io::{self, IoSlice, Write};
use std::time::{Duration, Instant};

use gosync_core::sync::Arc;

use crate::error::Cause;
use crate::shared::Shared;

/// The write end of a [`pipe`](crate::pipe()), Go's `*io.PipeWriter`.
///
/// Each [`write`](Write::write) lends its buffer to the readers and blocks until they
/// have copied *all* of it out, so `Ok(buf.len())` means the reader has the data. There
/// is no buffer inside the pipe.
///
/// `PipeWriter` is `Send + Sync`, and `Write` is implemented for `&PipeWriter` too:
/// concurrent writes are serialized, each delivered whole, never interleaved. Dropping
/// the writer [closes](PipeWriter::close) it (readers see end of file).
///
/// # Examples
///
/// ```
/// use gosync_pipe::pipe;
/// use std::io::{Read, Write};
///
/// let (mut r, mut w) = pipe();
/// let t = std::thread::spawn(move || {
///     let mut buf = [0; 3];
///     r.read_exact(&mut buf).unwrap();
///     buf
/// });
/// w.write_all(b"abc").unwrap(); // returns once the reader has all three bytes
/// assert_eq!(&t.join().unwrap(), b"abc");
/// ```
pub struct PipeWriter {
    pub(crate) shared: Arc<Shared>,
}

impl PipeWriter {
    /// Diagnostics (feature `diagnostics`, for benchmarks; no stability promise): how
    /// many times this pipe's readers and writers have parked (blocked in the kernel
    /// rather than spinning), as `(readers, writers)`. Counted only on the park path,
    /// so it costs nothing while both sides keep up.
    #[cfg(feature = "diagnostics")]
    #[doc(hidden)]
    pub fn park_counts(&self) -> (u64, u64) {
        self.shared.parks()
    }

    /// Closes the writer (Go's `PipeWriter.Close`): readers get `Ok(0)` (end of file)
    /// once they have nothing pending, and this writer's own later writes fail with
    /// [`ClosedPipe`](crate::ClosedPipe). A write in progress on another thread is
    /// abandoned: it returns the count readers had already consumed (or `ClosedPipe`).
    ///
    /// Only the first close of each end counts; closing again does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::pipe;
    /// use std::io::Read;
    ///
    /// let (mut r, w) = pipe();
    /// w.close();
    /// assert_eq!(r.read(&mut [0; 8]).unwrap(), 0); // EOF
    /// ```
    pub fn close(&self) {
        self.shared.close_write(Cause::Closed);
    }

    /// Closes the writer with an error (Go's `PipeWriter.CloseWithError`): reads fail
    /// with `err` (see [`CloseError`](crate::CloseError)) instead of returning end of
    /// file. Only the first close of each end counts: if the writer is already closed,
    /// `err` is dropped, in this call and with no lock held.
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
    /// use std::io::{ErrorKind, Read};
    ///
    /// let (mut r, w) = pipe();
    /// w.close_with_error("upstream failed");
    /// let err = r.read(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Other);
    /// assert_eq!(err.to_string(), "upstream failed");
    /// ```
    pub fn close_with_error<E>(&self, err: E)
    where
        E: Into<Box<dyn Error + Send + Sync>>,
    {
        self.shared.close_write(Cause::from_error(err.into()));
    }

    /// [`write`](Write::write), but stops waiting after `timeout` of the pipe's clock
    /// (see [`pipe_with_clock`](crate::pipe_with_clock)). On a time-out the rest of the
    /// buffer is taken back: the result is the count readers consumed if any, else an
    /// [`ErrorKind::TimedOut`](io::ErrorKind::TimedOut) error. A timeout too large to
    /// represent waits forever.
    ///
    /// # Errors
    ///
    /// As `write`, plus `TimedOut`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::pipe;
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    ///
    /// let (_r, w) = pipe();
    /// let err = w.write_timeout(b"nobody reads", Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// ```
    pub fn write_timeout(&self, buf: &[u8], timeout: Duration) -> io::Result<usize> {
        let deadline = self.shared.clock().deadline_after(timeout);
        self.shared.write(&[IoSlice::new(buf)], deadline)
    }

    /// Go's `Write` exactly: writes all of `buf` and returns how many bytes readers
    /// consumed, with the error that stopped it early, if any. Unlike
    /// [`write`](Write::write), a write cut short by a close after `n > 0` bytes reports
    /// `n` *and* the close error in one call, as Go's `(n int, err error)` does.
    ///
    /// # Errors
    ///
    /// The close error (see [`close`](PipeWriter::close)), with the count consumed.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::{pipe, ClosedPipe};
    /// use std::io::Read;
    ///
    /// let (r, w) = pipe();
    /// std::thread::scope(|s| {
    ///     let t = s.spawn(|| w.write_counted(b"0123456789"));
    ///     (&r).read_exact(&mut [0; 4]).unwrap();
    ///     r.close();
    ///     let (n, res) = t.join().unwrap();
    ///     assert_eq!(n, 4);
    ///     assert!(ClosedPipe::is(&res.unwrap_err()));
    /// });
    /// ```
    pub fn write_counted(&self, buf: &[u8]) -> (usize, io::Result<()>) {
        self.shared.write_counted(&[IoSlice::new(buf)], None)
    }

    /// [`write`](Write::write) with a deadline on the pipe's clock; see
    /// [`write_timeout`](PipeWriter::write_timeout).
    ///
    /// # Errors
    ///
    /// As `write`, plus [`ErrorKind::TimedOut`](io::ErrorKind::TimedOut).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pipe::pipe;
    /// use std::time::Instant;
    ///
    /// let (_r, w) = pipe();
    /// assert!(w.write_deadline(b"late", Instant::now()).is_err());
    /// ```
    pub fn write_deadline(&self, buf: &[u8], deadline: Instant) -> io::Result<usize> {
        self.shared.write(&[IoSlice::new(buf)], Some(deadline))
    }
}

/// Go's `Write`: blocks until readers have consumed all of `buf`.
///
/// Returns `Ok(buf.len())`, or, if the pipe closed during the write after readers took
/// `n > 0` bytes, `Ok(n)`: the next write then fails with the close error (Go returns
/// `n` together with the error; `Write` cannot). An empty `buf` still waits for a
/// reader's `read`, as in Go (that read keeps waiting for data rather than returning 0).
///
/// `write_vectored` is one write of all the slices: a read may span slices, but never
/// two writes. `flush` does nothing.
impl Write for &PipeWriter {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.write(&[IoSlice::new(buf)], None)
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.shared.write(bufs, None)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for PipeWriter {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (offered, closed) = self.shared.peek();
        f.debug_struct("PipeWriter")
            .field("write_pending", &offered)
            .field("closed", &closed)
            .finish()
    }
}
