//! `Group`: Go's `errgroup.Group` — run tasks on threads, wait for all of them, keep the
//! first error, cancel a shared context on it, and optionally limit how many run at once.
//!
//! Locks: one per group (`Inner::state`), never held while user code runs. The
//! `WaitGroup` counts spawned tasks; the state counts the limit's slots and keeps the
//! round's first error and panic.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use gosync_context::{with_cancel_cause, CancelCauseFunc, Cause, Context};
use gosync_core::sync::{Arc, Condvar, Mutex};
use gosync_core::waiters::{WaiterKey, WakerList};
use gosync_waitgroup::{WaitAsync, WaitGroup};

use crate::panic::{message, TaskPanicked};

/// A collection of threads working on subtasks of one task (Go's `errgroup.Group`).
///
/// [`go`](Group::go) runs a closure returning `Result<(), E>` on a new thread;
/// [`wait`](Group::wait) blocks until every task has returned and gives back the first
/// error. A group made by [`with_context`](Group::with_context) also cancels a derived
/// [`Context`] with that error as its cause, so the other tasks can stop early.
/// [`set_limit`](Group::set_limit) bounds how many tasks run at once: `go` then blocks
/// for a free slot and [`try_go`](Group::try_go) refuses instead.
///
/// A `Group` is a handle: clones share the same group, so a task can start more tasks
/// (`g.clone()` moved into it). Closures that borrow from the caller's stack use
/// [`go_scoped`](Group::go_scoped) inside [`std::thread::scope`].
///
/// # Examples
///
/// ```
/// use gosync_context::background;
/// use gosync_errgroup::Group;
/// use std::sync::Arc;
///
/// // `Arc<io::Error>` is an error that is `Clone`, as the context's cause needs.
/// let (g, ctx) = Group::with_context(&background());
/// g.set_limit(2); // at most two fetches at a time
/// for page in 0..5 {
///     let ctx = ctx.clone();
///     g.go(move || {
///         if ctx.is_done() {
///             return Ok(()); // another page failed: stop early
///         }
///         if page == 3 {
///             return Err(Arc::new(std::io::Error::other(format!("page {page} is missing"))));
///         }
///         Ok(())
///     });
/// }
/// let err = g.wait().unwrap_err();
/// assert_eq!(err.to_string(), "page 3 is missing");
/// // The context was cancelled with the first error as its cause.
/// assert_eq!(ctx.cause().unwrap().to_string(), "page 3 is missing");
/// ```
///
/// # Panics
///
/// A task that panics does not take the process or the group down: its thread catches
/// the panic, gives its limit slot back and counts as finished, the group's context (if
/// any) is cancelled with a [`TaskPanicked`] cause (unless an earlier error or panic
/// cancelled it already), and the other tasks run on. [`wait`](Group::wait) still waits
/// for every task, then resumes the **first** panic on the waiting thread (as joining a
/// panicked thread, or leaving a [`std::thread::scope`], does); the first error, if any,
/// is dropped then. `wait` never hangs because a task panicked.
pub struct Group<E> {
    inner: Arc<Inner<E>>,
}

struct Inner<E> {
    /// Counts tasks from just before their thread is spawned until they have finished
    /// (error recorded, slot given back). Go's `wg`.
    wg: WaitGroup,
    state: Mutex<State<E>>,
    /// Signalled when a slot of the current limit is given back or the limit changes;
    /// `go` waits on it for a slot.
    slot_freed: Condvar,
    /// With a context: the function that cancels it and the conversion of an error
    /// into its cause.
    cancel: Option<Canceller<E>>,
}

/// The cancel function of a group's context and the conversion of an error into its
/// cause.
type Canceller<E> = (CancelCauseFunc, fn(&E) -> Cause);

struct State<E> {
    /// `None`: no limit (Go's nil `sem`).
    limit: Option<usize>,
    /// Tasks holding a slot of the current limit (Go's `len(sem)`).
    active: usize,
    /// Bumped by every `set_limit`: a task started under an older limit gives its slot
    /// back to nobody (Go's goroutines drain the channel that is current when they end,
    /// which can be a newer one; see "Differences from Go").
    generation: u64,
    /// Set by the round's first error (Go's `errOnce`), before its cause is made.
    err_claimed: bool,
    /// The first error of the current round (Go's `err`); `wait` takes it.
    err: Option<E>,
    /// The first panic of the current round; `wait` resumes it.
    panic: Option<Box<dyn Any + Send>>,
    /// Tasks in `go_async` waiting for a slot (the async side of `slot_freed`): every
    /// freed slot and limit change notifies them all, and each re-checks.
    slot_tasks: WakerList,
}

