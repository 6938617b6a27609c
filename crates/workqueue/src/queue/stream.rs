//! `Queue::stream` (feature `stream`): the items of a queue as a
//! [`futures_core::Stream`], ending when the queue is shut down and drained.

use std::fmt;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use gosync_core::waiters::WaiterKey;

use super::{OwnedGuard, Queue};
use crate::storage::{Fifo, Storage};

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Queue<T, S> {
    /// The queue's items as a [`Stream`] of [`OwnedGuard`]s: each `next()` is a
    /// [`get_async`](Queue::get_async). The stream ends (`None`, and `None` ever after)
    /// once the queue is shut down and every remaining item was handed out. Requires the
    /// `stream` feature.
    ///
    /// The stream holds its own queue handle (a [`clone`](Queue::clone)), so it is
    /// `'static`; while it lives the queue is not shut down by the drop of its other
    /// handles. Several streams (and `get`/`get_async` callers) may share one queue:
    /// each item goes to one of them. `Send`, `Unpin`, and cancel-safe as `get_async`:
    /// dropping a pending `next()` (or the stream) loses no item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use gosync_workqueue::Queue;
    ///
    /// let q = Queue::new();
    /// for k in ["a", "b", "a"] {
    ///     q.add(k);
    /// }
    /// q.shut_down(); // the queued items are still handed out, then the stream ends
    /// let keys: Vec<&str> = futures::executor::block_on(q.stream().map(|g| *g).collect());
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
    pub fn stream(&self) -> GetStream<T, S> {
        GetStream {
            queue: self.clone(),
            key: None,
            ended: false,
        }
    }
}

/// The [`Stream`] of [`Queue::stream`]: the queue's items in [`OwnedGuard`]s, until it is
/// shut down and drained.
///
/// `Send`, `Unpin`, fused, and cancel-safe (see [`Queue::get_async`]).
#[must_use = "streams do nothing unless polled"]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
pub struct GetStream<
    T: Hash + Eq + Clone + Send + 'static,
    S: Storage<T> + Send + 'static = Fifo<T>,
> {
    queue: Queue<T, S>,
    /// The task's entry in the queue's waiting tasks, while a `next()` is pending.
    key: Option<WaiterKey>,
    ended: bool,
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> GetStream<T, S> {
    /// The queue the stream gets from.
    pub fn queue(&self) -> &Queue<T, S> {
        &self.queue
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Stream
    for GetStream<T, S>
{
    type Item = OwnedGuard<T, S>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match this.queue.poll_get(&mut this.key, cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(this.queue.owned_guard(item))),
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> FusedStream
    for GetStream<T, S>
{
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Drop
    for GetStream<T, S>
{
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.cancel_get(key);
        }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> fmt::Debug
    for GetStream<T, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetStream")
            .field("registered", &self.key.is_some())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
