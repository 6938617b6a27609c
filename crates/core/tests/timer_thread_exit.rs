//! The timer thread of a fake clock ends once its last registration has gone (after a
//! second's linger), and a new registration starts one again. Alone in its binary: it counts the process's timer
//! threads.
#![cfg(not(loom))]

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gosync_core::timer::{live_timer_threads, TimerEntry};
use gosync_core::FakeClock;

/// A real-time hang guard only; nothing is timed.
const HANG: Duration = Duration::from_secs(20);

fn until_threads(n: usize) {
    let give_up = Instant::now() + HANG;
    while live_timer_threads() != n {
        assert!(
            Instant::now() < give_up,
            "{} timer threads, expected {n}",
            live_timer_threads()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn fake_clock_thread_ends_when_idle_and_restarts() {
    let fake = FakeClock::new();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let mut entry = TimerEntry::new(fake.clock(), move |_| tx.lock().unwrap().send(()).unwrap());
    assert_eq!(live_timer_threads(), 0);
    for round in 1..=2u32 {
        let at = fake.now() + Duration::from_secs(1);
        entry.schedule(at);
        assert!(fake.block_until_waiter_at(at, HANG));
        assert_eq!(live_timer_threads(), 1, "round {round}");
        fake.advance(Duration::from_secs(1));
        rx.recv_timeout(HANG).unwrap();
        // Fired, nothing registered: the thread ends on its own (after its linger).
        until_threads(0);
    }
    // Cancelling the last registration ends it too.
    entry.schedule(fake.now() + Duration::from_secs(1));
    assert!(fake.block_until_waiters(1, HANG));
    drop(entry);
    until_threads(0);
}
