//! Loom models of `TokenBucket::wait_async` (run with `RUSTFLAGS="--cfg loom"`): the
//! `Wait` future on a `FakeClock`, woken by the clock's timer thread (loom can see both:
//! time moves only when a modelled thread advances it; the timer thread is a modelled
//! thread). The sleep's own waker paths have their models in gosync-core's
//! `loom_sleep`; these check the wait around it.
//!
//! The models can fail: with a `Wait` that polls its sleep only when it creates it
//! (a re-poll returning `Pending` without registering the new waker),
//! `loom_ratelimit_async_wait_vs_advance` deadlocks; with a drop that does not cancel
//! the reservation, `loom_ratelimit_async_drop_vs_advance_then_wait_again` reports the
//! token missing. The `wait_context_async` models (feature `context`): with the
//! give-up not cancelling the reservation both report the token missing; with the
//! context checked by `is_done()` instead of its `done()` future (no waker registered
//! with the context), `loom_ratelimit_async_context_cancel_vs_poll` deadlocks.
#![cfg(loom)]

use gosync_core::clock::FakeClock;
use gosync_core::sync::thread;

use gosync_testkit::{block_on, poll_once};

mod loom_common;
use loom_common::{spent_bucket, D};

/// Register vs fire through the wait: reserved and first polled by another task's
/// waker, then awaited here while another thread advances the clock to the time to act
/// (the timer thread fires, possibly between any two steps of the re-poll). The last
/// waker must be woken, and the token is kept.
#[test]
fn loom_ratelimit_async_wait_vs_advance() {
    loom::model(|| {
        let fake = FakeClock::new();
        let bucket = spent_bucket(&fake);
        let mut wait = bucket.wait_async();
        assert!(poll_once(&mut wait).is_pending());
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(D))
        };
        assert_eq!(block_on(&mut wait), Ok(()));
        drop(wait);
        advancer.join().unwrap();
        assert_eq!(bucket.tokens(), 0.0);
    });
}

/// Drop vs advance, then wait again: a sleeping wait is dropped while another thread
/// advances the clock half way (the drop's cancel reads the clock before or after):
/// either way the token comes back, so the balance is what it would be without the
/// wait. Then the waiter waits again, racing the next advance, and gets the token.
#[test]
fn loom_ratelimit_async_drop_vs_advance_then_wait_again() {
    loom::model(|| {
        let fake = FakeClock::new();
        let bucket = spent_bucket(&fake);
        let mut wait = bucket.wait_async();
        assert!(poll_once(&mut wait).is_pending());
        assert_eq!(bucket.tokens(), -1.0);
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(D / 2))
        };
        drop(wait);
        advancer.join().unwrap();
        assert_eq!(bucket.tokens(), 0.5, "the dropped wait's token is back");
        let mut again = bucket.wait_async();
        assert!(poll_once(&mut again).is_pending());
        let advancer = thread::spawn(move || fake.advance(D / 2));
        assert_eq!(block_on(&mut again), Ok(()));
        advancer.join().unwrap();
        assert_eq!(bucket.tokens(), 0.0);
    });
}

/// `wait_context_async`: a sleeping wait whose tokens never come due (time stands
/// still) races a cancel on another thread: the cancel wakes it (loom reports a
/// deadlock on a lost wake-up), it returns the context's error, the token is back and
/// nothing stays registered with the context.
#[cfg(feature = "context")]
#[test]
fn loom_ratelimit_async_context_cancel_vs_poll() {
    use gosync_context::{background, with_cancel, Error};
    use gosync_ratelimit::WaitContextError;
    loom::model(|| {
        let fake = FakeClock::new();
        let bucket = spent_bucket(&fake);
        let (ctx, cancel) = with_cancel(&background());
        let mut wait = bucket.wait_context_async(&ctx, 1);
        assert!(poll_once(&mut wait).is_pending());
        let canceller = thread::spawn(move || cancel.cancel());
        assert_eq!(
            block_on(&mut wait),
            Err(WaitContextError::Done(Error::Canceled))
        );
        drop(wait);
        canceller.join().unwrap();
        assert_eq!(bucket.tokens(), 0.0, "the token is back");
        assert_eq!(ctx.registrations(), 0);
    });
}

/// `wait_context_async`: the cancel (on this thread) races the clock reaching the time
/// to act (on another): either the tokens were due first and are kept, or the wait
/// gave up and gave them back; the balance matches the outcome.
#[cfg(feature = "context")]
#[test]
fn loom_ratelimit_async_context_cancel_vs_advance() {
    use gosync_context::{background, with_cancel};
    loom::model(|| {
        let fake = FakeClock::new();
        let bucket = spent_bucket(&fake);
        let (ctx, cancel) = with_cancel(&background());
        let mut wait = bucket.wait_context_async(&ctx, 1);
        assert!(poll_once(&mut wait).is_pending());
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(D))
        };
        cancel.cancel();
        let out = block_on(&mut wait);
        drop(wait);
        advancer.join().unwrap();
        // At t0 + D: 0 tokens if the wait kept its token, 1 if it gave it back.
        let expect = if out.is_ok() { 0.0 } else { 1.0 };
        assert_eq!(bucket.tokens(), expect, "{out:?}");
    });
}
