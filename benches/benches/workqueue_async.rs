//! Work queue, async: `Queue::get_async` vs `tokio::sync::mpsc` (bounded and unbounded;
//! no dedup and no processing set: the upper bound), on a tokio multi-thread runtime.
//!
//! `PxC`: P producer tasks send (add) distinct `u64` keys, C consumer tasks receive
//! (`get_async` + the guard's drop, which is the `done`) until the queue is shut down
//! and drained (the channel closed and empty). Reported per item (the run's wall time
//! divided by the items), one run of `ITEMS` items per sample, a fresh queue or channel
//! each run.
//!
//! tokio's `mpsc` has a single receiver: with more than one consumer the receiver is
//! shared behind a `tokio::sync::Mutex` (the usual way), so `1P1C` and `4P1C` are the
//! like-for-like comparisons; `4P4C` shows the queue's own fan-out next to that.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gosync_workqueue::Queue;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, Mutex};

/// Items per run.
const ITEMS: u64 = 100_000;
/// The bounded channel's capacity.
const BOUND: usize = 1024;

/// (producers, consumers)
const SHAPES: [(u64, u64); 3] = [(1, 1), (4, 1), (4, 4)];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

/// One run of the gosync queue: P producer tasks, C consumer tasks.
async fn gosync_run(p: u64, c: u64) {
    let q: Queue<u64> = Queue::new();
    let consumers: Vec<_> = (0..c)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while let Some(item) = q.get_async().await {
                    black_box(*item);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let producers: Vec<_> = (0..p)
        .map(|i| {
            let q = q.clone();
            tokio::spawn(async move {
                for k in (i..ITEMS).step_by(p as usize) {
                    q.add(k);
                }
            })
        })
        .collect();
    for t in producers {
        t.await.unwrap();
    }
    q.shut_down();
    let mut n = 0;
    for t in consumers {
        n += t.await.unwrap();
    }
    assert_eq!(n, ITEMS);
}

/// The receiving side of a channel, shared by C consumers when C > 1.
async fn mpsc_consume(rx: Arc<Mutex<RecvSide>>) -> u64 {
    let mut n = 0u64;
    loop {
        let k = rx.lock().await.recv().await;
        match k {
            Some(k) => {
                black_box(k);
                n += 1;
            }
            None => return n,
        }
    }
}

enum RecvSide {
    Bounded(mpsc::Receiver<u64>),
    Unbounded(mpsc::UnboundedReceiver<u64>),
}

impl RecvSide {
    async fn recv(&mut self) -> Option<u64> {
        match self {
            RecvSide::Bounded(rx) => rx.recv().await,
            RecvSide::Unbounded(rx) => rx.recv().await,
        }
    }
}

/// One run of a tokio channel; `bounded` picks `channel(BOUND)` over `unbounded_channel`.
async fn mpsc_run(p: u64, c: u64, bounded: bool) {
    let consumers: Vec<_>;
    let producers: Vec<_>;
    if bounded {
        let (tx, rx) = mpsc::channel::<u64>(BOUND);
        if c == 1 {
            let mut rx = rx;
            consumers = vec![tokio::spawn(async move {
                let mut n = 0u64;
                while let Some(k) = rx.recv().await {
                    black_box(k);
                    n += 1;
                }
                n
            })];
        } else {
            let rx = Arc::new(Mutex::new(RecvSide::Bounded(rx)));
            consumers = (0..c)
                .map(|_| tokio::spawn(mpsc_consume(Arc::clone(&rx))))
                .collect();
        }
        producers = (0..p)
            .map(|i| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for k in (i..ITEMS).step_by(p as usize) {
                        tx.send(k).await.unwrap();
                    }
                })
            })
            .collect();
    } else {
        let (tx, rx) = mpsc::unbounded_channel::<u64>();
        if c == 1 {
            let mut rx = rx;
            consumers = vec![tokio::spawn(async move {
                let mut n = 0u64;
                while let Some(k) = rx.recv().await {
                    black_box(k);
                    n += 1;
                }
                n
            })];
        } else {
            let rx = Arc::new(Mutex::new(RecvSide::Unbounded(rx)));
            consumers = (0..c)
                .map(|_| tokio::spawn(mpsc_consume(Arc::clone(&rx))))
                .collect();
        }
        producers = (0..p)
            .map(|i| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for k in (i..ITEMS).step_by(p as usize) {
                        tx.send(k).unwrap();
                    }
                })
            })
            .collect();
    }
    // The senders left are the producers' clones: the channel closes when they finish.
    for t in producers {
        t.await.unwrap();
    }
    let mut n = 0;
    for t in consumers {
        n += t.await.unwrap();
    }
    assert_eq!(n, ITEMS);
}

/// Times `iters` runs of `run`, each of `ITEMS` items.
fn timed<F: std::future::Future<Output = ()>>(
    rt: &Runtime,
    iters: u64,
    mut run: impl FnMut() -> F,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        rt.block_on(run());
    }
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("workqueue_async");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    for (p, cons) in SHAPES {
        let shape = format!("{p}P{cons}C");
        g.bench_with_input(BenchmarkId::new("gosync_get_async", &shape), &(), |b, _| {
            b.iter_custom(|iters| timed(&rt, iters, || gosync_run(p, cons)))
        });
        g.bench_with_input(
            BenchmarkId::new("tokio_mpsc_bounded", &shape),
            &(),
            |b, _| b.iter_custom(|iters| timed(&rt, iters, || mpsc_run(p, cons, true))),
        );
        g.bench_with_input(
            BenchmarkId::new("tokio_mpsc_unbounded", &shape),
            &(),
            |b, _| b.iter_custom(|iters| timed(&rt, iters, || mpsc_run(p, cons, false))),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = throughput
}
criterion_main!(benches);
