//! `WaitGroup::wait_async`: under two executors (tokio, `futures::executor`), next to
//! blocking waiters, cancelled at every poll point, and with wakers that panic.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Poll, Waker};

use gosync_testkit::{counting, poll};
use gosync_waitgroup::{WaitAsync, WaitGroup};

/// The group has no registered waiter and no task entry: as if nobody had waited.
fn assert_clean(wg: &WaitGroup) {
    let dbg = format!("{wg:?}");
    assert!(
        dbg.contains("waiters: 0") && !dbg.contains("tasks"),
        "registration left behind: {dbg}"
    );
}

/// The group is usable for a full round afterwards, blocking and async, without a
/// misuse panic.
fn assert_reusable(wg: &WaitGroup) {
    wg.add(1);
    let (_, waker) = counting();
    let mut fut = wg.wait_async();
    assert_eq!(poll(&mut fut, &waker), Poll::Pending);
    wg.done();
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    wg.wait();
    assert_clean(wg);
}

#[test]
fn the_future_is_send_and_unpin() {
    fn check<T: Send + Unpin>(_: &T) {}
    let wg = WaitGroup::new();
    check(&wg.wait_async());
}

#[test]
fn zero_counter_is_ready_at_once() {
    let wg = WaitGroup::new();
    let (c, waker) = counting();
    let mut fut = wg.wait_async();
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()), "fused");
    assert_eq!(c.wakes.load(SeqCst), 0);
    assert_clean(&wg);
}

#[test]
fn manual_poll_woken_once_by_the_last_done() {
    let wg = WaitGroup::new();
    wg.add(2);
    let (c, waker) = counting();
    let mut fut = wg.wait_async();
    assert_eq!(poll(&mut fut, &waker), Poll::Pending);
    assert_eq!(poll(&mut fut, &waker), Poll::Pending);
    wg.done();
    assert_eq!(c.wakes.load(SeqCst), 0);
    wg.done();
    assert_eq!(c.wakes.load(SeqCst), 1);
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    drop(fut);
    assert_clean(&wg);
}

#[test]
fn a_moved_task_is_woken_through_its_new_waker() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (old, w1) = counting();
    let (new, w2) = counting();
    let mut fut = wg.wait_async();
    assert_eq!(poll(&mut fut, &w1), Poll::Pending);
    assert_eq!(poll(&mut fut, &w2), Poll::Pending);
    wg.done();
    assert_eq!((old.wakes.load(SeqCst), new.wakes.load(SeqCst)), (0, 1));
    assert_eq!(poll(&mut fut, &w2), Poll::Ready(()));
}

/// Drop the future at every poll point of a round: before its first poll, registered
/// (after one or two polls), released but not yet polled, and completed. Each time the
/// group is left clean and reusable, and the other waiters of the round still finish.
#[test]
fn cancel_at_every_poll_point() {
    for drop_at in 0..5 {
        let wg = WaitGroup::new();
        wg.add(1);
        let (_, waker) = counting();
        let (other_c, other_w) = counting();
        let mut other = wg.wait_async();
        assert_eq!(poll(&mut other, &other_w), Poll::Pending);
        let mut fut = wg.wait_async();
        let mut done_called = false;
        for step in 0..drop_at {
            match step {
                0 | 1 => assert_eq!(poll(&mut fut, &waker), Poll::Pending),
                2 => {
                    wg.done();
                    done_called = true;
                }
                _ => assert_eq!(poll(&mut fut, &waker), Poll::Ready(())),
            }
        }
        drop(fut);
        if !done_called {
            wg.done();
        }
        assert_eq!(other_c.wakes.load(SeqCst), 1, "drop_at {drop_at}");
        assert_eq!(poll(&mut other, &other_w), Poll::Ready(()));
        drop(other);
        assert_clean(&wg);
        assert_reusable(&wg);
    }
}

/// A future cancelled while registered withdraws: a new round may start at once (no
/// "Add called concurrently with Wait"), and a blocking waiter is unaffected.
#[test]
fn cancelled_future_lets_the_group_restart() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (_, waker) = counting();
    let mut fut = wg.wait_async();
    assert_eq!(poll(&mut fut, &waker), Poll::Pending);
    drop(fut);
    assert_clean(&wg);
    wg.done();
    wg.add(1); // legal: nobody is waiting on the finished round
    wg.done();
    wg.wait();
}

/// A future released by one round and polled only after the next round started
/// completes: it was released by name when its round ended (no reuse panic, unlike a
/// blocking `wait` that wakes up into a new round).
#[test]
fn released_future_survives_the_next_round() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (_, waker) = counting();
    let mut fut = wg.wait_async();
    assert_eq!(poll(&mut fut, &waker), Poll::Pending);
    wg.done();
    wg.add(1); // the next round, before the task ran
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    drop(fut);
    let mut next = wg.wait_async();
    assert_eq!(
        poll(&mut next, &waker),
        Poll::Pending,
        "the new round is open"
    );
    wg.done();
    assert_eq!(poll(&mut next, &waker), Poll::Ready(()));
}

