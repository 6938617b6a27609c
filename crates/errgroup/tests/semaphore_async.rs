//! `Semaphore::acquire_async` and its guard forms: Go's semaphore_test.go scenarios as
//! tasks, under two executors (tokio's multi-thread runtime, `futures::executor`), FIFO
//! with threads and tasks in one queue, cancellation at every poll point (the head's
//! drop wakes the next; a grant never observed passes on), panicking wakers, and a
//! proptest of manually polled futures against Go's algorithm.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};

use gosync_errgroup::semaphore::{AcquireAsync, AcquireGuardAsync, AcquireOwnedAsync};
use gosync_errgroup::{OwnedSemaphoreGuard, Semaphore};
use gosync_testkit::{counting, poll, wait_until, Counting};
use proptest::prelude::*;

fn wakes(c: &Counting) -> usize {
    c.wakes.load(SeqCst)
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn the_futures_are_send_and_unpin_and_the_owned_one_static() {
    fn check<T: Send + Unpin>(_: &T) {}
    fn check_static<T: Send + Unpin + 'static>(_: &T) {}
    let sem = Arc::new(Semaphore::new(1));
    check::<AcquireAsync<'_>>(&sem.acquire_async(1));
    check::<AcquireGuardAsync<'_>>(&sem.acquire_guard_async(1));
    check_static::<AcquireOwnedAsync>(&sem.acquire_owned_async(1));
    check_static::<OwnedSemaphoreGuard>(&sem.acquire_owned(1));
}

#[test]
fn uncontended_acquire_is_ready_on_the_first_poll_without_a_wake() {
    let sem = Semaphore::new(3);
    let (c, waker) = counting();
    let mut fut = sem.acquire_async(2);
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    assert_eq!(
        poll(&mut fut, &waker),
        Poll::Ready(()),
        "fused, no second acquire"
    );
    drop(fut);
    assert_eq!((sem.available(), sem.waiters(), wakes(&c)), (1, 0, 0));
    sem.release(2);
}

/// Go's TestWeightedTryAcquire / TestWeightedAcquire with futures: an acquire of free
/// weight is ready at once; one that does not fit stays pending (Go's timeout, here a
/// drop) and leaves nothing behind.
#[test]
fn weighted_acquire_async() {
    let sem = Semaphore::new(2);
    let (_, waker) = counting();
    let mut tries = vec![];
    let try_acquire = |n| {
        let mut fut = sem.acquire_async(n);
        poll(&mut fut, &waker).is_ready()
    };
    futures::executor::block_on(sem.acquire_async(1));
    tries.push(try_acquire(1));
    tries.push(try_acquire(1));
    sem.release(2);
    tries.push(try_acquire(1));
    futures::executor::block_on(sem.acquire_async(1));
    tries.push(try_acquire(1));
    assert_eq!(tries, [true, false, true, false]);
    assert_eq!((sem.available(), sem.waiters()), (0, 0));
    sem.release(2);
}

#[test]
fn acquire_async_of_more_than_size_panics_when_called() {
    let sem = Arc::new(Semaphore::new(2));
    for f in [
        &(|s: &Arc<Semaphore>| drop(s.acquire_async(3))) as &dyn Fn(&Arc<Semaphore>),
        &|s| drop(s.acquire_guard_async(3)),
        &|s| drop(s.acquire_owned_async(3)),
    ] {
        let err = catch_unwind(AssertUnwindSafe(|| f(&sem))).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("exceeds the size 2"), "{msg}");
    }
    assert_eq!((sem.available(), sem.waiters()), (2, 0));
}

/// A large waiter at the head blocks a smaller one behind it, though the smaller one
/// would fit (Go's FIFO rule), until the head is served.
#[test]
fn large_head_blocks_smaller_tasks_behind_it() {
    let sem = Semaphore::new(4);
    sem.acquire(2);
    let (cb, wb) = counting();
    let (cs, ws) = counting();
    let mut big = sem.acquire_guard_async(4);
    let mut small = sem.acquire_guard_async(1);
    assert!(poll(&mut big, &wb).is_pending());
    assert!(poll(&mut small, &ws).is_pending(), "queued behind the head");
    assert!(!sem.try_acquire(1), "try_acquire fails while anyone waits");
    sem.release(2);
    assert_eq!((wakes(&cb), wakes(&cs)), (1, 0));
    let Poll::Ready(big_guard) = poll(&mut big, &wb) else {
        panic!("granted")
    };
    assert!(poll(&mut small, &ws).is_pending());
    drop(big_guard);
    assert_eq!(wakes(&cs), 1);
    let Poll::Ready(g) = poll(&mut small, &ws) else {
        panic!("granted")
    };
    drop(g);
    drop((big, small));
    assert_eq!((sem.available(), sem.waiters()), (4, 0));
}

