//! `WaitGroup`: a counter of outstanding work that threads can wait on to reach zero.

use std::fmt;
use std::time::{Duration, Instant};

use gosync_core::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

use gosync_core::clock::Clock;
use gosync_core::sync::{thread, Condvar, Mutex, MutexGuard};
use gosync_core::waiters::WakerList;

/// Waits for a collection of threads to finish, like Go's `sync.WaitGroup`.
///
/// The group holds a counter. [`add`](WaitGroup::add) raises it by the number of tasks to
/// wait for, each task calls [`done`](WaitGroup::done) when it finishes, and
/// [`wait`](WaitGroup::wait) blocks until the counter is zero. A group is shared by
/// reference (`&WaitGroup` in [`std::thread::scope`], an [`Arc`], or a `static`, since
/// [`new`](WaitGroup::new) is `const`) and can be reused for round after round, as in Go.
///
/// For code that cannot forget a `done`, use [`guard`](WaitGroup::guard) (done on drop,
/// unwinding included) or let the group spawn the task: [`go`](WaitGroup::go),
/// [`go_static`](WaitGroup::go_static), [`go_scoped`](WaitGroup::go_scoped).
///
/// # Examples
///
/// ```
/// use gosync_waitgroup::WaitGroup;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let wg = WaitGroup::new();
/// let hits = AtomicUsize::new(0);
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         wg.add(1);
///         s.spawn(|| {
///             hits.fetch_add(1, Ordering::Relaxed);
///             wg.done();
///         });
///     }
///     wg.wait(); // returns once all four have called `done`
///     assert_eq!(hits.load(Ordering::Relaxed), 4);
/// });
/// ```
///
/// # Panics
///
/// Misuse panics, with Go's messages, where Go's would:
///
/// * `add`/`done` taking the counter below zero: `sync: negative WaitGroup counter`;
/// * the counter exceeding `i32::MAX` (Go's counter width): `sync: WaitGroup counter overflow`;
/// * a positive `add` racing with the `wait` of a group whose counter was zero, or a zero
///   counter being raised while the waiters of the round are still being released:
///   `sync: WaitGroup misuse: Add called concurrently with Wait`;
/// * a new round started (`add`) before a `wait` of the previous round has returned, when
///   that waiter notices it: `sync: WaitGroup is reused before previous Wait has returned`.
///
/// Unlike Go, where these panics end the program, the panicking call is taken back
/// before it panics: a caller that catches the panic finds the counter as it was, and
/// waiters are neither stranded nor released early. (A thread that reads the counter in
/// the instant between the bad change and its undo may see the bad value; only misuse
/// makes that instant exist.)
///
/// # `WaitGroup` vs `std::sync::Barrier` and `crossbeam_utils::sync::WaitGroup`
///
/// A `Barrier` makes a fixed number of threads wait for each other; a `WaitGroup` lets
/// any number of threads wait for a count of tasks that changes as work is spawned.
/// crossbeam's `WaitGroup` counts clones of a handle, so each task costs an `Arc`
/// clone and drop and the group cannot be reused; this one counts with one atomic word
/// and is reused freely.
pub struct WaitGroup {
    /// The counter in the high 32 bits (an `i32`, Go's width), the number of registered
    /// waiters in the low 32 bits. One word, so a counter change and the waiter count it
    /// must be compared with are observed together.
    state: AtomicU64,
    /// Wake-up permits granted to registered blocking waiters when the counter reaches
    /// zero (Go's semaphore; each consumes exactly one), and the registered async
    /// waiters, released by name.
    permits: Mutex<Parked>,
    /// Signalled when permits are granted.
    released: Condvar,
}

/// What the `permits` lock protects.
///
/// Invariant (under the lock): the state word's waiter count is the number of blocking
/// waiters registered and not yet released plus `tasks.waiting()`. A task registers in
/// the state word and in `tasks` in one critical section, and withdraws from both in
/// one, so a release (which resets the state word under the lock) accounts for every
/// task exactly once.
pub(crate) struct Parked {
    /// Permits for blocking waiters.
    count: u32,
    /// Async waiters ([`WaitAsync`](crate::WaitAsync)).
    pub(crate) tasks: WakerList,
}

