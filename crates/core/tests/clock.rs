//! Tests of the real and fake clocks.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gosync_core::clock::{Clock, FakeClock};
use gosync_core::sync::{Condvar, Mutex};

const REAL_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn real_clock_moves_and_sleeps() {
    let clock = Clock::real();
    assert!(!clock.is_fake());
    let t0 = clock.now();
    clock.sleep(Duration::from_millis(5));
    assert!(clock.now() - t0 >= Duration::from_millis(5));
    clock.sleep_until(t0); // in the past: returns at once
}

#[test]
fn real_wait_until_times_out() {
    let clock = Clock::real();
    let (m, cv) = (Mutex::new(()), Condvar::new());
    let mut g = m.lock();
    let deadline = Instant::now() + Duration::from_millis(5);
    while !clock.wait_until(&cv, &mut g, deadline) {}
    assert!(Instant::now() >= deadline);
}

#[test]
fn fake_clock_stands_still_until_advanced() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    assert!(clock.is_fake());
    let t0 = clock.now();
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(clock.now(), t0);
    fake.advance(Duration::from_secs(5));
    assert_eq!(clock.now() - t0, Duration::from_secs(5));
    assert_eq!(fake.now(), clock.now());
    fake.set(t0 + Duration::from_secs(7));
    assert_eq!(clock.now() - t0, Duration::from_secs(7));
}

#[test]
#[should_panic(expected = "cannot go backwards")]
fn fake_clock_refuses_to_go_backwards() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    fake.advance(Duration::from_secs(1));
    fake.set(t0);
}

#[test]
fn fake_sleep_wakes_exactly_at_its_deadline() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    let woke = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            clock.sleep(Duration::from_secs(10));
            woke.store(true, Ordering::SeqCst);
        });
        assert!(fake.block_until_waiters(1, REAL_TIMEOUT));
        fake.advance(Duration::from_secs(9));
        // advance returns after waking what it made due; nothing was due.
        assert!(!woke.load(Ordering::SeqCst));
        assert_eq!(fake.waiters(), 1);
        fake.advance(Duration::from_secs(1));
    });
    assert!(woke.load(Ordering::SeqCst));
    assert_eq!(fake.waiters(), 0);
}

#[test]
fn fake_advance_wakes_only_due_waiters_in_any_order() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    let order = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for secs in [3u64, 1, 2] {
            let (clock, order) = (&clock, &order);
            s.spawn(move || {
                clock.sleep(Duration::from_secs(secs));
                order.lock().push(secs);
            });
        }
        assert!(fake.block_until_waiters(3, REAL_TIMEOUT));
        fake.advance(Duration::from_secs(1));
        fake.advance(Duration::from_secs(1));
        // Both due sleepers have woken; wait until they recorded themselves.
        while order.lock().len() < 2 {
            std::thread::yield_now();
        }
        assert_eq!(fake.waiters(), 1);
        fake.advance(Duration::from_secs(10));
    });
    let mut got = order.into_inner();
    got[..2].sort();
    assert_eq!(got, [1, 2, 3]);
}

#[test]
fn fake_wait_until_returns_on_notify_before_deadline() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    let (m, cv) = (Mutex::new(false), Condvar::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = clock.now() + Duration::from_secs(60);
            let mut ready = m.lock();
            let mut timed_out = false;
            while !*ready && !timed_out {
                timed_out = clock.wait_until(&cv, &mut ready, deadline);
            }
            assert!(*ready && !timed_out);
        });
        assert!(fake.block_until_waiters(1, REAL_TIMEOUT));
        *m.lock() = true;
        cv.notify_all();
    });
    assert_eq!(fake.waiters(), 0);
}

#[test]
fn fake_wait_with_deadline_in_the_past_returns_at_once() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    let (m, cv) = (Mutex::new(()), Condvar::new());
    let mut g = m.lock();
    let past = clock.now();
    fake.advance(Duration::from_millis(1));
    assert!(clock.wait_until(&cv, &mut g, past));
    assert!(clock.wait_timeout(&cv, &mut g, Duration::ZERO));
}

