//! Busy-waits bounded in time, not in iterations.
//!
//! A gosync primitive that expects its partner to act within microseconds spins a little
//! before parking: a park and wake-up costs a futex call on each side and, on a VM whose
//! idle vCPU has halted, tens of microseconds before the woken thread runs. How long to
//! spin is a question of *time* (how long the partner usually takes, how long a wake-up
//! costs), but a `spin_loop()` hint takes about 10 ns on one x86 CPU and over 100 ns on
//! another, so an iteration count means a different wait on every machine. [`Spin`]
//! counts time instead:
//!
//! * the first [`Spin`] in the process calibrates, once, what a `spin_loop()` and a read
//!   of the cheap clock ([`Clock::nanos`](crate::Clock::nanos): the TSC where that is
//!   sound) cost here, and derives how many hints to run between two clock reads, so
//!   that the clock is read about every [`CHECK_EVERY`] of spinning (no more often than
//!   a quarter of the time goes to the clock);
//! * every spin after that is adaptive: it reads the clock every that many hints and
//!   stops when its budget (a [`Duration`]) is spent, whatever a hint costs here and
//!   however often the thread was preempted meanwhile;
//! * past an optional point ([`Spin::yield_after`]) it yields its CPU instead of
//!   pausing, so a long spin lets a descheduled partner run on this core;
//! * it ends early, whatever its budget, when it finds its CPU contended: when more
//!   than [`CONTENDED`] passed between two of its clock reads (a yield gave the CPU to
//!   another thread, or the thread was preempted while pausing). On a loaded machine a
//!   spinner's partner is then most likely waiting for a CPU too, and parking lets the
//!   scheduler run it (and favour the spinner when it is woken) instead of the spinner
//!   taking turns with every other runnable thread.
//!
//! Each caller documents why its budget has the length it has.
//!
//! Under loom and Miri a `Spin` spins exactly once (under loom, `spin_loop()` is a
//! yield to the other modelled threads): loom explores every interleaving of each spin,
//! and a budget in time means nothing to either (loom has no clock, Miri's runs far
//! slower than real time).
//!
//! Public API of the crate (see the crate docs, "API stability"): the gosync crates' spin
//! loops use it, and so can yours.
//!
//! # Examples
//!
//! ```
//! use gosync_core::spin::Spin;
//! use std::sync::atomic::{AtomicBool, Ordering::Acquire};
//! use std::time::Duration;
//!
//! let ready = AtomicBool::new(false);
//! // Spin for at most 5 µs for `ready`, then (here) give up; a real caller would park.
//! let mut spin = Spin::new(Duration::from_micros(5));
//! while !ready.load(Acquire) {
//!     if !spin.spin() {
//!         break;
//!     }
//! }
//! assert!(!ready.load(Acquire));
//! ```

use std::time::Duration;

/// How often, in time, a [`Spin`] reads the clock to see whether its budget is spent.
/// 100 ns keeps the overshoot past a budget far below the microsecond budgets gosync
/// uses, while a TSC read (~10 ns) every 100 ns costs a spinner nothing it needs.
pub const CHECK_EVERY: Duration = Duration::from_nanos(100);

/// A gap between two clock reads of a [`Spin`] longer than this means its thread lost
/// its CPU (a yield ran another thread, or it was preempted), and the spin ends. 20 µs:
/// a yield with nothing else runnable returns in well under 1 µs, and an interrupt
/// takes a few microseconds, while a time slice handed to another thread lasts from
/// hundreds of microseconds to milliseconds.
pub const CONTENDED: Duration = Duration::from_micros(20);

/// A busy-wait bounded in time. See the [module docs](self).
///
/// A `Spin` is started by [`Spin::new`] and driven by the caller's loop: check the
/// condition, then [`spin`](Spin::spin) once; stop when `spin` returns `false`.
#[derive(Debug)]
pub struct Spin {
    #[cfg(not(any(loom, miri)))]
    imp: real::Spin,
    #[cfg(any(loom, miri))]
    spun: bool,
}

impl Spin {
    /// Starts a spin of at most `budget` (from now).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::spin::Spin;
    /// use std::time::Duration;
    ///
    /// let mut spin = Spin::new(Duration::ZERO);
    /// // A zero budget ends at the first clock read (after about `CHECK_EVERY`).
    /// while spin.spin() {}
    /// ```
    #[inline]
    pub fn new(budget: Duration) -> Spin {
        #[cfg(not(any(loom, miri)))]
        {
            Spin {
                imp: real::Spin::new(budget),
            }
        }
        #[cfg(any(loom, miri))]
        {
            let _ = budget;
            Spin { spun: false }
        }
    }

