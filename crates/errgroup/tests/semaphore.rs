//! Semaphore: Go's semaphore_test.go mirrored (each test named after its Go
//! counterpart), FIFO and cancellation cases, and a proptest against a FIFO model.
#![cfg(not(loom))]

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use gosync_context::{background, with_cancel, with_timeout, CancelFunc, Error};
use gosync_errgroup::{Group, Semaphore};
use gosync_testkit::wait_until;
use proptest::prelude::*;

fn hammer_weighted(sem: &Semaphore, n: u64, loops: usize) {
    for i in 0..loops {
        sem.acquire(n);
        if i % 8 == 0 {
            std::thread::yield_now();
        }
        sem.release(n);
    }
}

/// Go's TestWeighted: threads of weights 0..n hammer a semaphore of size n.
#[test]
fn weighted() {
    let n = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .max(4);
    let sem = Semaphore::new(n as u64);
    std::thread::scope(|s| {
        for i in 0..n {
            let sem = &sem;
            s.spawn(move || hammer_weighted(sem, i as u64, 1000));
        }
    });
    assert_eq!(sem.available(), n as u64);
}

/// Go's TestWeightedPanic, with Go's message; the semaphore is unchanged after it.
#[test]
fn weighted_panic() {
    let w = Semaphore::new(1);
    let err = catch_unwind(AssertUnwindSafe(|| w.release(1))).unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().unwrap(),
        "semaphore: released more than held"
    );
    assert_eq!(w.available(), 1);
    w.acquire(1);
    assert!(catch_unwind(AssertUnwindSafe(|| w.release(2))).is_err());
    assert_eq!(w.available(), 0, "the bad release changed nothing");
    w.release(1);
}

/// Go's TestWeightedTryAcquire.
#[test]
fn weighted_try_acquire() {
    let ctx = background();
    let sem = Semaphore::new(2);
    let mut tries = vec![];
    sem.acquire_context(&ctx, 1).unwrap();
    tries.push(sem.try_acquire(1));
    tries.push(sem.try_acquire(1));
    sem.release(2);
    tries.push(sem.try_acquire(1));
    sem.acquire_context(&ctx, 1).unwrap();
    tries.push(sem.try_acquire(1));
    assert_eq!(tries, [true, false, true, false]);
}

/// Go's TestWeightedAcquire: an acquire with a 10 ms timeout succeeds at once when the
/// weight is free and fails (after the timeout) when it is not. The acquires expected to
/// succeed get a long time-out (a hang guard): an acquire checks its context before
/// taking free weight (Go's rule), so a 10 ms one could expire while this thread is
/// descheduled on a loaded machine and fail although the weight is free.
#[test]
fn weighted_acquire() {
    let ctx = background();
    let sem = Semaphore::new(2);
    let try_acquire = |n, timeout| {
        let (ctx, _cancel) = with_timeout(&ctx, timeout);
        sem.acquire_context(&ctx, n).is_ok()
    };
    let (free, busy) = (Duration::from_secs(60), Duration::from_millis(10));
    let mut tries = vec![];
    sem.acquire_context(&ctx, 1).unwrap();
    tries.push(try_acquire(1, free));
    tries.push(try_acquire(1, busy));
    sem.release(2);
    tries.push(try_acquire(1, free));
    sem.acquire_context(&ctx, 1).unwrap();
    tries.push(try_acquire(1, busy));
    assert_eq!(tries, [true, false, true, false]);
}

