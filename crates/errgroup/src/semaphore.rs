//! `Semaphore`: Go's `semaphore.Weighted` — a counting semaphore whose acquirers ask for
//! a weight, served strictly first in, first out, with context-cancellable acquires.
//!
//! Invariants (all under `Semaphore::state`'s lock):
//!
//! 1. `cur <= size`; `cur` is the weight held by acquirers that have returned or will
//!    return success, including granted waiters that have not woken up yet.
//! 2. A waiter is in `waiters` until it is granted (removed, `cur += n`, `GRANTED` set,
//!    in that order, under the lock) or gives up (removed by itself). So `GRANTED` read
//!    under the lock tells exactly whether the weight was added for it.
//! 3. After every release, cancel and grant, either `waiters` is empty or its head does
//!    not fit (`size - cur < head.n`): `notify_waiters` restores it (Go's invariant;
//!    a cancelled head must run it, since the waiters behind it may now fit).
//!
//! A waiter sleeps on its own lock (per-waiter parking, no shared condition variable): a
//! grant wakes exactly the waiters it granted, in queue order. A blocked thread sleeps on
//! the waiter's condition variable; a task ([`acquire_async`](Semaphore::acquire_async))
//! keeps its waker in the waiter's [`WakerList`], under the same lock, so one grant
//! (`Waiter::wake`) releases either kind the same way and the queue serves threads and
//! tasks in one order. Task wakers are woken only after every lock is released.
//! Lock order: the semaphore's lock before a waiter's.

use std::collections::BTreeMap;
use std::fmt;

use gosync_context::{Context, Error};
use gosync_core::sync::{Arc, Condvar, Mutex};
use gosync_core::waiters::{WakeBatch, WakerList};

mod acquire_async;
pub use acquire_async::{AcquireAsync, AcquireGuardAsync, AcquireOwnedAsync};

/// A weighted semaphore (Go's `golang.org/x/sync/semaphore.Weighted`).
///
/// The semaphore has a `size`; [`acquire`](Semaphore::acquire) of a weight `n` blocks
/// until `n` is free, [`release`](Semaphore::release) gives weight back. Waiters are
/// served in arrival order: a waiter at the head of the queue that does not fit yet
/// blocks every waiter behind it, even ones that would fit (so a large acquire is never
/// starved by a stream of small ones), and a non-blocking
/// [`try_acquire`](Semaphore::try_acquire) fails while anyone waits.
/// [`acquire_context`](Semaphore::acquire_context) gives up when a [`Context`] is done.
///
/// # Examples
///
/// A semaphore as a read-write lock: readers take 1, the writer takes all.
///
/// ```
/// use gosync_errgroup::Semaphore;
///
/// let sem = Semaphore::new(4);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             let _read = sem.acquire_guard(1); // released on drop
///         });
///     }
///     s.spawn(|| {
///         let _write = sem.acquire_guard(4); // excludes every reader
///     });
/// });
/// assert!(sem.try_acquire(4)); // everything was given back
/// ```
pub struct Semaphore {
    size: u64,
    state: Mutex<State>,
}

struct State {
    /// The weight held (Go's `cur`).
    cur: u64,
    /// The queue, in arrival order: keyed by a sequence number, so the head is the first
    /// entry and a waiter that gives up removes itself in O(log n).
    waiters: BTreeMap<u64, Entry>,
    next_id: u64,
}

struct Entry {
    n: u64,
    waiter: Arc<Waiter>,
}

/// One queued acquirer, a thread or a task: its own lock and condition variable, so a
/// grant wakes exactly the waiters it granted (per-waiter parking; no herd).
struct Waiter {
    state: Mutex<WaiterState>,
    /// A blocked thread sleeps here.
    woken: Condvar,
}

struct WaiterState {
    /// `GRANTED` (set under the semaphore's lock) and `CANCELLED` (set by the context's
    /// hook) bits.
    flags: u8,
    /// The waker of a task waiting in `acquire_async` (one entry); empty for a thread.
    tasks: WakerList,
}

const GRANTED: u8 = 1;
const CANCELLED: u8 = 2;

impl Waiter {
    fn new(tasks: WakerList) -> Waiter {
        Waiter {
            state: Mutex::new(WaiterState { flags: 0, tasks }),
            woken: Condvar::new(),
        }
    }