    /// From `after` into the budget on, [`spin`](Spin::spin) yields the CPU
    /// (`std::thread::yield_now`) instead of pausing: a spin longer than a time slice
    /// should let a descheduled partner run.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::spin::Spin;
    /// use std::time::Duration;
    ///
    /// let spin = Spin::new(Duration::from_micros(50)).yield_after(Duration::from_micros(10));
    /// # drop(spin);
    /// ```
    #[inline]
    #[must_use = "yield_after returns the changed Spin"]
    pub fn yield_after(self, after: Duration) -> Spin {
        #[cfg(not(any(loom, miri)))]
        {
            Spin {
                imp: self.imp.yield_after(after),
            }
        }
        #[cfg(any(loom, miri))]
        {
            let _ = after;
            self
        }
    }

    /// Caps the whole spin at `limit` from its start, however often it is
    /// [`restart`](Spin::restart)ed.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::spin::Spin;
    /// use std::time::Duration;
    ///
    /// let mut spin = Spin::new(Duration::from_micros(5)).limit(Duration::from_micros(20));
    /// while spin.spin() {
    ///     spin.restart(); // progress every time: only the limit ends the spin
    /// }
    /// ```
    #[inline]
    #[must_use = "limit returns the changed Spin"]
    pub fn limit(self, limit: Duration) -> Spin {
        #[cfg(not(any(loom, miri)))]
        {
            Spin {
                imp: self.imp.limit(limit),
            }
        }
        #[cfg(any(loom, miri))]
        {
            let _ = limit;
            self
        }
    }

    /// Spins once (a `spin_loop()` hint, or a yield past [`yield_after`](Spin::yield_after));
    /// returns whether the budget allows another spin: `false` once the budget or the
    /// limit is spent, or the CPU was found contended (see [`CONTENDED`]).
    ///
    /// Under loom and Miri the first call spins and returns `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::spin::Spin;
    /// use std::time::{Duration, Instant};
    ///
    /// let start = Instant::now();
    /// let mut spin = Spin::new(Duration::from_micros(20));
    /// while spin.spin() {}
    /// # #[cfg(not(miri))]
    /// assert!(start.elapsed() >= Duration::from_micros(20));
    /// ```
    #[inline]
    pub fn spin(&mut self) -> bool {
        #[cfg(not(any(loom, miri)))]
        {
            self.imp.spin()
        }
        #[cfg(any(loom, miri))]
        {
            if !self.spun {
                self.spun = true;
                crate::sync::hint::spin_loop();
            }
            false
        }
    }

    /// Whether the last [`spin`](Spin::spin) found the CPU contended (see
    /// [`CONTENDED`]) and ended the spin for that reason. Always `false` under loom and
    /// Miri.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::spin::Spin;
    /// use std::time::Duration;
    ///
    /// let mut spin = Spin::new(Duration::from_secs(1)).yield_after(Duration::ZERO);
    /// std::thread::sleep(Duration::from_millis(1)); // as if another thread had the CPU
    /// let more = spin.spin();
    /// # #[cfg(not(miri))]
    /// assert!(!more && spin.contended());
    /// ```
    #[inline]
    pub fn contended(&self) -> bool {
        #[cfg(not(any(loom, miri)))]
        {
            self.imp.contended
        }
        #[cfg(any(loom, miri))]
        {
            false
        }
    }

    /// Starts the budget over from now (the partner made progress: the end is near).
    /// The [`limit`](Spin::limit), if any, still counts from the start.
    ///
    /// Under loom and Miri this does nothing: the spin stays spent.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::spin::Spin;
    /// use std::time::Duration;
    ///
    /// let mut spin = Spin::new(Duration::from_micros(1));
    /// spin.restart();
    /// # drop(spin);
    /// ```
    #[inline]
    pub fn restart(&mut self) {
        #[cfg(not(any(loom, miri)))]
        self.imp.restart();
    }
}

/// What the one-time calibration found: the cost of a `spin_loop()` hint and of a clock
/// read, in nanoseconds, and how many hints a [`Spin`] runs between two clock reads.
/// `None` under loom and Miri, which do not calibrate.
///
/// For diagnostics and benchmark reports.
///
/// # Examples
///
/// ```
/// if let Some(c) = gosync_core::spin::calibration() {
///     assert!(c.hints_per_check >= 1);
/// }
/// ```
pub fn calibration() -> Option<Calibration> {
    #[cfg(not(any(loom, miri)))]
    {
        Some(real::calibration())
    }
    #[cfg(any(loom, miri))]
    {
        None
    }
}

