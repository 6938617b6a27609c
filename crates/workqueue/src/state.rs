//! The queue's lock-protected state and the operations on it (no blocking in here).
//!
//! # Invariants (all under `Shared::state`)
//!
//! 1. An item has an entry in `items` iff it is dirty, processing, or waiting.
//! 2. `dirty && !processing` ⇔ exactly one live copy of the item is in `ready` (its tag
//!    equals the entry's `tag`); other copies in `ready` are stale and skipped.
//! 3. `wait.is_some()` ⇒ `!dirty`: an item that will be processed anyway is not also waiting
//!    (the fix for kubernetes#126027). A heap entry is live iff its (time, push number)
//!    equals `wait`, so a stale entry never fires, even at the same time as the live one.
//! 4. `queued`, `dirty`, `processing`, `waiting_live` count the entries with those states.
//!
//! # Panic safety
//!
//! User code runs under the lock here: the item's `Eq` (table lookups), `Clone` (a new
//! item needs two copies; `finish` of a borrowed item that is queued again), `Drop`, and
//! the metrics. An operation of a caller runs it before its first write; the delay
//! thread's [`State::fire_due`] runs it after the writes for each item. Items the state
//! lets go of are handed back to the caller, to be dropped once the invariants hold again
//! and the wake-ups are made. No `Hash` runs here: hashes are computed by the callers,
//! outside the lock, and stored with every copy. Where no user code is wanted, an entry
//! is found by something unique in it (a delay heap entry's push number, a priority
//! copy's tag) instead of by `Eq`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use gosync_core::waiters::{WakeBatch, WakerList};
use gosync_core::Clock;

use crate::metrics::QueueMetrics;
use crate::storage::{shrink_heap, Storage};
use crate::table::Table;

/// client-go's `defaultUnfinishedWorkUpdatePeriod`: how often the unfinished-work and
/// longest-running-processor gauges are set, unless the builder sets another period.
pub(crate) const UNFINISHED_WORK_PERIOD: Duration = Duration::from_millis(500);

/// [`Entry::busy`] of an entry with no slot in [`State::busy`].
const NO_SLOT: u32 = u32::MAX;

/// Stale copies tolerated before a compaction, on top of twice the live count.
const STALE_SLACK: usize = 64;

pub(crate) struct Entry<P, G> {
    dirty: bool,
    processing: bool,
    /// Ready time and push number of the live delay-heap entry while waiting. Boxed: it is
    /// rare, and small map buckets keep a deep queue cache-friendly.
    wait: Option<Box<(Instant, u64)>>,
    prio: P,
    tag: G,
    /// Metrics: when the item became dirty (client-go `addTimes`).
    /// In [`Ticks`]; 0: not set.
    added: Ticks,
    /// Metrics: the item's slot in [`State::busy`], which holds when its processing
    /// started (client-go `processingStartTimes`); [`NO_SLOT`]: none. A `u32` fits
    /// beside the two flags, where the 8-byte timestamp made the entry 8 bytes larger.
    busy: u32,
}

/// A metrics timestamp: the queue clock's [`Clock::nanos`] plus one, so that 0 means "not
/// set" (8 bytes where an `Option<Instant>` takes 16). Read while taking the state lock.
pub(crate) type Ticks = u64;

/// Reads a [`Ticks`] timestamp from `clock`.
#[inline]
pub(crate) fn ticks(clock: &Clock) -> Ticks {
    clock.nanos().saturating_add(1)
}

/// Nanoseconds between two [`Ticks`] readings (0 if the later one is not later: readings
/// on two CPUs may be skewed by a few nanoseconds).
#[inline]
pub(crate) fn since(from: Ticks, now: Ticks) -> u64 {
    now.saturating_sub(from)
}

/// Nanoseconds as client-go's `sinceInSeconds` reports them: Go's `Duration.Seconds`,
/// whole seconds plus the fraction, which from one second up may differ from `ns / 1e9`
/// in the last bit. Below a second the two agree, and the one division is kept.
#[inline]
pub(crate) fn secs(ns: u64) -> f64 {
    const SECOND: u64 = 1_000_000_000;
    if ns < SECOND {
        ns as f64 / 1e9
    } else {
        (ns / SECOND) as f64 + (ns % SECOND) as f64 / 1e9
    }
}

