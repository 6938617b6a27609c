//! The per-clock timer service (`gosync_core::timer`).
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use gosync_core::timer::TimerEntry;
use gosync_core::FakeClock;

const SEC: Duration = Duration::from_secs(1);
/// A real-time hang guard only; nothing is timed.
const HANG: Duration = Duration::from_secs(20);

/// An entry that sends `(tag, now)` for each call.
fn sender(fake: &FakeClock, tag: u32, tx: &mpsc::Sender<(u32, Instant)>) -> TimerEntry {
    let tx = Mutex::new(tx.clone());
    TimerEntry::new(fake.clock(), move |now| {
        let _ = tx.lock().unwrap().send((tag, now));
    })
}

#[test]
fn fires_in_deadline_order_with_the_time_read() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let (tx, rx) = mpsc::channel();
    let mut entries: Vec<_> = (0..3).map(|i| sender(&fake, i, &tx)).collect();
    entries[0].schedule(t0 + SEC * 3);
    entries[1].schedule(t0 + SEC);
    entries[2].schedule(t0 + SEC * 2);
    assert!(fake.block_until_waiter_at(t0 + SEC, HANG));
    assert_eq!(fake.waiters(), 1, "one waiter for the whole clock");
    fake.advance(SEC * 3);
    let got: Vec<u32> = (0..3).map(|_| rx.recv_timeout(HANG).unwrap().0).collect();
    assert_eq!(got, [1, 2, 0]);
    assert!(rx.try_recv().is_err(), "each deadline fires once");
}

#[test]
fn reschedule_moves_the_deadline_and_cancel_removes_it() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let (tx, rx) = mpsc::channel();
    let mut a = sender(&fake, 1, &tx);
    let mut b = sender(&fake, 2, &tx);
    a.schedule(t0 + SEC * 5);
    a.schedule(t0 + SEC * 2); // replaces the 5 s deadline
    b.schedule(t0 + SEC);
    b.cancel();
    assert_eq!(b.scheduled(), None);
    assert!(fake.block_until_waiter_at(t0 + SEC * 2, HANG));
    fake.advance(SEC * 5);
    assert_eq!(rx.recv_timeout(HANG).unwrap(), (1, t0 + SEC * 5));
    assert!(rx.try_recv().is_err());
}

#[test]
fn schedule_earlier_keeps_a_pending_earlier_deadline_only() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let (tx, rx) = mpsc::channel();
    let mut a = sender(&fake, 1, &tx);
    assert!(a.schedule_earlier(t0 + SEC * 2));
    assert!(
        !a.schedule_earlier(t0 + SEC * 3),
        "a pending earlier deadline stays"
    );
    assert!(a.schedule_earlier(t0 + SEC), "an earlier one replaces it");
    assert_eq!(a.scheduled(), Some(t0 + SEC));
    assert!(fake.block_until_waiter_at(t0 + SEC, HANG));
    fake.advance(SEC);
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 1);
    // It fired: a later deadline registers again, though `scheduled` still says 1 s.
    assert!(a.schedule_earlier(t0 + SEC * 4));
    fake.advance(SEC * 3);
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 1);
}

#[test]
fn a_past_deadline_fires_at_once() {
    let fake = FakeClock::new();
    let (tx, rx) = mpsc::channel();
    let mut a = sender(&fake, 7, &tx);
    a.schedule(fake.now());
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 7);
}

/// A panicking callback does not end the clock's thread: later and other deadlines fire.
#[test]
fn a_panicking_callback_does_not_stop_the_others() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let (tx, rx) = mpsc::channel();
    let mut bad = TimerEntry::new(fake.clock(), |_| panic!("callback panics"));
    let mut good = sender(&fake, 1, &tx);
    bad.schedule(t0 + SEC);
    good.schedule(t0 + SEC * 2);
    assert!(fake.block_until_waiter_at(t0 + SEC, HANG));
    fake.advance(SEC * 2);
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 1);
    bad.schedule(t0 + SEC * 3);
    good.schedule(t0 + SEC * 3);
    fake.advance(SEC);
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 1);
}