const LIMIT_ZERO: &str =
    "errgroup: go with a limit of 0 would block forever (set_limit(0) admits no task; use try_go)";

impl<E> Group<E> {
    /// Creates a group with no context and no limit (Go's zero `Group`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let g = Group::<String>::new();
    /// g.go(|| Ok(()));
    /// g.go(|| Err("failed".to_string()));
    /// assert_eq!(g.wait(), Err("failed".to_string()));
    /// ```
    pub fn new() -> Group<E> {
        Group::build(None)
    }

    /// [`with_context`](Group::with_context) for an error type that is not `Clone`:
    /// `to_cause` turns the first error into the context's cause (it is called once,
    /// with the error that [`wait`](Group::wait) will return).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::background;
    /// use gosync_errgroup::Group;
    /// use std::sync::Arc;
    ///
    /// let (g, ctx) = Group::with_context_map(&background(), |e: &std::io::Error| {
    ///     Arc::new(std::io::Error::new(e.kind(), e.to_string()))
    /// });
    /// g.go(|| Err(std::io::Error::other("disk full")));
    /// assert_eq!(g.wait().unwrap_err().to_string(), "disk full");
    /// assert_eq!(ctx.cause().unwrap().to_string(), "disk full");
    /// ```
    pub fn with_context_map(ctx: &Context, to_cause: fn(&E) -> Cause) -> (Group<E>, Context) {
        let (ctx, cancel) = with_cancel_cause(ctx);
        (Group::build(Some((cancel, to_cause))), ctx)
    }

    fn build(cancel: Option<Canceller<E>>) -> Group<E> {
        Group {
            inner: Arc::new(Inner {
                wg: WaitGroup::new(),
                state: Mutex::new(State {
                    limit: None,
                    active: 0,
                    generation: 0,
                    err_claimed: false,
                    err: None,
                    panic: None,
                    slot_tasks: WakerList::new(),
                }),
                slot_freed: Condvar::new(),
                cancel,
            }),
        }
    }

    /// Limits the number of tasks running at once to `n`; a negative `n` removes the
    /// limit (Go's `SetLimit`).
    ///
    /// With a limit, [`go`](Group::go) blocks until a task finishes and
    /// [`try_go`](Group::try_go) returns `false`. A limit of 0 admits no task:
    /// `try_go` always refuses and `go` panics (Go's would block forever).
    ///
    /// # Panics
    ///
    /// With Go's message, `errgroup: modify limit while N goroutines in the group are
    /// still active`, if a limit is set and `N > 0` tasks started under it are still
    /// running; the limit is unchanged then. Removing the limit (`n < 0`) never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let g = Group::<()>::new();
    /// g.set_limit(1);
    /// let (release, gate) = std::sync::mpsc::channel::<()>();
    /// assert!(g.try_go(move || Ok(gate.recv().unwrap())));
    /// assert!(!g.try_go(|| Ok(()))); // the one slot is taken
    /// release.send(()).unwrap();
    /// g.wait().unwrap();
    /// assert!(g.try_go(|| Ok(())));
    /// # g.wait().unwrap();
    /// ```
    #[track_caller]
    pub fn set_limit(&self, n: isize) {
        let mut st = self.inner.state.lock();
        if n >= 0 && st.limit.is_some() && st.active != 0 {
            let active = st.active;
            drop(st);
            panic!(
                "errgroup: modify limit while {active} goroutines in the group are still active"
            );
        }
        st.limit = usize::try_from(n).ok();
        st.active = 0;
        st.generation = st.generation.wrapping_add(1);
        let tasks = st.slot_tasks.notify_all();
        drop(st);
        // Blocked `go` calls and waiting `go_async` tasks re-check against the new limit.
        self.inner.slot_freed.notify_all();
        tasks.wake();
    }

