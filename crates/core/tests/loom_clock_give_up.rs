//! Adversarial loom model of the fake clock's timed waits: a waiter whose deadline
//! passes waits again on the same condition variable with a later deadline, while the
//! clock is advanced and the condition is notified (run with `RUSTFLAGS="--cfg loom"`).
#![cfg(loom)]

use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_core::sync::{thread, Arc, Condvar, Mutex};

/// The first wait gives up at its deadline; the second, registered after, is woken by
/// the second advance or by the notification, never lost; and no registration of the
/// first wait lingers (a stale one would make `waiters()` lie to tests).
#[test]
fn loom_clock_give_up_then_wait_again() {
    loom::model(|| {
        let fake = FakeClock::new();
        let clock = fake.clock();
        let first = clock.now() + Duration::from_secs(1);
        let second = first + Duration::from_secs(1);
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = Arc::clone(&pair);
        let waiter = thread::spawn(move || {
            let (m, cv) = &*p;
            let mut ready = m.lock();
            // Round one: nobody sets `ready` before `first`; wait until the deadline.
            while !clock.wait_until(cv, &mut ready, first) {}
            // Round two: until notified with `ready`, or the second deadline.
            while !*ready {
                if clock.wait_until(cv, &mut ready, second) {
                    break;
                }
            }
        });
        fake.advance(Duration::from_secs(1));
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
