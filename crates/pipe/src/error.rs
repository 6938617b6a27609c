//! The errors of a pipe: Go's `ErrClosedPipe`, and the user's error from `close_with_error`.

use std::error::Error;
use std::fmt;
use std::io;
// A std `Arc`: the user's error is a value handed out in `io::Error`s, not part of the
// synchronization protocol, so loom need not (and cannot, for `dyn Error`) see it.
use std::sync::Arc;

/// Go's `io.ErrClosedPipe`: a read or write on an end that was closed, or a write
/// after the reader was closed without an error.
///
/// It reaches callers inside an [`io::Error`] of kind [`io::ErrorKind::BrokenPipe`];
/// recognise it with [`ClosedPipe::is`].
///
/// # Examples
///
/// ```
/// use gosync_pipe::{pipe, ClosedPipe};
/// use std::io::{ErrorKind, Read};
///
/// let (r, w) = pipe();
/// r.close();
/// let err = (&r).read(&mut [0; 4]).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::BrokenPipe);
/// assert!(ClosedPipe::is(&err));
/// assert_eq!(err.to_string(), "io: read/write on closed pipe");
/// # drop(w);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClosedPipe;

impl ClosedPipe {
    /// Whether `err` carries a `ClosedPipe`: the pipe's own, or one the other end was
    /// closed with (`close_with_error(ClosedPipe)`, which Go's `err == ErrClosedPipe`
    /// also recognises).
    pub fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|e| {
            e.is::<ClosedPipe>()
                || e.downcast_ref::<CloseError>()
                    .is_some_and(|c| c.0.is::<ClosedPipe>())
        })
    }
}

impl fmt::Display for ClosedPipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("io: read/write on closed pipe")
    }
}

impl Error for ClosedPipe {}

impl From<ClosedPipe> for io::Error {
    fn from(e: ClosedPipe) -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, e)
    }
}

/// The error one end was closed with ([`PipeWriter::close_with_error`] or
/// [`PipeReader::close_with_error`]), as the other end sees it inside an [`io::Error`].
///
/// Every failing call hands out the same error (shared, not cloned): get it back with
/// [`CloseError::from_io`] and then [`get_ref`](CloseError::get_ref),
/// [`downcast_ref`](CloseError::downcast_ref) or [`arc`](CloseError::arc).
///
/// The `io::Error`'s kind is the user error's own kind if it is an `io::Error`;
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe) if it is a [`ClosedPipe`]; otherwise
/// [`Other`](io::ErrorKind::Other) for a reader and `BrokenPipe` for a writer. A user
/// error of kind [`Interrupted`](io::ErrorKind::Interrupted) is reported with that
/// default kind instead, since std's retry loops (`read_exact`, `read_to_end`,
/// `write_all`) would retry the ever-repeated close error forever.
///
/// [`PipeWriter::close_with_error`]: crate::PipeWriter::close_with_error
/// [`PipeReader::close_with_error`]: crate::PipeReader::close_with_error
///
/// # Examples
///
/// ```
/// use gosync_pipe::{pipe, CloseError};
/// use std::io::Read;
///
/// #[derive(Debug)]
/// struct Gone;
/// impl std::fmt::Display for Gone {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("gone") }
/// }
/// impl std::error::Error for Gone {}
///
/// let (mut r, w) = pipe();
/// w.close_with_error(Gone);
/// let err = r.read(&mut [0; 8]).unwrap_err();
/// assert_eq!(err.to_string(), "gone");
/// assert!(CloseError::from_io(&err).unwrap().downcast_ref::<Gone>().is_some());
/// ```
#[derive(Clone)]
pub struct CloseError(Arc<dyn Error + Send + Sync>);

impl CloseError {
    /// The `CloseError` inside `err`, if `err` came from a pipe closed with an error.
    pub fn from_io(err: &io::Error) -> Option<&CloseError> {
        err.get_ref()?.downcast_ref::<CloseError>()
    }

    /// The user's error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The user's error, if it is a `T`.
    pub fn downcast_ref<T: Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The shared user error.
    pub fn arc(&self) -> Arc<dyn Error + Send + Sync> {
        Arc::clone(&self.0)
    }
}

impl fmt::Debug for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CloseError").field(&self.0).finish()
    }
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for CloseError {
    /// The user error's own source: `CloseError` displays the user's error itself, so
    /// it is not repeated as a source.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// Why one end is closed (Go's `rerr` / `werr`).
#[derive(Clone)]
pub(crate) enum Cause {
    /// `close()` (Go's `CloseWithError(nil)`): `EOF` for a writer, `ErrClosedPipe` for a reader.
    Closed,
    /// `close_with_error(err)`.
    Error(CloseError),
}

impl Cause {
    pub(crate) fn from_error(err: Box<dyn Error + Send + Sync>) -> Cause {
        Cause::Error(CloseError(Arc::from(err)))
    }

    /// The `io::Error` the *other* end sees; `default` is its kind for a non-io error.
    pub(crate) fn to_io(&self, default: io::ErrorKind) -> io::Error {
        match self {
            Cause::Closed => ClosedPipe.into(),
            Cause::Error(e) => {
                let kind = if e.0.is::<ClosedPipe>() {
                    io::ErrorKind::BrokenPipe
                } else {
                    match e.downcast_ref::<io::Error>().map(io::Error::kind) {
                        // The close error repeats on every call: std's loops that retry
                        // `Interrupted` would never end.
                        Some(io::ErrorKind::Interrupted) | None => default,
                        Some(kind) => kind,
                    }
                };
                io::Error::new(kind, e.clone())
            }
        }
    }
}

/// The error of a call whose deadline passed before it could complete.
pub(crate) fn timed_out(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}
