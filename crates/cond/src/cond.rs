//! `Cond`: Go's `sync.Cond` on a `parking_lot` mutex guard.
//!
//! # Protocol
//!
//! Every waiter owns a [`Node`] on its own stack. The invariants:
//!
//! 1. **Registration.** A waiter pushes a pointer to its node at the back of
//!    `Cond::queue` while it still holds the caller's mutex, and only then releases that
//!    mutex. Queue order is therefore Go's ticket order: a signal (which pops the front)
//!    wakes the oldest waiter registered before it, never one that registers later.
//! 2. **Ownership.** A node is in the queue only while its waiter is inside a wait. It
//!    leaves the queue exactly once, under the queue lock: popped by `signal` /
//!    `broadcast`, or withdrawn by its own waiter (time-out, cancelled context, unwind).
//! 3. **Wake-up.** The popper wakes the node in the same critical section that popped it
//!    ([`Node::notify`]): it sets `state` to `NOTIFIED`, and if the waiter had already
//!    moved it to `PARKED`, it wakes the parked thread. Every access a popper makes to
//!    a node happens in that critical section; the one action after it, `unpark`, is on
//!    an owned clone of the waiter's `Thread`.
//! 4. **Leaving.** A waiter frees its node (returns) only after it has either observed
//!    `NOTIFIED` with an Acquire load (so every access of the popper happened-before;
//!    for a condition-variable node in `PARKED`, observed under that node's mutex, which
//!    the popper holds while storing), or taken the queue lock after the popper's
//!    critical section (a withdrawal that finds its node gone), or withdrawn the node
//!    itself. So no popper ever touches a freed node.
//! 5. **Spinning.** Every waiter spins (busy for half a microsecond, then yielding
//!    the CPU) before it parks. Only the oldest can be chosen by the next signal, but
//!    on a machine with more threads than CPUs the yields are what let the signaller
//!    run, and a waiter that is still spinning when its signal comes needs no system
//!    call on either side. A waiter chosen by a signal then waits (briefly, bounded in
//!    time) until it sees the caller's mutex unlocked before it locks it: the signaller
//!    usually still holds it (see the `relock` module). Neither changes any state the protocol
//!    reads: they only decide when the waiter parks or locks.
//! 6. **Give-up.** A waiter that times out or whose context is done withdraws under the
//!    queue lock. If its node is still queued, it removes it: no signal was meant for
//!    it, so none is lost. If the node is gone, a signal already chose this waiter, and
//!    the wait reports the signal: the signal wins, and it is not lost either.
//!
//! Lock order: the caller's mutex, then `queue`, then a node's own mutex (timed waits).
//! A waiter never takes the queue lock while holding its node's mutex, and a popper
//! never takes a caller's mutex.
//!
//! # Measured and not done
//!
//! * **Wait morphing** (std's and parking_lot's `Condvar` move a signalled waiter onto
//!   the mutex's queue, so that the unlock wakes it). A prototype (waiters behind the
//!   one next in line parked on a per-node parking_lot `Condvar`, whose `notify_one`
//!   requeues) on the bounded-buffer bench, 2-vCPU Xeon, interleaved runs, medians:
//!   capacity 3, 0.29-0.30 vs 0.18-0.20 M items/s; capacity 1024, 1.4-2.1 vs 7.6-10.6.
//!   Once a thread is parked on a parking_lot mutex, its `lock` stops spinning and
//!   parks too, so the busy mutex of a large buffer turns into a convoy. Not adopted.
//!   It would also need a signaller that does not hold the mutex to retry the node's
//!   `notify_one` until the waiter has parked, which loom's `notify_one` cannot report.
//! * **Only the waiter next in line spinning** (the others parking at once): on a
//!   loaded machine (load 9-20, other processes building) it measured better, 0.20 vs
//!   0.13 M items/s at capacity 3, because the yields of many spinners hand the CPUs to
//!   the other processes; on an idle machine every waiter spinning measured better
//!   (see `Node::park`), and an idle machine is what the bench and a dedicated service
//!   see. Adopted: every waiter spins.
//! * **Waking the next waiter early** (a waiter chosen by a signal moved the new front
//!   node from parked back to spinning, so that the next signal would find it
//!   spinning): once woken waiters wait for the mutex to be free before locking it
//!   (`relock`), it cost more than it saved (same bench, capacity 3: 2.57 vs 2.87 M
//!   items/s with and without it, one run each). Removed.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
#[cfg(not(loom))]
use gosync_core::spin::Spin;
use gosync_core::sync::atomic::{AtomicU8, AtomicUsize, Ordering::*};
use gosync_core::sync::{thread, Condvar, Mutex, MutexGuard};

