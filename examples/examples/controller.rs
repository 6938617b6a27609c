//! A Kubernetes-controller-style demo of the work queue.
//!
//! An informer-like producer emits keyed events with many duplicates (several updates of
//! the same object arrive before it is reconciled); a `RateLimitingQueue` with the default
//! controller limiter collapses them; four workers reconcile keys through the `get()`
//! guard. Some reconciles fail on their first attempt and are retried with
//! `add_rate_limited` (per-item exponential back-off), then `forget` on success. Once the
//! informer is done, `wait_idle` waits until nothing is queued, processing or waiting out
//! a back-off (the retries included, no polling), and `shut_down_with_drain` stops the
//! workers gracefully.
//!
//! Run: `cargo run --release -p gosync-examples --example controller`

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use gosync_workqueue::RateLimitingQueue;

const OBJECTS: u64 = 2_000;
const EVENTS: u64 = 200_000;
const WORKERS: usize = 4;
/// Objects whose key is a multiple of this fail their first reconcile (kept small: the
/// default limiter's overall bucket allows 100 retries at once, then 10 per second).
const FAIL_EVERY: u64 = 40;

#[derive(Default)]
struct Stats {
    reconciles: AtomicU64,
    failures: AtomicU64,
    retries_seen: AtomicU64,
}

fn main() {
    let queue: RateLimitingQueue<String> = RateLimitingQueue::new();
    let stats = Arc::new(Stats::default());
    let synced = Arc::new(Mutex::new(HashSet::new()));
    let failed_once = Arc::new(Mutex::new(HashSet::new()));
    let start = Instant::now();

    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (queue, stats) = (queue.clone(), stats.clone());
            let (synced, failed_once) = (synced.clone(), failed_once.clone());
            thread::spawn(move || {
                // The guard marks the key done when it drops, even if reconcile panics.
                while let Some(key) = queue.get() {
                    stats.reconciles.fetch_add(1, Relaxed);
                    if queue.num_requeues(&*key) > 0 {
                        stats.retries_seen.fetch_add(1, Relaxed);
                    }
                    let id: u64 = key["obj-".len()..].parse().expect("our own key format");
                    let fails = id % FAIL_EVERY == 0 && failed_once.lock().unwrap().insert(id);
                    if fails {
                        stats.failures.fetch_add(1, Relaxed);
                        queue.add_rate_limited(key.clone()); // retried after a back-off
                    } else {
                        queue.forget(&*key); // success: reset its back-off
                        synced.lock().unwrap().insert(id);
                    }
                }
            })
        })
        .collect();

    // The informer: events for OBJECTS keys, in bursts of updates to the same object.
    let informer = {
        let queue = queue.clone();
        thread::spawn(move || {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for i in 0..EVENTS {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = if i < OBJECTS { i } else { x % OBJECTS };
                queue.add(format!("obj-{id}"));
            }
        })
    };
    informer.join().unwrap();
    let produced = start.elapsed();

    // Wait until nothing is queued, processing or waiting out a back-off (the retries
    // included), then drain and stop.
    queue.wait_idle();
    queue.shut_down_with_drain();
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = start.elapsed();

    let reconciles = stats.reconciles.load(Relaxed);
    println!("controller demo: {WORKERS} workers, {OBJECTS} objects, {EVENTS} events");
    println!("  events produced in      {produced:?}");
    println!(
        "  reconciles              {reconciles} ({:.1}x fewer than events: duplicates collapsed)",
        EVENTS as f64 / reconciles as f64
    );
    println!("  failures (retried)      {}", stats.failures.load(Relaxed));
    println!(
        "  reconciles of retries   {}",
        stats.retries_seen.load(Relaxed)
    );
    let in_sync = synced.lock().unwrap().len();
    println!("  objects in sync         {in_sync}");
    println!("  total time              {elapsed:?}");
    println!(
        "  event throughput        {:.2} M events/s",
        EVENTS as f64 / produced.as_secs_f64() / 1e6
    );
    if in_sync != OBJECTS as usize {
        eprintln!("FAILED: {in_sync} of {OBJECTS} objects in sync after the queue went idle");
        std::process::exit(1);
    }
}
