//! `errgroup::Group::wait_async` / `go_async` and `singleflight::Handle` as a future: first-error
//! semantics as the blocking `wait`, under two executors (tokio's multi-thread runtime,
//! `futures::executor`), next to blocking waiters, cancelled at every poll point.
#![cfg(not(loom))]
// Tasks written `move || Ok(gate.recv().unwrap())`: block, then succeed.
#![allow(clippy::unit_arg)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::Poll;

use gosync_context::background;
use gosync_errgroup::{singleflight, Group, TaskPanicked};
use gosync_testkit::{counting, poll, wait_until};

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[derive(Debug, Clone, PartialEq)]
struct Failed(u32);
impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "task {} failed", self.0)
    }
}
impl std::error::Error for Failed {}

// ---- errgroup -------------------------------------------------------------------------

#[test]
fn group_wait_async_is_send_and_unpin() {
    fn check<T: Send + Unpin>(_: &T) {}
    let g = Group::<Failed>::new();
    check(&g.wait_async());
}

/// The first error, as the blocking `wait`: the first task to fail is the one returned,
/// the context is cancelled with it as its cause, and the error is handed over (the next
/// wait returns `Ok`).
#[test]
fn group_wait_async_returns_the_first_error_and_cancels_the_context() {
    let (g, ctx) = Group::with_context(&background());
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    g.go(|| Err(Failed(1)));
    g.go(move || {
        gate_rx.recv().unwrap(); // fails only after the first error was recorded
        Err(Failed(2))
    });
    wait_until("the first error cancels the context", || ctx.is_done());
    let (_, waker) = counting();
    let mut fut = g.wait_async();
    assert!(poll(&mut fut, &waker).is_pending(), "a task still runs");
    gate_tx.send(()).unwrap();
    assert_eq!(futures::executor::block_on(fut), Err(Failed(1)));
    assert_eq!(
        ctx.cause().unwrap().downcast_ref::<Failed>(),
        Some(&Failed(1))
    );
    assert_eq!(futures::executor::block_on(g.wait_async()), Ok(()));
}

/// A panicking task: `wait_async` resumes the first panic once every task returned.
#[test]
fn group_wait_async_resumes_a_task_panic() {
    let (g, ctx) = Group::<Failed>::with_context(&background());
    g.go(|| panic!("boom"));
    g.go(|| Ok(()));
    let err = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(g.wait_async())
    }))
    .unwrap_err();
    assert_eq!(*err.downcast_ref::<&str>().unwrap(), "boom");
    let cause = ctx.cause().unwrap();
    assert_eq!(
        cause.downcast_ref::<TaskPanicked>().unwrap().message(),
        "boom"
    );
    assert_eq!(futures::executor::block_on(g.wait_async()), Ok(()));
}

/// Dropped at every poll point: before its first poll, registered, and after the last
/// task returned but before it was polled. The round's error stays in the group for the
/// next wait (blocking or async); nothing is left registered.
#[test]
fn group_wait_async_cancel_at_every_poll_point() {
    for drop_at in 0..3 {
        let g = Group::<Failed>::new();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        g.go(move || {
            gate_rx.recv().unwrap();
            Err(Failed(drop_at))
        });
        let (_, waker) = counting();
        let mut fut = g.wait_async();
        if drop_at >= 1 {
            assert!(poll(&mut fut, &waker).is_pending());
        }
        gate_tx.send(()).unwrap();
        if drop_at >= 2 {
            wait_until("the task returns", || format!("{g:?}").contains("tasks: 0"));
        }
        drop(fut);
        // The error was not taken by the dropped future.
        if drop_at % 2 == 0 {
            assert_eq!(g.wait(), Err(Failed(drop_at)), "drop_at {drop_at}");
        } else {
            assert_eq!(
                futures::executor::block_on(g.wait_async()),
                Err(Failed(drop_at)),
                "drop_at {drop_at}"
            );
        }
        // Reusable: a new round, waited both ways at once.
        g.go(|| Ok(()));
        std::thread::scope(|s| {
            s.spawn(|| g.wait().unwrap());
        });
        assert_eq!(futures::executor::block_on(g.wait_async()), Ok(()));
    }
}

