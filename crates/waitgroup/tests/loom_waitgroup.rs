//! Loom models of the WaitGroup protocol (run with `RUSTFLAGS="--cfg loom"`).
#![cfg(loom)]

use gosync_core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use gosync_core::sync::{thread, Arc, UnsafeCell};
use gosync_waitgroup::WaitGroup;
use std::time::Duration;

/// Plain data written by the workers: loom reports a data race if `wait` returned
/// without a happens-before edge from every `done`.
struct Slots([UnsafeCell<usize>; 2]);
// SAFETY: each worker writes only its own slot, and the main thread reads them only after
// `wait` returned; loom checks that this really is race free.
unsafe impl Sync for Slots {}

/// Two workers finish while the main thread waits: no lost wake-up (loom reports a
/// deadlock if the waiter is never released) and no early release (the workers' writes
/// are visible, race-free, after `wait`).
#[test]
fn loom_waitgroup_done_vs_wait() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let slots = Arc::new(Slots([UnsafeCell::new(0), UnsafeCell::new(0)]));
        wg.add(2);
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let (wg, slots) = (Arc::clone(&wg), Arc::clone(&slots));
                thread::spawn(move || {
                    // SAFETY: only this worker touches slot i before `done`.
                    slots.0[i].with_mut(|p| unsafe { *p = i + 1 });
                    wg.done();
                })
            })
            .collect();
        wg.wait();
        for i in 0..2 {
            // SAFETY: `wait` returned, so every worker's write happened-before this read.
            assert_eq!(slots.0[i].with(|p| unsafe { *p }), i + 1);
        }
        for w in workers {
            w.join().unwrap();
        }
    });
}

/// Two waiters, one worker: both waiters are released.
#[test]
fn loom_waitgroup_two_waiters() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let w2 = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.wait())
        };
        let worker = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.done())
        };
        wg.wait();
        w2.join().unwrap();
        worker.join().unwrap();
    });
}

/// Reuse across rounds: the waiter of round 1 returns before round 2 starts, and round
/// 2's wait is neither released early by round 1's permits nor lost.
#[test]
fn loom_waitgroup_reuse_across_rounds() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let work = Arc::new(AtomicUsize::new(0));
        for round in 1..=2 {
            wg.add(1);
            let (wg2, work2) = (Arc::clone(&wg), Arc::clone(&work));
            let worker = thread::spawn(move || {
                work2.fetch_add(1, Relaxed);
                wg2.done();
            });
            wg.wait();
            assert_eq!(work.load(Relaxed), round);
            worker.join().unwrap();
        }
    });
}

/// A positive `add` while the counter is above zero races a `wait` (legal in Go): the
/// waiter is released only after both tasks are done.
#[test]
fn loom_waitgroup_add_racing_wait() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let work = Arc::new(AtomicUsize::new(0));
        wg.add(1);
        let (wg2, work2) = (Arc::clone(&wg), Arc::clone(&work));
        let spawner = thread::spawn(move || {
            wg2.add(1); // the counter is still >= 1 here: legal
            work2.fetch_add(1, Relaxed);
            wg2.done();
            work2.fetch_add(1, Relaxed);
            wg2.done();
        });
        wg.wait();
        assert_eq!(work.load(Relaxed), 2);
        spawner.join().unwrap();
    });
}

/// A timed waiter racing the release (under loom every timed wait times out at once):
/// whichever way it goes, it withdraws or consumes its permit cleanly, the untimed waiter
/// is released, and the group is left reusable.
#[test]
fn loom_waitgroup_timeout_racing_release() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let timed = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.wait_timeout(Duration::from_secs(1)))
        };
        let worker = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.done())
        };
        wg.wait();
        let released = timed.join().unwrap();
        worker.join().unwrap();
        if released {
            assert_eq!(wg.count(), 0);
        }
        let shown = format!("{:?}", &*wg);
        assert_eq!(shown, "WaitGroup { count: 0, waiters: 0 }");
        // Next round works.
        wg.add(1);
        wg.done();
        wg.wait();
    });
}

/// The adversarial follow-up of a timed wait: the waiter gives up and, since its wait has
/// returned, starts the next round with `add(1)` while the last `done` of the current
/// round is releasing waiters. The give-up must leave the group as if it had never waited:
/// the new round's count survives, no `done` panics, and a later `wait` waits for it.
#[test]
fn loom_waitgroup_timeout_then_add_racing_release() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let timed = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                // Under loom a timed wait times out at once unless released first.
                let released = wg.wait_timeout(Duration::from_secs(1));
                if !released {
                    wg.add(1); // legal: this thread's wait has returned
                }
                released
            })
        };
        let worker = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.done())
        };
        let released = timed.join().unwrap();
        worker.join().unwrap();
        // The round the timed waiter started (if it gave up) is still counted.
        assert_eq!(wg.count(), if released { 0 } else { 1 });
        if !released {
            wg.done();
        }
        wg.wait();
        assert_eq!(format!("{:?}", &*wg), "WaitGroup { count: 0, waiters: 0 }");
    });
}

/// A waiter that gives up on a context races the last `done`, then waits again for the
/// next round, which a third thread finishes: neither the give-up nor the release may
/// disturb the new round.
#[test]
fn loom_waitgroup_timeout_then_wait_again() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let worker = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.done())
        };
        if !wg.wait_timeout(Duration::from_secs(1)) {
            // Gave up: the round may still be running; wait it out for real.
            wg.wait();
        }
        worker.join().unwrap();
        // A second round, started only after every wait of the first has returned. A
        // stale registration or permit from the first round would release it early.
        wg.add(1);
        let work = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (wg, work) = (Arc::clone(&wg), Arc::clone(&work));
            thread::spawn(move || {
                work.store(1, Relaxed);
                wg.done();
            })
        };
        if wg.wait_timeout(Duration::from_secs(1)) {
            assert_eq!(work.load(Relaxed), 1, "released before the round's done");
        }
        wg.wait();
        assert_eq!(work.load(Relaxed), 1, "released before the round's done");
        assert_eq!(wg.count(), 0);
        worker.join().unwrap();
        assert_eq!(format!("{:?}", &*wg), "WaitGroup { count: 0, waiters: 0 }");
    });
}

/// A misused `done` (the counter would go negative) is caught by its caller while a
/// waiter races it: the undo restores the counter, so the waiter is released by the
/// real last `done`, never early and never stranded.
#[test]
fn loom_waitgroup_caught_misuse_racing_wait() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let work = Arc::new(AtomicUsize::new(0));
        wg.add(1);
        let misuser = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wg.add(-2)));
                assert!(r.is_err());
            })
        };
        let waiter = {
            let (wg, work) = (Arc::clone(&wg), Arc::clone(&work));
            thread::spawn(move || {
                wg.wait();
                assert_eq!(work.load(Relaxed), 1, "released before the last done");
            })
        };
        misuser.join().unwrap();
        work.store(1, Relaxed);
        wg.done();
        waiter.join().unwrap();
        assert_eq!(format!("{:?}", &*wg), "WaitGroup { count: 0, waiters: 0 }");
    });
}