impl<P: Default, G: Default> Entry<P, G> {
    fn new(prio: P) -> Self {
        Entry {
            dirty: false,
            processing: false,
            wait: None,
            prio,
            tag: G::default(),
            added: 0,
            busy: NO_SLOT,
        }
    }
}

/// An item waiting in the delay heap; the heap's top is the earliest `at`, then the oldest.
pub(crate) struct Waiting<T> {
    at: Instant,
    seq: u64,
    hash: u64,
    item: T,
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl<T> Eq for Waiting<T> {}
impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Waiting<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// What an operation asks the caller to signal after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    None,
    /// An item became ready: wake one getter.
    Getter,
    /// The earliest ready time moved earlier: register it with the clock's timer.
    Timer,
}

/// Aligned to its own cache lines so that, inside the queue's `Mutex`, it does not share a
/// line with the lock word: threads spinning on the lock then do not steal the line the
/// holder is writing (measured: +20% items/s at 4x4 with metrics).
#[repr(C, align(128))]
pub(crate) struct State<T, S: Storage<T>> {
    // Laid out in order (`repr(C)`) so that a hot operation writes two cache lines (for
    // `Fifo`): `ready` (and the metrics handles, read by every operation) fill the first,
    // `items` and the counters the second, and the read-mostly flags follow. Left to the
    // compiler, the fields spread over four.
    pub(crate) ready: S,
    /// The provider's metrics, updated under the lock as client-go does (see
    /// `queue::shared::StateGuard` for why); `None` without metrics.
    pub(crate) metrics: Option<Box<QueueMetrics>>,
    /// Keyed by the item, with hashes computed by the caller (outside the lock).
    pub(crate) items: Table<T, Entry<S::Prio, S::Tag>>,
    // `u32`: the item table holds at most 2^31 items, and three counters then fit on the
    // cache line of the table's header.
    pub(crate) queued: u32,
    pub(crate) dirty: u32,
    pub(crate) processing: u32,
    /// Getters blocked on the `ready` condvar (see the parking protocol in `queue/shared.rs`).
    pub(crate) parked: usize,
    /// Callers blocked in `Queue::wait_idle*` on the `drained` condvar, and tasks in
    /// `Queue::wait_idle_async` (registered in `idle_tasks`).
    pub(crate) idle_waiters: u32,
    pub(crate) shutting_down: bool,
    pub(crate) draining: bool,
    /// `draining || idle_waiters != 0`: whether `done` must check for a drained or idle
    /// queue (one flag on the hot path). Kept by [`State::update_watch`].
    pub(crate) watch_done: bool,
    /// The value last stored into `Shared::hint`.
    pub(crate) hinted: bool,
    /// Tasks waiting in `Queue::get_async` (and the stream) for an item or shutdown:
    /// the async side of `parked` (see the protocol in `queue/get_async.rs`).
    pub(crate) tasks: WakerList,
    /// Tasks waiting in `Queue::wait_idle_async` (also counted in `idle_waiters`).
    pub(crate) idle_tasks: WakerList,
    /// Task wake-ups owed by an operation that holds the lock, taken out and woken by
    /// `StateGuard`'s drop once the lock is released (a waker is user code).
    pub(crate) deferred: Option<WakeBatch>,
    pub(crate) waiting: BinaryHeap<Waiting<T>>,
    pub(crate) waiting_live: usize,
    wait_seq: u64,
    pub(crate) next_tick: Option<Instant>,
    /// Metrics only: when each processing item started ([`Ticks`], 0 for a free slot),
    /// by the slot its entry holds in [`Entry::busy`]; the free slots are in `busy_free`.
    /// It has at most as many slots as items were processing at once, so the
    /// unfinished-work tick walks the processing items only (client-go's
    /// `processingStartTimes` map), not the whole table.
    busy: Vec<Ticks>,
    busy_free: Vec<u32>,
    /// The queue's registration with its clock's timer service, once it delays (see the
    /// protocol in `queue/delay.rs`). Last: read only by delayed adds and the timer.
    pub(crate) timer: Option<gosync_core::timer::TimerEntry>,
}

