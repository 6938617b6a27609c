//! `Cond` beyond Go's own tests: FIFO order and the notify list's ticket rule, signals
//! not remembered, timed waits on a `FakeClock`, misuse and panic safety, and a
//! release-mode stress test of the bounded buffer.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gosync_cond::Cond;
use gosync_core::clock::FakeClock;
use parking_lot::Mutex;

/// A hang guard, never a timing assertion: only a lost wake-up waits this long.
const HANG: Duration = Duration::from_secs(30);

/// Spawns a thread that waits once on `c` (with `m`) and then sends `id`. Returns once
/// the thread is queued: it holds `m` when it reports, and releases it only inside
/// `wait`, after queueing; so taking `m` afterwards proves it is queued.
fn spawn_waiter(
    m: &Arc<Mutex<()>>,
    c: &Arc<Cond>,
    id: usize,
    awake: &std::sync::mpsc::Sender<usize>,
) -> JoinHandle<()> {
    let (m2, c2, awake) = (m.clone(), c.clone(), awake.clone());
    let (ready_tx, ready) = channel();
    let h = thread::spawn(move || {
        let mut g = m2.lock();
        ready_tx.send(()).unwrap();
        c2.wait(&mut g);
        awake.send(id).unwrap();
    });
    ready.recv_timeout(HANG).unwrap();
    drop(m.lock());
    h
}

/// Spawns a thread that locks `m` and runs `f` with the guard; `f` must start by
/// waiting on a `Cond`. Returns once that wait is queued (the thread holds `m` when it
/// reports and releases it only inside the wait, after queueing).
fn spawn_queued<T: Send + 'static, R: Send + 'static>(
    m: &Arc<Mutex<T>>,
    f: impl FnOnce(&mut parking_lot::MutexGuard<'_, T>) -> R + Send + 'static,
) -> JoinHandle<R> {
    let m2 = m.clone();
    let (ready_tx, ready) = channel();
    let h = thread::spawn(move || {
        let mut g = m2.lock();
        ready_tx.send(()).unwrap();
        f(&mut g)
    });
    ready.recv_timeout(HANG).unwrap();
    drop(m.lock());
    h
}

fn recv(rx: &Receiver<usize>) -> usize {
    rx.recv_timeout(HANG).expect("lost wake-up")
}

/// Signals wake waiters strictly in the order they started waiting, even when the
/// signals are sent back to back (each woken waiter is identified before the next
/// signal, so re-locking order cannot blur the result).
#[test]
fn signal_wakes_in_fifo_order() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (tx, rx) = channel();
    let hs: Vec<_> = (0..8).map(|i| spawn_waiter(&m, &c, i, &tx)).collect();
    assert_eq!(c.waiters(), 8);
    for want in 0..8 {
        c.signal();
        assert_eq!(recv(&rx), want);
        assert_eq!(c.waiters(), 7 - want);
    }
    for h in hs {
        h.join().unwrap();
    }
}

/// Go's ticket rule: a signal chooses a waiter queued before it and is used up by it;
/// a waiter that queues afterwards is not woken by that signal, only by the next one.
#[test]
fn signal_does_not_wake_a_later_waiter() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (tx, rx) = channel();
    let first = spawn_waiter(&m, &c, 1, &tx);
    let g = m.lock(); // the first waiter, once woken, cannot return yet
    c.signal(); // chooses the first waiter
    assert_eq!(c.waiters(), 0);
    drop(g);
    assert_eq!(recv(&rx), 1);
    let second = spawn_waiter(&m, &c, 2, &tx);
    // No signal is pending for the second waiter: it stays queued.
    assert_eq!(c.waiters(), 1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    c.signal();
    assert_eq!(recv(&rx), 2);
    first.join().unwrap();
    second.join().unwrap();
}

/// A signal (or broadcast) with nobody waiting does nothing and is not remembered: a
/// waiter that comes later times out.
#[test]
fn signal_without_waiter_is_not_remembered() {
    let fake = FakeClock::new();
    let (m, c) = (Mutex::new(()), Cond::with_clock(fake.clock()));
    c.signal();
    c.broadcast();
    let deadline = fake.now() + Duration::from_secs(5);
    thread::scope(|s| {
        let t = s.spawn(|| {
            let mut g = m.lock();
            c.wait_deadline(&mut g, deadline)
        });
        assert!(fake.block_until_waiter_at(deadline, HANG));
        fake.advance(Duration::from_secs(5));
        assert!(
            !t.join().unwrap(),
            "woken by a signal sent before it waited"
        );
    });
    assert_eq!(c.waiters(), 0);
}

