//! gosync-errgroup against what a Rust user would otherwise write.
//!
//! * `errgroup/fanout16/*`: start 16 tasks and wait for them, keeping the first error
//!   (one task fails in the `_err` variants). gosync's `Group::go_scoped` vs
//!   `std::thread::scope` with an `mpsc` channel carrying the errors (the first one
//!   received wins). Both spawn 16 OS threads: the figure is mostly thread start-up, and
//!   the difference is the group's bookkeeping.
//! * `semaphore/uncontended/*`: one thread, `acquire(1)` + `release(1)`. gosync's
//!   `Semaphore` vs a `Mutex<u64>` + `Condvar` counting semaphore vs tokio's
//!   `Semaphore::acquire` driven by a minimal `block_on`.
//! * `semaphore/contended4/*`: four threads share a semaphore of 2 and each does
//!   acquire/hold-briefly/release; the time is the wall time per acquire per thread.
//! * `singleflight/unshared/*`: one thread, one call per distinct key (the common case:
//!   no one to share with). gosync's `singleflight::Group::run` vs a
//!   `Mutex<HashMap<K, Arc<OnceLock<V>>>>` that removes the key after the call.
//! * `singleflight/contended4/*`: four threads call on 4 keys whose closure takes ~2 µs,
//!   so calls overlap and are shared; time per call per thread.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gosync_errgroup::{singleflight, Group, Semaphore};

// ---- errgroup ------------------------------------------------------------------------

const TASKS: usize = 16;

fn fanout_gosync(fail: bool) -> Result<(), usize> {
    let g = Group::new();
    std::thread::scope(|s| {
        for i in 0..TASKS {
            g.go_scoped(s, move || {
                if fail && i == TASKS / 2 {
                    Err(i)
                } else {
                    Ok(())
                }
            });
        }
        g.wait()
    })
}

fn fanout_scope_channel(fail: bool) -> Result<(), usize> {
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for i in 0..TASKS {
            let tx = tx.clone();
            s.spawn(move || {
                let r: Result<(), usize> = if fail && i == TASKS / 2 {
                    Err(i)
                } else {
                    Ok(())
                };
                if let Err(e) = r {
                    let _ = tx.send(e);
                }
            });
        }
    });
    drop(tx);
    match rx.try_recv() {
        Ok(e) => Err(e),
        Err(_) => Ok(()),
    }
}

fn bench_errgroup(c: &mut Criterion) {
    let mut group = c.benchmark_group("errgroup");
    for fail in [false, true] {
        let suffix = if fail { "_err" } else { "" };
        group.bench_function(format!("fanout16{suffix}/gosync"), |b| {
            b.iter(|| black_box(fanout_gosync(fail)))
        });
        group.bench_function(format!("fanout16{suffix}/scope_channel"), |b| {
            b.iter(|| black_box(fanout_scope_channel(fail)))
        });
    }
    group.finish();
}

// ---- semaphore -----------------------------------------------------------------------

/// The same operations for every contender.
trait Sem: Send + Sync + 'static {
    const NAME: &'static str;
    fn new(n: u64) -> Self;
    fn acquire(&self);
    fn release(&self);
}

impl Sem for Semaphore {
    const NAME: &'static str = "gosync";
    fn new(n: u64) -> Self {
        Semaphore::new(n)
    }
    #[inline]
    fn acquire(&self) {
        Semaphore::acquire(self, 1);
    }
    #[inline]
    fn release(&self) {
        Semaphore::release(self, 1);
    }
}

/// The textbook counting semaphore: a mutex-protected count and a condition variable
/// (no FIFO, no weights).
struct MutexCondvar {
    free: Mutex<u64>,
    freed: Condvar,
}

impl Sem for MutexCondvar {
    const NAME: &'static str = "mutex_condvar";
    fn new(n: u64) -> Self {
        MutexCondvar {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }
    #[inline]
    fn acquire(&self) {
        let mut free = self.free.lock().unwrap();
        while *free == 0 {
            free = self.freed.wait(free).unwrap();
        }
        *free -= 1;
    }
    #[inline]
    fn release(&self) {
        *self.free.lock().unwrap() += 1;
        self.freed.notify_one();
    }
}

/// tokio's async semaphore (FIFO, weighted through `acquire_many`), driven from a
/// thread by `block_on`; the permit is forgotten and given back with `add_permits`.
struct Tokio(tokio::sync::Semaphore);

impl Sem for Tokio {
    const NAME: &'static str = "tokio_block_on";
    fn new(n: u64) -> Self {
        Tokio(tokio::sync::Semaphore::new(n as usize))
    }
    #[inline]
    fn acquire(&self) {
        block_on(self.0.acquire()).expect("never closed").forget();
    }
    #[inline]
    fn release(&self) {
        self.0.add_permits(1);
    }
}

/// Wakes the blocked thread.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: poll on this thread, park until woken.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    }
    WAKER.with(|waker| {
        let mut cx = TaskContext::from_waker(waker);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    })
}

