//! `Queue::get_async`, `get_async_owned`, `wait_idle_async` and the `stream` feature's
//! `Queue::stream`: under two executors (tokio's multi-thread runtime and
//! `futures::executor`), next to blocking getters, cancelled at every poll point, racing
//! shutdown, driven by the delay timer, and with wakers that panic.
#![cfg(not(loom))]

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use gosync_core::FakeClock;
use gosync_testkit::{counting, poll, Counting};
use gosync_workqueue::ratelimit::ExponentialLimiter;
use gosync_workqueue::{
    GetAsync, GetAsyncOwned, OwnedGuard, Queue, RateLimitingQueue, WaitIdleAsync,
};

/// A real-time hang guard: only reached when a wake-up is lost.
const HANG: Duration = Duration::from_secs(20);

fn item<T: std::hash::Hash + Eq + Clone + Send + 'static + Copy>(
    p: Poll<Option<OwnedGuard<T>>>,
) -> Option<T> {
    match p {
        Poll::Ready(Some(g)) => Some(*g),
        Poll::Ready(None) => None,
        Poll::Pending => panic!("still pending"),
    }
}

/// No getter left registered or parked.
fn assert_clean<T>(q: &Queue<T>)
where
    T: std::hash::Hash + Eq + Clone + Send + 'static,
{
    let dbg = format!("{q:?}");
    assert!(
        !dbg.contains("tasks") && !dbg.contains("parked") && !dbg.contains("idle_waiters"),
        "registration left behind: {dbg}"
    );
}

#[test]
fn futures_are_send_and_the_owned_ones_static() {
    fn send<F: Send>() {}
    fn send_static<F: Send + 'static>() {}
    send::<GetAsync<'_, String>>();
    send::<WaitIdleAsync<'_, String>>();
    send_static::<GetAsyncOwned<String>>();
    send_static::<OwnedGuard<String>>();
    #[cfg(feature = "stream")]
    send_static::<gosync_workqueue::GetStream<String>>();
    fn unpin<F: Unpin>() {}
    unpin::<GetAsync<'_, u8>>();
    unpin::<GetAsyncOwned<u8>>();
}

