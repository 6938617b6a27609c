//! The injectable time source: the real monotonic clock, or a fake one a test advances.
//!
//! Every gosync primitive that reads the time, sleeps, or waits with a deadline does so
//! through a [`Clock`]. Production code uses [`Clock::real`] (also the `Default`); tests
//! build a [`FakeClock`], hand its [`Clock`] to the code under test, and step time with
//! [`FakeClock::advance`]. Advancing wakes every sleep and timed wait the new time made
//! due, so deadline, delay and backoff tests are deterministic and take no real time.
//!
//! # Waiting on a clock
//!
//! [`Clock::sleep`] and [`Clock::sleep_until`] block the calling thread on this clock's
//! time. To wait for a condition of your own with a deadline on a `Clock` (a condition
//! variable wait that a `FakeClock` can time out), use `gosync-cond`'s
//! `Cond::wait_timeout` / `Cond::wait_deadline`, which take a `Clock`; a
//! `gosync-context` deadline is another way. The lower-level condition-variable wait the
//! gosync crates share is deliberately not public API (see the crate docs, "API
//! stability"): its signature names the lock types of the std/loom switch, and those
//! must be free to change.
//!
//! # Examples
//!
//! ```
//! use gosync_core::clock::FakeClock;
//! use std::time::Duration;
//!
//! let fake = FakeClock::new();
//! let clock = fake.clock();
//! let start = clock.now();
//!
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         // Thirty seconds of the fake clock's time: no real time passes.
//!         clock.sleep_until(start + Duration::from_secs(30));
//!         assert_eq!(clock.now() - start, Duration::from_secs(30));
//!     });
//!     assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
//!     fake.advance(Duration::from_secs(30)); // wakes the sleeper at once
//! });
//! ```

use std::fmt;
use std::mem;
use std::time::{Duration, Instant};

use crate::sync::{thread, Arc, Condvar, Mutex, MutexGuard};

/// A source of monotonic time: the real clock, or a [`FakeClock`].
///
/// `Clock` is a cheap handle (one pointer; cloning a fake one is a reference-count
/// increment). Pass it to gosync constructors that take one; the [`Default`] is the
/// real clock.
///
/// # Examples
///
/// ```
/// use gosync_core::clock::Clock;
/// use std::time::Duration;
///
/// let clock = Clock::real();
/// let t0 = clock.now();
/// clock.sleep(Duration::from_millis(1));
/// assert!(clock.now() - t0 >= Duration::from_millis(1));
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    fake: Option<Arc<FakeShared>>,
}

/// A clock that only moves when told to, for deterministic tests.
///
/// Create one with [`FakeClock::new`], hand [`FakeClock::clock`] to the code under test,
/// and move time with [`advance`](FakeClock::advance) or [`set`](FakeClock::set).
/// Clones share the same time.
///
/// The gosync counterpart of client-go's `k8s.io/utils/clock/testing.FakeClock`:
/// [`waiters`](FakeClock::waiters) answers `HasWaiters`, and
/// [`block_until_waiters`](FakeClock::block_until_waiters) lets a test wait until the
/// code under test is asleep before it advances time.
///
/// # Examples
///
/// ```
/// use gosync_core::clock::FakeClock;
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let t0 = fake.now();
/// fake.advance(Duration::from_millis(250));
/// assert_eq!(fake.clock().now() - t0, Duration::from_millis(250));
/// ```
#[derive(Clone)]
pub struct FakeClock {
    shared: Arc<FakeShared>,
}

struct FakeShared {
    /// The fake's creation time: the origin of [`Clock::nanos`].
    origin: Instant,
    inner: Mutex<FakeInner>,
    /// Notified whenever a waiter registers; serves `block_until_waiters`.
    registered: Condvar,
    /// The clock's timer service (see [`crate::timer`]).
    timer: crate::timer::Service,
}

struct FakeInner {
    now: Instant,
    next_id: u64,
    waiters: Vec<Waiter>,
}

/// A thread blocked in [`Clock::wait_until`] on a fake clock.
struct Waiter {
    id: u64,
    deadline: Instant,
    cv: CondvarPtr,
}

impl FakeInner {
    fn remove_waiter(&mut self, id: u64) {
        if let Some(pos) = self.waiters.iter().position(|w| w.id == id) {
            self.waiters.swap_remove(pos);
        }
    }
}

/// Removes a fake-clock waiter's entry if its `wait_until` unwinds out of the condvar
/// wait (forgotten on the normal path, which removes the entry itself).
struct Deregister<'a> {
    fake: &'a FakeShared,
    id: u64,
}