const NEGATIVE: &str = "sync: negative WaitGroup counter";
const OVERFLOW: &str = "sync: WaitGroup counter overflow";
const MISUSE: &str = "sync: WaitGroup misuse: Add called concurrently with Wait";
const REUSED: &str = "sync: WaitGroup is reused before previous Wait has returned";

/// Panics with one of Go's misuse messages; out of line, so the hot paths stay small.
#[cold]
#[inline(never)]
#[track_caller]
fn misuse(message: &'static str) -> ! {
    panic!("{message}")
}

/// The state word's counter field, as Go's `int32`.
#[inline]
fn counter(state: u64) -> i32 {
    (state >> 32) as i32
}

/// The state word's waiter count.
#[inline]
fn waiters(state: u64) -> u32 {
    state as u32
}

/// The state word's increment for a counter change of `d` (two's complement, so adding
/// it wraps the counter field without touching the waiter field).
#[inline]
fn delta_bits(d: i32) -> u64 {
    ((d as i64) as u64) << 32
}

impl WaitGroup {
    gosync_core::const_fn_unless_loom! {
        /// Creates a group with a zero counter.
        ///
        /// # Examples
        ///
        /// ```
        /// use gosync_waitgroup::WaitGroup;
        ///
        /// static WG: WaitGroup = WaitGroup::new();
        /// WG.wait(); // a zero counter: returns at once
        /// ```
        pub fn new() -> WaitGroup {
            WaitGroup {
                state: AtomicU64::new(0),
                permits: Mutex::new(Parked { count: 0, tasks: WakerList::new() }),
                released: Condvar::new(),
            }
        }
    }

    /// Adds `delta`, which may be negative, to the counter. If the counter becomes zero,
    /// every thread blocked in [`wait`](WaitGroup::wait) is released.
    ///
    /// As in Go, calls with a positive delta that start a round (counter zero) must happen
    /// before the `wait` of that round; typically, call `add` before spawning the task.
    ///
    /// # Panics
    ///
    /// If the counter would go below zero or above `i32::MAX`, or on the misuse described
    /// on [`WaitGroup`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(3);
    /// wg.add(-2);
    /// assert_eq!(wg.count(), 1);
    /// wg.done();
    /// wg.wait();
    /// ```
    #[inline]
    pub fn add(&self, delta: isize) {
        let Ok(d) = i32::try_from(delta) else {
            misuse(if delta > 0 { OVERFLOW } else { NEGATIVE });
        };
        // AcqRel: Release publishes the caller's work to whoever observes the counter at
        // zero (a waiter's Acquire load, or the last adder's Acquire below, which then
        // hands it on through the `permits` lock); Acquire lets the adder that brings the
        // counter to zero see every earlier `done`'s work, since RMWs extend release
        // sequences.
        let prev = self.state.fetch_add(delta_bits(d), AcqRel);
        let (c, w) = (counter(prev), waiters(prev));
        match c.checked_add(d) {
            // Go's misuse check: the counter was zero yet waiters are still registered,
            // so their release is under way, and this `add` starts a round concurrently
            // with it.
            Some(v) if v >= 0 && !(d > 0 && c == 0 && w != 0) => {
                if v == 0 && w != 0 {
                    self.release_waiters();
                }
            }
            Some(v) if v >= 0 => self.undo_and_panic(d, MISUSE),
            Some(_) => self.undo_and_panic(d, NEGATIVE),
            None => self.undo_and_panic(d, if d > 0 { OVERFLOW } else { NEGATIVE }),
        }
    }

