//! The cancellation tree: the [`Core`] of every cancellable node (its state, its
//! registry of cancellable children, its waiters and callbacks), the cancel walk that
//! propagates a cancel down the registered subtree, and the [`Deferred`] wake-ups it
//! collects. The equivalent of tokio-util's `cancellation_token/tree_node.rs`.
//!
//! This is the lowest layer of the crate above the leaves (see `lib.rs`): it knows
//! nothing of the public handle, of the nodes that own the cores (`node.rs`) or of the
//! timer (`timer.rs`). The layers above drive it through [`Core`]'s methods: `attach`,
//! `cancel`, `detach`, `register`, `deregister`, `lock`. The invariants below are stated
//! for the whole crate, since the layers above keep some of them (1, 6, 7).
//!
//! Both the cancel walk and the drop of a chain (`node.rs`) are loops, not recursions:
//! a chain of any depth is cancelled and dropped on a small stack.
//!
//! # Invariants
//!
//! 1. Every `Context` handle is an `Arc<Node>` (`node.rs`); a node holds a strong
//!    reference to its parent. So while a node is alive, its whole ancestor chain is
//!    alive, and every `CorePtr` a node keeps to an ancestor's [`Core`] is valid.
//! 2. A cancellable node (a [`Core`]) is registered in the child list of its nearest
//!    cancellable ancestor (its `parent` core), unless it was born cancelled or that
//!    ancestor does not exist (a root or a `without_cancel` in between). The entry is
//!    a raw `CorePtr` (not a strong handle), so that a child whose handles are all
//!    dropped is freed: its `Drop` removes the entry first.
//! 3. `Core::slot` is the index of the entry in the parent's child list, or
//!    `DETACHED`. It is written only while holding the parent core's lock (a removal
//!    swaps the last entry into the hole and rewrites that child's `slot`). The entry
//!    is removed (and `slot` set to `DETACHED`) either by the child (its own cancel, or
//!    its drop) or by the parent's cancel walk, which takes the whole list. In the
//!    walk, the Release store of `DETACHED` is the parent's *last* access to the child,
//!    so a child's drop that reads `DETACHED` with Acquire may free the child without
//!    taking the parent's lock. Until then the child's drop blocks on the parent's
//!    lock, so a registered `CorePtr` is valid whenever it is read under the parent's
//!    lock.
//! 4. `Core::state` goes from `LIVE` to `CANCELED` or `DEADLINE_EXCEEDED` exactly once,
//!    under the core's lock, and in the same critical section the child list and the
//!    waiter slab are emptied and closed: a core that is not `LIVE` registers nothing
//!    new. Hence waiter slab indices are reused only while the core is live, and an
//!    owner removing its waiter must check the state under the lock first.
//! 5. Entries removed from a registry, and the wakers and callbacks collected by a
//!    cancel, are dropped or run only after every lock is released ([`Deferred`]): a
//!    callback may drop the last handle of any node, which takes locks.
//! 6. A core with a deadline is in its timer while `OwnDeadline::timer_id != 0`; the id is
//!    written under the timer's lock, and the timer thread's Release store of `0` after
//!    firing is its last access to the core (the same hand-off as in 3).
//! 7. A [`Core`] lives in its own box, never inline in the `Node` of its `Arc`. The last
//!    handle's `Arc` drop creates a `&mut Node` (in `Arc::drop_slow`, and
//!    `Arc::get_mut` in `Node::drop`'s loop) *before* `Node::release` makes the
//!    Acquire loads of 3 and 6, while a cancel walk or the timer thread may still be
//!    finishing with the core (up to its Release store). A `&mut` over the core at
//!    that moment would alias those accesses (a data race, found by Miri); the
//!    `&mut Node` covers only the box pointer. Nothing outside the core is reached by
//!    another thread's `CorePtr`, and the box is freed after `Node::drop` (and its
//!    `release`) has run.
//!
//! # Lock order
//!
//! The timer's lock, then a parent core's lock, then a child core's lock. The cancel
//! walk holds the lock of every core from the cancelled one down to the one it is
//! cancelling (as Go's `cancelCtx.cancel` does). No code takes the timer's lock while
//! holding a core's lock, and no code takes a parent's lock while holding a child's.

use std::any::Any;
use std::fmt;
use std::task::Waker;
use std::time::Instant;

use gosync_core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use gosync_core::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Cause, Error};
use crate::slab::Slab;

/// `Core::state`: not cancelled.
pub(crate) const LIVE: u8 = 0;
/// `Core::state`: cancelled by a cancel function or an ancestor's cancel.
pub(crate) const CANCELED: u8 = 1;
/// `Core::state`: its deadline (or an ancestor's) passed.
pub(crate) const DEADLINE_EXCEEDED: u8 = 2;