/// Broadcast wakes exactly the waiters queued before it; a waiter queued after waits
/// for the next signal.
#[test]
fn broadcast_wakes_only_earlier_waiters() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (tx, rx) = channel();
    let hs: Vec<_> = (0..4).map(|i| spawn_waiter(&m, &c, i, &tx)).collect();
    c.broadcast();
    assert_eq!(c.waiters(), 0);
    let mut woke: Vec<_> = (0..4).map(|_| recv(&rx)).collect();
    woke.sort();
    assert_eq!(woke, [0, 1, 2, 3]);
    let late = spawn_waiter(&m, &c, 9, &tx);
    assert_eq!(c.waiters(), 1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    c.signal();
    assert_eq!(recv(&rx), 9);
    for h in hs {
        h.join().unwrap();
    }
    late.join().unwrap();
}

/// A timed wait times out on the fake clock, withdraws, and re-locks the mutex.
#[test]
fn wait_timeout_times_out_on_the_fake_clock() {
    let fake = FakeClock::new();
    let (m, c) = (Mutex::new(0), Cond::with_clock(fake.clock()));
    let deadline = fake.now() + Duration::from_secs(30);
    thread::scope(|s| {
        let t = s.spawn(|| {
            let mut g = m.lock();
            let signalled = c.wait_timeout(&mut g, Duration::from_secs(30));
            *g += 1; // the guard is locked again
            signalled
        });
        assert!(fake.block_until_waiter_at(deadline, HANG));
        assert_eq!(c.waiters(), 1);
        fake.advance(Duration::from_secs(29));
        assert_eq!(c.waiters(), 1, "timed out early");
        fake.advance(Duration::from_secs(1));
        assert!(!t.join().unwrap());
    });
    assert_eq!(c.waiters(), 0);
    assert_eq!(*m.lock(), 1);
    assert_eq!(fake.waiters(), 0);
}

/// A timed wait that is signalled returns `true` before its deadline.
#[test]
fn wait_timeout_signalled() {
    let fake = FakeClock::new();
    let (m, c) = (
        Arc::new(Mutex::new(())),
        Arc::new(Cond::with_clock(fake.clock())),
    );
    let t = {
        let c = c.clone();
        spawn_queued(&m, move |g| c.wait_timeout(g, Duration::from_secs(30)))
    };
    c.signal();
    assert!(t.join().unwrap());
    assert_eq!(c.waiters(), 0);
}

/// A zero timeout, or a deadline already passed, returns `false` at once; a timeout too
/// large for `Instant` waits without a deadline.
#[test]
fn wait_timeout_edge_values() {
    let fake = FakeClock::new();
    let (m, c) = (
        Arc::new(Mutex::new(())),
        Arc::new(Cond::with_clock(fake.clock())),
    );
    {
        let mut g = m.lock();
        assert!(!c.wait_timeout(&mut g, Duration::ZERO));
        assert!(!c.wait_deadline(&mut g, fake.now()));
    }
    assert_eq!(c.waiters(), 0);
    let t = {
        let c = c.clone();
        spawn_queued(&m, move |g| c.wait_timeout(g, Duration::MAX))
    };
    // The waiter spins (real time, about 100 us) before it would register a deadline
    // with the fake clock; 200 ms of real time is far past that.
    assert!(
        !fake.block_until_waiters(1, Duration::from_millis(200)),
        "Duration::MAX must not register a deadline"
    );
    assert_eq!(c.waiters(), 1);
    c.signal();
    assert!(t.join().unwrap());
}

/// A waiter that times out does not swallow a signal meant for the next waiter: after
/// the timed waiter (queued first) has returned, a signal wakes the plain waiter.
#[test]
fn timed_out_waiter_does_not_swallow_a_signal() {
    let fake = FakeClock::new();
    let (m, c) = (
        Arc::new(Mutex::new(())),
        Arc::new(Cond::with_clock(fake.clock())),
    );
    let (tx, rx) = channel();
    let deadline = fake.now() + Duration::from_secs(10);
    let timed = {
        let (c, tx) = (c.clone(), tx.clone());
        spawn_queued(&m, move |g| {
            let r = c.wait_deadline(g, deadline);
            tx.send(100).unwrap();
            r
        })
    };
    let plain = spawn_waiter(&m, &c, 1, &tx);
    assert_eq!(c.waiters(), 2);
    fake.advance(Duration::from_secs(10));
    assert_eq!(recv(&rx), 100);
    assert!(!timed.join().unwrap());
    assert_eq!(c.waiters(), 1);
    c.signal();
    assert_eq!(recv(&rx), 1);
    plain.join().unwrap();
}