impl<T: Hash + Eq + Clone, S: Storage<T>> State<T, S> {
    pub(crate) fn new(metrics: Option<QueueMetrics>) -> Self {
        State {
            items: Table::new(),
            ready: S::default(),
            queued: 0,
            dirty: 0,
            processing: 0,
            waiting: BinaryHeap::new(),
            waiting_live: 0,
            wait_seq: 0,
            shutting_down: false,
            draining: false,
            watch_done: false,
            metrics: metrics.map(Box::new),
            next_tick: None,
            busy: Vec::new(),
            busy_free: Vec::new(),
            timer: None,
            parked: 0,
            idle_waiters: 0,
            hinted: false,
            tasks: WakerList::new(),
            idle_tasks: WakerList::new(),
            deferred: None,
        }
    }

    /// Adds `item` (whose hash is `hash`) now (`at == None`) or at `at`. The caller has
    /// checked `shutting_down`; `now` is its metrics timestamp (0 without metrics).
    ///
    /// Returns the wake-up owed and `item` itself if the queue did not keep it, for the
    /// caller to drop after the wake-up (its `Drop` is user code). The user code that runs
    /// here (the item's `Eq`, its `Clone` for a new item, the metrics) runs before the
    /// first write: a panic in it leaves the state as it was.
    pub(crate) fn insert(
        &mut self,
        item: T,
        hash: u64,
        prio: S::Prio,
        at: Option<Instant>,
        now: Ticks,
    ) -> (Wake, Option<T>) {
        let index = match self.items.find(hash, &item) {
            Ok(index) => index,
            Err(vacant) => {
                let copy = item.clone();
                // The table's only panic (more than 2^31 items), before any write.
                let vacant = self.items.reserve_one(vacant, hash);
                let mut e = Entry::new(prio);
                let wake = match at {
                    None => {
                        if let Some(m) = &self.metrics {
                            m.add();
                            e.added = now;
                        }
                        // No user code from here on.
                        e.dirty = true;
                        e.tag = self.ready.push(copy, hash, prio);
                        self.dirty += 1;
                        self.queued += 1;
                        Wake::Getter
                    }
                    Some(at) => {
                        let (heap, seq) = (&mut self.waiting, &mut self.wait_seq);
                        let wake = push_waiting(heap, seq, copy, hash, at);
                        e.wait = Some(Box::new((at, self.wait_seq)));
                        self.waiting_live += 1;
                        wake
                    }
                };
                self.items.insert_vacant(vacant, hash, item, e);
                return (wake, None);
            }
        };
        // Stale copies are made only here, so they are compacted here, before anything
        // is changed: compaction drops items (user code), and must not run between the
        // writes below and the caller's wake-up. It moves no table entry.
        self.compact_ready();
        self.compact_waiting();
        // The queue already holds a key equal to `item`: `item` itself becomes the new
        // copy, if one is needed (as client-go queues the item passed to `Add`).
        let (_, e) = self.items.at_mut(index);
        if e.dirty {
            // It will be processed anyway, no later than any delay asked for now.
            if prio > e.prio {
                e.prio = prio;
                if !e.processing {
                    // Re-position: the old copy becomes stale.
                    e.tag = self.ready.push(item, hash, prio);
                    return (Wake::None, None);
                }
            }
            return (Wake::None, spare(item));
        }
        match at {
            None => {
                if let Some(m) = &self.metrics {
                    m.add();
                }
                // No user code from here on.
                if prio > e.prio {
                    e.prio = prio;
                }
                if e.wait.take().is_some() {
                    // kubernetes#126027: the waiting entry is dropped.
                    self.waiting_live -= 1;
                }
                self.dirty += 1;
                let (wake, spare) = if mark_dirty(e, self.metrics.is_some(), now) {
                    e.tag = self.ready.push(item, hash, e.prio);
                    self.queued += 1;
                    (Wake::Getter, None)
                } else {
                    // Processing: `finish` queues it at the place of this add.
                    e.tag = self.ready.reserve();
                    (Wake::None, spare(item))
                };
                (wake, spare)
            }
            Some(at) => {
                if prio > e.prio {
                    e.prio = prio;
                }
                match e.wait.as_deref() {
                    Some(&(old, _)) if old <= at => return (Wake::None, spare(item)),
                    Some(_) => {}
                    None => self.waiting_live += 1,
                }
                let (heap, seq) = (&mut self.waiting, &mut self.wait_seq);
                let wake = push_waiting(heap, seq, item, hash, at);
                e.wait = Some(Box::new((at, self.wait_seq)));
                (wake, None)
            }
        }
    }

