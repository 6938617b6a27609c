//! Loom models of `WaitGroup::wait_async` (run with `RUSTFLAGS="--cfg loom"`): a task
//! registering while the last `done` releases, a task dropped while the release runs,
//! the next round started right after such a drop, and a woken task dropped while a
//! waiter of the next round registers.
#![cfg(loom)]

use std::task::Poll;

use gosync_core::sync::{thread, Arc, UnsafeCell};
use gosync_testkit::{block_on, poll_once};
use gosync_waitgroup::WaitGroup;

/// Written by the worker before `done`: loom reports a data race if the task completed
/// without a happens-before edge from the `done`.
struct Slot(UnsafeCell<usize>);
// SAFETY: the worker writes before `done`, the task reads after completing; loom checks
// that this really is race free.
unsafe impl Sync for Slot {}

/// No registration left behind: no waiter counted, no task entry.
fn assert_clean(wg: &WaitGroup) {
    let dbg = format!("{wg:?}");
    assert!(
        dbg.contains("waiters: 0") && !dbg.contains("tasks"),
        "registration left behind: {dbg}"
    );
}

/// A task registers while the last `done` releases the group: it completes (a lost
/// wake-up leaves `block_on` parked: loom reports a deadlock) and sees the worker's
/// write; a blocking waiter of the same round is released too.
#[test]
fn loom_waitgroup_async_register_vs_notify() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        wg.add(1);
        let worker = {
            let (wg, slot) = (Arc::clone(&wg), Arc::clone(&slot));
            thread::spawn(move || {
                // SAFETY: only the worker writes, before `done`.
                slot.0.with_mut(|p| unsafe { *p = 7 });
                wg.done();
            })
        };
        let blocking = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.wait())
        };
        block_on(wg.wait_async());
        // SAFETY: the future completed, so the worker's `done` happened-before.
        assert_eq!(slot.0.with(|p| unsafe { *p }), 7);
        worker.join().unwrap();
        blocking.join().unwrap();
        assert_clean(&wg);
    });
}

/// A thread that calls `done` once.
fn spawn_done(wg: &Arc<WaitGroup>) -> thread::JoinHandle<()> {
    let wg = Arc::clone(wg);
    thread::spawn(move || wg.done())
}

/// A round of one task, whose future registers and is then dropped while a worker's
/// `done` ends the round; returns the group and the worker.
fn drop_a_registered_task_racing_done() -> (Arc<WaitGroup>, thread::JoinHandle<()>) {
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let mut fut = wg.wait_async();
    assert_eq!(poll_once(&mut fut), Poll::Pending);
    let worker = spawn_done(&wg);
    drop(fut);
    (wg, worker)
}

/// A registered task is dropped while the last `done` releases: whether it withdrew
/// before or after the counter reached zero, or was released, the group ends clean and
/// grants no stray permit: the next round's blocking `wait` is not released early
/// (it would take a stray permit and panic with the reuse message) and returns.
#[test]
fn loom_waitgroup_async_drop_vs_notify() {
    loom::model(|| {
        let (wg, worker) = drop_a_registered_task_racing_done();
        worker.join().unwrap();
        assert_clean(&wg);
        // The next round.
        wg.add(1);
        let worker = spawn_done(&wg);
        wg.wait();
        worker.join().unwrap();
        assert_clean(&wg);
    });
}

/// A dropped future is a wait that has returned: after dropping the round's only
/// waiter, a `wait` (which may return on the zero counter before the last `done` has
/// run its release) and an `add` start the next round while that release races them. The
/// `add` must not take the pending release for a concurrent `wait` (Go's misuse panic),
/// and the late release must leave the new round alone.
///
/// Shown able to fail: with the drop leaving its entry to the pending release (the
/// earlier protocol), the `add` panics "Add called concurrently with Wait".
#[test]
fn loom_waitgroup_async_drop_then_next_round_vs_release() {
    loom::model(|| {
        let (wg, worker) = drop_a_registered_task_racing_done();
        wg.wait();
        wg.add(1);
        assert_eq!(wg.count(), 1);
        wg.done();
        worker.join().unwrap();
        assert_clean(&wg);
    });
}

/// A task is released and dropped without being polled again while the group starts
/// its next round and a second task registers in it: the second task is neither
/// released by the first one's release nor lost, and nothing is left behind.
#[test]
fn loom_waitgroup_async_woken_drop_vs_new_registration() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let mut first = wg.wait_async();
        assert_eq!(poll_once(&mut first), Poll::Pending);
        // Round 1 ends, round 2 starts, and a task waits on round 2.
        let rounds = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                wg.done();
                wg.add(1);
                let mut second = wg.wait_async();
                assert_eq!(poll_once(&mut second), Poll::Pending);
                // Not released by round 1's release, whatever `first` does meanwhile.
                assert_eq!(poll_once(&mut second), Poll::Pending);
                wg.done();
                assert_eq!(poll_once(&mut second), Poll::Ready(()));
            })
        };
        drop(first);
        rounds.join().unwrap();
        assert_clean(&wg);
    });
}