/// A waiter that timed out can wait again at once, and is then woken by a signal as
/// any new waiter (it queues behind the waiters already there).
#[test]
fn timed_out_waiter_waits_again() {
    let fake = FakeClock::new();
    let (m, c) = (
        Arc::new(Mutex::new(())),
        Arc::new(Cond::with_clock(fake.clock())),
    );
    let (tx, rx) = channel();
    let first = spawn_waiter(&m, &c, 1, &tx);
    let deadline = fake.now() + Duration::from_secs(1);
    let (again_tx, again) = channel();
    let t = {
        let (m, c, tx) = (m.clone(), c.clone(), tx.clone());
        thread::spawn(move || {
            let mut g = m.lock();
            assert!(!c.wait_deadline(&mut g, deadline));
            again_tx.send(()).unwrap(); // holding the mutex: queued once it is released
            c.wait(&mut g);
            tx.send(2).unwrap();
        })
    };
    assert!(fake.block_until_waiter_at(deadline, HANG));
    fake.advance(Duration::from_secs(1));
    again.recv_timeout(HANG).unwrap();
    drop(m.lock());
    assert_eq!(c.waiters(), 2);
    c.signal();
    assert_eq!(recv(&rx), 1, "the waiter queued first is woken first");
    c.signal();
    assert_eq!(recv(&rx), 2);
    first.join().unwrap();
    t.join().unwrap();
}

/// Many timed waiters with staggered deadlines on one fake clock: each advance times
/// out exactly the due ones; the others stay queued in order.
#[test]
fn staggered_deadlines() {
    let fake = FakeClock::new();
    let (m, c) = (
        Arc::new(Mutex::new(())),
        Arc::new(Cond::with_clock(fake.clock())),
    );
    let (tx, rx) = channel();
    let t0 = fake.now();
    let hs: Vec<_> = (1..=4u64)
        .map(|i| {
            let (c, tx) = (c.clone(), tx.clone());
            spawn_queued(&m, move |g| {
                let r = c.wait_deadline(g, t0 + Duration::from_secs(i));
                tx.send((i, r)).unwrap();
            })
        })
        .collect();
    fake.advance(Duration::from_secs(2));
    let mut out = [
        rx.recv_timeout(HANG).unwrap(),
        rx.recv_timeout(HANG).unwrap(),
    ];
    out.sort();
    assert_eq!(out, [(1, false), (2, false)]);
    c.signal(); // the oldest remaining waiter: deadline 3
    assert_eq!(rx.recv_timeout(HANG).unwrap(), (3, true));
    fake.advance(Duration::from_secs(2));
    assert_eq!(rx.recv_timeout(HANG).unwrap(), (4, false));
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(c.waiters(), 0);
}

/// Waiting with a second mutex while others wait with the first panics before the
/// waiter is queued; the queue and the first mutex's waiter are unaffected.
#[test]
fn two_mutexes_panic_without_damage() {
    let (m, c) = (Arc::new(Mutex::new(())), Arc::new(Cond::new()));
    let (tx, rx) = channel();
    let h = spawn_waiter(&m, &c, 1, &tx);
    let other = Mutex::new(());
    let mut g = other.lock();
    let err = catch_unwind(AssertUnwindSafe(|| c.wait(&mut g))).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("two different mutexes"), "{msg}");
    assert!(
        other.is_locked(),
        "the guard stays locked through the panic"
    );
    drop(g);
    assert_eq!(c.waiters(), 1);
    c.signal();
    assert_eq!(recv(&rx), 1);
    h.join().unwrap();
    // Once nobody waits, another mutex may be used.
    let mut g = other.lock();
    assert!(!c.wait_timeout(&mut g, Duration::ZERO));
}

/// A thread that panics while holding the guard (outside any wait) unlocks the mutex as
/// it unwinds and leaves the waiter list intact: the queued waiters are woken by later
/// signals, in order.
#[test]
fn panic_while_holding_the_guard_leaves_the_queue_intact() {
    let (m, c) = (Arc::new(Mutex::new(0u32)), Arc::new(Cond::new()));
    let (tx, rx) = channel();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (c, tx) = (c.clone(), tx.clone());
            spawn_queued(&m, move |g| {
                c.wait(g);
                **g += 1;
                tx.send(i).unwrap();
            })
        })
        .collect();
    // A thread that was woken, holds the guard, and panics.
    let panicker = {
        let c = c.clone();
        spawn_queued(&m, move |g| {
            c.wait(g);
            **g += 100;
            panic!("user code panics while holding the guard");
        })
    };
    assert_eq!(c.waiters(), 4);
    // Wake the three plain waiters first (FIFO), then the panicker.
    for want in 0..3 {
        c.signal();
        assert_eq!(recv(&rx), want);
    }
    c.signal();
    assert!(panicker.join().is_err());
    assert!(!m.is_locked(), "unwinding released the mutex");
    assert_eq!(*m.lock(), 103);
    assert_eq!(c.waiters(), 0);
    // The Cond still works.
    let (tx2, rx2) = channel();
    let h = spawn_waiter(&Arc::new(Mutex::new(())), &c, 7, &tx2);
    c.signal();
    assert_eq!(recv(&rx2), 7);
    h.join().unwrap();
    for h in waiters {
        h.join().unwrap();
    }
}

