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
//! * Under Miri (which can run neither the rseq read nor `sched_getcpu`): four simulated
//!   CPUs; each thread starts on its round-robin index and migrates to the next CPU every
//!   few calls, so Miri checks the slot protocol through steals and migrations too.
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
    #[cfg(all(target_os = "linux", not(miri)))]
    fn possible_cpus() -> usize {
        std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .ok()
            .and_then(|s| parse_cpu_list(&s))
            .unwrap_or_else(available)
    }

    #[cfg(all(not(target_os = "linux"), not(miri)))]
    fn possible_cpus() -> usize {
        available()
    }

    /// Under Miri: four simulated CPUs (see the module docs).
    #[cfg(miri)]
    fn possible_cpus() -> usize {
        MIRI_CPUS
    }

    #[cfg(miri)]
    const MIRI_CPUS: usize = 4;

    #[cfg(miri)]
    thread_local! {
        /// The simulated CPU the thread is pinned to, if any (tests that Go pins to a P).
        static PINNED: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Under Miri: pins the calling thread to simulated CPU `cpu` (modulo the count), or
    /// lets it migrate again (`None`).
    #[cfg(miri)]
    pub(crate) fn pin_simulated_cpu(cpu: Option<usize>) {
        PINNED.with(|p| p.set(cpu.map(|c| c % MIRI_CPUS)));
    }

    /// Under Miri: the thread's round-robin index, moved to the next simulated CPU every
    /// `MIGRATE_EVERY` calls.
    #[cfg(miri)]
    #[inline]
    pub(crate) fn current() -> usize {
        const MIGRATE_EVERY: usize = 5;
        thread_local! {
            static CALLS: Cell<usize> = const { Cell::new(0) };
        }
        if let Some(cpu) = PINNED.try_with(Cell::get).ok().flatten() {
            return cpu;
        }
        let calls = CALLS
            .try_with(|c| {
                c.set(c.get().wrapping_add(1));
                c.get()
            })
            .unwrap_or(0);
        (thread_index() + calls / MIGRATE_EVERY) % MIRI_CPUS
    }

    #[cfg_attr(miri, allow(dead_code))]
    fn available() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// One more than the highest id in a kernel CPU list such as `0-3,8,10-11`.
    // Only Linux has a CPU list to read (Miri simulates the CPUs); the unit tests use it anywhere.
    #[cfg_attr(any(miri, not(target_os = "linux")), allow(dead_code))]
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
    #[cfg(all(target_os = "linux", not(miri)))]
    #[inline]
    pub(crate) fn current() -> usize {
        #[cfg(all(
            target_env = "gnu",
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        if let Some(cpu) = super::rseq::cpu_id() {
            return cpu;
        }
        getcpu()
    }

    /// Which source [`current`] uses on the calling thread: `"rseq"`, `"sched_getcpu"`
    /// or `"thread index"`.
    pub(crate) fn source() -> &'static str {
        #[cfg(miri)]
        return "miri";
        #[cfg(all(
            not(miri),
            target_os = "linux",
            target_env = "gnu",
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        if super::rseq::cpu_id().is_some() {
            return "rseq";
        }
        #[cfg(all(target_os = "linux", not(miri)))]
        // SAFETY: `sched_getcpu` has no preconditions; it returns -1 on failure.
        if unsafe { libc::sched_getcpu() } >= 0 {
            return "sched_getcpu";
        }
        #[cfg_attr(miri, allow(unreachable_code))]
        "thread index"
    }

    /// glibc's `sched_getcpu()`, else the per-thread index.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[inline]
    pub(crate) fn getcpu() -> usize {
        // SAFETY: `sched_getcpu` has no preconditions; it returns -1 on failure.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu >= 0 {
            cpu as usize
        } else {
            thread_index()
        }
    }

    /// The calling thread's shard hint on platforms without a cheap CPU id.
    #[cfg(all(not(target_os = "linux"), not(miri)))]
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

    /// The simulated CPU.
    pub(crate) fn source() -> &'static str {
        "loom"
    }

    /// Moves the modelled thread to simulated CPU `cpu` (a migration, if already used).
    pub(crate) fn set_simulated_cpu(cpu: usize) {
        CPU.with(|c| c.set(cpu));
    }
}

