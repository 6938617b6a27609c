//! `Backoff::retry_async` and its siblings: the async twin of `Backoff::retry`, under
//! two executors, sleeping through a fake clock; cancel-safety (dropped at every poll
//! point) and panics in the user's closure and future.
#![cfg(not(loom))]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use gosync_core::clock::{Clock, FakeClock};
use gosync_ratelimit::Backoff;

const MS: Duration = Duration::from_millis(1);
/// A real-time hang guard only; nothing is timed.
const HANG: Duration = Duration::from_secs(20);

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn backoff(fake: &FakeClock, steps: u32) -> Backoff {
    Backoff::builder()
        .initial(MS * 10)
        .factor(2.0)
        .max_steps(steps)
        .clock(fake.clock())
        .build()
        .unwrap()
}

/// Runs a retry loop on `block_on` in a thread whose op fails `fails` times, and drives
/// the fake clock through its sleeps; returns the result and the attempts' times.
#[derive(Clone, Copy)]
enum Executor {
    Futures,
    Tokio,
}

fn block_on<F: Future>(ex: Executor, f: F) -> F::Output {
    match ex {
        Executor::Futures => futures::executor::block_on(f),
        Executor::Tokio => tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f),
    }
}

fn drive(ex: Executor, fails: u32, steps: u32) -> (Result<u32, String>, Vec<Duration>, u32) {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let clock = fake.clock();
    let times = Arc::new(Mutex::new(Vec::new()));
    let mut b = backoff(&fake, steps);
    let result = std::thread::scope(|s| {
        let worker = {
            let times = Arc::clone(&times);
            let b = &mut b;
            s.spawn(move || {
                let mut n = 0;
                block_on(
                    ex,
                    b.retry_async(move || {
                        n += 1;
                        let attempt = n;
                        times.lock().unwrap().push(clock.now() - t0);
                        async move {
                            if attempt <= fails {
                                Err(format!("attempt {attempt}"))
                            } else {
                                Ok(attempt)
                            }
                        }
                    }),
                )
            })
        };
        // Each sleep, in turn: 10 ms, 20 ms, 40 ms... until the loop ends.
        let mut slept = Duration::ZERO;
        let mut d = MS * 10;
        while !worker.is_finished() {
            if fake.block_until_waiter_at(t0 + slept + d, Duration::from_millis(10)) {
                fake.advance(d);
                slept += d;
                d *= 2;
            }
        }
        worker.join().unwrap()
    });
    let times = times.lock().unwrap().clone();
    (result, times, b.steps())
}

#[test]
fn sleeps_each_delay_on_the_clock_under_both_executors() {
    let ms = |n| MS * n;
    let (r, times, steps) = drive(Executor::Futures, 3, 5);
    assert_eq!(r, Ok(4));
    assert_eq!(times, [ms(0), ms(10), ms(30), ms(70)]);
    assert_eq!(steps, 3);
    let (r, times, steps) = drive(Executor::Tokio, 10, 2);
    assert_eq!(
        r,
        Err("attempt 3".to_string()),
        "the last error once it gives up"
    );
    assert_eq!(times, [ms(0), ms(10), ms(30)]);
    assert_eq!(steps, 2);
}

#[test]
fn a_permanent_error_returns_at_once() {
    let fake = FakeClock::new();
    let mut b = backoff(&fake, 5);
    let mut calls = 0;
    let r: Result<(), &str> = futures::executor::block_on(b.retry_if_async(
        || {
            calls += 1;
            async { Err("fatal") }
        },
        |e| *e != "fatal",
    ));
    assert_eq!((r, calls, b.steps()), (Err("fatal"), 1, 0));
    let r: Result<u8, &str> = futures::executor::block_on(b.retry_async(|| async { Ok(7) }));
    assert_eq!(r, Ok(7));
}