/// Producers on threads, consumer tasks on tokio's multi-thread runtime: every item is
/// handed out once, none twice at once, and the drain ends every consumer.
#[test]
fn tokio_multi_thread_consumers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let q: Queue<u32> = Queue::new();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let consumers: Vec<_> = (0..4)
        .map(|c| {
            let (q, seen) = (q.clone(), Arc::clone(&seen));
            rt.spawn(async move {
                let mut n = 0;
                // Two shapes: the borrowing future and the owned one.
                loop {
                    let next = if c % 2 == 0 {
                        q.get_async().await
                    } else {
                        q.get_async_owned().await
                    };
                    let Some(item) = next else { break };
                    assert!(seen.lock().unwrap().insert(*item), "handed out twice");
                    tokio::task::yield_now().await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    thread::scope(|s| {
        for p in 0..3u32 {
            let q = q.clone();
            s.spawn(move || {
                for i in 0..300 {
                    q.add(p * 1000 + i);
                }
            });
        }
    });
    q.shut_down_with_drain();
    let total: usize = rt.block_on(async {
        let mut total = 0;
        for c in consumers {
            total += c.await.unwrap();
        }
        total
    });
    assert_eq!(total, 900);
    assert_eq!(seen.lock().unwrap().len(), 900);
    assert_clean(&q);
}

/// The same under `futures::executor::block_on`, one consumer task per thread.
#[test]
fn futures_executor_consumers() {
    let q: Queue<u32> = Queue::new();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    thread::scope(|s| {
        for _ in 0..3 {
            let (q, seen) = (q.clone(), Arc::clone(&seen));
            s.spawn(move || {
                futures::executor::block_on(async {
                    while let Some(item) = q.get_async().await {
                        assert!(seen.lock().unwrap().insert(*item));
                    }
                })
            });
        }
        for i in 0..500 {
            q.add(i);
        }
        q.shut_down_with_drain();
    });
    assert_eq!(seen.lock().unwrap().len(), 500);
    assert_clean(&q);
}

/// A blocking `get` and a task in `get_async` wait on one queue: two adds serve both
/// (a lost wake-up leaves one of them waiting: the hang guard fails the test).
#[test]
fn a_thread_and_a_task_wait_on_the_same_queue() {
    for round in 0..50 {
        let q: Queue<u32> = Queue::new();
        let (tx, rx) = mpsc::channel();
        let thread = {
            let (q, tx) = (q.clone(), tx.clone());
            thread::spawn(move || tx.send(("thread", q.get().map(|g| g.into_inner()))))
        };
        let task = {
            let q = q.clone();
            thread::spawn(move || {
                let got = futures::executor::block_on(q.get_async()).map(|g| g.into_inner());
                tx.send(("task", got))
            })
        };
        // Wait until both are waiting (the task registered, the thread parked), so the
        // two adds must wake each of them.
        let deadline = Instant::now() + HANG;
        loop {
            let dbg = format!("{q:?}");
            if dbg.contains("parked: 1") && dbg.contains("tasks: 1") {
                break;
            }
            assert!(Instant::now() < deadline, "never both waiting: {dbg}");
            thread::yield_now();
        }
        q.add(round * 2);
        q.add(round * 2 + 1);
        let mut got = Vec::new();
        for _ in 0..2 {
            let (who, item) = rx.recv_timeout(HANG).expect("a waiter was not woken");
            got.push((who, item.expect("an item")));
        }
        got.sort();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            ["task", "thread"]
        );
        thread.join().unwrap().unwrap();
        task.join().unwrap().unwrap();
        assert!(q.done(&(round * 2)) && q.done(&(round * 2 + 1)));
        assert_clean(&q);
    }
}

/// Cancel safety, at every poll point: a future dropped before its first poll, while
/// registered, after it was notified (the wake-up passes on to the next waiting task),
/// after it was notified for an item another getter took, and after it completed. No item is lost and no
/// registration is left.
#[test]
fn dropped_at_every_poll_point() {
    let q: Queue<u32> = Queue::new();
    let (_, w) = counting();

    // Before the first poll: nothing to undo.
    drop(q.get_async());
    assert_clean(&q);

    // Registered, not notified: withdrawn; the next add is for whoever waits next.
    let mut a = q.get_async();
    assert!(poll(&mut a, &w).is_pending());
    drop(a);
    assert_clean(&q);
    q.add(1);
    assert_eq!(item(poll(&mut q.get_async(), &w)), Some(1));
    assert!(!q.done(&1), "the guard's drop was the done");

    // Notified, then dropped: the wake-up goes to the next waiting task.
    let (ca, wa) = counting();
    let (cb, wb) = counting();
    let mut a = q.get_async();
    let mut b = q.get_async_owned();
    assert!(poll(&mut a, &wa).is_pending());
    assert!(poll(&mut b, &wb).is_pending());
    q.add(2);
    assert_eq!((ca.wakes.load(SeqCst), cb.wakes.load(SeqCst)), (1, 0));
    drop(a);
    assert_eq!(cb.wakes.load(SeqCst), 1, "the wake-up was not passed on");
    assert_eq!(item(poll(&mut b, &wb)), Some(2));
    drop(b);
    assert!(!q.done(&2));
    assert_clean(&q);

    // Notified for an item another getter took: nothing to pass on; it registers again.
    let (ca, wa) = counting();
    let mut a = q.get_async();
    assert!(poll(&mut a, &wa).is_pending());
    q.add(4);
    assert_eq!(q.try_get().map(|g| g.into_inner()).ok(), Some(4));
    assert!(poll(&mut a, &wa).is_pending());
    q.add(5);
    assert_eq!(ca.wakes.load(SeqCst), 2);
    assert_eq!(item(poll(&mut a, &wa)), Some(5));
    drop(a); // completed: holds nothing
    assert_clean(&q);
    assert!(!q.done(&5), "the guard's drop was the done");
    assert_eq!(q.len(), 0);
}

/// Dropping the future at each successive poll of a scripted sequence, a second
/// waiting task always ends up with the item: no item lost, no waiter stranded.
#[test]
fn dropped_at_poll_k_never_loses_the_item() {
    for k in 0..4 {
        let q: Queue<u32> = Queue::new();
        let (_, wa) = counting();
        let (cb, wb) = counting();
        let mut a = q.get_async();
        let mut b = q.get_async();
        let mut polls = 0;
        let mut got_a = None;
        // Poll a up to k times, adding the item after its first poll.
        while polls < k {
            match poll(&mut a, &wa) {
                Poll::Ready(g) => {
                    got_a = g.map(|g| g.into_inner());
                    break;
                }
                Poll::Pending => {}
            }
            if polls == 0 {
                assert!(poll(&mut b, &wb).is_pending());
                q.add(9);
            }
            polls += 1;
        }
        drop(a);
        if got_a.is_some() {
            assert!(q.done(&9));
            drop(b);
            assert_clean(&q);
            continue;
        }
        if k == 0 {
            assert!(poll(&mut b, &wb).is_pending());
            q.add(9);
        }
        assert!(cb.wakes.load(SeqCst) >= 1, "k = {k}: b was never woken");
        assert_eq!(item(poll(&mut b, &wb)), Some(9), "k = {k}");
        drop(b);
        assert!(!q.done(&9));
        assert_clean(&q);
    }
}

/// Shutdown racing `get_async`: every pending future ends with `None` (or an item
/// queued before the shutdown), whether it registered before or after.
#[test]
fn shutdown_races_get_async() {
    for round in 0..100u32 {
        let q: Queue<u32> = Queue::new();
        let queued = round % 2 == 0;
        if queued {
            q.add(round);
        }
        let start = Arc::new(Barrier::new(3));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let (q, start) = (q.clone(), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    futures::executor::block_on(q.get_async()).map(|g| g.into_inner())
                })
            })
            .collect();
        start.wait();
        q.shut_down();
        let got: Vec<_> = getters.into_iter().map(|g| g.join().unwrap()).collect();
        let items: Vec<_> = got.iter().flatten().collect();
        assert_eq!(items.len(), usize::from(queued), "{got:?}");
        assert_clean(&q);
    }
}

