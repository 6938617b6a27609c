//! `Once`: run a function exactly once, with Go's panic semantics.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use gosync_core::sync::atomic::{AtomicU8, Ordering::*};
use gosync_core::sync::{thread, Condvar, Mutex};
use gosync_core::waiters::{WaiterKey, WakerList};

// DONE is zero so the fast path is a load and a `test` (as in std's `Once`).
pub(crate) const DONE: u8 = 0;
const INCOMPLETE: u8 = 1;
const RUNNING: u8 = 2;
/// Done, and the function panicked: set only through [`Once::call_once_marking`] (for
/// [`OnceValue`](crate::OnceValue), whose fast path is then the one `== DONE` test, with no
/// second load to tell a value from a panic). A plain `call_once` stores DONE even when
/// its function panics (Go's semantics), so its fast path stays fast after a panic.
pub(crate) const DONE_PANICKED: u8 = 3;

/// Performs exactly one action, like Go's `sync.Once`.
///
/// The first [`call_once`](Once::call_once) runs its function; every other call, from any
/// thread, returns only after that function has finished, without running its own.
///
/// **Go semantics on panic:** if the function panics, the panic propagates to the caller
/// that ran it, and the `Once` counts as done anyway: later calls return at once without
/// running anything, and concurrent callers blocked on it are released normally. std's
/// `Once` instead *poisons* itself and makes every later call panic. Use
/// [`once_func`](crate::once_func) for "panic again on every call" (Go's `OnceFunc`).
///
/// # Examples
///
/// ```
/// use gosync_once::Once;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static INIT: Once = Once::new();
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| INIT.call_once(|| { CALLS.fetch_add(1, Ordering::Relaxed); }));
///     }
/// });
/// assert_eq!(CALLS.load(Ordering::Relaxed), 1);
/// assert!(INIT.is_done());
/// ```
///
/// # Recursion
///
/// Calling `call_once` on the same `Once` from inside its own function would deadlock in
/// Go. Here it panics with `sync: Once.call_once called recursively from within its own
/// function` (the detection costs nothing on the fast path). A cycle through two `Once`s
/// on two threads still deadlocks, as with any pair of locks.
pub struct Once {
    state: AtomicU8,
    /// The thread running the function, for the recursion check, and the tasks waiting
    /// in [`wait_async`](Once::wait_async); blocking waiters sleep on `cv`.
    runner: Mutex<Runner>,
    cv: Condvar,
}

impl Once {
    gosync_core::const_fn_unless_loom! {
        /// Creates a `Once` that has not run yet.
        pub fn new() -> Once {
            Once {
                state: AtomicU8::new(INCOMPLETE),
                runner: Mutex::new(Runner { thread: None, tasks: WakerList::new() }),
                cv: Condvar::new(),
            }
        }
    }

    /// Runs `f` if no call on this `Once` has run its function yet; otherwise waits until
    /// that function has finished. Go's `Once.Do`.
    ///
    /// When `call_once` returns, the function has finished (normally or by panicking), and
    /// everything it wrote is visible to the caller.
    ///
    /// # Panics
    ///
    /// Propagates a panic of `f` to this caller (the `Once` still counts as done), and
    /// panics if called recursively from inside `f` on the same thread. If `f` does not
    /// run, it is dropped in this call: a panic in its `Drop` reaches this caller only.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_once::Once;
    ///
    /// let once = Once::new();
    /// let mut runs = 0;
    /// once.call_once(|| runs += 1);
    /// once.call_once(|| runs += 1);
    /// assert_eq!(runs, 1);
    /// ```
    #[inline]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        // Acquire pairs with the Release store of DONE in `Finish::drop`: the function's
        // writes are visible once we see DONE.
        if self.state.load(Acquire) == DONE {
            return;
        }
        let mut f = Some(f);
        self.call_once_slow(
            &mut || {
                (f.take().expect("run at most once"))();
                DONE
            },
            DONE,
        );
    }

    /// Like `call_once`, for [`OnceValue`](crate::OnceValue): the function returns the
    /// done state to store (DONE, or DONE_PANICKED when it caught a panic of the user's
    /// function), and DONE_PANICKED is stored if it unwinds.
    #[inline]
    pub(crate) fn call_once_marking(&self, f: &mut dyn FnMut() -> u8) {
        self.call_once_slow(f, DONE_PANICKED);
    }

    /// Whether a function has run on this `Once` and did not panic (the state is DONE);
    /// `false` also while it is DONE_PANICKED. Acquire, as in `is_done`.
    #[inline]
    pub(crate) fn is_done_ok(&self) -> bool {
        self.state.load(Acquire) == DONE
    }

    /// Whether a function has run to completion (or panicked) on this `Once`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_once::Once;
    ///
    /// let once = Once::new();
    /// assert!(!once.is_done());
    /// once.call_once(|| {});
    /// assert!(once.is_done());
    /// ```
    #[inline]
    pub fn is_done(&self) -> bool {
        // Acquire: a `true` answer lets the caller rely on the function's writes.
        matches!(self.state.load(Acquire), DONE | DONE_PANICKED)
    }

    /// Waits, as a future, until a function has run to completion (or panicked) on this
    /// `Once`, through some other caller's [`call_once`](Once::call_once). It never runs
    /// a function itself: it is the async twin of a `call_once` that loses the race.
    ///
    /// Runtime-agnostic (it only uses the task's waker), `Send`, `Unpin`; completes at
    /// once, without a lock, if the `Once` is already done. When it completes, every
    /// write of the function is visible to the task.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any point removes its waker; nothing else is affected.
    ///
    /// # Panics
    ///
    /// A waker whose `clone` panics panics out of `poll`, registering nothing. A waker
    /// whose `wake` panics does so in the `call_once` whose function completed, after
    /// the `Once` was marked done and every other waiter was woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_once::Once;
    /// use std::sync::Arc;
    ///
    /// let once = Arc::new(Once::new());
    /// let init = {
    ///     let once = Arc::clone(&once);
    ///     std::thread::spawn(move || once.call_once(|| { /* set up */ }))
    /// };
    /// futures::executor::block_on(once.wait_async()); // any executor
    /// assert!(once.is_done());
    /// init.join().unwrap();
    /// ```
    pub fn wait_async(&self) -> OnceWait<'_> {
        OnceWait {
            once: self,
            key: None,
        }
    }

    /// The election and the wait. The elected thread runs `f` and stores the done state
    /// `f` returns, or `on_unwind` if `f` unwinds.
    #[cold]
    #[inline(never)]
    fn call_once_slow(&self, f: &mut dyn FnMut() -> u8, on_unwind: u8) {
        let mut runner = self.runner.lock();
        loop {
            // Relaxed is enough under the lock for INCOMPLETE/RUNNING, which only change
            // under it; Acquire for the done states, pairing with the Release store in
            // `Finish::drop` (also made under the lock, so the lock alone would do; the
            // Acquire keeps the reasoning local).
            match self.state.load(Acquire) {
                DONE | DONE_PANICKED => return,
                INCOMPLETE => break,
                _ => {
                    if runner.thread == Some(thread::current().id()) {
                        drop(runner);
                        panic!(
                            "sync: Once.call_once called recursively from within its own function"
                        );
                    }
                    self.cv.wait(&mut runner);
                }
            }
        }
        // Relaxed: RUNNING is read only under the lock.
        self.state.store(RUNNING, Relaxed);
        runner.thread = Some(thread::current().id());
        drop(runner);
        let mut finish = Finish {
            once: self,
            state: on_unwind,
        };
        finish.state = f();
        drop(finish);
    }
}

