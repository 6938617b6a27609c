//! Go's `sync.Pool` for Rust: a typed, bounded, per-CPU pool of reusable objects.
//!
//! A [`Pool`] keeps idle objects (buffers, encoders, scratch structs) for reuse across
//! threads, built like Go's `sync.Pool`: each CPU has its own slots, a thread takes from
//! and returns to its current CPU's slots, steals from other CPUs when its own are empty,
//! and calls the constructor only when no object is idle anywhere. On top of Go's design
//! it is typed, hands objects out in a [`PoolGuard`] that returns them on drop, runs an
//! optional reset hook, and bounds its memory, since Rust has no garbage collector to
//! empty the pool: at most a fixed number of idle objects per CPU (a few lock-free slots
//! plus a burst store, so a burst of returned objects is kept for reuse), and idle
//! objects are dropped by [`Pool::trim`] with Go's victim rule (idle through two trims:
//! dropped).
//!
//! # Examples
//!
//! ```
//! use gosync_pool::Pool;
//! use std::io::Write;
//!
//! let pool = Pool::builder(|| Vec::<u8>::with_capacity(4096))
//!     .reset(Vec::clear)
//!     .build();
//! std::thread::scope(|s| {
//!     for id in 0..4 {
//!         let pool = &pool;
//!         s.spawn(move || {
//!             for n in 0..100 {
//!                 let mut buf = pool.get(); // an idle buffer, or a new one
//!                 write!(buf, "worker {id} line {n}").unwrap();
//!                 assert!(buf.starts_with(b"worker"));
//!             } // each buffer goes back to the pool, cleared
//!         });
//!     }
//! });
//! // A handful of buffers served 400 uses; the idle ones go after two trims.
//! println!("{:?}", pool.stats());
//! pool.trim();
//! pool.trim();
//! assert_eq!(pool.stats().idle, 0);
//! ```
//!
//! # Differences from Go
//!
//! * Typed, with a guard: [`Pool::get`] returns a [`PoolGuard`] that gives the object
//!   back on drop ([`PoolGuard::into_inner`] detaches it). Go's `Get`/`Put` pair is
//!   [`Pool::take`]/[`Pool::put`].
//! * A constructor is required, so `get` always returns an object (Go's `Get` returns
//!   `nil` when `New` is unset). There is no `Put(nil)`.
//! * Bounded: `per_cpu_capacity` lock-free slots per CPU (default [`DEFAULT_CAPACITY`])
//!   plus a shared burst store of `burst_capacity` idle objects per CPU (default
//!   [`DEFAULT_BURST`]); an object returned when both are full is dropped at once. Go's
//!   per-P shared lists are unbounded (until the next garbage collections).
//! * Owned guards: [`Pool::get_owned`] on an `Arc<Pool>` returns an [`OwnedPoolGuard`]
//!   that can move into another thread or a task.
//! * No garbage collector: Go empties its pools at every GC, moving them to a *victim*
//!   generation that the next GC frees. Here [`Pool::trim`] is that GC step, called by
//!   you or by the optional automatic policy ([`Builder::auto_trim`]), which runs on
//!   pool operations, not in the background.
//! * The CPU id is a hint, not a pinned P: Go disables preemption while it touches its
//!   P's private slot; a Rust thread can migrate at any time, so every slot is claimed
//!   with a compare-exchange. A guard keeps its object in place in the slot (marked
//!   busy) and gives it back with one store; Go moves the object out and back in.
//!   [`Pool::take`] keeps the slot it took from busy for the thread's next
//!   [`Pool::put`] (a per-thread *lease*), so the pair also costs one compare-exchange;
//!   a thread that takes and then never puts again (or exits first) leaves that one
//!   slot busy, and empty, until the pool is dropped.
//! * An optional reset hook ([`Builder::reset`]) runs on every returned object. Go
//!   leaves resetting to the caller.
//! * [`Pool::stats`] exposes counters (idle, created, dropped, trims) for tests and
//!   monitoring; Go has none.
//! * A pool in a `static` is built lazily (`std::sync::LazyLock`), since it allocates
//!   its per-CPU slots up front; Go's zero `Pool` is ready to use.
//!
//! # Panic safety
//!
//! Where user code runs, and what a panic there leaves. The pool never runs user code
//! under a lock (its one lock, the automatic trim's schedule, is released before the
//! trim); what a thread can hold is the claim on a slot (a guard in place), and every
//! path below gives it up.
//!
//! * **The constructor** (a `get` or `take` that finds nothing idle) runs before the
//!   call claims or counts anything: the panic propagates out of that call, and
//!   [`PoolStats::created`] counts only the calls that returned.
//! * **The reset hook** ([`Builder::reset`]), on every return (guard drop, [`Pool::put`]):
//!   if it panics, the object is counted in [`PoolStats::dropped`], moved out of its
//!   slot if the guard held it in place (the slot is freed), and dropped while the panic
//!   unwinds out of the guard's drop or `put`. A panic in the object's `Drop` during
//!   that unwinding aborts the process, as does a reset panic in a guard dropped while
//!   its thread is already unwinding (any panic in `Drop` during unwinding does).
//! * **`Drop` of `T`** when the pool drops an object: it is counted in `dropped` and out
//!   of its slot first, and the panic propagates out of the call that dropped it:
//!   * returned to a full shard: out of that `put` or guard drop; the idle objects stay;
//!   * trimmed: out of [`Pool::trim`], or out of the `get`/`take`/return that ran the
//!     automatic trim (a `get`/`take` before it took or built anything, a return after
//!     it completed). The objects that trim had not reached yet stay idle, for the next;
//!   * the reset hook panicked: above;
//!   * the pool itself is dropped: out of the pool's drop. Its other idle objects and
//!     its constructor are still dropped (a second panic among them aborts); these drops
//!     are not counted in `dropped`.
//! * **`Drop` of the constructor's captures**: with the pool, after its idle objects.
//! * **Guards**: a panic in user code while a [`PoolGuard`] lives returns its object as
//!   the thread unwinds (through the reset hook, as any return). [`Pool::take`],
//!   [`PoolGuard::into_inner`] and the guard's `Deref` run no user code besides the
//!   constructor; a detached object's drop is its owner's.
//!
//! # Shard selection and cost
//!
//! On Linux (glibc 2.35+, x86_64 or aarch64) the current CPU is read straight from the
//! `cpu_id` field of the thread's rseq area, which the kernel keeps up to date: one load
//! at the thread pointer plus glibc's `__rseq_offset`, about 0.6 ns on the development
//! machine. Where that area is missing, glibc's `sched_getcpu()` reads the same field or
//! the vDSO (about 5 ns, no system call). On other platforms, each thread gets a shard
//! index round-robin at first use. The id is only a hint (the thread may migrate at any
//! moment); every slot is still claimed with a compare-exchange.
//!
//! The pool has one shard per *possible* CPU (`/sys/devices/system/cpu/possible`, capped
//! at 1024 with ids past it sharing shards modulo): `available_parallelism` counts the
//! CPUs usable now, not the largest id. A `get` that finds nothing idle scans every
//! shard (possible CPUs × capacity slots, one load each) before calling the
//! constructor, as Go's `getSlow` does over every P.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