pub(crate) use imp::*;

/// Reading the kernel's `cpu_id` straight from the thread's rseq area (glibc 2.35+
/// registers one per thread and exports its offset from the thread pointer as
/// `__rseq_offset`): one load, under 1 ns, against ~4-5 ns for the `sched_getcpu` call
/// that reads the same field. Used only when glibc says the area is registered
/// (`__rseq_size > 0`) and the field holds a real CPU id; otherwise `sched_getcpu`.
#[cfg(all(
    not(loom),
    not(miri),
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod rseq {
    use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

    const UNKNOWN: isize = isize::MIN;
    const UNAVAILABLE: isize = isize::MIN + 1;

    /// The offset of `struct rseq::cpu_id` from the thread pointer, or a sentinel.
    static CPU_ID_OFFSET: AtomicIsize = AtomicIsize::new(UNKNOWN);

    /// The calling thread's CPU per its rseq area, if glibc registered one.
    #[inline]
    pub(crate) fn cpu_id() -> Option<usize> {
        let mut off = CPU_ID_OFFSET.load(Relaxed);
        // One compare on the fast path: both sentinels sit below every real offset.
        if off <= UNAVAILABLE {
            if off == UNKNOWN {
                off = init();
            }
            if off == UNAVAILABLE {
                return None;
            }
        }
        // SAFETY: `off` came from glibc's `__rseq_offset` with `__rseq_size > 0`, so every
        // thread's TLS block holds a registered, 32-byte aligned `struct rseq` at
        // `thread pointer + __rseq_offset`, alive as long as the thread; `cpu_id` is the
        // `u32` at byte 4, which the kernel rewrites on migration, so it is read with one
        // plain load that the compiler may not cache.
        decode(unsafe { read_tp_u32(off) })
    }

    /// The `cpu_id` field as a CPU, or `None` for the negative values the kernel and
    /// glibc store when this thread has no registration: RSEQ_CPU_ID_UNINITIALIZED (-1:
    /// never registered, or unregistered at thread exit) and
    /// RSEQ_CPU_ID_REGISTRATION_FAILED (-2: glibc tried and the kernel refused).
    #[inline]
    pub(super) fn decode(raw: u32) -> Option<usize> {
        (raw as i32 >= 0).then_some(raw as usize)
    }

    /// Reads the `u32` at `thread pointer + off`.
    ///
    /// # Safety
    ///
    /// That address must be a readable, 4-byte aligned `u32` of the calling thread.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn read_tp_u32(off: isize) -> u32 {
        let v: u32;
        // SAFETY: on x86_64 Linux the thread pointer is the FS base, so `fs:[off]` is
        // `thread pointer + off`, readable per the caller's contract. `nostack`,
        // `readonly`: a single load; not `pure`, since the kernel changes the value.
        unsafe {
            std::arch::asm!(
                "mov {v:e}, dword ptr fs:[{off}]",
                v = out(reg) v,
                off = in(reg) off,
                options(nostack, readonly, preserves_flags)
            );
        }
        v
    }

    /// Reads the `u32` at `thread pointer + off`.
    ///
    /// # Safety
    ///
    /// That address must be a readable, 4-byte aligned `u32` of the calling thread.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn read_tp_u32(off: isize) -> u32 {
        let tp: *const u8;
        // SAFETY: reading TPIDR_EL0 (the thread pointer) has no side effects.
        unsafe {
            std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags));
        }
        // SAFETY: the caller guarantees `tp + off` is a readable, aligned `u32`; volatile
        // because the kernel rewrites it behind the compiler's back. `wrapping_offset`:
        // the rseq area lies outside whatever object `tp` points to (struct pthread sits
        // below the TCB), so `offset`'s in-bounds rule does not hold.
        unsafe { std::ptr::read_volatile(tp.wrapping_offset(off).cast::<u32>()) }
    }

    /// Looks up glibc's rseq symbols once (`dlsym`, so binaries still run on a glibc
    /// without them).
    #[cold]
    #[inline(never)]
    fn init() -> isize {
        // SAFETY: `dlsym` with RTLD_DEFAULT and NUL-terminated names has no
        // preconditions; it returns null for a missing symbol.
        let (offset, size) = unsafe {
            (
                libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr()),
                libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr()),
            )
        };
        let off = if offset.is_null() || size.is_null() {
            UNAVAILABLE
        } else {
            // SAFETY: glibc defines `__rseq_offset` as a `ptrdiff_t` and `__rseq_size` as
            // an `unsigned int`, both set before `main` and never changed afterwards.
            let (offset, size) = unsafe { (*offset.cast::<isize>(), *size.cast::<u32>()) };
            match offset.checked_add(4) {
                Some(cpu_id) if size > 0 && cpu_id % 4 == 0 && cpu_id > UNAVAILABLE => cpu_id,
                _ => UNAVAILABLE,
            }
        };
        // Relaxed: every racer computes the same value from immutable symbols.
        CPU_ID_OFFSET.store(off, Relaxed);
        off
    }
}

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

    // Miri can call neither `sched_getcpu` nor read the rseq area.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn rseq_agrees_with_sched_getcpu() {
        // Pinned to one CPU, both sources must name it (no migration in between).
        // SAFETY: plain-data set, the calling thread, correct size.
        unsafe {
            let cpu = libc::sched_getcpu().max(0) as usize;
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            assert_eq!(
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
                0
            );
            for _ in 0..100 {
                assert_eq!(current(), cpu);
                assert_eq!(getcpu(), cpu);
            }
        }
        let from_other_thread = std::thread::spawn(current).join().unwrap();
        assert!(from_other_thread < shards());
    }

    #[cfg(all(
        not(miri),
        target_os = "linux",
        target_env = "gnu",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn rseq_is_used_on_this_glibc() {
        // glibc 2.35+ with a kernel that supports rseq (the development machine): the
        // fast path must be live, or the pool silently pays for `sched_getcpu`.
        if let Some(cpu) = rseq::cpu_id() {
            assert!(cpu < shards());
            assert_eq!(source(), "rseq");
        } else {
            eprintln!("rseq area not available: using sched_getcpu()");
        }
    }

    #[cfg(all(
        not(miri),
        target_os = "linux",
        target_env = "gnu",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn rseq_cpu_id_sentinels_are_not_cpus() {
        assert_eq!(rseq::decode(0), Some(0));
        assert_eq!(rseq::decode(1023), Some(1023));
        assert_eq!(rseq::decode(-1i32 as u32), None); // RSEQ_CPU_ID_UNINITIALIZED
        assert_eq!(rseq::decode(-2i32 as u32), None); // RSEQ_CPU_ID_REGISTRATION_FAILED
    }

    /// With `GLIBC_TUNABLES=glibc.pthread.rseq=0` glibc registers no rseq area (and sets
    /// `__rseq_size` to 0): the pool must notice and use `sched_getcpu`. Runs this test
    /// binary again as a child with the tunable set.
    #[cfg(all(
        not(miri),
        target_os = "linux",
        target_env = "gnu",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn without_rseq_registration_falls_back_to_sched_getcpu() {
        const CHILD: &str = "GOSYNC_POOL_RSEQ_CHILD";
        const NAME: &str = "cpu::tests::without_rseq_registration_falls_back_to_sched_getcpu";
        if std::env::var_os(CHILD).is_some() {
            assert_eq!(rseq::cpu_id(), None, "glibc ignored glibc.pthread.rseq=0");
            assert_eq!(source(), "sched_getcpu");
            let pool = crate::Pool::new(|| 1u32);
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        assert_eq!(rseq::cpu_id(), None);
                        assert!(current() < shards());
                        for _ in 0..1000 {
                            *pool.get() += 1;
                        }
                    });
                }
            });
            assert!(pool.stats().idle >= 1);
            println!("child: fallback ok");
            return;
        }
        if rseq::cpu_id().is_none() {
            eprintln!("rseq not registered here either: nothing to compare");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("GLIBC_TUNABLES", "glibc.pthread.rseq=0")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("child: fallback ok"),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