/// What the `runner` lock protects.
pub(crate) struct Runner {
    thread: Option<thread::ThreadId>,
    tasks: WakerList,
}

/// Marks the `Once` done and wakes the waiters, when `f` returns or unwinds (Go's
/// `defer o.done.Store(1)`).
struct Finish<'a> {
    once: &'a Once,
    /// The done state to store: what the function returned, or the unwinding default.
    state: u8,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut runner = self.once.runner.lock();
        runner.thread = None;
        // Release pairs with the Acquire loads in `call_once`/`is_done`: publishes the
        // function's writes.
        self.once.state.store(self.state, Release);
        // Under the lock with the store of the done state, so a task either registered before it
        // (and is notified here) or sees DONE when it takes the lock.
        let wake = runner.tasks.notify_all();
        drop(runner);
        self.once.cv.notify_all();
        // Wakers are user code: woken with the `Once` complete and no lock held, each
        // inside `catch_unwind`; the first panic is resumed here unless this thread is
        // already unwinding from `f`'s panic.
        wake.wake();
    }
}

/// The future of [`Once::wait_async`]: completes when the `Once` is done.
///
/// `Send`, `Unpin`, cancel-safe (see [`Once::wait_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct OnceWait<'a> {
    once: &'a Once,
    /// The task's entry in the `Once`'s waker list, while registered.
    key: Option<WaiterKey>,
}

impl Future for OnceWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        // Acquire (in `is_done`): pairs with the Release store of the done state in
        // `Finish`. Either done state: a `OnceValue` whose function panicked is done too.
        if this.key.is_none() && this.once.is_done() {
            return Poll::Ready(());
        }
        // User code, before anything changes: a panicking clone leaves the list as it was.
        let waker = this.key.is_none().then(|| cx.waker().clone());
        let mut runner = this.once.runner.lock();
        // Acquire: as above (the done state is stored under this lock, so the lock would
        // do too).
        if this.once.is_done() {
            let old = this.key.take().map(|k| runner.tasks.remove(k));
            drop(runner);
            drop((old, waker)); // user code: dropped with no lock held
            return Poll::Ready(());
        }
        let old = match (&this.key, waker) {
            (Some(key), _) => runner.tasks.update(key, cx.waker()),
            (None, Some(waker)) => {
                this.key = Some(runner.tasks.insert(waker));
                None
            }
            (None, None) => unreachable!("cloned when not registered"),
        };
        drop(runner);
        drop(old);
        Poll::Pending
    }
}

impl Drop for OnceWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let removed = self.once.runner.lock().tasks.remove(key);
            drop(removed); // the waker, if any, dropped with no lock held
        }
    }
}

impl fmt::Debug for OnceWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceWait")
            .field("once", self.once)
            .field("registered", &self.key.is_some())
            .finish()
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state.load(Relaxed) {
            INCOMPLETE => "incomplete",
            RUNNING => "running",
            DONE_PANICKED => "done (panicked)",
            _ => "done",
        };
        f.debug_struct("Once").field("state", &state).finish()
    }
}