/// `Core::slot` when the core is in no registry; also the bound on the number of
/// registered children of one core.
const DETACHED: u32 = u32::MAX;

/// The capacity an emptied child list keeps; a larger one shrinks as it empties.
const CHILDREN_KEEP: usize = 16;

/// The error a non-`LIVE` state stands for.
pub(crate) fn state_error(state: u8) -> Option<Error> {
    match state {
        LIVE => None,
        CANCELED => Some(Error::Canceled),
        _ => Some(Error::DeadlineExceeded),
    }
}

/// A pointer to the [`Core`] of an ancestor (valid by invariant 1) or of a registered
/// child (valid under the parent's lock by invariant 3). Null for "none".
#[derive(Clone, Copy)]
pub(crate) struct CorePtr(pub(crate) *const Core);

// SAFETY: a `Core` is `Sync` (atomics and a mutex); the pointer is only dereferenced
// while the pointee is alive (invariants 1, 3 and 6), from any thread.
unsafe impl Send for CorePtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for CorePtr {}

impl CorePtr {
    pub(crate) const NULL: CorePtr = CorePtr(std::ptr::null());
}

/// The cancellation state of a cancellable node. Kept small: a plain `with_cancel`
/// node is a few words; the parts few nodes use (a deadline, waiters and callbacks, a
/// cause, a done channel) are boxed on demand.
pub(crate) struct Core {
    /// `LIVE`, `CANCELED` or `DEADLINE_EXCEEDED` (invariant 4).
    pub(crate) state: AtomicU8,
    /// Index in the parent core's child list, or `DETACHED` (invariant 3). The parent
    /// core (the nearest cancellable ancestor) is not stored: it is the core of the
    /// node's parent handle.
    slot: AtomicU32,
    /// The node's own deadline, if it has a timer entry to serve. Immutable.
    pub(crate) own: Option<Box<OwnDeadline>>,
    pub(crate) inner: Mutex<Inner>,
}

/// A node's own deadline and its timer entry.
pub(crate) struct OwnDeadline {
    pub(crate) at: Instant,
    /// The cause recorded when `at` passes (`None`: `DeadlineExceeded`).
    pub(crate) cause: Option<Cause>,
    /// The key of the timer entry, or 0 (invariant 6).
    pub(crate) timer_id: AtomicU64,
    /// The parent core (null if none), for the timer thread's `detach`; valid by
    /// invariant 1.
    pub(crate) parent: CorePtr,
}

pub(crate) struct Inner {
    /// The registered cancellable children (invariant 2); `Core::slot` is the index.
    children: Vec<CorePtr>,
    /// Everything else, allocated on first use.
    extra: Option<Box<Extra>>,
}

/// The rarely used part of a core's locked state.
pub(crate) struct Extra {
    /// Notified (under the core's lock) when the core is cancelled; blocking waiters
    /// sleep here. Created by the first blocking waiter, shared so that a waiter holds
    /// it while the lock is released.
    cv: Option<Arc<Condvar>>,
    /// Pending futures' wakers, hooks and `after_func`s.
    pub(crate) waiters: Slab<Entry>,
    /// The cause, once cancelled (`None`: the error itself is the cause).
    pub(crate) cause: Option<Cause>,
    /// The lazily created done channel: dropping the sender disconnects it.
    #[cfg(feature = "crossbeam")]
    pub(crate) chan: Option<(
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    )>,
}

impl Inner {
    /// The rarely used part, allocated now if it was not yet.
    pub(crate) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(|| {
            Box::new(Extra {
                cv: None,
                waiters: Slab::new(),
                cause: None,
                #[cfg(feature = "crossbeam")]
                chan: None,
            })
        })
    }

    /// The recorded cause (`None` if none was given or the core is live).
    fn cause(&self) -> Option<&Cause> {
        self.extra.as_ref()?.cause.as_ref()
    }
}

/// What a core's waiter list holds.
pub(crate) enum Entry {
    /// The waker of a pending `done()` future.
    Waker(Waker),
    /// An `on_cancel` hook or an `after_func`.
    Callback(Box<dyn FnOnce() + Send>),
}

/// Wakers and callbacks collected by a cancel walk, run once every lock is released
/// (invariant 5).
#[derive(Default)]
pub(crate) struct Deferred {
    wakers: Vec<Waker>,
    callbacks: Vec<Box<dyn FnOnce() + Send>>,
    #[cfg(feature = "crossbeam")]
    chans: Vec<crossbeam_channel::Sender<()>>,
}

