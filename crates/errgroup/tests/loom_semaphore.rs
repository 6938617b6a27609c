//! Loom models of the weighted semaphore: a cancel racing a release, a waiter that gives
//! up and acquires again, and a cancelled head waking the waiter behind it.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p gosync-errgroup --test loom_semaphore`.
//!
//! Shown able to fail: not putting back the weight of a grant that crossed a cancel
//! deadlocks `loom_cancel_races_release_then_acquire_again`; dropping the
//! `notify_waiters` after a cancelled head deadlocks
//! `loom_cancelled_head_wakes_the_waiter_behind`.
//! Not putting back the weight of a crossed grant's hand-on (keeping `cur -= n` but no
//! `notify_waiters`) deadlocks `loom_crossed_grant_is_handed_to_the_next_waiter`.
#![cfg(loom)]

use gosync_context::{background, with_cancel, Error};
use gosync_errgroup::Semaphore;
use loom::sync::Arc;
use loom::thread;

/// The holder releases while the waiter's context is cancelled. Whatever the order, the
/// waiter either holds the weight (`Ok`) or has left it untouched (`Err`): when the grant
/// and the cancel cross, the weight is put back. The waiter then acquires again (no
/// context) and releases; at the end the whole weight is free and nobody waits.
#[test]
fn loom_cancel_races_release_then_acquire_again() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        sem.acquire(1);
        let (ctx, cancel) = with_cancel(&background());
        let waiter = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                let first = sem.acquire_context(&ctx, 1);
                if first.is_ok() {
                    sem.release(1);
                }
                sem.acquire(1); // gave up or not: acquire again
                sem.release(1);
                first
            })
        };
        let canceller = thread::spawn(move || cancel.cancel());
        sem.release(1);
        canceller.join().unwrap();
        let first = waiter.join().unwrap();
        assert!(matches!(first, Ok(()) | Err(Error::Canceled)));
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

/// A large waiter at the head gives up; the small waiter queued behind it fits and must
/// be woken (Go's `notifyWaiters` after a cancel). Without it the small waiter sleeps
/// forever, which loom reports as a deadlock.
#[test]
fn loom_cancelled_head_wakes_the_waiter_behind() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        sem.acquire(1);
        let (ctx, cancel) = with_cancel(&background());
        let big = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.acquire_context(&ctx, 2))
        };
        let small = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                sem.acquire(1);
                sem.release(1);
            })
        };
        cancel.cancel();
        small.join().unwrap();
        // The big waiter can only have failed: one unit was held throughout.
        assert_eq!(big.join().unwrap(), Err(Error::Canceled));
        sem.release(1);
        assert_eq!(sem.available(), 2);
    });
}

/// A grant that crosses the head's cancel is put back and handed on to the waiter queued
/// behind (Go's `notifyWaiters` in the cancelled-but-ready branch). Without the hand-on,
/// the second waiter sleeps forever.
#[test]
fn loom_crossed_grant_is_handed_to_the_next_waiter() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        sem.acquire(1);
        let (ctx, cancel) = with_cancel(&background());
        let first = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                let r = sem.acquire_context(&ctx, 1);
                if r.is_ok() {
                    sem.release(1);
                }
                r
            })
        };
        let second = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                sem.acquire(1);
                sem.release(1);
            })
        };
        cancel.cancel();
        sem.release(1);
        second.join().unwrap();
        let _ = first.join().unwrap();
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}