    /// Takes the next ready item and marks it processing (client-go `Get` minus the wait).
    /// `now` is the caller's metrics timestamp (0 without metrics).
    ///
    /// The user code that runs here (the item's `Eq`, the metrics) runs before the item's
    /// entry is changed, and the copy taken from the ready order is put back if it panics
    /// ([`Unpop`]): the item stays ready. A stale copy's `Drop` runs once it is removed.
    #[inline]
    pub(crate) fn take(&mut self, now: Ticks) -> Option<T> {
        loop {
            let copy = self.ready.pop()?;
            let guard = Unpop {
                ready: &mut self.ready,
                copy: Some(copy),
            };
            let Some((item, hash, tag, _)) = &guard.copy else {
                unreachable!("just set")
            };
            let e = match self.items.find(*hash, item) {
                Ok(position) => Some(self.items.at_mut(position).1),
                Err(_) => None,
            };
            let Some(e) = e.filter(|e| e.dirty && !e.processing && e.tag == *tag) else {
                // A stale copy (priority storage only): dropped once removed.
                drop(guard.take());
                continue;
            };
            if let Some(m) = &self.metrics {
                m.depth.dec();
                if e.added != 0 {
                    m.latency.observe(secs(since(e.added, now)));
                }
            }
            // No user code from here on.
            let item = guard.take();
            e.dirty = false;
            e.processing = true;
            if self.metrics.is_some() {
                e.busy = match self.busy_free.pop() {
                    Some(slot) => {
                        self.busy[slot as usize] = now;
                        slot
                    }
                    None => {
                        // At most 2^31 items, so the slot fits (and is not `NO_SLOT`).
                        self.busy.push(now);
                        (self.busy.len() - 1) as u32
                    }
                };
                e.added = 0;
            }
            self.dirty -= 1;
            self.queued -= 1;
            self.processing += 1;
            // In a deep queue the entries are cold: fetch coming ones now, in two stages, so
            // that they are cached by the time a getter takes them: the index slot of the
            // far one, and the entry of the near one (whose index slot is cached: it was
            // the far one at the previous take).
            let (near, far) = self.ready.look_ahead();
            if let Some(far) = far {
                self.items.prefetch(far);
            }
            if let Some(near) = near {
                self.items.prefetch_entry(near);
            }
            return Some(item);
        }
    }

    /// Ends the processing of `item` (client-go `Done`), whose hash is `hash`. Returns
    /// `None` if it was not processing (a no-op).
    ///
    /// The user code that runs here (the item's `Eq`, and its `Clone` when it is queued
    /// again and only borrowed) runs before the first write: a panic in it leaves the
    /// item processing. The work-duration metric is left to the caller
    /// ([`Finished::busy`]), as is the drop of the keys the queue let go.
    #[inline]
    pub(crate) fn finish<Q>(&mut self, item: ItemRef<'_, T, Q>, hash: u64) -> Option<Finished<T>>
    where
        T: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let index = self.items.find(hash, item.get()).ok()?;
        let (key, e) = self.items.at_mut(index);
        if !e.processing {
            return None;
        }
        let (copy, spare) = if e.dirty {
            // A borrowed item (maybe only a borrowed form of `T`) is queued again as a
            // clone of the table's key.
            let copy = match item {
                ItemRef::Borrowed(_) => key.clone(),
                ItemRef::Owned(t) => t,
            };
            (Some(copy), None)
        } else {
            (None, item.into_spare())
        };
        // No user code from here on.
        let (_, e) = self.items.at_mut(index);
        e.processing = false;
        self.processing -= 1;
        // The slot is freed by the caller, with the metrics (`release_busy`): without
        // metrics nothing more happens here than a load.
        let busy = e.busy;
        let mut wake = Wake::None;
        let mut removed = None;
        if let Some(copy) = copy {
            e.tag = self.ready.push_reserved(copy, hash, e.prio, e.tag);
            self.queued += 1;
            wake = Wake::Getter;
        } else if e.wait.is_none() {
            removed = self.items.remove_at(index);
        }
        Some(Finished {
            wake,
            busy,
            spare: [spare, removed],
        })
    }