impl Drop for Deregister<'_> {
    fn drop(&mut self) {
        // Lock order as on the normal path: the waiter's own mutex (still held by the
        // unwinding caller's guard), then the clock's.
        self.fake.inner.lock().remove_waiter(self.id);
    }
}

/// A pointer to the condition variable a fake-clock waiter sleeps on.
///
/// Invariant: a `Waiter` is only in `FakeInner::waiters` while its thread is inside
/// `Clock::wait_until`, which borrows the `Condvar` for its whole duration and removes
/// the entry (under `FakeShared::inner`) before returning or unwinding (`Deregister`).
/// So the pointer is valid whenever it is read under that lock.
struct CondvarPtr(*const Condvar);

// SAFETY: the pointee is a `Condvar`, which is `Sync`; the pointer is only dereferenced
// under `FakeShared::inner` while the entry is registered (see `CondvarPtr`).
unsafe impl Send for CondvarPtr {}

impl Clock {
    /// The real monotonic clock (`std::time::Instant`).
    #[inline]
    pub const fn real() -> Clock {
        Clock { fake: None }
    }

    /// Whether this clock is a [`FakeClock`].
    #[inline]
    pub fn is_fake(&self) -> bool {
        self.fake.is_some()
    }

    /// A fake clock's timer service; `None` for the real clock.
    pub(crate) fn fake_timer(&self) -> Option<&crate::timer::Service> {
        self.fake.as_deref().map(|f| &f.timer)
    }

    /// The current time of this clock.
    #[inline]
    pub fn now(&self) -> Instant {
        match &self.fake {
            None => Instant::now(),
            Some(fake) => fake.inner.lock().now,
        }
    }

    /// Nanoseconds of this clock's time since an origin: for measuring durations, where
    /// two readings are subtracted. Cheaper than [`now`](Clock::now) on the real clock.
    ///
    /// On a fake clock the origin is the fake's creation and the reading is exactly
    /// `now() - origin`. On the real clock the origin is the first reading in the process,
    /// and on x86_64 Linux with an invariant TSC that the kernel uses as its clocksource,
    /// the reading is the TSC scaled to nanoseconds (about 10 ns where `Instant::now()`
    /// takes 23; the first call spends 2 ms calibrating it against `Instant`). Elsewhere
    /// it is `Instant`-based. Readings taken on different CPUs may disagree by the TSC
    /// skew the kernel tolerates (nanoseconds to a microsecond).
    ///
    /// A reading more than `u64::MAX` nanoseconds (about 584 years) past the origin
    /// saturates at `u64::MAX` rather than wrapping around, so readings never go
    /// backwards; only a fake clock advanced that far can get there.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let clock = fake.clock();
    /// let t0 = clock.nanos();
    /// fake.advance(Duration::from_micros(3));
    /// assert_eq!(clock.nanos() - t0, 3_000);
    /// ```
    #[inline]
    pub fn nanos(&self) -> u64 {
        match &self.fake {
            None => crate::nanos::now(),
            Some(fake) => {
                let now = fake.inner.lock().now;
                crate::nanos::saturating_nanos(now.saturating_duration_since(fake.origin))
            }
        }
    }

    /// The instant `d` from now, or `None` if that is beyond what `Instant` can represent
    /// (a `Duration::MAX` timeout means "never").
    #[inline]
    pub fn deadline_after(&self, d: Duration) -> Option<Instant> {
        self.now().checked_add(d)
    }

    /// Blocks the current thread for `d` of this clock's time.
    pub fn sleep(&self, d: Duration) {
        match &self.fake {
            None => thread::sleep(d),
            Some(_) => match self.deadline_after(d) {
                Some(deadline) => self.sleep_until(deadline),
                None => self.sleep_forever(),
            },
        }
    }

    /// Blocks the current thread until this clock reaches `deadline`.
    pub fn sleep_until(&self, deadline: Instant) {
        match &self.fake {
            None => {
                let now = Instant::now();
                if deadline > now {
                    thread::sleep(deadline - now);
                }
            }
            Some(_) => {
                let (lock, cv) = (Mutex::new(()), Condvar::new());
                let mut guard = lock.lock();
                while !self.wait_until(&cv, &mut guard, deadline) {}
            }
        }
    }

