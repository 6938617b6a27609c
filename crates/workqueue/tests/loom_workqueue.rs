//! Loom models of the work queue protocol (run with `RUSTFLAGS="--cfg loom"`).
#![cfg(loom)]

use gosync_core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use gosync_core::sync::{thread, Arc};
use gosync_core::FakeClock;
use gosync_workqueue::Queue;
use std::time::Duration;

#[path = "support/recorder.rs"]
#[allow(dead_code)] // each test binary uses part of it
mod recorder;
use recorder::{provider, Recorder};

/// An `add` racing the `done` of the same item (and a getter): the add is never lost and
/// the item is never handed out while it is still processing.
#[test]
fn loom_workqueue_add_vs_done() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        q.add(1);
        let item = q.get_detached().unwrap();
        let adder = {
            let q = q.clone();
            thread::spawn(move || q.add(1))
        };
        let getter = {
            let q = q.clone();
            // While 1 is processing, a concurrent getter must not receive it.
            thread::spawn(move || q.try_get().map(|g| g.into_inner()).ok())
        };
        assert!(q.done(&item));
        adder.join().unwrap();
        let got = getter.join().unwrap();
        match got {
            // The getter ran after done + add: it holds 1, nothing else is queued.
            Some(k) => {
                assert_eq!(k, 1);
                assert_eq!(q.len(), 0);
                assert!(q.done(&k));
            }
            // Otherwise the add is still there: exactly one queued copy.
            None => {
                assert_eq!(q.len(), 1);
                assert_eq!(q.try_get().map(|g| *g).ok(), Some(1));
            }
        }
        assert_eq!(q.len(), 0);
    });
}

/// `shut_down` wakes every blocked getter (loom reports a deadlock on a lost wake-up).
#[test]
fn loom_workqueue_shutdown_wakes_all_getters() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get().is_none())
            })
            .collect();
        q.shut_down();
        for g in getters {
            assert!(g.join().unwrap());
        }
    });
}

/// `shut_down_with_drain` returns only after the in-flight item is done, and a worker keeps
/// getting the queued items after shutdown.
#[test]
fn loom_workqueue_drain_waits_for_in_flight() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let finished = Arc::new(AtomicBool::new(false));
        q.add(1);
        let worker = {
            let (q, finished) = (q.clone(), finished.clone());
            thread::spawn(move || {
                while let Some(item) = q.get() {
                    assert_eq!(*item, 1);
                    finished.store(true, Relaxed); // ordered before done by the queue lock
                }
            })
        };
        q.shut_down_with_drain();
        assert!(
            finished.load(Relaxed),
            "drain returned before the item was done"
        );
        worker.join().unwrap();
    });
}

/// The delay loop sleeps until a 10 s item; a new 5 s item must wake it so that it fires at
/// 5 s (a missed wake-up leaves `get` blocked forever: a loom deadlock).
#[test]
fn loom_workqueue_delay_loop_wakes_for_earlier_item() {
    loom::model(|| {
        let fake = FakeClock::new();
        let q: Queue<u8> = Queue::builder().clock(fake.clock()).build();
        q.add_after(10, Duration::from_secs(10)); // starts the delay loop thread
        let adder = {
            let q = q.clone();
            thread::spawn(move || q.add_after(5, Duration::from_secs(5)))
        };
        adder.join().unwrap();
        fake.advance(Duration::from_secs(5));
        assert_eq!(q.get().map(|g| *g), Some(5));
        q.shut_down();
    });
}

/// The last handle is dropped while the clock's timer thread fires the queue's deadline:
/// the drop cancels the registration and waits for a callback in progress, so no
/// callback runs into a dropped queue, and the cycle through the callback's `Arc` is
/// broken (loom reports a leaked `Arc` or a deadlock otherwise).
#[test]
fn loom_workqueue_drop_vs_timer_fire() {
    loom::model(|| {
        let fake = FakeClock::new();
        let q: Queue<u8> = Queue::builder().clock(fake.clock()).build();
        q.add_after(1, Duration::from_secs(1));
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(Duration::from_secs(1)))
        };
        drop(q);
        advancer.join().unwrap();
        assert_eq!(fake.waiters(), 0);
    });
}

