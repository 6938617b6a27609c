//! `Error`: why a context is done (Go's `Canceled` and `DeadlineExceeded`), and `Cause`.

use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

/// A cancellation cause: any error, shared. Set by
/// [`CancelCauseFunc::cancel`](crate::CancelCauseFunc::cancel) or
/// [`with_deadline_cause`](crate::with_deadline_cause), read with
/// [`Context::cause`](crate::Context::cause).
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a context is done: what [`Context::err`](crate::Context::err) returns.
///
/// The two values of Go's `context.Canceled` and `context.DeadlineExceeded`, with Go's
/// messages. [`Error::DeadlineExceeded`] reports itself as a timeout
/// ([`is_timeout`](Error::is_timeout), and `io::ErrorKind::TimedOut` when converted to an
/// [`io::Error`]), as Go's implements `Timeout() bool`.
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_cancel, Error};
///
/// let (ctx, cancel) = with_cancel(&background());
/// assert_eq!(ctx.err(), None);
/// cancel.cancel();
/// assert_eq!(ctx.err(), Some(Error::Canceled));
/// assert_eq!(Error::Canceled.to_string(), "context canceled");
/// assert!(Error::DeadlineExceeded.is_timeout());
/// let io: std::io::Error = Error::DeadlineExceeded.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The context was cancelled (by its cancel function or an ancestor's).
    Canceled,
    /// The context's deadline (or an ancestor's) passed.
    DeadlineExceeded,
}

impl Error {
    /// Whether this is [`Error::DeadlineExceeded`] (Go's `Timeout()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::Error;
    ///
    /// assert!(!Error::Canceled.is_timeout());
    /// assert!(Error::DeadlineExceeded.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::DeadlineExceeded)
    }

    /// The error as a shared [`Cause`] (one allocation per process for each value).
    pub(crate) fn as_cause(self) -> Cause {
        static CANCELED: OnceLock<Cause> = OnceLock::new();
        static DEADLINE: OnceLock<Cause> = OnceLock::new();
        let cell = match self {
            Error::Canceled => &CANCELED,
            Error::DeadlineExceeded => &DEADLINE,
        };
        Arc::clone(cell.get_or_init(|| Arc::new(self)))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Canceled => "context canceled",
            Error::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// `DeadlineExceeded` becomes `TimedOut`; `Canceled` becomes `Other`.
    fn from(e: Error) -> io::Error {
        let kind = match e {
            Error::Canceled => io::ErrorKind::Other,
            Error::DeadlineExceeded => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, e)
    }
}