    /// Recomputes [`State::watch_done`] after `draining` or `idle_waiters` changed.
    pub(crate) fn update_watch(&mut self) {
        self.watch_done = self.draining || self.idle_waiters != 0;
    }

    /// Whether a drain may end: nothing processing and nothing dirty.
    #[inline]
    pub(crate) fn drained(&self) -> bool {
        self.processing == 0 && self.dirty == 0
    }

    /// Whether the queue is idle (`Queue::wait_idle`): drained, and nothing waiting for
    /// a delay or a backoff either.
    #[inline]
    pub(crate) fn idle(&self) -> bool {
        self.drained() && self.waiting_live == 0
    }

    /// Moves every waiting item whose time has come into the queue, counting in `woke` the
    /// items that became ready for a getter. `stamp` is the metrics timestamp of `now`
    /// (0 without metrics).
    ///
    /// Runs in the timer callback, on the clock's timer thread. No `Eq`, `Hash` or `Clone` of an item runs here: a heap
    /// entry finds its item's entry by its (time, push number), which is unique. The user
    /// code that does run (the metrics, the `Drop` of a stale or superseded copy) runs
    /// after the item's state change: a panic in it leaves that item fired and the state
    /// consistent, and `woke` counts what was fired before it.
    pub(crate) fn fire_due(&mut self, now: Instant, stamp: Ticks, woke: &mut usize) {
        while self.waiting.peek().is_some_and(|w| w.at <= now) {
            let Some(w) = self.waiting.pop() else { break };
            let key = (w.at, w.seq); // named: Rust 1.80 drops a `Some(&(..))` temporary here
            let live = Some(&key);
            let Some(index) = self.items.find_by(w.hash, |e| e.wait.as_deref() == live) else {
                continue; // stale: dropped here, the state is consistent
            };
            let (_, e) = self.items.at_mut(index);
            e.wait = None;
            self.waiting_live -= 1;
            self.dirty += 1;
            if mark_dirty(e, self.metrics.is_some(), stamp) {
                e.tag = self.ready.push(w.item, w.hash, e.prio);
                self.queued += 1;
                *woke += 1;
            } else {
                // Processing: `finish` queues it at the place it became ready.
                e.tag = self.ready.reserve();
                drop(w);
            }
            if let Some(m) = &self.metrics {
                m.add();
            }
        }
        shrink_heap(&mut self.waiting);
    }

    /// The earliest time the timer callback must run at (a due item or a metrics tick).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let due = self.waiting.peek().map(|w| w.at);
        match (due, self.next_tick) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// client-go `updateUnfinishedWork`: the sum and the maximum of the in-flight ages, in
    /// seconds, at the metrics timestamp `now`. Walks the processing items only (the
    /// slots of [`State::busy`]).
    pub(crate) fn unfinished_work(&self, now: Ticks) -> (f64, f64) {
        let (mut total, mut oldest) = (0.0f64, 0.0f64);
        for &started in &self.busy {
            if started != 0 {
                let age = secs(since(started, now));
                total += age;
                oldest = oldest.max(age);
            }
        }
        (total, oldest)
    }

    /// Forgets every waiting item (at shutdown: they would never be added). Returns them,
    /// for the caller to drop once the queue is consistent and every waiter is woken (their
    /// `Drop` is user code).
    #[must_use = "the waiting items are dropped by the caller, at a point where a panic is safe"]
    pub(crate) fn take_waiting(&mut self) -> Vec<T> {
        if self.waiting_live == 0 && self.waiting.is_empty() {
            return Vec::new();
        }
        let heap = std::mem::take(&mut self.waiting);
        self.waiting_live = 0;
        let removed = self.items.retain(|_, e| {
            e.wait = None;
            e.dirty || e.processing
        });
        heap.into_iter().map(|w| w.item).chain(removed).collect()
    }

