//! `TokenBucket::wait_context` (feature `context`): x/time's `WaitN(ctx, n)` on a fake
//! clock, the order of its checks, its give-up bookkeeping, and its races.
#![cfg(all(not(loom), feature = "context"))]

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use gosync_context::{background, background_with_clock, with_cancel, with_timeout, Error};
use gosync_core::clock::FakeClock;
use gosync_ratelimit::{Limit, TokenBucket, WaitContextError};

/// The time unit of x/time's tests.
const D: Duration = Duration::from_millis(100);
const NS: Duration = Duration::from_nanos(1);
/// Real-time hang guard for threads blocked on the fake clock.
const HANG: Duration = Duration::from_secs(20);

const CANCELED: Result<(), WaitContextError> = Err(WaitContextError::Done(Error::Canceled));

/// A bucket and a context root on one fake clock.
struct Fixture {
    fake: FakeClock,
    t0: Instant,
    bucket: TokenBucket,
    root: gosync_context::Context,
}

impl Fixture {
    fn new(limit: Limit, burst: u32) -> Arc<Fixture> {
        let fake = FakeClock::new();
        Arc::new(Fixture {
            t0: fake.now(),
            bucket: TokenBucket::with_clock(limit, burst, fake.clock()).unwrap(),
            root: background_with_clock(fake.clock()),
            fake,
        })
    }
}

#[test]
fn checks_run_in_x_time_order() {
    let f = Fixture::new(Limit::per_second(10), 3);
    let (done, cancel) = with_cancel(&f.root);
    cancel.cancel();
    // The burst first, even on a done context.
    assert_eq!(
        f.bucket.wait_context(&done, 4),
        Err(WaitContextError::ExceedsBurst { n: 4, burst: 3 })
    );
    // Then the context, even for tokens that are there.
    assert_eq!(f.bucket.wait_context(&done, 1), CANCELED);
    assert_eq!(f.bucket.tokens(), 3.0, "nothing taken");
    // An infinite limit has no burst to exceed, but a done context still fails.
    let inf = Fixture::new(Limit::INF, 0);
    assert_eq!(inf.bucket.wait_context(&done, 4), CANCELED);
    assert_eq!(inf.bucket.wait_context(&background(), u32::MAX), Ok(()));
    assert_eq!(done.registrations(), 0, "no hook left behind");
}

#[test]
fn zero_limit_fails_at_once() {
    let f = Fixture::new(Limit::ZERO, 1);
    assert_eq!(f.bucket.wait_context(&f.root, 1), Ok(()));
    // Without a deadline: never (x/time would block until the context is done).
    assert_eq!(
        f.bucket.wait_context(&f.root, 1),
        Err(WaitContextError::Never)
    );
    // With one: beyond the deadline, as in x/time.
    let (ctx, _cancel) = with_timeout(&f.root, Duration::from_secs(3600));
    assert_eq!(
        f.bucket.wait_context(&ctx, 1),
        Err(WaitContextError::ExceedsDeadline { n: 1 })
    );
    assert_eq!(WaitContextError::Never.context_error(), None);
}

#[test]
fn a_deadline_exactly_at_the_time_to_act_waits_and_the_tokens_win() {
    let f = Fixture::new(Limit::per_second(10), 1);
    assert!(f.bucket.allow());
    let (ctx, _cancel) = with_timeout(&f.root, D);
    let (f2, ctx2) = (f.clone(), ctx.clone());
    let waiter = thread::spawn(move || f2.bucket.wait_context(&ctx2, 1));
    // The waiter and the context's timer thread, which sleeps until the deadline.
    assert!(f.fake.block_until_waiters(2, HANG));
    f.fake.advance(D); // the deadline fires as the token comes due
    assert_eq!(waiter.join().unwrap(), Ok(()));
    assert_eq!(f.bucket.tokens(), 0.0, "the token was used");
    // One nanosecond less of deadline: refused at once.
    let (ctx, _cancel) = with_timeout(&f.root, D - NS);
    assert_eq!(
        f.bucket.wait_context(&ctx, 1),
        Err(WaitContextError::ExceedsDeadline { n: 1 })
    );
}

