//! `Context::done_owned` and `Context::run_until_done`: under two executors (tokio,
//! `futures::executor`), cancelled at every poll point, with a deadline on a FakeClock.
#![cfg(not(loom))]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use gosync_context::{
    background, background_with_clock, with_cancel, with_deadline, Error, OwnedDone, RunUntilDone,
};
use gosync_core::FakeClock;
use gosync_testkit::{counting, poll};

/// A future that counts its polls, is pending until `ready` is set, and records its drop.
struct Work {
    polls: Arc<AtomicUsize>,
    ready: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}
impl Future for Work {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<u32> {
        self.polls.fetch_add(1, SeqCst);
        if self.ready.load(SeqCst) {
            Poll::Ready(7)
        } else {
            Poll::Pending
        }
    }
}
impl Drop for Work {
    fn drop(&mut self) {
        self.dropped.store(true, SeqCst);
    }
}

struct Probe {
    polls: Arc<AtomicUsize>,
    ready: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}

fn work() -> (Work, Probe) {
    let (polls, ready, dropped) = <(Arc<AtomicUsize>, Arc<AtomicBool>, Arc<AtomicBool>)>::default();
    (
        Work {
            polls: Arc::clone(&polls),
            ready: Arc::clone(&ready),
            dropped: Arc::clone(&dropped),
        },
        Probe {
            polls,
            ready,
            dropped,
        },
    )
}

#[test]
fn owned_futures_are_static_and_send() {
    fn check<T: Send + Unpin + 'static>(_: &T) {}
    let (ctx, _cancel) = with_cancel(&background());
    check::<OwnedDone>(&ctx.done_owned());
    check::<RunUntilDone<std::future::Ready<u8>>>(&ctx.run_until_done(std::future::ready(1)));
}

#[test]
fn done_owned_outlives_its_handle_and_is_woken_once() {
    let (ctx, cancel) = with_cancel(&background());
    let (c, waker) = counting();
    let mut done = ctx.done_owned();
    drop(ctx);
    assert_eq!(poll(&mut done, &waker), Poll::Pending);
    assert_eq!(poll(&mut done, &waker), Poll::Pending);
    assert_eq!(done.context().registrations(), 1);
    cancel.cancel();
    assert_eq!(c.count(), 1);
    assert_eq!(poll(&mut done, &waker), Poll::Ready(()));
    assert_eq!(done.context().err(), Some(Error::Canceled));
}

/// Drop `done_owned` at every poll point: before its first poll, registered, after the
/// cancel (not yet polled), after completion. The context is left with no registration.
#[test]
fn done_owned_cancel_at_every_poll_point() {
    for drop_at in 0..4 {
        let (ctx, cancel) = with_cancel(&background());
        let (_, waker) = counting();
        let mut done = ctx.done_owned();
        for step in 0..drop_at {
            match step {
                0 => assert_eq!(poll(&mut done, &waker), Poll::Pending),
                1 => cancel.cancel(),
                _ => assert_eq!(poll(&mut done, &waker), Poll::Ready(())),
            }
        }
        drop(done);
        assert_eq!(ctx.registrations(), 0, "drop_at {drop_at}");
        cancel.cancel();
        assert!(ctx.is_done());
    }
}

#[test]
fn run_until_done_returns_the_output_when_the_work_finishes_first() {
    let (ctx, _cancel) = with_cancel(&background());
    let (w, probe) = work();
    let (_, waker) = counting();
    let mut fut = ctx.run_until_done(w);
    assert_eq!(poll(&mut fut, &waker), Poll::Pending);
    assert_eq!(ctx.registrations(), 1);
    probe.ready.store(true, SeqCst);
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(Ok(7)));
    assert!(
        probe.dropped.load(SeqCst),
        "the work is dropped when it completes"
    );
    drop(fut);
    assert_eq!(ctx.registrations(), 0);
}

#[test]
fn run_until_done_drops_the_work_when_the_context_wins() {
    let (ctx, cancel) = with_cancel(&background());
    let (w, probe) = work();
    let (c, waker) = counting();
    let mut fut = ctx.run_until_done(w);
    assert_eq!(poll(&mut fut, &waker), Poll::Pending);
    assert_eq!(probe.polls.load(SeqCst), 1);
    cancel.cancel();
    assert_eq!(c.count(), 1, "the cancel wakes the task");
    probe.ready.store(true, SeqCst); // a tie: the context wins
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(Err(Error::Canceled)));
    assert_eq!(
        probe.polls.load(SeqCst),
        1,
        "not polled after the context was done"
    );
    assert!(
        probe.dropped.load(SeqCst),
        "dropped as soon as the context won"
    );
    drop(fut);
    assert_eq!(ctx.registrations(), 0);
}

