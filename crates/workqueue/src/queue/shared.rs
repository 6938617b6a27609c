//! The state behind every [`Queue`] handle: the lock and its [`StateGuard`], the
//! parking protocol of getters (spin on a hint, then park on a condition variable), the
//! item table's prefetch outside the lock, and the wake-ups owed when user code unwinds.
//!
//! [`Queue`]: super::Queue

use std::borrow::Borrow;
use std::hash::Hash;
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use gosync_core::spin::Spin;
use gosync_core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::task::Waker;

use gosync_core::sync::{Condvar, Mutex, MutexGuard};
use gosync_core::waiters::WakeBatch;
use gosync_core::Clock;

use crate::metrics::QueueMetrics;
use crate::state::{ticks, Finished, ItemRef, State, Ticks};
use crate::storage::Storage;
use crate::table::{self, Hasher, Table};

/// Keeps a hot field on its own cache line (no false sharing with the lock word).
#[repr(align(128))]
struct Padded<T>(T);

/// Spins for about `ns` nanoseconds of the real clock (never a fake one: this is a CPU
/// wait, not queue time).
#[cfg(not(loom))]
fn spin_for(ns: u64) {
    const REAL: Clock = Clock::real();
    let start = REAL.nanos();
    while REAL.nanos().wrapping_sub(start) < ns {
        gosync_core::sync::hint::spin_loop();
    }
}

/// The item table's [`Table::layout`], written under the lock when the table moves, read
/// without it to prefetch an item's slot before the lock is taken. Plain `std` atomics,
/// also under loom, and `Relaxed` everywhere: the words are only a prefetch address,
/// never a decision (a stale or torn pair prefetches a useless line, which is harmless).
#[derive(Default)]
struct TableLayout {
    base: std::sync::atomic::AtomicUsize,
    mask: std::sync::atomic::AtomicUsize,
}

impl TableLayout {
    #[inline]
    fn load(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::Relaxed; // a prefetch address only (see above)
        (self.base.load(Relaxed), self.mask.load(Relaxed))
    }

    /// Whether `layout` differs from the mirrored one. Compares the index's address only
    /// (one load per unlock): a new index is allocated while the old one is still live, so
    /// its address differs, and a stale mask could only misdirect a prefetch.
    #[inline]
    fn differs(&self, (base, _): (usize, usize)) -> bool {
        use std::sync::atomic::Ordering::Relaxed; // a prefetch address only (see above)
        self.base.load(Relaxed) != base
    }

    fn store(&self, (base, mask): (usize, usize)) {
        use std::sync::atomic::Ordering::Relaxed; // a prefetch address only (see above)
        self.base.store(base, Relaxed);
        self.mask.store(mask, Relaxed);
    }
}

/// How long a getter spins on [`Shared::hint`] before it parks, and after how much of
/// that it yields its CPU between checks instead of pausing.
///
/// Why 3 + 3 µs: a park + wake-up costs tens of microseconds on a VM, far more than the
/// gap between two adds under load (a few hundred nanoseconds to a few microseconds in
/// the 5P/3C and 4x4 benches). The old budget was 124 `spin_loop()` hints, then 5 yields:
/// about 3 µs of pausing on the AMD EPYC it was tuned on (~25 ns a hint) but 1.4 µs on
/// an Intel Xeon (~11 ns); the pause phase keeps the EPYC's 3 µs on every CPU, and the
/// yield phase (a yield takes ~0.5 µs when nothing else is runnable, so about the old 5
/// yields) lets a descheduled producer run on this core before the getter parks.
#[cfg(not(loom))]
const GET_SPIN: Duration = Duration::from_micros(6);
#[cfg(not(loom))]
const GET_PAUSE: Duration = Duration::from_micros(3);
/// Under loom a [`Spin`] spins once (a yield) whatever its budget: the model stays
/// small while still covering the spin path.
#[cfg(loom)]
const GET_SPIN: Duration = Duration::ZERO;
#[cfg(loom)]
const GET_PAUSE: Duration = Duration::ZERO;

/// From this many index slots (1 MiB of index), a new item's slot is likely not cached:
/// `add` then lets the prefetch of it land before taking the lock (see
/// [`Shared::let_prefetch_land`]). The index reaches this size above about 32k items.
#[cfg(not(loom))]
const PREFETCH_WAIT_SLOTS: usize = 1 << 17;

/// How long `add` gives that prefetch, in nanoseconds of the real clock: most of a DRAM
/// miss on the machine this was measured on.
#[cfg(not(loom))]
const PREFETCH_WAIT_NS: u64 = 50;

