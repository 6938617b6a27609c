//! `TokenBucket::wait_async` / `wait_n_async` / `wait_n_timeout_async`: x/time's `WaitN`
//! as a future, under two executors, driven by a fake clock; its cancel-safety (a
//! dropped wait gives its tokens back exactly as `Reservation::cancel`), and the tokio
//! and smol sleepers.
#![cfg(not(loom))]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use gosync_core::clock::{Clock, FakeClock};
use gosync_ratelimit::{Limit, Sleeper, TokenBucket, Wait, WaitError};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);
/// A real-time hang guard only; nothing is timed.
const HANG: Duration = Duration::from_secs(20);

/// A waker that sends its tag on each wake.
struct Tell(u32, Mutex<mpsc::Sender<u32>>);
impl Wake for Tell {
    fn wake(self: Arc<Self>) {
        let _ = self.1.lock().unwrap().send(self.0);
    }
}

fn telling(tag: u32) -> (Waker, mpsc::Receiver<u32>) {
    let (tx, rx) = mpsc::channel();
    (Waker::from(Arc::new(Tell(tag, Mutex::new(tx)))), rx)
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn noop() -> Waker {
    Waker::from(Arc::new(Noop))
}

fn poll<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

fn bucket(limit: Limit, burst: u32) -> (FakeClock, TokenBucket) {
    let fake = FakeClock::new();
    let b = TokenBucket::with_clock(limit, burst, fake.clock()).unwrap();
    (fake, b)
}

#[test]
fn tokens_there_complete_on_the_first_poll() {
    let (_fake, b) = bucket(Limit::per_second(10), 3);
    let w = noop();
    assert_eq!(poll(&mut b.wait_n_async(2), &w), Poll::Ready(Ok(())));
    assert_eq!(poll(&mut b.wait_async(), &w), Poll::Ready(Ok(())));
    assert_eq!(b.tokens(), 0.0);
    // n == 0 with nothing pending: at once, nothing taken.
    assert_eq!(poll(&mut b.wait_n_async(0), &w), Poll::Ready(Ok(())));
    let (_f, inf) = bucket(Limit::INF, 0);
    assert_eq!(
        poll(&mut inf.wait_n_async(u32::MAX), &w),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn reserves_at_the_first_poll_not_when_made() {
    let (fake, b) = bucket(Limit::per_second(10), 1);
    assert!(b.allow());
    let mut wait = b.wait_async();
    assert_eq!(b.tokens(), 0.0, "an unpolled wait takes nothing");
    fake.advance(Duration::from_millis(100));
    assert_eq!(poll(&mut wait, &noop()), Poll::Ready(Ok(())));
    assert_eq!(b.tokens(), 0.0);
    drop(b.wait_async()); // never polled: nothing taken, nothing given back
    assert_eq!(b.tokens(), 0.0);
}

#[test]
fn errors_come_at_the_first_poll_and_take_nothing() {
    let (_fake, b) = bucket(Limit::per_second(10), 3);
    let w = noop();
    assert_eq!(
        poll(&mut b.wait_n_async(4), &w),
        Poll::Ready(Err(WaitError::ExceedsBurst { n: 4, burst: 3 }))
    );
    assert_eq!(b.tokens(), 3.0);
    assert!(b.allow_n(3));
    // The next token is 100 ms away.
    assert_eq!(
        poll(
            &mut b.wait_n_timeout_async(1, Duration::from_millis(99)),
            &w
        ),
        Poll::Ready(Err(WaitError::Timeout))
    );
    assert_eq!(b.tokens(), 0.0, "a refused timeout takes nothing");
    let mut within = b.wait_n_timeout_async(1, Duration::from_millis(100));
    assert!(poll(&mut within, &w).is_pending());
    assert_eq!(b.tokens(), -1.0);
    drop(within);
    assert_eq!(b.tokens(), 0.0);
    let (_f, zero) = bucket(Limit::ZERO, 1);
    assert_eq!(poll(&mut zero.wait_async(), &w), Poll::Ready(Ok(()))); // the burst
    assert_eq!(
        poll(&mut zero.wait_async(), &w),
        Poll::Ready(Err(WaitError::Never))
    );
    assert_eq!(
        poll(&mut zero.wait_n_timeout_async(1, MS), &w),
        Poll::Ready(Err(WaitError::Never))
    );
}

/// The fake clock drives it: pending until the time to act exactly, then ready on the
/// next poll, and the task is woken by the clock's timer thread.
#[test]
fn completes_exactly_at_the_time_to_act() {
    let (fake, b) = bucket(Limit::per_second(10), 2);
    let t0 = fake.now();
    assert!(b.allow_n(2));
    let (w, rx) = telling(1);
    let mut wait = b.wait_n_async(2);
    assert_eq!(wait.time_to_act(), None);
    assert!(poll(&mut wait, &w).is_pending());
    let act = t0 + Duration::from_millis(200);
    assert_eq!(wait.time_to_act(), Some(act));
    assert!(fake.block_until_waiter_at(act, HANG));
    fake.advance(Duration::from_millis(200) - NS);
    assert!(poll(&mut wait, &w).is_pending());
    assert!(rx.try_recv().is_err());
    fake.advance(NS);
    assert_eq!(poll(&mut wait, &w), Poll::Ready(Ok(())));
    assert_eq!(rx.recv_timeout(HANG), Ok(1), "woken by the timer thread");
    drop(wait);
    assert_eq!(b.tokens(), 0.0, "the tokens were kept");
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_after_completion_panics() {
    let (_fake, b) = bucket(Limit::per_second(10), 1);
    let mut wait = b.wait_async();
    let w = noop();
    assert!(poll(&mut wait, &w).is_ready());
    let _ = poll(&mut wait, &w);
}

/// A waiter per executor, on one fake clock: each completes when the clock reaches its
/// time to act, and not before (the other is still pending then).
#[test]
fn futures_executor_and_tokio_driven_by_the_fake_clock() {
    let (fake, b) = bucket(Limit::per_second(10), 1);
    let t0 = fake.now();
    assert!(b.allow());
    let clock = fake.clock();
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            futures::executor::block_on(b.wait_async()).unwrap();
            clock.now()
        });
        // The second waiter reserves after the first: its time to act is 200 ms.
        assert!(fake.block_until_waiter_at(t0 + Duration::from_millis(100), HANG));
        let second = s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async { b.wait_async().await }).unwrap();
            clock.now()
        });
        while b.tokens() > -2.0 {
            std::thread::yield_now(); // until the second has reserved
        }
        fake.advance(Duration::from_millis(100));
        assert_eq!(first.join().unwrap(), t0 + Duration::from_millis(100));
        assert!(fake.block_until_waiter_at(t0 + Duration::from_millis(200), HANG));
        fake.advance(Duration::from_millis(100));
        assert_eq!(second.join().unwrap(), t0 + Duration::from_millis(200));
    });
    assert_eq!(b.tokens(), 0.0);
}

