//! `Semaphore::acquire_async` and its guard forms: the runtime-agnostic futures of an
//! acquire.
//!
//! # Protocol
//!
//! A task queues next to the blocking threads, in the same FIFO queue, as a [`Waiter`]
//! whose [`WakerList`] holds its waker (a thread's waiter has an empty list):
//!
//! 1. **Fast path** (first poll): under the semaphore's lock, the weight is taken if it
//!    fits and nobody is queued (Go's first branch), exactly as a blocking `acquire`.
//! 2. **Register**: with the waker cloned and the waiter allocated beforehand (user code
//!    and allocation with no lock held), take the semaphore's lock, check the fast path
//!    again (a release may have come in between) and otherwise enqueue, in one critical
//!    section: a release either happened before (the weight is taken now) or will see the
//!    entry.
//! 3. **Grant**: `notify_waiters` removes the entry, adds its weight and sets `GRANTED`
//!    under the waiter's lock while marking the waker notified; the waker is woken after
//!    every lock is released.
//! 4. **Poll**: under the waiter's lock, `GRANTED` means the weight is held: the entry is
//!    removed and the future is ready; otherwise the stored waker is updated if the task
//!    moved (the grant takes the same lock, so it sees the new waker).
//! 5. **Drop** (cancel): under the semaphore's lock (then the waiter's), `GRANTED` is
//!    exact. A granted future puts the weight back and serves the queue, so the permit
//!    handed to it passes on (Go: "pretend we didn't"); a queued one leaves the queue,
//!    and if it was the head, the waiters behind it that now fit are served (Go's
//!    `notifyWaiters` on cancel).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use gosync_core::sync::Arc;
use gosync_core::waiters::{Removed, WaiterKey, WakerList};

use super::{Entry, OwnedSemaphoreGuard, Semaphore, SemaphoreGuard, Waiter, GRANTED};

impl Semaphore {
    /// Acquires weight `n` as a future: the async twin of [`acquire`](Semaphore::acquire),
    /// with the same FIFO order (threads in `acquire` and tasks in `acquire_async` queue in
    /// one line, in arrival order: a large waiter at the head blocks smaller ones behind
    /// it, thread or task).
    ///
    /// The weight is held once the future completes; give it back with
    /// [`release`](Semaphore::release), or use
    /// [`acquire_guard_async`](Semaphore::acquire_guard_async) /
    /// [`acquire_owned_async`](Semaphore::acquire_owned_async) for a guard. The future is
    /// runtime-agnostic (it only uses the task's [`Waker`](std::task::Waker)), `Send`,
    /// `Unpin`, and queues on its first poll (not when created). An uncontended acquire
    /// completes on the first poll with one lock acquisition, as `acquire` does.
    ///
    /// Go's `Acquire(ctx, n)` is
    /// [`ctx.run_until_done(sem.acquire_async(n))`](gosync_context::Context::run_until_done),
    /// with Go's outcomes: a context already done fails without acquiring, even if the
    /// weight is free; a context done while queued fails and leaves the semaphore as if
    /// the acquire had never been made (the future is dropped, see "Cancel safety"),
    /// including a grant that crossed the cancellation, which is put back. Any other
    /// future (a timer, a shutdown signal) cancels it the same way in a `select`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any point loses no weight and leaves no entry behind:
    /// before its first poll there is nothing to undo; queued, it leaves the queue, and if
    /// it was the head, the waiters behind it that now fit are granted and woken (Go's
    /// `notifyWaiters` on cancel); granted but not yet polled, it gives the weight back,
    /// which is handed to the next waiters that fit; completed, the weight stays held
    /// (release it).
    ///
    /// # Panics
    ///
    /// Here, when called, if `n` exceeds the [`size`](Semaphore::size), as
    /// [`acquire`](Semaphore::acquire) does: the acquire could never complete (Go's
    /// `Acquire(ctx, n > size)` blocks until `ctx` is done, so with a dropped future it
    /// would simply never be ready). A task waker that panics in `clone` panics out of
    /// `poll` with the semaphore unchanged; one that panics in `wake` does so in the
    /// [`release`](Semaphore::release) (or cancel) that granted it, after the semaphore
    /// is fully updated and every other granted waiter woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(2);
    /// sem.acquire(2);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| sem.release(2));
    ///     // Any executor: here the `futures` crate's `block_on`.
    ///     futures::executor::block_on(sem.acquire_async(1)); // waits for the release
    /// });
    /// assert_eq!(sem.available(), 1);
    ///
    /// // Go's `sem.Acquire(ctx, 1)`: the context cancels the wait.
    /// use gosync_context::{background, with_cancel, Error};
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| cancel.cancel());
    ///     let r = futures::executor::block_on(ctx.run_until_done(sem.acquire_async(2)));
    ///     assert_eq!(r, Err(Error::Canceled)); // 2 never fits while 1 is held
    /// });
    /// assert_eq!((sem.available(), sem.waiters()), (1, 0)); // left as it was
    /// sem.release(1);
    /// ```
    #[track_caller]
    pub fn acquire_async(&self, n: u64) -> AcquireAsync<'_> {
        self.check_size(n);
        AcquireAsync {
            sem: self,
            core: Core::new(n),
        }
    }

    /// [`acquire_async`](Semaphore::acquire_async), completing with a
    /// [`SemaphoreGuard`] that releases `n` when dropped: the async twin of
    /// [`acquire_guard`](Semaphore::acquire_guard).
    ///
    /// Cancel safety as [`acquire_async`](Semaphore::acquire_async).
    ///
    /// # Panics
    ///
    /// As [`acquire_async`](Semaphore::acquire_async); and if polled again after it
    /// completed (it has handed its guard out).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// futures::executor::block_on(async {
    ///     let guard = sem.acquire_guard_async(2).await;
    ///     assert_eq!(guard.weight(), 2);
    ///     assert_eq!(sem.available(), 1);
    /// });
    /// assert_eq!(sem.available(), 3);
    /// ```
    #[track_caller]
    pub fn acquire_guard_async(&self, n: u64) -> AcquireGuardAsync<'_> {
        self.check_size(n);
        AcquireGuardAsync {
            sem: self,
            core: Core::new(n),
            handed_out: false,
        }
    }

    /// [`acquire_async`](Semaphore::acquire_async) on an `Arc`-shared semaphore,
    /// completing with an [`OwnedSemaphoreGuard`]: the future and the guard own a clone of
    /// the `Arc`, so both are `'static` and can move into a spawned task.
    ///
    /// Cancel safety as [`acquire_async`](Semaphore::acquire_async).
    ///
    /// # Panics
    ///
    /// As [`acquire_async`](Semaphore::acquire_async); and if polled again after it
    /// completed (it has handed its guard out).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let fut = sem.acquire_owned_async(1); // 'static: may move to another thread
    /// let guard = std::thread::spawn(move || futures::executor::block_on(fut))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(sem.available(), 0);
    /// drop(guard);
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[track_caller]
    pub fn acquire_owned_async(self: &std::sync::Arc<Self>, n: u64) -> AcquireOwnedAsync {
        self.check_size(n);
        AcquireOwnedAsync {
            sem: Some(std::sync::Arc::clone(self)),
            core: Core::new(n),
        }
    }

    #[track_caller]
    #[inline]
    fn check_size(&self, n: u64) {
        if n > self.size {
            size_panic(n, self.size);
        }
    }
}

