//! `Queue::get_context` (feature `context`): a `get` that also ends when a
//! [`gosync_context::Context`] is done.
//!
//! # Protocol
//!
//! The getter registers an [`on_cancel`](Context::on_cancel) hook that takes the state
//! lock and wakes every parked getter; the getter checks `ctx.is_done()` under that lock
//! before each park. So the cancel either happens before the check (seen) or after the
//! getter parked (woken): no lost wake-up. The hook owns an `Arc` of the queue's shared
//! state, so it may run late without touching freed memory.

use std::fmt;
use std::hash::Hash;

use gosync_context::{Context, Error};
use gosync_core::sync::Arc;

use super::{Guard, Queue};
use crate::storage::Storage;

/// Why [`Queue::get_context`] returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "context")))]
pub enum GetContextError {
    /// The queue is shut down and empty.
    ShutDown,
    /// The context was done (cancelled or past its deadline) before an item was ready.
    Context(Error),
}

impl fmt::Display for GetContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetContextError::ShutDown => f.write_str("work queue is shut down"),
            GetContextError::Context(e) => write!(f, "work queue get: {e}"),
        }
    }
}

impl std::error::Error for GetContextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetContextError::ShutDown => None,
            GetContextError::Context(e) => Some(e),
        }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Queue<T, S> {
    /// [`get`](Queue::get) that also gives up when `ctx` is done. Requires the `context`
    /// feature.
    ///
    /// A ready item wins over a done context (nothing is lost by handing out work that
    /// is already there); after shutdown the remaining items are still handed out, as by
    /// `get`. This is Go's `select` on `Get` and `ctx.Done()`, without the goroutine that
    /// Go would leave blocked in `Get`.
    ///
    /// # Errors
    ///
    /// [`GetContextError::ShutDown`] if the queue is shut down and empty;
    /// [`GetContextError::Context`] with [`ctx.err()`](Context::err) if the context was
    /// done before an item was ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, Error};
    /// use gosync_workqueue::{GetContextError, Queue};
    ///
    /// let q: Queue<u32> = Queue::new();
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| cancel.cancel());
    ///     // Blocks until the cancel: the queue stays empty.
    ///     assert_eq!(q.get_context(&ctx).err(), Some(GetContextError::Context(Error::Canceled)));
    /// });
    /// q.add(7);
    /// assert_eq!(*q.get_context(&ctx).unwrap(), 7); // a ready item wins over a done ctx
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn get_context(&self, ctx: &Context) -> Result<Guard<'_, T, S>, GetContextError> {
        self.get_context_detached(ctx).map(|item| self.guard(item))
    }

    /// [`get_context`](Queue::get_context) returning an
    /// [`OwnedGuard`](crate::OwnedGuard) (see [`get_owned`](Queue::get_owned)).
    ///
    /// # Errors
    ///
    /// As [`get_context`](Queue::get_context).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(9);
    /// let nine = q.get_context_owned(&gosync_context::background()).unwrap();
    /// assert_eq!(*nine, 9);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn get_context_owned(
        &self,
        ctx: &Context,
    ) -> Result<crate::OwnedGuard<T, S>, GetContextError> {
        self.get_context(ctx)
            .map(|guard| self.owned_guard(guard.into_inner()))
    }

    /// [`get_context`](Queue::get_context) without the guard: the caller must call
    /// [`done`](Queue::done). Requires the `context` feature.
    ///
    /// # Errors
    ///
    /// As [`get_context`](Queue::get_context).
    #[cfg_attr(docsrs, doc(cfg(feature = "context")))]
    pub fn get_context_detached(&self, ctx: &Context) -> Result<T, GetContextError> {
        let shared = &*self.shared;
        {
            let (mut st, now) = shared.lock_stamped();
            if let Some(item) = shared.take(&mut st, now) {
                shared.sync_hint(&mut st);
                return Ok(item);
            }
            if st.shutting_down {
                return Err(GetContextError::ShutDown);
            }
        }
        if let Some(err) = ctx.err() {
            return Err(GetContextError::Context(err));
        }
        // Declared before `st`, so deregistered after the lock is released.
        let _hook = {
            let shared = Arc::clone(&self.shared);
            ctx.on_cancel(move || {
                let _st = shared.state.lock();
                shared.ready.notify_all();
            })
        };
        let (mut st, mut now) = shared.lock_stamped();
        loop {
            if let Some(item) = shared.take(&mut st, now) {
                shared.sync_hint(&mut st);
                return Ok(item);
            }
            if st.shutting_down {
                return Err(GetContextError::ShutDown);
            }
            if ctx.is_done() {
                return Err(GetContextError::Context(
                    ctx.err().unwrap_or(Error::Canceled),
                ));
            }
            st.parked += 1;
            shared.ready.wait(st.raw());
            st.parked -= 1;
            now = 0;
        }
    }
}