    /// Takes a slot of the limit: `Some(None)` without a limit, `Some(Some(gen))` for a
    /// slot of generation `gen`, `None` if `blocking` is false and none is free.
    fn acquire_slot(&self, blocking: bool) -> Option<Option<u64>> {
        let mut st = self.inner.state.lock();
        loop {
            match st.limit {
                None => return Some(None),
                Some(limit) if st.active < limit => {
                    st.active += 1;
                    return Some(Some(st.generation));
                }
                Some(0) if blocking => {
                    drop(st);
                    panic!("{LIMIT_ZERO}");
                }
                Some(_) if blocking => self.inner.slot_freed.wait(&mut st),
                Some(_) => return None,
            }
        }
    }

    /// Hands the first error and the first panic of the round to the waiter, then
    /// cancels the context (Go: `cancel(g.err)` in `Wait`).
    fn finish_round(&self) -> Result<(), E> {
        let (err, panic) = {
            let mut st = self.inner.state.lock();
            st.err_claimed = false;
            (st.err.take(), st.panic.take())
        };
        if let Some((cancel, _)) = &self.inner.cancel {
            // The first error (or panic) already cancelled the context with its cause;
            // otherwise the cause is `Canceled`, as Go's `cancel(nil)`.
            cancel.cancel_with(None);
        }
        if let Some(payload) = panic {
            drop(err);
            resume_unwind(payload);
        }
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Blocks until every task started by [`go`](Group::go), [`try_go`](Group::try_go)
    /// or [`go_scoped`](Group::go_scoped) has returned, then returns the first error
    /// (Go's `Wait`), and cancels the group's context (with the first error as its
    /// cause, or `Canceled` if there was none).
    ///
    /// The error is handed over: the group starts a new round, and a later `wait`
    /// returns `Ok(())` unless a task started after this one fails. (Go returns the
    /// same error from every `Wait`.)
    ///
    /// # Panics
    ///
    /// If a task panicked, `wait` resumes the first panic once every task has returned
    /// (see [the type's docs](Group#panics)). Calling `go` from outside the group's
    /// tasks while `wait` is running can hit the `WaitGroup`'s misuse panic
    /// (`sync: WaitGroup misuse: Add called concurrently with Wait`), as in Go.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let g = Group::<&str>::new();
    /// g.go(|| Err("first"));
    /// assert_eq!(g.wait(), Err("first"));
    /// assert_eq!(g.wait(), Ok(())); // the error was handed over
    /// ```
    pub fn wait(&self) -> Result<(), E> {
        self.inner.wg.wait();
        self.finish_round()
    }

    /// Waits, as a future, until every task has returned, then returns the first error
    /// and cancels the group's context: the async twin of [`wait`](Group::wait), with the
    /// same first-error semantics (the error is handed over; the next round starts).
    ///
    /// The future waits on the group's [`WaitGroup`] through
    /// [`WaitGroup::wait_async`]: threads in `wait` and tasks in `wait_async` are released
    /// by the same last task. It is runtime-agnostic, `Unpin`, and `Send` when `E` is. It
    /// borrows the group; since a `Group` is a handle, move a clone into a spawned task
    /// (`let g = g.clone(); spawn(async move { g.wait_async().await })`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes loses nothing: its registration in the
    /// `WaitGroup` is withdrawn, and the round's error (and panic) stay in the group for
    /// the next `wait` or `wait_async`. The round is finished (error taken, context
    /// cancelled) only in the poll that returns `Ready`.
    ///
    /// # Panics
    ///
    /// As [`wait`](Group::wait): the first task panic is resumed out of the poll that
    /// completes the wait. Polling again after completion panics (the round's outcome was
    /// handed out).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let g = Group::<&str>::new();
    /// g.go(|| Ok(()));
    /// g.go(|| Err("failed"));
    /// // Any executor: here the `futures` crate's `block_on`.
    /// assert_eq!(futures::executor::block_on(g.wait_async()), Err("failed"));
    /// assert_eq!(futures::executor::block_on(g.wait_async()), Ok(())); // handed over
    /// ```
    pub fn wait_async(&self) -> GroupWaitAsync<'_, E> {
        GroupWaitAsync {
            group: self,
            wait: Some(self.inner.wg.wait_async()),
        }
    }
}

/// The future of [`Group::go_async`]: completes once `f` is running on its thread.
///
/// `Unpin` (the closure is never pinned), `Send` when `E` and `F` are, and cancel-safe
/// (see [`Group::go_async`]).
#[must_use = "futures do nothing unless polled: the task is not started"]
pub struct GoAsync<'a, E, F> {
    group: &'a Group<E>,
    /// Taken when the task starts.
    f: Option<F>,
    /// The task's entry in the group's `slot_tasks`, while it waits for a slot.
    key: Option<WaiterKey>,
}