/// A give-up is cancelled as `Reservation::cancel` would: minus what later reservations
/// count on. Two waiters due at t1 and t2; the first gives up at t0, but the second
/// already counts on its token, so nothing comes back and the second keeps t2.
#[test]
fn giving_up_returns_only_what_later_reservations_do_not_count_on() {
    let f = Fixture::new(Limit::per_second(10), 1);
    assert!(f.bucket.allow());
    let (ctx, cancel) = with_cancel(&f.root);
    let (f1, ctx1) = (f.clone(), ctx.clone());
    let first = thread::spawn(move || f1.bucket.wait_context(&ctx1, 1));
    assert!(f.fake.block_until_waiters(1, HANG));
    let f2 = f.clone();
    let second = thread::spawn(move || f2.bucket.wait_context(&background(), 1));
    assert!(f.fake.block_until_waiters(2, HANG));
    cancel.cancel();
    assert_eq!(first.join().unwrap(), CANCELED);
    assert_eq!(
        f.bucket.tokens(),
        -2.0,
        "the second waiter counts on that token"
    );
    f.fake.advance(D * 2 - NS);
    assert_eq!(f.fake.waiters(), 1, "the second still waits for t2");
    f.fake.advance(NS);
    assert_eq!(second.join().unwrap(), Ok(()));
    assert_eq!(f.fake.now(), f.t0 + D * 2);
}

/// After giving up, the waiter does the next legal thing at once, waiting again with
/// another context: its tokens came back, so it is due when it was before.
#[test]
fn wait_again_after_giving_up() {
    let f = Fixture::new(Limit::per_second(10), 2);
    assert!(f.bucket.allow_n(2));
    let (ctx, cancel) = with_cancel(&f.root);
    let (f2, ctx2) = (f.clone(), ctx.clone());
    let (tx, first) = std::sync::mpsc::channel();
    let waiter = thread::spawn(move || {
        tx.send(f2.bucket.wait_context(&ctx2, 2)).unwrap();
        f2.bucket.wait_context(&background(), 2)
    });
    assert!(f.fake.block_until_waiters(1, HANG));
    cancel.cancel();
    assert_eq!(first.recv_timeout(HANG).unwrap(), CANCELED);
    // The second wait is due at t2 again, not t4.
    assert!(f.fake.block_until_waiters(1, HANG));
    f.fake.advance(D * 2 - NS);
    assert_eq!(f.fake.waiters(), 1);
    f.fake.advance(NS);
    assert_eq!(waiter.join().unwrap(), Ok(()));
    assert_eq!(ctx.registrations(), 0);
}

/// Like x/time, a sleeper keeps its time to act through limit and burst changes; a
/// give-up afterwards gives back its tokens, counted at the limit it reserved at.
#[test]
fn set_limit_does_not_wake_a_context_waiter() {
    let f = Fixture::new(Limit::per_second(10), 2);
    assert!(f.bucket.allow_n(2));
    let (ctx, cancel) = with_cancel(&f.root);
    let (f2, ctx2) = (f.clone(), ctx.clone());
    let waiter = thread::spawn(move || f2.bucket.wait_context(&ctx2, 2)); // due at t2
    assert!(f.fake.block_until_waiters(1, HANG));
    f.bucket.set_limit(Limit::per_second(1));
    f.bucket.set_burst(4);
    f.fake.advance(D);
    assert_eq!(f.fake.waiters(), 1, "still due at t2");
    cancel.cancel();
    assert_eq!(waiter.join().unwrap(), CANCELED);
    // -2 at t0, +0.1 at 1/s, +2 back: 0.1 tokens.
    assert!(
        (f.bucket.tokens() - 0.1).abs() < 1e-9,
        "{}",
        f.bucket.tokens()
    );
}