/// `Debug` shows the waiter count without blocking.
#[test]
fn debug_shows_waiters() {
    let c = Cond::new();
    assert_eq!(format!("{c:?}"), "Cond { waiters: 0, clock: Clock::Real }");
}

/// The bounded buffer of the benchmark (5 producers, 3 consumers, capacity 3), with
/// every item counted: nothing lost or duplicated. Half of the waits are timed (a short
/// real timeout, retried), so give-ups race signals all the time.
#[test]
#[ignore = "stress: run in release with --ignored"]
fn stress_bounded_buffer_with_timed_waits() {
    use std::collections::VecDeque;
    const CAP: usize = 3;
    const PER: u64 = 200_000;
    let buf: Mutex<VecDeque<u64>> = Mutex::new(VecDeque::new());
    let (not_full, not_empty) = (Cond::new(), Cond::new());
    let (n, sum) = thread::scope(|s| {
        let producers: Vec<_> = (0..5u64)
            .map(|p| {
                let (buf, not_full, not_empty) = (&buf, &not_full, &not_empty);
                s.spawn(move || {
                    for i in 0..PER {
                        let mut g = buf.lock();
                        while g.len() == CAP {
                            if i % 2 == 0 {
                                not_full.wait(&mut g);
                            } else {
                                let _ = not_full.wait_timeout(&mut g, Duration::from_micros(50));
                            }
                        }
                        g.push_back(p * PER + i + 1);
                        not_empty.signal();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|k| {
                let (buf, not_full, not_empty) = (&buf, &not_full, &not_empty);
                s.spawn(move || {
                    let (mut n, mut sum, mut i) = (0u64, 0u64, 0u64);
                    loop {
                        let mut g = buf.lock();
                        while g.is_empty() {
                            i += 1;
                            if (i + k) % 2 == 0 {
                                not_empty.wait(&mut g);
                            } else {
                                let _ = not_empty.wait_timeout(&mut g, Duration::from_micros(50));
                            }
                        }
                        let v = g.pop_front().unwrap();
                        not_full.signal();
                        drop(g);
                        if v == 0 {
                            return (n, sum);
                        }
                        n += 1;
                        sum += v;
                    }
                })
            })
            .collect();
        for h in producers {
            h.join().unwrap();
        }
        // One poison value per consumer, after every item.
        for _ in 0..3 {
            let mut g = buf.lock();
            while g.len() == CAP {
                not_full.wait(&mut g);
            }
            g.push_back(0);
            not_empty.signal();
        }
        consumers
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, 0), |(n, s), (a, b)| (n + a, s + b))
    });
    let total = 5 * PER;
    assert_eq!((n, sum), (total, total * (total + 1) / 2));
}

/// A time-out racing a signal, many times over (real threads, fake clock): a timed
/// waiter that reports `true` took the signal (the plain waiter queued behind it is
/// still waiting); one that reports `false` left the queue before the signal, which
/// then woke the plain waiter. Either way no wake-up is lost.
#[test]
fn timeout_racing_signal_loses_nothing() {
    for _ in 0..300 {
        let fake = FakeClock::new();
        let (m, c) = (
            Arc::new(Mutex::new(())),
            Arc::new(Cond::with_clock(fake.clock())),
        );
        let deadline = fake.now() + Duration::from_secs(1);
        let timed = {
            let c = c.clone();
            spawn_queued(&m, move |g| c.wait_deadline(g, deadline))
        };
        let plain = {
            let c = c.clone();
            spawn_queued(&m, move |g| c.wait(g))
        };
        let advancer = {
            let fake = fake.clone();
            thread::spawn(move || fake.advance(Duration::from_secs(1)))
        };
        c.signal(); // the timed waiter's, unless it withdrew first
        let signalled = timed.join().unwrap();
        advancer.join().unwrap();
        if signalled {
            assert_eq!(c.waiters(), 1, "the plain waiter still needs a signal");
            c.signal();
        }
        plain.join().unwrap();
        assert_eq!(c.waiters(), 0);
    }
}

/// A `Cond` is shared between threads by reference, in an `Arc` or in a `static`.
#[test]
fn cond_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cond>();
    static C: Cond = Cond::new();
    C.signal();
    C.broadcast();
    assert_eq!(C.waiters(), 0);
}
