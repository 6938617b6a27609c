//! Panic safety of the clocks: the crate runs no user code, but a caller's condition
//! variable can make `Clock::wait_until` unwind (parking_lot panics when one `Condvar` is
//! used with two mutexes at once), and `FakeClock::advance`/`set` panic on bad input.
//! After each panic the clock must be consistent and no thread may hang.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use gosync_core::clock::{Clock, FakeClock};
use gosync_core::sync::{Condvar, Mutex};

/// A hang guard, not a timing assertion: only a thread that is stuck misses it.
const HANG: Duration = Duration::from_secs(10);

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f` on its own thread and waits at most [`HANG`] for it: a stuck `f` fails the
/// test (and is left behind) instead of hanging it.
fn within_hang_guard<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// Parks a thread in `clock.wait_until(cv, a)` until `deadline` (or `*a` is set), and
/// returns once it is parked: it registered (fake clock) and released `a` inside the
/// condvar wait. The handle yields whether the wait timed out.
fn park_first_waiter(
    clock: &Clock,
    fake: Option<&FakeClock>,
    cv: &Arc<Condvar>,
    a: &Arc<Mutex<bool>>,
    timeout: Duration,
) -> thread::JoinHandle<bool> {
    let (clock, cv, a2) = (clock.clone(), Arc::clone(cv), Arc::clone(a));
    let (parked_tx, parked_rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let mut g = a2.lock();
        let deadline = clock.now() + timeout;
        parked_tx.send(()).unwrap();
        loop {
            if *g {
                return false;
            }
            if clock.wait_until(&cv, &mut g, deadline) {
                return true;
            }
        }
    });
    parked_rx
        .recv_timeout(HANG)
        .expect("first waiter did not start");
    if let Some(fake) = fake {
        assert!(fake.block_until_waiters(1, HANG));
    }
    // The waiter holds `a` until the condvar wait releases it, atomically with parking.
    drop(a.lock());
    h
}

/// Entry: `Clock::wait_until` on a fake clock, when the caller's `Condvar::wait` unwinds.
/// The waiter registered with the clock before it parked; the unwinding must take the
/// registration back, or `advance` would notify a stale (possibly freed) condvar forever.
#[test]
fn fake_wait_until_that_unwinds_deregisters_its_waiter() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    let cv = Arc::new(Condvar::new());
    let a = Arc::new(Mutex::new(false));
    let first = park_first_waiter(&clock, Some(&fake), &cv, &a, Duration::from_secs(60));

    // The same condvar with another mutex while `first` waits on it: parking_lot panics.
    let b = Mutex::new(());
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut g = b.lock();
        clock.wait_until(&cv, &mut g, clock.now() + Duration::from_secs(30))
    }));
    let msg = panic_text(r.expect_err("parking_lot accepted two mutexes"));
    assert!(msg.contains("more than one mutex"), "{msg}");
    // The panic reached the caller with its own mutex released; only `first` waits.
    assert!(b.try_lock().is_some());
    assert_eq!(fake.waiters(), 1);

    // Advancing past both deadlines wakes `first` and returns.
    let f = fake.clone();
    within_hang_guard("advance", move || f.advance(Duration::from_secs(60)));
    let timed_out = within_hang_guard("the first waiter", move || first.join().unwrap());
    assert!(timed_out);
    assert_eq!(fake.waiters(), 0);

    // The clock still serves timed waits.
    let first = park_first_waiter(&clock, Some(&fake), &cv, &a, Duration::from_secs(1));
    let f = fake.clone();
    within_hang_guard("advance", move || f.advance(Duration::from_secs(1)));
    let timed_out = within_hang_guard("the next waiter", move || first.join().unwrap());
    assert!(timed_out);
}

/// Entry: `Clock::wait_until` on the real clock, when the caller's `Condvar::wait`
/// unwinds: nothing was registered, the panic reaches the caller, the other waiter is
/// unaffected.
#[test]
fn real_wait_until_that_unwinds_leaves_nothing_behind() {
    let clock = Clock::real();
    let cv = Arc::new(Condvar::new());
    let a = Arc::new(Mutex::new(false));
    let first = park_first_waiter(&clock, None, &cv, &a, Duration::from_secs(3600));
    let b = Mutex::new(());
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut g = b.lock();
        clock.wait_until(&cv, &mut g, clock.now() + Duration::from_secs(3600))
    }));
    assert!(panic_text(r.unwrap_err()).contains("more than one mutex"));
    *a.lock() = true;
    cv.notify_all();
    let timed_out = within_hang_guard("the first waiter", move || first.join().unwrap());
    assert!(!timed_out);
}

/// Not user code, but the clock's own panics: `advance` past `Instant`'s range and a
/// backwards `set` panic before changing the time, with the clock's lock released, and
/// a sleeper on the clock is still woken by the next valid `advance`.
#[test]
fn fake_clock_panics_change_nothing() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    let t0 = fake.now();
    let sleeper = {
        let clock = clock.clone();
        thread::spawn(move || clock.sleep(Duration::from_secs(5)))
    };
    assert!(fake.block_until_waiters(1, HANG));

    let r = catch_unwind(AssertUnwindSafe(|| fake.advance(Duration::MAX)));
    assert!(panic_text(r.unwrap_err()).contains("overflows"));
    assert_eq!(fake.now(), t0);
    let r = catch_unwind(AssertUnwindSafe(|| fake.set(t0 - Duration::from_nanos(1))));
    assert!(panic_text(r.unwrap_err()).contains("backwards"));
    assert_eq!(fake.now(), t0);
    assert_eq!(fake.waiters(), 1);

    let f = fake.clone();
    within_hang_guard("advance", move || f.advance(Duration::from_secs(5)));
    within_hang_guard("the sleeper", move || sleeper.join().unwrap());
    assert_eq!(clock.now() - t0, Duration::from_secs(5));
}