/// Go's TestAllocCancelDoesntStarve with a dropped future as the cancel: a write lock
/// (the whole size) queued at the head gives up; the read lock behind it fits and is
/// granted and woken by that drop alone (Go's `notifyWaiters` on cancel).
#[test]
fn alloc_cancel_doesnt_starve_async() {
    let sem = Semaphore::new(10);
    sem.acquire(1); // a read lock held
    let (_, ww) = counting();
    let (cr, wr) = counting();
    let mut write = sem.acquire_async(10);
    assert!(poll(&mut write, &ww).is_pending());
    let mut read = sem.acquire_async(1);
    assert!(
        poll(&mut read, &wr).is_pending(),
        "queued after the write lock"
    );
    drop(write);
    assert_eq!(wakes(&cr), 1, "the head's drop woke the waiter behind it");
    assert_eq!(poll(&mut read, &wr), Poll::Ready(()));
    assert_eq!((sem.available(), sem.waiters()), (8, 0));
    sem.release(2);
}

/// The same with a blocked thread behind the dropped head: threads and tasks share one
/// queue, and a task's drop serves a thread.
#[test]
fn a_dropped_head_task_wakes_a_thread_behind_it() {
    let sem = Semaphore::new(10);
    sem.acquire(1);
    let (_, ww) = counting();
    let mut write = sem.acquire_async(10);
    assert!(poll(&mut write, &ww).is_pending());
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            sem.acquire(1);
            sem.release(1);
        });
        wait_until("the thread queues", || sem.waiters() == 2);
        drop(write);
        reader.join().unwrap();
    });
    assert_eq!((sem.available(), sem.waiters()), (9, 0));
    sem.release(1);
}

/// A future granted by a release but dropped before it was polled again hands the
/// weight on to the next waiter (Go: "pretend we didn't"), which is woken.
#[test]
fn a_grant_never_observed_passes_on() {
    let sem = Semaphore::new(1);
    sem.acquire(1);
    let (ca, wa) = counting();
    let (cb, wb) = counting();
    let mut a = sem.acquire_async(1);
    let mut b = sem.acquire_async(1);
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    sem.release(1); // grants `a`
    assert_eq!((wakes(&ca), wakes(&cb), sem.available()), (1, 0, 0));
    drop(a);
    assert_eq!(wakes(&cb), 1, "the weight went on to `b`");
    assert_eq!(poll(&mut b, &wb), Poll::Ready(()));
    assert_eq!((sem.available(), sem.waiters()), (0, 0));
    sem.release(1);
    assert_eq!(sem.available(), 1);
}

/// Drop a waiter at every poll point, with a second waiter queued behind it: before the
/// first poll, queued (after one and two polls), granted but not polled, and completed.
/// Each time no weight is leaked or lost, no entry is left, and the waiter behind is
/// served exactly when the weight is free for it.
#[test]
fn cancel_at_every_poll_point() {
    for drop_at in 0..5 {
        let sem = Semaphore::new(2);
        sem.acquire(2);
        let (_, waker) = counting();
        let (cn, wn) = counting();
        let mut fut = sem.acquire_async(2);
        let mut next: Option<AcquireAsync<'_>> = None;
        let mut released = false;
        let mut held_by_fut = false;
        for step in 0..drop_at {
            match step {
                0 => {
                    assert!(poll(&mut fut, &waker).is_pending());
                    let mut n = sem.acquire_async(1);
                    assert!(poll(&mut n, &wn).is_pending(), "behind the head");
                    next = Some(n);
                }
                1 => assert!(poll(&mut fut, &waker).is_pending()),
                2 => {
                    sem.release(2); // grants `fut` (the head); `next` must wait
                    released = true;
                }
                _ => {
                    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
                    held_by_fut = true;
                }
            }
        }
        drop(fut);
        if held_by_fut {
            sem.release(2);
        }
        if !released {
            sem.release(2);
        }
        match next {
            Some(mut n) => {
                assert_eq!(wakes(&cn), 1, "drop_at {drop_at}: the next waiter woken");
                assert_eq!(poll(&mut n, &wn), Poll::Ready(()));
                assert_eq!(sem.available(), 1, "drop_at {drop_at}");
                drop(n);
                sem.release(1);
            }
            None => assert_eq!(wakes(&cn), 0),
        }
        assert_eq!(
            (sem.available(), sem.waiters()),
            (2, 0),
            "drop_at {drop_at}"
        );
        assert!(sem.try_acquire(2), "drop_at {drop_at}: reusable");
    }
}