/// `get_async` after shutdown hands out the remaining items, then `None`.
#[test]
fn after_shutdown_remaining_items_then_none() {
    let q: Queue<u32> = Queue::new();
    q.add(1);
    q.add(2);
    q.shut_down();
    futures::executor::block_on(async {
        assert_eq!(q.get_async().await.map(|g| g.into_inner()), Some(1));
        assert_eq!(q.get_async().await.map(|g| g.into_inner()), Some(2));
        assert!(q.get_async().await.is_none());
    });
}

/// The delay timer wakes a task for an item whose delay passed (the rate-limiting
/// queue's retries reach `get_async` through its `Deref` to the queue).
#[test]
fn the_delay_timer_wakes_a_task() {
    let fake = FakeClock::new();
    let limiter = ExponentialLimiter::new(Duration::from_millis(5), Duration::from_secs(1));
    let q = RateLimitingQueue::with_limiter(Queue::builder().clock(fake.clock()), limiter);
    let (c, w) = counting();
    let mut fut = q.get_async();
    assert!(poll(&mut fut, &w).is_pending());
    q.add_rate_limited("retry");
    assert!(fake.block_until_waiters(1, HANG), "the timer never slept");
    fake.advance(Duration::from_millis(5));
    let deadline = Instant::now() + HANG;
    while c.wakes.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the timer did not wake the task");
        thread::yield_now();
    }
    assert_eq!(item(poll(&mut fut, &w)), Some("retry"));
    q.shut_down();
}