/// About how many `spin_loop()` hints take `d` on this CPU (from the one-time
/// calibration, which this may run; at least 1), for a backoff measured in time: a
/// hint costs about 10 ns on one x86 CPU and over 100 ns on another. Under loom and
/// Miri, which do not calibrate: 1.
///
/// # Examples
///
/// ```
/// use gosync_core::spin::hints_for;
/// use std::time::Duration;
///
/// let n = hints_for(Duration::from_micros(1));
/// assert!(n >= 1);
/// for _ in 0..n {
///     std::hint::spin_loop(); // about a microsecond, on any CPU
/// }
/// ```
pub fn hints_for(d: Duration) -> u32 {
    #[cfg(not(any(loom, miri)))]
    {
        // The floor of the calibration's own use (`hints_per_check`): a hint cannot be
        // cheaper than a tenth of a nanosecond, and the count stays finite.
        let hint_ns = real::calibration().hint_ns.max(HINT_NS_FLOOR);
        // `as` saturates: a huge `d` gives u32::MAX.
        ((d.as_nanos() as f64 / hint_ns) as u32).max(1)
    }
    #[cfg(any(loom, miri))]
    {
        let _ = d;
        1
    }
}

/// The least a `spin_loop()` hint is taken to cost, in ns, whatever the calibration
/// measured: [`hints_for`] and the hints between a [`Spin`]'s clock reads are finite even
/// where a hint compiles to nothing.
#[cfg(not(any(loom, miri)))]
const HINT_NS_FLOOR: f64 = 0.1;

/// The result of the one-time calibration; see [`calibration`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Calibration {
    /// Nanoseconds per `spin_loop()` hint (the fastest of a few timed runs).
    pub hint_ns: f64,
    /// Nanoseconds per read of the cheap clock.
    pub clock_ns: f64,
    /// Hints between two clock reads in a [`Spin`].
    pub hints_per_check: u32,
}

#[cfg(not(any(loom, miri)))]
mod real {
    use super::{Calibration, CHECK_EVERY, CONTENDED, HINT_NS_FLOOR};
    use crate::nanos::{now, saturating_nanos};
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    use std::sync::OnceLock;
    use std::time::Duration;

    /// `hints_per_check` once calibrated, 0 before. Relaxed: a plain number, and a thread
    /// that sees 0 calibrates (or waits for the one calibrating) through `CALIBRATION`.
    static HINTS_PER_CHECK: AtomicU32 = AtomicU32::new(0);
    const CONTENDED_NS: u64 = CONTENDED.as_nanos() as u64;
    static CALIBRATION: OnceLock<Calibration> = OnceLock::new();

    pub(super) fn calibration() -> Calibration {
        *CALIBRATION.get_or_init(calibrate)
    }

    #[inline]
    fn hints_per_check() -> u32 {
        match HINTS_PER_CHECK.load(Relaxed) {
            0 => calibrate_cold(),
            n => n,
        }
    }

    #[cold]
    #[inline(never)]
    fn calibrate_cold() -> u32 {
        let n = calibration().hints_per_check;
        HINTS_PER_CHECK.store(n, Relaxed);
        n
    }