/// A waker that panics when woken: the `done` that released it panics with the
/// waker's message, but only after the group is fully released: the other task and a
/// blocked thread are woken, and the group is reusable.
#[test]
fn a_panicking_waker_leaves_the_group_released() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (bad_c, bad_w) = counting();
    bad_c.panic_on_wake.store(true, SeqCst);
    let (good_c, good_w) = counting();
    let mut bad = wg.wait_async();
    let mut good = wg.wait_async();
    assert_eq!(poll(&mut bad, &bad_w), Poll::Pending);
    assert_eq!(poll(&mut good, &good_w), Poll::Pending);
    let registered = Barrier::new(2);
    std::thread::scope(|s| {
        let blocked = s.spawn(|| {
            registered.wait();
            wg.wait();
        });
        registered.wait();
        // The thread may not have registered yet; either way it must return.
        let r = catch_unwind(AssertUnwindSafe(|| wg.done()));
        assert!(r.is_err(), "the waker's panic reaches the releasing `done`");
        blocked.join().unwrap();
    });
    assert_eq!(
        (bad_c.wakes.load(SeqCst), good_c.wakes.load(SeqCst)),
        (1, 1)
    );
    assert_eq!(poll(&mut good, &good_w), Poll::Ready(()));
    assert_eq!(poll(&mut bad, &bad_w), Poll::Ready(()));
    drop((good, bad));
    assert_eq!(wg.count(), 0);
    assert_clean(&wg);
    assert_reusable(&wg);
}

/// A waker whose `clone` panics: the poll panics before registering anything.
#[test]
fn a_waker_that_panics_on_clone_registers_nothing() {
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        panic!("waker panics on clone")
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: every vtable function ignores the (null) data pointer.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let wg = WaitGroup::new();
    wg.add(1);
    let mut fut = wg.wait_async();
    let r = catch_unwind(AssertUnwindSafe(|| poll(&mut fut, &waker)));
    assert!(r.is_err());
    drop(fut);
    assert_clean(&wg);
    wg.done();
    assert_reusable(&wg);
}

/// A thread in `wait` and tasks in `wait_async` on the same group: one `done`
/// releases them all (tokio, multi-threaded).
#[test]
fn tokio_thread_and_tasks_released_together() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let thread = {
        let wg = Arc::clone(&wg);
        std::thread::spawn(move || wg.wait())
    };
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let wg = Arc::clone(&wg);
            rt.spawn(async move { wg.wait_async().await })
        })
        .collect();
    let finisher = Arc::clone(&wg);
    std::thread::spawn(move || finisher.done());
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    thread.join().unwrap();
    assert_clean(&wg);
}

/// Tasks finishing work counted by the group, on tokio's current-thread runtime.
#[tokio::test]
async fn tokio_tasks_wait_for_tasks() {
    let wg = Arc::new(WaitGroup::new());
    let hits = Arc::new(AtomicUsize::new(0));
    for _ in 0..8 {
        let guard = wg.guard_owned();
        let hits = Arc::clone(&hits);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            hits.fetch_add(1, SeqCst);
            drop(guard);
        });
    }
    wg.wait_async().await;
    assert_eq!(hits.load(SeqCst), 8);
}

/// A `wait_async` raced against a timer in `tokio::select!`: the losing branch is
/// dropped while registered and leaves nothing behind.
#[tokio::test]
async fn tokio_select_timeout_cancels_cleanly() {
    let wg = WaitGroup::new();
    wg.add(1);
    tokio::select! {
        _ = wg.wait_async() => panic!("the counter is not zero"),
        _ = tokio::time::sleep(std::time::Duration::from_millis(1)) => {}
    }
    assert_clean(&wg);
    wg.done();
    wg.wait_async().await;
}

/// `futures::executor`: `block_on` while threads count down, and a `LocalPool` with
/// several tasks waiting on one group.
#[test]
fn futures_executor_block_on_and_local_pool() {
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..3 {
        let g = wg.guard_owned();
        std::thread::spawn(move || drop(g));
    }
    futures::executor::block_on(wg.wait_async());
    assert_eq!(wg.count(), 0);

    let mut pool = LocalPool::new();
    let finished = Arc::new(AtomicUsize::new(0));
    wg.add(1);
    for _ in 0..3 {
        let (wg, finished) = (Arc::clone(&wg), Arc::clone(&finished));
        pool.spawner()
            .spawn_local(async move {
                wg.wait_async().await;
                finished.fetch_add(1, SeqCst);
            })
            .unwrap();
    }
    pool.run_until_stalled();
    assert_eq!(finished.load(SeqCst), 0);
    wg.done();
    pool.run_until_stalled();
    assert_eq!(finished.load(SeqCst), 3);
    assert_clean(&wg);
}

/// Many rounds with a thread and a task waiting on each (and tasks cancelled midway):
/// nobody hangs, nothing leaks.
#[test]
fn rounds_with_threads_and_tasks() {
    let wg = Arc::new(WaitGroup::new());
    for round in 0..200 {
        wg.add(2);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let wg = Arc::clone(&wg);
                std::thread::spawn(move || wg.done())
            })
            .collect();
        let waiter = {
            let wg = Arc::clone(&wg);
            std::thread::spawn(move || wg.wait())
        };
        if round % 3 == 0 {
            let (_, waker) = counting();
            let mut cancelled = wg.wait_async();
            let _ = poll(&mut cancelled, &waker);
        }
        futures::executor::block_on(wg.wait_async());
        waiter.join().unwrap();
        for w in workers {
            w.join().unwrap();
        }
        assert_clean(&wg);
    }
}

#[test]
fn debug_shows_the_state() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (_, waker) = counting();
    let mut fut: WaitAsync<'_> = wg.wait_async();
    let _ = poll(&mut fut, &waker);
    assert!(format!("{fut:?}").contains("registered: true"));
    assert!(format!("{wg:?}").contains("tasks: 1"));
    drop(fut);
    wg.done();
}
