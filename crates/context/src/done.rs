//! The async waits: `Context::done`, `Context::done_owned` and
//! `Context::run_until_done`, and their futures `Done`, `OwnedDone` and `RunUntilDone`.
//! A public adapter on top of `context.rs`: its waker registrations go into the core's
//! waiter registry (`tree.rs`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::context::Context;
use crate::error::Error;
use crate::tree::Entry;

/// The async waits (here, next to their futures; the rest of `Context` is in
/// `context.rs`).
impl Context {
    /// A future that completes when the context is done. Runtime-agnostic: it stores the
    /// task's [`Waker`](std::task::Waker) and the cancel wakes it, under any executor.
    /// Dropping it deregisters the waker.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     struct Noop; // (`Waker::noop` needs Rust 1.85; the MSRV is older)
    /// #     impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
    /// #     let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// cancel.cancel();
    /// block_on(async { ctx.done().await }); // any executor, e.g. tokio's
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub fn done(&self) -> Done<'_> {
        Done::new(self)
    }

    /// [`done`](Context::done) as a future that owns a handle to the context (one
    /// reference-count increment): `'static`, so it can move into a spawned task, be
    /// stored in a struct, or outlive this handle.
    ///
    /// Like `done`, it is runtime-agnostic, `Send` and `Unpin`, and cancel-safe:
    /// dropping it at any point deregisters its waker and leaves nothing behind. On a
    /// context that can never be cancelled (`background()`) it never completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// let done = ctx.done_owned(); // no borrow of `ctx`
    /// drop(ctx);
    /// let waiter = std::thread::spawn(move || futures::executor::block_on(done));
    /// cancel.cancel();
    /// waiter.join().unwrap();
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub fn done_owned(&self) -> OwnedDone {
        OwnedDone::new(self.clone())
    }

    /// Runs `fut` until it completes (`Ok` with its output) or the context is done
    /// (`Err` with [`err()`](Context::err)), whichever comes first: Go's
    /// `select { case <-ctx.Done(): ...; case r := <-work: ... }` for a future.
    ///
    /// When the context is done first, `fut` is dropped at once, at its current await
    /// point (as any cancelled future is): it is not polled again. The context is
    /// checked before each poll of `fut`, so a context that is already done returns
    /// `Err` without polling `fut` at all, and a context done at the same time as `fut`
    /// becomes ready wins. The returned future owns a handle to the context, so it is
    /// `'static` (and can be spawned) whenever `fut` is; it is `Send` when `fut` is.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops `fut` and deregisters from the context; what
    /// dropping `fut` loses is `fut`'s own cancel safety.
    ///
    /// # Panics
    ///
    /// If polled again after it completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, Error};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// let work = async { 42 };
    /// assert_eq!(futures::executor::block_on(ctx.run_until_done(work)), Ok(42));
    ///
    /// cancel.cancel();
    /// let never = std::future::pending::<()>();
    /// assert_eq!(futures::executor::block_on(ctx.run_until_done(never)), Err(Error::Canceled));
    /// ```
    pub fn run_until_done<F: std::future::Future>(&self, fut: F) -> RunUntilDone<F> {
        RunUntilDone::new(self.clone(), fut)
    }
}

/// A future that completes when its context is done; see [`Context::done`].
///
/// It registers the task's waker with the context on the first `Pending` poll (and
/// updates it if the task moves), and removes it when dropped, so abandoned futures
/// (e.g. the losing branch of a `select!`) leave nothing behind. `Send` and `Unpin`.
#[must_use = "futures do nothing unless awaited"]
pub struct Done<'a> {
    ctx: &'a Context,
    /// The waker's slot in the core's registry, once registered.
    slot: Option<usize>,
}