// The closure is only moved out by value, never pinned in place.
impl<E, F> Unpin for GoAsync<'_, E, F> {}

impl<E, F> Future for GoAsync<'_, E, F>
where
    E: Send + 'static,
    F: FnOnce() -> Result<(), E> + Send + 'static,
{
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        assert!(
            this.f.is_some(),
            "errgroup: go_async polled after it started its task"
        );
        // User code, before the lock: a panicking clone leaves the group as it was.
        let waker = cx.waker().clone();
        let mut st = this.group.inner.state.lock();
        // Each poll re-checks and re-registers: a wake-up is a hint, not a slot.
        let old = this.key.take().map(|key| st.slot_tasks.remove(key));
        let slot = match st.limit {
            None => Some(None),
            Some(limit) if st.active < limit => {
                st.active += 1;
                Some(Some(st.generation))
            }
            Some(0) => {
                drop(st);
                panic!("{LIMIT_ZERO}");
            }
            Some(_) => None,
        };
        let Some(slot) = slot else {
            // In the critical section that found no slot: a release after it sees us.
            this.key = Some(st.slot_tasks.insert(waker));
            drop(st);
            drop(old); // user code: dropped with no lock held
            return Poll::Pending;
        };
        drop(st);
        drop((old, waker));
        let f = this.f.take().expect("checked above");
        this.group.spawn(slot, f);
        Poll::Ready(())
    }
}

impl<E, F> Drop for GoAsync<'_, E, F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let removed = self.group.inner.state.lock().slot_tasks.remove(key);
            drop(removed); // user code: dropped with no lock held
        }
    }
}

impl<E, F> fmt::Debug for GoAsync<'_, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoAsync")
            .field("group", self.group)
            .field("started", &self.f.is_none())
            .field("waiting_for_a_slot", &self.key.is_some())
            .finish()
    }
}

/// The future of [`Group::wait_async`]: completes with the round's first error once
/// every task has returned.
///
/// `Unpin`, `Send` when `E` is, and cancel-safe (see [`Group::wait_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct GroupWaitAsync<'a, E> {
    group: &'a Group<E>,
    /// `None` once completed.
    wait: Option<WaitAsync<'a>>,
}

impl<E> Future for GroupWaitAsync<'_, E> {
    type Output = Result<(), E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), E>> {
        let this = &mut *self;
        let wait = this
            .wait
            .as_mut()
            .expect("errgroup: wait_async polled after it completed");
        if Pin::new(wait).poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.wait = None;
        // The WaitGroup's release happened-before (every task's `done`, after it recorded
        // its error or panic): the round is over, exactly as after a blocking `wait`.
        Poll::Ready(this.group.finish_round())
    }
}

impl<E> fmt::Debug for GroupWaitAsync<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupWaitAsync")
            .field("group", self.group)
            .field("completed", &self.wait.is_none())
            .finish()
    }
}

impl<E: std::error::Error + Clone + Send + Sync + 'static> Group<E> {
    /// Creates a group and a context derived from `ctx` that is cancelled the first time
    /// a task returns an error (with a clone of that error as its
    /// [`cause`](Context::cause)) or when [`wait`](Group::wait) returns, whichever comes
    /// first (Go's `WithContext`, which uses `WithCancelCause`).
    ///
    /// For error types that are not `Clone` (`std::io::Error`, boxed errors), use
    /// [`with_context_map`](Group::with_context_map), or an `Arc<YourError>` as `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, Error};
    /// use gosync_errgroup::Group;
    ///
    /// #[derive(Debug, Clone, PartialEq)]
    /// struct NotFound(u32);
    /// impl std::fmt::Display for NotFound {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         write!(f, "item {} not found", self.0)
    ///     }
    /// }
    /// impl std::error::Error for NotFound {}
    ///
    /// let (g, ctx) = Group::with_context(&background());
    /// g.go(|| Err(NotFound(7)));
    /// assert_eq!(g.wait(), Err(NotFound(7)));
    /// assert_eq!(ctx.err(), Some(Error::Canceled));
    /// assert_eq!(ctx.cause().unwrap().downcast_ref::<NotFound>(), Some(&NotFound(7)));
    /// ```
    pub fn with_context(ctx: &Context) -> (Group<E>, Context) {
        Group::with_context_map(ctx, clone_cause::<E>)
    }
}