    /// Drops the stale copies in `ready` once they outnumber the live ones (at most one
    /// more than [`STALE_SLACK`] over twice their number). Decides without user code: a
    /// copy is live iff an entry with its hash is dirty, not processing and has its tag
    /// (tags of storages with stale copies are unique). The stale copies' `Drop` is user
    /// code: call it where a panic is safe.
    #[inline]
    fn compact_ready(&mut self) {
        if self.ready.copies() > 2 * self.queued as usize + STALE_SLACK {
            let items = &self.items;
            self.ready.retain(|_, hash, tag| {
                items
                    .find_by(hash, |e| e.dirty && !e.processing && e.tag == tag)
                    .is_some()
            });
        }
    }

    /// Drops the stale entries of the delay heap once they outnumber the live ones (as
    /// [`compact_ready`](State::compact_ready)). Decides without user code: an entry is
    /// live iff an entry with its hash waits for its (time, push number), which is unique.
    #[inline]
    fn compact_waiting(&mut self) {
        if self.waiting.len() > 2 * self.waiting_live + STALE_SLACK {
            let items = &self.items;
            self.waiting.retain(|w| {
                let key = (w.at, w.seq); // named: Rust 1.80 drops a `Some(&(..))` temporary here
                let live = Some(&key);
                items
                    .find_by(w.hash, |e| e.wait.as_deref() == live)
                    .is_some()
            });
            shrink_heap(&mut self.waiting);
        }
    }
}

impl<T, S: Storage<T>> State<T, S> {
    /// Frees `slot` of [`State::busy`], the [`Finished::busy`] of an item whose
    /// processing just ended; returns when that processing started (0 for [`NO_SLOT`]).
    /// Called with metrics only. An entry keeps its stale slot number until its next
    /// `take`, which sets a new one: `finish` reads it only of a processing entry.
    #[inline]
    pub(crate) fn release_busy(&mut self, slot: u32) -> Ticks {
        if slot == NO_SLOT {
            return 0;
        }
        let started = std::mem::take(&mut self.busy[slot as usize]);
        if self.processing == 0 {
            // Nothing processing: every slot is free.
            self.busy.clear();
            self.busy_free.clear();
        } else {
            self.busy_free.push(slot);
        }
        started
    }
}

/// The copy [`State::take`] popped from the ready order, put back if the user code that
/// runs while it is looked up panics (std's `BinaryHeap` `Hole` in spirit): dropped only
/// while unwinding; [`take`](Unpop::take) disarms it (a `mem::forget`, no cost).
struct Unpop<'a, T, S: Storage<T>> {
    ready: &'a mut S,
    copy: Option<(T, u64, S::Tag, S::Prio)>,
}

impl<T, S: Storage<T>> Unpop<'_, T, S> {
    /// The item, for the caller to keep or drop; nothing is put back.
    #[inline]
    fn take(mut self) -> T {
        let copy = self.copy.take();
        std::mem::forget(self);
        let Some((item, ..)) = copy else {
            unreachable!("taken once")
        };
        item
    }
}

impl<T, S: Storage<T>> Drop for Unpop<'_, T, S> {
    #[cold]
    fn drop(&mut self) {
        if let Some((item, hash, tag, prio)) = self.copy.take() {
            self.ready.unpop(item, hash, tag, prio);
        }
    }
}

/// An item passed to [`State::finish`]: borrowed (`Queue::done`, as any borrowed form `Q`
/// of `T`), or owned by a [`Guard`](crate::Guard), which then needs no clone to queue it
/// again.
pub(crate) enum ItemRef<'a, T, Q: ?Sized = T> {
    Borrowed(&'a Q),
    Owned(T),
}

impl<T: Borrow<Q>, Q: ?Sized> ItemRef<'_, T, Q> {
    /// The item as the borrowed form that is looked up.
    #[inline]
    pub(crate) fn get(&self) -> &Q {
        match self {
            ItemRef::Borrowed(q) => q,
            ItemRef::Owned(t) => t.borrow(),
        }
    }

    /// The owned item, if any, for the caller to drop (see [`spare`]).
    #[inline]
    fn into_spare(self) -> Option<T> {
        match self {
            ItemRef::Borrowed(_) => None,
            ItemRef::Owned(t) => spare(t),
        }
    }
}