/// The cancel-safety contract, at every poll point: a wait dropped before it was
/// polled takes nothing; dropped after any number of pending polls, it gives back
/// exactly what `Reservation::cancel` at that instant gives back (a twin bucket on its
/// own fake clock with the same history holds a `Reservation` instead); dropped after
/// completion, it keeps its tokens.
#[test]
fn dropped_at_every_poll_point_gives_back_as_reservation_cancel() {
    let step = Duration::from_millis(30);
    for polls in 0..6u32 {
        let (fake, b) = bucket(Limit::per_second(10), 2);
        let (twin_fake, twin) = bucket(Limit::per_second(10), 2);
        assert!(b.allow_n(2) && twin.allow_n(2));
        let w = noop();
        let mut wait = b.wait_n_async(2); // due in 200 ms
        let mut held = None;
        let mut done = false;
        for i in 0..polls {
            if i > 0 {
                fake.advance(step);
                twin_fake.advance(step);
            }
            if held.is_none() {
                held = Some(twin.reserve_n(2));
            }
            done = poll(&mut wait, &w).is_ready();
        }
        assert!(!done, "200 ms are not reached in 5 steps of 30 ms");
        // A later reservation on both: cancelling must then give back only part.
        if polls % 2 == 1 {
            let _ = b.reserve();
            let _ = twin.reserve();
        }
        drop(wait);
        if let Some(r) = held {
            r.cancel();
        }
        assert_eq!(b.tokens(), twin.tokens(), "dropped after {polls} polls");
        assert_eq!(fake.waiters(), 0, "no sleep left registered");
    }
    // After completion: the tokens are kept.
    let (fake, b) = bucket(Limit::per_second(10), 2);
    assert!(b.allow_n(2));
    let mut wait = b.wait_n_async(2);
    assert!(poll(&mut wait, &noop()).is_pending());
    fake.advance(Duration::from_millis(200));
    assert!(poll(&mut wait, &noop()).is_ready());
    drop(wait);
    assert_eq!(b.tokens(), 0.0);
}

