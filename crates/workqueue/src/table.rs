//! The queue's item table: a compact open-addressing index over a dense array of entries.
//!
//! Why not `std`'s `HashMap`: in a deep queue (hundreds of thousands of items) every lookup
//! misses the cache, and hashbrown's separate control bytes make that two misses inside the
//! queue's lock. A table whose slots hold the key and entry (48 bytes here) has one miss,
//! but a million items then take about 100 MB, far past the last-level cache, so each
//! probe is a DRAM and TLB miss. Here the probed array is an *index* of 8-byte slots, each
//! a 32-bit hash fragment and the number of the item's cell in a separate dense array of
//! cells (key and entry). A million items take a 16 MB index, which fits the last-level
//! cache: on this project's 2-core machine a random insert into 2M slots cost 20–30 ns
//! with 8-byte slots against 100–115 ns with 48-byte ones. Growing rehashes only the index
//! (a slot's fragment gives its home), never the cells; a new item's cell is the last one
//! freed (still cached) or the next one at the end of the array.
//!
//! The slot an item's probe starts at is a pure function of its hash, so the queue can
//! *prefetch* it before taking the lock (for `add` and `done`, whose hash is computed
//! outside the lock); `get` prefetches coming items in two stages, the index slot of one
//! two steps ahead in the ready order and, through its now cached slot,
//! ([`prefetch_entry`](Table::prefetch_entry)) the cell of the one a step ahead.
//!
//! Deletion shifts the following index slots back (no tombstones), so lookups stay short
//! however many items pass through. The index is at most half full: it doubles when half
//! full. It shrinks (to a quarter full) when below 1/32, and the cells are then compacted
//! too, so that a drained queue does not keep (and scan, for the unfinished-work metric)
//! arrays sized for its peak, while a queue draining from its peak does not rebuild at
//! every halving.
//!
//! Limit: at most 2^31 items at once (the index's 32-bit fields); more panics.

use std::borrow::Borrow;
use std::hash::Hash;
use std::mem;

/// The hasher of the item table (seeded per process; see the crate docs).
pub(crate) type Hasher = foldhash::fast::RandomState;

/// The smallest index allocated.
const MIN_SLOTS: usize = 16;

/// The index shrinks when fewer than one slot in this many is full: rarely, so that a
/// queue draining from a peak does not rebuild its way down step by step.
const SHRINK_BELOW: usize = 32;

/// The most cells: cell numbers are stored plus one in 32 bits, and the index (at most
/// half full, homes from 32-bit fragments) has at most 2^32 slots.
const MAX_CELLS: usize = 1 << 31;

/// An empty index slot. A full one is `fragment << 32 | (cell + 1)`, never 0.
const EMPTY: u64 = 0;

/// End of the free-cell list.
const NONE: u32 = u32::MAX;

/// The index slots for `len` entries after a shrink: a quarter full, so that growing back
/// takes many inserts.
fn slots_for(len: usize) -> usize {
    (len * 4).next_power_of_two().max(MIN_SLOTS)
}

/// The 32 bits of a hash the index keeps: the home slot comes from them, and a probe
/// compares them before it looks at a cell.
#[inline]
fn fragment(hash: u64) -> u32 {
    hash as u32
}

#[inline]
fn pack(fragment: u32, cell: usize) -> u64 {
    (u64::from(fragment) << 32) | (cell as u64 + 1)
}

/// The cell a full index slot points to.
#[inline]
fn cell_of(slot: u64) -> usize {
    (slot as u32 - 1) as usize
}

/// The slot a full index slot's probe starts at.
#[inline]
fn home_of(slot: u64, mask: usize) -> usize {
    (slot >> 32) as usize & mask
}

/// A cell of the dense array: an item and its entry, or a link of the free list.
enum Cell<K, V> {
    Full(K, V),
    /// The next free cell, or [`NONE`].
    Free(u32),
}

/// A hash map from `K` to `V` that takes precomputed hashes (see the module docs).
///
/// Positions returned by [`find`](Table::find) are index slots; they stay valid until the
/// next insert or removal.
pub(crate) struct Table<K, V> {
    /// A power-of-two number of slots (or none before the first insert), each [`EMPTY`] or
    /// a fragment and a cell number.
    index: Box<[u64]>,
    cells: Vec<Cell<K, V>>,
    /// Head of the free-cell list (most recently freed first: still cached), or [`NONE`].
    free: u32,
    /// The number of entries (at most [`MAX_CELLS`]).
    len: u32,
}

