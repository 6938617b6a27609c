//! Loom models of `Queue::get_async` and `wait_idle_async` (run with
//! `RUSTFLAGS="--cfg loom"`): a task registering while an item is added (next to a
//! blocking getter), a notified task dropped while the item is added (the wake-up must
//! pass on), shutdown racing a registration (also after a task gave up), and a
//! `wait_idle_async` registering while the last item is done, and a task that gives up
//! and waits again while another task waits and items are added.
#![cfg(loom)]

use gosync_core::sync::thread;
use gosync_testkit::{block_on, poll as poll_with, poll_once as poll_noop, unpark_waker};
use gosync_workqueue::Queue;

/// No getter left registered or parked.
fn assert_clean(q: &Queue<u8>) {
    let dbg = format!("{q:?}");
    assert!(
        !dbg.contains("tasks") && !dbg.contains("parked") && !dbg.contains("idle_waiters"),
        "registration left behind: {dbg}"
    );
}

/// A task registers while two items are added, next to a blocking getter: both the
/// thread and the task get an item (a wake-up given to a thread already woken, while
/// the task sleeps, is a deadlock loom reports).
#[test]
fn loom_workqueue_async_register_vs_add() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get().map(|g| g.into_inner()))
        };
        let adder = {
            let q = q.clone();
            thread::spawn(move || {
                q.add(1);
                q.add(2);
            })
        };
        let mine = block_on(q.get_async()).map(|g| g.into_inner());
        let theirs = getter.join().unwrap();
        adder.join().unwrap();
        let mut got = [mine.unwrap(), theirs.unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_clean(&q);
    });
}

/// Two tasks wait; the first is dropped (on another thread) while the item is added.
/// Whether it was notified before its drop or not, the second task gets the item: a
/// notified task that goes away passes its wake-up on.
#[test]
fn loom_workqueue_async_drop_vs_add() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let mut first = q.get_async_owned();
        assert!(poll_noop(&mut first).is_pending());
        let mut second = q.get_async();
        let waker = unpark_waker();
        assert!(poll_with(&mut second, &waker).is_pending());
        let adder = {
            let q = q.clone();
            thread::spawn(move || q.add(1))
        };
        let dropper = thread::spawn(move || drop(first));
        let got = block_on(second).map(|g| g.into_inner());
        assert_eq!(got, Some(1));
        adder.join().unwrap();
        dropper.join().unwrap();
        assert!(q.done(&1));
        assert_clean(&q);
    });
}

/// A task gives up (its future dropped after one poll), then waits again, while the
/// queue is shut down; a second task waits on another thread. Both end with `None`
/// whether they registered before or after the shutdown.
#[test]
fn loom_workqueue_async_shutdown_vs_register() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let other = {
            let q = q.clone();
            thread::spawn(move || block_on(q.get_async()).is_none())
        };
        let closer = {
            let q = q.clone();
            thread::spawn(move || q.shut_down())
        };
        let mut gave_up = q.get_async();
        let _ = poll_noop(&mut gave_up);
        drop(gave_up);
        assert!(block_on(q.get_async()).is_none());
        assert!(other.join().unwrap());
        closer.join().unwrap();
        assert_clean(&q);
    });
}

/// `wait_idle_async` registers while the last item is done on another thread: it
/// completes (a lost wake-up is a deadlock) and leaves no idle waiter counted.
#[test]
fn loom_workqueue_async_wait_idle_vs_done() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        q.add(1);
        let item = q.get_owned().unwrap();
        let worker = thread::spawn(move || drop(item));
        block_on(q.wait_idle_async());
        worker.join().unwrap();
        assert_eq!(q.len(), 0);
        assert_clean(&q);
    });
}

/// Adversarial follow-up: a task gives up (its registered future is dropped) and waits
/// again at once, while another task waits on another thread and two items are added.
/// Each task gets one item, whichever of them the add notified before the drop.
#[test]
fn loom_workqueue_async_give_up_then_wait_again_vs_add() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let mut gave_up = q.get_async_owned();
        assert!(poll_noop(&mut gave_up).is_pending());
        let other = {
            let q = q.clone();
            thread::spawn(move || block_on(q.get_async()).map(|g| g.into_inner()))
        };
        let adder = {
            let q = q.clone();
            thread::spawn(move || {
                q.add(1);
                q.add(2);
            })
        };
        drop(gave_up);
        let mine = block_on(q.get_async()).map(|g| g.into_inner());
        let theirs = other.join().unwrap();
        adder.join().unwrap();
        let mut got = [mine.unwrap(), theirs.unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_clean(&q);
    });
}
