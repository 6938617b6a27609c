//! Go's `sync/cond_test.go`, scenario by scenario (goroutines become threads, Go's
//! channels become `std::sync::mpsc`). Counts are scaled down where Go starts hundreds
//! of goroutines; each receive that Go leaves to deadlock detection has a hang guard.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use gosync_cond::Cond;
use parking_lot::Mutex;

/// A hang guard, never a timing assertion: only a lost wake-up waits this long.
const HANG: Duration = Duration::from_secs(30);

/// TestCondSignal: each signal wakes exactly one waiter.
#[test]
fn cond_signal() {
    let m = Arc::new(Mutex::new(()));
    let c = Arc::new(Cond::new());
    let n = 2;
    let (running_tx, running) = channel();
    let (awake_tx, awake) = channel();
    for _ in 0..n {
        let (m, c, running_tx, awake_tx) =
            (m.clone(), c.clone(), running_tx.clone(), awake_tx.clone());
        thread::spawn(move || {
            let mut g = m.lock();
            running_tx.send(()).unwrap();
            c.wait(&mut g);
            awake_tx.send(()).unwrap();
            drop(g);
        });
    }
    for _ in 0..n {
        running.recv_timeout(HANG).unwrap(); // wait for everyone to run
    }
    let mut left = n;
    while left > 0 {
        assert_eq!(
            awake.try_recv(),
            Err(TryRecvError::Empty),
            "goroutine not asleep"
        );
        let g = m.lock();
        c.signal();
        drop(g);
        awake.recv_timeout(HANG).expect("no waiter woke up");
        assert_eq!(
            awake.try_recv(),
            Err(TryRecvError::Empty),
            "too many waiters awake"
        );
        left -= 1;
    }
    c.signal();
    assert_eq!(c.waiters(), 0);
}

/// TestCondSignalGenerations: waiters are woken in the order they started waiting.
#[test]
fn cond_signal_generations() {
    let m = Arc::new(Mutex::new(()));
    let c = Arc::new(Cond::new());
    let n = 100;
    let (running_tx, running) = channel();
    let (awake_tx, awake) = channel();
    let mut handles = Vec::new();
    for i in 0..n {
        handles.push({
            let (m, c, running_tx, awake_tx) =
                (m.clone(), c.clone(), running_tx.clone(), awake_tx.clone());
            thread::spawn(move || {
                let mut g = m.lock();
                running_tx.send(()).unwrap();
                c.wait(&mut g);
                awake_tx.send(i).unwrap();
                drop(g);
            })
        });
        if i > 0 {
            let a = awake.recv_timeout(HANG).unwrap();
            assert_eq!(a, i - 1, "wrong waiter woke up");
        }
        running.recv_timeout(HANG).unwrap();
        let g = m.lock();
        c.signal();
        drop(g);
    }
    assert_eq!(awake.recv_timeout(HANG).unwrap(), n - 1);
    for h in handles {
        h.join().unwrap();
    }
}