/// A waker that panics on wake: the add that woke it panics after the add is made; the
/// item stays ready and is handed out to the next poll.
#[test]
fn a_waker_that_panics_on_wake() {
    let q: Queue<u32> = Queue::new();
    let (c, w) = counting();
    c.panic_on_wake.store(true, SeqCst);
    let mut fut = q.get_async();
    assert!(poll(&mut fut, &w).is_pending());
    let r = catch_unwind(AssertUnwindSafe(|| q.add(1)));
    assert!(r.is_err(), "the waker's panic reaches the add");
    assert_eq!(q.len(), 1, "the add was made");
    c.panic_on_wake.store(false, SeqCst);
    assert_eq!(item(poll(&mut fut, &w)), Some(1));
    drop(fut);
    assert_clean(&q);

    // At shutdown: every task is woken, the queue is shut down, then the panic.
    let (c1, w1) = counting();
    let (c2, w2) = counting();
    c1.panic_on_wake.store(true, SeqCst);
    let mut a = q.get_async();
    let mut b = q.get_async();
    assert!(poll(&mut a, &w1).is_pending());
    assert!(poll(&mut b, &w2).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| q.shut_down())).is_err());
    assert!(q.shutting_down());
    assert_eq!((c1.wakes.load(SeqCst), c2.wakes.load(SeqCst)), (1, 1));
    c1.panic_on_wake.store(false, SeqCst);
    assert!(item(poll(&mut a, &w1)).is_none());
    assert!(item(poll(&mut b, &w2)).is_none());
}

/// `wait_idle_async` completes when the last item is done, next to a blocking
/// `wait_idle`; a dropped one leaves no registration.
#[test]
fn wait_idle_async_with_a_blocking_waiter() {
    let q: Queue<u32> = Queue::new();
    let (_, w) = counting();
    // Idle: ready at once.
    assert!(poll(&mut q.wait_idle_async(), &w).is_ready());
    q.add(1);
    // Registered, then dropped: clean.
    let mut fut = q.wait_idle_async();
    assert!(poll(&mut fut, &w).is_pending());
    assert!(format!("{q:?}").contains("idle_waiters: 1"));
    drop(fut);
    assert_clean(&q);

    let (c, w) = counting();
    let mut fut = q.wait_idle_async();
    assert!(poll(&mut fut, &w).is_pending());
    let blocking = {
        let q = q.clone();
        thread::spawn(move || q.wait_idle())
    };
    let item = q.get().unwrap();
    assert!(poll(&mut fut, &w).is_pending(), "processing is not idle");
    item.done();
    assert_eq!(c.wakes.load(SeqCst), 1);
    assert!(poll(&mut fut, &w).is_ready());
    blocking.join().unwrap();
    drop(fut);
    assert_clean(&q);
}

