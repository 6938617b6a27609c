//! The order in which ready items are handed out: FIFO (the plain queue) or by priority.
//!
//! The queue core is generic over a [`Storage`]; the plain [`Fifo`] storage has zero-sized
//! priorities and tags, so the plain queue pays nothing for the priority feature.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

mod sealed {
    pub trait Sealed {}
}

/// How ready items are ordered: [`Fifo`] or [`Priority`]. Sealed.
///
/// Both are storages for every `T` (no bound), so a queue type names no bound on its
/// items; the queue's methods ask `S: Send` where its timer callback needs it.
///
/// A storage may hold stale copies of an item (after a priority raise); each copy carries a
/// tag, and the queue hands out only the copy whose tag matches the item's current one.
/// Each copy also carries the item's hash, so that the queue finds the item's entry without
/// hashing under its lock, and can prefetch the entries of the copies it hands out next.
pub trait Storage<T>: sealed::Sealed + Default {
    /// The priority an item is added with (`()` for FIFO).
    type Prio: Copy + Default + Ord + Send + fmt::Debug;
    /// Identifies one queued copy of an item (`()` for FIFO, where copies are never stale).
    /// Where copies can be stale, tags are unique across all items, so that the queue can
    /// tell a live copy by its tag alone, without comparing items (user code).
    #[doc(hidden)]
    type Tag: Copy + Default + Eq + Send;

    /// Queues `item`, whose hash is `hash`; returns the tag of this copy.
    #[doc(hidden)]
    fn push(&mut self, item: T, hash: u64, prio: Self::Prio) -> Self::Tag;
    /// Reserves a place in the order now, for an item that became dirty while processing
    /// and will be pushed (with [`push_reserved`](Storage::push_reserved)) when it is done.
    #[doc(hidden)]
    fn reserve(&mut self) -> Self::Tag;
    /// Queues `item` at the place reserved by `tag` (FIFO: at the back, as client-go's
    /// `Done` does); returns the tag of this copy.
    #[doc(hidden)]
    fn push_reserved(&mut self, item: T, hash: u64, prio: Self::Prio, tag: Self::Tag) -> Self::Tag;
    /// Takes the next copy (item, hash, tag, priority), which may be stale. Gives memory
    /// back when mostly empty (see [`is_sparse`]).
    #[doc(hidden)]
    fn pop(&mut self) -> Option<(T, u64, Self::Tag, Self::Prio)>;
    /// Puts back the copy [`pop`](Storage::pop) just took, as the next one: for a queue
    /// whose lookup of it ran user code that panicked. Does not panic (nor reallocate:
    /// the room of the popped copy is still there).
    #[doc(hidden)]
    fn unpop(&mut self, item: T, hash: u64, tag: Self::Tag, prio: Self::Prio);
    /// The hashes of copies [`pop`](Storage::pop) will return soon, to prefetch their
    /// entries in two stages: `near` (the copy after the next, when known: the next one was
    /// looked ahead at by the previous pop) and `far` (the one after it, if known).
    #[doc(hidden)]
    fn look_ahead(&self) -> (Option<u64>, Option<u64>);
    /// Number of copies held, stale ones included.
    #[doc(hidden)]
    fn copies(&self) -> usize;
    /// Keeps only the copies for which `live` returns true (it must not panic).
    #[doc(hidden)]
    fn retain(&mut self, live: impl FnMut(&T, u64, Self::Tag) -> bool);
    /// The copies the storage has room for (for the tests of shrinking).
    #[cfg(test)]
    fn capacity(&self) -> usize;
}

/// Below this capacity a container is never shrunk (a few KiB at most).
const MIN_CAPACITY: usize = 64;

/// A pop checks whether to shrink only at lengths that are a multiple of this (one test
/// on the hot path). A queue draining from its peak passes every length, so it still
/// shrinks, at the latest on its way down through `MIN_CAPACITY`.
const CHECK_EVERY: usize = 64;

/// Whether a container with `len` elements and room for `capacity` should give memory
/// back: when less than a quarter full. It then shrinks to twice its length
/// ([`shrunk_capacity`]), so the next shrink needs at least `len / 2` removals and the
/// next growth `len` insertions: each reallocation, which copies `len` elements, is paid
/// for by as many operations (amortized O(1), no shrink-grow thrash). Without it a
/// drained queue kept the room of its peak until dropped (16 MiB of a FIFO queue's
/// 72 MiB peak after a million keys; 72 of 136 MiB for a priority + delaying queue).
#[inline]
pub(crate) fn is_sparse(len: usize, capacity: usize) -> bool {
    capacity > MIN_CAPACITY && len < capacity / 4
}

/// [`is_sparse`], checked after a pop (see [`CHECK_EVERY`]).
#[inline]
fn sparse_after_pop(len: usize, capacity: usize) -> bool {
    len % CHECK_EVERY == 0 && is_sparse(len, capacity)
}

/// The capacity a sparse container shrinks to (see [`is_sparse`]).
#[inline]
pub(crate) fn shrunk_capacity(len: usize) -> usize {
    (len * 2).max(MIN_CAPACITY)
}

/// First in, first out: client-go's plain queue order.
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<(T, u64)>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> sealed::Sealed for Fifo<T> {}

impl<T> Storage<T> for Fifo<T> {
    type Prio = ();
    type Tag = ();

    #[inline]
    fn push(&mut self, item: T, hash: u64, (): ()) {
        self.0.push_back((item, hash));
    }

    #[inline]
    fn reserve(&mut self) {}

    #[inline]
    fn push_reserved(&mut self, item: T, hash: u64, (): (), (): ()) {
        self.0.push_back((item, hash));
    }