/// The cancel races the wake-up at the time to act: the waiter always returns, and
/// the tokens come back exactly when it returns the context's error.
#[test]
fn cancel_racing_the_wake_up() {
    for _ in 0..200 {
        let f = Fixture::new(Limit::per_second(10), 1);
        assert!(f.bucket.allow());
        let (ctx, cancel) = with_cancel(&f.root);
        let (f2, ctx2) = (f.clone(), ctx.clone());
        let waiter = thread::spawn(move || f2.bucket.wait_context(&ctx2, 1));
        assert!(f.fake.block_until_waiters(1, HANG));
        let canceller = thread::spawn(move || cancel.cancel());
        f.fake.advance(D);
        canceller.join().unwrap();
        let got = waiter.join().unwrap();
        // At t1: used, the balance is 0; given back, the bucket is full again.
        let want_tokens = if got.is_ok() { 0.0 } else { 1.0 };
        assert!(got == Ok(()) || got == CANCELED, "{got:?}");
        assert_eq!(f.bucket.tokens(), want_tokens, "{got:?}");
        assert_eq!(ctx.registrations(), 0);
    }
}

/// On the real clock: a cancel wakes a waiter whose tokens are ten seconds away at once,
/// and a wait within a deadline sleeps until its tokens are due.
#[test]
fn real_clock_cancel_is_prompt_and_deadlines_allow_short_waits() {
    let bucket = Arc::new(TokenBucket::new(Limit::every(Duration::from_secs(10)), 1).unwrap());
    assert!(bucket.allow());
    let (ctx, cancel) = with_cancel(&background());
    let start = Instant::now();
    let b2 = bucket.clone();
    let waiter = thread::spawn(move || b2.wait_context(&ctx, 1));
    thread::sleep(Duration::from_millis(20));
    cancel.cancel();
    assert_eq!(waiter.join().unwrap(), CANCELED);
    // Well before the token's 10 s (a generous bound: only a wait for the token fails it).
    assert!(
        start.elapsed() < Duration::from_secs(9),
        "{:?}",
        start.elapsed()
    );
    assert!(
        bucket.tokens() > -0.5,
        "the token came back: {}",
        bucket.tokens()
    );

    // `start` precedes the `allow`, so the token is due at least 20 ms after it, however
    // long this thread stalls in between.
    let start = Instant::now();
    let bucket = TokenBucket::new(Limit::every(Duration::from_millis(20)), 1).unwrap();
    assert!(bucket.allow());
    let (ctx, _cancel) = with_timeout(&background(), Duration::from_secs(10));
    assert_eq!(bucket.wait_context(&ctx, 1), Ok(()));
    assert!(
        start.elapsed() >= Duration::from_millis(15),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn errors_display_like_x_time() {
    let e = WaitContextError::Done(Error::DeadlineExceeded);
    assert_eq!(e.to_string(), "context deadline exceeded");
    assert_eq!(e.context_error(), Some(Error::DeadlineExceeded));
    assert_eq!(
        WaitContextError::Never.to_string(),
        "rate: wait would never end (zero limit)"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.source().is_none());
}

/// A deadline already past, before the context's timer has fired it: x/time's wait limit
/// is negative and refuses even tokens that are there.
#[test]
fn a_deadline_past_but_not_yet_fired_refuses_at_once() {
    let f = Fixture::new(Limit::per_second(10), 3);
    // On the real clock, so the fake one's timer never fires it.
    let (ctx, _cancel) = with_timeout(&background(), Duration::from_secs(3600));
    f.fake.advance(Duration::from_secs(7200));
    assert!(!ctx.is_done());
    assert_eq!(
        f.bucket.wait_context(&ctx, 1),
        Err(WaitContextError::ExceedsDeadline { n: 1 })
    );
    assert_eq!(f.bucket.tokens(), 3.0);
}
