//! The queue's item table: open addressing with linear probing, where a slot holds the
//! hash, the key and the entry together.
//!
//! Why not `std`'s `HashMap`: in a deep queue (hundreds of thousands of items) every
//! lookup misses the cache, and hashbrown's separate control bytes make that two misses,
//! both inside the queue's lock, one after the other. Here the slot an item lives in (or
//! starts probing from) is a pure function of its hash, so the queue can *prefetch* it:
//! before taking the lock (for `add` and `done`, whose hash is computed outside the lock)
//! and one step ahead in the ready order (for `get`). The lock is then held over cached
//! lines only. Measured at 4x4 with a million items: see the closing note of issue 4.
//!
//! Deletion shifts the following slots back (no tombstones), so lookups stay short however
//! many items pass through. The load factor stays at most 1/2: the table grows when half
//! full. It shrinks (to a quarter full) when below 1/32, so that a drained queue does not
//! keep (and scan, for the unfinished-work metric) a table sized for its peak, while a
//! queue draining from its peak does not rehash at every halving.

use std::hash::Hash;
use std::mem;

/// The hasher of the item table (seeded per process; see the crate docs).
pub(crate) type Hasher = foldhash::fast::RandomState;

/// The smallest table allocated.
const MIN_SLOTS: usize = 16;

/// The table shrinks when fewer than one slot in this many is full: rarely, so that a
/// queue draining from a peak does not rehash its way down step by step.
const SHRINK_BELOW: usize = 32;

/// The slots for `len` entries after a shrink: a quarter full, so that growing back
/// takes many inserts.
fn slots_for(len: usize) -> usize {
    (len * 4).next_power_of_two().max(MIN_SLOTS)
}

struct Slot<K, V> {
    /// The key's hash (meaningless while `kv` is `None`).
    hash: u64,
    kv: Option<(K, V)>,
}

impl<K, V> Slot<K, V> {
    const EMPTY: Self = Slot { hash: 0, kv: None };
}

/// A hash map from `K` to `V` that takes precomputed hashes (see the module docs).
pub(crate) struct Table<K, V> {
    /// A power-of-two number of slots, or none before the first insert.
    slots: Box<[Slot<K, V>]>,
    len: usize,
    /// Whether `slots` moved since [`take_moved`](Table::take_moved) last said so.
    moved: bool,
}

impl<K, V> Table<K, V> {
    /// The size of a slot, for [`prefetch_at`].
    pub(crate) const SLOT_SIZE: usize = mem::size_of::<Slot<K, V>>();

    /// The number of entries.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The entries.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots
            .iter()
            .filter_map(|s| s.kv.as_ref().map(|(_, v)| v))
    }

    /// Hints the CPU to fetch the slot `hash` starts probing at (a no-op while the table has
    /// no slots).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch_at(self.layout(), Self::SLOT_SIZE, hash);
    }

    /// Where slot 0 is and the index mask, for [`prefetch_at`] outside the lock.
    #[inline]
    pub(crate) fn layout(&self) -> (usize, usize) {
        (self.slots.as_ptr() as usize, self.mask())
    }

    /// Whether the slots moved (the [`layout`](Table::layout) changed) since the last call.
    #[inline]
    pub(crate) fn take_moved(&mut self) -> bool {
        mem::take(&mut self.moved)
    }
}

impl<K: Hash + Eq, V> Table<K, V> {
    /// An empty table; it allocates on the first insert. Hashes come from the caller.
    pub(crate) fn new() -> Self {
        Table {
            slots: Box::new([]),
            len: 0,
            moved: false,
        }
    }

    /// `Ok(index)` of `key`'s slot, or `Err(index)` of the empty slot where it would be
    /// inserted (meaningless while the table has no slots).
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &K) -> Result<usize, usize> {
        if self.slots.is_empty() {
            return Err(0);
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            // Terminates: at most half the slots are full.
            let slot = &self.slots[i];
            match &slot.kv {
                None => return Err(i),
                Some((k, _)) if slot.hash == hash && k == key => return Ok(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// The entry of `key`, if any.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<&V> {
        let i = self.find(hash, key).ok()?;
        self.slots[i].kv.as_ref().map(|(_, v)| v)
    }

    /// The entry of `key`, if any, for changing.
    #[inline]
    pub(crate) fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        let i = self.find(hash, key).ok()?;
        self.slots[i].kv.as_mut().map(|(_, v)| v)
    }

    /// The key and the entry at an index `find` returned as `Ok` (and that no insert or
    /// removal has moved since).
    #[inline]
    pub(crate) fn at_mut(&mut self, index: usize) -> (&K, &mut V) {
        let (k, v) = self.slots[index].kv.as_mut().expect("index of a full slot");
        (k, v)
    }

    /// Inserts `key`, which is absent: `vacant` is what `find` returned for it as `Err` (no
    /// insert or removal since). Returns the index of its slot.
    #[inline]
    pub(crate) fn insert_vacant(&mut self, vacant: usize, hash: u64, key: K, value: V) -> usize {
        let mut i = vacant;
        if (self.len + 1) * 2 > self.slots.len() {
            self.resize((self.slots.len() * 2).max(MIN_SLOTS));
            i = self.empty_slot(hash);
        }
        debug_assert!(self.slots[i].kv.is_none());
        self.slots[i] = Slot {
            hash,
            kv: Some((key, value)),
        };
        self.len += 1;
        i
    }

    /// Removes (and drops) the entry at `index`, a full slot.
    ///
    /// Dropped in place rather than returned: moving the slot out would reload, with wide
    /// loads, fields the caller has just written with narrow stores, a store-forwarding
    /// stall (measured: a tenth of a single-thread add/get/done cycle).
    pub(crate) fn remove_at(&mut self, index: usize) {
        debug_assert!(self.slots[index].kv.is_some(), "index of a full slot");
        self.slots[index].kv = None;
        self.len -= 1;
        // Backward shift: move each following entry of the run into the hole if its home
        // slot is not after the hole, so that every probe sequence stays unbroken.
        let mask = self.mask();
        let mut hole = index;
        let mut j = (index + 1) & mask;
        while self.slots[j].kv.is_some() {
            let home = self.slots[j].hash as usize & mask;
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.slots.swap(hole, j);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        if self.len * SHRINK_BELOW < self.slots.len() && self.slots.len() > MIN_SLOTS {
            self.resize(slots_for(self.len));
        }
    }

    /// Keeps only the entries for which `keep` returns true; may change every index.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for slot in self.slots.iter_mut() {
            if let Some((k, v)) = &mut slot.kv {
                if !keep(k, v) {
                    slot.kv = None;
                    self.len -= 1;
                }
            }
        }
        // The holes broke probe runs: rehash everything into a table sized for what is left.
        self.resize(slots_for(self.len));
    }

    /// The first empty slot of `hash`'s probe sequence.
    #[inline]
    fn empty_slot(&self, hash: u64) -> usize {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i].kv.is_some() {
            i = (i + 1) & mask;
        }
        i
    }

    #[cold]
    fn resize(&mut self, slots: usize) {
        let old = mem::replace(&mut self.slots, empty_slots(slots));
        self.moved = true;
        for slot in old.into_vec() {
            if slot.kv.is_some() {
                let i = self.empty_slot(slot.hash);
                self.slots[i] = slot;
            }
        }
    }
}

