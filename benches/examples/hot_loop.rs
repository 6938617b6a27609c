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
//! Operations: `bucket_allow`, `governor_check`, `pool_get_drop`, `pool_take_put`,
//! `once_value_get`, `once_lock_get`, `once_lock_get_or_init`.

use std::hint::black_box;
use std::num::NonZeroU32;

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().expect("usage: hot_loop OP ITERATIONS");
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .expect("usage: hot_loop OP ITERATIONS");
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
        _ => panic!("unknown operation {op}"),
    }
}