/// The guard and owned futures, dropped granted-but-unpolled, pass the weight on too,
/// and their guards release on drop.
#[test]
fn guard_futures_cancel_and_release() {
    let sem = Arc::new(Semaphore::new(1));
    sem.acquire(1);
    let (_, w) = counting();
    let (cn, wn) = counting();
    let mut owned = sem.acquire_owned_async(1);
    let mut guarded = sem.acquire_guard_async(1);
    assert!(poll(&mut owned, &w).is_pending());
    assert!(poll(&mut guarded, &wn).is_pending());
    sem.release(1); // grants `owned`
    drop(owned);
    assert_eq!(wakes(&cn), 1);
    let Poll::Ready(g) = poll(&mut guarded, &wn) else {
        panic!("granted")
    };
    assert_eq!(g.weight(), 1);
    let err = catch_unwind(AssertUnwindSafe(|| poll(&mut guarded, &wn))).unwrap_err();
    assert!(err
        .downcast_ref::<String>()
        .unwrap()
        .contains("polled after"));
    drop(g);
    drop(guarded);
    assert_eq!((sem.available(), sem.waiters()), (1, 0));
}

/// A task that moves to another waker is woken through the new one.
#[test]
fn a_moved_task_is_woken_through_its_new_waker() {
    let sem = Semaphore::new(1);
    sem.acquire(1);
    let (old, w1) = counting();
    let (new, w2) = counting();
    let mut fut = sem.acquire_async(1);
    assert!(poll(&mut fut, &w1).is_pending());
    assert!(poll(&mut fut, &w2).is_pending());
    sem.release(1);
    assert_eq!((wakes(&old), wakes(&new)), (0, 1));
    assert_eq!(poll(&mut fut, &w2), Poll::Ready(()));
    sem.release(1);
}

/// Go's zero-weight rule: an acquire of 0 queues behind waiters (it is not a no-op).
#[test]
fn zero_weight_queues_behind_waiters() {
    let sem = Semaphore::new(1);
    sem.acquire(1);
    let (_, w) = counting();
    let (cz, wz) = counting();
    let mut one = sem.acquire_async(1);
    let mut zero = sem.acquire_async(0);
    assert!(poll(&mut one, &w).is_pending());
    assert!(poll(&mut zero, &wz).is_pending());
    sem.release(1); // grants `one`, then `zero` fits behind it
    assert_eq!(wakes(&cz), 1);
    assert_eq!(poll(&mut zero, &wz), Poll::Ready(()));
    assert_eq!(poll(&mut one, &w), Poll::Ready(()));
    sem.release(1);
}

/// A thread blocked in `acquire` and a task in `acquire_async` on one semaphore are
/// served in arrival order, each woken by the release that grants it.
#[test]
fn a_thread_and_a_task_wait_on_the_same_semaphore() {
    for task_first in [false, true] {
        let sem = Semaphore::new(1);
        sem.acquire(1);
        let (c, waker) = counting();
        let mut task = sem.acquire_async(1);
        let (got_tx, got_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            if task_first {
                assert!(poll(&mut task, &waker).is_pending());
            }
            let sem = &sem;
            s.spawn(move || {
                sem.acquire(1);
                got_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                sem.release(1);
            });
            wait_until("the thread queues", || {
                sem.waiters() == if task_first { 2 } else { 1 }
            });
            if !task_first {
                assert!(poll(&mut task, &waker).is_pending());
            }
            sem.release(1);
            if task_first {
                assert_eq!(wakes(&c), 1, "the task was first in line");
                assert_eq!(poll(&mut task, &waker), Poll::Ready(()));
                assert!(got_rx.try_recv().is_err(), "the thread still waits");
                sem.release(1);
                got_rx.recv().unwrap();
                go_tx.send(()).unwrap();
            } else {
                got_rx.recv().unwrap(); // the thread was first in line
                assert_eq!(wakes(&c), 0);
                assert!(poll(&mut task, &waker).is_pending());
                go_tx.send(()).unwrap(); // the thread's release grants the task
                wait_until("the task is woken", || wakes(&c) == 1);
                assert_eq!(poll(&mut task, &waker), Poll::Ready(()));
                sem.release(1);
            }
        });
        drop(task);
        assert_eq!((sem.available(), sem.waiters()), (1, 0));
    }
}

