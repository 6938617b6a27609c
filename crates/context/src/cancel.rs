//! `CancelFunc` and `CancelCauseFunc`: the cancel functions of `with_cancel` and friends.

use std::fmt;

use crate::context::Context;
use crate::error::Cause;

/// Cancels its context (Go's `CancelFunc`), returned by [`with_cancel`](crate::with_cancel),
/// [`with_deadline`](crate::with_deadline) and [`with_timeout`](crate::with_timeout).
///
/// Calling [`cancel`](CancelFunc::cancel) cancels the context and all its descendants,
/// wakes every waiter, runs the hooks, and releases the context's registration with its
/// parent and its timer entry. Only the first cancel has an effect; later calls (and
/// calls after an ancestor cancelled it) do nothing. It may be cloned and called from any
/// thread. Dropping it does **not** cancel (as in Go); a context dropped uncancelled is
/// still released (see [`Context`](crate::Context#lifetime-no-lost-cancel)).
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_cancel, Error};
///
/// let (ctx, cancel) = with_cancel(&background());
/// let again = cancel.clone();
/// cancel.cancel();
/// again.cancel(); // no effect
/// assert_eq!(ctx.err(), Some(Error::Canceled));
/// ```
#[derive(Clone)]
pub struct CancelFunc {
    ctx: Context,
}

impl CancelFunc {
    pub(crate) fn new(ctx: Context) -> CancelFunc {
        CancelFunc { ctx }
    }

    /// Cancels the context with [`Error::Canceled`](crate::Error::Canceled), unless it
    /// is already done.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](crate::Context::on_cancel) callback panics, the panic is
    /// resumed here after the cancel completed and the other callbacks ran.
    pub fn cancel(&self) {
        self.ctx.cancel_own(None);
    }

    /// The context this function cancels.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CancelFunc").field(&self.ctx).finish()
    }
}

/// Cancels its context and records a cause (Go's `CancelCauseFunc`), returned by
/// [`with_cancel_cause`](crate::with_cancel_cause).
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_cancel_cause, Error};
///
/// #[derive(Debug)]
/// struct Shutdown;
/// impl std::fmt::Display for Shutdown {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("server shutting down")
///     }
/// }
/// impl std::error::Error for Shutdown {}
///
/// let (ctx, cancel) = with_cancel_cause(&background());
/// cancel.cancel(Shutdown);
/// assert_eq!(ctx.err(), Some(Error::Canceled));
/// assert!(ctx.cause().unwrap().downcast_ref::<Shutdown>().is_some());
/// ```
#[derive(Clone)]
pub struct CancelCauseFunc {
    ctx: Context,
}

impl CancelCauseFunc {
    pub(crate) fn new(ctx: Context) -> CancelCauseFunc {
        CancelCauseFunc { ctx }
    }

    /// Cancels the context with [`Error::Canceled`](crate::Error::Canceled) and records
    /// `cause`, unless it is already done (the first cancel wins).
    ///
    /// # Panics
    ///
    /// As [`CancelFunc::cancel`].
    pub fn cancel<E: std::error::Error + Send + Sync + 'static>(&self, cause: E) {
        self.ctx.cancel_own(Some(std::sync::Arc::new(cause)));
    }

    /// [`cancel`](CancelCauseFunc::cancel) with an already shared cause; `None` records
    /// `Canceled` itself as the cause (Go's `cancel(nil)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel_cause};
    ///
    /// let (ctx, cancel) = with_cancel_cause(&background());
    /// cancel.cancel_with(None);
    /// assert_eq!(ctx.cause().unwrap().to_string(), "context canceled");
    /// ```
    ///
    /// # Panics
    ///
    /// As [`CancelFunc::cancel`].
    pub fn cancel_with(&self, cause: Option<Cause>) {
        self.ctx.cancel_own(cause);
    }

    /// The context this function cancels.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl fmt::Debug for CancelCauseFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CancelCauseFunc").field(&self.ctx).finish()
    }
}
