//! `Queue::get_async` and `Queue::wait_idle_async`: the runtime-agnostic futures of a
//! `get` and a `wait_idle`.
//!
//! # Protocol
//!
//! Tasks wait next to the blocking threads, under the queue's one lock (rule 4 of the
//! parking protocol in `queue/shared.rs`):
//!
//! 1. **Poll**: under the lock, take a ready item if there is one (a ready item wins,
//!    whether or not this task was the one notified), else end with `None` if the queue
//!    is shut down; in both cases the task's entry, if any, is removed in the same hold.
//!    Otherwise the task registers in `State::tasks` in that same hold (or, registered,
//!    refreshes its waker; notified, registers again: its item was taken by another
//!    getter, which consumed no other wake-up). So an add or a shutdown either happened
//!    before the check (seen) or sees the registration (the task is woken).
//! 2. **Wake**: an add (or a `done` that queues an item again) that makes an item
//!    ready notifies one waiting task by name (`WakerList::notify_one`) and wakes it
//!    after the unlock, besides a parked thread (see rule 4 in `queue/shared.rs` for
//!    why both); the delay timer does the same for each item it fires; shutdown
//!    notifies every task.
//! 3. **Drop** (cancel): under the lock, the entry is removed. A *notified* entry is a
//!    wake-up this task will never use: if an item is still ready, it is passed on to
//!    another getter (a parked thread, else a waiting task). So a dropped future loses
//!    no item and strands no waiter. A future dropped after it completed holds nothing
//!    (the item went out in an [`OwnedGuard`]).
//!
//! `wait_idle_async` registers in `State::idle_tasks` and counts itself in
//! `State::idle_waiters` (so `done` checks for idleness), under the lock that checks
//! `idle()`; the `done` or shutdown that makes the queue idle notifies all of them.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use gosync_core::waiters::{Removed, WaiterKey};

