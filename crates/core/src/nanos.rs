//! The fast monotonic nanosecond counter behind [`Clock::nanos`](crate::Clock::nanos).
//!
//! `Instant::now()` is a `clock_gettime` call: about 23 ns on the 2-core VMs gosync is
//! measured on, most of it the vDSO's ordered TSC read and seqlock. Code that only
//! measures durations — the work queue's latency metrics read the clock three times per
//! item — can read the TSC itself (about 10 ns) and scale it, when that is sound:
//!
//! * x86_64 Linux, and
//! * the CPU reports an invariant TSC (CPUID `0x8000_0007`, EDX bit 8: it ticks at a
//!   constant rate in every power state), and
//! * the kernel itself uses the TSC as its clocksource, which it does only after checking
//!   that the TSCs of all CPUs are synchronized (so a thread that migrates between two
//!   readings does not go backwards by more than the kernel tolerates).
//!
//! Otherwise, and under loom and Miri (which can run neither `cpuid` nor `rdtsc`),
//! readings come from `Instant`. Either way the origin is the first reading in the
//! process, and the scale is calibrated once against `Instant` over [`CALIBRATION`] (a
//! one-time busy wait on the first call).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the one-time calibration of the TSC against `Instant` spins. Over 2 ms, the
/// bracketed pair of reads at each end (`tsc::paired`, each within ~25 ns unless every
/// try was preempted) bounds the rate error to about 2e-5.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
const CALIBRATION: std::time::Duration = std::time::Duration::from_millis(2);

/// Nanoseconds since the first call in this process.
#[inline]
pub(crate) fn now() -> u64 {
    let source = SOURCE.get_or_init(Source::detect);
    match source {
        #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
        Source::Tsc { origin, scale } => {
            // Wrapping, then saturating at 0: an unordered `rdtsc` may run a few cycles
            // early, so a reading taken right after calibration may precede `origin`.
            let ticks = tsc::read().wrapping_sub(*origin);
            if ticks > u64::MAX / 2 {
                return 0;
            }
            scale_ticks(ticks, *scale)
        }
        Source::Instant(origin) => saturating_nanos(origin.elapsed()),
    }
}

/// `d` in whole nanoseconds, saturating at `u64::MAX` (about 584 years) where
/// `as_nanos() as u64` would wrap around to a small reading.
#[inline]
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `ticks · scale / 2³²` (32.32 fixed point), saturating at `u64::MAX`.
///
/// The product fits in u128 (`ticks < 2⁶⁴`, `scale < 2⁶⁴`); the result exceeds u64 only
/// after about 584 years of uptime, where it saturates instead of wrapping.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
#[inline]
fn scale_ticks(ticks: u64, scale: u64) -> u64 {
    u64::try_from((u128::from(ticks) * u128::from(scale)) >> 32).unwrap_or(u64::MAX)
}

/// Which counter is read, and how it is scaled.
#[derive(Debug)]
enum Source {
    /// The TSC: `ns = (tsc - origin) * scale / 2^32`.
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
    Tsc { origin: u64, scale: u64 },
    /// `Instant`, relative to the origin.
    Instant(Instant),
}

static SOURCE: OnceLock<Source> = OnceLock::new();

impl Source {
    #[cold]
    fn detect() -> Source {
        #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
        if let Some(tsc) = tsc::calibrate() {
            return tsc;
        }
        Source::Instant(Instant::now())
    }
}