    /// A future that completes when this clock reaches `deadline`: the async twin of
    /// [`sleep_until`](Clock::sleep_until), driven by the clock's timer thread, so it
    /// runs under any executor and a [`FakeClock`] drives it. See
    /// [`Sleep`](crate::timer::Sleep).
    ///
    /// Nothing happens until it is polled: a deadline already reached completes on the
    /// first poll without registering anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::Clock;
    /// use std::time::{Duration, Instant};
    ///
    /// let clock = Clock::real();
    /// let deadline = Instant::now() + Duration::from_millis(1);
    /// futures::executor::block_on(clock.sleep_until_async(deadline));
    /// assert!(Instant::now() >= deadline);
    /// ```
    pub fn sleep_until_async(&self, deadline: Instant) -> crate::timer::Sleep {
        crate::timer::Sleep::new(self.clone(), Some(deadline))
    }

    /// A future that completes `d` of this clock's time after this call: the async
    /// twin of [`sleep`](Clock::sleep). The deadline is fixed now, not at the first
    /// poll; a `d` beyond `Instant`'s range never completes. See
    /// [`Sleep`](crate::timer::Sleep).
    pub fn sleep_async(&self, d: Duration) -> crate::timer::Sleep {
        crate::timer::Sleep::new(self.clone(), self.deadline_after(d))
    }

    #[cold]
    fn sleep_forever(&self) -> ! {
        let (lock, cv) = (Mutex::new(()), Condvar::new());
        let mut guard = lock.lock();
        loop {
            cv.wait(&mut guard);
        }
    }