use crate::relock;

/// Go's `sync.Cond`: a rendezvous point for threads waiting for a condition guarded by
/// a mutex.
///
/// A waiter holds the mutex's guard, checks its condition, and if it is not met calls
/// [`wait`](Cond::wait), which releases the mutex while the thread sleeps and takes it
/// back before returning. A thread that makes the condition true calls
/// [`signal`](Cond::signal) to wake one waiter or [`broadcast`](Cond::broadcast) to wake
/// them all, usually while holding the mutex.
///
/// The semantics are Go's exactly:
///
/// * **No spurious wake-ups.** `wait` returns only after a `signal` or `broadcast`
///   chose this waiter. (Re-check the condition in a loop anyway: another thread may
///   take the mutex first and change the state before the woken waiter gets it back.)
/// * **FIFO.** Waiters are queued in the order they called `wait` (while holding the
///   mutex). `signal` wakes the oldest one; a waiter that called `wait` after a signal
///   is never woken by that signal.
/// * **Not remembered.** A `signal` or `broadcast` with no waiter does nothing.
///
/// A `Cond` is not tied to one mutex at construction (Go's `L` field): the mutex is the
/// one whose guard each wait is given. All threads waiting at the same time must use the
/// same mutex; a wait with a different one panics (see [`wait`](Cond::wait)).
///
/// # Examples
///
/// A one-slot mailbox:
///
/// ```
/// use gosync_cond::Cond;
/// use parking_lot::Mutex;
///
/// let slot: Mutex<Option<u32>> = Mutex::new(None);
/// let (filled, emptied) = (Cond::new(), Cond::new());
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         for v in 0..3 {
///             let mut g = slot.lock();
///             while g.is_some() {
///                 emptied.wait(&mut g);
///             }
///             *g = Some(v);
///             filled.signal();
///         }
///     });
///     for want in 0..3 {
///         let mut g = slot.lock();
///         while g.is_none() {
///             filled.wait(&mut g);
///         }
///         assert_eq!(g.take(), Some(want));
///         emptied.signal();
///     }
/// });
/// ```
///
/// # Size
///
/// A `Cond` is aligned to 128 bytes (crossbeam's `CachePadded` choice: x86_64's
/// adjacent-line prefetcher pairs 64-byte lines), so it shares no cache line with the
/// mutex and data it usually sits next to: waiters registering and leaving write its
/// lines, and those writes would otherwise slow down whoever holds the mutex. Measured on
/// the bounded-buffer bench (capacity 1024, 2-CPU Xeon, three runs each): 12.0-13.7 vs
/// 10.1-12.3 M items/s padded and unpadded.
#[repr(align(128))]
pub struct Cond {
    /// How many nodes `queue` holds, mirrored under its lock so that `signal` and
    /// `broadcast` can return without locking when nobody waits (Go's `wait == notify`
    /// check).
    waiters: AtomicUsize,
    queue: Mutex<Queue>,
    /// The time source of `wait_timeout` and `wait_deadline`.
    clock: Clock,
}

struct Queue {
    /// The registered waiters, oldest first (invariant 1 of the module docs).
    nodes: VecDeque<NodePtr>,
    /// Identifies the mutex the queued waiters wait with (the address of its data);
    /// meaningful only while `nodes` is not empty.
    mutex: usize,
}

/// A pointer to a waiter's [`Node`], valid while it is in `Queue::nodes` (invariants 2
/// and 4 of the module docs).
struct NodePtr(*const Node);

// SAFETY: a `Node` is `Sync` (atomics, a `Thread`, a mutex and a condition variable),
// and the pointer is only dereferenced under the queue lock while the node is queued.
unsafe impl Send for NodePtr {}

/// The waiter has registered and may be spinning; it has not parked.
const WAITING: u8 = 0;
/// The waiter is parked (or about to park) and must be woken by its [`Wake`]. Only a
/// popper moves a node on from here.
const PARKED: u8 = 1;
/// A signal or broadcast chose this waiter. Terminal.
const NOTIFIED: u8 = 2;

/// One waiter's registration, on its stack.
pub(crate) struct Node {
    /// `WAITING` -> `PARKED` (waiter only), `WAITING`/`PARKED` -> `NOTIFIED` (popper
    /// only, under the queue lock).
    state: AtomicU8,
    wake: Wake,
}

/// How a parked waiter is woken.
pub(crate) enum Wake {
    /// `wait` and `wait_context`: the thread parks with `thread::park`.
    Thread(thread::Thread),
    /// `wait_timeout` / `wait_deadline`: the thread waits on this condition variable
    /// through [`Clock::wait_until`], so that a fake clock can time it out. The waiter
    /// moves `state` to `PARKED` and reads it afterwards only under this mutex.
    Timed(Mutex<()>, Condvar),
}

impl Node {
    pub(crate) fn new(wake: Wake) -> Node {
        Node {
            state: AtomicU8::new(WAITING),
            wake,
        }
    }

    /// Whether a signal chose this waiter.
    #[inline]
    fn notified(&self) -> bool {
        // Acquire pairs with the Release stores/CAS in `notify`: the popper's accesses
        // to this node happen-before the waiter frees it (invariant 4).
        self.state.load(Acquire) == NOTIFIED
    }

    /// Wakes the waiter. Called by a popper, under the queue lock, on a node it has just
    /// removed from the queue. Returns the thread to unpark once the lock is released.
    ///
    /// Takes a raw pointer, not `&self`: once the waiter can see `NOTIFIED` it may return
    /// and free the node (its stack frame) while this function is still running, and a
    /// `&Node` argument would be a reference that must stay valid until the function
    /// returns (Miri's Stacked Borrows reported exactly that for a timed waiter leaving
    /// as soon as `m` was released). The references below are locals, none used after
    /// the store or the unlock that lets the waiter go.
    ///
    /// # Safety
    ///
    /// `node` is a queued node just removed from the queue by the caller, who holds the
    /// queue lock (invariants 2-4 of the module docs): it is alive on entry.
    unsafe fn notify(node: *const Node) -> Option<thread::Thread> {
        // SAFETY: alive on entry (the caller's contract); an atomic, whose memory the
        // waiter may free only after it observes NOTIFIED.
        let state = unsafe { &(*node).state };
        // Release pairs with the waiter's Acquire loads (`notified`, the failing CAS in
        // the park paths): our reads of the node happen-before it frees it.
        match state.compare_exchange(WAITING, NOTIFIED, Release, Relaxed) {
            // Still spinning (or about to park): its CAS to PARKED will fail.
            Ok(_) => None,
            // PARKED, and it stays PARKED: only a popper moves a node on from PARKED,
            // and we hold the queue lock. The waiter stays until it observes NOTIFIED,
            // so the node is alive here.
            // SAFETY: as above: alive until the store below.
            Err(_) => match unsafe { &(*node).wake } {
                Wake::Thread(t) => {
                    // Clone before the store: once NOTIFIED is visible, the waiter may
                    // wake spuriously, see it, and free the node.
                    let t = t.clone();
                    // Release: as above.
                    state.store(NOTIFIED, Release);
                    Some(t)
                }
                Wake::Timed(m, cv) => {
                    // The waiter reads the state only under `m` once it is PARKED, so it
                    // cannot leave before we release `m`: the store and the notify come
                    // first, the unlock (the guard's drop) last.
                    let g = m.lock();
                    // Release: as above (the mutex also orders it).
                    state.store(NOTIFIED, Release);
                    cv.notify_one();
                    drop(g);
                    None
                }
            },
        }
    }

    /// Parks (a `Wake::Thread` node) until notified or `stop()`; returns whether
    /// notified. A `true` `stop()` leaves the node queued or not: the caller withdraws.
    pub(crate) fn park(&self, stop: impl Fn() -> bool) -> Parked {
        // Every waiter spins before it parks, not only the oldest (the one the next
        // signal chooses): the spin soon turns into yields, which on a machine with more
        // threads than CPUs are what let the signaller run, and a later waiter's signal
        // may come within the budget too. Measured on the bounded-buffer bench (5
        // producers, 3 consumers, 2 CPUs, idle machine): capacity 3 went from 0.49-0.53
        // to 0.78-0.81 M items/s, capacity 1024 from 17.0-18.1 to 19.4-21.8. On a
        // loaded machine the yields hand the CPU to other processes instead, and only
        // the oldest spinning did better there.
        let done = spin_until(|| self.notified() || stop());
        if done && self.notified() {
            return Parked::Notified;
        }
        // Relaxed on success: nothing to publish (the `Thread` was published by the
        // queue lock at registration). Acquire on failure: it read NOTIFIED (see
        // `notified`).
        if self
            .state
            .compare_exchange(WAITING, PARKED, Relaxed, Acquire)
            .is_err()
        {
            return Parked::Notified;
        }
        loop {
            if self.notified() {
                return Parked::Notified;
            }
            if stop() {
                return Parked::Stopped;
            }
            // `notify` stores NOTIFIED before it unparks, and an unpark that comes
            // before this park makes it return at once: no lost wake-up. A stray unpark
            // (one meant for an earlier wait of this thread) only loops once more.
            thread::park();
        }
    }

    /// Waits (a `Wake::Timed` node) until notified or `clock` reaches `deadline`;
    /// returns whether notified. `false` leaves the node queued or not: the caller
    /// withdraws.
    fn park_until(&self, clock: &Clock, deadline: Instant) -> bool {
        let Wake::Timed(m, cv) = &self.wake else {
            unreachable!("park_until on a thread node")
        };
        // As in `park`, every waiter spins first, but on the real clock not past its
        // deadline: `wait_timeout(g, 1us)` returns about then, not a whole spin later.
        // (A fake clock's deadline is not a real time: the whole spin.)
        let budget = if clock.is_fake() {
            Duration::MAX
        } else {
            deadline.saturating_duration_since(clock.now())
        };
        if spin_until_within(budget, || self.notified()) {
            return true;
        }
        let mut g = m.lock();
        // Orderings as in `park`.
        if self
            .state
            .compare_exchange(WAITING, PARKED, Relaxed, Acquire)
            .is_err()
        {
            return true;
        }
        loop {
            if self.notified() {
                return true;
            }
            if clock.wait_until(cv, &mut g, deadline) {
                // Timed out, but a popper may have notified us on the way out.
                return self.notified();
            }
        }
    }
}

/// How [`Node::park`] ended.
pub(crate) enum Parked {
    /// A signal chose the waiter.
    Notified,
    /// `stop()` said to give up; the node may still be queued.
    Stopped,
}

/// Withdraws a node from the queue if its wait leaves without being notified, also when
/// it unwinds (invariant 2: a queued node must not outlive its waiter).
pub(crate) struct Registration<'a> {
    cond: &'a Cond,
    node: &'a Node,
}