/// An item the queue lets go of, kept for the caller to drop where a panic is safe if
/// dropping it runs code (a user `Drop`); otherwise dropped now, where nothing runs, so
/// that the hot path of a plain key type carries nothing.
#[inline(always)]
pub(crate) fn spare<T>(item: T) -> Option<T> {
    if std::mem::needs_drop::<T>() {
        Some(item)
    } else {
        None
    }
}

/// What [`State::finish`] leaves to its caller.
pub(crate) struct Finished<T> {
    /// The wake-up owed.
    pub(crate) wake: Wake,
    /// The item's slot in [`State::busy`] ([`NO_SLOT`] without metrics), for the
    /// caller to free with [`State::release_busy`] (which gives the start time for the
    /// work-duration metric).
    pub(crate) busy: u32,
    /// Items the queue let go, for the caller to drop where a panic is safe.
    pub(crate) spare: [Option<T>; 2],
}

/// Marks a non-dirty entry dirty (client-go `Add` past the dedup check); no user code (the
/// caller counts the add in the metrics). Returns whether the caller must queue it (it is
/// not processing).
#[inline]
fn mark_dirty<P, G>(e: &mut Entry<P, G>, metered: bool, now: Ticks) -> bool {
    debug_assert!(!e.dirty && e.wait.is_none());
    e.dirty = true;
    if metered && e.added == 0 {
        e.added = now;
    }
    !e.processing
}

fn push_waiting<T>(
    heap: &mut BinaryHeap<Waiting<T>>,
    seq: &mut u64,
    item: T,
    hash: u64,
    at: Instant,
) -> Wake {
    let earliest = heap.peek().map_or(true, |top| at < top.at);
    *seq += 1;
    heap.push(Waiting {
        at,
        seq: *seq,
        hash,
        item,
    });
    if earliest {
        Wake::Timer
    } else {
        Wake::None
    }
}
#[cfg(test)]
mod layout {
    use std::mem::{offset_of, size_of};

    use super::Table;

    type St = super::State<u64, crate::storage::Fifo<u64>>;

    /// The cache line (64 bytes) a field starts on.
    fn line(offset: usize) -> usize {
        offset / 64
    }

    /// The metrics' processing slot (`u32`) shares the word of the two flags: a FIFO
    /// entry is 24 bytes (it was 32 with an 8-byte start time).
    #[test]
    fn fifo_entry_is_three_words() {
        assert_eq!(size_of::<super::Entry<(), ()>>(), 24);
    }

    #[test]
    fn hot_fields_fill_two_cache_lines() {
        let end = |off: usize, size: usize| line(off + size - 1);
        // Lines 0 and 1: the ready storage, the metrics handles, the map and the
        // counters every operation writes.
        assert_eq!(line(offset_of!(St, ready)), 0);
        assert_eq!(end(offset_of!(St, metrics), size_of::<usize>()), 0);
        assert_eq!(end(offset_of!(St, items), size_of::<Table<u64, ()>>()), 1);
        for off in [
            offset_of!(St, queued),
            offset_of!(St, dirty),
            offset_of!(St, processing),
        ] {
            assert_eq!(end(off, 4), 1);
        }
        // The read-mostly fields every operation reads: right after, on line 1 or 2.
        for off in [
            offset_of!(St, parked),
            offset_of!(St, shutting_down),
            offset_of!(St, hinted),
        ] {
            assert!((1..=2).contains(&line(off)));
        }
    }
}

#[cfg(test)]
mod seconds {
    /// Go: `time.Duration(18006772549927).Seconds()` is 18006.772549927002, where the
    /// correctly rounded quotient is 18006.772549927.
    #[test]
    fn secs_is_gos_duration_seconds() {
        let ns: u64 = 18_006_772_549_927;
        assert_eq!(super::secs(ns), 18006.772549927002);
        assert_ne!(ns as f64 / 1e9, 18006.772549927002);
        assert_eq!(super::secs(50_000), 50e-6);
        assert_eq!(super::secs(1_500_000_000), 1.5);
        assert_eq!(super::secs(0), 0.0);
    }
}
