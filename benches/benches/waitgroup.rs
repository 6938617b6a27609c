//! WaitGroup: gosync vs crossbeam-utils vs a Mutex+Condvar counter, plus floors.
//!
//! * `add_done`: one thread, an `add(1)` + `done()` pair (crossbeam: clone + drop); the
//!   floor is a bare atomic +1/-1 pair.
//! * `contended/{2,8}`: N threads each doing add/done pairs on one group; the time per
//!   iteration is the wall time per pair *per thread* (Go reports its figure this way).
//! * `wakeup`: ping-pong between two threads through two groups; each iteration is two
//!   wake-ups (last `done` → `wait` returns). The floor is the same ping-pong with
//!   `thread::park`/`unpark`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// The same operations for every contender.
trait Group: Send + Sync + 'static {
    const NAME: &'static str;
    fn new() -> Self;
    fn add_done(&self);
}

struct Gosync(gosync_waitgroup::WaitGroup);
impl Group for Gosync {
    const NAME: &'static str = "gosync";
    fn new() -> Self {
        Gosync(gosync_waitgroup::WaitGroup::new())
    }
    #[inline]
    fn add_done(&self) {
        self.0.add(1);
        self.0.done();
    }
}

struct Crossbeam(crossbeam_utils::sync::WaitGroup);
impl Group for Crossbeam {
    const NAME: &'static str = "crossbeam";
    fn new() -> Self {
        Crossbeam(crossbeam_utils::sync::WaitGroup::new())
    }
    #[inline]
    fn add_done(&self) {
        drop(black_box(self.0.clone()));
    }
}

/// The textbook counter: a mutex-protected count and a condition variable.
struct MutexCondvar {
    count: Mutex<u64>,
    zero: Condvar,
}
impl MutexCondvar {
    fn add(&self) {
        *self.count.lock().unwrap() += 1;
    }
    fn done(&self) {
        let mut c = self.count.lock().unwrap();
        *c -= 1;
        if *c == 0 {
            self.zero.notify_all();
        }
    }
    fn wait(&self) {
        let mut c = self.count.lock().unwrap();
        while *c != 0 {
            c = self.zero.wait(c).unwrap();
        }
    }
}
impl Group for MutexCondvar {
    const NAME: &'static str = "mutex_condvar";
    fn new() -> Self {
        MutexCondvar {
            count: Mutex::new(0),
            zero: Condvar::new(),
        }
    }
    #[inline]
    fn add_done(&self) {
        self.add();
        self.done();
    }
}

/// The floor: the two atomic read-modify-writes any counter needs.
struct BareAtomic(AtomicU64);
impl Group for BareAtomic {
    const NAME: &'static str = "bare_atomic";
    fn new() -> Self {
        BareAtomic(AtomicU64::new(0))
    }
    #[inline]
    fn add_done(&self) {
        self.0.fetch_add(1 << 32, Ordering::AcqRel);
        self.0.fetch_sub(1 << 32, Ordering::AcqRel);
    }
}

fn add_done<G: Group>(c: &mut Criterion) {
    let g = G::new();
    c.bench_function(&format!("waitgroup/add_done/{}", G::NAME), |b| {
        b.iter(|| black_box(&g).add_done())
    });
}

fn contended<G: Group>(c: &mut Criterion, threads: usize) {
    let g = Arc::new(G::new());
    c.bench_with_input(
        BenchmarkId::new(format!("waitgroup/contended_{threads}"), G::NAME),
        &threads,
        |b, &n| {
            b.iter_custom(|iters| {
                let start = Arc::new(Barrier::new(n + 1));
                let handles: Vec<_> = (0..n)
                    .map(|_| {
                        let (g, start) = (Arc::clone(&g), Arc::clone(&start));
                        std::thread::spawn(move || {
                            start.wait();
                            for _ in 0..iters {
                                g.add_done();
                            }
                        })
                    })
                    .collect();
                start.wait();
                let t = Instant::now();
                for h in handles {
                    h.join().unwrap();
                }
                t.elapsed()
            })
        },
    );
}

/// Runs `rounds` ping-pongs on a helper thread: `ping` wakes the helper, which answers
/// with `pong`. Returns the elapsed time for all rounds.
fn ping_pong<S: Send + Sync + 'static>(
    state: S,
    rounds: u64,
    ping: fn(&S),
    pong_wait: fn(&S),
    helper_round: fn(&S),
) -> Duration {
    let state = Arc::new(state);
    let s2 = Arc::clone(&state);
    let helper = std::thread::spawn(move || {
        for _ in 0..rounds {
            helper_round(&s2);
        }
    });
    let t = Instant::now();
    for _ in 0..rounds {
        ping(&state);
        pong_wait(&state);
    }
    let elapsed = t.elapsed();
    helper.join().unwrap();
    elapsed
}

fn wakeup(c: &mut Criterion) {
    let mut group = c.benchmark_group("waitgroup/wakeup");
    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            use gosync_waitgroup::WaitGroup;
            let (ping, pong) = (WaitGroup::new(), WaitGroup::new());
            ping.add(1);
            pong.add(1);
            ping_pong(
                (ping, pong),
                iters,
                |s| s.0.done(),
                |s| {
                    s.1.wait();
                    s.1.add(1); // re-arm: this thread is pong's only waiter
                },
                |s| {
                    s.0.wait();
                    s.0.add(1); // re-arm before answering: the next ping needs it
                    s.1.done();
                },
            )
        })
    });
    group.bench_function("mutex_condvar", |b| {
        b.iter_custom(|iters| {
            let mk = || MutexCondvar {
                count: Mutex::new(1),
                zero: Condvar::new(),
            };
            ping_pong(
                (mk(), mk()),
                iters,
                |s| s.0.done(),
                |s| {
                    s.1.wait();
                    s.1.add();
                },
                |s| {
                    s.0.wait();
                    s.0.add();
                    s.1.done();
                },
            )
        })
    });
    group.bench_function("park_unpark_floor", |b| {
        b.iter_custom(|iters| {
            struct Flags {
                ping: AtomicBool,
                pong: AtomicBool,
                main: std::thread::Thread,
                helper: Mutex<Option<std::thread::Thread>>,
            }
            let flags = Flags {
                ping: AtomicBool::new(false),
                pong: AtomicBool::new(false),
                main: std::thread::current(),
                helper: Mutex::new(None),
            };
            ping_pong(
                flags,
                iters,
                |s| {
                    s.ping.store(true, Ordering::Release);
                    loop {
                        if let Some(h) = s.helper.lock().unwrap().as_ref() {
                            h.unpark();
                            break;
                        }
                        std::thread::yield_now();
                    }
                },
                |s| {
                    while !s.pong.swap(false, Ordering::Acquire) {
                        std::thread::park();
                    }
                },
                |s| {
                    s.helper
                        .lock()
                        .unwrap()
                        .get_or_insert_with(std::thread::current);
                    while !s.ping.swap(false, Ordering::Acquire) {
                        std::thread::park();
                    }
                    s.pong.store(true, Ordering::Release);
                    s.main.unpark();
                },
            )
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    add_done::<BareAtomic>(c);
    add_done::<Gosync>(c);
    add_done::<Crossbeam>(c);
    add_done::<MutexCondvar>(c);
    for threads in [2, 8] {
        contended::<Gosync>(c, threads);
        contended::<Crossbeam>(c, threads);
        contended::<MutexCondvar>(c, threads);
    }
    wakeup(c);
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
