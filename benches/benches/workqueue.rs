//! Work queue: gosync vs a textbook Mutex<(VecDeque, HashSet, HashSet)> + Condvar queue vs
//! crossbeam-channel (no dedup, no processing set: the upper bound).
//!
//! * `cycle`: one thread, `add` + `get` + `done` of one key, keys cycling over 10k.
//! * `throughput/PxC`: P producers add distinct keys, C consumers get + done each exactly
//!   once; reported as items/s. Also gosync with metrics on (padded atomic counters and
//!   per-thread-striped histograms, as a Prometheus client keeps them), and gosync's
//!   worker loop (`Guard::done_and_get`: one lock hold per item on the consumer side)
//!   with and without metrics.
//! * `delaying/add_after_fire`: one queue on a fake clock; 1,000 `add_after` of distinct
//!   keys, one `advance` that makes them all due, then `get` + `done` of each: the delay
//!   path end to end (the timer's due-move included), reported per item.
//! * `delaying/queues/100`: 100 queues on one fake clock, one `add_after` each, one
//!   `advance`, then one `get` + `done` per queue: what the per-queue timer costs when many
//!   queues delay at once.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::collections::{HashSet, VecDeque};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use gosync_core::FakeClock;
use gosync_workqueue::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, Queue, SettableGaugeMetric,
};

const KEYS: u64 = 10_000;
/// Items per throughput run: the 1,000,000 distinct keys.
const ITEMS: u64 = 1_000_000;

/// The same operations for every contender.
trait WorkQueue: Send + Sync + 'static {
    const NAME: &'static str;
    fn make() -> Self;
    fn add(&self, k: u64);
    /// Blocks; `None` once shut down and empty.
    fn get(&self) -> Option<u64>;
    fn done(&self, k: u64);
    /// Ends the run; `consumers` is the number of consumer threads.
    fn shut_down(&self, consumers: u64);
    /// A consumer thread: gets and finishes items until shutdown; returns how many.
    fn consume(&self) -> u64 {
        let mut n = 0u64;
        while let Some(k) = self.get() {
            self.done(k);
            n += 1;
        }
        n
    }
}

struct Gosync(Queue<u64>);
impl WorkQueue for Gosync {
    const NAME: &'static str = "gosync";
    fn make() -> Self {
        Gosync(Queue::new())
    }
    #[inline]
    fn add(&self, k: u64) {
        self.0.add(k);
    }
    #[inline]
    fn get(&self) -> Option<u64> {
        self.0.get_detached()
    }
    #[inline]
    fn done(&self, k: u64) {
        self.0.done(&k);
    }
    fn shut_down(&self, _: u64) {
        self.0.shut_down();
    }
}

/// A realistic metrics backend, as a Prometheus client keeps it: each counter and gauge
/// one atomic on its own cache line; each histogram striped per thread (a thread adds to
/// its own stripe's count and sum, with Relaxed atomics; a scrape would sum the stripes).
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

#[derive(Default)]
struct Atomic(Padded);
impl GaugeMetric for Atomic {
    fn inc(&self) {
        self.0 .0.fetch_add(1, Ordering::Relaxed);
    }
    fn dec(&self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}
impl CounterMetric for Atomic {
    fn inc(&self) {
        self.0 .0.fetch_add(1, Ordering::Relaxed);
    }
}
impl SettableGaugeMetric for Atomic {
    fn set(&self, v: f64) {
        self.0 .0.store(v.to_bits(), Ordering::Relaxed);
    }
}

const STRIPES: usize = 16;

#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    count: AtomicU64,
    /// Nanoseconds.
    sum: AtomicU64,
}

#[derive(Default)]
struct Histogram([Stripe; STRIPES]);
impl HistogramMetric for Histogram {
    fn observe(&self, v: f64) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
            };
        }
        let s = &self.0[STRIPE.with(|s| *s)];
        s.count.fetch_add(1, Ordering::Relaxed);
        s.sum.fetch_add((v * 1e9) as u64, Ordering::Relaxed);
    }
}

fn atomic() -> Box<Atomic> {
    Box::default()
}
struct AtomicProvider;
impl MetricsProvider for AtomicProvider {
    fn new_depth_metric(&self, _: &str) -> Box<dyn GaugeMetric> {
        atomic()
    }
    fn new_adds_metric(&self, _: &str) -> Box<dyn CounterMetric> {
        atomic()
    }
    fn new_latency_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
        Box::<Histogram>::default()
    }
    fn new_work_duration_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
        Box::<Histogram>::default()
    }
    fn new_unfinished_work_seconds_metric(&self, _: &str) -> Box<dyn SettableGaugeMetric> {
        atomic()
    }
    fn new_longest_running_processor_seconds_metric(
        &self,
        _: &str,
    ) -> Box<dyn SettableGaugeMetric> {
        atomic()
    }
    fn new_retries_metric(&self, _: &str) -> Box<dyn CounterMetric> {
        atomic()
    }
}

