//! Rate limiters: gosync vs a `Mutex<HashMap>` limiter (what client-go does) and governor.
//!
//! * `exp_when/{one_key,10k_keys}`: one thread calling the exponential limiter's `when`
//!   on a single key, or round-robin over 10 000 keys.
//! * `exp_when_2t/{one_key,10k_keys}`: the same from two threads at once (each starting
//!   at a different key); the time per iteration is the wall time per call *per thread*.
//! * `bucket_allow`: one thread calling `allow` on a token bucket that practically never
//!   runs dry, vs governor's direct (un-keyed) limiter with the same quota; the `_cpu`
//!   variants time by the thread's CPU time (see `thread_time`).
//! * `wait_ready`: the ready path of a wait on the same never-dry bucket: the future of
//!   `TokenBucket::wait_async` polled once (a no-op waker; it completes on that poll),
//!   vs the blocking `TokenBucket::wait`, vs governor's `until_ready` future polled
//!   once the same way; `_cpu` variants as above.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gosync_benches::cpu_timed;
use gosync_ratelimit::{ExponentialLimiter, Limit, RateLimiter, TokenBucket};

const KEYS: u64 = 10_000;
const BASE: Duration = Duration::from_millis(5);
const MAX: Duration = Duration::from_secs(1000);

/// The client-go design: one mutex around one map, the same exact integer delay.
struct MutexHashMap<K> {
    failures: Mutex<HashMap<K, u32>>,
    base: Duration,
    max: Duration,
}

impl<K: Hash + Eq + Clone + Send + Sync> RateLimiter<K> for MutexHashMap<K> {
    fn when(&self, item: &K) -> Duration {
        let exp = {
            let mut map = self.failures.lock().unwrap();
            let n = map.entry(item.clone()).or_insert(0);
            let exp = *n;
            *n = n.saturating_add(1);
            exp
        };
        let ns = self.base.as_nanos();
        let d = if ns == 0 {
            0
        } else if exp < ns.leading_zeros() {
            ns << exp
        } else {
            u128::MAX
        };
        let d = d.min(self.max.as_nanos());
        Duration::new((d / 1_000_000_000) as u64, (d % 1_000_000_000) as u32)
    }
    fn forget(&self, item: &K) {
        self.failures.lock().unwrap().remove(item);
    }
    fn num_requeues(&self, item: &K) -> u32 {
        self.failures
            .lock()
            .unwrap()
            .get(item)
            .copied()
            .unwrap_or(0)
    }
}

fn contenders() -> Vec<(&'static str, Arc<dyn RateLimiter<u64>>)> {
    vec![
        ("gosync", Arc::new(ExponentialLimiter::new(BASE, MAX))),
        (
            "mutex_hashmap",
            Arc::new(MutexHashMap {
                failures: Mutex::new(HashMap::new()),
                base: BASE,
                max: MAX,
            }),
        ),
    ]
}

/// Warms a limiter so the 10k-key case measures lookups of existing keys.
fn prefill(l: &dyn RateLimiter<u64>) {
    for k in 0..KEYS {
        l.when(&k);
    }
}

fn exp_when(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit/exp_when");
    for (name, l) in contenders() {
        group.bench_function(BenchmarkId::new("one_key", name), |b| {
            b.iter(|| black_box(l.when(black_box(&7))))
        });
    }
    for (name, l) in contenders() {
        prefill(&*l);
        let mut k = 0u64;
        group.bench_function(BenchmarkId::new("10k_keys", name), |b| {
            b.iter(|| {
                k = if k + 1 == KEYS { 0 } else { k + 1 };
                black_box(l.when(&k))
            })
        });
    }
    group.finish();
}

fn run_threads(l: &Arc<dyn RateLimiter<u64>>, threads: u64, iters: u64, keys: u64) -> Duration {
    let start = Arc::new(Barrier::new(threads as usize + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (l, start) = (Arc::clone(l), Arc::clone(&start));
            std::thread::spawn(move || {
                let mut k = (t * keys / threads) % keys;
                start.wait();
                for _ in 0..iters {
                    k = if k + 1 == keys { 0 } else { k + 1 };
                    black_box(l.when(&k));
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
}

fn exp_when_2t(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit/exp_when_2t");
    for (keys, label) in [(1, "one_key"), (KEYS, "10k_keys")] {
        for (name, l) in contenders() {
            if keys > 1 {
                prefill(&*l);
            }
            group.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter_custom(|iters| run_threads(&l, 2, iters, keys))
            });
        }
    }
    group.finish();
}

fn bucket_allow(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit/bucket_allow");
    let gosync = TokenBucket::new(Limit::per_second(1_000_000_000), 1000).unwrap();
    group.bench_function("gosync", |b| b.iter(|| black_box(gosync.allow())));
    let quota = governor::Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
        .allow_burst(NonZeroU32::new(1000).unwrap());
    let gov = governor::RateLimiter::direct(quota);
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check().is_ok())));
    group.bench_function("gosync_cpu", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                black_box(gosync.allow());
            })
        })
    });
    group.bench_function("governor_cpu", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                black_box(gov.check().is_ok());
            })
        })
    });
    group.finish();
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `f` once; it must be ready (the bucket never runs dry).
#[inline]
fn ready<F: Future>(f: F, cx: &mut Context<'_>) {
    let f = std::pin::pin!(f);
    match f.poll(cx) {
        Poll::Ready(v) => drop(black_box(v)),
        Poll::Pending => panic!("the bucket ran dry"),
    }
}

fn wait_ready(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit/wait_ready");
    let gosync = TokenBucket::new(Limit::per_second(1_000_000_000), 1000).unwrap();
    let quota = governor::Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
        .allow_burst(NonZeroU32::new(1000).unwrap());
    let gov = governor::RateLimiter::direct(quota);
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    group.bench_function("gosync_wait_async", |b| {
        b.iter(|| ready(gosync.wait_async(), &mut cx))
    });
    group.bench_function("gosync_wait", |b| b.iter(|| black_box(gosync.wait())));
    group.bench_function("governor_until_ready", |b| {
        b.iter(|| ready(gov.until_ready(), &mut cx))
    });
    group.bench_function("gosync_wait_async_cpu", |b| {
        b.iter_custom(|n| cpu_timed(n, || ready(gosync.wait_async(), &mut cx)))
    });
    group.bench_function("gosync_wait_cpu", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                black_box(gosync.wait()).unwrap();
            })
        })
    });
    group.bench_function("governor_until_ready_cpu", |b| {
        b.iter_custom(|n| cpu_timed(n, || ready(gov.until_ready(), &mut cx)))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    exp_when(c);
    exp_when_2t(c);
    bucket_allow(c);
    wait_ready(c);
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