/// Whether readings come from the TSC (for tests and benchmarks).
#[cfg(test)]
pub(crate) fn uses_tsc() -> bool {
    !matches!(SOURCE.get_or_init(Source::detect), Source::Instant(_))
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
mod tsc {
    use super::{Source, CALIBRATION};
    use std::time::Instant;

    /// The time-stamp counter, not ordered against surrounding instructions: a metric
    /// timestamp needs no fence, and the fence would double the cost.
    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no memory effects; Linux
        // does not disable it for user space (CR4.TSD) outside of seccomp's strict mode.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// An `Instant` and a TSC reading taken together: of [`PAIR_TRIES`] tries, the one
    /// whose two `Instant` reads bracket the `rdtsc` most tightly, stamped with the middle
    /// of its bracket. A single `(Instant::now(), read())` pair is off by however long the
    /// thread was preempted between its two reads, and that error divided by
    /// [`CALIBRATION`] skews the scale (a 20 µs stall: 1%). The tightest bracket is off
    /// by at most half its width; it is wide only if every try was interrupted.
    pub(super) fn paired() -> (Instant, u64) {
        let mut best: Option<(std::time::Duration, Instant, u64)> = None;
        for _ in 0..PAIR_TRIES {
            let before = Instant::now();
            let tsc = read();
            let width = before.elapsed();
            if best.map_or(true, |(w, ..)| width < w) {
                best = Some((width, before + width / 2, tsc));
            }
        }
        let (_, instant, tsc) = best.expect("PAIR_TRIES > 0");
        (instant, tsc)
    }

    /// How many bracketed reads [`paired`] takes (about 50 ns each).
    const PAIR_TRIES: usize = 8;

    /// The TSC source if it is sound here (see the module docs), calibrated.
    pub(super) fn calibrate() -> Option<Source> {
        // `__cpuid` is a safe function in recent Rust and an unsafe one on older ones; the block
        // keeps the crate building on its MSRV.
        // SAFETY: `cpuid` exists on every x86_64 CPU and only reads identification bits.
        #[allow(unused_unsafe)]
        let invariant = unsafe { core::arch::x86_64::__cpuid(0x8000_0007) }.edx & (1 << 8) != 0;
        if !invariant {
            return None;
        }
        let clocksource = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .ok()?;
        if clocksource.trim() != "tsc" {
            return None;
        }
        let (i0, t0) = paired();
        while i0.elapsed() < CALIBRATION {
            std::hint::spin_loop();
        }
        let (i1, t1) = paired();
        let elapsed = i1 - i0;
        let ticks = t1.checked_sub(t0).filter(|&t| t > 0)?;
        let scale = u64::try_from((elapsed.as_nanos() << 32) / u128::from(ticks)).ok()?;
        // A TSC slower than 1 MHz or faster than 100 GHz is not a TSC we understand.
        if !((1u64 << 32) / 100..(1u64 << 32) * 1000).contains(&scale) {
            return None;
        }
        Some(Source::Tsc { origin: t0, scale })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "under Miri nanos() is Instant itself, and interpreted readings are milliseconds apart"
    )]
    fn nanos_track_instant() {
        // A reading of both clocks: of a few tries, the one whose `Instant` reads bracket
        // the `now()` most tightly (a preemption between two reads would skew the pair).
        let pair = || {
            (0..8)
                .map(|_| {
                    let before = Instant::now();
                    let n = now();
                    let width = before.elapsed();
                    (width, n, before + width / 2)
                })
                .min_by_key(|&(width, ..)| width)
                .map(|(_, n, i)| (n, i))
                .unwrap()
        };
        let (n0, i0) = pair();
        std::thread::sleep(Duration::from_millis(50));
        let (n1, i1) = pair();
        let fast = n1 - n0;
        let real = saturating_nanos(i1 - i0);
        // Within 1% (plus the read skew) of Instant over 50 ms.
        let diff = fast.abs_diff(real);
        assert!(
            diff < real / 100 + 10_000,
            "nanos {fast} vs Instant {real} (tsc: {})",
            uses_tsc()
        );
    }

    #[test]
    fn conversions_saturate_instead_of_wrapping() {
        assert_eq!(saturating_nanos(Duration::from_nanos(u64::MAX)), u64::MAX);
        assert_eq!(
            saturating_nanos(Duration::from_nanos(u64::MAX) + Duration::from_nanos(1)),
            u64::MAX
        );
        assert_eq!(saturating_nanos(Duration::MAX), u64::MAX);
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom), not(miri)))]
    #[test]
    fn tsc_scaling_saturates_instead_of_wrapping() {
        assert_eq!(scale_ticks(3, 1 << 32), 3);
        assert_eq!(scale_ticks(u64::MAX, 1 << 32), u64::MAX);
        // A 4 GHz TSC (scale 2^30) after 2^63 ticks: 2^61 ns, exact.
        assert_eq!(scale_ticks(1 << 63, 1 << 30), 1 << 61);
        // A 1 MHz TSC (scale 1000 · 2^32) after 2^62 ticks: beyond u64, saturates.
        assert_eq!(scale_ticks(1 << 62, 1000 << 32), u64::MAX);
    }

    /// Readings do not go backwards by more than the TSC skew between CPUs the kernel
    /// tolerates (a migration between two reads may cross CPUs); on one CPU, not at all.
    #[test]
    fn nanos_do_not_go_backwards() {
        let mut last = now();
        // Miri interprets each reading: a thousand of them there, a million natively.
        let readings = if cfg!(miri) { 1_000 } else { 1_000_000 };
        for _ in 0..readings {
            let n = now();
            assert!(n + 1_000 >= last, "{n} < {last}");
            last = last.max(n);
        }
    }
}