fn empty_slots<K, V>(n: usize) -> Box<[Slot<K, V>]> {
    let mut v = Vec::with_capacity(n);
    v.resize_with(n, || Slot::EMPTY);
    v.into_boxed_slice()
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
                t.insert_vacant(vacant, h, k, v);
                true
            }
        }
    }

    fn remove(t: &mut Table<u64, u64>, k: u64) -> Option<u64> {
        let h = hash(&k);
        let i = t.find(h, &k).ok()?;
        let v = *t.at_mut(i).1;
        t.remove_at(i);
        Some(v)
    }

    #[test]
    fn grows_and_shrinks_with_its_contents() {
        let mut t = Table::new();
        for k in 0..10_000 {
            assert!(insert(&mut t, k, k * 2));
        }
        assert_eq!(t.len(), 10_000);
        assert!(t.slots.len() >= 20_000 && t.slots.len() <= 32_768);
        for k in 0..10_000 {
            assert_eq!(t.get(hash(&k), &k), Some(&(k * 2)));
        }
        for k in 0..9_990 {
            assert_eq!(remove(&mut t, k), Some(k * 2));
        }
        assert_eq!(t.len(), 10);
        assert!(
            t.slots.len() <= 128,
            "{} slots left for 10 entries",
            t.slots.len()
        );
        for k in 9_990..10_000 {
            assert_eq!(t.get(hash(&k), &k), Some(&(k * 2)));
        }
    }

    /// Keys that all hash alike form one long run; deleting from its middle must keep every
    /// other key reachable (the backward shift), also across the end of the slot array.
    #[test]
    fn backward_shift_keeps_colliding_keys_reachable() {
        let mut t: Table<u64, u64> = Table::new();
        let cap = 64usize;
        t.slots = empty_slots(cap);
        // Hash every key to one of the last two slots, so the run wraps around.
        let fixed = |k: u64| (cap as u64 - 2) + (k % 2);
        for k in 0..20 {
            let h = fixed(k);
            let Err(v) = t.find(h, &k) else { panic!() };
            t.insert_vacant(v, h, k, k);
        }
        for k in [3, 0, 11, 19, 7] {
            let i = t.find(fixed(k), &k).unwrap();
            assert_eq!(t.at_mut(i), (&k, &mut k.clone()));
            t.remove_at(i);
        }
        for k in 0..20 {
            let found = t.get(fixed(k), &k).copied();
            let gone = [3, 0, 11, 19, 7].contains(&k);
            assert_eq!(found, (!gone).then_some(k), "key {k}");
        }
    }

    proptest! {
        /// The table against `HashMap`, with a hash that collides a lot (low 3 bits only),
        /// so runs, wrap-arounds, shifts, growth and shrinking are all exercised.
        #[test]
        fn behaves_as_a_map(ops in prop::collection::vec((0u8..4, 0u64..64), 1..400)) {
            let mut t: Table<u64, u64> = Table::new();
            let mut model = HashMap::new();
            let h = |k: u64| k % 8;
            for (op, k) in ops {
                match op {
                    0 | 1 => match t.find(h(k), &k) {
                        Ok(i) => { *t.at_mut(i).1 += 1; *model.get_mut(&k).unwrap() += 1; }
                        Err(v) => { t.insert_vacant(v, h(k), k, 0); model.insert(k, 0); }
                    },
                    2 => {
                        let got = t.find(h(k), &k).ok().map(|i| {
                            let v = *t.at_mut(i).1;
                            t.remove_at(i);
                            v
                        });
                        prop_assert_eq!(got, model.remove(&k));
                    }
                    _ => {
                        t.retain(|k, _| k % 3 != 0);
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