    #[inline]
    fn pop(&mut self) -> Option<(T, u64, (), ())> {
        let popped = self.0.pop_front();
        if sparse_after_pop(self.0.len(), self.0.capacity()) {
            self.shrink();
        }
        popped.map(|(t, hash)| (t, hash, (), ()))
    }

    #[cold]
    fn unpop(&mut self, item: T, hash: u64, (): (), (): ()) {
        self.0.push_front((item, hash));
    }

    /// The copies after the next: the next one was looked ahead at by the previous pop.
    #[inline]
    fn look_ahead(&self) -> (Option<u64>, Option<u64>) {
        let hash = |i| self.0.get(i).map(|&(_, hash)| hash);
        (hash(1), hash(2))
    }

    #[inline]
    fn copies(&self) -> usize {
        self.0.len()
    }

    fn retain(&mut self, mut live: impl FnMut(&T, u64, ()) -> bool) {
        self.0.retain(|(t, hash)| live(t, *hash, ()));
        if is_sparse(self.0.len(), self.0.capacity()) {
            self.shrink();
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<T> Fifo<T> {
    #[cold]
    fn shrink(&mut self) {
        self.0.shrink_to(shrunk_capacity(self.0.len()));
    }
}

/// Highest priority first, FIFO within a priority (controller-runtime's priority queue).
pub struct Priority<T> {
    heap: BinaryHeap<Slot<T>>,
    seq: u64,
}

impl<T> Default for Priority<T> {
    fn default() -> Self {
        Priority {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("copies", &self.heap.len())
            .finish()
    }
}

/// The tag of a priority-queued copy: its insertion number (unique).
#[doc(hidden)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Seq(u64);

struct Slot<T> {
    prio: i32,
    seq: u64,
    hash: u64,
    item: T,
}

impl<T> PartialEq for Slot<T> {
    fn eq(&self, other: &Self) -> bool {
        self.prio == other.prio && self.seq == other.seq
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    /// The max-heap's top is the highest priority, then the lowest (oldest) sequence.
    fn cmp(&self, other: &Self) -> Ordering {
        self.prio
            .cmp(&other.prio)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl<T> sealed::Sealed for Priority<T> {}

impl<T> Storage<T> for Priority<T> {
    type Prio = i32;
    type Tag = Seq;

    fn push(&mut self, item: T, hash: u64, prio: i32) -> Seq {
        self.seq += 1;
        self.heap.push(Slot {
            prio,
            seq: self.seq,
            hash,
            item,
        });
        Seq(self.seq)
    }

    fn reserve(&mut self) -> Seq {
        self.seq += 1;
        Seq(self.seq)
    }

    /// controller-runtime: an item added while it was being processed keeps the place of
    /// that add among the items of its priority.
    fn push_reserved(&mut self, item: T, hash: u64, prio: i32, tag: Seq) -> Seq {
        self.heap.push(Slot {
            prio,
            seq: tag.0,
            hash,
            item,
        });
        tag
    }

    fn pop(&mut self) -> Option<(T, u64, Seq, i32)> {
        let popped = self.heap.pop();
        if sparse_after_pop(self.heap.len(), self.heap.capacity()) {
            shrink_heap_now(&mut self.heap);
        }
        popped.map(|s| (s.item, s.hash, Seq(s.seq), s.prio))
    }

    /// The copy's (priority, sequence) puts it back at the top.
    #[cold]
    fn unpop(&mut self, item: T, hash: u64, tag: Seq, prio: i32) {
        self.heap.push(Slot {
            prio,
            seq: tag.0,
            hash,
            item,
        });
    }

    /// The top: only it is known to come next (barring a higher-priority add).
    fn look_ahead(&self) -> (Option<u64>, Option<u64>) {
        (self.heap.peek().map(|s| s.hash), None)
    }

    fn copies(&self) -> usize {
        self.heap.len()
    }

    fn retain(&mut self, mut live: impl FnMut(&T, u64, Seq) -> bool) {
        self.heap.retain(|s| live(&s.item, s.hash, Seq(s.seq)));
        shrink_heap(&mut self.heap);
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.heap.capacity()
    }
}

/// Gives a heap's memory back when it is mostly empty (see [`is_sparse`]).
#[inline]
pub(crate) fn shrink_heap<E: Ord>(heap: &mut BinaryHeap<E>) {
    if is_sparse(heap.len(), heap.capacity()) {
        shrink_heap_now(heap);
    }
}

#[cold]
fn shrink_heap_now<E: Ord>(heap: &mut BinaryHeap<E>) {
    heap.shrink_to(shrunk_capacity(heap.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shrink is paid for by many operations: a queue whose length hovers around a
    /// value reallocates once, not at every push and pop.
    #[test]
    fn shrinking_does_not_thrash() {
        fn check<S: Storage<u32>>(prio: S::Prio) {
            let mut s = S::default();
            for i in 0..1024 {
                s.push(i, 0, prio);
            }
            let mut cap = s.capacity();
            let mut changes = 0;
            let mut track = |s: &S| {
                if s.capacity() != cap {
                    changes += 1;
                    cap = s.capacity();
                }
            };
            // Down past 192, the first length checked (a multiple of `CHECK_EVERY`) below
            // a quarter of 1024.
            while s.copies() > 190 {
                s.pop();
                track(&s);
            }
            for i in 0..if cfg!(miri) { 500 } else { 10_000 } {
                s.push(i, 0, prio);
                track(&s);
                s.pop();
                track(&s);
            }
            assert_eq!(changes, 1, "one shrink, no thrash");
            assert!((190..1024).contains(&cap));
            while s.pop().is_some() {}
            assert!(s.capacity() <= MIN_CAPACITY);
        }
        check::<Fifo<u32>>(());
        check::<Priority<u32>>(0);
    }
}