impl<'a> Done<'a> {
    fn new(ctx: &'a Context) -> Done<'a> {
        Done { ctx, slot: None }
    }
}

/// The poll of [`Done`] and [`OwnedDone`]: `slot` is the future's registration.
fn poll_done(ctx: &Context, slot: &mut Option<usize>, cx: &mut TaskContext<'_>) -> Poll<()> {
    let Some(core) = ctx.core() else {
        return Poll::Pending; // never cancelled, like a nil channel
    };
    if core.is_done() {
        *slot = None; // the cancel drained the registry (invariant 4)
        return Poll::Ready(());
    }
    let mut g = core.lock();
    if core.is_done() {
        *slot = None;
        return Poll::Ready(());
    }
    match *slot {
        Some(i) => {
            if let Some(Entry::Waker(w)) = g.extra().waiters.get_mut(i) {
                if !w.will_wake(cx.waker()) {
                    let old = std::mem::replace(w, cx.waker().clone());
                    drop(g);
                    drop(old);
                }
            }
        }
        None => {
            let i = g.extra().waiters.insert(Entry::Waker(cx.waker().clone()));
            *slot = Some(i);
        }
    }
    Poll::Pending
}

/// The drop of [`Done`] and [`OwnedDone`]: deregisters the waker, if registered.
fn drop_done(ctx: &Context, slot: Option<usize>) {
    if let (Some(slot), Some(core)) = (slot, ctx.core()) {
        drop(core.deregister(slot)); // dropped after the lock is released
    }
}

impl Future for Done<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        poll_done(this.ctx, &mut this.slot, cx)
    }
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        drop_done(self.ctx, self.slot.take());
    }
}

impl fmt::Debug for Done<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done")
            .field("ctx", self.ctx)
            .field("registered", &self.slot.is_some())
            .finish()
    }
}

/// [`Done`] that owns a handle to its context: `'static`, so it can move into a spawned
/// task or be stored; see [`Context::done_owned`].
///
/// Registration, waker updates and cancel safety are those of [`Done`]: dropping it at
/// any point deregisters its waker and leaves nothing behind. `Send`, `Unpin`, and on
/// any executor.
#[must_use = "futures do nothing unless awaited"]
pub struct OwnedDone {
    ctx: Context,
    slot: Option<usize>,
}

impl OwnedDone {
    fn new(ctx: Context) -> OwnedDone {
        OwnedDone { ctx, slot: None }
    }

    /// The context this future waits on.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl Future for OwnedDone {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        poll_done(&this.ctx, &mut this.slot, cx)
    }
}

impl Drop for OwnedDone {
    fn drop(&mut self) {
        drop_done(&self.ctx, self.slot.take());
    }
}

impl fmt::Debug for OwnedDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedDone")
            .field("ctx", &self.ctx)
            .field("registered", &self.slot.is_some())
            .finish()
    }
}

/// Runs a future until it completes or its context is done; see
/// [`Context::run_until_done`].
///
/// `Send` when the inner future is, `'static` when it is (the context handle is owned),
/// and `Unpin` when it is.
#[must_use = "futures do nothing unless awaited"]
pub struct RunUntilDone<F> {
    done: OwnedDone,
    /// Structurally pinned (see `poll`); `None` once it completed or was dropped.
    fut: Option<F>,
}

impl<F> RunUntilDone<F> {
    fn new(ctx: Context, fut: F) -> RunUntilDone<F> {
        RunUntilDone {
            done: OwnedDone::new(ctx),
            fut: Some(fut),
        }
    }
}

impl<F: Future> Future for RunUntilDone<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out while pinned (it is
        // only dropped in place, by `Pin::set(None)`, or with the struct), the struct has
        // no `Drop` impl that could move it, and `Unpin` is implemented only through the
        // auto trait (so only when `F: Unpin`). `done` is not pinned (it is `Unpin`).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above: `this.fut` stays where it is for as long as it is pinned.
        let mut fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        // Checked through `as_pin_mut`, not `is_none()`: `is_none` reads the whole
        // `Option<F>` through a shared reference, which Miri (Stacked Borrows) reports
        // as invalidating the references a suspended `async` block `F` holds into
        // itself (it did, in `tokio_run_until_done_both_ways`).
        if fut.as_mut().as_pin_mut().is_none() {
            panic!("`RunUntilDone` polled after completion");
        }
        // The context first, so work under a context that is already done does not start
        // (and a done context wins a tie).
        if Pin::new(&mut this.done).poll(cx).is_ready() {
            fut.set(None); // drop the inner future now, in place
            let err = this.done.ctx.err().unwrap_or(Error::Canceled);
            return Poll::Ready(Err(err));
        }
        let inner = fut.as_mut().as_pin_mut().expect("checked above");
        match inner.poll(cx) {
            Poll::Ready(v) => {
                fut.set(None);
                Poll::Ready(Ok(v))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for RunUntilDone<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilDone")
            .field("done", &self.done)
            .field("running", &self.fut.is_some())
            .finish()
    }
}