/// Dropped once its time to act has been reached but before the poll that would have
/// completed it: the tokens are given back, as `Reservation::cancel` at the time to act
/// does (x/time gives back unless the time to act is *before* the cancel).
#[test]
fn dropped_at_the_time_to_act_gives_back_after_it_does_not() {
    for (past, expect) in [(Duration::ZERO, 2.0), (NS, 1e-8)] {
        let (fake, b) = bucket(Limit::per_second(10), 2);
        assert!(b.allow_n(2));
        let mut wait = b.wait_n_async(2);
        assert!(poll(&mut wait, &noop()).is_pending());
        fake.advance(Duration::from_millis(200) + past);
        drop(wait);
        let tokens = b.tokens();
        assert!((tokens - expect).abs() < 1e-6, "{past:?}: {tokens}");
    }
}

proptest! {
    /// Against the model: a `Reservation` on a twin bucket. Random limits, bursts,
    /// earlier reservations, clock steps and drop points.
    #[test]
    fn a_dropped_wait_is_a_cancelled_reservation(
        per_sec in 1u64..50, burst in 1u32..5, taken in 0u32..5, n in 0u32..6,
        steps in prop::collection::vec(0u64..200_000_000, 0..5),
        later in 0u32..3,
    ) {
        let (fake, b) = bucket(Limit::per_second(per_sec), burst);
        let (twin_fake, twin) = bucket(Limit::per_second(per_sec), burst);
        let taken = taken.min(burst);
        prop_assert_eq!(b.allow_n(taken), twin.allow_n(taken));
        let w = noop();
        let mut wait = b.wait_n_async(n);
        let first = poll(&mut wait, &w);
        let r = twin.reserve_n(n);
        match first {
            Poll::Ready(Err(WaitError::ExceedsBurst { .. })) => {
                prop_assert!(!r.ok());
                drop(r);
            }
            Poll::Ready(Ok(())) => prop_assert_eq!(r.delay(), Duration::ZERO),
            Poll::Ready(Err(e)) => prop_assert!(false, "{:?}", e),
            Poll::Pending => {
                prop_assert!(r.delay() > Duration::ZERO);
                let mut completed = false;
                for s in &steps {
                    fake.advance(Duration::from_nanos(*s));
                    twin_fake.advance(Duration::from_nanos(*s));
                    if poll(&mut wait, &w).is_ready() {
                        completed = true;
                        break;
                    }
                }
                for _ in 0..later {
                    let _ = b.reserve();
                    let _ = twin.reserve();
                }
                drop(wait);
                if completed {
                    drop(r); // kept
                } else {
                    r.cancel();
                }
                prop_assert_eq!(b.tokens(), twin.tokens());
                return Ok(());
            }
        }
        drop(wait);
        prop_assert_eq!(b.tokens(), twin.tokens());
    }
}