/// Go's TestWeightedDoesntBlockIfTooBig: an acquire of more than the size does not
/// queue, so it blocks nobody behind it.
#[test]
fn weighted_doesnt_block_if_too_big() {
    const N: u64 = 2;
    let sem = Arc::new(Semaphore::new(N));
    let (big_ctx, big_cancel) = with_cancel(&background());
    let big = {
        let sem = Arc::clone(&sem);
        std::thread::spawn(move || sem.acquire_context(&big_ctx, N + 1))
    };
    let (g, ctx) = Group::with_context(&background());
    for _ in 0..N * 3 {
        let (sem, ctx) = (Arc::clone(&sem), ctx.clone());
        g.go(move || {
            sem.acquire_context(&ctx, 1)?;
            std::thread::yield_now();
            sem.release(1);
            Ok::<_, Error>(())
        });
    }
    g.wait().unwrap();
    big_cancel.cancel();
    assert_eq!(big.join().unwrap(), Err(Error::Canceled));
    assert_eq!(sem.waiters(), 0);
}

/// Go's TestLargeAcquireDoesntStarve: a waiter for the whole semaphore is served even
/// though small holders keep releasing and re-acquiring.
#[test]
fn large_acquire_doesnt_starve() {
    let n = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .max(2) as u64;
    let sem = Semaphore::new(n);
    let running = AtomicBool::new(true);
    std::thread::scope(|s| {
        for _ in 0..n {
            sem.acquire(1);
            s.spawn(|| {
                while running.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                    sem.release(1);
                    sem.acquire(1);
                }
                sem.release(1);
            });
        }
        sem.acquire(n);
        running.store(false, Ordering::SeqCst);
        sem.release(n);
    });
}

/// Go's TestAllocCancelDoesntStarve: a cancelled large waiter at the head wakes the small
/// waiter queued behind it.
#[test]
fn alloc_cancel_doesnt_starve() {
    let sem = Semaphore::new(10);
    sem.acquire(1);
    let (ctx, cancel) = with_cancel(&background());
    std::thread::scope(|s| {
        let big = s.spawn(|| sem.acquire_context(&ctx, 10));
        wait_until("the large acquire queues", || sem.waiters() == 1);
        // Now try to grab a read lock, and simultaneously unblock the Acquire(_, 10).
        s.spawn(move || cancel.cancel());
        sem.acquire(1);
        sem.release(1);
        assert_eq!(big.join().unwrap(), Err(Error::Canceled));
    });
    sem.release(1);
    assert_eq!(sem.available(), 10);
}

/// Go's TestWeightedAcquireCanceled (go.dev/issue/63615): a waiter whose context is
/// cancelled before the weight is released fails, even if the release then grants it;
/// the weight goes back; an acquire with a done context fails even when it would fit.
#[test]
fn weighted_acquire_canceled() {
    let sem = Semaphore::new(2);
    let (ctx, cancel) = with_cancel(&background());
    sem.acquire(1);
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            wait_until("the acquire of 2 queues", || sem.waiters() == 1);
            cancel.cancel();
            sem.release(1);
        });
        assert_eq!(sem.acquire_context(&ctx, 2), Err(Error::Canceled));
        other.join().unwrap();
    });
    assert!(
        sem.try_acquire(2),
        "TryAcquire after canceled Acquire failed"
    );
    sem.release(2);
    assert_eq!(sem.acquire_context(&ctx, 1), Err(Error::Canceled));
    assert_eq!(sem.available(), 2);
}

/// FIFO as Go's: a large waiter at the head blocks a small one that would fit, and
/// `try_acquire` fails while anyone waits.
#[test]
fn large_head_blocks_smaller_waiters_behind_it() {
    let sem = Semaphore::new(3);
    sem.acquire(2);
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let sem = &sem;
    std::thread::scope(|s| {
        s.spawn(move || {
            sem.acquire(3);
            tx2.send(3).unwrap();
        });
        wait_until("the acquire of 3 queues", || sem.waiters() == 1);
        s.spawn(move || {
            sem.acquire(1); // fits (1 free) but waits behind the head
            tx.send(1).unwrap();
        });
        wait_until("the acquire of 1 queues", || sem.waiters() == 2);
        assert!(!sem.try_acquire(1), "try_acquire must not jump the queue");
        assert_eq!(sem.available(), 1);
        sem.release(2); // the head (3) fits now; the 1 does not
        assert_eq!(rx.recv().unwrap(), 3);
        assert_eq!(sem.waiters(), 1);
        sem.release(3);
        assert_eq!(rx.recv().unwrap(), 1);
        sem.release(1);
    });
    assert_eq!(sem.available(), 3);
}

