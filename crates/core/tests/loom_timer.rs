//! Loom models of the per-clock timer service (`gosync_core::timer`), on a fake clock
//! (loom has no clock: `advance` is the explicit "fire" step).
#![cfg(loom)]

use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use gosync_core::sync::{thread, Arc, Condvar, Mutex};
use gosync_core::timer::TimerEntry;

const SEC: Duration = Duration::from_secs(1);

/// A one-shot flag a callback raises and the model waits for.
#[derive(Default)]
struct Signal {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    fn raise(&self) {
        *self.set.lock() = true;
        self.cv.notify_all();
    }

    fn wait(&self) {
        let mut g = self.set.lock();
        while !*g {
            self.cv.wait(&mut g);
        }
    }
}

fn signalling(fake: &FakeClock, signal: &Arc<Signal>) -> TimerEntry {
    let signal = Arc::clone(signal);
    TimerEntry::new(fake.clock(), move |_| signal.raise())
}

/// Register vs fire: the thread sleeps (or is about to) until a 2 s deadline; another
/// thread registers an earlier 1 s one while time advances to 1 s. The 1 s deadline must
/// fire (a registration that does not wake the sleeping thread leaves it asleep until
/// 2 s: the model deadlocks). Then cancelling the 2 s entry lets the thread end.
#[test]
fn loom_timer_register_vs_fire() {
    loom::model(|| {
        let fake = FakeClock::new();
        let t0 = fake.now();
        let (late, early) = (Arc::new(Signal::default()), Arc::new(Signal::default()));
        let mut a = signalling(&fake, &late);
        a.schedule(t0 + SEC * 2);
        let registrar = {
            let (fake, early) = (fake.clone(), Arc::clone(&early));
            thread::spawn(move || {
                let mut b = signalling(&fake, &early);
                b.schedule(t0 + SEC);
                b
            })
        };
        let b = registrar.join().unwrap();
        fake.advance(SEC);
        early.wait();
        drop(a);
        drop(b);
    });
}

/// A cancel racing the fire: once `cancel` returns, the callback is not running and never
/// runs again. The callback records whether it saw a returned cancel (a panic would be
/// caught by the timer thread); a cancel that does not wait for a callback in progress
/// lets it see one.
#[test]
fn loom_timer_cancel_races_fire() {
    loom::model(|| {
        let fake = FakeClock::new();
        let cancelled = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(Signal::default());
        let mut entry = {
            let (cancelled, late, calls, done) = (
                Arc::clone(&cancelled),
                Arc::clone(&late),
                Arc::clone(&calls),
                Arc::clone(&done),
            );
            TimerEntry::new(fake.clock(), move |_| {
                calls.fetch_add(1, SeqCst);
                thread::yield_now();
                if cancelled.load(SeqCst) {
                    late.store(true, SeqCst);
                }
                done.raise();
            })
        };
        entry.schedule(fake.now() + SEC);
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(SEC))
        };
        entry.cancel();
        cancelled.store(true, SeqCst);
        if calls.load(SeqCst) > 0 {
            done.wait();
        }
        assert!(!late.load(SeqCst), "the callback ran after cancel returned");
        advancer.join().unwrap();
        drop(entry);
    });
}

/// The last registration goes while the thread is about to sleep (or asleep) until it:
/// the thread must wake and end, and `cancel` returns only once the clock no longer
/// counts that sleep (a cancel that does not wake the thread leaves it asleep forever:
/// the model deadlocks, or loom reports the leaked clock).
#[test]
fn loom_timer_last_cancel_vs_sleep() {
    loom::model(|| {
        let fake = FakeClock::new();
        let signal = Arc::new(Signal::default());
        let mut entry = signalling(&fake, &signal);
        entry.schedule(fake.now() + SEC);
        thread::yield_now();
        drop(entry);
        assert_eq!(fake.waiters(), 0);
    });
}

/// The adversarial follow-up: a cancel racing the fire, then the entry is scheduled
/// again (for the time already reached) while the thread may still be finishing the
/// first call. The callback runs at most once for the first registration and exactly
/// once for the second: the re-registration is neither lost (the model would block on
/// the second signal) nor merged into the call in progress.
#[test]
fn loom_timer_cancel_then_reschedule_vs_fire() {
    loom::model(|| {
        let fake = FakeClock::new();
        let t1 = fake.now() + SEC;
        let calls = Arc::new(AtomicUsize::new(0));
        let signal = Arc::new(Signal::default());
        let mut entry = {
            let (calls, signal) = (Arc::clone(&calls), Arc::clone(&signal));
            TimerEntry::new(fake.clock(), move |_| {
                calls.fetch_add(1, SeqCst);
                signal.raise();
            })
        };
        entry.schedule(t1);
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(SEC))
        };
        entry.cancel();
        let first = calls.load(SeqCst);
        assert!(first <= 1);
        advancer.join().unwrap();
        // Due at once: the time has been reached.
        *signal.set.lock() = false;
        entry.schedule(t1);
        signal.wait();
        drop(entry);
        assert_eq!(calls.load(SeqCst), first + 1);
    });
}
