//! User code that panics must never take down the shared machinery of the context tree:
//! the timer thread of a clock, the other callbacks and wakers of a cancel.
#![cfg(not(loom))]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Poll, Wake, Waker};
use std::time::Duration;

use gosync_context::{
    after_func, background, background_with_clock, with_cancel, with_timeout, Context,
};
use gosync_core::FakeClock;

/// A real-time hang guard, never a timing assertion (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 10 });

/// Waits for `ctx` (fired by a timer thread) with a generous hang guard.
fn fired(ctx: &Context) -> bool {
    let (tx, rx) = mpsc::channel();
    let c = ctx.clone();
    std::thread::spawn(move || {
        c.wait();
        let _ = tx.send(());
    });
    rx.recv_timeout(HANG).is_ok()
}

/// A fake-clock tree: a hook that panics when its deadline fires runs on the tree's
/// timer thread. The thread survives, and every later deadline still fires.
#[test]
fn a_panicking_hook_on_a_deadline_does_not_stop_the_timer() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let hits = Arc::new(AtomicUsize::new(0));
    let (first, _c1) = with_timeout(&root, Duration::from_secs(1));
    first
        .on_cancel(|| panic!("hook panics on the timer thread"))
        .forget();
    let h = Arc::clone(&hits);
    first
        .on_cancel(move || {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .forget();
    fake.advance(Duration::from_secs(1));
    assert!(fired(&first));
    let (second, _c2) = with_timeout(&root, Duration::from_secs(1));
    fake.advance(Duration::from_secs(1));
    assert!(
        fired(&second),
        "the timer thread died with the panicking hook"
    );
    // The hook registered after the panicking one still ran.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// The same on the real clock, whose timer thread is process-wide.
#[test]
#[cfg_attr(
    miri,
    ignore = "starts the process-wide timer thread, which never ends: Miri fails a run that leaves a thread at exit unless -Zmiri-ignore-leaks also turns its leak check off (rust-lang/miri#1371)"
)]
fn a_panicking_hook_on_a_real_deadline_does_not_stop_the_global_timer() {
    // The hook must be registered before the deadline passes, or `on_cancel` runs it at
    // once on this thread (a 1 ms deadline can pass first on a loaded machine: CI saw
    // it). Retry with a longer deadline when that happens, so that the panic is the
    // timer thread's.
    let mut keep = Vec::new();
    let mut registered = None;
    for ms in [1, 10, 100, 1000, 10_000] {
        let (first, cancel) = with_timeout(&background(), Duration::from_millis(ms));
        let ran_here = catch_unwind(AssertUnwindSafe(|| {
            first
                .on_cancel(|| panic!("hook panics on the global timer thread"))
                .forget();
        }))
        .is_err();
        keep.push(cancel);
        if !ran_here {
            registered = Some(first);
            break;
        }
    }
    let first = registered.expect("a 10 s deadline passed before its hook was registered");
    assert!(fired(&first));
    let (second, _c2) = with_timeout(&background(), Duration::from_millis(1));
    assert!(
        fired(&second),
        "the global timer thread died with the panicking hook"
    );
}

/// A panicking `after_func` callback runs on its own thread and touches nothing shared.
#[test]
fn a_panicking_after_func_on_a_deadline_does_not_stop_the_timer() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (first, _c1) = with_timeout(&root, Duration::from_secs(1));
    let _stop = after_func(&first, || panic!("after_func panics"));
    fake.advance(Duration::from_secs(1));
    assert!(fired(&first));
    let (second, _c2) = with_timeout(&root, Duration::from_secs(1));
    fake.advance(Duration::from_secs(1));
    assert!(fired(&second));
}

struct PanickingWaker;
impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker panics");
    }
}

struct CountingWaker(AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// One panicking waker must not keep the other wakers and callbacks of the same cancel
/// from running (their owners would hang); the panic then reaches the canceller.
#[test]
fn a_panicking_waker_does_not_drop_the_other_wakeups() {
    let (ctx, cancel) = with_cancel(&background());
    let bad = Waker::from(Arc::new(PanickingWaker));
    let good = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let good_waker = Waker::from(Arc::clone(&good));
    let mut f1 = pin!(ctx.done());
    let mut f2 = pin!(ctx.done());
    assert!(f1
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&bad))
        .is_pending());
    assert!(f2
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&good_waker))
        .is_pending());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    ctx.on_cancel(move || {
        h.fetch_add(1, Ordering::SeqCst);
    })
    .forget();
    let r = catch_unwind(AssertUnwindSafe(|| cancel.cancel()));
    assert!(r.is_err(), "the waker's panic reaches the canceller");
    assert_eq!(
        good.0.load(Ordering::SeqCst),
        1,
        "the other waker was not woken"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the callback was dropped unrun"
    );
    assert!(f2
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&good_waker))
        .is_ready());
}

/// A panicking waker woken by a deadline, on the timer thread: the thread survives.
#[test]
fn a_panicking_waker_on_a_deadline_does_not_stop_the_timer() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (first, _c1) = with_timeout(&root, Duration::from_secs(1));
    let bad = Waker::from(Arc::new(PanickingWaker));
    let mut f = pin!(first.done());
    assert!(matches!(
        f.as_mut().poll(&mut std::task::Context::from_waker(&bad)),
        Poll::Pending
    ));
    fake.advance(Duration::from_secs(1));
    assert!(fired(&first));
    let (second, _c2) = with_timeout(&root, Duration::from_secs(1));
    fake.advance(Duration::from_secs(1));
    assert!(fired(&second));
}