/// Dropped at every poll point (before the first poll, in each attempt, in each sleep):
/// the backoff has handed out exactly the delays of the sleeps begun, no sleep stays
/// registered on the clock, and the backoff goes on from there.
#[test]
fn dropped_at_every_poll_point() {
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    for polls in 0..8u32 {
        let fake = FakeClock::new();
        let mut b = backoff(&fake, 10);
        {
            // Each attempt is pending on its first poll and fails on its second.
            let mut fut = Box::pin(b.retry_async(|| {
                let mut first = true;
                std::future::poll_fn(move |cx| {
                    if std::mem::take(&mut first) {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    } else {
                        Poll::Ready(Err::<(), _>("down"))
                    }
                })
            }));
            // Poll 1 starts an attempt, poll 2 fails it and begins a sleep; the next
            // poll, once the clock reached the deadline, starts the next attempt.
            let mut d = MS * 10;
            let mut sleeping = false;
            for i in 0..polls {
                if sleeping {
                    assert!(fake.block_until_waiter_at(fake.now() + d, HANG));
                    fake.advance(d);
                    d *= 2;
                }
                assert!(fut.as_mut().poll(&mut cx).is_pending());
                sleeping = i % 2 == 1;
            }
            // Dropped here: in an attempt, or in a sleep whose deadline is not reached.
        }
        assert_eq!(
            fake.waiters(),
            0,
            "a dropped retry leaves no sleep registered"
        );
        let expected = [0, 0, 1, 1, 2, 2, 3, 3][polls as usize];
        assert_eq!(b.steps(), expected, "dropped after {polls} polls");
        assert_eq!(b.next(), Some(MS * 10 * 2u32.pow(expected)));
    }
}

#[test]
fn a_panicking_op_leaves_the_backoff_as_it_was() {
    let fake = FakeClock::new();
    let mut b = backoff(&fake, 5);
    let clock = fake.clock();
    let t0 = clock.now();
    let driver = {
        let fake = fake.clone();
        std::thread::spawn(move || {
            // The first delay (10 ms): advance it once the retry sleeps.
            assert!(fake.block_until_waiter_at(fake.now() + MS * 10, HANG));
            fake.advance(MS * 10);
        })
    };
    let mut n = 0;
    // The closure panics on the second call, the future on the third (not reached).
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(b.retry_async(|| {
            n += 1;
            assert!(n < 2, "op panics");
            async { Err::<(), _>("down") }
        }))
    }));
    assert!(caught.is_err());
    driver.join().unwrap();
    assert_eq!(
        b.steps(),
        1,
        "one delay handed out and slept, then the panic"
    );
    assert_eq!(clock.now() - t0, MS * 10);
    // A panic inside the op's future: the same.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(b.retry_async(|| async { panic!("future panics") }))
            as Result<(), ()>
    }));
    assert!(caught.is_err());
    assert_eq!(b.steps(), 1);
    assert_eq!(b.next(), Some(MS * 20), "it goes on from where it was");
    b.reset();
    assert_eq!(b.next(), Some(MS * 10));
}

#[test]
fn real_clock_and_other_sleepers() {
    let mut b = Backoff::builder().initial(MS).max_steps(2).build().unwrap();
    let t0 = Instant::now();
    let r: Result<(), &str> = futures::executor::block_on(
        b.retry_async_with(Arc::new(Clock::real()), || async { Err("down") }),
    );
    assert_eq!(r, Err("down"));
    assert!(t0.elapsed() >= MS * 3, "1 ms then 2 ms slept");
    #[cfg(feature = "tokio")]
    {
        b.reset();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let t0 = Instant::now();
        let r: Result<(), &str> = rt.block_on(b.retry_if_async_with(
            gosync_ratelimit::TokioSleeper,
            || async { Err("down") },
            |_| true,
        ));
        assert_eq!(r, Err("down"));
        assert!(t0.elapsed() >= MS * 3);
    }
    #[cfg(feature = "smol")]
    {
        b.reset();
        let t0 = Instant::now();
        let r: Result<(), &str> = async_io::block_on(
            b.retry_async_with(gosync_ratelimit::SmolSleeper, || async { Err("down") }),
        );
        assert_eq!(r, Err("down"));
        assert!(t0.elapsed() >= MS * 3);
    }
}

#[test]
fn the_future_is_send() {
    fn send<T: Send>(_: T) {}
    let mut b = Backoff::builder().build().unwrap();
    send(b.retry_async(|| async { Err::<(), String>(String::new()) }));
    send(b.retry_if_async(|| async { Ok::<u8, ()>(1) }, |_| true));
    #[cfg(feature = "tokio")]
    send(
        b.retry_async_with(gosync_ratelimit::TokioSleeper, || async {
            Err::<(), u8>(1)
        }),
    );
}
