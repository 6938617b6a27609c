//! `TokenBucket::wait_context_async` (feature `context`): the async twin of
//! `wait_context`, under two executors, on a fake clock; the order of its checks, a
//! cancel waking it and giving the tokens back, tokens winning over a done context, and
//! drops at every poll point.
#![cfg(all(not(loom), feature = "context"))]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use gosync_context::{background, background_with_clock, with_cancel, with_timeout, Error};
use gosync_core::clock::FakeClock;
use gosync_ratelimit::{Limit, TokenBucket, WaitContextError};

const D: Duration = Duration::from_millis(100);
const HANG: Duration = Duration::from_secs(20);
const CANCELED: Result<(), WaitContextError> = Err(WaitContextError::Done(Error::Canceled));

struct Tell(Mutex<mpsc::Sender<()>>);
impl Wake for Tell {
    fn wake(self: Arc<Self>) {
        let _ = self.0.lock().unwrap().send(());
    }
}

fn telling() -> (Waker, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    (Waker::from(Arc::new(Tell(Mutex::new(tx)))), rx)
}

fn poll<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

fn spent(fake: &FakeClock, burst: u32) -> TokenBucket {
    let b = TokenBucket::with_clock(Limit::every(D), burst, fake.clock()).unwrap();
    assert!(b.allow_n(burst));
    b
}

#[test]
fn checks_run_in_x_time_order_at_the_first_poll() {
    let fake = FakeClock::new();
    let b = TokenBucket::with_clock(Limit::every(D), 3, fake.clock()).unwrap();
    let root = background_with_clock(fake.clock());
    let (w, _rx) = telling();
    let (done, cancel) = with_cancel(&root);
    cancel.cancel();
    assert_eq!(
        poll(&mut b.wait_context_async(&done, 4), &w),
        Poll::Ready(Err(WaitContextError::ExceedsBurst { n: 4, burst: 3 }))
    );
    assert_eq!(
        poll(&mut b.wait_context_async(&done, 1), &w),
        Poll::Ready(CANCELED)
    );
    assert_eq!(b.tokens(), 3.0, "nothing taken");
    assert!(b.allow_n(3));
    let (short, _c) = with_timeout(&root, D / 2);
    assert_eq!(
        poll(&mut b.wait_context_async(&short, 1), &w),
        Poll::Ready(Err(WaitContextError::ExceedsDeadline { n: 1 }))
    );
    let zero = TokenBucket::with_clock(Limit::ZERO, 1, fake.clock()).unwrap();
    assert!(zero.allow());
    assert_eq!(
        poll(&mut zero.wait_context_async(&root, 1), &w),
        Poll::Ready(Err(WaitContextError::Never))
    );
    assert_eq!(b.tokens(), 0.0);
    assert_eq!(done.registrations(), 0);
}

/// A cancel while it sleeps wakes the task at once; the tokens come back and the
/// context's registration is gone.
#[test]
fn a_cancel_wakes_it_and_gives_the_tokens_back() {
    let fake = FakeClock::new();
    let b = spent(&fake, 2);
    let root = background_with_clock(fake.clock());
    let (ctx, cancel) = with_cancel(&root);
    let (w, rx) = telling();
    let mut wait = b.wait_context_async(&ctx, 2);
    assert!(poll(&mut wait, &w).is_pending());
    assert_eq!(b.tokens(), -2.0);
    assert_eq!(ctx.registrations(), 1);
    cancel.cancel();
    assert_eq!(rx.recv_timeout(HANG), Ok(()));
    assert_eq!(poll(&mut wait, &w), Poll::Ready(CANCELED));
    assert_eq!(b.tokens(), 0.0);
    assert_eq!(ctx.registrations(), 0);
    drop(wait);
    assert_eq!(fake.waiters(), 0, "no sleep left registered");
}

/// Due tokens win over a context done at the same time.
#[test]
fn due_tokens_win_over_a_done_context() {
    let fake = FakeClock::new();
    let b = spent(&fake, 1);
    let root = background_with_clock(fake.clock());
    let (ctx, cancel) = with_cancel(&root);
    let (w, _rx) = telling();
    let mut wait = b.wait_context_async(&ctx, 1);
    assert!(poll(&mut wait, &w).is_pending());
    fake.advance(D);
    cancel.cancel();
    assert_eq!(poll(&mut wait, &w), Poll::Ready(Ok(())));
    assert_eq!(b.tokens(), 0.0, "the token was used");
}

/// Dropped at every poll point: the tokens come back as `Reservation::cancel` at the
/// drop, and nothing stays registered with the context or the clock.
#[test]
fn dropped_at_every_poll_point() {
    for polls in 0..4u32 {
        let fake = FakeClock::new();
        let b = spent(&fake, 2);
        let root = background_with_clock(fake.clock());
        let (ctx, _cancel) = with_cancel(&root);
        let (w, _rx) = telling();
        {
            let mut wait = b.wait_context_async(&ctx, 2);
            for i in 0..polls {
                if i > 0 {
                    fake.advance(D / 4);
                }
                assert!(poll(&mut wait, &w).is_pending());
            }
        }
        let elapsed = (D / 4) * polls.saturating_sub(1);
        let expect = elapsed.as_secs_f64() / D.as_secs_f64();
        assert!(
            (b.tokens() - expect).abs() < 1e-9,
            "{polls} polls: {}",
            b.tokens()
        );
        assert_eq!(ctx.registrations(), 0);
        assert_eq!(fake.waiters(), 0);
    }
}

/// One waiter per executor on one fake clock; one is cancelled, the other gets its
/// tokens when the clock reaches them.
#[test]
fn futures_executor_and_tokio() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let b = spent(&fake, 1);
    let root = background_with_clock(fake.clock());
    let (ctx, cancel) = with_cancel(&root);
    std::thread::scope(|s| {
        let first = s.spawn(|| futures::executor::block_on(b.wait_context_async(&ctx, 1)));
        assert!(fake.block_until_waiter_at(t0 + D, HANG));
        let second = s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(b.wait_context_async(&root, 1))
        });
        while b.tokens() > -2.0 {
            std::thread::yield_now(); // until the second has reserved (due at 2 D)
        }
        cancel.cancel();
        assert_eq!(first.join().unwrap(), CANCELED);
        // Nothing came back (the later reservation counts on it); the second keeps
        // its time to act.
        assert!(fake.block_until_waiter_at(t0 + D * 2, HANG));
        fake.advance(D * 2);
        assert_eq!(second.join().unwrap(), Ok(()));
    });
}

#[test]
fn is_send() {
    fn send<T: Send>(_: &T) {}
    let b = TokenBucket::new(Limit::per_second(10), 1).unwrap();
    let ctx = background();
    send(&b.wait_context_async(&ctx, 1));
    #[cfg(feature = "tokio")]
    send(
        &b.wait_context_async(&ctx, 1)
            .with_sleeper(gosync_ratelimit::TokioSleeper),
    );
}