/// A thread in `wait` and a task in `wait_async` on one group are both released by the
/// last task; exactly one of them gets the round's error (it is handed over once).
#[test]
fn group_thread_and_task_wait_together() {
    let g = Group::<Failed>::new();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    g.go(move || {
        gate_rx.recv().unwrap();
        Err(Failed(9))
    });
    let rt = tokio_rt();
    let task = {
        let g = g.clone();
        rt.spawn(async move { g.wait_async().await })
    };
    let thread = {
        let g = g.clone();
        std::thread::spawn(move || g.wait())
    };
    gate_tx.send(()).unwrap();
    let a = rt.block_on(task).unwrap();
    let b = thread.join().unwrap();
    let mut got = [a, b];
    got.sort_by_key(Result::is_ok);
    assert_eq!(got, [Err(Failed(9)), Ok(())]);
}

/// Many tasks under tokio: a group's tasks run on threads, the tokio task awaits them.
#[test]
fn group_wait_async_under_tokio() {
    let rt = tokio_rt();
    let hits = Arc::new(AtomicUsize::new(0));
    let result = rt.block_on({
        let hits = Arc::clone(&hits);
        async move {
            let (g, ctx) = Group::with_context(&background());
            g.set_limit(3);
            for i in 0..12u32 {
                let (hits, ctx) = (Arc::clone(&hits), ctx.clone());
                g.go(move || {
                    hits.fetch_add(1, SeqCst);
                    if i == 5 {
                        return Err(Failed(i));
                    }
                    let _ = ctx.is_done();
                    Ok(())
                });
            }
            g.wait_async().await
        }
    });
    assert_eq!(result, Err(Failed(5)));
    assert_eq!(hits.load(SeqCst), 12);
}

#[test]
fn group_wait_async_polled_after_completion_panics() {
    let g = Group::<Failed>::new();
    let (_, waker) = counting();
    let mut fut = g.wait_async();
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(Ok(())));
    assert!(catch_unwind(AssertUnwindSafe(|| poll(&mut fut, &waker))).is_err());
}

// ---- errgroup: go_async ---------------------------------------------------------------

#[test]
fn go_async_is_send_and_unpin() {
    fn check<T: Send + Unpin>(_: &T) {}
    let g = Group::<Failed>::new();
    let fut = g.go_async(|| Ok(()));
    check(&fut);
    drop(fut);
}

/// Without a limit (or with a free slot) the task starts on the first poll.
#[test]
fn go_async_without_a_limit_starts_at_once() {
    let g = Group::<Failed>::new();
    let (c, waker) = counting();
    let mut fut = g.go_async(|| Err(Failed(3)));
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    assert!(catch_unwind(AssertUnwindSafe(|| poll(&mut fut, &waker))).is_err());
    drop(fut);
    assert_eq!(g.wait(), Err(Failed(3)));
    assert_eq!(c.count(), 0);
}

/// A full limit: the future waits (the closure is not run), is woken when the running
/// task ends and gives its slot back, and then starts its task.
#[test]
fn go_async_waits_for_a_slot() {
    let g = Group::<Failed>::new();
    g.set_limit(1);
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    g.go(move || Ok(gate_rx.recv().unwrap()));
    let ran = Arc::new(AtomicUsize::new(0));
    let (c, waker) = counting();
    let mut fut = {
        let ran = Arc::clone(&ran);
        g.go_async(move || {
            ran.fetch_add(1, SeqCst);
            Ok(())
        })
    };
    assert!(poll(&mut fut, &waker).is_pending());
    assert!(poll(&mut fut, &waker).is_pending());
    assert!(format!("{g:?}").contains("go_async_waiting: 1"), "{g:?}");
    gate_tx.send(()).unwrap();
    wait_until("the slot is freed", || c.count() >= 1);
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    drop(fut);
    g.wait().unwrap();
    assert_eq!(ran.load(SeqCst), 1);
    assert!(!format!("{g:?}").contains("go_async_waiting"), "{g:?}");
}