impl Deferred {
    /// Wakes the wakers and runs the callbacks, each inside `catch_unwind`: if one
    /// panics, every other one still runs (their owners would otherwise wait forever),
    /// and the first panic is then resumed on this thread.
    pub(crate) fn run(self) {
        if let Some(p) = self.run_caught() {
            std::panic::resume_unwind(p);
        }
    }

    /// [`run`](Deferred::run), returning the first panic instead of resuming it (for
    /// the timer thread, which must outlive any user code it runs).
    pub(crate) fn run_caught(self) -> Option<Box<dyn Any + Send>> {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        #[cfg(feature = "crossbeam")]
        drop(self.chans);
        let mut panic = None;
        // A waker's `wake` is user code (an executor's), as is its drop.
        for w in self.wakers {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
                panic.get_or_insert(p);
            }
        }
        for f in self.callbacks {
            if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
                panic.get_or_insert(p);
            }
        }
        panic
    }
}

/// One level of the cancel walk: a core being cancelled, its lock (held until all its
/// children are done, as Go's `cancelCtx.cancel` holds it), and the children left.
struct Frame<'a> {
    core: &'a Core,
    _guard: MutexGuard<'a, Inner>,
    children: std::vec::IntoIter<CorePtr>,
}

impl Core {
    #[inline]
    pub(crate) fn new(parent: CorePtr, own: Option<(Instant, Option<Cause>)>) -> Core {
        Core {
            state: AtomicU8::new(LIVE),
            slot: AtomicU32::new(DETACHED),
            own: own.map(|(at, cause)| {
                Box::new(OwnDeadline {
                    at,
                    cause,
                    timer_id: AtomicU64::new(0),
                    parent,
                })
            }),
            inner: Mutex::new(Inner {
                children: Vec::new(),
                extra: None,
            }),
        }
    }

