//! Loom models of `Once::wait_async` (run with `RUSTFLAGS="--cfg loom"`): a task
//! registering while the function completes, and a registered task dropped meanwhile.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Wake, Waker};

use gosync_core::sync::{thread, Arc, UnsafeCell};
use gosync_once::Once;
use gosync_testkit::block_on;

/// Written by the function: loom reports a data race if the task completed without a
/// happens-before edge from the function's end.
struct Slot(UnsafeCell<usize>);
// SAFETY: written once inside `call_once`'s function, read after the wait completed;
// loom checks that this really is race free.
unsafe impl Sync for Slot {}

struct Noop;
impl Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// A task waits while another thread runs the function: it is woken and sees the write.
#[test]
fn loom_once_async_register_vs_complete() {
    loom::model(|| {
        let once = Arc::new(Once::new());
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        let runner = {
            let (once, slot) = (Arc::clone(&once), Arc::clone(&slot));
            // SAFETY: the only write, inside the function that runs once.
            thread::spawn(move || once.call_once(|| slot.0.with_mut(|p| unsafe { *p = 3 })))
        };
        block_on(once.wait_async());
        // SAFETY: the wait completed: the function's write happened-before.
        assert_eq!(slot.0.with(|p| unsafe { *p }), 3);
        runner.join().unwrap();
    });
}

/// One registered task is dropped while the function completes and a second task
/// waits: the second is still woken (the drop removed only its own entry).
#[test]
fn loom_once_async_drop_vs_complete() {
    loom::model(|| {
        let once = Arc::new(Once::new());
        let mut first = once.wait_async();
        let waker = Waker::from(std::sync::Arc::new(Noop));
        assert!(Pin::new(&mut first)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let runner = {
            let once = Arc::clone(&once);
            thread::spawn(move || once.call_once(|| {}))
        };
        let second = {
            let once = Arc::clone(&once);
            thread::spawn(move || block_on(once.wait_async()))
        };
        drop(first);
        runner.join().unwrap();
        second.join().unwrap();
    });
}