struct GosyncMetrics(Gosync);
impl WorkQueue for GosyncMetrics {
    const NAME: &'static str = "gosync_metrics";
    fn make() -> Self {
        GosyncMetrics(Gosync(
            Queue::builder()
                .name("bench")
                .metrics_provider(Arc::new(AtomicProvider))
                .build(),
        ))
    }
    fn add(&self, k: u64) {
        self.0.add(k);
    }
    fn get(&self) -> Option<u64> {
        self.0.get()
    }
    fn done(&self, k: u64) {
        self.0.done(k);
    }
    fn shut_down(&self, _: u64) {
        self.0.shut_down(0);
    }
}

/// The contenders that are a gosync `Queue` underneath.
trait GosyncQueue: WorkQueue {
    /// The name of the [`Worker`] variant.
    const WORKER_NAME: &'static str;
    fn queue(&self) -> &Queue<u64>;
}
impl GosyncQueue for Gosync {
    const WORKER_NAME: &'static str = "gosync_worker";
    fn queue(&self) -> &Queue<u64> {
        &self.0
    }
}
impl GosyncQueue for GosyncMetrics {
    const WORKER_NAME: &'static str = "gosync_worker_metrics";
    fn queue(&self) -> &Queue<u64> {
        &self.0 .0
    }
}

/// gosync's worker loop: `done` of one item and `get` of the next in one lock hold
/// (`Guard::done_and_get`), instead of the Go shape's two calls.
struct Worker<Q>(Q);
impl<Q: GosyncQueue> WorkQueue for Worker<Q> {
    const NAME: &'static str = Q::WORKER_NAME;
    fn make() -> Self {
        Worker(Q::make())
    }
    fn add(&self, k: u64) {
        self.0.add(k);
    }
    fn get(&self) -> Option<u64> {
        self.0.get()
    }
    fn done(&self, k: u64) {
        self.0.done(k);
    }
    fn shut_down(&self, c: u64) {
        self.0.shut_down(c);
    }
    fn consume(&self) -> u64 {
        worker_loop(self.0.queue())
    }
}

fn worker_loop(q: &Queue<u64>) -> u64 {
    let mut n = 0u64;
    let mut next = q.get();
    while let Some(item) = next {
        black_box(*item);
        n += 1;
        next = item.done_and_get();
    }
    n
}

/// The straightforward implementation of client-go's semantics.
#[derive(Default)]
struct Naive {
    state: Mutex<NaiveState>,
    cond: Condvar,
}
#[derive(Default)]
struct NaiveState {
    queue: VecDeque<u64>,
    dirty: HashSet<u64>,
    processing: HashSet<u64>,
    shut: bool,
}
impl WorkQueue for Naive {
    const NAME: &'static str = "mutex_sets";
    fn make() -> Self {
        Naive::default()
    }
    fn add(&self, k: u64) {
        let mut s = self.state.lock().unwrap();
        if s.shut || !s.dirty.insert(k) {
            return;
        }
        if s.processing.contains(&k) {
            return;
        }
        s.queue.push_back(k);
        self.cond.notify_one();
    }
    fn get(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap();
        while s.queue.is_empty() && !s.shut {
            s = self.cond.wait(s).unwrap();
        }
        let k = s.queue.pop_front()?;
        s.processing.insert(k);
        s.dirty.remove(&k);
        Some(k)
    }
    fn done(&self, k: u64) {
        let mut s = self.state.lock().unwrap();
        s.processing.remove(&k);
        if s.dirty.contains(&k) {
            s.queue.push_back(k);
            self.cond.notify_one();
        }
    }
    fn shut_down(&self, _: u64) {
        self.state.lock().unwrap().shut = true;
        self.cond.notify_all();
    }
}

/// No dedup and no processing set: what a plain MPMC channel costs. Shutdown sends one
/// `u64::MAX` sentinel per consumer.
struct Channel(
    crossbeam_channel::Sender<u64>,
    crossbeam_channel::Receiver<u64>,
);
impl WorkQueue for Channel {
    const NAME: &'static str = "crossbeam_channel";
    fn make() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Channel(tx, rx)
    }
    #[inline]
    fn add(&self, k: u64) {
        let _ = self.0.send(k);
    }
    #[inline]
    fn get(&self) -> Option<u64> {
        self.1.recv().ok().filter(|&k| k != u64::MAX)
    }
    #[inline]
    fn done(&self, k: u64) {
        black_box(k);
    }
    fn shut_down(&self, consumers: u64) {
        for _ in 0..consumers {
            let _ = self.0.send(u64::MAX);
        }
    }
}

