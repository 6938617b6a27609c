//! Loom models of `WaitGroup::wait_context` (feature `context`; run with
//! `RUSTFLAGS="--cfg loom"`).
#![cfg(all(loom, feature = "context"))]

use gosync_context::{background, with_cancel, Error};
use gosync_core::sync::{thread, Arc};
use gosync_waitgroup::WaitGroup;

/// A context waiter parked on a group that never finishes, racing the cancel: the
/// cancel's hook always wakes it (loom reports a deadlock on a lost wake-up), it
/// returns the context's error, withdraws its registration, and the group still works.
#[test]
fn loom_waitgroup_context_parked_vs_cancel() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let (ctx, cancel) = with_cancel(&background());
        let t = thread::spawn(move || cancel.cancel());
        assert_eq!(wg.wait_context(&ctx), Err(Error::Canceled));
        t.join().unwrap();
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1, waiters: 0 }");
        assert_eq!(ctx.registrations(), 0);
        wg.done();
        wg.wait();
    });
}

/// The last `done` and the cancel race a context waiter: it returns either way (`Ok`
/// only if the counter reached zero), and it either consumed its permit or withdrew,
/// so the group is left clean for the next round.
#[test]
fn loom_waitgroup_context_done_vs_cancel() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let worker = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.done())
        };
        let r = wg.wait_context(&ctx);
        if r.is_ok() {
            assert_eq!(wg.count(), 0);
        } else {
            assert_eq!(r, Err(Error::Canceled));
        }
        canceller.join().unwrap();
        worker.join().unwrap();
        assert_eq!(format!("{:?}", &*wg), "WaitGroup { count: 0, waiters: 0 }");
        wg.add(1);
        wg.done();
        wg.wait();
    });
}

/// A plain waiter and a context waiter share the condition variable; the cancel's
/// wake-up reaches both, then the last `done`: the plain waiter never loses its permit
/// to the context waiter (which takes one only if it is still registered), both
/// return, and the group is left clean.
#[test]
fn loom_waitgroup_context_cancel_then_done_with_a_plain_waiter() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let (ctx, cancel) = with_cancel(&background());
        let plain = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.wait())
        };
        let finisher = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                cancel.cancel();
                wg.done();
            })
        };
        let r = wg.wait_context(&ctx);
        assert!(r == Ok(()) || r == Err(Error::Canceled), "{r:?}");
        plain.join().unwrap();
        finisher.join().unwrap();
        assert_eq!(format!("{:?}", &*wg), "WaitGroup { count: 0, waiters: 0 }");
    });
}

/// A context waiter gives up and, its wait having returned, starts the next round with
/// `add(1)`, racing the last `done` of the current round and the cancel: the new
/// round's count survives the release, no `done` panics, and no hook is left.
#[test]
fn loom_waitgroup_context_give_up_then_add_racing_release() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let worker = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.done())
        };
        let gave_up = match wg.wait_context(&ctx) {
            Ok(()) => false,
            Err(e) => {
                assert_eq!(e, Error::Canceled);
                wg.add(1); // legal: this wait has returned
                true
            }
        };
        worker.join().unwrap();
        canceller.join().unwrap();
        assert_eq!(wg.count(), isize::from(gave_up));
        assert_eq!(ctx.registrations(), 0);
        if gave_up {
            wg.done();
        }
        wg.wait();
    });
}
