//! The task side of a gosync primitive's wait queue: a list of [`Waker`]s that lives
//! under the primitive's own lock, next to the state its blocking waiters park on.
//!
//! A primitive that serves blocking threads (a mutex and condition variable, or its own
//! parking) and async tasks at once keeps one [`WakerList`] inside the data its mutex
//! protects. A task registers under that lock at the same moment it registers in the
//! primitive's state, so a release that holds the lock sees threads and tasks alike and
//! wakes both: [`notify_all`](WakerList::notify_all) (or [`notify_one`](WakerList::notify_one)) marks every (or one) waiting entry notified
//! **by name** (a later registration cannot take it over) and hands back a [`WakeBatch`]
//! to run once the lock is released.
//!
//! The list holds no atomics and takes no lock of its own: every method runs under the
//! caller's lock, so under `--cfg loom` it is model-checked through that lock like any
//! other data it protects.
//!
//! # Entries
//!
//! Each entry is in one of two states, owned by the future that holds its
//! [`WaiterKey`]:
//!
//! * **waiting**: registered, with the waker to call;
//! * **notified**: released by [`notify_all`](WakerList::notify_all) or
//!   [`notify_one`](WakerList::notify_one); the owner sees it on its next poll (or its
//!   drop) and [`remove`](WakerList::remove)s it.
//!
//! An owner dropped while its entry is waiting removes the entry and withdraws its
//! registration from the primitive's state in the same critical section, so a release
//! never counts an entry that is gone.
//!
//! # Panic safety
//!
//! A waker's `clone`, `wake` and `drop` are user code (the executor's). The list clones
//! a waker before it changes anything, hands replaced and removed wakers back to the
//! caller to drop after unlocking, and [`WakeBatch::wake`] wakes every waker even if one
//! panics (each inside `catch_unwind`), then resumes the first panic.
//!
//! # Examples
//!
//! ```
//! use gosync_core::waiters::{Removed, WakerList};
//! use std::sync::Arc;
//! use std::task::{Wake, Waker};
//!
//! struct Task;
//! impl Wake for Task {
//!     fn wake(self: Arc<Self>) {} // an executor would schedule the task
//! }
//!
//! let mut list = WakerList::new(); // kept inside the primitive's mutex
//! let key = list.insert(Waker::from(Arc::new(Task)));
//! assert_eq!(list.waiting(), 1);
//! let batch = list.notify_all(); // the release, under the lock
//! batch.wake(); // after the lock is released
//! assert!(list.is_notified(&key));
//! assert!(matches!(list.remove(key), Removed::Notified));
//! assert!(list.is_empty());
//! ```

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Waker;

/// The capacity an emptied list keeps, so register/release in a loop does not allocate
/// each time; a larger buffer is released.
const KEEP: usize = 16;

/// Wakers of the tasks waiting on one primitive; see the [module docs](self).
pub struct WakerList {
    slots: Vec<Slot>,
    /// Head of the free list threaded through the vacant slots, or `usize::MAX`.
    free: usize,
    /// Occupied slots (waiting or notified).
    len: usize,
    /// Waiting slots: the registrations a release must account for.
    waiting: usize,
    /// Where [`notify_one`](WakerList::notify_one) starts looking: just past the entry
    /// it notified last, so that the waiting entries are served in turn.
    cursor: usize,
}

enum Slot {
    Waiting(Waker),
    Notified,
    Vacant(usize),
}

/// The handle to one entry of a [`WakerList`]; owned by the future that registered.
///
/// It is neither `Clone` nor `Copy`: [`remove`](WakerList::remove) consumes it, so an
/// entry is given up exactly once.
#[derive(Debug)]
#[must_use = "an entry stays in the list until its key is removed"]
pub struct WaiterKey(usize);

/// What [`WakerList::remove`] found.
#[derive(Debug)]
pub enum Removed {
    /// The entry had been notified: its release happened.
    Notified,
    /// The entry was still waiting; here is its waker, to drop after unlocking.
    Waiting(Waker),
}

