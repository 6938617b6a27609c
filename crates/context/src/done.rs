//! `Done` and `OwnedDone`: the futures of `Context::done` and `Context::done_owned`;
//! `RunUntilDone`: the future of `Context::run_until_done`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::context::Context;
use crate::error::Error;
use crate::tree::Entry;

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
    pub(crate) fn new(ctx: &'a Context) -> Done<'a> {
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
    pub(crate) fn new(ctx: Context) -> OwnedDone {
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
    pub(crate) fn new(ctx: Context, fut: F) -> RunUntilDone<F> {
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
        if fut.is_none() {
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
