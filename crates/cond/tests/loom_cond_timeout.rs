//! Loom model of a timed waiter that gives up and then waits again while a signal races
//! it (run with `RUSTFLAGS="--cfg loom"`). Under loom a timed wait times out as soon as
//! it has released its lock once, so the model explores every point at which the
//! time-out can meet the signal.
#![cfg(loom)]

use std::time::Duration;

use gosync_cond::Cond;
use gosync_core::sync::{thread, Arc, Mutex};

/// Thread A needs the one token that B supplies with one signal. `main` probes for
/// the token twice with a timed wait on the same `Cond` (giving up on time-out, and
/// waiting again), never keeping it: a probe the signal chose must report it (`true`),
/// and main then hands the signal on. A time-out that swallowed the signal (popped,
/// yet reported as timed out) strands A, and loom reports the deadlock.
#[test]
fn loom_cond_timed_give_up_then_wait_again() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(0u32), Cond::new()));
        let a = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let mut g = shared.0.lock();
                while *g == 0 {
                    shared.1.wait(&mut g);
                }
                *g -= 1;
            })
        };
        let b = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                *shared.0.lock() += 1;
                shared.1.signal();
            })
        };
        for _ in 0..2 {
            let mut g = shared.0.lock();
            if *g == 0 && shared.1.wait_timeout(&mut g, Duration::from_secs(1)) && *g > 0 {
                // Chosen by the signal, but the token is A's: hand the signal on.
                shared.1.signal();
            }
        }
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(*shared.0.lock(), 0);
        assert_eq!(shared.1.waiters(), 0);
    });
}
