//! Once fast path (already completed): gosync vs std `Once`, std `OnceLock`,
//! parking_lot `Once`, and gosync `OnceValue::get` vs std `OnceLock::get_or_init` and
//! `OnceLock::get`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

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

/// The calling thread's CPU time (wall time where there is no thread CPU clock): the
/// `*_cpu` variants time with it, so that time spent descheduled on a shared,
/// overloaded machine does not count.
fn thread_time() -> Duration {
    #[cfg(target_os = "linux")]
    // SAFETY: `timespec` is plain data; `clock_gettime` writes it.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}

/// `f` run `iters` times, timed by the thread's CPU time.
fn cpu_timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let t = thread_time();
    for _ in 0..iters {
        f();
    }
    thread_time() - t
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
