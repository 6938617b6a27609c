//! Loom models of the fake clock's wake-up protocol.
#![cfg(loom)]

use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_core::sync::{thread, Arc, Condvar, Mutex};

/// A timed wait racing the `advance` that makes it due: the waiter always wakes up (no
/// lost notification in the window between registering and parking) and observes the
/// deadline as passed.
#[test]
fn loom_clock_advance_wakes_waiter() {
    loom::model(|| {
        let fake = FakeClock::new();
        let clock = fake.clock();
        let deadline = clock.now() + Duration::from_secs(1);
        let pair = Arc::new((Mutex::new(()), Condvar::new()));
        let p = Arc::clone(&pair);
        let waiter = thread::spawn(move || {
            let (m, cv) = &*p;
            let mut g = m.lock();
            while !clock.wait_until(cv, &mut g, deadline) {}
        });
        fake.advance(Duration::from_secs(1));
        waiter.join().unwrap();
        assert_eq!(fake.waiters(), 0);
    });
}

/// A notification racing the advance: the waiter wakes either way, and deregisters.
#[test]
fn loom_clock_notify_races_advance() {
    loom::model(|| {
        let fake = FakeClock::new();
        let clock = fake.clock();
        let deadline = clock.now() + Duration::from_secs(1);
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = Arc::clone(&pair);
        let waiter = thread::spawn(move || {
            let (m, cv) = &*p;
            let mut ready = m.lock();
            while !*ready {
                if clock.wait_until(cv, &mut ready, deadline) {
                    break;
                }
            }
        });
        let p = Arc::clone(&pair);
        let notifier = thread::spawn(move || {
            *p.0.lock() = true;
            p.1.notify_all();
        });
        fake.advance(Duration::from_secs(1));
        notifier.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(fake.waiters(), 0);
    });
}
