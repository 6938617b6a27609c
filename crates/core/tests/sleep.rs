//! `Clock::sleep_until_async` / `Clock::sleep_async` (`gosync_core::timer::Sleep`): the
//! async sleep driven by the clock's timer thread, under two executors.
#![cfg(not(loom))]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::timer::Sleep;
use gosync_core::FakeClock;

const SEC: Duration = Duration::from_secs(1);
/// A real-time hang guard only; nothing is timed.
const HANG: Duration = Duration::from_secs(20);

/// A waker that sends its tag on each wake.
struct Tell(u32, Mutex<mpsc::Sender<u32>>);
impl Wake for Tell {
    fn wake(self: Arc<Self>) {
        let _ = self.1.lock().unwrap().send(self.0);
    }
}

fn telling(tag: u32, tx: &mpsc::Sender<u32>) -> (Arc<Tell>, Waker) {
    let t = Arc::new(Tell(tag, Mutex::new(tx.clone())));
    (Arc::clone(&t), Waker::from(t))
}

fn poll(s: &mut Sleep, w: &Waker) -> Poll<()> {
    Pin::new(s).poll(&mut Context::from_waker(w))
}

#[test]
fn completes_exactly_at_the_deadline_and_wakes_the_task() {
    let fake = FakeClock::new();
    let deadline = fake.now() + SEC * 10;
    let (tx, rx) = mpsc::channel();
    let (_t, w) = telling(1, &tx);
    let mut s = fake.clock().sleep_until_async(deadline);
    assert_eq!(s.deadline(), Some(deadline));
    assert!(poll(&mut s, &w).is_pending());
    assert!(
        fake.block_until_waiter_at(deadline, HANG),
        "the timer thread sleeps until it"
    );
    fake.advance(SEC * 10 - Duration::from_nanos(1));
    assert!(poll(&mut s, &w).is_pending());
    assert!(!s.is_elapsed());
    assert!(rx.try_recv().is_err(), "not woken before the deadline");
    fake.advance(Duration::from_nanos(1));
    // Ready on the next poll, whether or not the timer thread has called the waker yet.
    assert!(poll(&mut s, &w).is_ready());
    assert!(s.is_elapsed());
    assert_eq!(rx.recv_timeout(HANG), Ok(1), "the task is woken");
    assert!(poll(&mut s, &w).is_ready(), "ready again after completion");
    drop(s);
    assert!(rx.try_recv().is_err(), "woken once");
}

#[test]
fn a_reached_deadline_completes_on_the_first_poll() {
    let fake = FakeClock::new();
    let (tx, rx) = mpsc::channel();
    let (_t, w) = telling(1, &tx);
    let past = fake.now();
    fake.advance(SEC);
    assert!(poll(&mut fake.clock().sleep_until_async(past), &w).is_ready());
    assert!(poll(&mut fake.clock().sleep_async(Duration::ZERO), &w).is_ready());
    assert_eq!(fake.waiters(), 0);
    assert!(rx.try_recv().is_err());
}

#[test]
fn futures_executor_driven_by_the_fake_clock() {
    let fake = FakeClock::new();
    let deadline = fake.now() + SEC * 3600;
    let sleep = fake.clock().sleep_until_async(deadline);
    let clock = fake.clock();
    let t = std::thread::spawn(move || {
        futures::executor::block_on(sleep);
        clock.now()
    });
    assert!(fake.block_until_waiter_at(deadline, HANG));
    fake.advance(SEC * 3600);
    assert_eq!(t.join().unwrap(), deadline);
}

#[test]
fn tokio_driven_by_the_fake_clock() {
    let fake = FakeClock::new();
    let deadline = fake.now() + SEC * 5;
    let clock = fake.clock();
    let t = std::thread::spawn(move || {
        // No tokio time driver: the sleep does not need one.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let a = clock.sleep_until_async(deadline);
            let b = clock.sleep_async(SEC * 2); // an earlier deadline on the same clock
            b.await;
            let mid = clock.now();
            a.await;
            (mid, clock.now())
        })
    });
    assert!(fake.block_until_waiter_at(fake.now() + SEC * 2, HANG));
    fake.advance(SEC * 2);
    assert!(fake.block_until_waiter_at(deadline, HANG));
    fake.advance(SEC * 3);
    let (mid, end) = t.join().unwrap();
    assert_eq!(end, deadline);
    assert_eq!(mid, deadline - SEC * 3);
}