/// # Parking protocol
///
/// 1. A getter that finds nothing ready unlocks, spins on `hint` for a few microseconds,
///    then locks again and re-checks before it parks; `hint` is only advice, every decision
///    is made under the lock.
/// 2. A getter counts itself in `State::parked` under the lock, before `ready.wait`
///    releases it atomically, and uncounts itself after it wakes.
/// 3. Whoever makes an item ready reads `parked` under the same lock hold and notifies
///    only if it is non-zero: a getter not counted there is not parked, and will see the
///    item when it next checks under the lock (rule 1).
/// 4. Tasks (`get_async`, the stream) wait next to the threads, in `State::tasks` (a
///    [`WakerList`](gosync_core::waiters::WakerList)), registered under the same lock
///    hold that found nothing ready. An item made ready wakes one parked thread (rule 3)
///    *and* one waiting task, notified by name under the lock and woken after the
///    unlock. Both, because `parked` also counts threads already woken that have not
///    run yet: a wake-up given to "a thread" could reach none while a task sleeps. A
///    queue served by threads only, or by tasks only, pays nothing for this; with both
///    waiting at once, one of the two wakes to find the item gone and waits again.
///    Shutdown notifies every thread and every task. A task that was notified and gives
///    up without taking an item passes the wake-up on ([`Shared::pass_on`]) if an item
///    is still ready; the full protocol is in `queue/get_async.rs`.
pub(super) struct Shared<T, S: Storage<T>> {
    pub(super) state: Mutex<State<T, S>>,
    /// Mirror of "an item is ready or the queue is shut down", written under the lock
    /// only when it changes, read by spinning getters.
    hint: Padded<AtomicBool>,
    /// Getters wait here for an item or shutdown.
    pub(super) ready: Condvar,
    /// `shut_down_with_drain` waits here for the queue to drain (or a forced shutdown).
    pub(super) drained: Condvar,
    pub(super) clock: Clock,
    /// The item table's hasher: items are hashed before the lock is taken.
    hasher: Hasher,
    /// Where the item table's slots are, mirrored for prefetching outside the lock (see
    /// [`Shared::hash`]).
    layout: Padded<TableLayout>,
    /// Whether the queue keeps metrics (fixed at construction; the handles are in
    /// [`State::metrics`]).
    metrics_on: bool,
    /// How often the timer callback sets the unfinished-work gauges (with metrics).
    pub(super) metrics_period: Duration,
    /// Live `Queue` handles; the last one to drop shuts the queue down.
    pub(super) handles: AtomicUsize,
}

impl<T: Hash + Eq + Clone, S: Storage<T>> Shared<T, S> {
    /// The state of a new queue, with one handle.
    pub(super) fn new(
        clock: Clock,
        metrics: Option<QueueMetrics>,
        metrics_period: Duration,
    ) -> Self {
        Shared {
            metrics_on: metrics.is_some(),
            state: Mutex::new(State::new(metrics)),
            hasher: Hasher::default(),
            layout: Padded(TableLayout::default()),
            ready: Condvar::new(),
            drained: Condvar::new(),
            hint: Padded(AtomicBool::new(false)),
            clock,
            metrics_period,
            handles: AtomicUsize::new(1),
        }
    }
}

impl<T: Hash + Eq + Clone + Send, S: Storage<T>> Shared<T, S> {
    /// An item became ready under `st`: publish the hint, then wake one parked getter, if
    /// any (protocol rule 3), and one waiting task, if any (rule 4). Unlocks.
    #[inline]
    pub(super) fn wake_getter(&self, mut st: StateGuard<'_, T, S>) {
        self.sync_hint(&mut st);
        let parked = st.parked;
        if st.tasks.waiting() != 0 {
            return self.wake_task(st, parked);
        }
        drop(st);
        if parked > 0 {
            self.ready.notify_one();
        }
    }