impl Registration<'_> {
    /// Withdraws the node (see [`Cond::withdraw`]); returns whether it was notified.
    pub(crate) fn finish(self, notified: bool) -> bool {
        let notified = notified || !self.cond.withdraw(self.node);
        std::mem::forget(self);
        notified
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.cond.withdraw(self.node);
    }
}

impl Cond {
    gosync_core::const_fn_unless_loom! {
        /// A condition variable whose timed waits use the real clock.
        ///
        /// # Examples
        ///
        /// ```
        /// use gosync_cond::Cond;
        ///
        /// static READY: Cond = Cond::new();
        /// READY.signal(); // nobody waits: nothing happens, nothing is remembered
        /// ```
        pub fn new() -> Cond {
            Cond::with_clock(Clock::real())
        }
    }

    gosync_core::const_fn_unless_loom! {
        /// A condition variable whose [`wait_timeout`](Cond::wait_timeout) and
        /// [`wait_deadline`](Cond::wait_deadline) run on `clock`, so that a test can
        /// drive them with a [`FakeClock`](gosync_core::clock::FakeClock).
        ///
        /// # Examples
        ///
        /// ```
        /// use gosync_cond::Cond;
        /// use gosync_core::clock::FakeClock;
        /// use parking_lot::Mutex;
        /// use std::time::Duration;
        ///
        /// let fake = FakeClock::new();
        /// let cond = Cond::with_clock(fake.clock());
        /// let m = Mutex::new(());
        /// let deadline = fake.now() + Duration::from_secs(60);
        /// std::thread::scope(|s| {
        ///     s.spawn(|| {
        ///         let mut g = m.lock();
        ///         assert!(!cond.wait_deadline(&mut g, deadline)); // timed out
        ///     });
        ///     assert!(fake.block_until_waiter_at(deadline, Duration::from_secs(10)));
        ///     fake.advance(Duration::from_secs(60)); // an hour of waiting, no real time
        /// });
        /// ```
        pub fn with_clock(clock: Clock) -> Cond {
            Cond {
                waiters: AtomicUsize::new(0),
                queue: Mutex::new(Queue {
                    nodes: VecDeque::new(),
                    mutex: 0,
                }),
                clock,
            }
        }
    }