fn clone_cause<E: std::error::Error + Clone + Send + Sync + 'static>(e: &E) -> Cause {
    // A `Cause` is a std `Arc` in every build (not the loom switch's).
    std::sync::Arc::new(e.clone())
}

impl<E: Send + 'static> Group<E> {
    /// Runs `f` on a new thread (Go's `Go`).
    ///
    /// With a limit ([`set_limit`](Group::set_limit)), blocks first until fewer than
    /// the limit of the group's tasks are running. (As in Go, a task that calls `go` on
    /// its own group while the limit is reached waits for a slot that it itself holds if
    /// every running task does the same: start tasks from outside, or use
    /// [`try_go`](Group::try_go), in such designs.) The first task to return an error
    /// cancels the group's context, if any; [`wait`](Group::wait) returns that error.
    ///
    /// # Panics
    ///
    /// If the limit is 0 (the call could never proceed), or if the OS refuses to spawn
    /// a thread (`errgroup: failed to spawn a thread: ...`; the slot is given back
    /// first). A panic **inside** `f` does not panic here: see
    /// [the type's docs](Group#panics).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let g = Group::<()>::new();
    /// let sum = Arc::new(AtomicUsize::new(0));
    /// for i in 1..=4 {
    ///     let sum = Arc::clone(&sum);
    ///     g.go(move || {
    ///         sum.fetch_add(i, Ordering::Relaxed);
    ///         Ok(())
    ///     });
    /// }
    /// g.wait().unwrap();
    /// assert_eq!(sum.load(Ordering::Relaxed), 10);
    /// ```
    #[track_caller]
    pub fn go<F>(&self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let Some(slot) = self.acquire_slot(true) else {
            unreachable!("a blocking acquire returns a slot");
        };
        self.spawn(slot, f);
    }

    /// Runs `f` on a new thread only if that keeps the number of running tasks within
    /// the limit, and reports whether it did (Go's `TryGo`).
    ///
    /// # Panics
    ///
    /// If the OS refuses to spawn a thread, as [`go`](Group::go).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let g = Group::<()>::new();
    /// g.set_limit(0);
    /// assert!(!g.try_go(|| Ok(()))); // a limit of 0 admits nothing
    /// g.set_limit(-1);
    /// assert!(g.try_go(|| Ok(())));
    /// g.wait().unwrap();
    /// ```
    #[track_caller]
    pub fn try_go<F>(&self, f: F) -> bool
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        match self.acquire_slot(false) {
            Some(slot) => {
                self.spawn(slot, f);
                true
            }
            None => false,
        }
    }

    /// [`go`](Group::go) as a future: waits, without blocking the thread, for a slot of
    /// the limit, then runs `f` on a new thread and completes. Without a limit (or with a
    /// free slot) it completes on its first poll.
    ///
    /// Threads blocked in `go` and tasks waiting in `go_async` compete for freed slots:
    /// each freed slot wakes one thread and every waiting task, and whoever comes first
    /// takes it (the others wait again); neither kind is starved of a wake-up.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops `f` unrun and leaves no
    /// registration: the slot is taken and the thread spawned in the poll that
    /// completes, never before.
    ///
    /// # Panics
    ///
    /// When polled with a limit of 0 (it could never proceed), as `go` does; if the OS
    /// refuses to spawn a thread; and if polled again after it completed. As with `go`,
    /// starting a task from outside the group's tasks while a blocking
    /// [`wait`](Group::wait) runs can hit the `WaitGroup`'s misuse panic. A waker that
    /// panics in `clone` panics out of `poll` with the group unchanged; one that panics
    /// in `wake` does so in the task end (or `set_limit`) that freed the slot, after the
    /// slot was given back and every other waiter woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let g = Group::<u32>::new();
    /// g.set_limit(2);
    /// futures::executor::block_on(async {
    ///     for i in 0..6 {
    ///         // Waits for one of the two slots without blocking the executor's thread.
    ///         g.go_async(move || if i == 4 { Err(i) } else { Ok(()) }).await;
    ///     }
    ///     assert_eq!(g.wait_async().await, Err(4));
    /// });
    /// ```
    pub fn go_async<F>(&self, f: F) -> GoAsync<'_, E, F>
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        GoAsync {
            group: self,
            f: Some(f),
            key: None,
        }
    }

    #[track_caller]
    fn spawn<F>(&self, slot: Option<u64>, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let task = self.task(slot);
        #[cfg(not(loom))]
        {
            if let Err(e) = std::thread::Builder::new().spawn(move || task.run(f)) {
                // The closure, and with it the task's guard, was dropped: the slot and
                // the WaitGroup count are given back.
                panic!("errgroup: failed to spawn a thread: {e}");
            }
        }
        #[cfg(loom)]
        {
            drop(gosync_core::sync::thread::spawn(move || task.run(f)));
        }
    }
}

