//! Adversarial loom model of `Context::wait_timeout`: a waiter that gives up waits again,
//! racing the cancel (run with `RUSTFLAGS="--cfg loom"`; under loom a timed wait times
//! out at once, so every give-up point is explored).
#![cfg(loom)]

use std::time::Duration;

use gosync_context::{background, with_cancel, Error};
use gosync_core::sync::thread;

/// The timed wait returns `true` only if the context is done; after a give-up the plain
/// `wait` is still woken by the cancel (no lost wake-up, which loom reports as a
/// deadlock), and neither wait leaves a registration behind.
#[test]
fn loom_context_wait_timeout_then_wait_again() {
    loom::model(|| {
        let (ctx, cancel) = with_cancel(&background());
        let (child, _c) = with_cancel(&ctx);
        let canceller = thread::spawn(move || cancel.cancel());
        if child.wait_timeout(Duration::from_secs(3600)) {
            assert!(child.is_done());
        } else {
            child.wait();
        }
        assert_eq!(child.err(), Some(Error::Canceled));
        canceller.join().unwrap();
        assert_eq!(child.registrations(), 0);
        assert_eq!(ctx.registrations(), 0);
    });
}
