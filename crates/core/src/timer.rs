//! The per-clock timer service: one thread per clock runs the callbacks of every
//! registered deadline.
//!
//! A component that must act at a time of its [`Clock`] (a delaying work queue moving
//! due items, a metrics tick) creates one [`TimerEntry`] with a callback, and
//! [`schedule`](TimerEntry::schedule)s it for a deadline. Every entry of a clock is kept
//! in one ordered map `(deadline, id) -> callback` (O(log n) to register, cancel and pop)
//! served by one thread:
//!
//! * the real clock has one process-wide timer thread;
//! * each [`FakeClock`](crate::FakeClock) has its own, which sleeps on the fake clock, so
//!   [`FakeClock::advance`](crate::FakeClock::advance) fires the deadlines it makes due,
//!   deterministically. While it sleeps it is one waiter of
//!   [`FakeClock::waiters`](crate::FakeClock::waiters), with the earliest deadline.
//!
//! The thread starts with the first registration and ends once none has remained for a
//! second of real time (so that a queue delaying an item now and then does not start a
//! thread each time); the next registration starts it again. While it runs it holds a
//! handle of its clock, so a fake clock's shared state is freed at most that second
//! after its last registration and handle are gone. 1,000 delaying queues use one
//! thread, not 1,000. An idle thread waits in real time, not on the clock: it is not
//! one of the fake clock's [`waiters`](crate::FakeClock::waiters).
//!
//! [`Sleep`] (made by [`Clock::sleep_until_async`] and [`Clock::sleep_async`]) is the
//! async twin of [`Clock::sleep_until`] built on an entry: a future whose entry wakes
//! the task that polled it, under any executor.
//!
//! An entry is one-shot: when its deadline comes the thread removes it from the map and
//! calls the callback with the time it read; the callback (or anyone) schedules the entry
//! again if it needs another call. [`TimerEntry::cancel`] (and dropping the entry)
//! removes the registration and waits for a call already in progress, so that after it
//! returns the callback is not running and will not run.
//!
//! # Invariants and lock order
//!
//! 1. `Inner::entries` holds `(deadline, id)` for the entry `id` iff that entry's `at` is
//!    `Some(deadline)` and the deadline has not fired since; both are written under the
//!    service's lock (`at` through `&mut TimerEntry`).
//! 2. A callback never runs under the service's lock: the thread pops the entry, sets
//!    `firing` to its id, unlocks, calls it, locks again and clears `firing`. So a
//!    callback may take any lock and may schedule or cancel entries (its own included).
//! 3. `running` is true from the moment a registration decides to start the thread
//!    until the thread, holding the lock, finds no entry (after its linger) and exits; a
//!    registration that finds it false starts a new thread.
//!
//! Lock order: the caller's locks (a queue's state lock, under which it schedules), then
//! the service's lock, then the fake clock's lock (the thread reads the fake time and
//! registers its sleep while holding the service's lock). `cancel` waits for a running
//! callback, which may need the caller's locks: call it holding none of them.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
// Not the loom switch: these count and name, they order nothing (see their uses).
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::sync::{thread, Arc, Condvar, Mutex};

mod sleep;

pub use sleep::Sleep;

type Callback = Arc<dyn Fn(Instant) + Send + Sync>;

/// `Arc::new` with the unsizing coercion, which loom's `Arc` does not support directly.
fn callback_arc(f: impl Fn(Instant) + Send + Sync + 'static) -> Callback {
    #[cfg(not(loom))]
    return Arc::new(f);
    #[cfg(loom)]
    return Arc::from_std(std::sync::Arc::new(f));
}

/// How long (real time) a timer thread waits for a new registration once the map is
/// empty, before it ends: long enough that a queue which delays an item now and then
/// does not start a thread each time (measured: a fake-clock `add_after`/`advance`/`get`
/// round of 1,000 items cost about twice as much when each round started a thread).
const LINGER: Duration = Duration::from_secs(1);