impl<E: Send> Group<E> {
    /// [`go`](Group::go) for a closure that borrows from the caller's stack: the task
    /// runs on a thread of `scope` ([`std::thread::scope`]).
    ///
    /// Call [`wait`](Group::wait) before the scope ends to get the first error (the
    /// scope joins the threads anyway, but the error and any panic stay in the group
    /// until a `wait`).
    ///
    /// # Panics
    ///
    /// As [`go`](Group::go).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let pages = vec!["a", "bb", "", "dddd"];
    /// let g = Group::new();
    /// g.set_limit(2);
    /// let result = std::thread::scope(|s| {
    ///     for (i, page) in pages.iter().enumerate() {
    ///         g.go_scoped(s, move || if page.is_empty() { Err(i) } else { Ok(()) });
    ///     }
    ///     g.wait()
    /// });
    /// assert_eq!(result, Err(2));
    /// ```
    #[cfg(not(loom))]
    #[track_caller]
    pub fn go_scoped<'scope, 'env, F>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        f: F,
    ) where
        F: FnOnce() -> Result<(), E> + Send + 'scope,
    {
        let Some(slot) = self.acquire_slot(true) else {
            unreachable!("a blocking acquire returns a slot");
        };
        self.spawn_scoped(scope, slot, f);
    }

    /// [`try_go`](Group::try_go) for a closure that borrows from the caller's stack, as
    /// [`go_scoped`](Group::go_scoped).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::Group;
    ///
    /// let g = Group::<()>::new();
    /// g.set_limit(1);
    /// let hits = std::sync::atomic::AtomicUsize::new(0);
    /// std::thread::scope(|s| {
    ///     let mut started = 0;
    ///     for _ in 0..3 {
    ///         if g.try_go_scoped(s, || {
    ///             hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///             Ok(())
    ///         }) {
    ///             started += 1;
    ///         }
    ///     }
    ///     g.wait().unwrap();
    ///     assert_eq!(hits.load(std::sync::atomic::Ordering::Relaxed), started);
    /// });
    /// ```
    #[cfg(not(loom))]
    #[track_caller]
    pub fn try_go_scoped<'scope, 'env, F>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        f: F,
    ) -> bool
    where
        F: FnOnce() -> Result<(), E> + Send + 'scope,
    {
        match self.acquire_slot(false) {
            Some(slot) => {
                self.spawn_scoped(scope, slot, f);
                true
            }
            None => false,
        }
    }

    #[cfg(not(loom))]
    #[track_caller]
    fn spawn_scoped<'scope, 'env, F>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        slot: Option<u64>,
        f: F,
    ) where
        F: FnOnce() -> Result<(), E> + Send + 'scope,
    {
        let task = self.task(slot);
        if let Err(e) = std::thread::Builder::new().spawn_scoped(scope, move || task.run(f)) {
            panic!("errgroup: failed to spawn a thread: {e}");
        }
    }

    /// Counts a task that holds `slot` (Go: `wg.Add(1)` after taking the token).
    fn task(&self, slot: Option<u64>) -> Task<E> {
        // A guard for the slot alone while `add` runs: `add` can panic (counter overflow,
        // misuse), and the slot must not leak then.
        let slot_guard = SlotGuard {
            inner: &self.inner,
            slot,
        };
        self.inner.wg.add(1);
        std::mem::forget(slot_guard);
        Task {
            inner: Arc::clone(&self.inner),
            slot,
        }
    }
}