impl WakerList {
    /// An empty list; allocates nothing until the first [`insert`](WakerList::insert).
    pub const fn new() -> WakerList {
        WakerList {
            slots: Vec::new(),
            free: usize::MAX,
            len: 0,
            waiting: 0,
            cursor: 0,
        }
    }

    /// Whether the list has no entries at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of entries (waiting, or notified and not yet removed).
    pub fn len(&self) -> usize {
        self.len
    }

    /// The number of registrations the next [`notify_all`](WakerList::notify_all) will
    /// release: the waiting entries.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Adds a waiting entry with `waker`. Clone the task's waker *before* taking the
    /// lock (the clone is user code), and pass it here.
    pub fn insert(&mut self, waker: Waker) -> WaiterKey {
        self.len += 1;
        self.waiting += 1;
        if self.free != usize::MAX {
            let i = self.free;
            match std::mem::replace(&mut self.slots[i], Slot::Waiting(waker)) {
                Slot::Vacant(next) => self.free = next,
                _ => unreachable!("the free list points at an occupied slot"),
            }
            WaiterKey(i)
        } else {
            self.slots.push(Slot::Waiting(waker));
            WaiterKey(self.slots.len() - 1)
        }
    }

    /// Whether `key`'s entry has been notified.
    pub fn is_notified(&self, key: &WaiterKey) -> bool {
        matches!(self.slots.get(key.0), Some(Slot::Notified))
    }

    /// Stores `waker` in a waiting entry unless the stored one already wakes the same
    /// task; returns the waker it replaced, to drop after unlocking. Does nothing to a
    /// notified entry.
    ///
    /// # Panics
    ///
    /// If `waker.clone()` panics; the entry is then unchanged.
    pub fn update(&mut self, key: &WaiterKey, waker: &Waker) -> Option<Waker> {
        match self.slots.get_mut(key.0) {
            Some(Slot::Waiting(w)) if !w.will_wake(waker) => {
                Some(std::mem::replace(w, waker.clone()))
            }
            _ => None,
        }
    }

    /// Removes `key`'s entry, waiting or notified, and says which it was.
    ///
    /// # Panics
    ///
    /// If the entry is vacant (a key used after its entry was removed: impossible
    /// through the public API, since removing consumes the key).
    pub fn remove(&mut self, key: WaiterKey) -> Removed {
        let removed = match self.vacate(key.0) {
            Slot::Waiting(w) => {
                self.waiting -= 1;
                Removed::Waiting(w)
            }
            Slot::Notified => Removed::Notified,
            Slot::Vacant(_) => {
                panic!("gosync: waker list entry {} is not owned", key.0)
            }
        };
        removed
    }

    /// Releases every registration: waiting entries become notified (their wakers go
    /// into the returned batch). Call under the lock, then
    /// [`wake`](WakeBatch::wake) the batch after unlocking.
    pub fn notify_all(&mut self) -> WakeBatch {
        let mut wakers = Vec::new();
        if self.waiting == 0 {
            return WakeBatch { wakers };
        }
        wakers.reserve(self.waiting);
        for slot in &mut self.slots {
            if matches!(slot, Slot::Waiting(_)) {
                if let Slot::Waiting(w) = std::mem::replace(slot, Slot::Notified) {
                    wakers.push(w);
                }
            }
        }
        self.waiting = 0;
        WakeBatch { wakers }
    }

