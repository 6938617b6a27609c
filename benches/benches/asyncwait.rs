//! `WaitGroup::wait_async` vs a counter + `tokio::sync::Notify` wait vs tokio-util's
//! `TaskTracker::wait`.
//!
//! * `ready`: the counter is already zero; one `.await` of the wait (polled once).
//! * `round`: one round on one thread, polled by hand with a no-op waker: raise the
//!   counter, poll the wait (registers, `Pending`), count down to zero (releases and
//!   wakes), poll again (`Ready`). Register + release + complete, without an executor.
//! * `pingpong`: two threads, each driving its waits with `futures::executor::block_on`,
//!   ping-pong through two groups as `waitgroup/wakeup` does for the blocking wait; each
//!   iteration is two cross-thread wake-ups. (TaskTracker is left out here: re-arming a
//!   tracker needs a token handed across threads, another protocol altogether.)
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gosync_waitgroup::WaitGroup;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

/// The usual async "wait group" built from tokio: a counter and a `Notify`.
struct NotifyGroup {
    count: AtomicUsize,
    zero: Notify,
}

impl NotifyGroup {
    fn new() -> NotifyGroup {
        NotifyGroup {
            count: AtomicUsize::new(0),
            zero: Notify::new(),
        }
    }
    fn add(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.zero.notify_waiters();
        }
    }
    async fn wait(&self) {
        loop {
            let mut notified = pin!(self.zero.notified());
            // Registered before the check, so a `notify_waiters` after it is not lost.
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll<F: Future>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

fn ready(c: &mut Criterion) {
    let mut g = c.benchmark_group("asyncwait/ready");
    let waker = Waker::from(Arc::new(Noop));
    let wg = WaitGroup::new();
    g.bench_function("gosync", |b| {
        b.iter(|| {
            let f = pin!(black_box(&wg).wait_async());
            assert!(poll(f, &waker).is_ready());
        })
    });
    let ng = NotifyGroup::new();
    g.bench_function("notify", |b| {
        b.iter(|| {
            let f = pin!(black_box(&ng).wait());
            assert!(poll(f, &waker).is_ready());
        })
    });
    let tt = TaskTracker::new();
    tt.close();
    g.bench_function("task_tracker", |b| {
        b.iter(|| {
            let f = pin!(black_box(&tt).wait());
            assert!(poll(f, &waker).is_ready());
        })
    });
    g.finish();
}

fn round(c: &mut Criterion) {
    let mut g = c.benchmark_group("asyncwait/round");
    let waker = Waker::from(Arc::new(Noop));
    let wg = WaitGroup::new();
    g.bench_function("gosync", |b| {
        b.iter(|| {
            let wg = black_box(&wg);
            wg.add(1);
            let mut f = pin!(wg.wait_async());
            assert!(poll(f.as_mut(), &waker).is_pending());
            wg.done();
            assert!(poll(f, &waker).is_ready());
        })
    });
    let ng = NotifyGroup::new();
    g.bench_function("notify", |b| {
        b.iter(|| {
            let ng = black_box(&ng);
            ng.add();
            let mut f = pin!(ng.wait());
            assert!(poll(f.as_mut(), &waker).is_pending());
            ng.done();
            assert!(poll(f, &waker).is_ready());
        })
    });
    let tt = TaskTracker::new();
    g.bench_function("task_tracker", |b| {
        b.iter(|| {
            let tt = black_box(&tt);
            tt.reopen();
            let token = tt.token();
            tt.close();
            let mut f = pin!(tt.wait());
            assert!(poll(f.as_mut(), &waker).is_pending());
            drop(token);
            assert!(poll(f, &waker).is_ready());
        })
    });
    g.finish();
}

/// Ping-pong between this thread and a helper through two groups (see the module docs).
fn ping_pong<G: Send + Sync + 'static>(
    groups: (G, G),
    rounds: u64,
    done: fn(&G),
    wait_rearm: fn(&G),
) -> Duration {
    let groups = Arc::new(groups);
    let g2 = Arc::clone(&groups);
    let helper = std::thread::spawn(move || {
        for _ in 0..rounds {
            wait_rearm(&g2.0);
            done(&g2.1);
        }
    });
    let t = Instant::now();
    for _ in 0..rounds {
        done(&groups.0);
        wait_rearm(&groups.1);
    }
    let elapsed = t.elapsed();
    helper.join().unwrap();
    elapsed
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("asyncwait/pingpong");
    g.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            let (ping, pong) = (WaitGroup::new(), WaitGroup::new());
            ping.add(1);
            pong.add(1);
            ping_pong(
                (ping, pong),
                iters,
                |g| g.done(),
                |g| {
                    futures::executor::block_on(g.wait_async());
                    g.add(1); // re-arm: this thread is the group's only waiter
                },
            )
        })
    });
    g.bench_function("notify", |b| {
        b.iter_custom(|iters| {
            let (ping, pong) = (NotifyGroup::new(), NotifyGroup::new());
            ping.add();
            pong.add();
            ping_pong(
                (ping, pong),
                iters,
                |g| g.done(),
                |g| {
                    futures::executor::block_on(g.wait());
                    g.add();
                },
            )
        })
    });
    g.bench_function("gosync_blocking", |b| {
        b.iter_custom(|iters| {
            let (ping, pong) = (WaitGroup::new(), WaitGroup::new());
            ping.add(1);
            pong.add(1);
            ping_pong(
                (ping, pong),
                iters,
                |g| g.done(),
                |g| {
                    g.wait();
                    g.add(1);
                },
            )
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    ready(c);
    round(c);
    pingpong(c);
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