/// A waiter that gives up (context) and then acquires again, while others race it.
#[test]
fn waiter_gives_up_then_acquires_again() {
    let sem = Semaphore::new(1);
    sem.acquire(1);
    let (ctx, cancel) = with_cancel(&background());
    let gave_up = AtomicBool::new(false);
    std::thread::scope(|s| {
        let w = s.spawn(|| {
            let first = sem.acquire_context(&ctx, 1);
            gave_up.store(true, Ordering::SeqCst);
            sem.acquire(1); // again, without a context
            first
        });
        wait_until("the waiter queues", || sem.waiters() == 1);
        cancel.cancel();
        wait_until("the waiter gives up and queues again", || {
            gave_up.load(Ordering::SeqCst) && sem.waiters() == 1
        });
        sem.release(1);
        assert_eq!(w.join().unwrap(), Err(Error::Canceled));
    });
    sem.release(1);
    assert_eq!(sem.available(), 1);
}

#[test]
fn acquire_more_than_size_panics_without_context() {
    let sem = Semaphore::new(2);
    let err = catch_unwind(AssertUnwindSafe(|| sem.acquire(3))).unwrap_err();
    assert!(err
        .downcast_ref::<String>()
        .unwrap()
        .contains("exceeds the size 2"));
    assert_eq!(sem.available(), 2);
}

#[test]
fn zero_weight_queues_behind_waiters_as_go() {
    let sem = Semaphore::new(1);
    assert!(sem.try_acquire(0));
    sem.acquire(1);
    std::thread::scope(|s| {
        s.spawn(|| sem.acquire(1));
        wait_until("the waiter queues", || sem.waiters() == 1);
        assert!(
            !sem.try_acquire(0),
            "a zero weight waits behind the queue too"
        );
        sem.release(1);
    });
    sem.release(1);
}

#[test]
fn guards_release_on_drop_and_unwind() {
    let sem = Semaphore::new(2);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = sem.acquire_guard(2);
        panic!("holder died");
    }));
    assert!(r.is_err());
    assert_eq!(sem.available(), 2);
    let (ctx, cancel) = with_cancel(&background());
    let g = sem.acquire_context_guard(&ctx, 1).unwrap();
    assert_eq!(g.weight(), 1);
    cancel.cancel();
    assert_eq!(
        sem.acquire_context_guard(&ctx, 1).unwrap_err(),
        Error::Canceled
    );
    drop(g);
    assert_eq!(sem.available(), 2);
}

#[test]
fn deadline_context_ends_the_wait() {
    let sem = Semaphore::new(1);
    sem.acquire(1);
    let (ctx, _c) = with_timeout(&background(), Duration::from_millis(1));
    assert_eq!(sem.acquire_context(&ctx, 1), Err(Error::DeadlineExceeded));
    assert_eq!(sem.waiters(), 0);
    sem.release(1);
}

// ---- proptest against a model -------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    TryAcquire(u64),
    /// A new thread calls `acquire_context` with its own context.
    Acquire(u64),
    /// Release one of the held weights (chosen by index).
    Release(usize),
    /// Cancel the context of one of the waiting acquirers (chosen by index).
    Cancel(usize),
}

const SIZE: u64 = 4;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..=SIZE).prop_map(Op::TryAcquire),
        (0..=SIZE).prop_map(Op::Acquire),
        any::<usize>().prop_map(Op::Release),
        any::<usize>().prop_map(Op::Cancel),
    ]
}

/// The reference: Go's algorithm as plainly as it can be written.
#[derive(Default)]
struct Model {
    cur: u64,
    /// Waiting acquirers in arrival order: (id, weight).
    queue: VecDeque<(usize, u64)>,
    /// Weights held, by holder (acquirers granted, or try_acquires).
    held: Vec<u64>,
}