    /// Sets `flag` and wakes the waiter: a thread at once, a task through the returned
    /// batch, which the caller wakes once it holds no lock (a waker is user code).
    #[must_use = "a task waiter is woken only when the batch is woken"]
    fn wake(&self, flag: u8) -> WakeBatch {
        let mut st = self.state.lock();
        st.flags |= flag;
        // Notified under the waiter's lock: the waiter checks its flags under the same
        // lock before it sleeps (a thread) or stores its waker (a task), so the wake-up
        // cannot fall between its check and its sleep.
        self.woken.notify_one();
        let batch = st.tasks.notify_all();
        drop(st);
        batch
    }

    fn flags(&self) -> u8 {
        self.state.lock().flags
    }
}

/// Task wake-ups collected under the semaphore's lock, woken after it is released.
/// Allocates only when a task was granted.
#[must_use = "the granted tasks are woken only when `Wakes::wake` runs (or on drop)"]
#[derive(Default)]
struct Wakes(Vec<WakeBatch>);

impl Wakes {
    fn push(&mut self, batch: WakeBatch) {
        if !batch.is_empty() {
            self.0.push(batch);
        }
    }

    /// Wakes every batch. A panicking waker: every other batch is still woken (the rest
    /// of the vector is dropped while unwinding, and a dropped `WakeBatch` wakes), then
    /// the first panic continues.
    #[inline]
    fn wake(self) {
        if !self.0.is_empty() {
            wake_batches(self.0);
        }
    }
}

#[cold]
fn wake_batches(batches: Vec<WakeBatch>) {
    for batch in batches {
        batch.wake();
    }
}

const RELEASED_MORE: &str = "semaphore: released more than held";

impl Semaphore {
    /// Creates a semaphore with `size` weight free (Go's `NewWeighted`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// assert_eq!(sem.size(), 3);
    /// assert!(sem.try_acquire(3));
    /// assert!(!sem.try_acquire(1));
    /// ```
    pub fn new(size: u64) -> Semaphore {
        Semaphore {
            size,
            state: Mutex::new(State {
                cur: 0,
                waiters: BTreeMap::new(),
                next_id: 0,
            }),
        }
    }

    /// The total weight, as given to [`new`](Semaphore::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// assert_eq!(Semaphore::new(8).size(), 8);
    /// ```
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The weight free now (`size` minus the weight held): a snapshot that other
    /// threads may change at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(5);
    /// sem.acquire(2);
    /// assert_eq!(sem.available(), 3);
    /// # sem.release(2);
    /// ```
    pub fn available(&self) -> u64 {
        self.size - self.state.lock().cur
    }

    /// The number of acquirers queued (blocked in `acquire` or `acquire_context`): a
    /// snapshot that other threads may change at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// sem.acquire(1);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| sem.acquire(1));
    ///     while sem.waiters() == 0 {
    ///         std::thread::yield_now();
    ///     }
    ///     sem.release(1); // hands the weight to the waiter
    /// });
    /// assert_eq!(sem.waiters(), 0);
    /// # sem.release(1);
    /// ```
    pub fn waiters(&self) -> usize {
        self.state.lock().waiters.len()
    }

    /// Acquires weight `n`, blocking until it is free and every earlier waiter has been
    /// served (Go's `Acquire` with a context that is never done).
    ///
    /// # Panics
    ///
    /// If `n` exceeds the [`size`](Semaphore::size): the call could never return (Go's
    /// blocks forever). Nothing is changed then.
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
    ///     sem.acquire(1); // waits for the release
    /// });
    /// sem.release(1);
    /// ```
    #[track_caller]
    pub fn acquire(&self, n: u64) {
        if n > self.size {
            panic!(
                "semaphore: acquire of {n} exceeds the size {}: it could never succeed",
                self.size
            );
        }
        if let Err(e) = self.acquire_inner(None, n) {
            unreachable!("an acquire without a context cannot fail: {e}");
        }
    }

