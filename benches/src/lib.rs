//! Helpers shared by the gosync benches (`benches/benches/*.rs`).
//!
//! The `*_cpu` bench variants time with the calling thread's CPU time, so that time spent
//! descheduled on a shared, overloaded machine does not count; a wall-clock row and its
//! CPU-time row side by side show how much of a figure is the machine's load.

use std::time::Duration;

/// The calling thread's CPU time (wall time since the first call where there is no
/// thread CPU clock).
pub fn thread_time() -> Duration {
    #[cfg(target_os = "linux")]
    // SAFETY: `timespec` is plain data; `clock_gettime` only writes it.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}

/// `f` run `iters` times, timed by the thread's CPU time (for criterion's `iter_custom`).
pub fn cpu_timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let t = thread_time();
    for _ in 0..iters {
        f();
    }
    thread_time() - t
}