/// Dropped while waiting for a slot (after one and two polls, and after the wake-up but
/// before the next poll): the closure is dropped unrun, no registration is left, and the
/// freed slot is taken by the next comer.
#[test]
fn go_async_cancel_at_every_poll_point() {
    for drop_at in 0..4 {
        let g = Group::<Failed>::new();
        g.set_limit(1);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        g.go(move || Ok(gate_rx.recv().unwrap()));
        let ran = Arc::new(AtomicUsize::new(0));
        let (c, waker) = counting();
        let mut fut = {
            let ran = Arc::clone(&ran);
            g.go_async(move || {
                ran.fetch_add(1, SeqCst);
                Ok(())
            })
        };
        for _ in 0..drop_at.min(2) {
            assert!(poll(&mut fut, &waker).is_pending());
        }
        if drop_at == 3 {
            gate_tx.send(()).unwrap();
            wait_until("woken", || c.count() == 1);
        }
        drop(fut);
        assert!(
            !format!("{g:?}").contains("go_async_waiting"),
            "drop_at {drop_at}: {g:?}"
        );
        let _ = gate_tx.send(());
        g.wait().unwrap();
        assert_eq!(
            ran.load(SeqCst),
            0,
            "drop_at {drop_at}: the closure never runs"
        );
        assert!(g.try_go(|| Ok(())), "drop_at {drop_at}: the slot is free");
        g.wait().unwrap();
    }
}

/// `set_limit` removing the limit wakes the waiting task, which starts at once.
#[test]
fn go_async_is_woken_by_set_limit() {
    let g = Group::<Failed>::new();
    g.set_limit(1);
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    g.go(move || Ok(gate_rx.recv().unwrap()));
    let (c, waker) = counting();
    let mut fut = g.go_async(|| Ok(()));
    assert!(poll(&mut fut, &waker).is_pending());
    g.set_limit(-1);
    assert_eq!(c.count(), 1);
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(()));
    gate_tx.send(()).unwrap();
    g.wait().unwrap();
}

#[test]
fn go_async_with_a_limit_of_zero_panics_when_polled() {
    let g = Group::<Failed>::new();
    g.set_limit(0);
    let (_, waker) = counting();
    let mut fut = g.go_async(|| Ok(()));
    let err = catch_unwind(AssertUnwindSafe(|| poll(&mut fut, &waker))).unwrap_err();
    assert!(err.downcast_ref::<String>().unwrap().contains("limit of 0"));
    drop(fut);
    assert!(!format!("{g:?}").contains("go_async_waiting"));
}

/// A thread blocked in `go` and a task in `go_async` wait for the one slot: both start
/// in turn, and never more than the limit run at once.
#[test]
fn go_and_go_async_share_the_limit() {
    let g = Group::<Failed>::new();
    g.set_limit(1);
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let task = {
        let (running, max) = (Arc::clone(&running), Arc::clone(&max));
        move || {
            let now = running.fetch_add(1, SeqCst) + 1;
            max.fetch_max(now, SeqCst);
            std::thread::yield_now();
            running.fetch_sub(1, SeqCst);
            Ok(())
        }
    };
    let rt = tokio_rt();
    std::thread::scope(|s| {
        let g2 = g.clone();
        let t2 = task.clone();
        s.spawn(move || {
            for _ in 0..50 {
                g2.go(t2.clone());
            }
        });
        rt.block_on(async {
            for _ in 0..50 {
                g.go_async(task.clone()).await;
            }
        });
    });
    g.wait().unwrap();
    assert_eq!(max.load(SeqCst), 1);
    assert!(!format!("{g:?}").contains("go_async_waiting"));
}