    /// The clock of this condition variable's timed waits.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Releases `guard`'s mutex, sleeps until woken by [`signal`](Cond::signal) or
    /// [`broadcast`](Cond::broadcast), and takes the mutex back before returning.
    ///
    /// It never returns spuriously, but another thread may lock the mutex between the
    /// wake-up and this thread re-locking it, so re-check the condition in a loop, as in
    /// Go:
    ///
    /// ```text
    /// while !condition(&guard) { cond.wait(&mut guard); }
    /// ```
    ///
    /// The waiter is queued before the mutex is released, so a signal sent by any
    /// thread that takes the mutex after this call began will find it.
    ///
    /// # Panics
    ///
    /// If other threads are waiting on this `Cond` with a different mutex at the same
    /// time. The panic comes before anything changes; `guard` is still locked.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_cond::Cond;
    /// use parking_lot::Mutex;
    ///
    /// let (ready, cond) = (Mutex::new(false), Cond::new());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         *ready.lock() = true;
    ///         cond.signal();
    ///     });
    ///     let mut g = ready.lock();
    ///     while !*g {
    ///         cond.wait(&mut g);
    ///     }
    /// });
    /// ```
    #[track_caller]
    pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        let node = Node::new(Wake::Thread(thread::current()));
        let reg = self.register(&node, mutex_id(guard));
        let mutex = relock::Mutex::of(guard);
        let parked = MutexGuard::unlocked(guard, || {
            let parked = node.park(|| false);
            mutex.await_unlocked();
            parked
        });
        debug_assert!(matches!(parked, Parked::Notified));
        reg.finish(true);
    }

    /// [`wait`](Cond::wait), giving up after `timeout` of this `Cond`'s clock. Returns
    /// `true` if woken by a signal or broadcast, `false` if the timeout elapsed first.
    /// The mutex is re-locked either way.
    ///
    /// A waiter that times out withdraws from the queue, so a later signal goes to the
    /// next waiter: a time-out never swallows a signal. If a signal chose this waiter
    /// while it was timing out, the signal wins: the call returns `true`. A timeout too
    /// large for `Instant` waits without one.
    ///
    /// # Panics
    ///
    /// As [`wait`](Cond::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_cond::Cond;
    /// use parking_lot::Mutex;
    /// use std::time::Duration;
    ///
    /// let (m, cond) = (Mutex::new(()), Cond::new());
    /// let mut g = m.lock();
    /// assert!(!cond.wait_timeout(&mut g, Duration::from_millis(1))); // nobody signals
    /// ```
    #[track_caller]
    #[must_use = "false means the wait timed out without a signal"]
    pub fn wait_timeout<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> bool {
        match self.clock.deadline_after(timeout) {
            Some(deadline) => self.wait_deadline(guard, deadline),
            None => {
                self.wait(guard);
                true
            }
        }
    }

    /// [`wait`](Cond::wait), giving up when this `Cond`'s clock reaches `deadline`.
    /// Returns `true` if woken by a signal or broadcast, `false` if the deadline came
    /// first. The mutex is re-locked either way.
    ///
    /// A deadline that has already passed returns `false` at once, without releasing the
    /// mutex. Otherwise, as [`wait_timeout`](Cond::wait_timeout): a time-out withdraws
    /// cleanly and a concurrent signal wins.
    ///
    /// # Panics
    ///
    /// As [`wait`](Cond::wait).
    #[track_caller]
    #[must_use = "false means the wait timed out without a signal"]
    pub fn wait_deadline<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> bool {
        if self.clock.now() >= deadline {
            return false;
        }
        let node = Node::new(Wake::Timed(Mutex::new(()), Condvar::new()));
        let reg = self.register(&node, mutex_id(guard));
        let mutex = relock::Mutex::of(guard);
        MutexGuard::unlocked(guard, || {
            let notified = reg.finish(node.park_until(&self.clock, deadline));
            if notified {
                mutex.await_unlocked();
            }
            notified
        })
    }

    /// Wakes the oldest waiter, if any (Go's `Signal`). A signal with no waiter is not
    /// remembered.
    ///
    /// Holding the mutex while signalling is allowed and usual, not required: a waiter
    /// that registered (under the mutex) before the signaller took the mutex is seen.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_cond::Cond;
    ///
    /// let cond = Cond::new();
    /// cond.signal(); // no waiter: a no-op
    /// assert_eq!(cond.waiters(), 0);
    /// ```
    #[inline]
    pub fn signal(&self) {
        // Relaxed: a waiter whose registration happened-before this call (through the
        // caller's mutex, typically) is counted in a value this load must see (coherence);
        // a concurrent registration may be missed, as Go's `wait == notify` check may.
        if self.waiters.load(Relaxed) != 0 {
            self.signal_slow();
        }
    }

    #[inline(never)]
    fn signal_slow(&self) {
        let unpark = {
            let mut q = self.queue.lock();
            let Some(node) = q.nodes.pop_front() else {
                return;
            };
            // Relaxed: a hint for the fast paths, see `signal`; the queue is the truth.
            self.waiters.store(q.nodes.len(), Relaxed);
            // SAFETY: the node was queued until this critical section, so its waiter is
            // still inside its wait and stays there until `notify` lets it go
            // (invariants 2-4).
            unsafe { Node::notify(node.0) }
        };
        if let Some(t) = unpark {
            t.unpark();
        }
    }

    /// Wakes every waiter (Go's `Broadcast`). Waiters that call `wait` afterwards are
    /// not woken by it.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_cond::Cond;
    /// use parking_lot::Mutex;
    ///
    /// let (go, cond) = (Mutex::new(false), Cond::new());
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 {
    ///         s.spawn(|| {
    ///             let mut g = go.lock();
    ///             while !*g {
    ///                 cond.wait(&mut g);
    ///             }
    ///         });
    ///     }
    ///     *go.lock() = true;
    ///     cond.broadcast();
    /// });
    /// ```
    pub fn broadcast(&self) {
        // Relaxed: as in `signal`.
        if self.waiters.load(Relaxed) == 0 {
            return;
        }
        let mut unpark = Vec::new();
        {
            let mut q = self.queue.lock();
            // Relaxed: as in `signal_slow`.
            self.waiters.store(0, Relaxed);
            for node in q.nodes.drain(..) {
                // SAFETY: as in `signal_slow`: each node was queued until now.
                if let Some(t) = unsafe { Node::notify(node.0) } {
                    unpark.push(t);
                }
            }
        }
        for t in unpark {
            t.unpark();
        }
    }

    /// How many threads are waiting (registered and not yet chosen by a signal), for
    /// diagnostics and tests. A waiter counts from the moment it is queued, which is
    /// before its `wait` releases the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_cond::Cond;
    /// use parking_lot::Mutex;
    ///
    /// let (m, cond) = (Mutex::new(()), Cond::new());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| cond.wait(&mut m.lock()));
    ///     while cond.waiters() == 0 {
    ///         std::thread::yield_now();
    ///     }
    ///     cond.signal();
    /// });
    /// ```
    pub fn waiters(&self) -> usize {
        self.queue.lock().nodes.len()
    }

    /// Queues `node` (its waiter holds the mutex identified by `mutex`).
    #[track_caller]
    pub(crate) fn register<'a>(&'a self, node: &'a Node, mutex: usize) -> Registration<'a> {
        let mut q = self.queue.lock();
        if q.nodes.is_empty() {
            q.mutex = mutex;
        } else if q.mutex != mutex {
            drop(q);
            mismatch();
        }
        q.nodes.push_back(NodePtr(node));
        // Relaxed: see `signal`.
        self.waiters.store(q.nodes.len(), Relaxed);
        Registration { cond: self, node }
    }

    /// Removes `node` from the queue if it is still there; returns whether it was (if
    /// not, a signal or broadcast popped it and has finished notifying it).
    fn withdraw(&self, node: &Node) -> bool {
        let mut q = self.queue.lock();
        let me: *const Node = node;
        match q.nodes.iter().position(|p| p.0 == me) {
            Some(i) => {
                q.nodes.remove(i);
                // Relaxed: see `signal`.
                self.waiters.store(q.nodes.len(), Relaxed);
                true
            }
            None => false,
        }
    }
}