#[cold]
#[track_caller]
fn size_panic(n: u64, size: u64) -> ! {
    panic!("semaphore: acquire of {n} exceeds the size {size}: it could never succeed")
}

/// One queued acquire: its id in the queue, its waiter, and its waker's entry.
struct Queued {
    id: u64,
    waiter: Arc<Waiter>,
    key: WaiterKey,
}

/// The state machine shared by the three futures.
struct Core {
    n: u64,
    /// `Some` while queued (registered, not yet observed granted).
    queued: Option<Queued>,
    /// The weight is held by the future's owner.
    acquired: bool,
}

impl Core {
    fn new(n: u64) -> Core {
        Core {
            n,
            queued: None,
            acquired: false,
        }
    }

    fn poll(&mut self, sem: &Semaphore, cx: &mut Context<'_>) -> Poll<()> {
        if self.acquired {
            return Poll::Ready(());
        }
        let Some(q) = &self.queued else {
            if sem.try_acquire(self.n) {
                self.acquired = true;
                return Poll::Ready(());
            }
            return self.register(sem, cx);
        };
        let mut st = q.waiter.state.lock();
        if st.flags & GRANTED == 0 {
            let old = st.tasks.update(&q.key, cx.waker());
            drop(st);
            drop(old); // user code: dropped with no lock held
            return Poll::Pending;
        }
        drop(st);
        self.granted();
        Poll::Ready(())
    }

    /// The grant was seen: frees the (notified, final) waker entry.
    #[cold]
    fn granted(&mut self) {
        let q = self.queued.take().expect("queued");
        // GRANTED was set under the waiter's lock by the grant, after it added our weight
        // under the semaphore's lock: our acquisitions of this lock order the grant (and
        // the releases before it) before the task goes on.
        let removed = q.waiter.state.lock().tasks.remove(q.key);
        debug_assert!(matches!(removed, Removed::Notified));
        self.acquired = true;
    }