/// `cancel` from another thread waits for a call in progress: once it returns, the
/// callback has finished and is not called again.
#[test]
fn cancel_waits_for_a_running_callback() {
    let fake = FakeClock::new();
    let inside = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut entry = {
        let (inside, release, finished) = (inside.clone(), release.clone(), finished.clone());
        TimerEntry::new(fake.clock(), move |_| {
            inside.wait();
            release.wait();
            finished.fetch_add(1, SeqCst);
        })
    };
    entry.schedule(fake.now());
    inside.wait(); // the callback is running
    std::thread::scope(|s| {
        s.spawn(|| release.wait());
        entry.cancel();
        assert_eq!(finished.load(SeqCst), 1, "cancel returned mid-callback");
    });
}

/// A callback may schedule and cancel entries, its own included, without deadlocking.
#[test]
fn a_callback_may_reschedule_itself_and_cancel() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let (tx, rx) = mpsc::channel::<u32>();
    let slot: Arc<Mutex<Option<TimerEntry>>> = Arc::new(Mutex::new(None));
    let calls = Arc::new(AtomicUsize::new(0));
    let entry = {
        let (slot, calls, tx) = (slot.clone(), calls.clone(), Mutex::new(tx));
        TimerEntry::new(fake.clock(), move |now| {
            let n = calls.fetch_add(1, SeqCst) + 1;
            let mut g = slot.lock().unwrap();
            let me = g.as_mut().unwrap();
            if n < 3 {
                me.schedule(now + SEC);
            } else {
                me.cancel(); // on the timer thread: must not wait for itself
            }
            tx.lock().unwrap().send(n as u32).unwrap();
        })
    };
    *slot.lock().unwrap() = Some(entry);
    slot.lock().unwrap().as_mut().unwrap().schedule(t0 + SEC);
    for n in 1..=3 {
        assert!(fake.block_until_waiter_at(t0 + SEC * n, HANG));
        fake.advance(SEC);
        assert_eq!(rx.recv_timeout(HANG).unwrap(), n);
    }
    assert_eq!(slot.lock().unwrap().as_ref().unwrap().scheduled(), None);
    slot.lock().unwrap().take(); // break the entry's cycle through `slot`
}

/// The fake clock's thread ends once no registration remains and starts again on the
/// next one; cancelling the last deadline removes the clock's waiter before returning.
#[test]
fn the_thread_ends_when_idle_and_restarts() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let (tx, rx) = mpsc::channel();
    let mut a = sender(&fake, 1, &tx);
    a.schedule(t0 + SEC);
    assert!(fake.block_until_waiter_at(t0 + SEC, HANG));
    a.cancel();
    assert_eq!(
        fake.waiters(),
        0,
        "the cancelled deadline is no longer waited for"
    );
    drop(a);
    let mut b = sender(&fake, 2, &tx);
    b.schedule(t0 + SEC * 2);
    assert!(fake.block_until_waiter_at(t0 + SEC * 2, HANG));
    fake.advance(SEC * 2);
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 2);
}

/// Two fake clocks have a thread each; advancing one does not fire the other's deadline.
#[test]
fn clocks_do_not_share_deadlines() {
    let (f1, f2) = (FakeClock::new(), FakeClock::new());
    let (tx, rx) = mpsc::channel();
    let mut a = sender(&f1, 1, &tx);
    let mut b = sender(&f2, 2, &tx);
    a.schedule(f1.now() + SEC);
    b.schedule(f2.now() + SEC);
    assert!(f1.block_until_waiters(1, HANG));
    assert!(f2.block_until_waiters(1, HANG));
    f1.advance(SEC);
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 1);
    assert!(rx.recv_timeout(Duration::from_millis(20)).is_err());
    f2.advance(SEC);
    assert_eq!(rx.recv_timeout(HANG).unwrap().0, 2);
}

/// The real clock: one process-wide thread runs deadlines of many entries.
#[test]
fn real_clock_entries_fire() {
    let (tx, rx) = mpsc::channel();
    let mut entries: Vec<_> = (0..100)
        .map(|i| {
            let tx = Mutex::new(tx.clone());
            TimerEntry::new(Default::default(), move |_| {
                tx.lock().unwrap().send(i).unwrap();
            })
        })
        .collect();
    let at = Instant::now() + Duration::from_millis(1);
    for e in &mut entries {
        e.schedule(at);
    }
    let mut got: Vec<u32> = (0..100).map(|_| rx.recv_timeout(HANG).unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}