#[test]
fn run_until_done_on_a_done_context_never_polls_the_work() {
    let (ctx, cancel) = with_cancel(&background());
    cancel.cancel();
    let (w, probe) = work();
    let r = futures::executor::block_on(ctx.run_until_done(w));
    assert_eq!(r, Err(Error::Canceled));
    assert_eq!(probe.polls.load(SeqCst), 0);
    assert!(probe.dropped.load(SeqCst));
}

#[test]
fn run_until_done_on_background_is_the_work() {
    let ctx = background();
    assert_eq!(
        futures::executor::block_on(ctx.run_until_done(async { 5 })),
        Ok(5)
    );
    assert_eq!(ctx.registrations(), 0);
}

/// Drop `run_until_done` at every poll point; the work is dropped and nothing stays
/// registered.
#[test]
fn run_until_done_cancel_at_every_poll_point() {
    for drop_at in 0..4 {
        let (ctx, cancel) = with_cancel(&background());
        let (w, probe) = work();
        let (_, waker) = counting();
        let mut fut = ctx.run_until_done(w);
        for step in 0..drop_at {
            match step {
                0 | 1 => assert_eq!(poll(&mut fut, &waker), Poll::Pending),
                _ => {
                    cancel.cancel();
                    assert_eq!(poll(&mut fut, &waker), Poll::Ready(Err(Error::Canceled)));
                }
            }
        }
        drop(fut);
        assert!(probe.dropped.load(SeqCst), "drop_at {drop_at}");
        assert_eq!(ctx.registrations(), 0, "drop_at {drop_at}");
    }
}

#[test]
#[should_panic(expected = "polled after completion")]
fn run_until_done_polled_after_completion_panics() {
    let ctx = background();
    let (_, waker) = counting();
    let mut fut = ctx.run_until_done(std::future::ready(()));
    assert_eq!(poll(&mut fut, &waker), Poll::Ready(Ok(())));
    let _ = poll(&mut fut, &waker);
}

/// A deadline on a FakeClock: the clock's timer thread cancels the context, which
/// wakes the task (futures executor on another thread) with `DeadlineExceeded`.
#[test]
fn futures_executor_deadline_on_a_fake_clock() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let deadline = fake.clock().now() + Duration::from_secs(60);
    let (ctx, _cancel) = with_deadline(&root, deadline);
    let fut = ctx.run_until_done(std::future::pending::<()>());
    let task = std::thread::spawn(move || futures::executor::block_on(fut));
    fake.advance(Duration::from_secs(60));
    assert_eq!(task.join().unwrap(), Err(Error::DeadlineExceeded));
}

/// `done_owned` moved into a spawned tokio task; the cancel comes from another thread.
#[test]
fn tokio_spawned_task_waits_on_done_owned() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (ctx, cancel) = with_cancel(&background());
    let tasks: Vec<_> = (0..4).map(|_| rt.spawn(ctx.done_owned())).collect();
    let stopped = rt.spawn(ctx.run_until_done(std::future::pending::<()>()));
    std::thread::spawn(move || cancel.cancel());
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(stopped.await.unwrap(), Err(Error::Canceled));
    });
    assert_eq!(ctx.registrations(), 0);
}

/// `run_until_done` around tokio work that finishes, and around a tokio sleep cut
/// short by a cancel.
#[tokio::test]
async fn tokio_run_until_done_both_ways() {
    let (ctx, cancel) = with_cancel(&background());
    let r = ctx
        .run_until_done(async {
            tokio::task::yield_now().await;
            "finished"
        })
        .await;
    assert_eq!(r, Ok("finished"));
    let canceller = tokio::spawn(async move { cancel.cancel() });
    let r = ctx
        .run_until_done(tokio::time::sleep(Duration::from_secs(3600)))
        .await;
    assert_eq!(r, Err(Error::Canceled));
    canceller.await.unwrap();
    assert_eq!(ctx.registrations(), 0);
}