mod builder;
mod cpu;
mod guard;
mod lease;
mod pool;
mod slot;

pub use builder::Builder;
pub use guard::{OwnedPoolGuard, PoolGuard};
pub use pool::{Pool, PoolStats, DEFAULT_BURST, DEFAULT_CAPACITY, MAX_CAPACITY};

/// Where the pool reads the calling thread's CPU id: `"rseq"` (the kernel-maintained
/// field of the thread's rseq area, the fast path on Linux with glibc 2.35+),
/// `"sched_getcpu"` (no rseq registration, e.g. `GLIBC_TUNABLES=glibc.pthread.rseq=0`
/// or an old kernel), `"thread index"` (no CPU id: one shard per thread, round-robin),
/// or `"loom"`. A diagnostic for benchmarks and tests, not a stable API.
#[doc(hidden)]
#[must_use]
pub fn cpu_id_source() -> &'static str {
    cpu::source()
}

/// Under Miri: pins the calling thread to simulated CPU `cpu` (there are four), or lets
/// it migrate every few calls again (`None`, the default). For the tests, which pin
/// threads to CPUs with `sched_setaffinity` outside Miri.
#[cfg(miri)]
#[doc(hidden)]
pub fn miri_pin_cpu(cpu: Option<usize>) {
    cpu::pin_simulated_cpu(cpu);
}

/// Under loom: moves the calling modelled thread to simulated CPU `cpu` (there are two,
/// 0 and 1; a thread starts on 0). Lets models exercise stealing and migration.
#[cfg(loom)]
#[doc(hidden)]
pub fn loom_set_cpu(cpu: usize) {
    cpu::set_simulated_cpu(cpu);
}

/// The README (the crates.io page): its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