/// `wait_idle_async` on tokio's runtime, with workers that retry once through a delay.
#[test]
fn wait_idle_async_under_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let q: Queue<u32> = Queue::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            rt.spawn(async move {
                while let Some(item) = q.get_async().await {
                    if *item < 100 {
                        q.add_after(*item + 100, Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    for i in 0..20 {
        q.add(i);
    }
    rt.block_on(async {
        tokio::time::timeout(HANG, q.wait_idle_async())
            .await
            .expect("never idle");
    });
    assert_eq!((q.len(), q.waiting_len()), (0, 0));
    q.shut_down();
    rt.block_on(async {
        for w in workers {
            w.await.unwrap();
        }
    });
    assert_clean(&q);
}

#[cfg(feature = "stream")]
mod stream {
    use super::*;
    use futures::StreamExt;

    /// The stream ends once the queue is shut down and drained, under both executors.
    #[test]
    fn ends_at_shutdown_and_drain_under_both_executors() {
        let q: Queue<u32> = Queue::new();
        for i in 0..10 {
            q.add(i);
        }
        q.shut_down();
        let got: Vec<u32> = futures::executor::block_on(q.stream().map(|g| *g).collect());
        assert_eq!(got, (0..10).collect::<Vec<_>>());

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let q: Queue<u32> = Queue::new();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let mut s = q.stream();
                rt.spawn(async move {
                    let mut n = 0;
                    while let Some(item) = s.next().await {
                        drop(item);
                        n += 1;
                    }
                    assert!(futures::stream::FusedStream::is_terminated(&s));
                    assert!(s.next().await.is_none(), "fused");
                    n
                })
            })
            .collect();
        for i in 0..300 {
            q.add(i);
        }
        q.shut_down_with_drain();
        let n: usize = rt.block_on(async {
            let mut n = 0;
            for c in consumers {
                n += c.await.unwrap();
            }
            n
        });
        assert_eq!(n, 300);
    }

    /// A pending `next()` dropped after its wake-up passes it on to another stream.
    #[test]
    fn dropped_pending_next_passes_its_wake_up_on() {
        let q: Queue<u32> = Queue::new();
        let (_, wa) = counting();
        let (cb, wb) = counting();
        let mut a = q.stream();
        let mut b = q.stream();
        assert!(poll(&mut a.next(), &wa).is_pending());
        assert!(poll(&mut b.next(), &wb).is_pending());
        q.add(1);
        drop(a);
        assert_eq!(cb.wakes.load(SeqCst), 1);
        match poll(&mut b.next(), &wb) {
            Poll::Ready(Some(g)) => assert_eq!(*g, 1),
            other => panic!("{:?}", other.map(|g| g.map(|g| *g))),
        }
        drop(b);
        assert_clean(&q);
    }
}

/// Model-based property test: random sequences of adds, task polls (each task polls
/// a `get_async_owned` future, holds the item it gets, and finishes it on its next
/// turn), future drops, thread `try_get`s and a shutdown, against a `VecDeque` +
/// `HashSet` model. Besides the items (FIFO, never twice at once, `None` only when shut
/// down and empty), it checks liveness after every step: with `r` items ready and `p`
/// tasks pending, at least `min(r, p)` pending tasks were woken since their last poll
/// (no stranded waiter, whatever was dropped or taken meanwhile).
mod model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8),
        Poll(usize),
        Drop(usize),
        TryGet,
        ShutDown,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..4).prop_map(Op::Add),
            5 => (0usize..3).prop_map(Op::Poll),
            2 => (0usize..3).prop_map(Op::Drop),
            2 => Just(Op::TryGet),
            1 => Just(Op::ShutDown),
        ]
    }

    enum Task {
        Idle,
        Pending(GetAsyncOwned<u8>, Arc<Counting>, Waker, usize),
        Holding(OwnedGuard<u8>),
    }

    #[derive(Default)]
    struct Model {
        queue: VecDeque<u8>,
        dirty: HashSet<u8>,
        processing: HashSet<u8>,
        shut: bool,
    }

    impl Model {
        fn add(&mut self, k: u8) {
            if self.shut || !self.dirty.insert(k) {
                return;
            }
            if !self.processing.contains(&k) {
                self.queue.push_back(k);
            }
        }
        fn get(&mut self) -> Option<u8> {
            let k = self.queue.pop_front()?;
            self.dirty.remove(&k);
            assert!(self.processing.insert(k));
            Some(k)
        }
        fn done(&mut self, k: u8) {
            assert!(self.processing.remove(&k));
            if self.dirty.contains(&k) {
                self.queue.push_back(k);
            }
        }
    }

    fn run(ops: Vec<Op>) {
        let q: Queue<u8> = Queue::new();
        let mut m = Model::default();
        let mut tasks: Vec<Task> = (0..3).map(|_| Task::Idle).collect();
        for op in ops {
            match op {
                Op::Add(k) => {
                    q.add(k);
                    m.add(k);
                }
                Op::Poll(t) => {
                    let task = std::mem::replace(&mut tasks[t], Task::Idle);
                    let (mut fut, c, w) = match task {
                        Task::Holding(g) => {
                            let k = g.into_inner();
                            assert!(q.done(&k));
                            m.done(k);
                            continue;
                        }
                        Task::Idle => {
                            let (c, w) = counting();
                            (q.get_async_owned(), c, w)
                        }
                        Task::Pending(fut, c, w, _) => (fut, c, w),
                    };
                    match poll(&mut fut, &w) {
                        Poll::Ready(Some(g)) => {
                            assert_eq!(Some(*g), m.get());
                            tasks[t] = Task::Holding(g);
                        }
                        Poll::Ready(None) => {
                            assert!(m.shut && m.queue.is_empty());
                        }
                        Poll::Pending => {
                            assert!(!m.shut && m.queue.is_empty());
                            let seen = c.wakes.load(SeqCst);
                            tasks[t] = Task::Pending(fut, c, w, seen);
                        }
                    }
                }
                Op::Drop(t) => {
                    if let Task::Pending(..) = tasks[t] {
                        tasks[t] = Task::Idle;
                    }
                }
                Op::TryGet => {
                    if let Ok(g) = q.try_get() {
                        assert_eq!(Some(*g), m.get());
                        let k = g.into_inner();
                        assert!(q.done(&k));
                        m.done(k);
                    } else {
                        assert!(m.queue.is_empty());
                    }
                }
                Op::ShutDown => {
                    q.shut_down();
                    m.shut = true;
                }
            }
            assert_eq!(q.len(), m.queue.len());
            let pending: Vec<_> = tasks
                .iter()
                .filter_map(|t| match t {
                    Task::Pending(_, c, _, seen) => Some(c.wakes.load(SeqCst) > *seen),
                    _ => None,
                })
                .collect();
            let woken = pending.iter().filter(|w| **w).count();
            let owed = if m.shut {
                pending.len()
            } else {
                m.queue.len().min(pending.len())
            };
            assert!(
                woken >= owed,
                "{woken} of {} pending tasks woken, {owed} owed",
                pending.len()
            );
        }
        drop(tasks);
        assert_clean(&q);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        #[test]
        fn get_async_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
            run(ops);
        }
    }
}

