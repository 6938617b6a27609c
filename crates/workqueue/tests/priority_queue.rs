//! Priority queue semantics (controller-runtime v0.20 `priorityqueue`).
#![cfg(not(loom))]

use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::{AddOpts, PriorityQueue, Queue};

fn prio(p: i32) -> AddOpts {
    AddOpts::new().priority(p)
}

#[test]
fn higher_first_fifo_within() {
    let q = PriorityQueue::new_priority();
    q.add_with_opts(1, prio(0));
    q.add_with_opts(2, prio(5));
    q.add_with_opts(3, prio(0));
    q.add_with_opts(4, prio(5));
    q.add_with_opts(5, prio(-3));
    let order: Vec<i32> = (0..5).map(|_| *q.get().unwrap()).collect();
    assert_eq!(order, [2, 4, 1, 3, 5]);
}

#[test]
fn readd_keeps_higher_priority() {
    let q = PriorityQueue::new_priority();
    q.add_with_opts("a", prio(1));
    q.add_with_opts("b", prio(3));
    q.add_with_opts("a", prio(10)); // raised
    q.add_with_opts("b", prio(0)); // lower: ignored
    assert_eq!(q.len(), 2);
    assert_eq!(*q.get().unwrap(), "a");
    assert_eq!(*q.get().unwrap(), "b");
    assert!(q.try_get().is_err());
}

#[test]
fn readd_keeps_earlier_ready_time_and_higher_priority() {
    let fake = FakeClock::new();
    let q: PriorityQueue<&str> = Queue::builder().clock(fake.clock()).build_priority();
    q.add_with_opts(
        "x",
        AddOpts::new().after(Duration::from_secs(10)).priority(1),
    );
    q.add_with_opts(
        "x",
        AddOpts::new().after(Duration::from_secs(20)).priority(7),
    );
    q.add_with_opts(
        "y",
        AddOpts::new().after(Duration::from_secs(5)).priority(3),
    );
    assert_eq!(q.waiting_len(), 2);
    assert!(fake.block_until_waiters(1, Duration::from_secs(20)));
    fake.advance(Duration::from_secs(10));
    while q.len() < 2 {
        std::thread::yield_now();
    }
    assert_eq!(
        *q.get().unwrap(),
        "x",
        "x kept priority 7 and its 10 s time"
    );
    assert_eq!(*q.get().unwrap(), "y");
    q.shut_down();
}

#[test]
fn priority_raised_while_processing_applies_on_requeue() {
    let q = PriorityQueue::new_priority();
    q.add("a");
    let g = q.get().unwrap();
    q.add_with_opts("a", prio(9));
    q.add_with_opts("b", prio(5));
    drop(g); // "a" is queued again with priority 9
    assert_eq!(*q.get().unwrap(), "a");
    assert_eq!(*q.get().unwrap(), "b");
}

#[test]
fn many_raises_compact_stale_copies() {
    let q = PriorityQueue::new_priority();
    // Under Miri 1,000 raises: still many compactions of the stale copies.
    for p in 0..if cfg!(miri) { 1_000 } else { 10_000 } {
        q.add_with_opts(1u32, prio(p));
    }
    q.add(2);
    assert_eq!(q.len(), 2);
    assert_eq!(*q.get().unwrap(), 1);
    assert_eq!(*q.get().unwrap(), 2);
    assert!(q.try_get().is_err());
}

#[test]
fn done_takes_a_borrowed_form_of_the_key() {
    let q: PriorityQueue<String> = PriorityQueue::new_priority();
    q.add_with_opts("a".to_string(), prio(1));
    let a = q.get_detached().unwrap();
    q.add_with_opts("a".to_string(), prio(3)); // re-added while processing
    q.add_with_opts("b".to_string(), prio(2));
    assert!(q.done("a"));
    assert_eq!(*q.get().unwrap(), "a");
    assert_eq!(a, "a");
}