impl<K, V> Table<K, V> {
    /// The size of an index slot, for [`prefetch_at`].
    pub(crate) const SLOT_SIZE: usize = mem::size_of::<u64>();

    /// The index slots and the cells allocated (for the tests of shrinking).
    #[cfg(all(test, not(loom)))] // its only user, the memory test, is not built under loom
    pub(crate) fn capacity(&self) -> (usize, usize) {
        (self.index.len(), self.cells.capacity())
    }

    /// The number of entries.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    fn mask(&self) -> usize {
        self.index.len().wrapping_sub(1)
    }

    /// The entries.
    #[cfg(test)]
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.cells.iter().filter_map(|c| match c {
            Cell::Full(_, v) => Some(v),
            Cell::Free(_) => None,
        })
    }

    /// Hints the CPU to fetch the index slot `hash` starts probing at (a no-op while the
    /// index has no slots).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch_at(self.layout(), Self::SLOT_SIZE, hash);
    }

    /// Where index slot 0 is and the index mask, for [`prefetch_at`] outside the lock.
    #[inline]
    pub(crate) fn layout(&self) -> (usize, usize) {
        (self.index.as_ptr() as usize, self.mask())
    }

    /// The key and entry of the cell a full index slot points to.
    #[inline]
    fn full(&self, slot: u64) -> (&K, &V) {
        match &self.cells[cell_of(slot)] {
            Cell::Full(k, v) => (k, v),
            Cell::Free(_) => unreachable!("an index slot points to a free cell"),
        }
    }

    #[inline]
    fn full_mut(&mut self, slot: u64) -> (&K, &mut V) {
        match &mut self.cells[cell_of(slot)] {
            Cell::Full(k, v) => (k, v),
            Cell::Free(_) => unreachable!("an index slot points to a free cell"),
        }
    }

    /// Frees the cell a full index slot points to. The entry is dropped in place (`V`'s
    /// drop must run no user code); the key is returned, for the caller to drop once the
    /// table is consistent again, if dropping it runs code (a key's `Drop` is user code).
    #[inline]
    fn free_cell(&mut self, slot: u64) -> Option<K> {
        let cell = cell_of(slot);
        let free = Cell::Free(self.free);
        self.free = cell as u32;
        if mem::needs_drop::<K>() {
            match mem::replace(&mut self.cells[cell], free) {
                Cell::Full(k, _) => Some(k),
                Cell::Free(_) => unreachable!("an index slot points to a free cell"),
            }
        } else {
            // Nothing runs: as cheap as an overwrite.
            self.cells[cell] = free;
            None
        }
    }

    /// The first empty index slot of the probe that starts at `fragment`'s home.
    #[inline]
    fn empty_slot(&self, fragment: u32) -> usize {
        let mask = self.mask();
        let mut i = fragment as usize & mask;
        while self.index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        i
    }

    /// Rehashes the index into `slots` slots; the cells do not move.
    #[cold]
    fn rehash(&mut self, slots: usize) {
        let old = mem::replace(&mut self.index, empty_index(slots));
        for &slot in old.iter().filter(|&&s| s != EMPTY) {
            let i = self.empty_slot((slot >> 32) as u32);
            self.index[i] = slot;
        }
    }

    /// Moves the full cells to a new dense array and rehashes the index into `slots` slots.
    #[cold]
    fn rebuild(&mut self, slots: usize) {
        let mut old_cells = mem::replace(&mut self.cells, Vec::with_capacity(self.len as usize));
        self.free = NONE;
        // Renumber in place, in index order, then rehash the renumbered slots.
        for slot in self.index.iter_mut().filter(|s| **s != EMPTY) {
            let cell = mem::replace(&mut old_cells[cell_of(*slot)], Cell::Free(NONE));
            *slot = pack((*slot >> 32) as u32, self.cells.len());
            self.cells.push(cell);
        }
        self.rehash(slots);
    }
}

impl<K: Hash + Eq, V> Table<K, V> {
    /// An empty table; it allocates on the first insert. Hashes come from the caller.
    pub(crate) fn new() -> Self {
        Table {
            index: Box::new([]),
            cells: Vec::new(),
            free: NONE,
            len: 0,
        }
    }