/// A getter that finds the queue empty spins, re-checks under the lock and parks; an `add`
/// racing any of those steps must reach it (a lost wake-up is a loom deadlock), and an add
/// with nobody parked must not be lost either.
#[test]
fn loom_workqueue_spin_then_park_getter_sees_add() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get_detached())
        };
        q.add(1);
        assert_eq!(getter.join().unwrap(), Some(1));
        assert_eq!(q.len(), 0);
    });
}

/// Two spinning/parking getters and a `done` that re-queues a re-added item: the item is
/// handed to exactly one of them, and `shut_down` releases the other.
#[test]
fn loom_workqueue_requeue_on_done_wakes_parked_getter() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        q.add(1);
        let item = q.get_detached().unwrap();
        q.add(1); // dirty while processing: queued again by `done`
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get_detached())
            })
            .collect();
        assert!(q.done(&item));
        // One getter receives 1; wait for that before shutting down the other.
        while !q.is_empty() {
            thread::yield_now();
        }
        q.shut_down();
        let got: Vec<_> = getters.into_iter().map(|g| g.join().unwrap()).collect();
        assert_eq!(got.iter().filter(|g| **g == Some(1)).count(), 1, "{got:?}");
    });
}

/// `done_and_get` re-queues an item that was re-added while processing and takes the head
/// of the queue in one lock hold, racing an `add` and a blocked getter: whichever item it
/// leaves is handed to the getter (loom reports a deadlock on a lost wake-up), and each of
/// the two items is handed out exactly once.
#[test]
fn loom_workqueue_done_and_get_vs_add() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        q.add(1);
        let one = q.get_detached().unwrap();
        q.add(1); // dirty while processing: `done` queues it again
        let getter = {
            let q = q.clone();
            thread::spawn(move || {
                let k = q.get_detached().unwrap();
                assert!(q.done(&k));
                k
            })
        };
        let adder = {
            let q = q.clone();
            thread::spawn(move || q.add(2))
        };
        let mine = q.done_and_get_detached(&one).unwrap();
        assert!(q.done(&mine));
        adder.join().unwrap();
        let theirs = getter.join().unwrap();
        let mut got = [mine, theirs];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert_eq!(q.len(), 0);
    });
}

/// With metrics on, operations take the lock with `try_lock` first and stamp while they
/// wait when it fails: an `add` racing a getter's `get` + `done` of the same item. Once
/// every thread is joined, each operation has applied its updates: one add and one latency
/// observation per dirty transition handed out, one work observation per `done`, and the
/// depth gauge back at the queue's length.
#[test]
fn loom_workqueue_metrics_under_contention() {
    loom::model(|| {
        let rec = std::sync::Arc::new(Recorder::default());
        let fake = FakeClock::new();
        let q: Queue<u8> = Queue::builder()
            .name("test")
            .clock(fake.clock())
            .metrics_provider(provider(&rec))
            .build();
        q.add(1);
        let adder = {
            let q = q.clone();
            thread::spawn(move || q.add(1))
        };
        let first = q.get_detached();
        assert_eq!(first, Some(1));
        assert!(q.done(&1));
        adder.join().unwrap();
        // The add either was deduplicated (1 still dirty) or re-queued 1.
        let queued = q.len();
        let counts = || (rec.obs("latency").len(), rec.obs("work").len());
        assert_eq!(rec.gauge("depth"), queued as f64);
        assert_eq!(rec.gauge("adds"), (1 + queued) as f64);
        assert_eq!(counts(), (1, 1));
        if queued == 1 {
            // Its add stamped it, even if that add had to wait for the lock.
            assert_eq!(q.get_detached(), Some(1));
            assert!(q.done(&1));
        }
        assert_eq!(rec.gauge("depth"), 0.0);
        assert_eq!(counts(), (1 + queued, 1 + queued));
        q.shut_down();
    });
}

/// `wait_idle` returns only once the worker's `done` made the queue idle, whatever the
/// interleaving of the add, the get, the done and the wait; the `done` that makes it idle
/// wakes it (a lost wake-up is a loom deadlock).
#[test]
fn loom_workqueue_wait_idle_vs_done() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let worker = {
            let q = q.clone();
            thread::spawn(move || {
                let item = q.get_detached().expect("not shut down");
                assert!(q.done(&item));
            })
        };
        q.add(1);
        q.wait_idle();
        assert!(!q.done(&1), "idle, yet the item is still processing");
        assert_eq!(q.len(), 0);
        worker.join().unwrap();
        q.shut_down();
    });
}