/// A waker that panics when woken: the release that granted its task panics with the
/// waker's message, but only after the semaphore is fully updated and the other granted
/// task woken.
#[test]
fn a_panicking_waker_leaves_the_semaphore_consistent() {
    let sem = Semaphore::new(2);
    sem.acquire(2);
    let (bad_c, bad_w) = counting();
    bad_c.panic_on_wake.store(true, SeqCst);
    let (good_c, good_w) = counting();
    let mut bad = sem.acquire_async(1);
    let mut good = sem.acquire_async(1);
    assert!(poll(&mut bad, &bad_w).is_pending());
    assert!(poll(&mut good, &good_w).is_pending());
    let r = catch_unwind(AssertUnwindSafe(|| sem.release(2)));
    assert!(r.is_err(), "the waker's panic reached the release");
    assert_eq!((wakes(&bad_c), wakes(&good_c)), (1, 1));
    assert_eq!((sem.available(), sem.waiters()), (0, 0));
    assert_eq!(poll(&mut bad, &bad_w), Poll::Ready(()));
    assert_eq!(poll(&mut good, &good_w), Poll::Ready(()));
    sem.release(2);
}

/// A waker whose clone panics: the poll panics before anything changed.
#[test]
fn a_panicking_waker_clone_changes_nothing() {
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        panic!("clone panics")
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the data pointer.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let sem = Semaphore::new(1);
    sem.acquire(1);
    let mut fut = sem.acquire_async(1);
    assert!(catch_unwind(AssertUnwindSafe(|| poll(&mut fut, &waker))).is_err());
    assert_eq!(sem.waiters(), 0);
    drop(fut);
    sem.release(1);
    assert_eq!((sem.available(), sem.waiters()), (1, 0));
}

// ---- executors -----------------------------------------------------------------------

/// Go's TestWeighted with tasks on tokio's multi-thread runtime and threads at once:
/// weights 0..n hammer a semaphore of size n.
#[test]
fn weighted_hammer_tokio_tasks_and_threads() {
    const N: u64 = 4;
    let sem = Arc::new(Semaphore::new(N));
    let rt = tokio_rt();
    let tasks: Vec<_> = (0..=N)
        .map(|i| {
            let sem = Arc::clone(&sem);
            rt.spawn(async move {
                for k in 0..300 {
                    let g = sem.acquire_owned_async(i).await;
                    if k % 4 == 0 {
                        tokio::task::yield_now().await;
                    }
                    drop(g);
                }
            })
        })
        .collect();
    std::thread::scope(|s| {
        for i in 1..=2 {
            let sem = &sem;
            s.spawn(move || {
                for _ in 0..300 {
                    drop(sem.acquire_guard(i));
                }
            });
        }
    });
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!((sem.available(), sem.waiters()), (N, 0));
}

/// Go's TestLargeAcquireDoesntStarve with tasks on tokio: small holders keep releasing
/// and re-acquiring while a task waits for the whole semaphore; it is served.
#[test]
fn large_acquire_doesnt_starve_tokio() {
    const N: u64 = 4;
    let sem = Arc::new(Semaphore::new(N));
    let running = Arc::new(AtomicBool::new(true));
    let rt = tokio_rt();
    let mut small = vec![];
    for _ in 0..N {
        sem.acquire(1);
        let (sem, running) = (Arc::clone(&sem), Arc::clone(&running));
        small.push(rt.spawn(async move {
            while running.load(SeqCst) {
                tokio::task::yield_now().await;
                sem.release(1);
                sem.acquire_async(1).await;
            }
            sem.release(1);
        }));
    }
    rt.block_on(async {
        let all = sem.acquire_guard_async(N).await;
        running.store(false, SeqCst);
        drop(all);
        for t in small {
            t.await.unwrap();
        }
    });
    assert_eq!((sem.available(), sem.waiters()), (N, 0));
}

