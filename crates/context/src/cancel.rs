//! The cancellable constructors (`with_cancel`, `with_deadline`, `with_timeout` and
//! their `_cause` forms) and what they return: `CancelFunc`, `CancelCauseFunc`, and
//! `DropGuard`. A thin layer over `context.rs`, which makes the nodes.

use std::fmt;
use std::time::{Duration, Instant};

use crate::context::{new_cancel, new_deadline, Context};
use crate::error::Cause;

/// Cancels its context (Go's `CancelFunc`), returned by [`with_cancel`],
/// [`with_deadline`] and [`with_timeout`].
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

    /// Turns this function into a guard that cancels the context when it is dropped,
    /// also while unwinding from a panic (tokio-util's `CancellationToken::drop_guard`).
    /// For a scope that must cancel its work on every way out, early returns included;
    /// [`DropGuard::disarm`] gives the function back when the scope succeeded.
    ///
    /// Go's `defer cancel()`. Plain `CancelFunc`s do not cancel on drop, as in Go.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// let worker = {
    ///     let _guard = cancel.drop_guard();
    ///     let ctx = ctx.clone();
    ///     std::thread::spawn(move || ctx.wait()) // stops once the scope is left
    /// }; // the guard cancels here
    /// worker.join().unwrap();
    /// assert!(ctx.is_done());
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// let guard = cancel.drop_guard();
    /// let cancel = guard.disarm(); // success: keep the context alive
    /// assert!(!ctx.is_done());
    /// # drop(cancel);
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { cancel: Some(self) }
    }
}

/// Cancels its context when dropped, unless [disarmed](DropGuard::disarm). Made by
/// [`CancelFunc::drop_guard`].
///
/// # Panics
///
/// Dropping the guard runs the cancel, so it panics where [`CancelFunc::cancel`] does
/// (an `on_cancel` callback panicked). If the guard is dropped while its thread is
/// already unwinding, such a second panic aborts the process, as any panic in a drop
/// during unwinding does; keep `on_cancel` callbacks from panicking.
#[must_use = "dropping the guard at once cancels the context"]
pub struct DropGuard {
    cancel: Option<CancelFunc>,
}

impl DropGuard {
    /// Gives the cancel function back without cancelling.
    pub fn disarm(mut self) -> CancelFunc {
        self.cancel
            .take()
            .expect("a guard holds its function until dropped")
    }

    /// The context the guard cancels.
    pub fn context(&self) -> &Context {
        &self
            .cancel
            .as_ref()
            .expect("a guard holds its function until dropped")
            .ctx
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard")
            .field("armed", &self.cancel.is_some())
            .finish()
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CancelFunc").field(&self.ctx).finish()
    }
}

/// Cancels its context and records a cause (Go's `CancelCauseFunc`), returned by
/// [`with_cancel_cause`].
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

/// A child of `parent` that is cancelled when the returned [`CancelFunc`] is called or
/// when `parent` is cancelled, whichever happens first (Go's `WithCancel`).
///
/// If `parent` is already cancelled, the child is born cancelled with the parent's error
/// and cause.
///
/// # Panics
///
/// If the nearest cancellable ancestor already has 4,294,967,294 live cancellable
/// children (every constructor of a cancellable context shares this bound).
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_cancel};
///
/// let (parent, cancel_parent) = with_cancel(&background());
/// let (child, cancel_child) = with_cancel(&parent);
/// cancel_child.cancel();
/// assert!(child.is_done() && !parent.is_done()); // the parent is untouched
/// let (child2, _cancel2) = with_cancel(&parent);
/// cancel_parent.cancel();
/// assert!(child2.is_done()); // cancelling the parent reaches every descendant
/// ```
pub fn with_cancel(parent: &Context) -> (Context, CancelFunc) {
    let ctx = new_cancel(parent, None);
    (ctx.clone(), CancelFunc::new(ctx))
}

