//! `Queue::get_async` vs kube-runtime's `scheduler` (the dedup + delay stream a kube-rs
//! `Controller` is built on), one producer task and one consumer task on a tokio
//! multi-thread runtime (2 workers), distinct `u64` keys due at once: per item, the
//! median of 11 runs of 100,000 items. `tokio::sync::mpsc` (unbounded) for reference.
//!
//! Outside the root workspace (kube-runtime's dependency tree is large): run with
//! `cargo run --release` in `benches/kube`.

use std::hint::black_box;
use std::time::Instant;

use futures::StreamExt;
use gosync_workqueue::Queue;
use kube_runtime::scheduler::{scheduler, ScheduleRequest};

const ITEMS: u64 = 100_000;
const RUNS: usize = 11;

async fn gosync_run() {
    let q: Queue<u64> = Queue::new();
    let consumer = {
        let q = q.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(item) = q.get_async().await {
                black_box(*item);
                n += 1;
            }
            n
        })
    };
    let producer = {
        let q = q.clone();
        tokio::spawn(async move {
            for k in 0..ITEMS {
                q.add(k);
            }
        })
    };
    producer.await.unwrap();
    q.shut_down();
    assert_eq!(consumer.await.unwrap(), ITEMS);
}

async fn kube_run() {
    let (tx, rx) = futures::channel::mpsc::unbounded::<ScheduleRequest<u64>>();
    let consumer = tokio::spawn(async move {
        let mut sched = std::pin::pin!(scheduler(rx));
        // The scheduler ends as soon as its request stream does, dropping what it still
        // holds: count the items instead of waiting for the end.
        let mut n = 0u64;
        while n < ITEMS {
            black_box(sched.next().await.expect("scheduler ended early"));
            n += 1;
        }
        n
    });
    let producer = tokio::spawn(async move {
        for k in 0..ITEMS {
            let run_at = tokio::time::Instant::now();
            tx.unbounded_send(ScheduleRequest { message: k, run_at }).unwrap();
        }
        tx // kept open until the consumer has everything
    });
    let tx = producer.await.unwrap();
    assert_eq!(consumer.await.unwrap(), ITEMS);
    drop(tx);
}

async fn mpsc_run() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let consumer = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(k) = rx.recv().await {
            black_box(k);
            n += 1;
        }
        n
    });
    let producer = tokio::spawn(async move {
        for k in 0..ITEMS {
            tx.send(k).unwrap();
        }
    });
    producer.await.unwrap();
    assert_eq!(consumer.await.unwrap(), ITEMS);
}

fn median_ns_per_item<F: std::future::Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    mut run: impl FnMut() -> F,
) -> f64 {
    rt.block_on(run()); // warm-up
    let mut v: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            rt.block_on(run());
            start.elapsed().as_nanos() as f64 / ITEMS as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[RUNS / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    // Interleaved, so that a burst of machine noise hits all three alike.
    let (mut g, mut k, mut m) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        g.push(median_ns_per_item(&rt, gosync_run));
        k.push(median_ns_per_item(&rt, kube_run));
        m.push(median_ns_per_item(&rt, mpsc_run));
    }
    for (name, v) in [("gosync get_async", &g), ("kube-runtime scheduler", &k), ("tokio mpsc unbounded", &m)] {
        let mut v = v.clone();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("1P1C {name:<24} {:>7.0} ns/item (medians of 3 rounds: {v:.0?})", v[1]);
    }
}