/// Entry ids, unique in the process (0 means "none" in `Inner::firing`). A plain counter:
/// only uniqueness matters, so it is not modelled by loom.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Timer threads alive now, for tests (see [`live_timer_threads`]).
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);

/// The timer service of one clock. The real clock's is a static; a fake clock's lives in
/// the clock's shared state.
pub(crate) struct Service {
    inner: Mutex<Inner>,
    /// The thread sleeps here: notified when an earlier deadline is registered, or the
    /// earliest one is cancelled.
    wake: Condvar,
    /// `TimerEntry::cancel` waits here for a callback in progress to return.
    fired: Condvar,
}

struct Inner {
    entries: BTreeMap<(Instant, u64), Callback>,
    /// Invariant 3.
    running: bool,
    /// The timer thread, while it runs.
    thread: Option<thread::ThreadId>,
    /// The id of the entry whose callback is running (0: none). Invariant 2.
    firing: u64,
    /// Threads blocked in `cancel` on `fired`.
    cancel_waiters: usize,
    /// Whether the thread is in a timed sleep, and how many it has begun: `cancel` of
    /// the earliest deadline on a fake clock waits for the sleep it ends.
    sleeping: bool,
    sleeps: u64,
    /// Under Miri, the running thread's handle, so that the cancel that leaves no
    /// registration can join it (Miri fails a run that leaves a thread behind).
    #[cfg(miri)]
    handle: Option<thread::JoinHandle<()>>,
}

impl Service {
    crate::const_fn_unless_loom! {
        pub(crate) fn new() -> Service {
            Service {
                inner: Mutex::new(Inner {
                    entries: BTreeMap::new(),
                    running: false,
                    thread: None,
                    firing: 0,
                    cancel_waiters: 0,
                    sleeping: false,
                    sleeps: 0,
                    #[cfg(miri)]
                    handle: None,
                }),
                wake: Condvar::new(),
                fired: Condvar::new(),
            }
        }
    }
}

#[cfg(not(loom))]
static REAL: Service = Service::new();

#[cfg(loom)]
loom::lazy_static! {
    static ref REAL: Service = Service::new();
}

/// The timer service of `clock`.
fn service(clock: &Clock) -> &Service {
    match clock.fake_timer() {
        Some(svc) => svc,
        // Under loom, `REAL` is a lazy static that derefs to the service.
        None => &REAL,
    }
}

/// How many timer threads are alive in the process (all clocks). For tests of the
/// one-thread-per-clock rule; not a stable API.
#[doc(hidden)]
pub fn live_timer_threads() -> usize {
    LIVE_THREADS.load(Relaxed)
}

/// One registration with a clock's timer service: a callback and at most one pending
/// deadline.
///
/// [`schedule`](TimerEntry::schedule) registers (or moves) the deadline; when the clock
/// reaches it, the clock's timer thread calls the callback once, with the time it read,
/// and the entry is idle until scheduled again. [`cancel`](TimerEntry::cancel) and drop
/// remove the registration.
///
/// # Callbacks
///
/// Callbacks of every entry of a clock run one at a time on that clock's timer thread,
/// never under the service's lock: a callback may take locks (the ones its owner holds
/// while scheduling, too) and may schedule or cancel entries, its own included. A slow
/// callback delays the others of its clock. A callback that panics is caught (the panic
/// hook has reported it); the thread goes on with the next deadline, and the entry stays
/// idle until scheduled again.
///
/// # Examples
///
/// ```
/// use gosync_core::timer::TimerEntry;
/// use gosync_core::FakeClock;
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let (tx, rx) = mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let mut entry = TimerEntry::new(fake.clock(), move |now| tx.lock().unwrap().send(now).unwrap());
/// let at = fake.now() + Duration::from_secs(5);
/// entry.schedule(at);
/// assert!(fake.block_until_waiter_at(at, Duration::from_secs(10)));
/// fake.advance(Duration::from_secs(5));
/// assert_eq!(rx.recv().unwrap(), at);
/// ```
#[must_use = "an entry is cancelled when dropped"]
pub struct TimerEntry {
    clock: Clock,
    id: u64,
    callback: Callback,
    /// The deadline last registered; it may have fired since (invariant 1).
    at: Option<Instant>,
}

