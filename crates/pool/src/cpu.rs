//! Shard selection: which CPU the calling thread runs on, and how many CPUs there can be.
//!
//! * Linux: `sched_getcpu()` from glibc, which reads the `cpu_id` field of the thread's
//!   rseq area (or the vDSO) without a system call. It is only a hint: the thread may
//!   migrate right after the call, so every slot the pool touches is still claimed with
//!   an atomic compare-exchange. If it fails (returns -1), the per-thread fallback is used.
//! * Other platforms: a per-thread index (threads numbered round-robin at first use), so
//!   a thread always uses the same shard and threads spread over the shards.
//! * Under loom: a simulated CPU, set per modelled thread with `set_simulated_cpu`, and
//!   two CPUs.
//!
//! The process-wide caches below use std atomics directly: they are write-once
//! configuration, not part of the pool protocol, and are replaced entirely under loom.

/// The most shards a pool has: CPU ids past it share shards (modulo).
#[cfg(not(loom))]
pub(crate) const MAX_SHARDS: usize = 1024;

#[cfg(not(loom))]
mod imp {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// The number of possible CPUs (cached; 0 = not computed yet).
    static POSSIBLE: AtomicUsize = AtomicUsize::new(0);

    /// The number of shards: the possible CPUs, at least 1, at most `MAX_SHARDS`.
    pub(crate) fn shards() -> usize {
        let n = POSSIBLE.load(Relaxed);
        if n != 0 {
            return n;
        }
        let n = possible_cpus().clamp(1, super::MAX_SHARDS);
        // Every racer computes the same value; Relaxed is enough for a cache.
        POSSIBLE.store(n, Relaxed);
        n
    }

    /// Linux: one more than the highest CPU id in `/sys/devices/system/cpu/possible`
    /// (e.g. `0-3` or `0,2-5`), so every id `sched_getcpu` can return has its own shard,
    /// including CPUs hot-plugged later. Not `available_parallelism`, which counts the
    /// CPUs this process may use *now* (affinity, cgroup quota), not their ids.
    #[cfg(target_os = "linux")]
    fn possible_cpus() -> usize {
        std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .ok()
            .and_then(|s| parse_cpu_list(&s))
            .unwrap_or_else(available)
    }

    #[cfg(not(target_os = "linux"))]
    fn possible_cpus() -> usize {
        available()
    }

    fn available() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// One more than the highest id in a kernel CPU list such as `0-3,8,10-11`.
    pub(crate) fn parse_cpu_list(s: &str) -> Option<usize> {
        let mut max = None::<usize>;
        for part in s.trim().split(',').filter(|p| !p.is_empty()) {
            let last = part.rsplit('-').next()?;
            let id: usize = last.trim().parse().ok()?;
            max = Some(max.map_or(id, |m| m.max(id)));
        }
        max.map(|m| m.saturating_add(1))
    }

    /// The calling thread's CPU (Linux), a hint that may be stale by the time it is used.
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn current() -> usize {
        // SAFETY: `sched_getcpu` has no preconditions; it returns -1 on failure.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu >= 0 {
            cpu as usize
        } else {
            thread_index()
        }
    }

    /// The calling thread's shard hint on platforms without a cheap CPU id.
    #[cfg(not(target_os = "linux"))]
    #[inline]
    pub(crate) fn current() -> usize {
        thread_index()
    }

    /// A per-thread index, assigned round-robin at the thread's first call.
    #[cold]
    fn thread_index() -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        INDEX
            .try_with(|i| {
                if i.get() == usize::MAX {
                    i.set(NEXT.fetch_add(1, Relaxed) % super::MAX_SHARDS);
                }
                i.get()
            })
            .unwrap_or(0) // thread-local storage being torn down: any shard is correct
    }
}

#[cfg(loom)]
mod imp {
    use std::cell::Cell;

    loom::thread_local! {
        static CPU: Cell<usize> = Cell::new(0);
    }

    /// Two simulated CPUs.
    pub(crate) fn shards() -> usize {
        2
    }

    /// The modelled thread's simulated CPU (0 unless set).
    pub(crate) fn current() -> usize {
        CPU.with(Cell::get)
    }

    /// Moves the modelled thread to simulated CPU `cpu` (a migration, if already used).
    pub(crate) fn set_simulated_cpu(cpu: usize) {
        CPU.with(|c| c.set(cpu));
    }
}

pub(crate) use imp::*;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0,2-5,8"), Some(9));
        assert_eq!(parse_cpu_list("0-63,128-255"), Some(256));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn shards_cover_the_current_cpu_ids() {
        let n = shards();
        assert!((1..=MAX_SHARDS).contains(&n));
        // A CPU id past the shard count still works (modulo), but on Linux the possible
        // CPU list covers every id the kernel can report.
        #[cfg(target_os = "linux")]
        assert!(current() < n);
    }
}
