//! Pool: gosync vs object-pool vs lockfree-object-pool (LinearObjectPool) vs a
//! `Mutex<Vec<T>>`, with a `thread_local` `Vec` as the floor (the physical limit of a
//! per-thread cache). The object is a 4 KiB buffer (`Vec<u8>` with 4096 bytes of
//! capacity), cleared on return by every contender.
//!
//! * `pair_1t`: one thread, a get + return pair per iteration.
//! * `pair_2t`: two threads, pinned to CPUs 0 and 1 where possible, each doing get +
//!   return pairs on one shared pool; the time per iteration is the wall time per pair
//!   *per thread* (criterion picks the pair count, up to millions per sample).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const BUF: usize = 4096;

fn buffer() -> Vec<u8> {
    Vec::with_capacity(BUF)
}

/// The same operation for every contender: take a buffer, touch it, give it back.
trait Contender: Send + Sync + 'static {
    const NAME: &'static str;
    fn new() -> Self;
    fn pair(&self);
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
    static TL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// The floor: a per-thread free list, no sharing at all.
struct ThreadLocalVec;
impl Contender for ThreadLocalVec {
    const NAME: &'static str = "thread_local_vec";
    fn new() -> Self {
        ThreadLocalVec
    }
    #[inline]
    fn pair(&self) {
        let mut b = TL.with(|tl| tl.borrow_mut().pop()).unwrap_or_else(buffer);
        b.push(1);
        black_box(&mut b);
        b.clear();
        TL.with(|tl| tl.borrow_mut().push(b));
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

fn pair_1t<C: Contender>(c: &mut Criterion) {
    let p = C::new();
    c.bench_function(&format!("pool/pair_1t/{}", C::NAME), |b| {
        b.iter(|| black_box(&p).pair())
    });
}

fn pair_2t<C: Contender>(c: &mut Criterion) {
    let p = Arc::new(C::new());
    let threads = 2;
    c.bench_with_input(
        BenchmarkId::new("pool/pair_2t", C::NAME),
        &threads,
        |b, &n| {
            b.iter_custom(|iters| {
                let start = Arc::new(Barrier::new(n + 1));
                let handles: Vec<_> = (0..n)
                    .map(|i| {
                        let (p, start) = (Arc::clone(&p), Arc::clone(&start));
                        std::thread::spawn(move || {
                            pin(i);
                            start.wait();
                            for _ in 0..iters {
                                p.pair();
                            }
                        })
                    })
                    .collect();
                start.wait();
                let t = Instant::now();
                for h in handles {
                    h.join().unwrap();
                }
                t.elapsed()
            })
        },
    );
}

fn benches(c: &mut Criterion) {
    pair_1t::<ThreadLocalVec>(c);
    pair_1t::<Gosync>(c);
    pair_1t::<LockfreeLinear>(c);
    pair_1t::<ObjectPool>(c);
    pair_1t::<MutexVec>(c);
    pair_2t::<ThreadLocalVec>(c);
    pair_2t::<Gosync>(c);
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
