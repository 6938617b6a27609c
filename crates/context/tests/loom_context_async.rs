//! Loom models of the owned async waits of a context (run with `RUSTFLAGS="--cfg
//! loom"`): `done_owned` and `run_until_done` racing a cancel, and dropped while the
//! cancel wakes them.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Wake, Waker};

use gosync_context::{background, with_cancel, Error};
use gosync_core::sync::thread;
use gosync_testkit::block_on;

struct Noop;
impl Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// `run_until_done` around work that never finishes, on another thread, while the
/// context is cancelled: the task is woken and returns the context's error.
#[test]
fn loom_context_run_until_done_vs_cancel() {
    loom::model(|| {
        let (ctx, cancel) = with_cancel(&background());
        let fut = ctx.run_until_done(std::future::pending::<()>());
        let t = thread::spawn(move || block_on(fut));
        cancel.cancel();
        assert_eq!(t.join().unwrap(), Err(Error::Canceled));
        assert_eq!(ctx.registrations(), 0);
    });
}

/// A registered `done_owned` is dropped on one thread while another cancels the context
/// (and may be waking it): once the drop returned nothing stays registered, and a
/// second `done_owned` completes.
#[test]
fn loom_context_done_owned_drop_vs_cancel() {
    loom::model(|| {
        let (ctx, cancel) = with_cancel(&background());
        let mut done = ctx.done_owned();
        let waker = Waker::from(std::sync::Arc::new(Noop));
        let first = Pin::new(&mut done).poll(&mut TaskContext::from_waker(&waker));
        assert!(first.is_pending());
        let dropper = thread::spawn(move || drop(done));
        let canceller = thread::spawn(move || cancel.cancel());
        dropper.join().unwrap();
        // Deregistered by the drop, or drained by the cancel: either way, gone.
        assert_eq!(ctx.registrations(), 0);
        canceller.join().unwrap();
        block_on(ctx.done_owned());
    });
}