use super::{OwnedGuard, Queue};
use crate::storage::{Fifo, Storage};

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Queue<T, S> {
    /// Waits, as a future, for the next ready item and hands it out, marked processing,
    /// in an [`OwnedGuard`]; `None` once the queue is shut down and empty: the async
    /// twin of [`get_owned`](Queue::get_owned).
    ///
    /// The future borrows this handle; [`get_async_owned`](Queue::get_async_owned) holds
    /// a handle of its own instead, to be spawned on its own. Either can live inside a
    /// spawned task that owns a queue handle:
    /// `tokio::spawn(async move { while let Some(item) = q.get_async().await { ... } })`.
    /// The guard is always owned (`'static`), so it can move into another task; handing
    /// it out clones the queue handle (two atomic increments), as `get_owned` does.
    ///
    /// The future is runtime-agnostic (it uses only the task's [`Waker`]: tokio,
    /// `futures::executor`, smol, ... all drive it), `Send` and `Unpin`. A thread in
    /// [`get`](Queue::get) and tasks in `get_async` on the same queue are all served:
    /// each item made ready wakes one waiting task and one parked thread (with both
    /// kinds waiting, one of the two may find the item taken and wait again), and
    /// [`shut_down`](Queue::shut_down) wakes them all. After shutdown the remaining items
    /// are still handed out before `None`, as by `get`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any point loses nothing: until it completes it holds no
    /// item (an item is taken and handed out in the same poll), and a wake-up it was
    /// given but did not use is passed on to another waiting getter, thread or task, if
    /// an item is still ready. Its registration is removed. A `select!` that drops it
    /// and calls `get_async` again later misses no item.
    ///
    /// # Panics
    ///
    /// As [`get`](Queue::get): if the item's `Eq` or the metrics provider panics while
    /// the item is handed out, the panic propagates out of `poll` and the item stays
    /// ready (another waiting getter is woken for it). A task waker that panics in
    /// `clone` panics out of `poll` with the queue unchanged; one that panics in `wake`
    /// does so in the operation that woke it ([`add`](Queue::add), `done`,
    /// [`shut_down`](Queue::shut_down)), after that operation's change is complete.
    /// Polling the future again after it completed panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::Queue;
    ///
    /// let q = Queue::new();
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || {
    ///         // Any executor: here the `futures` crate's `block_on`.
    ///         futures::executor::block_on(async {
    ///             let mut seen = Vec::new();
    ///             while let Some(item) = q.get_async().await {
    ///                 seen.push(*item); // `item` is a guard: done() when it drops
    ///             }
    ///             seen
    ///         })
    ///     })
    /// };
    /// q.add("pod/a");
    /// q.add("pod/b");
    /// q.shut_down_with_drain(); // returns once both are processed
    /// assert_eq!(worker.join().unwrap(), ["pod/a", "pod/b"]);
    /// ```
    #[inline]
    pub fn get_async(&self) -> GetAsync<'_, T, S> {
        GetAsync {
            queue: self,
            wait: Wait::new(),
        }
    }

    /// [`get_async`](Queue::get_async) whose future holds its own queue handle (a
    /// [`clone`](Queue::clone)), so it is `'static` and can be spawned by itself or
    /// kept in a struct. While it lives the queue is not shut down by the drop of its
    /// other handles.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::Queue;
    ///
    /// let q = Queue::new();
    /// let next = q.get_async_owned(); // 'static: no borrow of `q`
    /// q.add(7);
    /// let item = futures::executor::block_on(next).unwrap();
    /// assert_eq!(*item, 7);
    /// ```
    pub fn get_async_owned(&self) -> GetAsyncOwned<T, S> {
        GetAsyncOwned {
            queue: self.clone(),
            wait: Wait::new(),
        }
    }

    /// Waits, as a future, until the queue is idle: the async twin of
    /// [`wait_idle`](Queue::wait_idle) (nothing ready, processing or waiting for a
    /// delay; see there for when to use it). Blocking `wait_idle` callers and tasks in
    /// `wait_idle_async` are all released by the `done` (or the shutdown) that makes the
    /// queue idle. An idle queue completes on the first poll.
    ///
    /// Runtime-agnostic, `Send`, `Unpin`, and cancel-safe: dropping it removes its
    /// registration, and no other waiter's wake-up depends on it. For a bounded wait,
    /// race it with the runtime's timer (`tokio::time::timeout`), or use
    /// [`wait_idle_timeout`](Queue::wait_idle_timeout) on a thread.
    ///
    /// # Panics
    ///
    /// A task waker that panics in `clone` panics out of `poll` with the queue unchanged;
    /// one that panics in `wake` does so out of the `done` or shutdown that released it,
    /// after the queue's state change and every other task's wake-up.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::Queue;
    ///
    /// let q = Queue::new();
    /// q.add(1);
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || while q.get().is_some() {})
    /// };
    /// futures::executor::block_on(q.wait_idle_async());
    /// assert_eq!((q.len(), q.waiting_len()), (0, 0));
    /// q.shut_down();
    /// worker.join().unwrap();
    /// ```
    pub fn wait_idle_async(&self) -> WaitIdleAsync<'_, T, S> {
        WaitIdleAsync {
            queue: self,
            key: None,
            finished: false,
        }
    }

    /// One poll of an async get (protocol rule 1): an item, `None` at shutdown, or
    /// `Pending` with `key` registered.
    pub(super) fn poll_get(
        &self,
        key: &mut Option<WaiterKey>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        let shared = &*self.shared;
        let (mut st, now) = shared.lock_stamped();
        // If this panics (`Eq`, metrics), `key` is unchanged: a notified entry stays
        // notified, and the future's drop passes the wake-up on.
        if let Some(item) = shared.take(&mut st, now) {
            shared.sync_hint(&mut st);
            let removed = key.take().map(|key| st.tasks.remove(key));
            drop(st);
            drop(removed); // a waker (user code): dropped with no lock held
            return Poll::Ready(Some(item));
        }
        if st.shutting_down {
            let removed = key.take().map(|key| st.tasks.remove(key));
            drop(st);
            drop(removed);
            return Poll::Ready(None);
        }
        let old = match key {
            Some(k) if !st.tasks.is_notified(k) => st.tasks.update(k, cx.waker()),
            _ => {
                // Not registered, or notified for an item another getter took: register
                // (again). The clone (user code) comes first: if it panics, nothing
                // has changed.
                let waker = cx.waker().clone();
                if let Some(k) = key.take() {
                    let removed = st.tasks.remove(k);
                    debug_assert!(matches!(removed, Removed::Notified));
                }
                *key = Some(st.tasks.insert(waker));
                None
            }
        };
        drop(st);
        drop(old);
        Poll::Pending
    }

    /// Cancels a registered async get (protocol rule 3).
    pub(super) fn cancel_get(&self, key: WaiterKey) {
        let shared = &*self.shared;
        let mut st = shared.state.lock();
        let (old, pass_on) = match st.tasks.remove(key) {
            Removed::Waiting(waker) => (Some(waker), None),
            // A wake-up this task will not use: pass it on while an item is ready.
            Removed::Notified if st.queued > 0 => (None, shared.pass_on(&mut st)),
            Removed::Notified => (None, None),
        };
        drop(st);
        drop(old);
        if let Some(waker) = pass_on {
            // User code in a `drop`: while unwinding (a task that panicked is dropped),
            // a second panic would abort, so it is dropped then.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                if !std::thread::panicking() {
                    panic::resume_unwind(payload);
                }
            }
        }
    }
}

/// The registration of one async getter.
struct Wait {
    /// The task's entry in `State::tasks`, while registered.
    key: Option<WaiterKey>,
    /// Completed: polling again is a bug.
    finished: bool,
}