fn bench_semaphore_uncontended<S: Sem>(c: &mut Criterion) {
    let sem = S::new(1);
    c.bench_function(&format!("semaphore/uncontended/{}", S::NAME), |b| {
        b.iter(|| {
            sem.acquire();
            sem.release();
        })
    });
}

fn bench_semaphore_contended<S: Sem>(c: &mut Criterion) {
    const THREADS: usize = 4;
    c.bench_function(&format!("semaphore/contended4/{}", S::NAME), |b| {
        b.iter_custom(|iters| {
            let sem = Arc::new(S::new(2));
            let start = Arc::new(Barrier::new(THREADS + 1));
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (sem, start) = (Arc::clone(&sem), Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        for _ in 0..iters {
                            sem.acquire();
                            std::hint::spin_loop(); // hold it for a moment
                            sem.release();
                        }
                    })
                })
                .collect();
            start.wait();
            let t = Instant::now();
            for th in threads {
                th.join().unwrap();
            }
            t.elapsed()
        })
    });
}

// ---- singleflight --------------------------------------------------------------------

trait Flight: Send + Sync + 'static {
    const NAME: &'static str;
    fn new() -> Self;
    fn run(&self, key: u64, f: impl FnOnce() -> u64) -> u64;
}

impl Flight for singleflight::Group<u64, u64> {
    const NAME: &'static str = "gosync";
    fn new() -> Self {
        singleflight::Group::new()
    }
    #[inline]
    fn run(&self, key: u64, f: impl FnOnce() -> u64) -> u64 {
        singleflight::Group::run(self, key, f).0
    }
}

/// What one writes without a singleflight: a map of `OnceLock`s, the first caller
/// initializes, the others block in `get_or_init`; the key is removed afterwards so the
/// next call runs again (as singleflight does).
struct OnceLockMap<K, V>(Mutex<HashMap<K, Arc<OnceLock<V>>>>);

impl<K: Hash + Eq + Copy + Send + 'static> OnceLockMap<K, u64> {
    fn call(&self, key: K, f: impl FnOnce() -> u64) -> u64 {
        let cell = Arc::clone(self.0.lock().unwrap().entry(key).or_default());
        let v = *cell.get_or_init(f);
        let mut map = self.0.lock().unwrap();
        if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(&key);
        }
        v
    }
}

impl Flight for OnceLockMap<u64, u64> {
    const NAME: &'static str = "mutex_hashmap_oncelock";
    fn new() -> Self {
        OnceLockMap(Mutex::default())
    }
    #[inline]
    fn run(&self, key: u64, f: impl FnOnce() -> u64) -> u64 {
        self.call(key, f)
    }
}

fn bench_singleflight_unshared<F: Flight>(c: &mut Criterion) {
    let flight = F::new();
    let mut key = 0u64;
    c.bench_function(&format!("singleflight/unshared/{}", F::NAME), |b| {
        b.iter(|| {
            key = key.wrapping_add(1);
            black_box(flight.run(key, || key * 2))
        })
    });
}

/// About 2 µs of work, measured once (no CPU-specific spin count).
fn slow_value(key: u64, budget: Duration) -> u64 {
    let start = Instant::now();
    let mut x = key;
    while start.elapsed() < budget {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    key
}

fn bench_singleflight_contended<F: Flight>(c: &mut Criterion) {
    const THREADS: usize = 4;
    c.bench_function(&format!("singleflight/contended4/{}", F::NAME), |b| {
        b.iter_custom(|iters| {
            let flight = Arc::new(F::new());
            let start = Arc::new(Barrier::new(THREADS + 1));
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (flight, start) = (Arc::clone(&flight), Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        for i in 0..iters {
                            let key = i % 4;
                            let v = flight.run(key, || slow_value(key, Duration::from_micros(2)));
                            assert_eq!(v, key);
                        }
                    })
                })
                .collect();
            start.wait();
            let t = Instant::now();
            for th in threads {
                th.join().unwrap();
            }
            t.elapsed()
        })
    });
}

fn benches(c: &mut Criterion) {
    bench_errgroup(c);
    bench_semaphore_uncontended::<Semaphore>(c);
    bench_semaphore_uncontended::<MutexCondvar>(c);
    bench_semaphore_uncontended::<Tokio>(c);
    bench_semaphore_contended::<Semaphore>(c);
    bench_semaphore_contended::<MutexCondvar>(c);
    bench_semaphore_contended::<Tokio>(c);
    bench_singleflight_unshared::<singleflight::Group<u64, u64>>(c);
    bench_singleflight_unshared::<OnceLockMap<u64, u64>>(c);
    bench_singleflight_contended::<singleflight::Group<u64, u64>>(c);
    bench_singleflight_contended::<OnceLockMap<u64, u64>>(c);
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(group);