    /// A misused `add` already applied `d`: take it back, so that a caught panic leaves
    /// the group as it was (Go's panic ends the process; a Rust caller may catch it and
    /// wait again), then panic with Go's message.
    ///
    /// The state word wraps the counter modulo 2^32 without touching the waiter field,
    /// so subtracting `d` restores the counter exactly. If the bad value let a waiter
    /// register, or hid a zero counter from a release, the undo brings the counter back
    /// to zero with waiters registered, and the undoer releases them.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn undo_and_panic(&self, d: i32, message: &'static str) -> ! {
        // AcqRel: as in `add`; the undo is an `add` of `-d`.
        let prev = self.state.fetch_sub(delta_bits(d), AcqRel);
        let now = prev.wrapping_sub(delta_bits(d));
        if counter(now) == 0 && waiters(now) != 0 {
            self.release_waiters();
        }
        misuse(message)
    }

    /// Decrements the counter by one: `add(-1)`.
    ///
    /// # Panics
    ///
    /// If the counter would go below zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    pub fn done(&self) {
        self.add(-1);
    }

    /// The counter reached zero with waiters registered: grant each one a permit.
    ///
    /// Idempotent and safe to call at any time: under the `permits` lock it grants
    /// permits only if the counter is zero, and only to the waiters registered then,
    /// resetting the state word by compare-exchange, never by a blind store. A waiter
    /// that gave up has either withdrawn before this (it is not counted) or found the
    /// counter zero and stays for its permit (see `wait_registered`), so a new round that
    /// the waiter starts after its wait returned is never erased here.
    #[cold]
    #[inline(never)]
    fn release_waiters(&self) {
        let mut permits = self.permits.lock();
        // Acquire: as in `add`, the released waiters must see every `done`'s work, which
        // they acquire from this thread through the `permits` lock.
        let mut state = self.state.load(Acquire);
        loop {
            if counter(state) != 0 || waiters(state) == 0 {
                // Nothing to release now: either an earlier release already reset the
                // state, or a misused `add` raised the counter for a moment; its
                // `undo_and_panic` will bring it back to zero and release the waiters.
                return;
            }
            // AcqRel: Acquire as above; Release so that the next round starts from this
            // reset. Only waiter registrations (refused at a zero counter) and misused
            // adds can race this, so a failure means retry with the fresh value.
            match self.state.compare_exchange(state, 0, AcqRel, Acquire) {
                Ok(_) => break,
                Err(s) => state = s,
            }
        }
        let tasks = permits.tasks.waiting() as u32;
        if tasks == 0 {
            // Only blocking waiters: one permit each.
            permits.count += waiters(state);
            self.released.notify_all();
            drop(permits);
        } else {
            self.release_tasks(permits, waiters(state) - tasks);
        }
    }

    /// The release of a round with async waiters among the registered ones: those are
    /// released by name, the other `blocking` ones get a permit each (the invariant on
    /// `Parked`). Out of line, so a release with only blocking waiters pays one load.
    #[cold]
    #[inline(never)]
    fn release_tasks(&self, mut permits: MutexGuard<'_, Parked>, blocking: u32) {
        permits.count += blocking;
        let wake = permits.tasks.notify_all();
        if blocking != 0 {
            self.released.notify_all();
        }
        drop(permits);
        // Wakers are user code: called with no lock held and the group fully released,
        // so a panicking one (resumed here, after every other task was woken) leaves
        // nothing half-done.
        wake.wake();
    }

    /// Blocks until the counter is zero. Returns at once if it already is.
    ///
    /// Every `done` that brought the counter to zero happens-before `wait` returns: the
    /// finished tasks' writes are visible to the waiter.
    ///
    /// # Panics
    ///
    /// With `sync: WaitGroup is reused before previous Wait has returned` if, by the time
    /// this waiter wakes up, a new round has already been started.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    /// use std::sync::Arc;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// wg.add(1);
    /// let w = Arc::clone(&wg);
    /// std::thread::spawn(move || w.done());
    /// wg.wait();
    /// ```
    #[inline]
    pub fn wait(&self) {
        // Acquire pairs with the Release of the `add`/`done` that made the counter zero.
        if counter(self.state.load(Acquire)) == 0 {
            return;
        }
        self.wait_slow(None);
    }

    /// Blocks until the counter is zero or `timeout` has passed; returns whether the
    /// counter reached zero. A timeout too large to represent waits without one.
    ///
    /// A waiter that times out withdraws cleanly: the group is left exactly as if it had
    /// never waited, so an `add` after a `false` return is legal and counted. If the
    /// counter reached zero just as the time ran out, the release of this round is
    /// already under way; the waiter then takes it and returns `true` (a moment after
    /// the timeout, never a hang).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    /// use std::time::Duration;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(1);
    /// assert!(!wg.wait_timeout(Duration::from_millis(10)));
    /// wg.done();
    /// assert!(wg.wait_timeout(Duration::from_millis(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // Acquire: as in `wait`.
        if counter(self.state.load(Acquire)) == 0 {
            return true;
        }
        let clock = Clock::real();
        self.wait_slow(clock.deadline_after(timeout).map(|d| (&clock, d)))
    }

    /// Blocks until the counter is zero or `clock` reaches `deadline`; returns whether
    /// the counter reached zero. [`wait_timeout`](WaitGroup::wait_timeout) on an
    /// injectable [`Clock`], so a test can drive the time-out with a
    /// [`FakeClock`](gosync_core::clock::FakeClock) and no real waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_waitgroup::WaitGroup;
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let clock = fake.clock();
    /// let wg = WaitGroup::new();
    /// wg.add(1);
    /// let deadline = clock.now() + Duration::from_secs(60);
    /// std::thread::scope(|s| {
    ///     let waiter = s.spawn(|| wg.wait_deadline(&clock, deadline));
    ///     // Until the waiter is asleep on exactly this deadline (other waits on the
    ///     // same clock, such as a context's timer thread, do not count).
    ///     assert!(fake.block_until_waiter_at(deadline, Duration::from_secs(10)));
    ///     fake.advance(Duration::from_secs(60)); // a minute passes at once
    ///     assert!(!waiter.join().unwrap());
    /// });
    /// wg.done();
    /// assert!(wg.wait_deadline(&clock, clock.now()));
    /// ```
    pub fn wait_deadline(&self, clock: &Clock, deadline: Instant) -> bool {
        // Acquire: as in `wait`.
        if counter(self.state.load(Acquire)) == 0 {
            return true;
        }
        self.wait_slow(Some((clock, deadline)))
    }

    #[cold]
    #[inline(never)]
    fn wait_slow(&self, deadline: Option<(&Clock, Instant)>) -> bool {
        self.register() && self.wait_registered(deadline, || false)
    }

    /// Registers the caller as a waiter, unless the counter is already zero: returns
    /// whether it registered (`false`: the counter is zero, the wait is over).
    pub(crate) fn register(&self) -> bool {
        let mut state = self.state.load(Acquire);
        loop {
            if counter(state) == 0 {
                return false;
            }
            // Acquire on failure: the reloaded zero counter must publish the tasks' work
            // (pairs with the Release in `add`). Success needs no ordering of its own: the
            // wake-up below synchronizes through the `permits` lock with the releaser,
            // which has acquired every `done`.
            match self
                .state
                .compare_exchange_weak(state, state + 1, Relaxed, Acquire)
            {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Parks a [registered](WaitGroup::register) waiter until it gets its permit
    /// (`true`), or until `deadline` passes or `stop()` (checked under the `permits`
    /// lock before each park) says to give up (`false`, the registration withdrawn).
    ///
    /// Whoever makes `stop()` true must then wake the parked waiters with
    /// [`wake_waiters`](WaitGroup::wake_waiters), so the check cannot miss it.
    pub(crate) fn wait_registered(
        &self,
        mut deadline: Option<(&Clock, Instant)>,
        mut stop: impl FnMut() -> bool,
    ) -> bool {
        let mut permits = self.permits.lock();
        // Set once the waiter wanted to give up but the counter was already zero: its
        // release is under way, so it stays for the permit (a wait that can end only one
        // way: `release_waiters` is running and needs nothing from anyone else).
        let mut staying = false;
        while permits.count == 0 {
            if !staying && stop() {
                if self.withdraw() {
                    return false;
                }
                staying = true;
                deadline = None;
                continue;
            }
            let timed_out = match deadline {
                None => {
                    self.released.wait(&mut permits);
                    false
                }
                Some((clock, deadline)) => clock.wait_until(&self.released, &mut permits, deadline),
            };
            if timed_out && permits.count == 0 {
                if self.withdraw() {
                    return false;
                }
                staying = true;
                deadline = None;
            }
        }
        permits.count -= 1;
        drop(permits);
        // Go's reuse check: between the release and now nothing may start a new round.
        // Relaxed: a best-effort misuse detector, as in Go.
        if self.state.load(Relaxed) != 0 {
            misuse(REUSED);
        }
        true
    }

    /// Whether the counter is zero, with the `wait` fast path's ordering.
    #[inline]
    pub(crate) fn counter_is_zero(&self) -> bool {
        // Acquire pairs with the Release of the `add`/`done` that made the counter zero.
        counter(self.state.load(Acquire)) == 0
    }

    /// Withdraws a waiter's registration, if it still may: the caller holds the
    /// `permits` lock and found no permit. Returns `false`, withdrawing nothing, if the
    /// counter is zero: the round is over and `release_waiters` is about to grant this
    /// waiter its permit (it counts the registration), so withdrawing now would let the
    /// release run on a state word that no longer describes its round. The waiter then
    /// takes its permit instead, and its wait succeeds, which is the truth.
    ///
    /// While the counter is non-zero no release can be under way (a release needs it
    /// zero with this registration counted, and only a misused `add` moves it off zero
    /// before the release is done), so the withdrawal leaves the group exactly as if this
    /// waiter had never waited.
    pub(crate) fn withdraw(&self) -> bool {
        // Relaxed: the `permits` lock orders this against the releaser's reset, and a
        // waiter that gives up publishes nothing.
        let mut state = self.state.load(Relaxed);
        loop {
            if counter(state) == 0 {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, state - 1, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Withdraws the registration of a task whose future is dropped before its release,
    /// whatever the counter. The caller holds the `permits` lock and removes the task's
    /// waiting entry in the same critical section, which keeps the invariant on
    /// [`Parked`]: a release (which resets the state word under that lock) has not run
    /// since the task registered, so the task is still counted, and a release still to
    /// come counts the waiters that remain.
    ///
    /// Unlike a blocking waiter (see [`withdraw`](WaitGroup::withdraw)), a task may
    /// withdraw at a zero counter: it takes no anonymous permit, so it cannot consume
    /// another waiter's.
    pub(crate) fn withdraw_task(&self) {
        // Relaxed: the `permits` lock orders this against the releaser's reset, and a
        // task that goes away publishes nothing. The waiter field is at least one (this
        // task), so the subtraction stays in the low half.
        self.state.fetch_sub(1, Relaxed);
    }

    /// The `permits` lock, for the async waiters ([`WaitAsync`](crate::WaitAsync)).
    pub(crate) fn parked(&self) -> MutexGuard<'_, Parked> {
        self.permits.lock()
    }

    /// Wakes every parked waiter so that it re-checks its permit and its `stop`
    /// condition (see [`wait_registered`](WaitGroup::wait_registered)). Taking the
    /// `permits` lock first means a waiter is either parked (and woken) or has not yet
    /// checked `stop` (and will see it): no lost wake-up.
    #[cfg_attr(not(feature = "context"), allow(dead_code))]
    pub(crate) fn wake_waiters(&self) {
        let _permits = self.permits.lock();
        self.released.notify_all();
    }

    /// The current counter value (racy by nature; for diagnostics and tests).
    ///
    /// An `isize`, the type [`add`](WaitGroup::add) takes (Go's `int`), so a count can be
    /// handed back to `add` as it is; it is always within `0..=i32::MAX` (Go's counter is
    /// an `int32`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(3);
    /// let n = wg.count();
    /// wg.add(-n); // the same type as `add` takes
    /// assert_eq!(wg.count(), 0);
    /// ```
    pub fn count(&self) -> isize {
        counter(self.state.load(Relaxed)) as isize
    }

    /// Raises the counter by one and returns a guard that calls [`done`](WaitGroup::done)
    /// when dropped, also while unwinding from a panic, so the `done` cannot be forgotten.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// std::thread::scope(|s| {
    ///     for i in 0..3 {
    ///         let guard = wg.guard();
    ///         s.spawn(move || {
    ///             let _guard = guard; // `done` when this closure ends, however it ends
    ///             assert!(i < 3);
    ///         });
    ///     }
    ///     wg.wait();
    /// });
    /// ```
    #[must_use = "the guard calls `done` when dropped; dropping it at once undoes the `add`"]
    pub fn guard(&self) -> DoneGuard<'_> {
        self.add(1);
        DoneGuard { wg: self }
    }

    /// [`guard`](WaitGroup::guard) for an `Arc`-shared group: the guard owns a clone of
    /// the `Arc`, so it can move into a `'static` thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    /// use std::sync::Arc;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// let guard = wg.guard_owned();
    /// std::thread::spawn(move || drop(guard));
    /// wg.wait();
    /// ```
    #[must_use = "the guard calls `done` when dropped; dropping it at once undoes the `add`"]
    pub fn guard_owned(self: &Arc<Self>) -> OwnedDoneGuard {
        self.add(1);
        OwnedDoneGuard {
            wg: Arc::clone(self),
        }
    }

    /// Go 1.25's `WaitGroup.Go`, on an `Arc<WaitGroup>`: raises the counter, runs `f` on
    /// a new thread, and calls `done` when `f` returns **or panics**.
    ///
    /// The new thread needs a `'static` handle to the group, so this takes the group as
    /// an [`Arc`] (it keeps a clone until `f` ends). For a group in a `static`, use
    /// [`go_static`](WaitGroup::go_static); inside [`std::thread::scope`], with a borrowed
    /// group, use [`go_scoped`](WaitGroup::go_scoped).
    ///
    /// A panic in `f` is not swallowed: it ends that thread as any panic does, and its
    /// payload is in the returned handle's `join()`. `done` still runs (while unwinding),
    /// so [`wait`](WaitGroup::wait) never hangs on a panicked task. (In Go, a panicking
    /// `f` crashes the program.)
    ///
    /// # Panics
    ///
    /// If the thread cannot be spawned (as [`std::thread::spawn`]); the counter is then
    /// restored before the panic propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    /// use std::sync::Arc;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// let ok = wg.go(|| 40 + 2);
    /// let bad = wg.go(|| -> u32 { panic!("task failed") });
    /// wg.wait(); // returns: the panicking task still counted down
    /// assert_eq!(ok.join().unwrap(), 42);
    /// assert!(bad.join().is_err());
    /// ```
    pub fn go<F, T>(self: &Arc<Self>, f: F) -> thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let guard = self.guard_owned();
        thread::spawn(move || {
            let _guard = guard;
            f()
        })
    }

    /// [`go`](WaitGroup::go) for a group in a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    ///
    /// static WG: WaitGroup = WaitGroup::new();
    /// for _ in 0..3 {
    ///     WG.go_static(|| ());
    /// }
    /// WG.wait();
    /// ```
    pub fn go_static<F, T>(&'static self, f: F) -> thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let guard = self.guard();
        thread::spawn(move || {
            let _guard = guard;
            f()
        })
    }

    /// [`go`](WaitGroup::go) inside [`std::thread::scope`]: `f` may borrow from the
    /// enclosing stack frame.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_waitgroup::WaitGroup;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// let wg = WaitGroup::new();
    /// let total = AtomicU32::new(0);
    /// std::thread::scope(|s| {
    ///     for i in 1..=4 {
    ///         let total = &total;
    ///         wg.go_scoped(s, move || total.fetch_add(i, Ordering::Relaxed));
    ///     }
    ///     wg.wait();
    ///     assert_eq!(total.load(Ordering::Relaxed), 10);
    /// });
    /// ```
    #[cfg(not(loom))]
    pub fn go_scoped<'scope, 'env, F, T>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        f: F,
    ) -> std::thread::ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let guard = self.guard();
        scope.spawn(move || {
            let _guard = guard;
            f()
        })
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Relaxed);
        let mut d = f.debug_struct("WaitGroup");
        d.field("count", &counter(state))
            .field("waiters", &waiters(state));
        // The async waiters' entries (waiting, or released but not yet polled), when
        // there are any; never blocks.
        if let Some(tasks) = self.permits.try_lock().map(|p| p.tasks.len()) {
            if tasks != 0 {
                d.field("tasks", &tasks);
            }
        }
        d.finish()
    }
}