/// `with_sleeper` on a sleeping wait keeps its reservation and sleeps until the same
/// time to act with the new sleeper.
#[test]
fn with_sleeper_mid_wait_keeps_the_reservation() {
    let (fake, b) = bucket(Limit::per_second(10), 1);
    let t0 = fake.now();
    assert!(b.allow());
    let mut wait = b.wait_async();
    assert!(poll(&mut wait, &noop()).is_pending());
    let clock = fake.clock();
    let mut wait = wait.with_sleeper(Arc::new(clock));
    assert_eq!(b.tokens(), -1.0);
    assert_eq!(wait.time_to_act(), Some(t0 + Duration::from_millis(100)));
    let (w, rx) = telling(3);
    assert!(poll(&mut wait, &w).is_pending());
    assert!(fake.block_until_waiter_at(t0 + Duration::from_millis(100), HANG));
    fake.advance(Duration::from_millis(100));
    assert_eq!(rx.recv_timeout(HANG), Ok(3));
    assert_eq!(poll(&mut wait, &w), Poll::Ready(Ok(())));
    assert_eq!(b.tokens(), 0.0);
}

/// A sleeper that panics is user code in the task's poll: the panic reaches the
/// caller; the wait's drop (during the unwinding) gives the tokens back.
#[test]
fn a_panicking_sleeper_gives_the_tokens_back() {
    struct Bad;
    impl Sleeper for Bad {
        type Sleep = std::future::Ready<()>;
        fn sleep_until(&self, _: Instant) -> Self::Sleep {
            panic!("sleeper panics");
        }
    }
    let (_fake, b) = bucket(Limit::per_second(10), 1);
    assert!(b.allow());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut wait = b.wait_async().with_sleeper(Bad);
        let _ = poll(&mut wait, &noop());
    }));
    assert!(caught.is_err());
    assert_eq!(b.tokens(), 0.0);
    assert!(b.allow_n(0));
}

/// A waker that panics runs on the clock's timer thread: caught there; the wait still
/// completes on its next poll, and other waits of the clock are still woken.
#[test]
fn a_panicking_waker_does_not_stop_other_waits() {
    struct Panicky;
    impl Wake for Panicky {
        fn wake(self: Arc<Self>) {
            panic!("waker panics");
        }
    }
    let (fake, b) = bucket(Limit::per_second(10), 1);
    let t0 = fake.now();
    assert!(b.allow());
    let bad = Waker::from(Arc::new(Panicky));
    let (good, rx) = telling(9);
    let mut first = b.wait_async();
    let mut second = b.wait_async();
    assert!(poll(&mut first, &bad).is_pending());
    assert!(poll(&mut second, &good).is_pending());
    assert!(fake.block_until_waiter_at(t0 + Duration::from_millis(100), HANG));
    fake.advance(Duration::from_millis(100));
    assert_eq!(poll(&mut first, &bad), Poll::Ready(Ok(())));
    assert!(fake.block_until_waiter_at(t0 + Duration::from_millis(200), HANG));
    fake.advance(Duration::from_millis(100));
    assert_eq!(rx.recv_timeout(HANG), Ok(9));
    assert_eq!(poll(&mut second, &good), Poll::Ready(Ok(())));
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let b = TokenBucket::new(Limit::per_second(10), 1).unwrap();
    send(&b.wait_async());
    send(
        &b.wait_n_timeout_async(1, MS)
            .with_sleeper(Arc::new(Clock::real())),
    );
    #[cfg(feature = "tokio")]
    send(&b.wait_async().with_sleeper(gosync_ratelimit::TokioSleeper));
    #[cfg(feature = "smol")]
    send(&b.wait_async().with_sleeper(gosync_ratelimit::SmolSleeper));
    fn unpin<T: Unpin>() {}
    unpin::<Wait<'static>>();
}