/// TestCondBroadcast: every broadcast wakes every waiter exactly once (Go: 200
/// goroutines, 200 rounds; here 32 threads, 32 rounds).
#[test]
fn cond_broadcast() {
    let n = 32;
    let m = Arc::new(Mutex::new(false)); // `exit`
    let c = Arc::new(Cond::new());
    let (running_tx, running) = channel();
    let (awake_tx, awake) = channel();
    let mut handles = Vec::new();
    for g in 0..n {
        let (m, c, running_tx, awake_tx) =
            (m.clone(), c.clone(), running_tx.clone(), awake_tx.clone());
        handles.push(thread::spawn(move || {
            let mut guard = m.lock();
            while !*guard {
                running_tx.send(g).unwrap();
                c.wait(&mut guard);
                awake_tx.send(g).unwrap();
            }
        }));
    }
    for i in 0..n {
        for _ in 0..n {
            running.recv_timeout(HANG).unwrap(); // deadlocks unless n are running
        }
        if i == n - 1 {
            *m.lock() = true;
        }
        assert_eq!(
            awake.try_recv(),
            Err(TryRecvError::Empty),
            "goroutine not asleep"
        );
        let guard = m.lock();
        c.broadcast();
        drop(guard);
        let mut seen = vec![false; n];
        for _ in 0..n {
            let g = awake.recv_timeout(HANG).unwrap();
            assert!(!seen[g], "goroutine woke up twice");
            seen[g] = true;
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        running.try_recv(),
        Err(TryRecvError::Empty),
        "goroutine did not exit"
    );
    c.broadcast();
}

/// TestRace: the state a signaller writes under the mutex is what the woken waiter
/// reads.
#[test]
fn cond_race() {
    let x = Arc::new(Mutex::new(0));
    let c = Arc::new(Cond::new());
    let t1 = {
        let (x, c) = (x.clone(), c.clone());
        thread::spawn(move || {
            let mut g = x.lock();
            *g = 1;
            c.wait(&mut g);
            assert_eq!(*g, 2, "want 2");
            *g = 3;
            c.signal();
        })
    };
    let t2 = {
        let (x, c) = (x.clone(), c.clone());
        thread::spawn(move || {
            let mut g = x.lock();
            loop {
                if *g == 1 {
                    *g = 2;
                    c.signal();
                    break;
                }
                parking_lot::MutexGuard::unlocked(&mut g, thread::yield_now);
            }
        })
    };
    let t3 = {
        let (x, c) = (x.clone(), c.clone());
        thread::spawn(move || {
            let mut g = x.lock();
            loop {
                if *g == 2 {
                    c.wait(&mut g);
                    assert_eq!(*g, 3, "want 3");
                    break;
                }
                if *g == 3 {
                    break;
                }
                parking_lot::MutexGuard::unlocked(&mut g, thread::yield_now);
            }
        })
    };
    t1.join().unwrap();
    t2.join().unwrap();
    t3.join().unwrap();
}

/// TestCondSignalStealing: a broadcast racing a new waiter still wakes the waiter that
/// was already waiting (Go: 1000 iterations; here 200).
#[test]
fn cond_signal_stealing() {
    for _ in 0..200 {
        let m = Arc::new(Mutex::new(false)); // `done`
        let cond = Arc::new(Cond::new());
        let (ch_tx, ch) = channel();
        let first = {
            let (m, cond) = (m.clone(), cond.clone());
            thread::spawn(move || {
                let mut g = m.lock();
                ch_tx.send(()).unwrap();
                cond.wait(&mut g);
                drop(g);
                ch_tx.send(()).unwrap();
            })
        };
        ch.recv_timeout(HANG).unwrap();
        drop(m.lock()); // the first waiter is now inside `wait`
        let broadcaster = {
            let cond = cond.clone();
            thread::spawn(move || cond.broadcast())
        };
        let second = {
            let (m, cond) = (m.clone(), cond.clone());
            thread::spawn(move || {
                let mut g = m.lock();
                while !*g {
                    cond.wait(&mut g);
                }
            })
        };
        ch.recv_timeout(HANG)
            .expect("first waiter didn't get the broadcast");
        *m.lock() = true;
        cond.broadcast();
        first.join().unwrap();
        broadcaster.join().unwrap();
        second.join().unwrap();
    }
}

/// BenchmarkCond's shape as a test: `waiters + 1` threads meet at a barrier built from
/// one `Cond` (the last to arrive broadcasts), round after round.
#[test]
fn cond_barrier_rounds() {
    for waiters in [1usize, 2, 4, 8] {
        let rounds = 200;
        let id = Arc::new(Mutex::new(0usize));
        let c = Arc::new(Cond::new());
        let passed = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..=waiters)
            .map(|_| {
                let (id, c, passed) = (id.clone(), c.clone(), passed.clone());
                thread::spawn(move || {
                    for _ in 0..rounds {
                        let mut g = id.lock();
                        *g += 1;
                        if *g == waiters + 1 {
                            *g = 0;
                            c.broadcast();
                        } else {
                            c.wait(&mut g);
                        }
                        passed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(passed.load(Ordering::Relaxed), rounds * (waiters + 1));
        assert_eq!(c.waiters(), 0);
    }
}