    /// Times runs of hints and of clock reads, keeping the fastest of each (a run that
    /// was preempted or interrupted only ever looks slower). About 30 µs where a hint
    /// costs 10 ns, 200 µs where it costs 140 ns; once per process.
    ///
    /// A run of hints that reads no time at all (a coarse clock, or a thread moved
    /// between CPUs whose clocks are skewed mid-run) says nothing and is not kept: taken
    /// as 0 ns a hint, it would turn every backoff measured in time into `u32::MAX`
    /// hints. If no run read any time, runs twice as long are timed until one does.
    #[cold]
    fn calibrate() -> Calibration {
        const HINTS: u32 = 256;
        const READS: u32 = 64;
        const RUNS: usize = 5;
        /// 2^20 hints: 10 ms where a hint costs 10 ns.
        const MAX_HINTS: u32 = 1 << 20;
        fn time_hints(n: u32) -> u64 {
            let t0 = now();
            for _ in 0..n {
                std::hint::spin_loop();
            }
            now().saturating_sub(t0)
        }
        let mut hint_runs = [0u64; RUNS];
        let mut clock_ns = f64::INFINITY;
        now(); // the clock's own one-time calibration, outside the timed runs
        for run in &mut hint_runs {
            *run = time_hints(HINTS);
            let t1 = now();
            for _ in 0..READS {
                std::hint::black_box(now());
            }
            let t2 = now();
            clock_ns = clock_ns.min(t2.saturating_sub(t1) as f64 / f64::from(READS));
        }
        let mut hint_ns = fastest_per_item(&hint_runs, HINTS);
        let mut n = HINTS;
        while hint_ns.is_none() && n < MAX_HINTS {
            n *= 2;
            hint_ns = fastest_per_item(&[time_hints(n)], n);
        }
        // A clock that read no time over 2^20 hints: take the floor; every gosync spin
        // still ends on its clock reads.
        let hint_ns = hint_ns.unwrap_or(HINT_NS_FLOOR).max(HINT_NS_FLOOR);
        // Read the clock about every CHECK_EVERY of hints, but spend at most a fifth of
        // the spin reading it (where reads are slow, e.g. no vDSO clock), and at least one
        // hint per read. The cap keeps the overshoot bounded on a CPU whose hint is
        // nearly free.
        let interval = (CHECK_EVERY.as_nanos() as f64).max(4.0 * clock_ns);
        let hints = (interval / hint_ns).round().clamp(1.0, 4096.0) as u32;
        Calibration {
            hint_ns,
            clock_ns,
            hints_per_check: hints,
        }
    }

    /// The fastest of `runs` (nanoseconds each, for `items` items), per item, ignoring
    /// runs that read no time; `None` if every run read none.
    pub(super) fn fastest_per_item(runs: &[u64], items: u32) -> Option<f64> {
        runs.iter()
            .filter(|&&ns| ns > 0)
            .min()
            .map(|&ns| ns as f64 / f64::from(items))
    }

    #[derive(Debug)]
    pub(super) struct Spin {
        /// When the budget started (`nanos::now`).
        start: u64,
        /// When the spin started.
        origin: u64,
        /// Cap in ns from `origin`.
        limit: u64,
        /// Budget in ns from `start`.
        budget: u64,
        /// From this many ns after `start`, yield instead of pausing.
        yield_at: u64,
        /// Hints left before the next clock read.
        left: u32,
        /// Nanoseconds past `start` at the last clock read.
        elapsed: u64,
        /// The last clock read (`nanos::now`).
        last: u64,
        /// The last clock read found a gap of `CONTENDED` or more.
        pub(super) contended: bool,
    }

    impl Spin {
        #[inline]
        pub(super) fn new(budget: Duration) -> Spin {
            // Calibration (the first call in the process) before the clock starts.
            let left = hints_per_check();
            let start = now();
            Spin {
                start,
                origin: start,
                limit: u64::MAX,
                budget: saturating_nanos(budget),
                yield_at: u64::MAX,
                left,
                elapsed: 0,
                last: start,
                contended: false,
            }
        }

        #[inline]
        pub(super) fn yield_after(mut self, after: Duration) -> Spin {
            self.yield_at = saturating_nanos(after);
            self
        }

        #[inline]
        pub(super) fn limit(mut self, limit: Duration) -> Spin {
            self.limit = saturating_nanos(limit);
            self
        }

        #[inline]
        pub(super) fn spin(&mut self) -> bool {
            if self.elapsed >= self.yield_at {
                std::thread::yield_now();
                // A yield takes long enough (a system call) to read the clock each time.
                self.left = 1;
            } else {
                std::hint::spin_loop();
            }
            self.left -= 1;
            if self.left > 0 {
                return true;
            }
            self.left = hints_per_check();
            let t = now();
            let gap = t.saturating_sub(self.last);
            self.last = t;
            self.elapsed = t.saturating_sub(self.start);
            self.contended = gap >= CONTENDED_NS;
            self.elapsed < self.budget
                && t.saturating_sub(self.origin) < self.limit
                && !self.contended
        }

        #[inline]
        pub(super) fn restart(&mut self) {
            self.start = now();
            self.last = self.start;
            self.elapsed = 0;
        }
    }
}