    /// `Ok(position)` of `key`'s index slot, or `Err(position)` of the empty slot where it
    /// would be inserted (meaningless while the index has no slots).
    ///
    /// `key` may be any borrowed form of `K` (as in `HashMap::get`): `hash` must be its
    /// hash, which `Borrow` guarantees is the hash of the equal `K`.
    #[inline]
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.probe(hash, |slot| self.full(slot).0.borrow() == key)
    }

    /// The position of the first entry with `hash`'s fragment for which `is` is true,
    /// without comparing keys: for an entry identified by something unique in it (the
    /// delay heap's push number), so that no user code (`Eq`) runs.
    #[inline]
    pub(crate) fn find_by(&self, hash: u64, mut is: impl FnMut(&V) -> bool) -> Option<usize> {
        self.probe(hash, |slot| is(self.full(slot).1)).ok()
    }

    /// Walks `hash`'s probe: `Ok` with the first slot with its fragment that `is` accepts,
    /// or `Err` with the first empty slot (0 while the index has no slots).
    #[inline(always)]
    fn probe(&self, hash: u64, mut is: impl FnMut(u64) -> bool) -> Result<usize, usize> {
        if self.index.is_empty() {
            return Err(0);
        }
        let mask = self.mask();
        let fragment = fragment(hash);
        let mut i = fragment as usize & mask;
        loop {
            // Terminates: at most half the slots are full.
            let slot = self.index[i];
            if slot == EMPTY {
                return Err(i);
            }
            if (slot >> 32) as u32 == fragment && is(slot) {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The entry of `key`, if any.
    #[cfg(test)]
    fn get(&self, hash: u64, key: &K) -> Option<&V> {
        let i = self.find(hash, key).ok()?;
        Some(self.full(self.index[i]).1)
    }

    /// The key and the entry at a position `find` returned as `Ok` (and that no insert or
    /// removal has moved since).
    #[inline]
    pub(crate) fn at_mut(&mut self, position: usize) -> (&K, &mut V) {
        let slot = self.index[position];
        debug_assert!(slot != EMPTY, "position of a full slot");
        self.full_mut(slot)
    }

    /// Hints the CPU to fetch the cell of the entry `hash` most likely belongs to (the
    /// first index slot of its probe with its fragment), for a lookup soon. Reads the index
    /// (call it under the lock), not the cell.
    #[inline]
    pub(crate) fn prefetch_entry(&self, hash: u64) {
        if let Ok(i) = self.probe(hash, |_| true) {
            prefetch_slot(
                self.cells
                    .as_ptr()
                    .wrapping_add(cell_of(self.index[i]))
                    .cast(),
                mem::size_of::<Cell<K, V>>(),
            );
        }
    }

    /// Makes room for one more entry, for `hash`, whose vacant position `find` returned
    /// (as `Err`): grows the index if the entry would fill it past half. Returns the
    /// vacant position to pass to [`insert_vacant`](Table::insert_vacant), probed again
    /// after a growth. Called before the caller changes anything else, so that the
    /// table's only panic comes first.
    ///
    /// # Panics
    ///
    /// With 2^31 entries already in the table, before anything is changed.
    #[inline]
    pub(crate) fn reserve_one(&mut self, vacant: usize, hash: u64) -> usize {
        if (self.len as usize + 1) * 2 > self.index.len() {
            return self.grow_for(hash);
        }
        vacant
    }

    #[cold]
    fn grow_for(&mut self, hash: u64) -> usize {
        // The index is at most half full: 2^31 entries fill 2^32 slots, the most that
        // 32-bit fragments address, and one more would need a larger index.
        assert!(
            (self.len as usize) < MAX_CELLS,
            "gosync_workqueue: more than 2^31 items in one queue"
        );
        self.rehash((self.index.len() * 2).max(MIN_SLOTS));
        self.empty_slot(fragment(hash))
    }

    /// Inserts `key`, which is absent, at `vacant`: what
    /// [`reserve_one`](Table::reserve_one) returned for it (no insert or removal since).
    /// Returns the position of its index slot. Does not panic.
    #[inline]
    pub(crate) fn insert_vacant(&mut self, vacant: usize, hash: u64, key: K, value: V) -> usize {
        let i = vacant;
        let fragment = fragment(hash);
        debug_assert!((self.len as usize + 1) * 2 <= self.index.len(), "reserved");
        debug_assert!(self.index[i] == EMPTY);
        let cell = if self.free != NONE {
            let cell = self.free as usize;
            let Cell::Free(next) = self.cells[cell] else {
                unreachable!("the free list holds a full cell")
            };
            self.free = next;
            self.cells[cell] = Cell::Full(key, value);
            cell
        } else {
            // No free cell: every cell is full, and `reserve_one` checked their number.
            debug_assert!(self.cells.len() < MAX_CELLS);
            self.cells.push(Cell::Full(key, value));
            self.cells.len() - 1
        };
        self.index[i] = pack(fragment, cell);
        self.len += 1;
        i
    }

    /// Removes the entry at `position`, a full slot. Returns its key if dropping it runs
    /// code: the caller drops it once its own state is consistent (a key's `Drop` is user
    /// code, which may panic).
    #[must_use = "the removed key is dropped by the caller, at a point where a panic is safe"]
    pub(crate) fn remove_at(&mut self, position: usize) -> Option<K> {
        let slot = self.index[position];
        debug_assert!(slot != EMPTY, "position of a full slot");
        let removed = self.free_cell(slot);
        self.len -= 1;
        // Backward shift: move each following slot of the run into the hole if its home is
        // not after the hole, so that every probe sequence stays unbroken.
        let mask = self.mask();
        let mut hole = position;
        let mut j = (position + 1) & mask;
        loop {
            let next = self.index[j];
            if next == EMPTY {
                break;
            }
            let home = home_of(next, mask);
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.index[hole] = next;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.index[hole] = EMPTY;
        if self.len as usize * SHRINK_BELOW < self.index.len() && self.index.len() > MIN_SLOTS {
            self.rebuild(slots_for(self.len as usize));
        }
        removed
    }

    /// Keeps only the entries for which `keep` returns true; may change every position.
    /// Returns the removed keys whose drop runs code, for the caller to drop (see
    /// [`remove_at`](Table::remove_at)). `keep` must not panic.
    #[must_use = "the removed keys are dropped by the caller, at a point where a panic is safe"]
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) -> Vec<K> {
        let mut removed = Vec::new();
        for i in 0..self.index.len() {
            let slot = self.index[i];
            if slot == EMPTY {
                continue;
            }
            let (k, v) = self.full_mut(slot);
            if !keep(k, v) {
                removed.extend(self.free_cell(slot));
                self.index[i] = EMPTY;
                self.len -= 1;
            }
        }
        // The holes broke probe runs: rebuild everything, sized for what is left.
        self.rebuild(slots_for(self.len as usize));
        removed
    }
}

/// A zeroed (all [`EMPTY`]) index: zeroed allocation, so a large one comes as fresh zero
/// pages with no writes.
fn empty_index(n: usize) -> Box<[u64]> {
    vec![EMPTY; n].into_boxed_slice()
}

/// Hints the CPU to fetch the slot `hash` starts probing at in a table whose
/// [`layout`](Table::layout) was `(base, mask)` and whose slots are `slot_size` bytes
/// (nothing while the table has no slots: `mask` is then `usize::MAX`).
/// The layout may be stale (the table resized since): the address is then useless, which
/// is harmless, as a prefetch never faults.
#[inline]
pub(crate) fn prefetch_at((base, mask): (usize, usize), slot_size: usize, hash: u64) {
    if base != 0 && mask != usize::MAX {
        let offset = (hash as usize & mask).wrapping_mul(slot_size);
        prefetch_slot(base.wrapping_add(offset) as *const u8, slot_size);
    }
}

/// Prefetches the cache lines of the slot at `p` (`slot_size` bytes) and of the next one,
/// at most four lines (no loop: `slot_size` is a constant once inlined): a slot may straddle two lines, and a probe (or a removal's backward
/// shift) usually looks at the next slot.
#[inline(always)]
fn prefetch_slot(p: *const u8, slot_size: usize) {
    const LINE: usize = 64;
    let end = p as usize % LINE + 2 * slot_size; // past the two slots, from p's line
    prefetch(p);
    if end > LINE {
        prefetch(p.wrapping_add(LINE));
    }
    if end > 2 * LINE {
        prefetch(p.wrapping_add(2 * LINE));
    }
    if end > 3 * LINE {
        prefetch(p.wrapping_add(3 * LINE));
    }
}

/// Asks the CPU to bring the cache line at `p` in, for a read or a write soon.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse", not(loom)))]
    // SAFETY: `prefetcht0` is only a hint: it reads nothing architecturally and never
    // faults, whatever the address (a stale one included); `sse` is enabled (checked by
    // the `cfg`).
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse", not(loom))))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    use std::hash::BuildHasher;

    thread_local! {
        static HASHER: Hasher = Hasher::default();
    }

    fn hash(k: &u64) -> u64 {
        HASHER.with(|h| h.hash_one(k))
    }

    fn insert(t: &mut Table<u64, u64>, k: u64, v: u64) -> bool {
        let h = hash(&k);
        match t.find(h, &k) {
            Ok(i) => {
                *t.at_mut(i).1 = v;
                false
            }
            Err(vacant) => {
                let vacant = t.reserve_one(vacant, h);
                t.insert_vacant(vacant, h, k, v);
                true
            }
        }
    }

    fn remove(t: &mut Table<u64, u64>, k: u64) -> Option<u64> {
        let h = hash(&k);
        let i = t.find(h, &k).ok()?;
        let v = *t.at_mut(i).1;
        let _ = t.remove_at(i);
        Some(v)
    }

    #[test]
    fn grows_and_shrinks_with_its_contents() {
        // Under Miri 1,500 keys: still many growths, and on the way down the index still
        // shrinks twice (4,096 slots, 512, 64) to the small size asserted below.
        const N: u64 = if cfg!(miri) { 1_500 } else { 10_000 };
        let mut t = Table::new();
        for k in 0..N {
            assert!(insert(&mut t, k, k * 2));
        }
        assert_eq!(t.len(), N as usize);
        let slots = 2 * N as usize;
        assert!(t.index.len() >= slots && t.index.len() <= slots.next_power_of_two());
        for k in 0..N {
            assert_eq!(t.get(hash(&k), &k), Some(&(k * 2)));
        }
        for k in 0..N - 10 {
            assert_eq!(remove(&mut t, k), Some(k * 2));
        }
        assert_eq!(t.len(), 10);
        assert!(
            t.index.len() <= 128 && t.cells.len() <= 64,
            "{} slots and {} cells left for 10 entries",
            t.index.len(),
            t.cells.len()
        );
        for k in N - 10..N {
            assert_eq!(t.get(hash(&k), &k), Some(&(k * 2)));
        }
    }

    /// Keys that all hash alike form one long run; deleting from its middle must keep every
    /// other key reachable (the backward shift), also across the end of the slot array.
    #[test]
    fn backward_shift_keeps_colliding_keys_reachable() {
        let mut t: Table<u64, u64> = Table::new();
        let cap = 64usize;
        t.index = empty_index(cap);
        // Hash every key to one of the last two slots, so the run wraps around.
        let fixed = |k: u64| (cap as u64 - 2) + (k % 2);
        for k in 0..20 {
            let h = fixed(k);
            let Err(v) = t.find(h, &k) else { panic!() };
            let v = t.reserve_one(v, h);
            t.insert_vacant(v, h, k, k);
        }
        for k in [3, 0, 11, 19, 7] {
            let i = t.find(fixed(k), &k).unwrap();
            assert_eq!(t.at_mut(i), (&k, &mut k.clone()));
            let _ = t.remove_at(i);
        }
        for k in 0..20 {
            let found = t.get(fixed(k), &k).copied();
            let gone = [3, 0, 11, 19, 7].contains(&k);
            assert_eq!(found, (!gone).then_some(k), "key {k}");
        }
    }

    proptest! {
        // Under Miri a few shorter runs (still past 64 live keys' growth, and shrinking).
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

        /// The table against `HashMap`, with a hash that collides a lot (low 3 bits only),
        /// so runs, wrap-arounds, shifts, growth and shrinking are all exercised.
        #[test]
        fn behaves_as_a_map(
            ops in prop::collection::vec((0u8..4, 0u64..64), 1..if cfg!(miri) { 150 } else { 400 })
        ) {
            let mut t: Table<u64, u64> = Table::new();
            let mut model = HashMap::new();
            let h = |k: u64| k % 8;
            for (op, k) in ops {
                match op {
                    0 | 1 => match t.find(h(k), &k) {
                        Ok(i) => { *t.at_mut(i).1 += 1; *model.get_mut(&k).unwrap() += 1; }
                        Err(v) => {
                            let v = t.reserve_one(v, h(k));
                            t.insert_vacant(v, h(k), k, 0);
                            model.insert(k, 0);
                        }
                    },
                    2 => {
                        let got = t.find(h(k), &k).ok().map(|i| {
                            let v = *t.at_mut(i).1;
                            let _ = t.remove_at(i);
                            v
                        });
                        prop_assert_eq!(got, model.remove(&k));
                    }
                    _ => {
                        let _ = t.retain(|k, _| k % 3 != 0);
                        model.retain(|k, _| k % 3 != 0);
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for k in 0..64 {
                    prop_assert_eq!(t.get(h(k), &k), model.get(&k));
                }
                let mut sum: Vec<u64> = t.values().copied().collect();
                let mut want: Vec<u64> = model.values().copied().collect();
                sum.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(sum, want);
            }
        }
    }
}