    /// Waits on `cv` (releasing `guard`'s lock meanwhile) until notified or until this
    /// clock reaches `deadline`. Returns `true` if the deadline has passed.
    ///
    /// Like any condition-variable wait it may also return early (`false`) on a spurious
    /// wake-up: call it in a loop that rechecks the condition.
    ///
    /// On a fake clock the waiter registers its deadline with the clock, and the
    /// [`FakeClock::advance`] that reaches it notifies `cv`. The wait is then counted by
    /// [`FakeClock::waiters`] until it returns.
    ///
    /// # Panics
    ///
    /// If `cv.wait` panics: parking_lot does when `cv` is waited on with two different
    /// mutexes at once. The wait is deregistered from the fake clock first, and the
    /// caller's guard is still locked while the panic unwinds.
    ///
    /// # Not public API
    ///
    /// Hidden from the docs and exempt from semver: `cv` and `guard` are the types of
    /// the std/loom switch ([`sync`](crate::sync), parking_lot's today), which must stay
    /// free to change. It is for the sibling gosync crates; users wait with a deadline
    /// on a clock through `gosync-cond`'s `Cond::wait_deadline`.
    #[doc(hidden)]
    pub fn wait_until<T>(
        &self,
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> bool {
        let fake = match &self.fake {
            None => return cv.wait_until(guard, deadline).timed_out(),
            Some(fake) => fake,
        };
        let id = {
            let mut inner = fake.inner.lock();
            if inner.now >= deadline {
                return true;
            }
            let id = inner.next_id;
            inner.next_id += 1;
            inner.waiters.push(Waiter {
                id,
                deadline,
                cv: CondvarPtr(cv),
            });
            id
        };
        // From here the entry points at `cv`: it must be removed before this function
        // returns or unwinds (invariant of `CondvarPtr`). `cv.wait` can unwind:
        // parking_lot panics when one condvar is used with two mutexes at once. Without
        // this guard the stale entry would outlive `cv`, and `wake_due`, which notifies
        // until the entry is gone, would spin forever.
        let deregister = Deregister { fake, id };
        fake.registered.notify_all();
        // An `advance` that reaches `deadline` between the registration above and this
        // wait notifies too early; it keeps notifying until this entry is removed, so
        // the wake-up is not lost (see `FakeClock::wake_due`).
        cv.wait(guard);
        mem::forget(deregister);
        let mut inner = fake.inner.lock();
        inner.remove_waiter(id);
        inner.now >= deadline
    }

    /// [`wait_until`](Clock::wait_until) with a timeout instead of a deadline; a timeout
    /// too large to represent waits without one. Returns `true` if the timeout elapsed.
    ///
    /// Not public API, as [`wait_until`](Clock::wait_until).
    #[doc(hidden)]
    pub fn wait_timeout<T>(
        &self,
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> bool {
        match self.deadline_after(timeout) {
            Some(deadline) => self.wait_until(cv, guard, deadline),
            None => {
                cv.wait(guard);
                false
            }
        }
    }
}

impl FakeClock {
    /// A fake clock whose time starts at the real `Instant::now()` and then stands still.
    pub fn new() -> FakeClock {
        FakeClock::starting_at(Instant::now())
    }

    /// A fake clock whose time starts at `start` and then stands still: client-go's
    /// `NewFakeClock(t)`. Its [`Clock::nanos`] counts from `start`.
    ///
    /// A Rust `Instant` has no calendar meaning, so `start` is usually derived from
    /// another instant: a recorded one, a deadline under test, or `Instant::now()` plus
    /// an offset.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use std::time::{Duration, Instant};
    ///
    /// let start = Instant::now() + Duration::from_secs(3600); // an hour from now
    /// let fake = FakeClock::starting_at(start);
    /// assert_eq!(fake.now(), start);
    /// assert_eq!(fake.clock().nanos(), 0);
    /// fake.advance(Duration::from_secs(1));
    /// assert_eq!(fake.clock().now(), start + Duration::from_secs(1));
    /// ```
    pub fn starting_at(start: Instant) -> FakeClock {
        let origin = start;
        FakeClock {
            shared: Arc::new(FakeShared {
                origin,
                inner: Mutex::new(FakeInner {
                    now: origin,
                    next_id: 0,
                    waiters: Vec::new(),
                }),
                registered: Condvar::new(),
                timer: crate::timer::Service::new(),
            }),
        }
    }

    /// A [`Clock`] that reads this fake clock. Hand it to the code under test.
    pub fn clock(&self) -> Clock {
        Clock {
            fake: Some(Arc::clone(&self.shared)),
        }
    }

    /// The fake current time.
    pub fn now(&self) -> Instant {
        self.shared.inner.lock().now
    }

    /// Moves time forward by `d` and wakes every sleep and timed wait now due.
    ///
    /// Returns once every wait it made due has woken up (each such thread has observed
    /// the new time). Do not call it while holding a lock that a waiter on this clock
    /// needs to reacquire: that waiter cannot finish waking, and `advance` waits for it.
    ///
    /// # Panics
    ///
    /// Panics if the new time overflows `Instant`.
    pub fn advance(&self, d: Duration) {
        let mut inner = self.shared.inner.lock();
        inner.now = inner
            .now
            .checked_add(d)
            .expect("FakeClock::advance: time overflows Instant");
        self.wake_due(inner);
    }

    /// Sets the time to `t` and wakes every sleep and timed wait now due.
    ///
    /// # Panics
    ///
    /// Panics if `t` is earlier than the current fake time: gosync deadlines are
    /// monotonic, so a fake clock never goes backwards.
    pub fn set(&self, t: Instant) {
        let mut inner = self.shared.inner.lock();
        assert!(
            t >= inner.now,
            "FakeClock::set: a monotonic clock cannot go backwards"
        );
        inner.now = t;
        self.wake_due(inner);
    }

    /// How many waits with a deadline are blocked on this clock right now (client-go's
    /// `HasWaiters` is `waiters() > 0`).
    ///
    /// # What counts
    ///
    /// Every thread inside a [`Clock::sleep`], [`Clock::sleep_until`] or
    /// [`Clock::wait_until`] (and so every gosync timed wait built on them: `wait_deadline`,
    /// `get_timeout`, a token bucket's `wait`, ...) on a clock of this fake, from the
    /// moment it registers its deadline until it has woken up. That includes gosync's
    /// own background threads while they wait for a deadline on this clock:
    ///
    /// * the clock's timer thread ([`crate::timer`]): **one** waiter for the whole clock,
    ///   with the earliest deadline registered, however many delaying work queues (an
    ///   item waiting out `add_after` or a backoff, a metrics tick) and other
    ///   [`TimerEntry`](crate::timer::TimerEntry)s use it. It counts from the first
    ///   registration until none is pending; cancelling the earliest deadline (a queue's
    ///   shutdown) returns only once that wait has ended;
    /// * the timer thread of a context tree made with `background_with_clock`, while any
    ///   context of the tree has a pending deadline (one per tree).
    ///
    /// A thread waiting with no deadline (a plain `wait`) is not counted.
    ///
    /// So when a test's clock also drives such background deadlines, a count is not a
    /// count of the test's own waiters; wait for a specific deadline with
    /// [`block_until_waiter_at`](FakeClock::block_until_waiter_at) instead. For the
    /// timer thread that deadline is the clock's earliest registered one.
    pub fn waiters(&self) -> usize {
        self.shared.inner.lock().waiters.len()
    }

    /// How many of the [`waiters`](FakeClock::waiters) wait for exactly `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let deadline = fake.now() + Duration::from_secs(5);
    /// assert_eq!(fake.waiters_at(deadline), 0);
    /// ```
    pub fn waiters_at(&self, deadline: Instant) -> usize {
        let inner = self.shared.inner.lock();
        inner
            .waiters
            .iter()
            .filter(|w| w.deadline == deadline)
            .count()
    }

    /// Blocks until at least `n` threads are asleep on this clock, or until `timeout` of
    /// *real* time has passed. Returns whether `n` was reached.
    ///
    /// Use it to let the code under test reach its sleep before advancing time. It
    /// counts every waiter on the clock, background threads included (see
    /// [`waiters`](FakeClock::waiters)); to wait for one particular wait, use
    /// [`block_until_waiter_at`](FakeClock::block_until_waiter_at).
    pub fn block_until_waiters(&self, n: usize, timeout: Duration) -> bool {
        self.block_until(timeout, |inner| inner.waiters.len() >= n)
    }

    /// Blocks until some thread waits on this clock for exactly `deadline`, or until
    /// `timeout` of *real* time has passed. Returns whether such a waiter was seen.
    ///
    /// The precise form of [`block_until_waiters`](FakeClock::block_until_waiters): a
    /// test that knows the deadline its code waits for (a fake clock stands still, so
    /// `fake.now() + timeout` is the deadline of a `wait_timeout(timeout)`) is not fooled
    /// by other waits on the same clock, such as a context tree's timer thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let clock = fake.clock();
    /// let deadline = fake.now() + Duration::from_secs(60);
    /// let other = fake.now() + Duration::from_secs(1);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| clock.sleep_until(deadline));
    ///     s.spawn(|| clock.sleep_until(other)); // another wait on the clock
    ///     assert!(fake.block_until_waiter_at(deadline, Duration::from_secs(10)));
    ///     fake.advance(Duration::from_secs(60)); // wakes both (or `other` never sleeps)
    /// });
    /// ```
    pub fn block_until_waiter_at(&self, deadline: Instant, timeout: Duration) -> bool {
        self.block_until(timeout, |inner| {
            inner.waiters.iter().any(|w| w.deadline == deadline)
        })
    }

    /// Waits on `registered` until `done(inner)` or `timeout` of real time.
    fn block_until(&self, timeout: Duration, done: impl Fn(&FakeInner) -> bool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.shared.inner.lock();
        while !done(&inner) {
            match deadline {
                Some(deadline) => {
                    if self
                        .shared
                        .registered
                        .wait_until(&mut inner, deadline)
                        .timed_out()
                    {
                        return done(&inner);
                    }
                }
                None => self.shared.registered.wait(&mut inner),
            }
        }
        true
    }

    /// Notifies every due waiter, repeatedly, until each has removed its entry.
    ///
    /// A waiter registers while holding its own mutex and only then parks on its
    /// condition variable, so a notification sent in between would be lost. This clock
    /// never takes the waiters' mutexes (that would invert the lock order: waiters take
    /// their mutex, then ours), so it closes the window by notifying again until the
    /// waiter has demonstrably woken up and deregistered.
    fn wake_due<'a>(&'a self, mut inner: MutexGuard<'a, FakeInner>) {
        loop {
            let now = inner.now;
            let mut pending = false;
            for waiter in inner.waiters.iter().filter(|w| w.deadline <= now) {
                pending = true;
                // SAFETY: the entry is registered and we hold `inner`, so its waiter is
                // still inside `wait_until` and the `Condvar` it borrows is alive
                // (invariant of `CondvarPtr`).
                unsafe { (*waiter.cv.0).notify_all() };
            }
            if !pending {
                return;
            }
            drop(inner);
            thread::yield_now();
            inner = self.shared.inner.lock();
        }
    }
}

impl Default for FakeClock {
    fn default() -> FakeClock {
        FakeClock::new()
    }
}

impl From<FakeClock> for Clock {
    fn from(fake: FakeClock) -> Clock {
        Clock {
            fake: Some(fake.shared),
        }
    }
}

impl From<&FakeClock> for Clock {
    fn from(fake: &FakeClock) -> Clock {
        fake.clock()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fake {
            None => f.write_str("Clock::Real"),
            Some(fake) => f
                .debug_tuple("Clock::Fake")
                .field(&FakeDebug(fake))
                .finish(),
        }
    }
}

impl fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FakeClock")
            .field(&FakeDebug(&self.shared))
            .finish()
    }
}

/// Shows the fake time and waiter count without blocking.
struct FakeDebug<'a>(&'a FakeShared);

impl fmt::Debug for FakeDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.inner.try_lock() {
            Some(inner) => f
                .debug_struct("FakeClock")
                .field("now", &inner.now)
                .field("waiters", &inner.waiters.len())
                .finish(),
            None => f.write_str("<locked>"),
        }
    }
}
