//! Loom models of `Cond` (run with `RUSTFLAGS="--cfg loom"`): signal vs wait, and
//! broadcast.
#![cfg(loom)]

use gosync_cond::Cond;
use gosync_core::sync::{thread, Arc, Mutex};

/// A waiter checks a flag under the mutex and waits; the other thread sets the flag
/// and signals after releasing the mutex. Whatever the interleaving (the signal before
/// the waiter queues, between its queueing and its park, after it parked), the waiter
/// returns: loom reports a deadlock on a lost wake-up.
#[test]
fn loom_cond_signal_vs_wait() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(false), Cond::new()));
        let signaller = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                *shared.0.lock() = true;
                shared.1.signal();
            })
        };
        let mut g = shared.0.lock();
        while !*g {
            shared.1.wait(&mut g);
        }
        drop(g);
        signaller.join().unwrap();
        assert_eq!(shared.1.waiters(), 0);
    });
}

/// Two waiters and a broadcast sent while holding the mutex: both return (each was
/// either queued before the broadcast and woken by it, or saw the flag), and nobody is
/// left queued.
#[test]
fn loom_cond_broadcast() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(false), Cond::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let mut g = shared.0.lock();
                    while !*g {
                        shared.1.wait(&mut g);
                    }
                })
            })
            .collect();
        {
            let mut g = shared.0.lock();
            *g = true;
            shared.1.broadcast();
        }
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(shared.1.waiters(), 0);
    });
}

/// Two signals for two waiters of a one-token-each condition: each signal wakes a
/// different waiter (a signal is used up by the waiter it chose), so both return.
#[test]
fn loom_cond_two_signals_two_waiters() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(0u32), Cond::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let mut g = shared.0.lock();
                    while *g == 0 {
                        shared.1.wait(&mut g);
                    }
                    *g -= 1;
                })
            })
            .collect();
        for _ in 0..2 {
            *shared.0.lock() += 1;
            shared.1.signal();
        }
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*shared.0.lock(), 0);
    });
}