    /// Acquires weight `n`, blocking until it is free and every earlier waiter has been
    /// served, or until `ctx` is done (Go's `Acquire`).
    ///
    /// On success returns `Ok(())`; otherwise returns `ctx.err()` and leaves the
    /// semaphore unchanged. As Go's:
    ///
    /// * a context that is already done fails at once, even if the weight is free;
    /// * a waiter granted the weight while its context became done gives it back and
    ///   fails (the cancellation came first);
    /// * a waiter that gives up at the head of the queue wakes the waiters behind it that
    ///   now fit;
    /// * `n` larger than the size does not queue (it would block everyone behind it): it
    ///   waits for `ctx` to be done and fails then. With a context that is never done,
    ///   that is forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, Error};
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// sem.acquire(1);
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| cancel.cancel());
    ///     assert_eq!(sem.acquire_context(&ctx, 1), Err(Error::Canceled));
    /// });
    /// sem.release(1);
    /// ```
    pub fn acquire_context(&self, ctx: &Context, n: u64) -> Result<(), Error> {
        self.acquire_inner(Some(ctx), n)
    }

    fn acquire_inner(&self, ctx: Option<&Context>, n: u64) -> Result<(), Error> {
        let mut st = self.state.lock();
        // A context done before (or while we took the lock) fails even if the weight is
        // free: its cancellation happened before the acquire.
        if let Some(err) = ctx.and_then(Context::err) {
            return Err(err);
        }
        if self.size - st.cur >= n && st.waiters.is_empty() {
            st.cur += n;
            return Ok(());
        }
        if n > self.size {
            drop(st);
            // Doomed: waiting in the queue would block everyone behind it (Go: `<-done`).
            let ctx = ctx.expect("acquire checks the size before it gets here");
            ctx.wait();
            return Err(ctx.err().unwrap_or(Error::Canceled));
        }
        let waiter = Arc::new(Waiter::new(WakerList::new()));
        let id = st.next_id;
        st.next_id += 1;
        st.waiters.insert(
            id,
            Entry {
                n,
                waiter: Arc::clone(&waiter),
            },
        );
        drop(st);
        self.wait(ctx, id, n, &waiter)
    }

    #[cold]
    fn wait(
        &self,
        ctx: Option<&Context>,
        id: u64,
        n: u64,
        waiter: &Arc<Waiter>,
    ) -> Result<(), Error> {
        let hook = ctx.map(|ctx| {
            let waiter = Arc::clone(waiter);
            // A thread's waiter has no task to wake: the batch is empty.
            ctx.on_cancel(move || drop(waiter.wake(CANCELLED)))
        });
        let flags = {
            let mut st = waiter.state.lock();
            while st.flags == 0 {
                waiter.woken.wait(&mut st);
            }
            st.flags
        };
        drop(hook);
        let ctx_err = ctx.and_then(Context::err);
        if flags & GRANTED != 0 {
            // Granted. If the context is done too, the cancellation wins, as in Go: give
            // the weight back (waking whoever now fits) and fail.
            return match ctx_err {
                Some(err) => {
                    self.release(n);
                    Err(err)
                }
                None => Ok(()),
            };
        }
        // Cancelled before we saw a grant; a grant may still have raced in.
        let mut st = self.state.lock();
        // GRANTED is only set under the semaphore's lock, which we hold: this is exact.
        let granted = waiter.flags() & GRANTED != 0;
        let wakes = self.give_up(&mut st, id, n, granted);
        drop(st);
        wakes.wake();
        Err(ctx_err.unwrap_or(Error::Canceled))
    }

    /// A queued waiter (`id`, weight `n`) gives up, under the semaphore's lock: if it was
    /// `granted` (read under this lock, so exact) its weight is put back and handed on
    /// (Go: "pretend we didn't"); otherwise it leaves the queue, and if it was the head,
    /// the waiters behind it that now fit are served (Go's fix for a cancelled large
    /// waiter starving small ones).
    fn give_up(&self, st: &mut State, id: u64, n: u64, granted: bool) -> Wakes {
        if granted {
            st.cur -= n;
            return self.notify_waiters(st);
        }
        let was_head = st.waiters.keys().next() == Some(&id);
        st.waiters.remove(&id);
        if was_head && self.size > st.cur {
            self.notify_waiters(st)
        } else {
            Wakes::default()
        }
    }

    /// Acquires weight `n` if it is free and nobody is waiting, without blocking (Go's
    /// `TryAcquire`). Returns whether it did; on `false` nothing is changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(2);
    /// assert!(sem.try_acquire(1));
    /// assert!(sem.try_acquire(1));
    /// assert!(!sem.try_acquire(1));
    /// sem.release(2);
    /// ```
    pub fn try_acquire(&self, n: u64) -> bool {
        let mut st = self.state.lock();
        let ok = self.size - st.cur >= n && st.waiters.is_empty();
        if ok {
            st.cur += n;
        }
        ok
    }

    /// Gives back weight `n`, then serves the queue in order for as long as its head
    /// fits (Go's `Release`).
    ///
    /// # Panics
    ///
    /// With Go's message `semaphore: released more than held` if `n` is more than the
    /// weight held. Unlike Go (which leaves its counter negative), the semaphore is
    /// unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// sem.acquire(1);
    /// sem.release(1);
    /// let over = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release(1)));
    /// assert!(over.is_err());
    /// assert!(sem.try_acquire(1)); // unchanged by the bad release
    /// ```
    #[track_caller]
    pub fn release(&self, n: u64) {
        let mut st = self.state.lock();
        let Some(cur) = st.cur.checked_sub(n) else {
            drop(st);
            panic!("{RELEASED_MORE}");
        };
        st.cur = cur;
        if st.waiters.is_empty() {
            return; // nobody to serve: the uncontended release, one lock and no more
        }
        let wakes = self.notify_waiters(&mut st);
        drop(st);
        wakes.wake();
    }

    /// Grants the queue's head while it fits (Go's `notifyWaiters`): a head that does not
    /// fit blocks the rest, so a large waiter is never starved by small ones. Threads are
    /// woken at once; granted tasks are returned, to wake once the lock is released.
    #[inline]
    fn notify_waiters(&self, st: &mut State) -> Wakes {
        let mut wakes = Wakes::default();
        while let Some(entry) = st.waiters.first_entry() {
            let n = entry.get().n;
            if self.size - st.cur < n {
                break;
            }
            let Entry { waiter, .. } = entry.remove();
            st.cur += n;
            wakes.push(waiter.wake(GRANTED));
        }
        wakes
    }

    /// [`acquire`](Semaphore::acquire), returning a guard that releases `n` when dropped.
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(2);
    /// {
    ///     let guard = sem.acquire_guard(2);
    ///     assert_eq!(guard.weight(), 2);
    ///     assert!(!sem.try_acquire(1));
    /// }
    /// assert!(sem.try_acquire(2));
    /// ```
    #[track_caller]
    pub fn acquire_guard(&self, n: u64) -> SemaphoreGuard<'_> {
        self.acquire(n);
        SemaphoreGuard { sem: self, n }
    }

    /// [`acquire_context`](Semaphore::acquire_context), returning a guard that releases
    /// `n` when dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::background;
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let guard = sem.acquire_context_guard(&background(), 1).unwrap();
    /// drop(guard);
    /// assert!(sem.try_acquire(1));
    /// ```
    pub fn acquire_context_guard(
        &self,
        ctx: &Context,
        n: u64,
    ) -> Result<SemaphoreGuard<'_>, Error> {
        self.acquire_context(ctx, n)?;
        Ok(SemaphoreGuard { sem: self, n })
    }

    /// [`try_acquire`](Semaphore::try_acquire), returning a guard that releases `n` when
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let held = sem.try_acquire_guard(1).unwrap();
    /// assert!(sem.try_acquire_guard(1).is_none());
    /// drop(held);
    /// assert!(sem.try_acquire_guard(1).is_some());
    /// ```
    pub fn try_acquire_guard(&self, n: u64) -> Option<SemaphoreGuard<'_>> {
        // Lazily: an eagerly built guard would release on drop when the acquire failed.
        self.try_acquire(n).then(|| SemaphoreGuard { sem: self, n })
    }

    /// [`acquire_guard`](Semaphore::acquire_guard) for an `Arc`-shared semaphore: the
    /// guard owns a clone of the `Arc`, so it can move into a `'static` thread or task.
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let guard = sem.acquire_owned(1);
    /// std::thread::spawn(move || drop(guard)).join().unwrap();
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[track_caller]
    pub fn acquire_owned(self: &std::sync::Arc<Self>, n: u64) -> OwnedSemaphoreGuard {
        self.acquire(n);
        OwnedSemaphoreGuard {
            sem: std::sync::Arc::clone(self),
            n,
        }
    }

    /// [`try_acquire_guard`](Semaphore::try_acquire_guard) for an `Arc`-shared
    /// semaphore, returning an owned guard (see
    /// [`acquire_owned`](Semaphore::acquire_owned)).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(2));
    /// let held = sem.try_acquire_owned(2).unwrap();
    /// assert!(sem.try_acquire_owned(1).is_none());
    /// drop(held);
    /// assert!(sem.try_acquire_owned(1).is_some());
    /// ```
    pub fn try_acquire_owned(self: &std::sync::Arc<Self>, n: u64) -> Option<OwnedSemaphoreGuard> {
        self.try_acquire(n).then(|| OwnedSemaphoreGuard {
            sem: std::sync::Arc::clone(self),
            n,
        })
    }
}

