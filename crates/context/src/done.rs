//! `Done`: the future of `Context::done`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::context::Context;
use crate::tree::Entry;

/// A future that completes when its context is done; see [`Context::done`].
///
/// It registers the task's waker with the context on the first `Pending` poll (and
/// updates it if the task moves), and removes it when dropped, so abandoned futures
/// (e.g. the losing branch of a `select!`) leave nothing behind.
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

impl Future for Done<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some(core) = this.ctx.core() else {
            return Poll::Pending; // never cancelled, like a nil channel
        };
        if core.is_done() {
            this.slot = None; // the cancel drained the registry (invariant 4)
            return Poll::Ready(());
        }
        let mut g = core.lock();
        if core.is_done() {
            this.slot = None;
            return Poll::Ready(());
        }
        match this.slot {
            Some(slot) => {
                if let Some(Entry::Waker(w)) = g.extra().waiters.get_mut(slot) {
                    if !w.will_wake(cx.waker()) {
                        let old = std::mem::replace(w, cx.waker().clone());
                        drop(g);
                        drop(old);
                    }
                }
            }
            None => {
                let slot = g.extra().waiters.insert(Entry::Waker(cx.waker().clone()));
                this.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        if let (Some(slot), Some(core)) = (self.slot, self.ctx.core()) {
            drop(core.deregister(slot)); // dropped after the lock is released
        }
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
