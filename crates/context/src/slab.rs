//! A slab: the registry of a core's waiters (pending futures' wakers, `on_cancel`
//! hooks, `after_func`s), with stable indices for their owners to deregister by.
//!
//! # Why not `gosync_core::waiters::WakerList`
//!
//! The other crates keep their tasks' wakers in `WakerList`; the context keeps this
//! slab, for three reasons (evaluated for issue 23):
//!
//! * A context is cancelled once. Its cancel drains and closes the registry in the
//!   critical section that changes the state (invariant 4 in `tree.rs`), so a `done()`
//!   future that sees the context done never touches the registry again. `WakerList`
//!   serves primitives released many times: its entries stay *notified* until their
//!   owners remove them, and may be *abandoned*; the context would use none of that.
//! * Wakers and callbacks share one registry, so one cancel walk collects both, from the
//!   whole subtree, into one `Deferred` run after every lock is released (wakers first,
//!   each in `catch_unwind`, the first panic resumed). With `WakerList` the callbacks
//!   would still need this slab, and each core's `notify_all` returns its own
//!   `WakeBatch`, whose `wake` also swallows a waker's panic when the thread is already
//!   unwinding (a `DropGuard` dropped in a panic), where the context resumes it today.
//! * It is slower. A prototype (wakers in a `WakerList` per core, callbacks here, the
//!   first core's `WakeBatch` kept inline in `Deferred`; branch `wt-ctx-proto`) measured
//!   under callgrind with `benches/examples/hot_loop`: a wake round (`ctx_wake_round`:
//!   `done()` polled pending, cancel, polled ready) 2,024 instructions against 1,729
//!   (+17%), `with_cancel` + cancel without waiters (`ctx_cancel`) 925 against 825
//!   (+12%, the larger `Deferred`); the same number of allocations. `done()` polled on
//!   a done context (`ctx_done_ready`) is one atomic load in both (60 against 70
//!   instructions, a code-layout difference).

/// The capacity an emptied slab keeps.
const SLAB_KEEP: usize = 16;

/// A slab: stable indices, a free list threaded through the vacant slots, and the
/// storage released when it empties beyond a small buffer (so a long-lived parent
/// returns to empty).
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Head of the free list, or `usize::MAX`.
    free: usize,
    len: usize,
}

enum Slot<T> {
    Full(T),
    Vacant(usize),
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab::new()
    }
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: usize::MAX,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        if self.free != usize::MAX {
            let i = self.free;
            match std::mem::replace(&mut self.slots[i], Slot::Full(value)) {
                Slot::Vacant(next) => self.free = next,
                Slot::Full(_) => unreachable!("free list points at a full slot"),
            }
            i
        } else {
            self.slots.push(Slot::Full(value));
            self.slots.len() - 1
        }
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        match self.slots.get_mut(i) {
            Some(Slot::Full(v)) => Some(v),
            _ => None,
        }
    }

    /// # Panics
    ///
    /// If `i` is not a full slot (a broken invariant).
    pub(crate) fn remove(&mut self, i: usize) -> T {
        let value = match std::mem::replace(&mut self.slots[i], Slot::Vacant(self.free)) {
            Slot::Full(v) => v,
            Slot::Vacant(_) => panic!("gosync-context: registry slot {i} is vacant"),
        };
        self.len -= 1;
        self.free = i;
        if self.len == 0 {
            // Empty again: forget the free list; keep a small buffer for the next
            // child (create + cancel in a loop would otherwise allocate each time),
            // release a large one.
            self.slots.clear();
            if self.slots.capacity() > SLAB_KEEP {
                self.slots = Vec::new();
            }
            self.free = usize::MAX;
        }
        value
    }

    /// Empties the slab, returning the full slots' values.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        let slots = std::mem::take(&mut self.slots);
        self.free = usize::MAX;
        self.len = 0;
        slots.into_iter().filter_map(|s| match s {
            Slot::Full(v) => Some(v),
            Slot::Vacant(_) => None,
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Slab, SLAB_KEEP};

    #[test]
    fn slab_reuses_and_empties() {
        let mut s = Slab::new();
        let a = s.insert('a');
        let b = s.insert('b');
        let c = s.insert('c');
        assert_eq!(s.remove(b), 'b');
        assert_eq!(s.insert('d'), b);
        assert_eq!(s.len(), 3);
        s.remove(a);
        s.remove(b);
        s.remove(c);
        assert_eq!(s.len(), 0);
        assert!(s.slots.is_empty() && s.slots.capacity() <= SLAB_KEEP);
        for i in 0..100 {
            assert_eq!(s.insert('x'), i);
        }
        for i in 0..100 {
            s.remove(i);
        }
        assert_eq!(s.slots.capacity(), 0, "a large buffer is released");
        s.insert('e');
        s.insert('f');
        assert_eq!(s.drain().collect::<Vec<_>>(), ['e', 'f']);
        assert_eq!(s.len(), 0);
    }
}