impl TimerEntry {
    /// An idle entry of `clock`'s timer service that calls `callback` at each deadline
    /// it is scheduled for. Starts no thread and takes no lock.
    pub fn new(clock: Clock, callback: impl Fn(Instant) + Send + Sync + 'static) -> TimerEntry {
        TimerEntry {
            clock,
            // Relaxed: only uniqueness matters.
            id: NEXT_ID.fetch_add(1, Relaxed),
            callback: callback_arc(callback),
            at: None,
        }
    }

    /// The clock whose timer runs this entry.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The deadline this entry was last scheduled for, unless cancelled since. It may
    /// have fired already.
    pub fn scheduled(&self) -> Option<Instant> {
        self.at
    }

    /// Registers `at` as this entry's deadline, replacing any pending one. A deadline
    /// already reached fires at once (on the timer thread). Starts the clock's timer
    /// thread if it is not running.
    ///
    /// # Panics
    ///
    /// If the timer thread cannot be spawned: the entry is then registered, and the next
    /// `schedule` of any entry of the clock tries to start the thread again.
    pub fn schedule(&mut self, at: Instant) {
        self.register(at, false);
    }

    /// Registers `at` unless a deadline at or before it is pending (registered and not
    /// fired yet); returns whether it registered. For an owner whose earliest deadline
    /// only moved earlier: unlike [`scheduled`](TimerEntry::scheduled), it knows whether
    /// the last deadline has fired.
    ///
    /// # Panics
    ///
    /// As [`schedule`](TimerEntry::schedule).
    pub fn schedule_earlier(&mut self, at: Instant) -> bool {
        self.register(at, true)
    }

    fn register(&mut self, at: Instant, only_earlier: bool) -> bool {
        let svc = service(&self.clock);
        let mut g = svc.inner.lock();
        let mut was_first = false;
        if let Some(old) = self.at.take() {
            let key = (old, self.id);
            was_first = g.entries.first_key_value().is_some_and(|(k, _)| *k == key);
            let pending = g.entries.remove(&key);
            if only_earlier && old <= at {
                if let Some(callback) = pending {
                    // Pending and no later than `at`: keep it.
                    g.entries.insert((old, self.id), callback);
                    self.at = Some(old);
                    return false;
                }
            }
        }
        let earliest = g.entries.first_key_value().map_or(true, |(k, _)| at < k.0);
        g.entries.insert((at, self.id), Arc::clone(&self.callback));
        self.at = Some(at);
        if !g.running {
            g.running = true;
            drop(g);
            self.start(svc);
        } else if earliest || was_first {
            // An earlier deadline, or the one the thread sleeps until moved later: let
            // it sleep until the new first one.
            drop(g);
            svc.wake.notify_one();
        }
        true
    }

