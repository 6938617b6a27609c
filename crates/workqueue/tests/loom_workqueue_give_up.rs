//! Adversarial loom models of the work queue's timed gets: a getter that gives up then
//! gets again, or re-adds, while a producer races it (run with `RUSTFLAGS="--cfg loom"`;
//! under loom a timed wait times out at once, so every give-up point is explored).
#![cfg(loom)]

use std::time::Duration;

use gosync_core::sync::atomic::{AtomicBool, Ordering::SeqCst};
use gosync_core::sync::{thread, Arc};
use gosync_workqueue::{GetTimeoutError, Queue};

const HOUR: Duration = Duration::from_secs(3600);

/// A getter times out, then blocks in `get` while the producer's add races both calls:
/// the item is delivered exactly once (to the timed get or the blocking one), and the
/// give-up leaves no stale registration that would swallow the add's wake-up (a loom
/// deadlock).
#[test]
fn loom_workqueue_get_timeout_then_get_again() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.add(1))
        };
        let item = match q.get_timeout(HOUR) {
            Ok(g) => g.into_inner(),
            Err(e) => {
                assert_eq!(e, GetTimeoutError::Timeout);
                q.get_detached().expect("not shut down")
            }
        };
        assert_eq!(item, 1);
        assert!(q.done(&item));
        producer.join().unwrap();
        assert_eq!(q.len(), 0);
        q.shut_down();
    });
}

/// Two getters, one item: one times out and re-adds the item it wanted (legal: it holds
/// nothing), then tries to get it again, while the other getter may be holding it (it
/// holds on until the first is finished). Dedup and the processing set must keep the
/// item unique: never handed to both at once (the second `done` would find it not
/// processing), never left processing with no holder.
#[test]
fn loom_workqueue_get_timeout_then_re_add() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let released = Arc::new(AtomicBool::new(false));
        q.add(1);
        let holder = {
            let (q, released) = (q.clone(), Arc::clone(&released));
            thread::spawn(move || {
                // Until shut down and drained.
                while let Some(item) = q.get_detached() {
                    while !released.load(SeqCst) {
                        thread::yield_now();
                    }
                    assert!(q.done(&item), "handed to two getters at once");
                }
            })
        };
        match q.get_timeout(HOUR) {
            Ok(g) => assert!(q.done(&g.into_inner())),
            Err(e) => {
                assert_eq!(e, GetTimeoutError::Timeout);
                q.add(1);
                if let Ok(g) = q.get_timeout(HOUR) {
                    assert!(q.done(&g.into_inner()), "handed to two getters at once");
                }
            }
        }
        released.store(true, SeqCst);
        q.shut_down();
        holder.join().unwrap();
        assert_eq!(q.len(), 0);
        // Nobody holds it now: a give-up that kept the item would leave it processing.
        assert!(!q.done(&1), "an item left processing with no holder");
    });
}

/// `wait_idle_timeout` gives up (under loom, at once) while a worker finishes the only
/// item, then the caller waits again with `wait_idle`: the give-up must leave no stale
/// waiter count (`done` would then check for idleness in vain, harmless) and, above all,
/// the second wait must be woken by the `done` it races (a lost wake-up is a loom
/// deadlock). Whichever way it ends, the queue is idle: the item is done.
#[test]
fn loom_workqueue_wait_idle_timeout_then_wait_again() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        q.add(1);
        let worker = {
            let q = q.clone();
            thread::spawn(move || {
                let item = q.get_detached().expect("not shut down");
                assert!(q.done(&item));
            })
        };
        if !q.wait_idle_timeout(HOUR) {
            q.wait_idle();
        }
        assert_eq!(q.len(), 0);
        assert!(!q.done(&1), "idle, yet the item is still processing");
        worker.join().unwrap();
        q.shut_down();
    });
}
