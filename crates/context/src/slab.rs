//! A slab: the registry of a core's waiters (pending futures' wakers, `on_cancel`
//! hooks, `after_func`s), with stable indices for their owners to deregister by.

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