    /// [`wake_getter`](Shared::wake_getter) with a waiting task: notifies one task by
    /// name, unlocks, notifies a parked thread if there is one, then wakes the task.
    ///
    /// # Panics
    ///
    /// If the task's waker panics in `wake`: after the unlock and the thread's wake-up,
    /// with the operation that made the item ready complete.
    #[cold]
    #[inline(never)]
    fn wake_task(&self, mut st: StateGuard<'_, T, S>, parked: usize) {
        let waker = st.tasks.notify_one();
        drop(st);
        if parked > 0 {
            self.ready.notify_one();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Spins, then yields, until `hint` says an item may be ready, for at most
    /// [`GET_SPIN`] (protocol rule 1).
    #[inline(never)]
    pub(super) fn spin(&self) {
        let mut spin = Spin::new(GET_SPIN).yield_after(GET_PAUSE);
        while !self.hint.0.load(Relaxed) {
            if !spin.spin() {
                return;
            }
        }
    }
}

/// The state lock of the hot operations: a `MutexGuard` that, when dropped, also mirrors
/// a moved item table into [`Shared::layout`] before unlocking.
///
/// Metric updates are made under this lock, at the state change they count, as client-go
/// makes them. They used to be recorded under it and handed to the provider just after
/// the unlock, so that a backend never lengthened the critical section; but the work
/// after the unlock widened the gap before the same thread's next lock attempt, and the
/// other side took the lock in that gap, moving the queue's cache lines between CPUs far
/// more often. Measured with the benchmark's provider (scratch harness, 1M items, Go shape,
/// interleaved rounds of 5 runs): metrics on went from 6.0–6.6 to 7.2–7.6 M items/s at
/// 1x1 and from 6.9–7.0 to 7.9 at 4x4; the single-thread cycle from 69.5–70.8 to
/// 67.2–68.2 ns.
pub(super) struct StateGuard<'a, T, S: Storage<T>> {
    shared: &'a Shared<T, S>,
    /// `Some` until dropped.
    guard: Option<MutexGuard<'a, State<T, S>>>,
}

impl<'a, T, S: Storage<T>> StateGuard<'a, T, S> {
    /// The mutex guard itself, for condition-variable waits.
    #[inline]
    pub(super) fn raw(&mut self) -> &mut MutexGuard<'a, State<T, S>> {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T, S: Storage<T>> Deref for StateGuard<'_, T, S> {
    type Target = State<T, S>;
    #[inline]
    fn deref(&self) -> &State<T, S> {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T, S: Storage<T>> DerefMut for StateGuard<'_, T, S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut State<T, S> {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T, S: Storage<T>> Drop for StateGuard<'_, T, S> {
    #[inline]
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        if self.shared.layout.0.differs(guard.items.layout()) {
            self.shared.publish_layout(&guard);
        }
        if guard.deferred.is_some() {
            wake_deferred(guard);
        }
    }
}

/// Takes the task wake-ups an operation deferred ([`State::deferred`]), unlocks, then
/// wakes them (rule 4 of the parking protocol).
///
/// # Panics
///
/// If a waker panics: after every one of them was woken (see [`WakeBatch::wake`]).
#[cold]
#[inline(never)]
fn wake_deferred<T, S: Storage<T>>(mut guard: MutexGuard<'_, State<T, S>>) {
    let batch = guard.deferred.take();
    drop(guard);
    if let Some(batch) = batch {
        batch.wake();
    }
}

impl<T, S: Storage<T>> Shared<T, S> {
    /// Locks the state for a hot operation (see [`StateGuard`]).
    #[inline]
    fn lock(&self) -> StateGuard<'_, T, S> {
        StateGuard {
            shared: self,
            guard: Some(self.state.lock()),
        }
    }

    /// [`lock`](Shared::lock), plus the operation's metrics timestamp (0 without metrics).
    ///
    /// When the lock is free, the clock is read just after it is taken, before anything
    /// else in the hold; when it is not, while waiting for it. Never just before the
    /// attempt: the read (`rdtsc`, about 10 ns) then delayed every attempt and let the
    /// other side take the lock in between. Measured with metrics on, Go shape, 1M items:
    /// reading while waiting took 4x4 from 4.6–4.9 to 5.7–6.2 M items/s and 1x1 from
    /// 3.9–4.2 to 5.4–5.7 (4 interleaved rounds of 5 runs). Reading first thing in the
    /// hold, rather than once the hold has found an item to hand out, then took the medians
    /// of 14–16 interleaved rounds from 7.12 to 7.42 at 1x1, 7.23 to 7.79 at 2x2 and 7.61
    /// to 7.96 at 4x4 (a getter that finds the queue empty now reads the clock too: once
    /// per lock attempt, at most twice before it parks).
    #[inline]
    pub(super) fn lock_stamped(&self) -> (StateGuard<'_, T, S>, Ticks) {
        if !self.metrics_on {
            return (self.lock(), 0);
        }
        match self.state.try_lock() {
            Some(guard) => {
                let now = ticks(&self.clock);
                let guard = StateGuard {
                    shared: self,
                    guard: Some(guard),
                };
                (guard, now)
            }
            None => {
                let now = ticks(&self.clock);
                (self.lock(), now)
            }
        }
    }

    /// Passes a wake-up on to other getters (under the lock), as
    /// [`wake_getter`](Shared::wake_getter) does: a parked thread if there is one, and a
    /// waiting task, whose waker is returned to wake after the unlock. For a getter that
    /// was woken and gives up without taking the item (a dropped `get_async` future, a
    /// panic while taking).
    pub(super) fn pass_on(&self, st: &mut State<T, S>) -> Option<Waker> {
        if st.parked > 0 {
            self.ready.notify_one();
        }
        st.tasks.notify_one()
    }

    /// [`State::take`] with the timestamp `now`, or, if that is 0 (not read yet), one read
    /// now, and only if an item is ready (with metrics; without, every stamp is 0).
    ///
    /// If the item's `Eq` or the metrics panic, the item stays ready and another getter is
    /// woken in this one's place: it may be the one the add woke.
    #[inline]
    pub(super) fn take(&self, st: &mut State<T, S>, now: Ticks) -> Option<T>
    where
        T: Hash + Eq + Clone,
    {
        let now = if now == 0 && st.queued > 0 {
            self.stamp()
        } else {
            now
        };
        if st.tasks.waiting() != 0 {
            return self.take_passing_on(st, now);
        }
        let pass_on = WakeOnUnwind(&self.ready);
        let item = st.take(now);
        std::mem::forget(pass_on);
        item
    }

    /// [`take`](Shared::take) with tasks waiting: if the item's `Eq` or the metrics
    /// panic, the wake-up is passed on to a thread or, with none parked, to a task
    /// ([`pass_on`](Shared::pass_on)); the task is woken at once, under the lock (a
    /// panic of its waker there is dropped: the first panic is the one that unwinds).
    #[cold]
    #[inline(never)]
    fn take_passing_on(&self, st: &mut State<T, S>, now: Ticks) -> Option<T>
    where
        T: Hash + Eq + Clone,
    {
        match panic::catch_unwind(AssertUnwindSafe(|| st.take(now))) {
            Ok(item) => item,
            Err(payload) => {
                self.pass_on_now(st);
                panic::resume_unwind(payload)
            }
        }
    }

    /// [`pass_on`](Shared::pass_on) for a caller that is unwinding from user code under
    /// the lock: the task is woken at once, under the lock, and a panic of its waker is
    /// dropped (the first panic is the one that unwinds).
    #[cold]
    fn pass_on_now(&self, st: &mut State<T, S>) {
        if let Some(waker) = self.pass_on(st) {
            if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                discard(again);
            }
        }
    }