    #[cold]
    #[inline(never)]
    fn register(&mut self, sem: &Semaphore, cx: &mut Context<'_>) -> Poll<()> {
        // User code and the allocation, before any lock: a panicking clone leaves the
        // semaphore as it was.
        let mut tasks = WakerList::new();
        let key = tasks.insert(cx.waker().clone());
        let waiter = Arc::new(Waiter::new(tasks));
        let mut st = sem.state.lock();
        // Go's fast path again: a release may have come in since the first check.
        if sem.size - st.cur >= self.n && st.waiters.is_empty() {
            st.cur += self.n;
            drop(st);
            drop(waiter); // with its waker: user code, no lock held
            self.acquired = true;
            return Poll::Ready(());
        }
        let id = st.next_id;
        st.next_id += 1;
        st.waiters.insert(
            id,
            Entry {
                n: self.n,
                waiter: Arc::clone(&waiter),
            },
        );
        drop(st);
        self.queued = Some(Queued { id, waiter, key });
        Poll::Pending
    }

    /// Gives up a queued acquire (the future is dropped before it saw its grant).
    fn cancel(&mut self, sem: &Semaphore) {
        let Some(q) = self.queued.take() else {
            return;
        };
        let mut st = sem.state.lock();
        let mut ws = q.waiter.state.lock();
        // GRANTED is only set under the semaphore's lock, which we hold: exact.
        let granted = ws.flags & GRANTED != 0;
        let removed = ws.tasks.remove(q.key);
        drop(ws);
        let wakes = sem.give_up(&mut st, q.id, self.n, granted);
        drop(st);
        drop(removed); // user code: dropped with no lock held
        drop(q.waiter);
        wakes.wake();
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("weight", &self.n)
            .field("queued", &self.queued.is_some())
            .field("acquired", &self.acquired)
            .finish()
    }
}

/// The future of [`Semaphore::acquire_async`]: completes once weight `n` is held.
///
/// `Send`, `Unpin`, and cancel-safe (see [`Semaphore::acquire_async`]). Polled again
/// after completing, it is ready at once without acquiring again.
#[must_use = "futures do nothing unless polled"]
pub struct AcquireAsync<'a> {
    sem: &'a Semaphore,
    core: Core,
}

impl Future for AcquireAsync<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.core.poll(this.sem, cx)
    }
}

impl Drop for AcquireAsync<'_> {
    fn drop(&mut self) {
        self.core.cancel(self.sem);
    }
}

impl fmt::Debug for AcquireAsync<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireAsync")
            .field("state", &self.core)
            .field("sem", self.sem)
            .finish()
    }
}

const POLLED_AFTER_GUARD: &str = "semaphore: acquire future polled after it handed out its guard";

/// The future of [`Semaphore::acquire_guard_async`]: completes with a
/// [`SemaphoreGuard`].
///
/// `Send`, `Unpin`, and cancel-safe (see [`Semaphore::acquire_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct AcquireGuardAsync<'a> {
    sem: &'a Semaphore,
    core: Core,
    /// The guard was returned: a later poll would hand out a second one.
    handed_out: bool,
}

impl<'a> Future for AcquireGuardAsync<'a> {
    type Output = SemaphoreGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphoreGuard<'a>> {
        let this = &mut *self;
        assert!(!this.handed_out, "{POLLED_AFTER_GUARD}");
        if this.core.poll(this.sem, cx).is_pending() {
            return Poll::Pending;
        }
        this.handed_out = true;
        Poll::Ready(SemaphoreGuard {
            sem: this.sem,
            n: this.core.n,
        })
    }
}

impl Drop for AcquireGuardAsync<'_> {
    fn drop(&mut self) {
        self.core.cancel(self.sem);
    }
}

impl fmt::Debug for AcquireGuardAsync<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireGuardAsync")
            .field("state", &self.core)
            .field("sem", self.sem)
            .finish()
    }
}

/// The future of [`Semaphore::acquire_owned_async`]: completes with an
/// [`OwnedSemaphoreGuard`]; `'static`.
///
/// `Send`, `Unpin`, and cancel-safe (see [`Semaphore::acquire_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct AcquireOwnedAsync {
    /// Taken by the guard when the future completes.
    sem: Option<std::sync::Arc<Semaphore>>,
    core: Core,
}

impl Future for AcquireOwnedAsync {
    type Output = OwnedSemaphoreGuard;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedSemaphoreGuard> {
        let this = &mut *self;
        let sem = this.sem.as_ref().expect(POLLED_AFTER_GUARD);
        if this.core.poll(sem, cx).is_pending() {
            return Poll::Pending;
        }
        let sem = this.sem.take().expect(POLLED_AFTER_GUARD);
        Poll::Ready(OwnedSemaphoreGuard {
            sem,
            n: this.core.n,
        })
    }
}

impl Drop for AcquireOwnedAsync {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            self.core.cancel(sem);
        }
    }
}

impl fmt::Debug for AcquireOwnedAsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AcquireOwnedAsync");
        d.field("state", &self.core);
        match &self.sem {
            Some(sem) => d.field("sem", &**sem),
            None => d.field("sem", &format_args!("<handed to its guard>")),
        };
        d.finish()
    }
}