impl Wait {
    const fn new() -> Wait {
        Wait {
            key: None,
            finished: false,
        }
    }

    fn poll<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static>(
        &mut self,
        queue: &Queue<T, S>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<OwnedGuard<T, S>>> {
        assert!(
            !self.finished,
            "work queue get_async polled after completion"
        );
        match queue.poll_get(&mut self.key, cx) {
            Poll::Ready(item) => {
                self.finished = true;
                Poll::Ready(item.map(|item| queue.owned_guard(item)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn cancel<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static>(
        &mut self,
        queue: &Queue<T, S>,
    ) {
        if let Some(key) = self.key.take() {
            queue.cancel_get(key);
        }
    }
}

/// The future of [`Queue::get_async`]: the next item in an [`OwnedGuard`], or `None`
/// once the queue is shut down and empty.
///
/// `Send`, `Unpin`, and cancel-safe (see [`Queue::get_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct GetAsync<
    'a,
    T: Hash + Eq + Clone + Send + 'static,
    S: Storage<T> + Send + 'static = Fifo<T>,
> {
    queue: &'a Queue<T, S>,
    wait: Wait,
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Future
    for GetAsync<'_, T, S>
{
    type Output = Option<OwnedGuard<T, S>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.wait.poll(this.queue, cx)
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Drop
    for GetAsync<'_, T, S>
{
    fn drop(&mut self) {
        self.wait.cancel(self.queue);
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> fmt::Debug
    for GetAsync<'_, T, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAsync")
            .field("registered", &self.wait.key.is_some())
            .field("finished", &self.wait.finished)
            .finish_non_exhaustive()
    }
}

/// The future of [`Queue::get_async_owned`]: [`GetAsync`] holding its own queue handle,
/// so it is `'static`.
///
/// `Send`, `Unpin`, and cancel-safe (see [`Queue::get_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct GetAsyncOwned<
    T: Hash + Eq + Clone + Send + 'static,
    S: Storage<T> + Send + 'static = Fifo<T>,
> {
    queue: Queue<T, S>,
    wait: Wait,
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> GetAsyncOwned<T, S> {
    /// The queue the future gets from.
    pub fn queue(&self) -> &Queue<T, S> {
        &self.queue
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Future
    for GetAsyncOwned<T, S>
{
    type Output = Option<OwnedGuard<T, S>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.wait.poll(&this.queue, cx)
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Drop
    for GetAsyncOwned<T, S>
{
    fn drop(&mut self) {
        self.wait.cancel(&self.queue);
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> fmt::Debug
    for GetAsyncOwned<T, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetAsyncOwned")
            .field("registered", &self.wait.key.is_some())
            .field("finished", &self.wait.finished)
            .finish_non_exhaustive()
    }
}

/// The future of [`Queue::wait_idle_async`]: completes when the queue is idle.
///
/// `Send`, `Unpin`, and cancel-safe (see [`Queue::wait_idle_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct WaitIdleAsync<
    'a,
    T: Hash + Eq + Clone + Send + 'static,
    S: Storage<T> + Send + 'static = Fifo<T>,
> {
    queue: &'a Queue<T, S>,
    /// The task's entry in `State::idle_tasks`, while registered (and counted in
    /// `State::idle_waiters`).
    key: Option<WaiterKey>,
    finished: bool,
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Future
    for WaitIdleAsync<'_, T, S>
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(());
        }
        let shared = &*this.queue.shared;
        let mut st = shared.state.lock();
        if st.idle() {
            let removed = this.key.take().map(|key| {
                st.idle_waiters -= 1;
                st.update_watch();
                st.idle_tasks.remove(key)
            });
            drop(st);
            drop(removed);
            this.finished = true;
            return Poll::Ready(());
        }
        let old: Option<Waker> = match &this.key {
            Some(k) if !st.idle_tasks.is_notified(k) => st.idle_tasks.update(k, cx.waker()),
            _ => {
                // The clone (user code) first: if it panics, nothing has changed.
                let waker = cx.waker().clone();
                match this.key.take() {
                    // Notified, but no longer idle: stay counted, register again.
                    Some(k) => drop(st.idle_tasks.remove(k)),
                    None => {
                        st.idle_waiters += 1;
                        st.update_watch();
                    }
                }
                this.key = Some(st.idle_tasks.insert(waker));
                None
            }
        };
        drop(st);
        drop(old);
        Poll::Pending
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Drop
    for WaitIdleAsync<'_, T, S>
{
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut st = self.queue.shared.state.lock();
        st.idle_waiters -= 1;
        st.update_watch();
        let removed = st.idle_tasks.remove(key);
        drop(st);
        drop(removed); // a waker (user code): dropped with no lock held
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> fmt::Debug
    for WaitIdleAsync<'_, T, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitIdleAsync")
            .field("registered", &self.key.is_some())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