// A panic never leaves the semaphore half-updated (see the crate's "Panic safety"), so
// it may be used across `catch_unwind` like a std `Mutex`.
impl std::panic::UnwindSafe for Semaphore {}
impl std::panic::RefUnwindSafe for Semaphore {}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Semaphore");
        d.field("size", &self.size);
        match self.state.try_lock() {
            Some(st) => {
                d.field("held", &st.cur).field("waiters", &st.waiters.len());
            }
            None => {
                d.field("state", &format_args!("<locked>"));
            }
        }
        d.finish()
    }
}

/// Weight held on a [`Semaphore`], released when dropped (also during unwinding).
///
/// Made by [`Semaphore::acquire_guard`], [`Semaphore::acquire_context_guard`] and
/// [`Semaphore::try_acquire_guard`].
///
/// # Examples
///
/// ```
/// use gosync_errgroup::Semaphore;
///
/// let sem = Semaphore::new(1);
/// let guard = sem.acquire_guard(1);
/// assert_eq!(guard.forget(), 1); // keep the weight; release it by hand
/// sem.release(1);
/// ```
#[must_use = "the weight is released when the guard is dropped; dropping it at once releases it"]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
    n: u64,
}

impl SemaphoreGuard<'_> {
    /// The weight this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(4);
    /// assert_eq!(sem.acquire_guard(3).weight(), 3);
    /// ```
    pub fn weight(&self) -> u64 {
        self.n
    }

    /// Keeps the weight acquired without releasing it, and returns it; release it later
    /// with [`Semaphore::release`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    ///
    /// let sem = Semaphore::new(2);
    /// let held = sem.acquire_guard(2).forget();
    /// assert_eq!(sem.available(), 0); // still held
    /// sem.release(held);
    /// ```
    pub fn forget(self) -> u64 {
        let n = self.n;
        std::mem::forget(self);
        n
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard")
            .field("weight", &self.n)
            .field("sem", self.sem)
            .finish()
    }
}

