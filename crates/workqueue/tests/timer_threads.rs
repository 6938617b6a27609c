//! Every delaying queue of a clock shares one timer thread (issue 20, item 11).
//!
//! One test in its own binary: it counts the process's threads (`/proc/self/task`), which
//! other tests running in parallel would disturb.
#![cfg(all(target_os = "linux", not(loom), not(miri)))]

use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::Queue;

const QUEUES: usize = 1_000;
/// A real-time hang guard only; nothing is timed.
const HANG: Duration = Duration::from_secs(30);

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

#[test]
fn a_thousand_delaying_queues_use_one_timer_thread_per_clock() {
    // The real clock: one process-wide timer thread.
    let before = threads();
    let qs: Vec<Queue<u32>> = (0..QUEUES).map(|_| Queue::new()).collect();
    for (i, q) in qs.iter().enumerate() {
        q.add_after(i as u32, Duration::from_secs(3600));
    }
    let real = threads() - before;
    assert!(
        real <= 1,
        "{QUEUES} real-clock delaying queues run {real} threads"
    );
    for q in &qs {
        assert_eq!(q.waiting_len(), 1);
    }
    drop(qs);

    // One fake clock shared by 1,000 queues: one timer thread, one waiter on the clock.
    let before = threads();
    let fake = FakeClock::new();
    let qs: Vec<Queue<u32>> = (0..QUEUES)
        .map(|_| Queue::builder().clock(fake.clock()).build())
        .collect();
    for (i, q) in qs.iter().enumerate() {
        q.add_after(i as u32, Duration::from_secs(1 + (i % 7) as u64));
    }
    let fake_threads = threads().saturating_sub(before);
    assert!(
        fake_threads <= 1,
        "{QUEUES} fake-clock delaying queues run {fake_threads} threads"
    );
    assert!(fake.block_until_waiters(1, HANG));
    assert_eq!(fake.waiters(), 1, "one waiter per clock, not per queue");
    fake.advance(Duration::from_secs(7));
    for (i, q) in qs.iter().enumerate() {
        let got = q.get_timeout(HANG).expect("the timer moved every due item");
        assert_eq!(*got, i as u32);
    }
}