/// Like [`with_cancel`], but the cancel function records a cause, which
/// [`Context::cause`] returns (Go's `WithCancelCause`).
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_cancel_cause, Error};
/// use std::io;
///
/// let (ctx, cancel) = with_cancel_cause(&background());
/// cancel.cancel(io::Error::other("upstream went away"));
/// assert_eq!(ctx.err(), Some(Error::Canceled));
/// assert_eq!(ctx.cause().unwrap().to_string(), "upstream went away");
/// ```
pub fn with_cancel_cause(parent: &Context) -> (Context, CancelCauseFunc) {
    let ctx = new_cancel(parent, None);
    (ctx.clone(), CancelCauseFunc::new(ctx))
}

/// A child of `parent` that is also cancelled, with
/// [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded), when the clock of the
/// tree reaches `deadline` (Go's `WithDeadline`).
///
/// The child's deadline never extends its parent's: if `parent`'s deadline is earlier,
/// this is [`with_cancel`] and the child reports the parent's deadline. A deadline that
/// has already passed cancels the child at once.
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_deadline, Error};
/// use std::time::{Duration, Instant};
///
/// let (ctx, _cancel) = with_deadline(&background(), Instant::now());
/// assert_eq!(ctx.err(), Some(Error::DeadlineExceeded)); // already past
///
/// let far = Instant::now() + Duration::from_secs(3600);
/// let (parent, _c1) = with_deadline(&background(), far);
/// let (child, _c2) = with_deadline(&parent, far + Duration::from_secs(60));
/// assert_eq!(child.deadline(), Some(far)); // the earlier parent deadline wins
/// ```
pub fn with_deadline(parent: &Context, deadline: Instant) -> (Context, CancelFunc) {
    let ctx = new_deadline(parent, deadline, None);
    (ctx.clone(), CancelFunc::new(ctx))
}

/// Like [`with_deadline`], but when the deadline passes, [`Context::cause`] returns
/// `cause` (the error is still [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded)).
/// The cancel function does not set a cause (Go's `WithDeadlineCause`).
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_deadline_cause, Error};
/// use std::io;
/// use std::time::Instant;
///
/// let (ctx, _cancel) =
///     with_deadline_cause(&background(), Instant::now(), io::Error::other("too slow"));
/// assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
/// assert_eq!(ctx.cause().unwrap().to_string(), "too slow");
/// ```
pub fn with_deadline_cause<E>(
    parent: &Context,
    deadline: Instant,
    cause: E,
) -> (Context, CancelFunc)
where
    E: std::error::Error + Send + Sync + 'static,
{
    let ctx = new_deadline(parent, deadline, Some(std::sync::Arc::new(cause)));
    (ctx.clone(), CancelFunc::new(ctx))
}

/// `with_deadline(parent, now + timeout)`, where `now` is the tree's clock (Go's
/// `WithTimeout`).
///
/// A timeout too large to represent as an `Instant` (such as `Duration::MAX`) means no
/// deadline: the result is [`with_cancel`]`(parent)` and its [`deadline`](Context::deadline)
/// is the parent's (`None` under `background()`). Go saturates instead and reports a
/// deadline about 292 years from now; both never fire in practice.
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_timeout};
/// use std::time::Duration;
///
/// let (ctx, cancel) = with_timeout(&background(), Duration::from_secs(5));
/// assert!(ctx.deadline().is_some());
/// cancel.cancel(); // releases the timer entry early
/// assert!(ctx.is_done());
/// ```
pub fn with_timeout(parent: &Context, timeout: Duration) -> (Context, CancelFunc) {
    match parent.clock().deadline_after(timeout) {
        Some(deadline) => with_deadline(parent, deadline),
        None => with_cancel(parent),
    }
}

/// `with_deadline_cause(parent, now + timeout, cause)` (Go's `WithTimeoutCause`).
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_timeout_cause};
/// use std::io;
/// use std::time::Duration;
///
/// let (ctx, _cancel) =
///     with_timeout_cause(&background(), Duration::ZERO, io::Error::other("budget spent"));
/// assert_eq!(ctx.cause().unwrap().to_string(), "budget spent");
/// ```
pub fn with_timeout_cause<E>(parent: &Context, timeout: Duration, cause: E) -> (Context, CancelFunc)
where
    E: std::error::Error + Send + Sync + 'static,
{
    match parent.clock().deadline_after(timeout) {
        Some(deadline) => with_deadline_cause(parent, deadline, cause),
        None => with_cancel(parent),
    }
}