/// Cancellation under tokio: acquires raced against a timer in `select!`; whichever
/// wins, no weight is leaked or lost.
#[test]
fn select_cancellation_under_tokio_loses_nothing() {
    const N: u64 = 3;
    let sem = Arc::new(Semaphore::new(N));
    let rt = tokio_rt();
    rt.block_on(async {
        let mut tasks = vec![];
        for i in 0..8u64 {
            let sem = Arc::clone(&sem);
            tasks.push(tokio::spawn(async move {
                for k in 0..100u64 {
                    tokio::select! {
                        g = sem.acquire_owned_async(1 + (i + k) % N) => {
                            tokio::task::yield_now().await;
                            drop(g);
                        }
                        () = tokio::task::yield_now() => {}
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!((sem.available(), sem.waiters()), (N, 0));
}

/// The same workload on `futures::executor`: tasks on a `LocalPool` plus `block_on`
/// threads, all on one semaphore.
#[test]
fn futures_executor_local_pool_and_block_on_threads() {
    use futures::task::LocalSpawnExt;
    const N: u64 = 3;
    let sem = Arc::new(Semaphore::new(N));
    let done = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for i in 0..2u64 {
            let sem = &sem;
            s.spawn(move || {
                futures::executor::block_on(async {
                    for k in 0..200u64 {
                        let g = sem.acquire_guard_async(1 + (i + k) % N).await;
                        drop(g);
                    }
                })
            });
        }
        let mut pool = futures::executor::LocalPool::new();
        for i in 0..4u64 {
            let (sem, done) = (Arc::clone(&sem), Arc::clone(&done));
            pool.spawner()
                .spawn_local(async move {
                    for k in 0..200u64 {
                        let g = sem.acquire_owned_async(1 + (i * k) % N).await;
                        drop(g);
                    }
                    done.fetch_add(1, SeqCst);
                })
                .unwrap();
        }
        pool.run();
    });
    assert_eq!(done.load(SeqCst), 4);
    assert_eq!((sem.available(), sem.waiters()), (N, 0));
}

// ---- proptest against a model ---------------------------------------------------------

const SIZE: u64 = 4;

#[derive(Debug, Clone)]
enum Op {
    /// A new future for weight n (not yet polled).
    New(u64),
    /// Poll one future (by index).
    Poll(usize),
    /// Drop one future (by index).
    Drop(usize),
    /// Release one held weight (by index).
    Release(usize),
    TryAcquire(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..=SIZE).prop_map(Op::New),
        any::<usize>().prop_map(Op::Poll),
        any::<usize>().prop_map(Op::Drop),
        any::<usize>().prop_map(Op::Release),
        (0..=SIZE).prop_map(Op::TryAcquire),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    Unpolled,
    Queued,
    Granted,
    Done,
}

/// Go's algorithm as plainly as it can be written, for futures.
struct Model {
    cur: u64,
    /// Queued futures in arrival order: (future id, weight).
    queue: VecDeque<(usize, u64)>,
    /// Each future's state and the wakes it should have had.
    futs: Vec<(St, u64, usize)>,
    held: Vec<u64>,
}

impl Model {
    fn notify(&mut self) {
        while let Some(&(id, n)) = self.queue.front() {
            if SIZE - self.cur < n {
                break;
            }
            self.queue.pop_front();
            self.cur += n;
            self.futs[id].0 = St::Granted;
            self.futs[id].2 += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn acquire_async_matches_fifo_model(ops in proptest::collection::vec(op(), 1..40)) {
        let sem = Semaphore::new(SIZE);
        let mut model = Model { cur: 0, queue: VecDeque::new(), futs: vec![], held: vec![] };
        // Live futures: (model id, future, waker counter, waker).
        let mut live: Vec<(usize, AcquireAsync<'_>, Arc<Counting>, Waker)> = vec![];
        for op in ops {
            match op {
                Op::New(n) => {
                    let (c, w) = counting();
                    live.push((model.futs.len(), sem.acquire_async(n), c, w));
                    model.futs.push((St::Unpolled, n, 0));
                }
                Op::Poll(i) => {
                    if live.is_empty() { continue; }
                    let len = live.len();
                    let (id, fut, _, w) = &mut live[i % len];
                    let (st, n, _) = model.futs[*id];
                    let ready = match st {
                        St::Unpolled if SIZE - model.cur >= n && model.queue.is_empty() => {
                            model.cur += n;
                            model.held.push(n);
                            model.futs[*id].0 = St::Done;
                            true
                        }
                        St::Unpolled => {
                            model.queue.push_back((*id, n));
                            model.futs[*id].0 = St::Queued;
                            false
                        }
                        St::Queued => false,
                        St::Granted => {
                            model.held.push(n);
                            model.futs[*id].0 = St::Done;
                            true
                        }
                        St::Done => true,
                    };
                    prop_assert_eq!(poll(fut, w).is_ready(), ready);
                }
                Op::Drop(i) => {
                    if live.is_empty() { continue; }
                    let (id, fut, _, _) = live.swap_remove(i % live.len());
                    let (st, n, _) = model.futs[id];
                    match st {
                        St::Unpolled | St::Done => {}
                        St::Queued => {
                            let pos = model.queue.iter().position(|e| e.0 == id).unwrap();
                            model.queue.remove(pos);
                            if pos == 0 && SIZE > model.cur {
                                model.notify();
                            }
                        }
                        St::Granted => {
                            model.cur -= n;
                            model.notify();
                        }
                    }
                    drop(fut);
                }
                Op::Release(i) => {
                    if model.held.is_empty() { continue; }
                    let n = model.held.swap_remove(i % model.held.len());
                    model.cur -= n;
                    model.notify();
                    sem.release(n);
                }
                Op::TryAcquire(n) => {
                    let ok = SIZE - model.cur >= n && model.queue.is_empty();
                    if ok {
                        model.cur += n;
                        model.held.push(n);
                    }
                    prop_assert_eq!(sem.try_acquire(n), ok);
                }
            }
            prop_assert_eq!(sem.waiters(), model.queue.len());
            prop_assert_eq!(sem.available(), SIZE - model.cur);
            for (id, _, c, _) in &live {
                prop_assert_eq!(wakes(c), model.futs[*id].2, "wakes of future {}", id);
            }
        }
        // Drop everything (tail of the queue first, so no drop grants anyone), release
        // every held weight: the whole size is free again.
        live.sort_by_key(|(id, ..)| std::cmp::Reverse(
            model.queue.iter().position(|e| e.0 == *id).unwrap_or(usize::MAX)));
        for (id, fut, ..) in live {
            if model.futs[id].0 == St::Granted {
                model.cur -= model.futs[id].1;
            }
            drop(fut);
        }
        for n in model.held.drain(..) {
            sem.release(n);
        }
        prop_assert_eq!((sem.available(), sem.waiters()), (SIZE, 0));
    }
}

/// Go's `Acquire(ctx, n)` as `ctx.run_until_done(sem.acquire_async(n))`, with Go's
/// outcomes (TestWeightedAcquire's shape with a cancel instead of a timeout): a context
/// already done fails even with the weight free; one cancelled while queued fails and
/// leaves the semaphore unchanged, waking the waiter behind a cancelled head.
#[test]
fn acquire_with_a_context_is_run_until_done() {
    use gosync_context::{background, with_cancel, Error};
    let sem = Semaphore::new(2);
    let (done_ctx, cancel) = with_cancel(&background());
    cancel.cancel();
    let r = futures::executor::block_on(done_ctx.run_until_done(sem.acquire_async(1)));
    assert_eq!(
        r,
        Err(Error::Canceled),
        "done first: fails though the weight is free"
    );
    assert_eq!(sem.available(), 2);

    sem.acquire(1);
    let (ctx, cancel) = with_cancel(&background());
    let (_, w) = counting();
    let (cb, wb) = counting();
    let mut head = Box::pin(ctx.run_until_done(sem.acquire_async(2)));
    assert!(head
        .as_mut()
        .poll(&mut Context::from_waker(&w))
        .is_pending());
    let mut behind = sem.acquire_async(1);
    assert!(
        poll(&mut behind, &wb).is_pending(),
        "queued behind the head"
    );
    cancel.cancel();
    assert_eq!(
        head.as_mut().poll(&mut Context::from_waker(&w)),
        Poll::Ready(Err(Error::Canceled))
    );
    drop(head);
    assert_eq!(
        wakes(&cb),
        1,
        "the cancelled head woke the waiter behind it"
    );
    assert_eq!(poll(&mut behind, &wb), Poll::Ready(()));
    assert_eq!((sem.available(), sem.waiters()), (0, 0));
    sem.release(2);
}