    #[cold]
    fn start(&self, svc: &Service) {
        // If `spawn` panics, clear `running` on the way out, so that the next
        // registration tries again instead of trusting a thread that does not exist.
        struct NotStarted<'a>(&'a Service);
        impl Drop for NotStarted<'_> {
            fn drop(&mut self) {
                self.0.inner.lock().running = false;
            }
        }
        let not_started = NotStarted(svc);
        let clock = self.clock.clone();
        #[cfg(not(miri))]
        thread::spawn(move || run(clock));
        #[cfg(miri)]
        {
            // Spawned under the lock, so that the handle is stored before the thread
            // can get to its exit.
            let mut g = svc.inner.lock();
            let handle = thread::spawn(move || run(clock));
            g.thread = Some(handle.thread().id());
            g.handle = Some(handle);
        }
        std::mem::forget(not_started);
    }

    /// Removes this entry's pending deadline, if any, and waits for a call of its
    /// callback already in progress on the timer thread to return (unless called from
    /// that callback). Afterwards the callback is not running and will not run until the
    /// entry is scheduled again. Dropping the entry does the same.
    ///
    /// On a fake clock, if the timer thread was asleep until the cancelled deadline, it
    /// also waits for that sleep to end: when `cancel` returns, the deadline is no longer
    /// counted by [`FakeClock::waiters`](crate::FakeClock::waiters).
    ///
    /// Do not call it while holding a lock the callback takes: it may wait for the
    /// callback.
    pub fn cancel(&mut self) {
        let svc = service(&self.clock);
        let mut g = svc.inner.lock();
        let mut was_first = false;
        if let Some(at) = self.at.take() {
            let key = (at, self.id);
            was_first = g.entries.first_key_value().is_some_and(|(k, _)| *k == key);
            g.entries.remove(&key);
        }
        if was_first {
            // The thread sleeps until the removed deadline: let it sleep until the next
            // one instead (or exit, if none remains).
            svc.wake.notify_one();
        }
        let waits_for_callback = g.firing == self.id;
        // On a fake clock, wait until that sleep has ended too, so that the cancelled
        // deadline is no longer one of `FakeClock::waiters` when `cancel` returns.
        let sleep = (was_first && g.sleeping && self.clock.is_fake()).then_some(g.sleeps);
        if (waits_for_callback || sleep.is_some()) && g.thread != Some(thread::current().id()) {
            g.cancel_waiters += 1;
            while g.firing == self.id || (sleep.is_some() && g.sleeping && Some(g.sleeps) == sleep)
            {
                svc.fired.wait(&mut g);
            }
            g.cancel_waiters -= 1;
        }
        #[cfg(miri)]
        if g.entries.is_empty() && g.running && g.thread != Some(thread::current().id()) {
            // Retire the thread (it ends at its next check; the next registration starts
            // a new one) and join it, so that no thread outlives the last registration.
            let handle = g.handle.take();
            g.running = false;
            g.thread = None;
            drop(g);
            svc.wake.notify_all();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for TimerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerEntry")
            .field("clock", &self.clock)
            .field("scheduled", &self.at)
            .finish()
    }
}

/// Decrements [`LIVE_THREADS`] when the timer thread ends.
struct Live;

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_THREADS.fetch_sub(1, Relaxed);
    }
}

/// The timer thread of `clock`'s service.
fn run(clock: Clock) {
    LIVE_THREADS.fetch_add(1, Relaxed);
    let _live = Live;
    let svc = service(&clock);
    let mut g = svc.inner.lock();
    // Under Miri, `start` has set it (a retired thread must not set it back).
    #[cfg(not(miri))]
    {
        g.thread = Some(thread::current().id());
    }
    let mut lingered = false;
    loop {
        #[cfg(miri)]
        if g.thread != Some(thread::current().id()) {
            return; // retired by `cancel`, which joins this thread
        }
        let Some(&(at, id)) = g.entries.keys().next() else {
            // Under Miri no linger: the cancel that emptied the map joins this thread.
            if lingered || cfg!(miri) {
                // Invariant 3: decided under the lock; the next `schedule` starts a thread.
                g.running = false;
                g.thread = None;
                return;
            }
            lingered = true;
            svc.wake.wait_for(&mut g, LINGER);
            continue;
        };
        lingered = false;
        let now = clock.now();
        if at > now {
            g.sleeping = true;
            g.sleeps += 1;
            clock.wait_until(&svc.wake, &mut g, at);
            g.sleeping = false;
            if g.cancel_waiters > 0 {
                svc.fired.notify_all();
            }
            continue;
        }
        let (_, callback) = g.entries.pop_first().expect("the first entry is there");
        g.firing = id;
        drop(g);
        // Invariant 2: user code, outside the lock. A panic must not end the thread that
        // serves every deadline of the clock: the panic hook has reported it where it
        // happened; the payload is dropped (or leaked, if its own drop panics).
        let called = catch_unwind(AssertUnwindSafe(move || {
            callback(now);
            drop(callback);
        }));
        if let Err(payload) = called {
            if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                std::mem::forget(again);
            }
        }
        g = svc.inner.lock();
        g.firing = 0;
        if g.cancel_waiters > 0 {
            svc.fired.notify_all();
        }
    }
}
