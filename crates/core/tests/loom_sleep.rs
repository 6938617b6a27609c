//! Loom models of `gosync_core::timer::Sleep`, the async sleep woken by the clock's
//! timer thread, on a fake clock (loom has no clock: `advance` is the explicit "fire"
//! step). Run with `RUSTFLAGS="--cfg loom"`.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use gosync_core::sync::thread;
use gosync_core::timer::Sleep;

const SEC: Duration = Duration::from_secs(1);

struct Unpark(thread::Thread);
impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `s` to completion, parking the modelled thread between polls: a lost wake-up
/// leaves it parked, which loom reports as a deadlock.
fn block_on(s: &mut Sleep) {
    let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    while Pin::new(&mut *s)
        .poll(&mut Context::from_waker(&waker))
        .is_pending()
    {
        thread::park();
    }
}

/// Counts its wakes (a waker of another task, which the model never parks on), with a
/// loom atomic: a scheduling point inside `wake`, so that loom can run other threads
/// while the timer thread holds the waker taken out of the slot.
struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Register vs fire: the sleep is first polled by another task's waker, then awaited by
/// this thread (a new waker), while another thread advances the clock to the deadline
/// and the timer thread fires. The last waker must be woken: a poll that keeps the first
/// waker, or that schedules the entry before storing its waker, loses the wake-up and
/// the model deadlocks.
#[test]
fn loom_sleep_register_vs_fire() {
    loom::model(|| {
        let fake = FakeClock::new();
        let mut s = fake.clock().sleep_async(SEC);
        let other = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let w = Waker::from(std::sync::Arc::clone(&other));
        assert!(Pin::new(&mut s)
            .poll(&mut Context::from_waker(&w))
            .is_pending());
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(SEC))
        };
        block_on(&mut s);
        advancer.join().unwrap();
        drop(s);
    });
}

/// Drop vs fire, then sleep again: a registered sleep is dropped just after the clock
/// reached its deadline, while the timer thread, woken by the advance, pops the entry
/// and may be calling its waker. Once the drop has returned the waker is released and
/// never called; then a new sleep registers and completes when the clock is advanced
/// again (the service is left clean). A cancel that does not wait for the callback in
/// progress lets the wake land after the drop: the model fails.
#[test]
fn loom_sleep_drop_vs_fire() {
    loom::model(|| {
        let fake = FakeClock::new();
        let mut s = fake.clock().sleep_async(SEC);
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let w = Waker::from(std::sync::Arc::clone(&count));
        assert!(Pin::new(&mut s)
            .poll(&mut Context::from_waker(&w))
            .is_pending());
        drop(w);
        fake.advance(SEC);
        drop(s);
        let woken = count.0.load(SeqCst);
        assert_eq!(
            std::sync::Arc::strong_count(&count),
            1,
            "the dropped sleep still holds its waker"
        );
        thread::yield_now();
        assert_eq!(count.0.load(SeqCst), woken, "woken after the drop returned");
        let mut again = fake.clock().sleep_async(SEC);
        let w = Waker::from(std::sync::Arc::clone(&count));
        assert!(Pin::new(&mut again)
            .poll(&mut Context::from_waker(&w))
            .is_pending());
        let advancer = thread::spawn(move || fake.advance(SEC));
        block_on(&mut again);
        advancer.join().unwrap();
    });
}