/// Calls [`WaitGroup::done`] when dropped. Created by [`WaitGroup::guard`].
#[must_use = "the guard calls `done` when dropped; dropping it at once undoes the `add`"]
pub struct DoneGuard<'a> {
    wg: &'a WaitGroup,
}

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.wg.done();
    }
}

impl fmt::Debug for DoneGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoneGuard").field("wg", self.wg).finish()
    }
}

/// Calls [`WaitGroup::done`] when dropped; owns an `Arc` of the group so it can move
/// into `'static` threads. Created by [`WaitGroup::guard_owned`].
#[must_use = "the guard calls `done` when dropped; dropping it at once undoes the `add`"]
pub struct OwnedDoneGuard {
    wg: Arc<WaitGroup>,
}

impl OwnedDoneGuard {
    /// Calls `done` now (the same as dropping the guard), for readability at the end of
    /// a task.
    pub fn done(self) {
        drop(self);
    }
}

impl Drop for OwnedDoneGuard {
    fn drop(&mut self) {
        self.wg.done();
    }
}

impl fmt::Debug for OwnedDoneGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedDoneGuard")
            .field("wg", &self.wg)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn message(r: std::thread::Result<()>) -> String {
        let p = r.expect_err("expected a panic");
        p.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    /// The counter reached zero but the registered waiter has not been released yet:
    /// an `add` that restarts the group now is Go's "Add called concurrently with Wait".
    /// The misused `add` is taken back, and the waiter it found is released.
    #[test]
    fn add_during_release_is_misuse_and_undone() {
        let wg = WaitGroup::new();
        wg.state.store(1, Relaxed); // counter 0, one waiter registered
        let r = catch_unwind(AssertUnwindSafe(|| wg.add(1)));
        assert_eq!(message(r), MISUSE);
        assert_eq!(wg.state.load(Relaxed), 0);
        assert_eq!(wg.permits.lock().count, 1);
    }

    /// Overflow and a negative counter panic with the counter as it was before the call.
    #[test]
    fn bad_adds_are_undone() {
        let wg = WaitGroup::new();
        wg.add(i32::MAX as isize);
        let r = catch_unwind(AssertUnwindSafe(|| wg.add(1)));
        assert_eq!(message(r), OVERFLOW);
        assert_eq!(wg.count(), i32::MAX as isize);
        wg.add(-(i32::MAX as isize));
        let r = catch_unwind(AssertUnwindSafe(|| wg.done()));
        assert_eq!(message(r), NEGATIVE);
        let r = catch_unwind(AssertUnwindSafe(|| wg.add(-2)));
        assert_eq!(message(r), NEGATIVE);
        assert_eq!(wg.state.load(Relaxed), 0);
        wg.wait();
    }

    /// A negative `add` let a waiter register for a moment: the undo, which brings the
    /// counter back to zero, releases it.
    #[test]
    fn undo_to_zero_releases_a_waiter_that_registered_meanwhile() {
        let wg = WaitGroup::new();
        // As if `done()` on a zero counter had made it -1 and a waiter had then
        // registered before the undo.
        wg.state.store(delta_bits(-1) | 1, Relaxed);
        let r = catch_unwind(AssertUnwindSafe(|| wg.undo_and_panic(-1, NEGATIVE)));
        assert_eq!(message(r), NEGATIVE);
        assert_eq!(wg.state.load(Relaxed), 0);
        assert_eq!(wg.permits.lock().count, 1);
    }

    /// A waiter that times out after the counter reached zero, before the release ran,
    /// stays registered and takes its permit: the wait succeeds.
    #[test]
    fn give_up_after_zero_stays_for_the_permit() {
        let wg = WaitGroup::new();
        wg.state.store(1, Relaxed); // counter 0, this waiter registered, release pending
        assert!(!wg.withdraw());
        std::thread::scope(|s| {
            let waiter = s.spawn(|| wg.wait_registered(None, || true));
            std::thread::sleep(std::time::Duration::from_millis(20));
            wg.release_waiters();
            assert!(waiter.join().unwrap());
        });
        assert_eq!(wg.state.load(Relaxed), 0);
    }

    /// A waiter woken for one round that finds the next round already started.
    #[test]
    fn reuse_before_wait_returned_is_detected() {
        let wg = WaitGroup::new();
        wg.state.store((1 << 32) | 1, Relaxed); // counter 1, one waiter: the new round
        wg.permits.lock().count = 1; // the previous round's release
        let r = catch_unwind(AssertUnwindSafe(|| {
            wg.wait_slow(None);
        }));
        assert_eq!(message(r), REUSED);
    }

    fn noop_waker() -> std::task::Waker {
        struct Noop;
        impl std::task::Wake for Noop {
            fn wake(self: Arc<Self>) {}
        }
        std::task::Waker::from(Arc::new(Noop))
    }

    /// A task dropped after the counter reached zero but before the release ran withdraws
    /// (it is still counted, and the release needs the lock it holds): the next round
    /// starts at once without the misuse panic, and the late release grants no stray
    /// permit and leaves the new round alone.
    #[test]
    fn task_dropped_during_a_pending_release_withdraws() {
        use std::future::Future;
        use std::task::{Context, Poll};
        let wg = WaitGroup::new();
        wg.add(1);
        let waker = noop_waker();
        let mut fut = wg.wait_async();
        let pinned = std::pin::Pin::new(&mut fut);
        assert_eq!(pinned.poll(&mut Context::from_waker(&waker)), Poll::Pending);
        assert_eq!(wg.state.load(Relaxed), (1 << 32) | 1);
        // The last `done`'s state change, its release not yet run.
        wg.state.fetch_add(delta_bits(-1), AcqRel);
        drop(fut);
        assert_eq!(wg.state.load(Relaxed), 0);
        {
            let parked = wg.permits.lock();
            assert_eq!((parked.tasks.len(), parked.tasks.waiting()), (0, 0));
        }
        // The dropped future was the round's only wait: the next round may start.
        wg.wait();
        wg.add(1);
        // The late release of the previous round.
        wg.release_waiters();
        assert_eq!(wg.state.load(Relaxed), 1 << 32);
        assert_eq!(wg.permits.lock().count, 0);
        wg.done();
        wg.wait();
    }

    /// The release finds the counter raised again after it had reached zero (a misused
    /// `add` before its undo): it leaves the state alone for the undo to release.
    #[test]
    fn release_leaves_a_raised_counter_alone() {
        let wg = WaitGroup::new();
        wg.state.store((1 << 32) | 1, Relaxed);
        wg.release_waiters();
        assert_eq!(wg.state.load(Relaxed), (1 << 32) | 1);
        assert_eq!(wg.permits.lock().count, 0);
    }
}
