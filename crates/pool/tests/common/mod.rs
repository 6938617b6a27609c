//! Helpers shared by the pool's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// Pins the calling thread to one CPU, so its shard never changes and the pool behaves
/// deterministically (Go's tests pin the goroutine to its P with `runtime_procPin`).
pub fn pin_to_one_cpu() {
    // Miri can call neither `sched_getcpu` nor `sched_setaffinity`: pin the simulated CPU.
    #[cfg(miri)]
    gosync_pool::miri_pin_cpu(Some(0));
    #[cfg(all(target_os = "linux", not(miri)))]
    // SAFETY: `cpu_set_t` is plain data (zero is the empty set); `sched_setaffinity` on
    // the calling thread (pid 0) with a correctly sized set has no other preconditions.
    unsafe {
        let cpu = libc::sched_getcpu().max(0) as usize;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let r = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(r, 0, "sched_setaffinity failed");
    }
}

/// Counts live instances of [`Tracked`].
#[derive(Debug, Default)]
pub struct Census {
    pub made: AtomicUsize,
    pub dropped: AtomicUsize,
}

impl Census {
    pub fn new() -> Arc<Census> {
        Arc::new(Census::default())
    }

    pub fn live(&self) -> usize {
        self.made.load(SeqCst) - self.dropped.load(SeqCst)
    }
}

/// An object that counts itself in a [`Census`] and panics on drop when told to.
#[derive(Debug)]
pub struct Tracked {
    pub id: usize,
    pub census: Arc<Census>,
    pub panic_on_drop: bool,
}

impl Tracked {
    pub fn new(census: &Arc<Census>) -> Tracked {
        let id = census.made.fetch_add(1, SeqCst);
        Tracked {
            id,
            census: Arc::clone(census),
            panic_on_drop: false,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.census.dropped.fetch_add(1, SeqCst);
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("Tracked {} panics on drop", self.id);
        }
    }
}

/// The CPUs this thread may run on (Linux; empty elsewhere; Miri's four simulated ones).
#[cfg_attr(miri, allow(unreachable_code))]
pub fn allowed_cpus() -> Vec<usize> {
    #[cfg(miri)]
    return (0..4).collect();
    #[cfg(all(target_os = "linux", not(miri)))]
    // SAFETY: `cpu_set_t` is plain data; `sched_getaffinity` on the calling thread with a
    // correctly sized set only writes the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            return (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect();
        }
    }
    Vec::new()
}

/// Pins the calling thread to `cpu` (Linux; a no-op elsewhere).
pub fn pin_to(cpu: usize) {
    #[cfg(miri)]
    gosync_pool::miri_pin_cpu(Some(cpu));
    #[cfg(all(target_os = "linux", not(miri)))]
    // SAFETY: as in `pin_to_one_cpu`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let r = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(r, 0, "sched_setaffinity failed");
    }
    #[cfg(all(not(target_os = "linux"), not(miri)))]
    let _ = cpu;
}