/// Weight held on an `Arc`-shared [`Semaphore`], released when dropped (also during
/// unwinding): the owned form of [`SemaphoreGuard`], `'static`, so it can move into a
/// spawned thread or task.
///
/// Made by [`Semaphore::acquire_owned`], [`Semaphore::try_acquire_owned`] and
/// [`Semaphore::acquire_owned_async`].
///
/// # Examples
///
/// ```
/// use gosync_errgroup::Semaphore;
/// use std::sync::Arc;
///
/// let sem = Arc::new(Semaphore::new(3));
/// let guard = sem.acquire_owned(2);
/// assert_eq!(guard.weight(), 2);
/// assert!(Arc::ptr_eq(guard.semaphore(), &sem));
/// assert_eq!(guard.forget(), 2); // keep the weight; release it by hand
/// sem.release(2);
/// ```
#[must_use = "the weight is released when the guard is dropped; dropping it at once releases it"]
pub struct OwnedSemaphoreGuard {
    sem: std::sync::Arc<Semaphore>,
    n: u64,
}

impl OwnedSemaphoreGuard {
    /// The weight this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(4));
    /// assert_eq!(sem.acquire_owned(3).weight(), 3);
    /// ```
    pub fn weight(&self) -> u64 {
        self.n
    }

    /// The semaphore this guard holds weight on.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(2));
    /// let guard = sem.acquire_owned(1);
    /// assert_eq!(guard.semaphore().available(), 1);
    /// ```
    pub fn semaphore(&self) -> &std::sync::Arc<Semaphore> {
        &self.sem
    }

    /// Keeps the weight acquired without releasing it, and returns it; release it later
    /// with [`Semaphore::release`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Semaphore;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(2));
    /// let held = sem.acquire_owned(2).forget();
    /// assert_eq!(sem.available(), 0); // still held
    /// sem.release(held);
    /// ```
    pub fn forget(mut self) -> u64 {
        // The guard drops (and with it the `Arc`) holding no weight.
        std::mem::take(&mut self.n)
    }
}

impl Drop for OwnedSemaphoreGuard {
    fn drop(&mut self) {
        // A release of 0 changes nothing (the queue's head does not fit, invariant 3).
        if self.n != 0 {
            self.sem.release(self.n);
        }
    }
}

impl fmt::Debug for OwnedSemaphoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphoreGuard")
            .field("weight", &self.n)
            .field("sem", &*self.sem)
            .finish()
    }
}