    /// [`State::finish`] plus the wake-up a drain may be owed now (under the lock). The
    /// caller then hands the result to [`finished`](Shared::finished).
    #[inline]
    pub(super) fn finish<Q>(
        &self,
        st: &mut State<T, S>,
        item: ItemRef<'_, T, Q>,
        hash: u64,
    ) -> Option<Finished<T>>
    where
        T: Hash + Eq + Clone + Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let finished = st.finish(item, hash)?;
        if st.watch_done {
            self.notify_drained(st);
        }
        Some(finished)
    }

    /// After a `done`, with a drain or an idle wait pending: wakes their waiters if the
    /// queue is now drained (a drain) or idle (a `wait_idle`).
    ///
    /// Tasks in `wait_idle_async` are notified too when the queue is idle; their
    /// wake-ups are deferred to the unlock ([`State::deferred`]).
    #[cold]
    fn notify_drained(&self, st: &mut State<T, S>)
    where
        T: Hash + Eq + Clone,
    {
        let drain_over = st.draining && st.drained();
        let idle = st.idle_waiters != 0 && st.idle();
        if drain_over || idle {
            self.drained.notify_all();
        }
        if idle && st.idle_tasks.waiting() != 0 {
            let batch = st.idle_tasks.notify_all();
            defer(st, batch);
        }
    }