/// The metrics provider panics while a `done` observes the work duration, with a task
/// waiting for the item that `done` queued again: the task is woken (the wake-up is
/// passed on) and gets the item.
#[test]
fn a_panicking_metric_in_done_still_wakes_a_task() {
    use gosync_workqueue::{
        CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, SettableGaugeMetric,
    };

    struct Nop;
    impl GaugeMetric for Nop {
        fn inc(&self) {}
        fn dec(&self) {}
    }
    impl CounterMetric for Nop {
        fn inc(&self) {}
    }
    impl SettableGaugeMetric for Nop {
        fn set(&self, _: f64) {}
    }
    impl HistogramMetric for Nop {
        fn observe(&self, _: f64) {}
    }
    struct Armed(Arc<AtomicBool>);
    impl HistogramMetric for Armed {
        fn observe(&self, _: f64) {
            if self.0.load(SeqCst) {
                panic!("work duration metric panics");
            }
        }
    }
    struct Provider(Arc<AtomicBool>);
    impl MetricsProvider for Provider {
        fn new_depth_metric(&self, _: &str) -> Box<dyn GaugeMetric> {
            Box::new(Nop)
        }
        fn new_adds_metric(&self, _: &str) -> Box<dyn CounterMetric> {
            Box::new(Nop)
        }
        fn new_latency_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
            Box::new(Nop)
        }
        fn new_work_duration_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
            Box::new(Armed(Arc::clone(&self.0)))
        }
        fn new_unfinished_work_seconds_metric(&self, _: &str) -> Box<dyn SettableGaugeMetric> {
            Box::new(Nop)
        }
        fn new_longest_running_processor_seconds_metric(
            &self,
            _: &str,
        ) -> Box<dyn SettableGaugeMetric> {
            Box::new(Nop)
        }
        fn new_retries_metric(&self, _: &str) -> Box<dyn CounterMetric> {
            Box::new(Nop)
        }
    }

    let armed = Arc::new(AtomicBool::new(false));
    let fake = FakeClock::new();
    let q: Queue<u8> = Queue::builder()
        .name("q")
        .clock(fake.clock())
        .metrics_provider(Arc::new(Provider(Arc::clone(&armed))))
        .build();
    q.add(1);
    let one = q.get_detached().unwrap();
    q.add(1); // processing: queued again by its done
    let (c, w) = counting();
    let mut fut = q.get_async();
    assert!(poll(&mut fut, &w).is_pending());
    fake.advance(Duration::from_secs(1)); // a non-zero work duration
    armed.store(true, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| q.done(&one))).is_err());
    armed.store(false, SeqCst);
    assert_eq!(c.wakes.load(SeqCst), 1, "the wake-up was not passed on");
    assert_eq!(item(poll(&mut fut, &w)), Some(1));
    q.shut_down();
}