#[tokio::test]
async fn real_clock_under_tokio() {
    let clock = Clock::real();
    let deadline = Instant::now() + Duration::from_millis(2);
    clock.sleep_until_async(deadline).await;
    assert!(Instant::now() >= deadline);
    let t0 = Instant::now();
    clock.sleep_async(Duration::from_millis(1)).await;
    assert!(t0.elapsed() >= Duration::from_millis(1));
}

#[test]
fn real_clock_under_futures_executor() {
    let clock = Clock::real();
    let deadline = Instant::now() + Duration::from_millis(2);
    futures::executor::block_on(clock.sleep_until_async(deadline));
    assert!(Instant::now() >= deadline);
}

/// Dropped while registered: the registration goes (the clock counts no waiter once the
/// drop returns), the waker is released, and no wake comes later.
#[test]
fn drop_before_the_deadline_deregisters_and_releases_the_waker() {
    let fake = FakeClock::new();
    let (tx, rx) = mpsc::channel();
    let (t, w) = telling(1, &tx);
    let mut s = fake.clock().sleep_async(SEC);
    assert!(poll(&mut s, &w).is_pending());
    assert!(fake.block_until_waiter_at(fake.now() + SEC, HANG));
    drop(w);
    assert_eq!(Arc::strong_count(&t), 2, "the slot holds the waker");
    drop(s);
    assert_eq!(fake.waiters(), 0);
    assert_eq!(Arc::strong_count(&t), 1, "the waker is released");
    fake.advance(SEC * 2);
    // The adversarial follow-up: sleep again, on the same clock, for the time reached.
    let (_t2, w2) = telling(2, &tx);
    let mut again = fake.clock().sleep_async(SEC);
    assert!(poll(&mut again, &w2).is_pending());
    assert!(fake.block_until_waiter_at(fake.now() + SEC, HANG));
    fake.advance(SEC);
    assert_eq!(rx.recv_timeout(HANG), Ok(2));
    assert!(poll(&mut again, &w2).is_ready());
    assert!(
        rx.try_recv().is_err(),
        "the dropped sleep never woke its task"
    );
}

/// A sleep moved to another task between polls wakes the task that polled last.
#[test]
fn wakes_the_waker_of_the_last_poll() {
    let fake = FakeClock::new();
    let (tx, rx) = mpsc::channel();
    let (_a, wa) = telling(1, &tx);
    let (_b, wb) = telling(2, &tx);
    let mut s = fake.clock().sleep_async(SEC);
    assert!(poll(&mut s, &wa).is_pending());
    assert!(poll(&mut s, &wb).is_pending());
    assert!(poll(&mut s, &wb).is_pending()); // the same waker: kept
    assert!(fake.block_until_waiter_at(fake.now() + SEC, HANG));
    fake.advance(SEC);
    assert_eq!(rx.recv_timeout(HANG), Ok(2));
    assert!(poll(&mut s, &wb).is_ready());
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_duration_beyond_instant_never_completes() {
    let fake = FakeClock::new();
    let (tx, _rx) = mpsc::channel();
    let (_t, w) = telling(1, &tx);
    let mut s = fake.clock().sleep_async(Duration::MAX);
    assert_eq!(s.deadline(), None);
    assert!(poll(&mut s, &w).is_pending());
    assert!(!s.is_elapsed());
    assert_eq!(fake.waiters(), 0, "nothing to register");
}

struct Panicky;
impl Wake for Panicky {
    fn wake(self: Arc<Self>) {
        panic!("waker panics");
    }
}

/// A waker that panics is user code on the clock's timer thread: caught there; the sleep
/// still completes on its next poll and the clock's other sleeps still fire.
#[test]
fn a_panicking_waker_leaves_the_timer_thread_running() {
    let fake = FakeClock::new();
    let (tx, rx) = mpsc::channel();
    let bad = Waker::from(Arc::new(Panicky));
    let (_t, good) = telling(7, &tx);
    let mut s1 = fake.clock().sleep_async(SEC);
    let mut s2 = fake.clock().sleep_async(SEC * 2);
    assert!(poll(&mut s1, &bad).is_pending());
    assert!(poll(&mut s2, &good).is_pending());
    assert!(fake.block_until_waiter_at(fake.now() + SEC, HANG));
    fake.advance(SEC);
    assert!(poll(&mut s1, &bad).is_ready());
    assert!(fake.block_until_waiter_at(fake.now() + SEC, HANG));
    fake.advance(SEC);
    assert_eq!(rx.recv_timeout(HANG), Ok(7));
    assert!(poll(&mut s2, &good).is_ready());
}

#[test]
fn is_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin + 'static>() {}
    check::<Sleep>();
}
