//! Loom model of `Queue::get_context` (feature `context`; run with
//! `RUSTFLAGS="--cfg loom"`).
#![cfg(all(loom, feature = "context"))]

use gosync_context::{background, with_cancel, Error};
use gosync_core::sync::thread;
use gosync_workqueue::{GetContextError, Queue};

/// A context getter on an empty queue, racing the cancel and an add: it always returns
/// (loom reports a deadlock on a lost wake-up), with the item or the context's error,
/// and an item it did not take stays queued.
#[test]
fn loom_workqueue_context_getter_vs_cancel_and_add() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.add(1))
        };
        match q.get_context_detached(&ctx) {
            Ok(item) => {
                assert_eq!(item, 1);
                assert!(q.done(&item));
            }
            Err(e) => assert_eq!(e, GetContextError::Context(Error::Canceled)),
        }
        canceller.join().unwrap();
        producer.join().unwrap();
        assert!(q.len() <= 1);
        assert_eq!(ctx.registrations(), 0);
        q.shut_down();
    });
}

/// A context getter on a queue that stays empty, racing the cancel: only the cancel's
/// hook can wake it, so a lost wake-up is a loom deadlock.
#[test]
fn loom_workqueue_context_parked_getter_vs_cancel() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        assert_eq!(
            q.get_context_detached(&ctx),
            Err(GetContextError::Context(Error::Canceled))
        );
        canceller.join().unwrap();
        assert_eq!(ctx.registrations(), 0);
        q.shut_down();
    });
}

/// A context getter gives up (its context is cancelled), then blocks in a plain `get`,
/// while the producer's add races both: the item is delivered exactly once, and the
/// cancelled call leaves no hook and no stale wake-up registration behind.
#[test]
fn loom_workqueue_context_cancelled_then_get_again() {
    loom::model(|| {
        let q: Queue<u8> = Queue::new();
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.add(1))
        };
        let got = q.get_context_detached(&ctx);
        // Returned either way: its hook is gone (deregistered, or run by the cancel).
        assert_eq!(ctx.registrations(), 0);
        let item = match got {
            Ok(item) => item,
            Err(e) => {
                assert_eq!(e, GetContextError::Context(Error::Canceled));
                q.get_detached().expect("not shut down")
            }
        };
        assert_eq!(item, 1);
        assert!(q.done(&item));
        canceller.join().unwrap();
        producer.join().unwrap();
        assert_eq!(q.len(), 0);
        q.shut_down();
    });
}
