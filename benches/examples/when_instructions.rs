//! A fixed workload for instruction counts of the per-item exponential limiter's `when`
//! (not a timing benchmark): `N` (the first argument) `when` calls over 1,000 `String`
//! keys (each key fails N / 1,000 times). Run it under `valgrind --tool=callgrind` at two
//! sizes; the difference of the totals divided by the difference of the sizes is the
//! cost of one `when`, with the fixed costs (key creation, first records) cancelled out.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use gosync_ratelimit::{ExponentialLimiter, RateLimiter};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let keys: Vec<String> = (0..1_000).map(|i| format!("ns/pod-{i}")).collect();
    let limiter = ExponentialLimiter::new(Duration::from_millis(5), Duration::from_secs(1000));
    let mut total = Duration::ZERO;
    for i in 0..n {
        total += limiter.when(black_box(&keys[i % keys.len()]));
    }
    black_box(total);
}
