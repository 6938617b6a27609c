//! A fixed workload for instruction counts of the delay path (not a timing benchmark):
//! `N` (the first argument) `add_after`s of distinct keys on a fake-clock queue, one
//! `advance` that makes them due, then a wait until the timer has moved every item into
//! the queue. Run it under `valgrind --tool=callgrind` at two sizes; the difference of the
//! totals divided by the difference of the sizes is the cost of one `add_after` plus its
//! due-move, with the fixed costs (thread start, queue build) cancelled out.
#![allow(missing_docs)]

use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::Queue;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let delay = Duration::from_secs(1);
    let fake = FakeClock::new();
    let q: Queue<u64> = Queue::builder().clock(fake.clock()).build();
    for k in 0..n {
        q.add_after(std::hint::black_box(k), delay);
    }
    fake.advance(delay);
    // Few polls: the sleep lets the timer thread run (valgrind runs one thread at a time).
    while q.len() < n as usize {
        std::thread::sleep(Duration::from_millis(1));
    }
    q.shut_down();
}