    /// After [`finish`](Shared::finish): the user code of a `done`, still under the lock
    /// and before the caller's wake-up. Observes the work duration (after the table
    /// update, so the provider's atomics do not hold it back); if that panics, a getter
    /// is woken for the item `finish` may have queued again. Then drops the items the
    /// queue let go of: there are some only if nothing was queued again, so no wake-up
    /// is owed.
    #[inline]
    pub(super) fn finished(&self, st: &mut State<T, S>, finished: Finished<T>, now: Ticks) {
        let Finished { busy, spare, .. } = finished;
        if st.metrics.is_some() {
            let started = st.release_busy(busy);
            let Some(m) = &st.metrics else {
                unreachable!("checked")
            };
            if started != 0 {
                let secs = crate::state::secs(crate::state::since(started, now));
                if st.tasks.waiting() != 0 {
                    // A task may be the getter owed the wake-up (see `take_passing_on`).
                    let observed =
                        panic::catch_unwind(AssertUnwindSafe(|| m.work_duration.observe(secs)));
                    if let Err(payload) = observed {
                        self.pass_on_now(st);
                        panic::resume_unwind(payload);
                    }
                } else {
                    let pass_on = WakeOnUnwind(&self.ready);
                    m.work_duration.observe(secs);
                    std::mem::forget(pass_on);
                }
            }
        }
        drop(spare);
    }

    /// `item`'s hash in the item table, computed before the lock is taken; also starts
    /// fetching the table slot it will be looked up at, so that in a deep queue the cache
    /// miss overlaps the wait for the lock instead of lengthening the lock hold.
    ///
    /// `item` may be a borrowed form of `T` (`Borrow` guarantees the same hash).
    #[inline(always)]
    pub(super) fn hash<Q: Hash + ?Sized>(&self, item: &Q) -> u64 {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, item);
        table::prefetch_at(
            self.layout.0.load(),
            Table::<T, crate::state::Entry<S::Prio, S::Tag>>::SLOT_SIZE,
            hash,
        );
        hash
    }

    /// Before `add` takes the lock: in a big table, waits [`PREFETCH_WAIT_NS`] for the
    /// prefetch [`hash`](Shared::hash) started, so that the cache miss on a new item's
    /// index slot is taken here, not while holding the lock that every getter and producer
    /// waits for. Measured at 1M items, 4x4 with metrics: 2.9–4.1 M items/s without the
    /// wait, 4.7–4.9 with it; it also keeps producers from outrunning getters in a deep
    /// queue. A no-op in a small table (its slots are cached) and under loom.
    #[inline(always)]
    pub(super) fn let_prefetch_land(&self) {
        #[cfg(not(loom))]
        {
            let (_, mask) = self.layout.0.load();
            if mask != usize::MAX && mask >= PREFETCH_WAIT_SLOTS - 1 {
                spin_for(PREFETCH_WAIT_NS);
            }
        }
    }

    /// Mirrors the item table's new layout into [`Shared::layout`] (under the lock).
    #[cold]
    fn publish_layout(&self, st: &State<T, S>) {
        self.layout.0.store(st.items.layout());
    }

    /// The timestamp for this operation's metrics (0 without metrics: then the clock is
    /// never read on the hot path). Hot operations read it through
    /// [`lock_stamped`](Shared::lock_stamped).
    #[inline]
    pub(super) fn stamp(&self) -> Ticks {
        if self.metrics_on {
            ticks(&self.clock)
        } else {
            0
        }
    }

    /// Stores "ready or shut down" into `hint` if it changed (under the lock).
    #[inline]
    pub(super) fn sync_hint(&self, st: &mut State<T, S>) {
        let ready = st.queued > 0 || st.shutting_down;
        if ready != st.hinted {
            st.hinted = ready;
            self.hint.0.store(ready, Relaxed);
        }
    }
}

/// Adds `batch` to the wake-ups the lock holder owes after the unlock
/// ([`State::deferred`]).
pub(super) fn defer<T, S: Storage<T>>(st: &mut State<T, S>, batch: WakeBatch) {
    if batch.is_empty() {
        return;
    }
    match &st.deferred {
        None => st.deferred = Some(batch),
        // Two releases in one hold (not made today): the second is woken at once,
        // under the lock, rather than lost.
        Some(_) => batch.wake(),
    }
}

/// Drops the payload of a panic the timer callback caught. A payload whose own `Drop` panics
/// is leaked instead: nothing may unwind out of the loop.
#[cold]
pub(super) fn discard(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Notifies one waiter of a condition variable if dropped while unwinding: a caller whose
/// user code panicked passes on a wake-up it owes or may have consumed. On the normal
/// path it is `mem::forget`-ten (no cost).
struct WakeOnUnwind<'a>(&'a Condvar);

impl Drop for WakeOnUnwind<'_> {
    #[cold]
    fn drop(&mut self) {
        self.0.notify_one();
    }
}
