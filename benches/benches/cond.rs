//! Cond: the classic bounded buffer (one mutex, two conditions: not-full, not-empty;
//! signal one while holding the lock), 5 producers and 3 consumers, capacity 3 and 1024,
//! in items/s: gosync `Cond` vs std `Mutex` + `Condvar`, parking_lot `Mutex` + `Condvar`,
//! and crossbeam-channel's bounded channel (what a Rust user would pick instead).
//!
//! The workload is `cond_mpmc` of `../shared/go-reference` (Go's `sync.Mutex` +
//! `sync.Cond`): producers put the values 1..=N, consumers get until a poison value 0
//! (the main thread puts one per consumer after the producers finish); wall clock from
//! spawn to the last consumer's exit; N = 400,000 at capacity 3, 2,000,000 at 1024.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};

const PRODUCERS: u64 = 5;
const CONSUMERS: u64 = 3;

/// A bounded buffer of `u64`: the same two operations for every contender.
trait Bounded: Send + Sync + 'static {
    const NAME: &'static str;
    fn with_capacity(cap: usize) -> Self;
    /// Blocks while the buffer is full.
    fn put(&self, v: u64);
    /// Blocks while the buffer is empty.
    fn get(&self) -> u64;
}

mod gosync {
    use super::*;
    use gosync_cond::Cond;
    use parking_lot::Mutex;

    pub(crate) struct Buffer {
        buf: Mutex<VecDeque<u64>>,
        cap: usize,
        not_full: Cond,
        not_empty: Cond,
    }

    impl Bounded for Buffer {
        const NAME: &'static str = "gosync Cond";
        fn with_capacity(cap: usize) -> Self {
            Buffer {
                buf: Mutex::new(VecDeque::with_capacity(cap)),
                cap,
                not_full: Cond::new(),
                not_empty: Cond::new(),
            }
        }
        fn put(&self, v: u64) {
            let mut g = self.buf.lock();
            while g.len() == self.cap {
                self.not_full.wait(&mut g);
            }
            g.push_back(v);
            self.not_empty.signal();
        }
        fn get(&self) -> u64 {
            let mut g = self.buf.lock();
            while g.is_empty() {
                self.not_empty.wait(&mut g);
            }
            let v = g.pop_front().unwrap();
            self.not_full.signal();
            v
        }
    }
}

mod std_condvar {
    use super::*;
    use std::sync::{Condvar, Mutex};

    pub(crate) struct Buffer {
        buf: Mutex<VecDeque<u64>>,
        cap: usize,
        not_full: Condvar,
        not_empty: Condvar,
    }

    impl Bounded for Buffer {
        const NAME: &'static str = "std Mutex+Condvar";
        fn with_capacity(cap: usize) -> Self {
            Buffer {
                buf: Mutex::new(VecDeque::with_capacity(cap)),
                cap,
                not_full: Condvar::new(),
                not_empty: Condvar::new(),
            }
        }
        fn put(&self, v: u64) {
            let mut g = self.buf.lock().unwrap();
            while g.len() == self.cap {
                g = self.not_full.wait(g).unwrap();
            }
            g.push_back(v);
            self.not_empty.notify_one();
        }
        fn get(&self) -> u64 {
            let mut g = self.buf.lock().unwrap();
            while g.is_empty() {
                g = self.not_empty.wait(g).unwrap();
            }
            let v = g.pop_front().unwrap();
            self.not_full.notify_one();
            v
        }
    }
}

mod parking_lot_condvar {
    use super::*;
    use parking_lot::{Condvar, Mutex};

    pub(crate) struct Buffer {
        buf: Mutex<VecDeque<u64>>,
        cap: usize,
        not_full: Condvar,
        not_empty: Condvar,
    }

    impl Bounded for Buffer {
        const NAME: &'static str = "parking_lot Mutex+Condvar";
        fn with_capacity(cap: usize) -> Self {
            Buffer {
                buf: Mutex::new(VecDeque::with_capacity(cap)),
                cap,
                not_full: Condvar::new(),
                not_empty: Condvar::new(),
            }
        }
        fn put(&self, v: u64) {
            let mut g = self.buf.lock();
            while g.len() == self.cap {
                self.not_full.wait(&mut g);
            }
            g.push_back(v);
            self.not_empty.notify_one();
        }
        fn get(&self) -> u64 {
            let mut g = self.buf.lock();
            while g.is_empty() {
                self.not_empty.wait(&mut g);
            }
            let v = g.pop_front().unwrap();
            self.not_full.notify_one();
            v
        }
    }
}

mod channel {
    use super::*;
    use crossbeam_channel::{bounded, Receiver, Sender};

    pub(crate) struct Buffer(Sender<u64>, Receiver<u64>);

    impl Bounded for Buffer {
        const NAME: &'static str = "crossbeam-channel bounded";
        fn with_capacity(cap: usize) -> Self {
            let (tx, rx) = bounded(cap);
            Buffer(tx, rx)
        }
        fn put(&self, v: u64) {
            self.0.send(v).unwrap();
        }
        fn get(&self) -> u64 {
            self.1.recv().unwrap()
        }
    }
}

/// One run of the workload; checks that every item arrived exactly once (by count and
/// sum) and returns the wall time.
fn run<B: Bounded>(cap: usize, items: u64) -> Duration {
    let per = items / PRODUCERS;
    let b = Arc::new(B::with_capacity(cap));
    let start = Instant::now();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                let (mut n, mut sum) = (0u64, 0u64);
                loop {
                    let v = b.get();
                    if v == 0 {
                        return (n, sum);
                    }
                    n += 1;
                    sum += v;
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                for i in 0..per {
                    b.put(p * per + i + 1);
                }
            })
        })
        .collect();
    for t in producers {
        t.join().unwrap();
    }
    for _ in 0..CONSUMERS {
        b.put(0);
    }
    let (n, sum) = consumers
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(n, s), (a, b)| (n + a, s + b));
    let elapsed = start.elapsed();
    let total = per * PRODUCERS;
    assert_eq!(
        (n, sum),
        (total, total * (total + 1) / 2),
        "items lost or duplicated"
    );
    elapsed
}

fn bench<B: Bounded>(g: &mut BenchmarkGroup<'_, WallTime>, cap: usize, items: u64) {
    g.bench_with_input(BenchmarkId::new(B::NAME, cap), &cap, |b, &cap| {
        b.iter_custom(|iters| (0..iters).map(|_| run::<B>(cap, items)).sum())
    });
}

fn benches(c: &mut Criterion) {
    // Go's item counts (`cond_mpmc` in the go-reference); capacity 3 is the slow one.
    for (cap, items) in [(3usize, 400_000u64), (1024, 2_000_000)] {
        let mut g = c.benchmark_group("cond/bounded_buffer_5p3c");
        g.sample_size(10);
        // Each run is a fraction of a second to seconds: the same number of runs per sample.
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(items));
        bench::<gosync::Buffer>(&mut g, cap, items);
        bench::<std_condvar::Buffer>(&mut g, cap, items);
        bench::<parking_lot_condvar::Buffer>(&mut g, cap, items);
        bench::<channel::Buffer>(&mut g, cap, items);
        g.finish();
    }
}

criterion_group! {
    name = cond;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    targets = benches
}
criterion_main!(cond);