    /// Releases one waiting entry: marks it notified (by name, as
    /// [`notify_all`](WakerList::notify_all) does) and returns its waker, to wake once
    /// the lock is released. `None` if no entry is waiting. For a primitive that hands
    /// out one unit per release (an item, a permit): one wake-up per unit, where
    /// `notify_all` would wake every task to let one win.
    ///
    /// Entries are served in turn: the search starts just past the entry notified last
    /// and wraps around, so no waiting entry is passed over twice while another is
    /// notified twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::waiters::{Removed, WakerList};
    /// use std::task::Waker;
    /// # use std::sync::Arc;
    /// # struct Task;
    /// # impl std::task::Wake for Task { fn wake(self: Arc<Self>) {} }
    /// # fn waker() -> Waker { Waker::from(Arc::new(Task)) }
    ///
    /// let mut list = WakerList::new();
    /// let a = list.insert(waker());
    /// let b = list.insert(waker());
    /// list.notify_one().expect("a is waiting").wake(); // after unlocking, in real code
    /// assert!(list.is_notified(&a) && !list.is_notified(&b));
    /// assert_eq!(list.waiting(), 1);
    /// assert!(matches!(list.remove(a), Removed::Notified));
    /// assert!(matches!(list.remove(b), Removed::Waiting(_)));
    /// ```
    pub fn notify_one(&mut self) -> Option<Waker> {
        if self.waiting == 0 {
            return None;
        }
        let n = self.slots.len();
        let start = if self.cursor < n { self.cursor } else { 0 };
        for i in (start..n).chain(0..start) {
            if matches!(self.slots[i], Slot::Waiting(_)) {
                let Slot::Waiting(w) = std::mem::replace(&mut self.slots[i], Slot::Notified) else {
                    unreachable!("matched above")
                };
                self.waiting -= 1;
                self.cursor = i + 1;
                return Some(w);
            }
        }
        None
    }

    /// Frees slot `i` (occupied) and returns what it held.
    fn vacate(&mut self, i: usize) -> Slot {
        let old = std::mem::replace(&mut self.slots[i], Slot::Vacant(self.free));
        if matches!(old, Slot::Vacant(_)) {
            // Put it back as it was: the caller's key was stale.
            self.slots[i] = old;
            panic!("gosync: waker list entry {i} is not owned");
        }
        self.len -= 1;
        self.free = i;
        if self.len == 0 {
            // Empty again: forget the free list, keep a small buffer.
            self.slots.clear();
            if self.slots.capacity() > KEEP {
                self.slots = Vec::new();
            }
            self.free = usize::MAX;
        }
        old
    }
}

impl Default for WakerList {
    fn default() -> WakerList {
        WakerList::new()
    }
}

impl fmt::Debug for WakerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakerList")
            .field("len", &self.len)
            .field("waiting", &self.waiting)
            .finish()
    }
}

/// Wakers taken out of a [`WakerList`] by [`notify_all`](WakerList::notify_all), to wake
/// once the lock is released.
///
/// Dropping a batch without calling [`wake`](WakeBatch::wake) (for example while
/// unwinding between the release and the wake) still wakes every waker, ignoring their
/// panics: the tasks were released and must not sleep forever.
#[must_use = "the released tasks are woken only when the batch is woken (or dropped)"]
pub struct WakeBatch {
    wakers: Vec<Waker>,
}

impl WakeBatch {
    /// Whether there is no waker to wake.
    pub fn is_empty(&self) -> bool {
        self.wakers.is_empty()
    }

    /// Wakes every waker, each inside `catch_unwind`, so that one panicking waker does
    /// not keep the others asleep.
    ///
    /// # Panics
    ///
    /// Resumes the first waker's panic after all of them have been woken, unless this
    /// thread is already unwinding (a `done` in a drop guard during a panic), where a
    /// second panic would abort the process: the panic hook has reported it, and it is
    /// dropped.
    pub fn wake(mut self) {
        if self.wakers.is_empty() {
            return;
        }
        if let Some(p) = wake_all(std::mem::take(&mut self.wakers)) {
            if !std::thread::panicking() {
                resume_unwind(p);
            }
        }
    }
}

/// Wakes each waker inside `catch_unwind`; returns the first panic.
#[cold]
fn wake_all(wakers: Vec<Waker>) -> Option<Box<dyn Any + Send>> {
    let mut panic = None;
    for w in wakers {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
            panic.get_or_insert(p);
        }
    }
    panic
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        if !self.wakers.is_empty() {
            drop(wake_all(std::mem::take(&mut self.wakers)));
        }
    }
}

