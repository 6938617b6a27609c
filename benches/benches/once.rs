//! Once fast path (already completed): gosync vs std `Once`, std `OnceLock`,
//! parking_lot `Once`, and gosync `OnceValue::get` vs std `OnceLock::get_or_init` and
//! `OnceLock::get`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gosync_benches::cpu_timed;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("once/fast_path");

    let once = gosync_once::Once::new();
    once.call_once(|| {});
    g.bench_function("gosync_once", |b| {
        b.iter(|| black_box(&once).call_once(|| black_box(())))
    });

    let once = std::sync::Once::new();
    once.call_once(|| {});
    g.bench_function("std_once", |b| {
        b.iter(|| black_box(&once).call_once(|| black_box(())))
    });

    let once = parking_lot::Once::new();
    once.call_once(|| {});
    g.bench_function("parking_lot_once", |b| {
        b.iter(|| black_box(&once).call_once(|| black_box(())))
    });

    let lock = std::sync::OnceLock::new();
    lock.get_or_init(|| 7u64);
    g.bench_function("std_once_lock", |b| {
        b.iter(|| *black_box(&lock).get_or_init(|| 7u64))
    });

    g.bench_function("std_once_lock_get", |b| {
        b.iter(|| *black_box(&lock).get().unwrap_or(&0))
    });

    let value = gosync_once::once_value(|| 7u64);
    value.get();
    g.bench_function("gosync_once_value", |b| b.iter(|| *black_box(&value).get()));

    // The same fast paths timed by the thread's CPU time (see `thread_time`).
    g.bench_function("std_once_lock_get_cpu", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                black_box(*black_box(&lock).get().unwrap_or(&0));
            })
        })
    });
    g.bench_function("gosync_once_value_cpu", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                black_box(*black_box(&value).get());
            })
        })
    });

    g.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