/// Identifies the mutex a guard locks: the address of its data, which is unique to the
/// mutex while it is locked (the data lives inside the mutex, even when zero-sized).
#[inline]
pub(crate) fn mutex_id<T>(guard: &MutexGuard<'_, T>) -> usize {
    let data: *const T = &**guard;
    data as *const () as usize
}

#[cold]
#[inline(never)]
#[track_caller]
fn mismatch() -> ! {
    panic!("gosync_cond::Cond: waited on with two different mutexes at once")
}

impl Default for Cond {
    fn default() -> Cond {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond")
            // Relaxed: a diagnostic snapshot.
            .field("waiters", &self.waiters.load(Relaxed))
            .field("clock", &self.clock)
            .finish()
    }
}

/// How long a waiter keeps checking for its wake-up before it parks: a park and unpark
/// costs a system call on each side and a trip through the scheduler (several
/// microseconds, far more on a loaded machine), and the signaller usually makes its call
/// while holding the caller's mutex. A budget in time ([`gosync_core::spin`]), so it
/// means the same on every CPU; the spin also ends, and the waiter parks, as soon as it
/// finds its CPU contended (a yield ran another thread for a while), when spinning on
/// would only take turns with the threads it waits for. Not a sharp optimum: on the
/// bounded-buffer bench (5 producers, 3 consumers, capacity 3, 2-CPU Xeon, woken waiters
/// waiting for the unlock as in `relock`), 10, 100 and 1,000 us gave 3.45, 3.06 and 3.23
/// M items/s.
#[cfg(not(loom))]
const SPIN: Duration = Duration::from_micros(100);
/// The first part of the spin busy-waits with `spin_loop`, the rest yields the CPU. The
/// busy part covers a signal from a thread running on another CPU, which comes within
/// hundreds of nanoseconds when producer and consumer run side by side; the yields are
/// what let the signaller run on a machine with fewer CPUs than threads. Same bench:
/// 0 (yield at once), 250 ns, 500 ns, 1 us, 2 us and 5 us gave 1.07, 3.19, 3.30,
/// 3.06-3.45, 2.35 and 2.37 M items/s; 500 ns is the middle of the plateau.
#[cfg(not(loom))]
const BUSY: Duration = Duration::from_nanos(500);