/// Gives a slot back if `WaitGroup::add` panics before the task owns it.
struct SlotGuard<'a, E> {
    inner: &'a Inner<E>,
    slot: Option<u64>,
}

impl<E> Drop for SlotGuard<'_, E> {
    fn drop(&mut self) {
        self.inner.release_slot(self.slot);
    }
}

/// A started task: when dropped (returned, panicked, or never spawned), gives its slot
/// back and marks the task done (Go's `g.done()`).
struct Task<E> {
    inner: Arc<Inner<E>>,
    slot: Option<u64>,
}

impl<E> Task<E> {
    fn run<F: FnOnce() -> Result<(), E>>(self, f: F) {
        let inner = &*self.inner;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Err(e) = f() {
                inner.record_error(e);
            }
        }));
        if let Err(payload) = outcome {
            inner.record_panic(payload);
        }
        // `self` drops here: the slot is given back, then the task is done.
    }
}

impl<E> Drop for Task<E> {
    fn drop(&mut self) {
        self.inner.release_slot(self.slot);
        self.inner.wg.done();
    }
}

impl<E> Inner<E> {
    fn release_slot(&self, slot: Option<u64>) {
        let Some(generation) = slot else { return };
        let mut st = self.state.lock();
        if st.generation == generation {
            st.active -= 1;
            if st.slot_tasks.waiting() != 0 {
                // Every waiting task re-checks (a task's wake-up is not a permit: whoever
                // polls first takes the slot, and a woken thread that loses sleeps again).
                let tasks = st.slot_tasks.notify_all();
                drop(st);
                self.slot_freed.notify_one();
                tasks.wake();
                return;
            }
            drop(st);
            self.slot_freed.notify_one();
        }
    }

    /// Keeps `e` if it is the round's first error and cancels the context with it
    /// (Go's `errOnce.Do`).
    fn record_error(&self, e: E) {
        let mut st = self.state.lock();
        if st.err_claimed {
            drop(st);
            drop(e); // a later error is dropped, outside the lock (its Drop is user code)
            return;
        }
        st.err_claimed = true;
        drop(st);
        // User code (the error's conversion into a cause) runs with no lock held. A panic
        // here leaves the round's error slot claimed but empty: the task records that
        // panic instead, and `wait` resumes it.
        let cause = self.cancel.as_ref().map(|(_, to_cause)| to_cause(&e));
        self.state.lock().err = Some(e);
        if let (Some((cancel, _)), Some(cause)) = (&self.cancel, cause) {
            cancel.cancel_with(Some(cause));
        }
    }

    /// Keeps the round's first panic and cancels the context (if no error or panic did
    /// yet) with a [`TaskPanicked`] cause.
    fn record_panic(&self, payload: Box<dyn Any + Send>) {
        let text = message(&*payload);
        {
            let mut st = self.state.lock();
            if st.panic.is_none() {
                st.panic = Some(payload);
            }
            // A later panic's payload is dropped here; payloads are `&str` or `String`
            // in practice, whose drop cannot panic.
        }
        if let Some((cancel, _)) = &self.cancel {
            // The cancel runs the context's hooks; a panic among them must not escape the
            // task's thread (the group would not learn of it), so it is dropped.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                cancel.cancel(TaskPanicked::new(text));
            }));
        }
    }
}

// A panic never leaves the group half-updated (see the crate's "Panic safety"): it may
// be used across `catch_unwind`, like a std `Mutex`.
impl<E> std::panic::UnwindSafe for Group<E> {}
impl<E> std::panic::RefUnwindSafe for Group<E> {}

impl<E> Clone for Group<E> {
    /// Another handle to the same group.
    fn clone(&self) -> Group<E> {
        Group {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> Default for Group<E> {
    fn default() -> Group<E> {
        Group::new()
    }
}

impl<E> fmt::Debug for Group<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Group");
        d.field("tasks", &self.inner.wg.count());
        match self.inner.state.try_lock() {
            Some(st) => {
                d.field("limit", &st.limit)
                    .field("active", &st.active)
                    .field("failed", &st.err.is_some())
                    .field("panicked", &st.panic.is_some());
                if !st.slot_tasks.is_empty() {
                    d.field("go_async_waiting", &st.slot_tasks.len());
                }
            }
            None => {
                d.field("state", &format_args!("<locked>"));
            }
        }
        d.field("context", &self.inner.cancel.is_some()).finish()
    }
}
