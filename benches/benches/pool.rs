//! Pool: gosync vs object-pool vs lockfree-object-pool (LinearObjectPool) vs a
//! `Mutex<Vec<T>>`, with a `thread_local` `Vec` as the floor (the physical limit of a
//! per-thread cache). The object is a 4 KiB buffer (`Vec<u8>` with 4096 bytes of
//! capacity), cleared on return by every contender.
//!
//! * `pair_1t`: one thread, a get + return pair per iteration. gosync runs twice: the
//!   guard pair (`get` + drop) and the Go-shaped pair (`take` + `put`, what Go's
//!   `sync.Pool` `Get` + `Put` do; Go's own figure comes from `../shared/go-reference`,
//!   workload `pool_get_put_1t`), also on Go's object, a boxed 4 KiB array
//!   (`gosync_take_put_box`).
//! * `pair_2t`: two threads, pinned to CPUs 0 and 1 where possible, each doing get +
//!   return pairs on one shared pool; the time per iteration is the wall time per pair
//!   *per thread* (criterion picks the pair count, up to millions per sample).
//! * `pair_1t_cpu`, `pair_2t_cpu`: the same, timed by the threads' CPU time
//!   (`CLOCK_THREAD_CPUTIME_ID`; for 2 threads the slower thread's), so that time spent
//!   descheduled on a shared, overloaded machine does not count. Contention still
//!   counts (a cache line bouncing or a spin burns CPU time), but time *blocked* in the
//!   kernel does not, which flatters contenders that park (`Mutex<Vec>`). Linux only
//!   (elsewhere they fall back to wall time).
//!
//! The floor keeps *boxed* buffers: a free list of `Vec<u8>` moves a 24-byte value out
//! of and back into the list on every pair, and the 16-byte vector load of the next pop
//! straddles the two 8-byte stores of the last push, a store-forwarding stall that costs
//! ~10 ns per pair on the development machine (14 ns vs 4 ns of CPU time). A per-thread
//! cache would not be built that way, and the pools under test move no 24-byte value
//! through memory on the hot path either (gosync checks the buffer out in place).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gosync_benches::thread_time;

const BUF: usize = 4096;

fn buffer() -> Vec<u8> {
    Vec::with_capacity(BUF)
}

/// The same operation for every contender: take a buffer, touch it, give it back.
trait Contender: Send + Sync + 'static {
    const NAME: &'static str;
    fn new() -> Self;
    fn pair(&self);
    /// Prints diagnostics after the 2-thread run.
    fn report(&self) {}
}

struct Gosync(gosync_pool::Pool<Vec<u8>>);
impl Contender for Gosync {
    const NAME: &'static str = "gosync";
    fn new() -> Self {
        Gosync(
            gosync_pool::Pool::builder(buffer as fn() -> Vec<u8>)
                .reset(Vec::clear)
                .build(),
        )
    }
    #[inline]
    fn pair(&self) {
        let mut b = self.0.get();
        b.push(1);
        black_box(&mut *b);
    }
    fn report(&self) {
        // `stolen` near 0 shows each pinned thread used its own CPU's shard.
        eprintln!(
            "gosync pool (CPU id from {}): {:?}",
            gosync_pool::cpu_id_source(),
            self.0.stats()
        );
    }
}

/// The Go-shaped pair, `take` + `put` (Go's `Get` + `Put`): the object moves out of the
/// pool and back in.
struct GosyncTakePut(gosync_pool::Pool<Vec<u8>>);
impl Contender for GosyncTakePut {
    const NAME: &'static str = "gosync_take_put";
    fn new() -> Self {
        GosyncTakePut(Gosync::new().0)
    }
    #[inline]
    fn pair(&self) {
        let mut b = self.0.take();
        b.push(1);
        black_box(&mut b);
        self.0.put(b);
    }
}

/// The Go-shaped pair on Go's own object: a pointer to a 4 KiB array (`Box<[u8; 4096]>`,
/// go-reference's `*[4096]byte`), one byte written, no reset. Moving a pointer in and out
/// costs nothing; a 24-byte `Vec` moved by value through the caller's stack costs a few
/// ns of store-forwarding stalls per pair (see the module docs).
struct GosyncTakePutBox(gosync_pool::Pool<Box<[u8; BUF]>>);
impl Contender for GosyncTakePutBox {
    const NAME: &'static str = "gosync_take_put_box";
    fn new() -> Self {
        GosyncTakePutBox(gosync_pool::Pool::new(|| Box::new([0u8; BUF])))
    }
    #[inline]
    fn pair(&self) {
        let mut b = self.0.take();
        b[0] = 1;
        black_box(&mut b);
        self.0.put(b);
    }
}

struct ObjectPool(object_pool::Pool<Vec<u8>>);
impl Contender for ObjectPool {
    const NAME: &'static str = "object_pool";
    fn new() -> Self {
        ObjectPool(object_pool::Pool::new(64, buffer))
    }
    #[inline]
    fn pair(&self) {
        let mut b = self.0.pull(buffer);
        b.clear();
        b.push(1);
        black_box(&mut *b);
    }
}