/// Spins until `done()` or [`SPIN`] is spent; returns `done()`'s last answer.
#[cfg(not(loom))]
#[inline]
pub(crate) fn spin_until(done: impl Fn() -> bool) -> bool {
    spin_until_within(SPIN, done)
}

/// [`spin_until`], but for at most `budget` (a timed wait spins no longer than its
/// time-out).
#[cfg(not(loom))]
#[inline]
pub(crate) fn spin_until_within(budget: Duration, done: impl Fn() -> bool) -> bool {
    done() || spin_slow(budget.min(SPIN), &done)
}

#[cfg(not(loom))]
#[inline(never)]
fn spin_slow(budget: Duration, done: &dyn Fn() -> bool) -> bool {
    let mut spin = Spin::new(budget).yield_after(BUSY);
    loop {
        let more = spin.spin();
        if done() {
            return true;
        }
        if !more {
            return false;
        }
    }
}

/// Under loom there is no time to spin for: go straight to the park protocol, which is
/// what the models check.
#[cfg(loom)]
#[inline]
pub(crate) fn spin_until(_done: impl Fn() -> bool) -> bool {
    false
}

/// Under loom: as [`spin_until`].
#[cfg(loom)]
#[inline]
pub(crate) fn spin_until_within(_budget: Duration, _done: impl Fn() -> bool) -> bool {
    false
}