fn cycle<Q: WorkQueue>(c: &mut Criterion) {
    let q = Q::make();
    let mut k = 0u64;
    c.bench_function(&format!("workqueue/cycle/{}", Q::NAME), |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            q.add(black_box(k));
            let got = q.get().unwrap();
            q.done(got);
        })
    });
    q.shut_down(1);
}

/// Moves `ITEMS` distinct keys through a fresh queue with P producers and C consumers.
fn run<Q: WorkQueue>(p: u64, c: u64) -> Duration {
    let q = Arc::new(Q::make());
    let start = Instant::now();
    thread::scope(|s| {
        let consumers: Vec<_> = (0..c)
            .map(|_| {
                let q = &q;
                s.spawn(move || q.consume())
            })
            .collect();
        let producers: Vec<_> = (0..p)
            .map(|i| {
                let q = &q;
                s.spawn(move || {
                    let per = ITEMS / p;
                    for k in i * per..(i + 1) * per {
                        q.add(k);
                    }
                })
            })
            .collect();
        for t in producers {
            t.join().unwrap();
        }
        q.shut_down(c);
        let total: u64 = consumers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, ITEMS / p * p);
    });
    start.elapsed()
}

/// One throughput benchmark: `Q` moving [`ITEMS`] items with `p` producers and `n`
/// consumers.
fn throughput<Q: WorkQueue>(g: &mut BenchmarkGroup<'_, WallTime>, (p, n): (u64, u64)) {
    g.bench_with_input(
        BenchmarkId::new(Q::NAME, format!("{p}x{n}")),
        &(p, n),
        |b, &(p, n)| b.iter_custom(|iters| (0..iters).map(|_| run::<Q>(p, n)).sum()),
    );
}

fn benches(c: &mut Criterion) {
    cycle::<Gosync>(c);
    cycle::<GosyncMetrics>(c);
    cycle::<Naive>(c);
    cycle::<Channel>(c);
    let mut g = c.benchmark_group("workqueue/throughput");
    g.sample_size(10);
    // Each run is a fraction of a second: the same number of runs per sample.
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(ITEMS));
    // Shape by shape, so that each metered run follows its unmetered twin within seconds:
    // on a shared machine the load drifts over minutes, and the metrics cost is their
    // ratio.
    for shape in [(1u64, 1u64), (2, 2), (4, 4)] {
        throughput::<Gosync>(&mut g, shape);
        throughput::<GosyncMetrics>(&mut g, shape);
        throughput::<Worker<Gosync>>(&mut g, shape);
        throughput::<Worker<GosyncMetrics>>(&mut g, shape);
        throughput::<Naive>(&mut g, shape);
        throughput::<Channel>(&mut g, shape);
    }
    g.finish();
}

/// The delaying-queue benchmarks (see the module docs).
fn delaying(c: &mut Criterion) {
    const N: u64 = 1_000;
    const DELAY: Duration = Duration::from_secs(1);
    let mut g = c.benchmark_group("workqueue/delaying");
    g.throughput(Throughput::Elements(N));
    g.bench_function("add_after_fire", |b| {
        let fake = FakeClock::new();
        let q: Queue<u64> = Queue::builder().clock(fake.clock()).build();
        b.iter(|| {
            for k in 0..N {
                q.add_after(black_box(k), DELAY);
            }
            fake.advance(DELAY);
            for _ in 0..N {
                let k = q.get_detached().unwrap();
                q.done(&k);
            }
        });
        q.shut_down();
    });
    const QUEUES: usize = 100;
    g.throughput(Throughput::Elements(QUEUES as u64));
    g.bench_function(BenchmarkId::new("queues", QUEUES), |b| {
        let fake = FakeClock::new();
        let qs: Vec<Queue<u64>> = (0..QUEUES)
            .map(|_| Queue::builder().clock(fake.clock()).build())
            .collect();
        b.iter(|| {
            for q in &qs {
                q.add_after(black_box(1), DELAY);
            }
            fake.advance(DELAY);
            for q in &qs {
                let k = q.get_detached().unwrap();
                q.done(&k);
            }
        });
        for q in &qs {
            q.shut_down();
        }
    });
    g.finish();
}

criterion_group! {
    name = workqueue;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches, delaying
}
criterion_main!(workqueue);
