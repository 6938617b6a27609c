//! `Cond::wait_context` (feature `context`).
#![cfg(all(feature = "context", not(loom)))]

use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gosync_cond::Cond;
use gosync_context::{background, background_with_clock, with_cancel, with_timeout, Error};
use gosync_core::clock::FakeClock;
use parking_lot::Mutex;

const HANG: Duration = Duration::from_secs(30);

/// Spawns a thread that locks `m` and runs `f`, which must start by waiting on a
/// `Cond`; returns once that wait is queued.
fn spawn_queued<R: Send + 'static>(
    m: &Arc<Mutex<()>>,
    f: impl FnOnce(&mut parking_lot::MutexGuard<'_, ()>) -> R + Send + 'static,
) -> JoinHandle<R> {
    let m2 = m.clone();
    let (ready_tx, ready) = channel();
    let h = thread::spawn(move || {
        let mut g = m2.lock();
        ready_tx.send(()).unwrap();
        f(&mut g)
    });
    ready.recv_timeout(HANG).unwrap();
    drop(m.lock());
    h
}

#[test]
fn cancel_wakes_the_waiter_and_withdraws_it() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (ctx, cancel) = with_cancel(&background());
    let t = {
        let (c, ctx) = (c.clone(), ctx.clone());
        spawn_queued(&m, move |g| c.wait_context(&ctx, g))
    };
    assert_eq!(c.waiters(), 1);
    cancel.cancel();
    assert_eq!(t.join().unwrap(), Err(Error::Canceled));
    assert_eq!(c.waiters(), 0);
    assert_eq!(ctx.registrations(), 0, "the cancel hook is deregistered");
}

#[test]
fn signal_wakes_a_context_waiter() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (ctx, _cancel) = with_cancel(&background());
    let t = {
        let (c, ctx) = (c.clone(), ctx.clone());
        spawn_queued(&m, move |g| c.wait_context(&ctx, g))
    };
    c.signal();
    assert_eq!(t.join().unwrap(), Ok(()));
    assert_eq!(ctx.registrations(), 0);
}

#[test]
fn already_done_context_returns_at_once() {
    let (m, c) = (Mutex::new(()), Cond::new());
    let (ctx, cancel) = with_cancel(&background());
    cancel.cancel();
    let mut g = m.lock();
    assert_eq!(c.wait_context(&ctx, &mut g), Err(Error::Canceled));
    assert_eq!(c.waiters(), 0);
}

#[test]
fn background_context_waits_for_a_signal() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let t = {
        let c = c.clone();
        spawn_queued(&m, move |g| c.wait_context(&background(), g))
    };
    c.signal();
    assert_eq!(t.join().unwrap(), Ok(()));
}

/// A deadline on a fake clock: the context's timer fires on `advance` and the waiter
/// returns `DeadlineExceeded`.
#[test]
fn deadline_on_a_fake_clock() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (ctx, _cancel) = with_timeout(&root, Duration::from_secs(5));
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let t = {
        let (c, ctx) = (c.clone(), ctx.clone());
        spawn_queued(&m, move |g| c.wait_context(&ctx, g))
    };
    fake.advance(Duration::from_secs(5));
    assert_eq!(t.join().unwrap(), Err(Error::DeadlineExceeded));
    assert_eq!(c.waiters(), 0);
}

/// A waiter whose context is cancelled does not swallow a signal meant for the waiter
/// queued after it.
#[test]
fn cancelled_waiter_does_not_swallow_a_signal() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (ctx, cancel) = with_cancel(&background());
    let ctx_waiter = {
        let (c, ctx) = (c.clone(), ctx.clone());
        spawn_queued(&m, move |g| c.wait_context(&ctx, g))
    };
    let plain = {
        let c = c.clone();
        spawn_queued(&m, move |g| c.wait(g))
    };
    assert_eq!(c.waiters(), 2);
    cancel.cancel();
    assert_eq!(ctx_waiter.join().unwrap(), Err(Error::Canceled));
    assert_eq!(c.waiters(), 1);
    c.signal();
    plain.join().unwrap();
    assert_eq!(c.waiters(), 0);
}

/// After giving up, a context waiter can wait again (on a new context) and is woken by
/// a signal in FIFO order behind the waiter already queued.
#[test]
fn context_waiter_gives_up_then_waits_again() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (ctx, cancel) = with_cancel(&background());
    let (order_tx, order) = channel();
    let first = {
        let (c, order_tx) = (c.clone(), order_tx.clone());
        spawn_queued(&m, move |g| {
            c.wait(g);
            order_tx.send("first").unwrap();
        })
    };
    let (again_tx, again) = channel();
    let t = {
        let (c, ctx) = (c.clone(), ctx.clone());
        spawn_queued(&m, move |g| {
            assert_eq!(c.wait_context(&ctx, g), Err(Error::Canceled));
            again_tx.send(()).unwrap(); // holding the mutex
            assert_eq!(c.wait_context(&background(), g), Ok(()));
            order_tx.send("again").unwrap();
        })
    };
    cancel.cancel();
    again.recv_timeout(HANG).unwrap();
    drop(m.lock()); // now queued again, behind `first`
    assert_eq!(c.waiters(), 2);
    c.signal();
    assert_eq!(order.recv_timeout(HANG).unwrap(), "first");
    c.signal();
    assert_eq!(order.recv_timeout(HANG).unwrap(), "again");
    first.join().unwrap();
    t.join().unwrap();
}

/// Cancels racing signals, many times over: every signal that chose a context waiter
/// is reported as `Ok` (the signal wins), every `Err` left the queue, and a plain waiter
/// queued behind always gets the remaining signal.
#[test]
fn cancel_racing_signal_loses_nothing() {
    for _ in 0..300 {
        let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
        let (ctx, cancel) = with_cancel(&background());
        let ctx_waiter = {
            let (c, ctx) = (c.clone(), ctx.clone());
            spawn_queued(&m, move |g| c.wait_context(&ctx, g))
        };
        let plain = {
            let c = c.clone();
            spawn_queued(&m, move |g| c.wait(g))
        };
        let canceller = thread::spawn(move || cancel.cancel());
        c.signal(); // goes to the context waiter (oldest) unless it withdrew first
        let r = ctx_waiter.join().unwrap();
        canceller.join().unwrap();
        match r {
            // It took the signal: the plain waiter still needs one.
            Ok(()) => assert_eq!(c.waiters(), 1),
            // It withdrew before the signal, which went to the plain waiter.
            Err(e) => assert_eq!(e, Error::Canceled),
        }
        if r.is_ok() {
            c.signal();
        }
        plain.join().unwrap();
        assert_eq!(c.waiters(), 0);
    }
}
