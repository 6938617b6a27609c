//! Loom models of `TokenBucket::wait_context` (feature `context`; run with
//! `RUSTFLAGS="--cfg loom"`). The bucket runs on a `FakeClock`, which loom can see (its
//! waits are loom condition-variable waits): time moves only when a modelled thread
//! advances it.
//!
//! The models can fail: with the hook notifying without first taking the waiter's lock,
//! `loom_ratelimit_context_wait_vs_cancel` reports a deadlock (the waiter parked after
//! the canceller's notification, which then reached nobody); with the give-up not
//! cancelling its reservation, the first two models report the token missing.
#![cfg(all(loom, feature = "context"))]

use gosync_context::{background, with_cancel, Error};
use gosync_core::clock::FakeClock;
use gosync_core::sync::{thread, Arc};
use gosync_ratelimit::WaitContextError;

mod loom_common;
use loom_common::{spent_bucket, D};

/// A waiter whose token never comes due (time stands still) races the cancel: the
/// cancel's hook always wakes it (loom reports a deadlock on a lost wake-up), it
/// returns the context's error, its token is back, and its hook is gone.
#[test]
fn loom_ratelimit_context_wait_vs_cancel() {
    loom::model(|| {
        let fake = FakeClock::new();
        let bucket = spent_bucket(&fake);
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        assert_eq!(
            bucket.wait_context(&ctx, 1),
            Err(WaitContextError::Done(Error::Canceled))
        );
        canceller.join().unwrap();
        assert_eq!(bucket.tokens(), 0.0, "the token came back");
        assert_eq!(ctx.registrations(), 0);
    });
}

/// The cancel races the clock reaching the time to act. The waiter always returns;
/// the token is back exactly when it gave up: at `t0 + D` the balance is 0 if the
/// token was used, and 1 if it was given back.
#[test]
fn loom_ratelimit_context_wake_up_vs_cancel() {
    loom::model(|| {
        let fake = FakeClock::new();
        let bucket = spent_bucket(&fake);
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(D))
        };
        let got = bucket.wait_context(&ctx, 1);
        canceller.join().unwrap();
        advancer.join().unwrap();
        let tokens = bucket.tokens();
        match got {
            Ok(()) => assert_eq!(tokens, 0.0, "used"),
            Err(e) => {
                assert_eq!(e, WaitContextError::Done(Error::Canceled));
                assert_eq!(tokens, 1.0, "given back");
            }
        }
        assert_eq!(ctx.registrations(), 0);
    });
}

/// Adversarial: a waiter that gave up does the next legal thing at once, waiting again
/// without a context, while the clock moves on: the second wait always gets its token
/// (due when the first one was, since the first gave its token back), and the
/// balance ends where one used token leaves it.
#[test]
fn loom_ratelimit_context_give_up_then_wait_again() {
    loom::model(|| {
        let fake = FakeClock::new();
        let bucket = Arc::new(spent_bucket(&fake));
        let (ctx, cancel) = with_cancel(&background());
        let canceller = thread::spawn(move || cancel.cancel());
        let waiter = {
            let bucket = Arc::clone(&bucket);
            thread::spawn(move || {
                if bucket.wait_context(&ctx, 1).is_err() {
                    bucket.wait_context(&background(), 1).unwrap();
                }
            })
        };
        canceller.join().unwrap();
        fake.advance(D);
        waiter.join().unwrap();
        assert_eq!(bucket.tokens(), 0.0, "exactly one token used by t0 + D");
    });
}