/// On the real clock: the second token of a 1000/s bucket comes at least 1 ms after the
/// first was taken (a lower bound only: nothing is timed from above).
fn real_clock_pair<S: Sleeper + Clone>(
    sleeper: S,
    block_on: impl Fn(Pin<Box<dyn Future<Output = ()> + '_>>),
) {
    let b = TokenBucket::new(Limit::per_second(1000), 1).unwrap();
    let t0 = Instant::now();
    block_on(Box::pin(async {
        b.wait_async().with_sleeper(sleeper.clone()).await.unwrap();
        b.wait_async().with_sleeper(sleeper.clone()).await.unwrap();
    }));
    assert!(
        t0.elapsed() >= Duration::from_micros(990),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn real_clock_sleeper_under_both_executors() {
    real_clock_pair(Clock::real(), |f| futures::executor::block_on(f));
    real_clock_pair(Clock::real(), |f| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    });
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_sleeper() {
    use gosync_ratelimit::TokioSleeper;
    real_clock_pair(TokioSleeper, |f| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    });
    real_clock_pair(TokioSleeper, |f| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    });
    // Dropped while tokio's timer holds it: the token comes back.
    let b = TokenBucket::new(Limit::per_second(1), 1).unwrap();
    assert!(b.allow());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        tokio::time::timeout(MS, b.wait_async().with_sleeper(TokioSleeper)).await
    });
    assert!(out.is_err(), "a second is not over in 1 ms");
    assert!(b.tokens() > -0.5, "given back: {}", b.tokens());
}

#[cfg(feature = "smol")]
#[test]
fn smol_sleeper() {
    use gosync_ratelimit::SmolSleeper;
    real_clock_pair(SmolSleeper, |f| async_io::block_on(f));
    // Under another executor: async-io's own thread drives the timer.
    real_clock_pair(SmolSleeper, |f| futures::executor::block_on(f));
}

/// Stress (release, `--ignored`): 100 tasks on a 2-worker tokio runtime each await 20
/// waits on one real-clock bucket, a quarter of them cut short by a timeout (a dropped
/// wait: its tokens go back). Every task finishes (no lost wake-up), and the waits
/// that completed never exceed what the bucket can grant: `burst + rate · elapsed`.
fn stress<S: Sleeper + Clone + Send + Sync + 'static>(sleeper: S)
where
    S::Sleep: Send,
{
    const RATE: u64 = 20_000;
    const BURST: u32 = 10;
    let t0 = Instant::now();
    let b = Arc::new(TokenBucket::new(Limit::per_second(RATE), BURST).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let completed: u64 = rt.block_on(async {
        let tasks: Vec<_> = (0..100u64)
            .map(|t| {
                let (b, sleeper) = (Arc::clone(&b), sleeper.clone());
                tokio::spawn(async move {
                    let mut done = 0u64;
                    for i in 0..20u64 {
                        let wait = b.wait_async().with_sleeper(sleeper.clone());
                        if (t + i) % 4 == 0 {
                            let cut = Duration::from_micros(50 * (i % 3));
                            if let Ok(r) = tokio::time::timeout(cut, wait).await {
                                r.unwrap();
                                done += 1;
                            }
                        } else {
                            wait.await.unwrap();
                            done += 1;
                        }
                    }
                    done
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    let elapsed = t0.elapsed();
    // + 1: the bucket reads the TSC-based cheap clock, calibrated against `Instant`.
    let cap = u64::from(BURST) + (elapsed.as_nanos() as u64 * RATE).div_ceil(1_000_000_000) + 1;
    assert!(
        completed <= cap,
        "{completed} waits completed in {elapsed:?} (cap {cap})"
    );
    assert!(
        completed >= 1500,
        "{completed}: at least the uncut three quarters"
    );
}

#[test]
#[ignore = "stress: run in release by ci/test.sh"]
fn stress_clock_sleeper() {
    stress(Clock::real());
}

#[cfg(feature = "tokio")]
#[test]
#[ignore = "stress: run in release by ci/test.sh"]
fn stress_tokio_sleeper() {
    stress(gosync_ratelimit::TokioSleeper);
}