#[cfg(all(test, not(any(loom, miri))))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn calibration_is_sane() {
        let c = calibration().unwrap();
        assert!(c.hint_ns >= HINT_NS_FLOOR && c.hint_ns.is_finite(), "{c:?}");
        assert!(c.clock_ns >= 0.0 && c.clock_ns.is_finite(), "{c:?}");
        assert!((1..=4096).contains(&c.hints_per_check), "{c:?}");
    }

    #[test]
    fn calibration_ignores_runs_that_read_no_time() {
        // A run that read 0 ns (coarse clock, skew between CPUs) would make a hint free
        // and every backoff in time u32::MAX hints long.
        assert_eq!(real::fastest_per_item(&[0, 2560, 0, 5120], 256), Some(10.0));
        assert_eq!(real::fastest_per_item(&[0, 0, 0], 256), None);
        assert_eq!(real::fastest_per_item(&[], 256), None);
    }

    #[test]
    fn hints_for_follows_the_calibration() {
        let c = calibration().unwrap();
        assert_eq!(hints_for(Duration::ZERO), 1);
        assert_eq!(hints_for(Duration::MAX), u32::MAX);
        let us = hints_for(Duration::from_micros(1));
        let want = (1000.0 / c.hint_ns) as u32;
        assert_eq!(us, want.max(1), "{c:?}");
        assert!(hints_for(Duration::from_micros(4)) >= us);
    }

    /// A spin lasts at least its budget, unless it ended because its thread lost the
    /// CPU (a loaded machine), which it reports.
    #[test]
    fn spin_lasts_at_least_its_budget() {
        for micros in [0u64, 1, 10, 200] {
            let budget = Duration::from_micros(micros);
            let start = Instant::now();
            let mut spin = Spin::new(budget);
            let mut spins = 0u64;
            while spin.spin() {
                spins += 1;
            }
            let took = start.elapsed();
            // `nanos` and `Instant` may disagree by the TSC calibration error and a read's
            // skew. The calibration runs for 2 ms at the first reading; on a loaded
            // machine (or an old toolchain's slower `Instant`) its error reached 0.5%
            // (a 200 µs budget measured as 198.99 µs), so the slack is 1 µs plus 1%.
            assert!(
                spin.contended() || took + Duration::from_micros(1) + budget / 100 >= budget,
                "{micros} µs budget took {took:?} ({spins} spins)"
            );
        }
    }

    #[test]
    fn yielding_spin_also_ends() {
        let budget = Duration::from_micros(100);
        let start = Instant::now();
        let mut spin = Spin::new(budget).yield_after(Duration::ZERO);
        while spin.spin() {}
        // The slack of `spin_lasts_at_least_its_budget`: the calibration's error.
        assert!(
            spin.contended() || start.elapsed() + Duration::from_micros(1) + budget / 100 >= budget
        );
    }

    /// A gap of `CONTENDED` between two clock reads ends the spin at once, budget left
    /// or not, in both phases; a restart does not hide it.
    #[test]
    fn losing_the_cpu_ends_the_spin() {
        let mut spin = Spin::new(Duration::from_secs(60)).yield_after(Duration::ZERO);
        assert!(!spin.contended());
        std::thread::sleep(CONTENDED * 2);
        assert!(
            !spin.spin(),
            "a yield after the gap reads the clock and ends"
        );
        assert!(spin.contended());

        // Pausing: the gap shows at the next clock read, within one batch of hints.
        let mut spin = Spin::new(Duration::from_secs(60));
        std::thread::sleep(CONTENDED * 2);
        let batch = calibration().unwrap().hints_per_check;
        let spun = (0..batch).take_while(|_| spin.spin()).count();
        assert!(
            spun < batch as usize && spin.contended(),
            "{spun} of {batch}"
        );
    }

    #[test]
    fn limit_caps_restarts() {
        let limit = Duration::from_micros(100);
        let start = Instant::now();
        let mut spin = Spin::new(Duration::from_micros(10)).limit(limit);
        while spin.spin() {
            spin.restart();
        }
        assert!(
            spin.contended() || start.elapsed() + Duration::from_micros(1) + limit / 100 >= limit
        );
    }

    #[test]
    fn restart_extends_the_budget() {
        let budget = Duration::from_micros(50);
        let start = Instant::now();
        let mut spin = Spin::new(budget);
        let mut restarted = false;
        let mut contended = false;
        loop {
            if !spin.spin() {
                contended |= spin.contended();
                if restarted {
                    break;
                }
                restarted = true;
                spin.restart();
            }
        }
        assert!(
            contended
                || start.elapsed() + Duration::from_micros(2) + budget * 2 / 100 >= budget * 2
        );
    }
}
