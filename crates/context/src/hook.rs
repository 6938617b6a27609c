//! The callbacks: `Context::on_cancel` and its guard `OnCancel`, `after_func` and its
//! `AfterFuncStop`. A public adapter on top of `context.rs`: the callbacks go into the
//! core's waiter registry (`tree.rs`).

use std::fmt;

use gosync_core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use gosync_core::sync::thread;

use crate::context::Context;
use crate::tree::{Core, Entry};

/// The callback hook (here, next to its guard; the rest of `Context` is in
/// `context.rs`).
impl Context {
    /// Registers `f` to run once when the context is done, and returns a guard that
    /// deregisters it when dropped (if it has not run yet).
    ///
    /// This is the hook other blocking primitives build on: register a callback that
    /// wakes the parked thread (unpark it, or notify its condition variable), then park.
    /// `f` runs on the cancelling thread (or the timer thread, for a deadline) after
    /// the cancel has released every lock of the tree; keep it short and non-blocking
    /// (use [`after_func`] for real work). If the context is already
    /// done, `f` runs at once on this thread. On a context that can never be cancelled,
    /// `f` is dropped without running.
    ///
    /// # Panics
    ///
    /// A panic in `f` never stops the other callbacks and wakers of the same cancel:
    /// each runs in `catch_unwind`. Where the first panic then goes depends on who
    /// cancelled: a cancel function ([`CancelFunc::cancel`](crate::CancelFunc::cancel))
    /// or `on_cancel` on an already done context resumes it on the calling thread,
    /// after the cancel is complete; a deadline fired by the timer thread reports it
    /// through the panic hook (as any panic is reported) and swallows it, so the thread
    /// keeps serving every other deadline of the clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// let woken = Arc::new(AtomicBool::new(false));
    /// let hook = {
    ///     let (woken, me) = (Arc::clone(&woken), std::thread::current());
    ///     ctx.on_cancel(move || {
    ///         woken.store(true, Ordering::Release);
    ///         me.unpark();
    ///     })
    /// };
    /// std::thread::spawn(move || cancel.cancel());
    /// while !woken.load(Ordering::Acquire) {
    ///     std::thread::park();
    /// }
    /// drop(hook);
    /// ```
    #[must_use = "dropping the guard deregisters the callback"]
    pub fn on_cancel<F: FnOnce() + Send + 'static>(&self, f: F) -> OnCancel<'_> {
        let Some(core) = self.core() else {
            return OnCancel::new(None);
        };
        match core.register(Entry::Callback(Box::new(f))) {
            Ok(slot) => OnCancel::new(Some((core, slot))),
            Err(Entry::Callback(f)) => {
                f();
                OnCancel::new(None)
            }
            Err(_) => unreachable!(),
        }
    }
}

/// Deregisters an [`on_cancel`](Context::on_cancel) callback when dropped, if it has not
/// run yet.
#[must_use = "dropping the guard deregisters the callback"]
pub struct OnCancel<'a> {
    reg: Option<(&'a Core, usize)>,
}

impl<'a> OnCancel<'a> {
    fn new(reg: Option<(&'a Core, usize)>) -> OnCancel<'a> {
        OnCancel { reg }
    }

    /// Keeps the callback registered for as long as the context lives (it still runs
    /// on cancel), instead of deregistering it when the guard goes.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// ctx.on_cancel(|| println!("cancelled")).forget();
    /// cancel.cancel(); // prints
    /// ```
    pub fn forget(mut self) {
        self.reg = None;
    }
}

impl Drop for OnCancel<'_> {
    fn drop(&mut self) {
        if let Some((core, slot)) = self.reg.take() {
            drop(core.deregister(slot)); // dropped after the lock is released
        }
    }
}

impl fmt::Debug for OnCancel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnCancel")
            .field("registered", &self.reg.is_some())
            .finish()
    }
}

/// Arranges for `f` to run on a new thread once `ctx` is done (Go's `AfterFunc`); if
/// `ctx` is already done, the thread starts at once. `f` runs at most once.
///
/// The registration keeps `ctx` alive until it is cancelled or
/// [`stop`](AfterFuncStop::stop) is called; dropping the returned handle does not stop
/// `f`. On a context that can never be cancelled, `f` never runs.
///
/// `f` gets its own thread, as Go gives it its own goroutine, so it may block; it never
/// runs inside the canceller's critical section. (For a cheap non-blocking reaction on
/// the cancelling thread, use [`Context::on_cancel`].)
///
/// # Examples
///
/// ```
/// use gosync_context::{after_func, background, with_cancel};
/// use std::sync::mpsc;
///
/// let (ctx, cancel) = with_cancel(&background());
/// let (tx, rx) = mpsc::channel();
/// let stop = after_func(&ctx, move || tx.send("cleanup ran").unwrap());
/// cancel.cancel();
/// assert_eq!(rx.recv().unwrap(), "cleanup ran");
/// assert!(!stop.stop()); // too late: f has been started
/// ```
pub fn after_func<F: FnOnce() + Send + 'static>(ctx: &Context, f: F) -> AfterFuncStop {
    let Some(core) = ctx.core() else {
        drop(f);
        return AfterFuncStop {
            reg: None,
            stopped: AtomicBool::new(false),
        };
    };
    let keep = ctx.clone();
    let run: Box<dyn FnOnce() + Send> = Box::new(move || {
        drop(thread::spawn(f));
        drop(keep);
    });
    match core.register(Entry::Callback(run)) {
        Ok(slot) => AfterFuncStop {
            reg: Some((ctx.clone(), slot)),
            stopped: AtomicBool::new(false),
        },
        Err(Entry::Callback(run)) => {
            run();
            AfterFuncStop {
                reg: None,
                stopped: AtomicBool::new(true),
            }
        }
        Err(_) => unreachable!(),
    }
}

/// Stops an [`after_func`] (Go's `stop` function).
pub struct AfterFuncStop {
    /// The context and the callback's slot, if it was registered.
    reg: Option<(Context, usize)>,
    /// Whether `stop` has been called (or `f` started at registration).
    stopped: AtomicBool,
}

impl AfterFuncStop {
    /// Prevents `f` from running. Returns `true` if this call stopped it; `false` if
    /// `f` has already been started (the context is done) or `stop` was already called.
    ///
    /// Exactly one of "`f` runs" and "a `stop` returns `true`" happens.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{after_func, background, with_cancel};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// let stop = after_func(&ctx, || unreachable!("stopped in time"));
    /// assert!(stop.stop());
    /// assert!(!stop.stop()); // already stopped
    /// cancel.cancel();
    /// ```
    pub fn stop(&self) -> bool {
        let Some((ctx, slot)) = &self.reg else {
            return !self.stopped.swap(true, Relaxed);
        };
        let core = ctx.core().expect("registered on a cancellable context");
        let removed = {
            let g = core.lock();
            // Relaxed: read and written only under the core's lock.
            if self.stopped.swap(true, Relaxed) || core.is_done() {
                return false;
            }
            drop(g);
            core.deregister(*slot)
        };
        // `None` if a cancel drained the entry after the check above: `f` runs.
        let stopped = removed.is_some();
        drop(removed); // drops `f` and its handle of the context, outside the lock
        stopped
    }
}

impl fmt::Debug for AfterFuncStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterFuncStop")
            .field("stopped", &self.stopped.load(Relaxed))
            .finish()
    }
}