impl fmt::Debug for WakeBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeBatch")
            .field("wakers", &self.wakers.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize, bool);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Relaxed);
            assert!(!self.1, "a panicking waker");
        }
    }

    fn waker(panics: bool) -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0), panics));
        (Arc::clone(&c), Waker::from(c))
    }

    #[test]
    fn notify_marks_by_name() {
        let mut list = WakerList::new();
        let (ca, wa) = waker(false);
        let (cb, wb) = waker(false);
        let a = list.insert(wa);
        let b = list.insert(wb);
        assert!(matches!(list.remove(b), Removed::Waiting(_)));
        assert_eq!((list.len(), list.waiting()), (1, 1));
        list.notify_all().wake();
        assert_eq!((list.len(), list.waiting()), (1, 0));
        assert_eq!((ca.0.load(Relaxed), cb.0.load(Relaxed)), (1, 0));
        // A new registration does not take over the notified entry.
        let (_, wc) = waker(false);
        let c = list.insert(wc);
        assert!(list.is_notified(&a) && !list.is_notified(&c));
        assert!(matches!(list.remove(a), Removed::Notified));
        assert!(matches!(list.remove(c), Removed::Waiting(_)));
        assert!(list.is_empty() && list.waiting() == 0);
    }

    #[test]
    fn notify_one_serves_entries_in_turn() {
        let mut list = WakerList::new();
        let (ca, wa) = waker(false);
        let (cc, wc) = waker(false);
        let a = list.insert(wa);
        let c = list.insert(wc);
        list.notify_one().expect("a waits").wake();
        assert!(list.is_notified(&a));
        // a re-registers (a new entry at the front): c is served before it again.
        assert!(matches!(list.remove(a), Removed::Notified));
        let (ca2, wa2) = waker(false);
        let a = list.insert(wa2);
        list.notify_one().expect("c waits").wake();
        assert!(list.is_notified(&c) && !list.is_notified(&a));
        list.notify_one().expect("a waits").wake();
        assert!(list.is_notified(&a));
        assert!(list.notify_one().is_none(), "no entry is left waiting");
        assert_eq!(list.waiting(), 0);
        assert_eq!(
            (ca.0.load(Relaxed), cc.0.load(Relaxed), ca2.0.load(Relaxed)),
            (1, 1, 1)
        );
        assert!(matches!(list.remove(a), Removed::Notified));
        assert!(matches!(list.remove(c), Removed::Notified));
        assert!(list.is_empty());
    }

    #[test]
    fn update_replaces_only_another_task() {
        let mut list = WakerList::new();
        let (_, w1) = waker(false);
        let (_, w2) = waker(false);
        let a = list.insert(w1.clone());
        // Miri does not deduplicate vtables, so `will_wake` may say no to a clone of the
        // same waker there: the skipped replacement is an optimisation, not a guarantee.
        if !cfg!(miri) {
            assert!(list.update(&a, &w1).is_none());
        }
        assert!(list.update(&a, &w2).is_some());
        drop(list.remove(a));
    }

    #[test]
    fn a_panicking_waker_does_not_keep_the_others_asleep() {
        let mut list = WakerList::new();
        let (c1, w1) = waker(false);
        let (c2, w2) = waker(true);
        let (c3, w3) = waker(false);
        let keys = [list.insert(w1), list.insert(w2), list.insert(w3)];
        let batch = list.notify_all();
        let r = catch_unwind(AssertUnwindSafe(|| batch.wake()));
        assert!(r.is_err(), "the first panic is resumed");
        for c in [&c1, &c2, &c3] {
            assert_eq!(c.0.load(Relaxed), 1);
        }
        for k in keys {
            assert!(matches!(list.remove(k), Removed::Notified));
        }
    }

    #[test]
    fn a_dropped_batch_still_wakes() {
        let mut list = WakerList::new();
        let (c, w) = waker(true);
        let k = list.insert(w);
        drop(list.notify_all());
        assert_eq!(c.0.load(Relaxed), 1);
        assert!(matches!(list.remove(k), Removed::Notified));
    }

    #[test]
    fn emptied_list_releases_a_large_buffer() {
        let mut list = WakerList::new();
        let keys: Vec<_> = (0..100).map(|_| list.insert(waker(false).1)).collect();
        for k in keys {
            drop(list.remove(k));
        }
        assert_eq!(list.slots.capacity(), 0);
    }
}