    /// One atomic load.
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        // Acquire pairs with the Release store in `mark`: whoever sees the context
        // done also sees everything the canceller did before cancelling.
        self.state.load(Acquire) != LIVE
    }

    /// The condition variable blocking waiters sleep on, created on first use.
    pub(crate) fn waiter_cv(g: &mut Inner) -> Arc<Condvar> {
        Arc::clone(g.extra().cv.get_or_insert_with(|| Arc::new(Condvar::new())))
    }

    /// Registers this freshly created (not yet shared) core with its parent core (the
    /// core of its node's parent handle), or makes it born cancelled if the parent
    /// already is.
    pub(crate) fn attach(&self, parent: Option<&Core>) {
        let Some(parent) = parent else { return };
        let mut g = parent.inner.lock();
        let state = parent.state.load(Relaxed); // the lock orders it (invariant 4)
        if state == LIVE {
            let slot = u32::try_from(g.children.len())
                .ok()
                .filter(|&s| s != DETACHED)
                .expect("gosync-context: more than 4294967294 live children of one context");
            self.slot.store(slot, Relaxed); // under the parent's lock (invariant 3)
            g.children.push(CorePtr(self));
        } else {
            // Born cancelled, with the parent's error and cause. Lock order: parent,
            // then child; nothing is registered here yet, so nothing is deferred.
            let cause = g.cause().cloned();
            let mut d = Deferred::default();
            self.cancel(state, cause, &mut d);
            drop(g);
            d.run();
        }
    }

    /// Marks this locked, live core cancelled: records the cause, wakes blocking
    /// waiters, moves its wakers, callbacks and channel to `d`, and returns its
    /// (now unregistered) children, which the caller must cancel and detach.
    fn mark(
        &self,
        g: &mut Inner,
        state: u8,
        cause: &Option<Cause>,
        d: &mut Deferred,
    ) -> Vec<CorePtr> {
        // Release pairs with the Acquire in `is_done`.
        self.state.store(state, Release);
        if cause.is_some() || g.extra.is_some() {
            let extra = g.extra();
            // A blocking waiter creates the condvar before it checks the state, under
            // the lock: none is missed.
            if let Some(cv) = &extra.cv {
                cv.notify_all();
            }
            extra.cause.clone_from(cause);
            #[cfg(feature = "crossbeam")]
            if let Some((tx, _rx)) = extra.chan.take() {
                d.chans.push(tx);
            }
            for entry in extra.waiters.drain() {
                match entry {
                    Entry::Waker(w) => d.wakers.push(w),
                    Entry::Callback(f) => d.callbacks.push(f),
                }
            }
        }
        std::mem::take(&mut g.children)
    }

    /// Cancels this core and its registered subtree, unless it already is cancelled
    /// (the first cancel wins). Returns whether this call cancelled it.
    ///
    /// The walk is iterative (an explicit stack), so a chain of any depth is cancelled
    /// without deep recursion. It holds the lock of every core from this one down to the
    /// one it is cancelling (lock order: parent before child), which keeps every child
    /// it visits alive (invariant 3).
    pub(crate) fn cancel(&self, state: u8, cause: Option<Cause>, d: &mut Deferred) -> bool {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) != LIVE {
            return false;
        }
        let children = self.mark(&mut g, state, &cause, d);
        if children.is_empty() {
            return true;
        }
        let mut stack = vec![Frame {
            core: self,
            _guard: g,
            children: children.into_iter(),
        }];
        while let Some(top) = stack.last_mut() {
            let Some(child) = top.children.next() else {
                let done = stack.pop().expect("the stack is not empty");
                let core = done.core;
                drop(done); // unlocks `core`
                if !std::ptr::eq(core, self) {
                    // Release: our last access to the child (invariant 3); pairs with
                    // the Acquire in `detach`. Its parent's frame (still on the stack)
                    // holds the parent's lock.
                    core.slot.store(DETACHED, Release);
                }
                continue;
            };
            // SAFETY: a registered child is alive while its parent's lock is held
            // (invariant 3), and the parent's frame holds it until this child's frame
            // is popped; `child` is not used after its `DETACHED` store. Its owner may
            // meanwhile be dropping its last handle: that makes a `&mut Node`, which
            // does not cover the boxed core (invariant 7), and blocks in `detach`.
            let child: &Core = unsafe { &*child.0 };
            let mut cg = child.inner.lock();
            if child.state.load(Relaxed) != LIVE {
                // It cancelled itself and is about to detach: it blocks on the
                // parent's lock, then finds `DETACHED`.
                drop(cg);
                // Release: as above.
                child.slot.store(DETACHED, Release);
                continue;
            }
            let grandchildren = child.mark(&mut cg, state, &cause, d);
            if grandchildren.is_empty() {
                drop(cg);
                // Release: as above.
                child.slot.store(DETACHED, Release);
            } else {
                stack.push(Frame {
                    core: child,
                    _guard: cg,
                    children: grandchildren.into_iter(),
                });
            }
        }
        true
    }

    /// Removes this core from its parent's child list, if it is still there; `parent`
    /// is the core of its node's parent handle.
    pub(crate) fn detach(&self, parent: Option<&Core>) {
        // Acquire pairs with the Release store of `DETACHED` in the parent's cancel walk
        // (invariant 3): the walk's accesses to this core happen before our caller
        // frees it.
        if self.slot.load(Acquire) == DETACHED {
            return;
        }
        let Some(parent) = parent else { return };
        let mut g = parent.inner.lock();
        let slot = self.slot.load(Relaxed); // written only under this lock
        if slot == DETACHED {
            return;
        }
        self.slot.store(DETACHED, Relaxed);
        let children = &mut g.children;
        children.swap_remove(slot as usize);
        if let Some(moved) = children.get(slot as usize) {
            // SAFETY: a registered child is alive while we hold its parent's lock
            // (invariant 3).
            let moved = unsafe { &*moved.0 };
            moved.slot.store(slot, Relaxed); // under the parent's lock (invariant 3)
        }
        let cap = children.capacity();
        if cap > CHILDREN_KEEP && children.len() * 4 <= cap {
            children.shrink_to(children.len() * 2);
        }
    }

    /// Adds a waiter to a live core; hands it back if the core is done.
    pub(crate) fn register(&self, entry: Entry) -> Result<usize, Entry> {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) != LIVE {
            return Err(entry);
        }
        Ok(g.extra().waiters.insert(entry))
    }

    /// Removes the waiter at `slot` if the core is still live (invariant 4); the entry
    /// is returned so that the caller drops it after the lock is released (invariant 5).
    pub(crate) fn deregister(&self, slot: usize) -> Option<Entry> {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) != LIVE {
            return None;
        }
        Some(g.extra().waiters.remove(slot))
    }

    /// Locks the core (for the waiting paths).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    /// The recorded cause, once cancelled.
    pub(crate) fn cause(&self) -> Option<Cause> {
        let state = self.state.load(Acquire); // as in `is_done`
        let err = state_error(state)?;
        let g = self.inner.lock();
        Some(g.cause().cloned().unwrap_or_else(|| err.as_cause()))
    }

    /// How many registrations the core holds (children, wakers, callbacks).
    pub(crate) fn registrations(&self) -> usize {
        let g = self.inner.lock();
        g.children.len() + g.extra.as_ref().map_or(0, |e| e.waiters.len())
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Core");
        s.field("err", &state_error(self.state.load(Relaxed)));
        match self.inner.try_lock() {
            Some(g) => s.field(
                "registrations",
                &(g.children.len() + g.extra.as_ref().map_or(0, |e| e.waiters.len())),
            ),
            None => s.field("registrations", &format_args!("<locked>")),
        };
        s.finish()
    }
}
