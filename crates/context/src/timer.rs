//! The one timer thread that serves every deadline of a clock.
//!
//! Each [`Timer`] owns an ordered map of `(deadline, id) -> core` and, once the first
//! deadline is registered, one thread that sleeps until the earliest deadline through
//! the timer's [`Clock`] (so a [`FakeClock`](gosync_core::FakeClock) fires deadlines
//! deterministically when advanced), pops every due entry and cancels it. The real
//! clock has one process-wide timer; each root made by
//! [`background_with_clock`](crate::background_with_clock) has its own, whose thread
//! ends when that root is dropped. There is never a thread per context.
//!
//! See `tree.rs` for the invariants (6) and the lock order (the timer's lock first).
//!
//! # Why not `gosync_core::timer`
//!
//! The work queues share their clock's timer service (`gosync_core::timer`); contexts
//! keep this one. Its entries are raw pointers to the cores, valid because a node's drop
//! removes its entry under this timer's lock and the thread cancels under the same lock
//! (invariants 6 and 7): no allocation per deadline, and a drop never waits for user
//! code. On the core service each deadline context would need a `TimerEntry` (an
//! allocated callback, on `with_timeout`'s path), and the pointer's validity would rest
//! on the entry's synchronous cancel, so dropping a context would wait for a firing
//! callback, which runs the tree's `on_cancel` hooks (user code): a new way to block
//! or deadlock a drop.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use gosync_core::clock::Clock;
use gosync_core::sync::atomic::Ordering::*;
use gosync_core::sync::{thread, Arc, Condvar, Mutex};

use crate::tree::{Core, CorePtr, Deferred, DEADLINE_EXCEEDED};

pub(crate) struct Timer {
    clock: Clock,
    inner: Mutex<TimerInner>,
    /// Notified when an earlier deadline is added, or on shutdown.
    cv: Condvar,
}

struct TimerInner {
    entries: BTreeMap<(Instant, u64), CorePtr>,
    next_id: u64,
    running: bool,
    shutdown: bool,
}

/// How a root refers to its timer: the process-wide one, or its own.
#[derive(Clone)]
pub(crate) enum TimerHandle {
    #[cfg(not(loom))]
    Global,
    Owned(Arc<Timer>),
}

#[cfg(not(loom))]
static GLOBAL: Timer = Timer {
    clock: Clock::real(),
    inner: Mutex::new(TimerInner {
        entries: BTreeMap::new(),
        next_id: 1,
        running: false,
        shutdown: false,
    }),
    cv: Condvar::new(),
};

impl TimerHandle {
    /// The timer of the real clock.
    pub(crate) fn real() -> TimerHandle {
        #[cfg(not(loom))]
        return TimerHandle::Global;
        #[cfg(loom)]
        return TimerHandle::with_clock(Clock::real());
    }

    /// A new timer for `clock`.
    pub(crate) fn with_clock(clock: Clock) -> TimerHandle {
        TimerHandle::Owned(Arc::new(Timer {
            clock,
            inner: Mutex::new(TimerInner {
                entries: BTreeMap::new(),
                next_id: 1,
                running: false,
                shutdown: false,
            }),
            cv: Condvar::new(),
        }))
    }

    /// Adds `core` (alive and registered where it belongs) to the timer; its deadline
    /// is `core.own`.
    pub(crate) fn insert(&self, core: &Core) {
        let own = core.own.as_ref().expect("a timer entry needs a deadline");
        let deadline = own.at;
        let mut g = self.inner.lock();
        let id = g.next_id;
        g.next_id += 1;
        let first = g
            .entries
            .first_key_value()
            .map_or(true, |(k, _)| deadline < k.0);
        g.entries.insert((deadline, id), CorePtr(core));
        own.timer_id.store(id, Relaxed); // under the timer's lock (invariant 6)
        if !g.running {
            g.running = true;
            let me = self.clone();
            drop(g);
            // If the thread cannot be spawned (`spawn` panics), clear `running` on the
            // way out, so the next `insert` tries again instead of trusting a thread
            // that does not exist.
            let not_started = NotStarted(self);
            thread::spawn(move || me.run());
            std::mem::forget(not_started);
        } else if first {
            drop(g);
            self.cv.notify_one();
        }
    }

    /// The timer thread.
    fn run(self) {
        let mut g = self.inner.lock();
        loop {
            if g.shutdown {
                return;
            }
            let now = self.clock.now();
            let mut d = Deferred::default();
            let mut fired = false;
            while let Some((&(deadline, _), &core)) = g.entries.first_key_value() {
                if deadline > now {
                    break;
                }
                g.entries.pop_first();
                fired = true;
                // SAFETY: the entry was in the map, so the node has not finished its
                // drop, which removes it under this lock first (invariant 6); a drop
                // that has begun holds a `&mut Node`, which does not cover the boxed
                // core (invariant 7).
                let core = unsafe { &*core.0 };
                let own = core.own.as_ref().expect("a timer entry has a deadline");
                if core.cancel(DEADLINE_EXCEEDED, own.cause.clone(), &mut d) {
                    // SAFETY: the parent core is an ancestor's, alive by invariant 1.
                    core.detach(unsafe { own.parent.0.as_ref() });
                }
                // Release: the last access to the core (invariant 6); pairs with the
                // Acquire in `Node::release`.
                own.timer_id.store(0, Release);
            }
            if fired {
                drop(g);
                // User code (hooks, wakers) runs here, on a thread shared by every
                // deadline of the clock: a panic must not end it. The panic hook has
                // already reported it where it happened; the payload is dropped.
                if let Some(payload) = d.run_caught() {
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                }
                g = self.inner.lock();
                continue;
            }
            match g.entries.first_key_value().map(|(k, _)| k.0) {
                None => self.cv.wait(&mut g),
                Some(deadline) => {
                    self.clock.wait_until(&self.cv, &mut g, deadline);
                }
            }
        }
    }

    /// Removes `core`'s entry (a node being dropped or cancelled). No core lock may be
    /// held (lock order).
    pub(crate) fn remove(&self, core: &Core) {
        let mut g = self.inner.lock();
        let Some(own) = &core.own else { return };
        let id = own.timer_id.load(Relaxed); // written only under this lock
        if id != 0 {
            g.entries.remove(&(own.at, id));
            own.timer_id.store(0, Relaxed);
        }
    }

    /// The root that owns this timer is being dropped: no entry can remain (every
    /// deadline context holds the root), so an owned timer's thread may end.
    pub(crate) fn release_root(&self) {
        #[allow(irrefutable_let_patterns)] // under loom every timer is owned
        if let TimerHandle::Owned(t) = self {
            t.inner.lock().shutdown = true;
            t.cv.notify_all();
        }
    }

    /// The clock deadlines are measured by.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }
}

/// Clears `running` if dropped, i.e. if spawning the timer thread panicked.
struct NotStarted<'a>(&'a TimerHandle);

impl Drop for NotStarted<'_> {
    fn drop(&mut self) {
        self.0.inner.lock().running = false;
    }
}

impl Deref for TimerHandle {
    type Target = Timer;
    fn deref(&self) -> &Timer {
        match self {
            #[cfg(not(loom))]
            TimerHandle::Global => &GLOBAL,
            TimerHandle::Owned(t) => t,
        }
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Timer");
        s.field("clock", &self.clock);
        if let Some(g) = self.inner.try_lock() {
            s.field("entries", &g.entries.len());
        }
        s.finish()
    }
}