#[test]
fn many_rounds_of_advance_never_lose_a_wakeup() {
    // Each round the sleeper registers and the test advances as soon as it sees it:
    // exercises the window between registration and parking.
    let fake = FakeClock::new();
    let clock = fake.clock();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..2000 {
                clock.sleep(Duration::from_millis(1));
            }
        });
        for _ in 0..2000 {
            assert!(fake.block_until_waiters(1, REAL_TIMEOUT));
            fake.advance(Duration::from_millis(1));
        }
    });
}

#[test]
fn block_until_waiters_times_out_in_real_time() {
    let fake = FakeClock::new();
    assert!(!fake.block_until_waiters(1, Duration::from_millis(5)));
    assert!(fake.block_until_waiters(0, Duration::ZERO));
}

#[test]
fn huge_timeouts_do_not_overflow() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    assert_eq!(clock.deadline_after(Duration::MAX), None);
    let (m, cv) = (Mutex::new(false), Condvar::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut g = m.lock();
            while !*g {
                assert!(!clock.wait_timeout(&cv, &mut g, Duration::MAX));
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        *m.lock() = true;
        cv.notify_all();
    });
}

#[test]
fn clock_conversions_and_debug() {
    let fake = FakeClock::default();
    let a: Clock = (&fake).into();
    let b: Clock = fake.clone().into();
    fake.advance(Duration::from_secs(1));
    assert_eq!(a.now(), b.now());
    assert!(format!("{a:?}").contains("waiters: 0"), "{a:?}");
    assert!(format!("{fake:?}").starts_with("FakeClock"));
    assert_eq!(format!("{:?}", Clock::default()), "Clock::Real");
}

/// 600 years, more than the `u64::MAX` nanoseconds (about 584 years) a reading can hold.
const CENTURIES: Duration = Duration::from_secs(600 * 365 * 24 * 3600);

#[test]
fn fake_nanos_saturate_instead_of_wrapping() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    fake.advance(Duration::from_nanos(u64::MAX - 1));
    assert_eq!(clock.nanos(), u64::MAX - 1);
    fake.advance(Duration::from_nanos(1));
    assert_eq!(clock.nanos(), u64::MAX);
    // Beyond u64::MAX nanoseconds the reading stays at u64::MAX: it never wraps back to
    // a small value, so a later reading is never smaller than an earlier one.
    fake.advance(Duration::from_nanos(1));
    assert_eq!(clock.nanos(), u64::MAX);
    fake.advance(CENTURIES);
    assert_eq!(clock.nanos(), u64::MAX);
}

#[test]
fn a_fake_clock_can_start_at_a_given_instant() {
    let start = Instant::now() + Duration::from_secs(7 * 24 * 3600);
    let fake = FakeClock::starting_at(start);
    let clock = fake.clock();
    assert_eq!(clock.now(), start);
    assert_eq!(clock.nanos(), 0);
    fake.advance(Duration::from_millis(5));
    assert_eq!(clock.now(), start + Duration::from_millis(5));
    assert_eq!(clock.nanos(), 5_000_000);
    // An instant in the past works too.
    let past = Instant::now();
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(FakeClock::starting_at(past).now(), past);
}

/// `block_until_waiter_at` waits for the one wait a test cares about, not for any
/// waiter: another thread already waiting on the clock (as a context tree's timer
/// thread would be) does not satisfy it.
#[test]
fn block_until_waiter_at_ignores_other_waiters() {
    let fake = FakeClock::new();
    let clock = fake.clock();
    let other = fake.now() + Duration::from_secs(1);
    let mine = fake.now() + Duration::from_secs(60);
    std::thread::scope(|s| {
        s.spawn(|| clock.sleep_until(other));
        assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
        // The count is satisfied by the other waiter; the precise query is not.
        assert_eq!(fake.waiters_at(mine), 0);
        assert!(!fake.block_until_waiter_at(mine, Duration::from_millis(20)));
        let (tx, rx) = std::sync::mpsc::channel();
        let clock = &clock;
        s.spawn(move || {
            clock.sleep_until(mine);
            tx.send(()).unwrap();
        });
        assert!(fake.block_until_waiter_at(mine, Duration::from_secs(10)));
        assert_eq!(fake.waiters_at(mine), 1);
        assert_eq!(fake.waiters(), 2);
        fake.advance(Duration::from_secs(1));
        assert!(rx.try_recv().is_err(), "woken before its deadline");
        fake.advance(Duration::from_secs(59));
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    });
    assert_eq!(fake.waiters(), 0);
}