struct LockfreeLinear(lockfree_object_pool::LinearObjectPool<Vec<u8>>);
impl Contender for LockfreeLinear {
    const NAME: &'static str = "lockfree_linear";
    fn new() -> Self {
        LockfreeLinear(lockfree_object_pool::LinearObjectPool::new(
            buffer,
            Vec::clear,
        ))
    }
    #[inline]
    fn pair(&self) {
        let mut b = self.0.pull();
        b.push(1);
        black_box(&mut *b);
    }
}

struct MutexVec(Mutex<Vec<Vec<u8>>>);
impl Contender for MutexVec {
    const NAME: &'static str = "mutex_vec";
    fn new() -> Self {
        MutexVec(Mutex::new(Vec::new()))
    }
    #[inline]
    fn pair(&self) {
        let mut b = self.0.lock().unwrap().pop().unwrap_or_else(buffer);
        b.push(1);
        black_box(&mut b);
        b.clear();
        self.0.lock().unwrap().push(b);
    }
}

thread_local! {
    /// Boxed: see the module docs (moving a 24-byte `Vec` through the list stalls).
    #[allow(clippy::vec_box)]
    static TL: UnsafeCell<Vec<Box<Vec<u8>>>> = const { UnsafeCell::new(Vec::new()) };
}

/// The floor: a per-thread free list, no sharing at all, no borrow flag.
struct ThreadLocalVec;
impl Contender for ThreadLocalVec {
    const NAME: &'static str = "thread_local_vec";
    fn new() -> Self {
        ThreadLocalVec
    }
    #[inline]
    fn pair(&self) {
        let mut b = TL
            .with(|tl| {
                // SAFETY: the list is this thread's, and the `&mut` ends with the
                // closure, so it is unique.
                unsafe { &mut *tl.get() }.pop()
            })
            .unwrap_or_else(|| Box::new(buffer()));
        b.push(1);
        black_box(&mut *b);
        b.clear();
        TL.with(|tl| {
            // SAFETY: as above.
            unsafe { &mut *tl.get() }.push(b)
        });
    }
}

/// Pins the calling thread to `cpu` if the machine has it (best effort).
fn pin(cpu: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: `cpu_set_t` is plain data (zero is the empty set); `sched_setaffinity` on
    // the calling thread with a correctly sized set has no other preconditions.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// Whether the calling thread runs on `cpu` (checks that pinning worked).
fn on_cpu(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: `sched_getcpu` has no preconditions.
    return unsafe { libc::sched_getcpu() } == cpu as libc::c_int;
    #[cfg(not(target_os = "linux"))]
    return {
        let _ = cpu;
        true
    };
}

fn pair_1t<C: Contender>(c: &mut Criterion) {
    let p = C::new();
    c.bench_function(&format!("pool/pair_1t/{}", C::NAME), |b| {
        b.iter(|| black_box(&p).pair())
    });
    c.bench_function(&format!("pool/pair_1t_cpu/{}", C::NAME), |b| {
        b.iter_custom(|iters| {
            let t = thread_time();
            for _ in 0..iters {
                black_box(&p).pair();
            }
            thread_time() - t
        })
    });
}

/// Pairs on `threads` threads pinned to CPUs 0, 1, ..; returns the wall time and the
/// slowest thread's CPU time.
fn run_threads<C: Contender>(p: &Arc<C>, threads: usize, iters: u64) -> (Duration, Duration) {
    static UNPINNED: AtomicBool = AtomicBool::new(false);
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (p, start) = (Arc::clone(p), Arc::clone(&start));
            std::thread::spawn(move || {
                pin(i);
                if !on_cpu(i) && !UNPINNED.swap(true, Relaxed) {
                    eprintln!("warning: could not pin a bench thread to CPU {i}");
                }
                start.wait();
                let t = thread_time();
                for _ in 0..iters {
                    p.pair();
                }
                thread_time() - t
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    let cpu = handles.into_iter().map(|h| h.join().unwrap()).max();
    (t.elapsed(), cpu.unwrap_or_default())
}

fn pair_2t<C: Contender>(c: &mut Criterion) {
    let p = Arc::new(C::new());
    let threads = 2;
    c.bench_with_input(
        BenchmarkId::new("pool/pair_2t", C::NAME),
        &threads,
        |b, &n| b.iter_custom(|iters| run_threads(&p, n, iters).0),
    );
    c.bench_with_input(
        BenchmarkId::new("pool/pair_2t_cpu", C::NAME),
        &threads,
        |b, &n| b.iter_custom(|iters| run_threads(&p, n, iters).1),
    );
    p.report();
}

fn benches(c: &mut Criterion) {
    pair_1t::<ThreadLocalVec>(c);
    pair_1t::<Gosync>(c);
    pair_1t::<GosyncTakePut>(c);
    pair_1t::<GosyncTakePutBox>(c);
    pair_1t::<LockfreeLinear>(c);
    pair_1t::<ObjectPool>(c);
    pair_1t::<MutexVec>(c);
    pair_2t::<ThreadLocalVec>(c);
    pair_2t::<Gosync>(c);
    pair_2t::<GosyncTakePut>(c);
    pair_2t::<LockfreeLinear>(c);
    pair_2t::<ObjectPool>(c);
    pair_2t::<MutexVec>(c);
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