impl Model {
    /// Grants the head while it fits; returns the ids granted.
    fn notify(&mut self) -> Vec<usize> {
        let mut granted = vec![];
        while let Some(&(id, n)) = self.queue.front() {
            if SIZE - self.cur < n {
                break;
            }
            self.queue.pop_front();
            self.cur += n;
            self.held.push(n);
            granted.push(id);
        }
        granted
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn semaphore_matches_fifo_model(ops in proptest::collection::vec(op(), 1..30)) {
        let sem = Arc::new(Semaphore::new(SIZE));
        let mut model = Model::default();
        let (tx, rx) = mpsc::channel::<(usize, Result<(), Error>)>();
        let mut cancels: Vec<Option<CancelFunc>> = vec![];
        let mut threads = vec![];
        // Receives exactly the reports `want` (acquirer id, result), in any order.
        let expect = |want: Vec<(usize, Result<(), Error>)>| {
            let mut got: Vec<_> = want
                .iter()
                .map(|_| rx.recv_timeout(Duration::from_secs(60)).expect("hang: an acquirer did not report"))
                .collect();
            got.sort_by_key(|r| r.0);
            let mut want = want;
            want.sort_by_key(|r| r.0);
            assert_eq!(got, want);
        };
        let oks = |ids: Vec<usize>| ids.into_iter().map(|id| (id, Ok(()))).collect::<Vec<_>>();
        for op in ops {
            match op {
                Op::TryAcquire(n) => {
                    let ok = SIZE - model.cur >= n && model.queue.is_empty();
                    if ok {
                        model.cur += n;
                        model.held.push(n);
                    }
                    prop_assert_eq!(sem.try_acquire(n), ok);
                }
                Op::Acquire(n) => {
                    let id = cancels.len();
                    let (ctx, cancel) = with_cancel(&background());
                    cancels.push(Some(cancel));
                    let (sem2, tx) = (Arc::clone(&sem), tx.clone());
                    threads.push(std::thread::spawn(move || {
                        let _ = tx.send((id, sem2.acquire_context(&ctx, n)));
                    }));
                    if SIZE - model.cur >= n && model.queue.is_empty() {
                        model.cur += n;
                        model.held.push(n);
                        expect(vec![(id, Ok(()))]);
                    } else {
                        model.queue.push_back((id, n));
                        let want = model.queue.len();
                        wait_until("the acquirer queues", || sem.waiters() == want);
                    }
                }
                Op::Release(i) => {
                    if model.held.is_empty() {
                        continue;
                    }
                    let n = model.held.swap_remove(i % model.held.len());
                    model.cur -= n;
                    let granted = model.notify();
                    sem.release(n);
                    expect(oks(granted));
                }
                Op::Cancel(i) => {
                    if model.queue.is_empty() {
                        continue;
                    }
                    let pos = i % model.queue.len();
                    let (id, _) = model.queue.remove(pos).unwrap();
                    let granted = if pos == 0 && SIZE > model.cur { model.notify() } else { vec![] };
                    cancels[id].take().unwrap().cancel();
                    let mut want = oks(granted);
                    want.push((id, Err(Error::Canceled)));
                    expect(want);
                }
            }
            prop_assert_eq!(sem.waiters(), model.queue.len());
            prop_assert_eq!(sem.available(), SIZE - model.cur);
        }
        // Drain: cancel every waiter (tail first, so no cancel grants anyone), release
        // everything.
        for (id, _) in std::mem::take(&mut model.queue).into_iter().rev() {
            cancels[id].take().unwrap().cancel();
        }
        for t in threads {
            t.join().unwrap();
        }
        for n in model.held.drain(..) {
            sem.release(n);
        }
        prop_assert_eq!(sem.available(), SIZE);
    }
}