/// Many tasks under tokio and `futures::executor` start group tasks through a limit
/// of 2 and are all run.
#[test]
fn go_async_under_two_executors() {
    let g = Group::<Failed>::new();
    g.set_limit(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let rt = tokio_rt();
    let spawners: Vec<_> = (0..4)
        .map(|_| {
            let (g, ran) = (g.clone(), Arc::clone(&ran));
            rt.spawn(async move {
                for _ in 0..25 {
                    let ran = Arc::clone(&ran);
                    g.go_async(move || {
                        ran.fetch_add(1, SeqCst);
                        Ok(())
                    })
                    .await;
                }
            })
        })
        .collect();
    futures::executor::block_on(async {
        for _ in 0..25 {
            let ran = Arc::clone(&ran);
            g.go_async(move || {
                ran.fetch_add(1, SeqCst);
                Ok(())
            })
            .await;
        }
    });
    rt.block_on(async {
        for s in spawners {
            s.await.unwrap();
        }
    });
    futures::executor::block_on(g.wait_async()).unwrap();
    assert_eq!(ran.load(SeqCst), 125);
}

// ---- singleflight ----------------------------------------------------------------------

#[test]
fn handle_is_send_and_unpin() {
    fn check<T: Send + Unpin + 'static>(_: &T) {}
    let group = singleflight::Group::new();
    let h = group.spawn(1, || 1);
    check(&h);
}

/// Go's TestDoChan with the handle awaited, under both executors.
#[test]
fn handle_awaited_under_two_executors() {
    let group = singleflight::Group::new();
    let h = group.spawn("key", || "bar".to_string());
    assert_eq!(futures::executor::block_on(h), ("bar".to_string(), false));
    let rt = tokio_rt();
    let h = group.spawn("key", || "baz".to_string());
    assert_eq!(
        rt.block_on(rt.spawn(h)).unwrap(),
        ("baz".to_string(), false)
    );
}

/// Go's TestDoDupSuppress with async followers: tasks joining an in-flight call wait for
/// it without blocking their thread, next to a blocked thread (`run` follower), and all
/// get the one value; the closure ran once.
#[test]
fn async_followers_share_one_call() {
    let group = singleflight::Group::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let leader = {
        let calls = Arc::clone(&calls);
        group.spawn("k", move || {
            calls.fetch_add(1, SeqCst);
            gate_rx.recv().unwrap();
            42
        })
    };
    let followers: Vec<_> = (0..4)
        .map(|_| group.spawn("k", || unreachable!()))
        .collect();
    assert_eq!(group.followers(&"k"), Some(4));
    let (_, waker) = counting();
    let mut polled: Vec<_> = followers;
    for h in &mut polled {
        assert!(poll(h, &waker).is_pending());
    }
    let rt = tokio_rt();
    let joined: Vec<_> = polled.into_iter().map(|h| rt.spawn(h)).collect();
    std::thread::scope(|s| {
        let blocking = s.spawn(|| group.run("k", || unreachable!()));
        wait_until("the blocking follower joins", || {
            group.followers(&"k") == Some(5)
        });
        gate_tx.send(()).unwrap();
        assert_eq!(blocking.join().unwrap(), (42, true));
    });
    for j in joined {
        assert_eq!(rt.block_on(j).unwrap(), (42, true));
    }
    assert_eq!(futures::executor::block_on(leader), (42, true));
    assert_eq!(calls.load(SeqCst), 1);
    assert!(group.is_empty());
}

/// Handles dropped at every poll point (unpolled, registered, after the call finished)
/// never disturb the call: the other handles get its value; a dropped registered handle
/// leaves no waker behind (the call's wake reaches only live tasks).
#[test]
fn handle_cancel_at_every_poll_point() {
    for drop_at in 0..3 {
        let group = singleflight::Group::new();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let leader = group.spawn(drop_at, move || {
            gate_rx.recv().unwrap();
            "v"
        });
        let mut dropped = group.spawn(drop_at, || unreachable!());
        let (cd, wd) = counting();
        let (cl, wl) = counting();
        let mut leader = leader;
        assert!(poll(&mut leader, &wl).is_pending());
        if drop_at >= 1 {
            assert!(poll(&mut dropped, &wd).is_pending());
        }
        if drop_at == 1 {
            drop(dropped);
            gate_tx.send(()).unwrap();
            wait_until("the call ends", || cl.count() == 1);
            assert_eq!(cd.count(), 0, "the dropped handle's waker is gone");
        } else {
            gate_tx.send(()).unwrap();
            wait_until("the call ends", || cl.count() == 1);
            drop(dropped);
        }
        assert_eq!(poll(&mut leader, &wl), Poll::Ready(("v", true)));
        assert_eq!(poll(&mut leader, &wl), Poll::Ready(("v", true)), "again");
        assert!(group.is_empty());
    }
}

/// A leader that panics: every awaited handle panics with the follower message.
#[test]
fn awaited_handles_of_a_panicked_call_panic() {
    let group = singleflight::Group::<u8, u8>::new();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let a = group.spawn(1, move || {
        gate_rx.recv().unwrap();
        panic!("lookup failed")
    });
    let b = group.spawn(1, || unreachable!());
    gate_tx.send(()).unwrap();
    for h in [a, b] {
        let err = catch_unwind(AssertUnwindSafe(|| futures::executor::block_on(h))).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.ends_with("panicked in its leader: lookup failed"),
            "{msg}"
        );
    }
    assert!(group.is_empty());
}

/// A polled (registered) handle can still be waited on by a thread.
#[test]
fn a_polled_handle_can_still_wait_blocking() {
    let group = singleflight::Group::new();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let mut h = group.spawn((), move || {
        gate_rx.recv().unwrap();
        5
    });
    let (_, w) = counting();
    assert!(poll(&mut h, &w).is_pending());
    gate_tx.send(()).unwrap();
    assert_eq!(h.wait(), (5, false));
}
