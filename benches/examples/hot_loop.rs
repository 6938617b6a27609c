//! The single-threaded hot paths in a plain loop, for instruction counts under
//! callgrind (criterion's harness would drown them):
//!
//! ```sh
//! cargo build --release -p gosync-benches --example hot_loop
//! for n in 100000 200000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n target/release/examples/hot_loop bucket_allow $n
//! done
//! ```
//!
//! Instructions per operation = (total at 200 000 − total at 100 000) / 100 000, which
//! subtracts the setup (process start, clock calibration, the pool's first objects).
//! Outside callgrind, it prints the CPU time per operation (a quick check, not a
//! benchmark: criterion's benches are the reference).
//! Operations: `bucket_allow`, `governor_check`, `pool_get_drop`, `pool_take_put`,
//! `once_value_get`, `once_lock_get`, `once_lock_get_or_init`; and pool variants:
//! `xp_noreset` (take + put of a `Vec`, cleared by hand), `xp_box` and `xp_box_guard`
//! (take + put, and get + drop, of Go's object, a `Box<[u8; 4096]>`); and contexts:
//! `ctx_cancel` (`with_cancel` under a cancellable parent, cancel, drop), `ctx_is_done`,
//! `ctx_done_ready` (one poll of `done()` on a cancelled context) and `ctx_wake_round`
//! (a `done()` future polled pending, then the cancel that wakes it, then ready).

use std::hint::black_box;
use std::num::NonZeroU32;

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().expect("usage: hot_loop OP ITERATIONS");
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .expect("usage: hot_loop OP ITERATIONS");
    let start = cpu_time();
    match op.as_str() {
        "bucket_allow" => {
            let b = gosync_ratelimit::TokenBucket::new(
                gosync_ratelimit::Limit::per_second(1_000_000_000),
                1000,
            )
            .unwrap();
            for _ in 0..n {
                black_box(black_box(&b).allow());
            }
        }
        "governor_check" => {
            let quota = governor::Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
                .allow_burst(NonZeroU32::new(1000).unwrap());
            let g = governor::RateLimiter::direct(quota);
            for _ in 0..n {
                black_box(black_box(&g).check().is_ok());
            }
        }
        "pool_get_drop" | "pool_take_put" => {
            let p = gosync_pool::Pool::builder(|| Vec::<u8>::with_capacity(4096))
                .reset(Vec::clear)
                .build();
            if op == "pool_get_drop" {
                for _ in 0..n {
                    let mut b = black_box(&p).get();
                    b.push(1);
                    black_box(&mut *b);
                }
            } else {
                for _ in 0..n {
                    let mut b = black_box(&p).take();
                    b.push(1);
                    black_box(&mut b);
                    black_box(&p).put(b);
                }
            }
        }
        "xp_noreset" => {
            let p = gosync_pool::Pool::new(|| Vec::<u8>::with_capacity(4096));
            for _ in 0..n {
                let mut b = black_box(&p).take();
                b.clear();
                b.push(1);
                black_box(&mut b);
                black_box(&p).put(b);
            }
        }
        "xp_box" => {
            let p = gosync_pool::Pool::new(|| Box::new([0u8; 4096]));
            for i in 0..n {
                let mut b = black_box(&p).take();
                b[0] = i as u8;
                black_box(&mut b);
                black_box(&p).put(b);
            }
        }
        "xp_box_guard" => {
            let p = gosync_pool::Pool::new(|| Box::new([0u8; 4096]));
            for i in 0..n {
                let mut b = black_box(&p).get();
                b[0] = i as u8;
                black_box(&mut *b);
            }
        }
        "once_value_get" => {
            let v = gosync_once::once_value(|| 7u64);
            for _ in 0..n {
                black_box(*black_box(&v).get());
            }
        }
        "once_lock_get" | "once_lock_get_or_init" => {
            let l = std::sync::OnceLock::new();
            l.get_or_init(|| 7u64);
            if op == "once_lock_get" {
                for _ in 0..n {
                    black_box(*black_box(&l).get().unwrap_or(&0));
                }
            } else {
                for _ in 0..n {
                    black_box(*black_box(&l).get_or_init(|| 7u64));
                }
            }
        }
        "ctx_cancel" => {
            let (parent, _cancel) = gosync_context::with_cancel(&gosync_context::background());
            for _ in 0..n {
                let (ctx, cancel) = gosync_context::with_cancel(black_box(&parent));
                cancel.cancel();
                black_box(&ctx);
            }
        }
        "ctx_is_done" => {
            let (ctx, _cancel) = gosync_context::with_cancel(&gosync_context::background());
            for _ in 0..n {
                black_box(black_box(&ctx).is_done());
            }
        }
        "ctx_done_ready" | "ctx_wake_round" => {
            use std::future::Future;
            use std::task::{Context as TaskContext, Poll, Wake, Waker};
            struct Count(std::sync::atomic::AtomicU64);
            impl Wake for Count {
                fn wake(self: std::sync::Arc<Self>) {
                    self.wake_by_ref();
                }
                fn wake_by_ref(self: &std::sync::Arc<Self>) {
                    self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicU64::new(0)));
            let waker = Waker::from(std::sync::Arc::clone(&count));
            let mut cx = TaskContext::from_waker(&waker);
            let (parent, _cancel) = gosync_context::with_cancel(&gosync_context::background());
            if op == "ctx_done_ready" {
                let (ctx, cancel) = gosync_context::with_cancel(&parent);
                cancel.cancel();
                for _ in 0..n {
                    let mut done = std::pin::pin!(black_box(&ctx).done());
                    assert!(done.as_mut().poll(&mut cx).is_ready());
                }
            } else {
                for _ in 0..n {
                    let (ctx, cancel) = gosync_context::with_cancel(black_box(&parent));
                    let mut done = std::pin::pin!(ctx.done());
                    assert_eq!(done.as_mut().poll(&mut cx), Poll::Pending);
                    cancel.cancel();
                    assert!(done.as_mut().poll(&mut cx).is_ready());
                }
                assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), n);
            }
        }
        _ => panic!("unknown operation {op}"),
    }
    // CPU time per operation, to stderr (meaningless under callgrind).
    eprintln!(
        "{op}: {:.2} ns/op",
        (cpu_time() - start).as_nanos() as f64 / n as f64
    );
}

/// The thread's CPU time (wall time where there is no thread CPU clock): time spent
/// descheduled on a loaded machine does not count.
fn cpu_time() -> std::time::Duration {
    #[cfg(target_os = "linux")]
    // SAFETY: `timespec` is plain data; `clock_gettime` writes it.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}
