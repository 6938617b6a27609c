//! Conformance: the scenarios of client-go's `util/workqueue` tests (`queue_test.go`,
//! `delaying_queue_test.go`, `rate_limiting_queue_test.go`, `metrics_test.go`) and of
//! controller-runtime's `priorityqueue_test.go`, replayed against this crate on a fake
//! clock. Each test names the Go test it mirrors; where we differ on purpose (the crate
//! docs' "Differences from client-go"), the comment says so and the test checks our
//! documented behaviour.
#![cfg(not(loom))]

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use gosync_core::FakeClock;
use gosync_workqueue::ratelimit::ExponentialLimiter;
use gosync_workqueue::{
    AddOpts, PriorityQueue, Queue, QueueBuilder, RateLimitingQueue, TryGetError,
};

#[path = "support/recorder.rs"]
#[allow(dead_code)] // each test binary uses part of it
mod recorder;
use recorder::{provider, Recorder};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
/// Real-time hang guard (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

/// Polls `cond` (real time) until it holds; fails after the hang guard.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_micros(200));
    }
}

/// Joins `h`, failing if it takes longer than the hang guard.
fn join_within<T: Send + 'static>(h: thread::JoinHandle<T>) -> T {
    eventually("thread to finish", || h.is_finished());
    h.join().unwrap()
}

fn fake_queue<T: std::hash::Hash + Eq + Clone + Send + 'static>() -> (FakeClock, Queue<T>) {
    let fake = FakeClock::new();
    let q = Queue::builder().clock(fake.clock()).build();
    (fake, q)
}

// ---------------------------------------------------------------------------------------
// client-go queue_test.go
// ---------------------------------------------------------------------------------------

/// Mirrors `TestBasic`, for both `shut_down` and `shut_down_with_drain`: 50 producers,
/// 10 consumers, an add after shutdown is ignored, the queue ends empty. (Current
/// client-go's producers add nothing; ours add 50 keys each, as the original test did.)
#[test]
fn basic() {
    for drain in [false, true] {
        let q: Queue<String> = Queue::new();
        let producers: Vec<_> = (0..50)
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || {
                    // Under Miri 3 keys each (still overlapping between producers).
                    for j in 0..if cfg!(miri) { 3 } else { 50 } {
                        q.add(format!("{}", (i * 50 + j) % 200));
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..10)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    while let Some(item) = q.get() {
                        assert_ne!(*item, "added after shutdown!");
                    }
                })
            })
            .collect();
        for p in producers {
            join_within(p);
        }
        if drain {
            q.shut_down_with_drain();
        } else {
            q.shut_down();
        }
        q.add("added after shutdown!".to_string());
        for c in consumers {
            join_within(c);
        }
        assert_eq!(q.len(), 0);
    }
}

/// Mirrors `TestAddWhileProcessing`, both shutdown kinds: every worker re-adds each item
/// it gets until it has seen it twice.
#[test]
fn add_while_processing() {
    for drain in [false, true] {
        let q: Queue<u32> = Queue::new();
        let producers: Vec<_> = (0..50)
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || q.add(i))
            })
            .collect();
        let consumers: Vec<_> = (0..10)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    let mut counters: HashMap<u32, u32> = HashMap::new();
                    while let Some(item) = q.get_detached() {
                        let c = counters.entry(item).or_default();
                        *c += 1;
                        if *c < 2 {
                            q.add(item);
                        }
                        assert!(q.done(&item));
                    }
                })
            })
            .collect();
        for p in producers {
            join_within(p);
        }
        if drain {
            q.shut_down_with_drain();
        } else {
            q.shut_down();
        }
        for c in consumers {
            join_within(c);
        }
        assert_eq!(q.len(), 0);
    }
}

/// Mirrors `TestLen`.
#[test]
fn len() {
    let q = Queue::new();
    q.add("foo");
    assert_eq!(q.len(), 1);
    q.add("bar");
    assert_eq!(q.len(), 2);
    q.add("foo"); // no increase
    assert_eq!(q.len(), 2);
}

/// Mirrors `TestReinsert`.
#[test]
fn reinsert() {
    let q = Queue::new();
    q.add("foo");
    let i = q.get_detached().unwrap();
    assert_eq!(i, "foo");
    q.add(i);
    assert!(q.done(&i));
    let i = q.get_detached().unwrap();
    assert_eq!(i, "foo");
    assert!(q.done(&i));
    assert_eq!(q.len(), 0);
}

/// Mirrors `TestCollapse`.
#[test]
fn collapse() {
    let q = Queue::new();
    q.add("bar");
    q.add("bar");
    let i = q.get_detached().unwrap();
    assert_eq!(i, "bar");
    q.done(&i);
    assert_eq!(q.len(), 0);
}

/// Mirrors `TestCollapseWhileProcessing`: a second worker blocks until the first is done.
#[test]
fn collapse_while_processing() {
    let q: Queue<&str> = Queue::new();
    q.add("foo");
    let i = q.get_detached().unwrap();
    assert_eq!(i, "foo");
    q.add("foo");
    q.add("foo");
    assert_eq!(q.len(), 0, "foo is processing: not queued");
    let q2 = q.clone();
    let worker = thread::spawn(move || {
        let i = q2.get_detached().unwrap();
        assert_eq!(i, "foo");
        q2.done(&i);
    });
    thread::sleep(Duration::from_millis(50));
    assert!(
        !worker.is_finished(),
        "worker should be blocked until we are done"
    );
    assert_eq!(q.try_get().err(), Some(TryGetError::Empty));
    assert!(q.done(&"foo"));
    join_within(worker);
    assert_eq!(q.len(), 0);
}

/// Mirrors `TestQueueDrainageUsingShutDownWithDrain`.
#[test]
fn queue_drainage_using_shut_down_with_drain() {
    let q: Queue<&str> = Queue::new();
    q.add("foo");
    q.add("bar");
    let first = q.get_detached().unwrap();
    let second = q.get_detached().unwrap();
    let q2 = q.clone();
    let drainer = thread::spawn(move || q2.shut_down_with_drain());
    // `get` blocks until the drain has begun, then reports shutdown.
    assert_eq!(q.get_detached(), None);
    assert!(q.shutting_down());
    thread::sleep(Duration::from_millis(20));
    assert!(
        !drainer.is_finished(),
        "drain returned with items processing"
    );
    q.done(&first);
    q.done(&second);
    join_within(drainer);
}

/// Mirrors `TestNoQueueDrainageUsingShutDown`.
#[test]
fn no_queue_drainage_using_shut_down() {
    let q: Queue<&str> = Queue::new();
    q.add("foo");
    q.add("bar");
    let _a = q.get_detached();
    let _b = q.get_detached();
    let q2 = q.clone();
    join_within(thread::spawn(move || q2.shut_down()));
}

/// Mirrors `TestForceQueueShutdownUsingShutDown`.
#[test]
fn force_queue_shutdown_using_shut_down() {
    let q: Queue<&str> = Queue::new();
    q.add("foo");
    q.add("bar");
    let _a = q.get_detached();
    let _b = q.get_detached();
    let q2 = q.clone();
    let drainer = thread::spawn(move || q2.shut_down_with_drain());
    assert_eq!(q.get_detached(), None);
    q.shut_down();
    join_within(drainer);
}

/// Mirrors `TestQueueDrainageUsingShutDownWithDrainWithDirtyItem`.
#[test]
fn queue_drainage_with_dirty_item() {
    let q: Queue<&str> = Queue::new();
    q.add("foo");
    let gotten = q.get_detached().unwrap();
    q.add("foo");
    let q2 = q.clone();
    let drainer = thread::spawn(move || q2.shut_down_with_drain());
    assert_eq!(q.get_detached(), None, "foo is processing: nothing to get");
    q.done(&gotten);
    // done re-queued the dirty foo: get hands it out again.
    let again = q.get_detached().expect("should not have been done");
    assert_eq!(again, "foo");
    q.done(&again);
    assert_eq!(q.get_detached(), None, "should have been done");
    join_within(drainer);
}

/// Mirrors `TestGarbageCollection`: once done, the queue keeps no reference to the item.
#[test]
fn garbage_collection() {
    let q: Queue<Arc<String>> = Queue::new();
    let obj = Arc::new("hello".to_string());
    q.add(obj.clone());
    let g = q.get().unwrap();
    drop(g);
    assert_eq!(Arc::strong_count(&obj), 1);
    assert_eq!(q.len(), 0);
}

// ---------------------------------------------------------------------------------------
// client-go delaying_queue_test.go
// ---------------------------------------------------------------------------------------

/// Mirrors `TestSimpleQueue`.
#[test]
fn simple_delaying_queue() {
    let (fake, q) = fake_queue();
    q.add_after("foo", MS * 50);
    assert_eq!(q.waiting_len(), 1);
    assert_eq!(q.len(), 0, "should not have added");
    fake.advance(MS * 60);
    eventually("foo added", || q.len() == 1);
    q.get().unwrap().done();
    // Step past the next heartbeat: nothing comes back.
    fake.advance(SEC * 10);
    thread::sleep(Duration::from_millis(30));
    assert_eq!(q.len(), 0, "should not have added");
    assert_eq!(q.waiting_len(), 0);
}

/// Mirrors `TestDeduping`: the earlier ready time wins, whichever came first.
#[test]
fn deduping() {
    let (fake, q) = fake_queue();
    q.add_after("foo", MS * 50);
    q.add_after("foo", MS * 70);
    assert_eq!(q.waiting_len(), 1);
    assert_eq!(q.len(), 0);
    fake.advance(MS * 60);
    eventually("foo added", || q.len() == 1);
    q.get().unwrap().done();
    fake.advance(MS * 20);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(q.len(), 0, "the 70 ms entry was merged into the 50 ms one");

    q.add_after("foo", MS * 50);
    q.add_after("foo", MS * 30);
    assert_eq!(q.len(), 0);
    fake.advance(MS * 40);
    eventually("foo added", || q.len() == 1);
    q.get().unwrap().done();
    fake.advance(MS * 20);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(q.len(), 0);
}

/// Mirrors `TestAddTwoFireEarly`.
#[test]
fn add_two_fire_early() {
    let (fake, q) = fake_queue();
    q.add_after("foo", SEC);
    q.add_after("bar", MS * 50);
    assert_eq!(q.len(), 0);
    fake.advance(MS * 60);
    eventually("bar added", || q.len() == 1);
    assert_eq!(q.get_detached(), Some("bar"));
    q.add_after("baz", SEC * 2);
    fake.advance(SEC);
    eventually("foo added", || q.len() == 1);
    assert_eq!(q.get_detached(), Some("foo"));
    fake.advance(SEC * 2);
    eventually("baz added", || q.len() == 1);
    assert_eq!(q.get_detached(), Some("baz"));
}

/// Mirrors `TestCopyShifting`: items become ready in ready-time order.
#[test]
fn copy_shifting() {
    let (fake, q) = fake_queue();
    q.add_after("foo", SEC);
    q.add_after("bar", MS * 500);
    q.add_after("baz", MS * 250);
    assert_eq!(q.len(), 0);
    fake.advance(SEC * 2);
    eventually("3 added", || q.len() == 3);
    assert_eq!(q.get_detached(), Some("baz"));
    assert_eq!(q.get_detached(), Some("bar"));
    assert_eq!(q.get_detached(), Some("foo"));
}

/// `BenchmarkDelayingQueue_AddAfter`'s scenario as a test: many random delays, then all
/// become ready and are handed out once each.
#[test]
fn delaying_queue_many_add_after() {
    const N: u32 = if cfg!(miri) { 200 } else { 2000 };
    let (fake, q) = fake_queue();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..N {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        q.add_after(n, Duration::from_nanos(x % (600 * 1_000_000_000)));
    }
    fake.advance(SEC * 660);
    eventually("all ready", || q.len() == N as usize);
    let mut seen = vec![false; N as usize];
    for _ in 0..N {
        let n = q.get_detached().unwrap();
        assert!(!std::mem::replace(&mut seen[n as usize], true));
    }
}

// ---------------------------------------------------------------------------------------
// client-go rate_limiting_queue_test.go
// ---------------------------------------------------------------------------------------

/// Mirrors `TestRateLimitingQueue`: `add_rate_limited` waits exactly the limiter's delay.
/// client-go reads each waiting entry off its channel; here each delay is observed by
/// stepping the fake clock to 1 ns before it (still waiting) and then to it (ready).
#[test]
fn rate_limiting_queue() {
    let fake = FakeClock::new();
    let q = RateLimitingQueue::with_limiter(
        QueueBuilder::new().clock(fake.clock()),
        ExponentialLimiter::new(MS, SEC),
    );
    let ns = Duration::from_nanos(1);
    let expect_delay = |item: &'static str, d: Duration| {
        q.add_rate_limited(item);
        assert_eq!(q.waiting_len(), 1, "{item} waits");
        fake.advance(d - ns);
        assert_eq!(q.len(), 0, "{item} ready before {d:?}");
        fake.advance(ns);
        eventually("ready", || q.len() == 1);
        let g = q.get().unwrap();
        assert_eq!(*g, item);
        g.done();
    };
    expect_delay("one", MS);
    expect_delay("one", MS * 2);
    assert_eq!(q.num_requeues(&"one"), 2);
    expect_delay("two", MS);
    expect_delay("two", MS * 2);
    q.forget(&"one");
    assert_eq!(q.num_requeues(&"one"), 0);
    expect_delay("one", MS);
    assert_eq!(q.num_requeues(&"two"), 2);
}

// ---------------------------------------------------------------------------------------
// client-go metrics_test.go
// ---------------------------------------------------------------------------------------

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn metered_queue<T: std::hash::Hash + Eq + Clone + Send + 'static>(
) -> (FakeClock, Arc<Recorder>, Queue<T>) {
    let fake = FakeClock::new();
    let v = Arc::new(Recorder::default());
    let q = Queue::builder()
        .name("test")
        .clock(fake.clock())
        .metrics_provider(provider(&v))
        .build();
    (fake, v, q)
}

/// Mirrors `TestMetrics`. Documented difference: the unfinished-work tick runs every
/// 500 ms of the queue clock (client-go's production period; its test uses 1 ms), so
/// the in-flight age checked is 0.5 s instead of 1 ms.
#[test]
fn metrics() {
    let (fake, m, q) = metered_queue();
    q.add("foo");
    assert_eq!(m.gauge("adds"), 1.0);
    assert_eq!(m.gauge("depth"), 1.0);
    fake.advance(Duration::from_micros(50));
    let i = q.get_detached().unwrap();
    assert_eq!(i, "foo");
    let (v, n) = m.last_obs("latency");
    assert!(close(v, 50e-6) && n == 1, "latency {v} x{n}");

    // Re-adds while processing are de-duplicated: one add, depth 1.
    for _ in 0..5 {
        q.add(i);
    }
    assert_eq!(m.gauge("adds"), 2.0);
    assert_eq!(m.gauge("depth"), 1.0);

    fake.advance(Duration::from_micros(25));
    q.done(&i);
    let (v, n) = m.last_obs("work");
    assert!(close(v, 25e-6) && n == 1, "duration {v} x{n}");
    assert_eq!(m.gauge("depth"), 1.0);

    let i = q.get_detached().unwrap();
    assert_eq!(i, "foo");
    let (v, n) = m.last_obs("latency");
    assert!(close(v, 25e-6) && n == 2, "latency {v} x{n}");

    assert!(fake.block_until_waiters(1, HANG));
    let sets = m.sets();
    fake.advance(Duration::from_millis(500));
    eventually("unfinished-work tick", || m.sets() >= sets + 2);
    assert!(
        close(m.gauge("unfinished"), 0.5),
        "{}",
        m.gauge("unfinished")
    );
    assert!(close(m.gauge("longest"), 0.5), "{}", m.gauge("longest"));

    q.done(&i);
    let (v, n) = m.last_obs("work");
    assert!(close(v, 0.5) && n == 2, "duration {v} x{n}");
    q.shut_down();
}

/// Mirrors `TestMetricShutdown`: no unfinished-work update after shutdown.
#[test]
fn metric_shutdown() {
    let (fake, m, q) = metered_queue::<u8>();
    q.add(1);
    let _g = q.get_detached();
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(Duration::from_millis(500));
    eventually("a tick", || m.sets() > 0);
    q.shut_down();
    let sets = m.sets();
    fake.advance(Duration::from_secs(3600));
    thread::sleep(Duration::from_millis(30));
    assert_eq!(m.sets(), sets, "update after shutdown");
}

/// client-go `AddAfter` counts a retry on every call (before the zero-delay shortcut),
/// and none after shutdown.
#[test]
fn retries_metric() {
    let (_fake, m, q) = metered_queue();
    q.add_after("a", Duration::ZERO);
    q.add_after("b", SEC);
    assert_eq!(m.gauge("retries"), 2.0);
    q.shut_down();
    q.add_after("c", SEC);
    assert_eq!(m.gauge("retries"), 2.0);
}

// ---------------------------------------------------------------------------------------
// controller-runtime pkg/controller/priorityqueue/priorityqueue_test.go
// ---------------------------------------------------------------------------------------

fn prio(p: i32) -> AddOpts {
    AddOpts::new().priority(p)
}

fn metered_priority_queue() -> (FakeClock, Arc<Recorder>, PriorityQueue<&'static str>) {
    let fake = FakeClock::new();
    let v = Arc::new(Recorder::default());
    let q = Queue::builder()
        .name("test")
        .clock(fake.clock())
        .metrics_provider(provider(&v))
        .build_priority();
    (fake, v, q)
}

/// Mirrors "returns an item" and "returns items in order".
#[test]
fn pq_returns_items_in_order() {
    let (_f, m, q) = metered_priority_queue();
    q.add_with_opts("foo", AddOpts::new());
    q.add_with_opts("bar", AddOpts::new());
    assert_eq!(q.get_detached(), Some("foo"));
    assert_eq!(q.get_detached(), Some("bar"));
    assert_eq!(m.gauge("depth"), 0.0);
    assert_eq!(m.gauge("adds"), 2.0);
    assert_eq!(m.gauge("retries"), 0.0);
}

/// Mirrors "doesn't return an item that is currently locked".
#[test]
fn pq_does_not_return_a_locked_item() {
    let (_f, m, q) = metered_priority_queue();
    q.add_with_opts("foo", AddOpts::new());
    assert_eq!(q.get_detached(), Some("foo"));
    q.add_with_opts("foo", AddOpts::new());
    q.add_with_opts("bar", AddOpts::new());
    assert_eq!(q.get_detached(), Some("bar"));
    assert_eq!(m.gauge("depth"), 1.0);
    assert_eq!(m.gauge("adds"), 3.0);
}

/// Mirrors "returns an item as soon as its unlocked": an item added while it was being
/// processed keeps the place of that add, so `done` puts it ahead of later adds.
#[test]
fn pq_returns_an_item_as_soon_as_it_is_unlocked() {
    let (_f, m, q) = metered_priority_queue();
    q.add_with_opts("foo", AddOpts::new());
    assert_eq!(q.get_detached(), Some("foo"));
    q.add_with_opts("foo", AddOpts::new()); // re-added while processing
    q.add_with_opts("bar", AddOpts::new());
    assert_eq!(q.get_detached(), Some("bar"));
    q.add_with_opts("baz", AddOpts::new());
    q.done(&"foo");
    assert_eq!(q.get_detached(), Some("foo"), "foo was added before baz");
    assert_eq!(m.gauge("depth"), 1.0);
    assert_eq!(m.gauge("adds"), 4.0);
}

/// The plain queue keeps client-go's order instead: `Done` queues a re-added item at
/// the back, behind everything added meanwhile.
#[test]
fn fifo_done_requeues_at_the_back() {
    let q = Queue::new();
    q.add("foo");
    assert_eq!(q.get_detached(), Some("foo"));
    q.add("foo");
    q.add("bar");
    assert_eq!(q.get_detached(), Some("bar"));
    q.add("baz");
    q.done(&"foo");
    assert_eq!(q.get_detached(), Some("baz"));
    assert_eq!(q.get_detached(), Some("foo"));
}

/// Mirrors "de-duplicates items" and "enqueues a locked item".
#[test]
fn pq_dedup_and_locked_item() {
    let (_f, m, q) = metered_priority_queue();
    q.add_with_opts("foo", AddOpts::new());
    q.add_with_opts("foo", AddOpts::new());
    assert_eq!(q.len(), 1);
    assert_eq!(m.gauge("adds"), 1.0);
    assert_eq!(q.get_detached(), Some("foo"));
    q.add_with_opts("foo", AddOpts::new());
    q.done(&"foo");
    assert_eq!(q.get_detached(), Some("foo"));
    assert_eq!(m.gauge("depth"), 0.0);
    assert_eq!(m.gauge("adds"), 2.0);
}

/// Mirrors "retains the highest priority", "will not decrease the priority" and "gets
/// pushed to the front if the priority increases".
#[test]
fn pq_priority_raise_only() {
    let q = PriorityQueue::new_priority();
    q.add_with_opts("foo", prio(1));
    q.add_with_opts("foo", prio(2));
    assert_eq!(q.len(), 1);
    q.add_with_opts("bar", prio(1));
    assert_eq!(q.get_detached(), Some("foo"));

    let q = PriorityQueue::new_priority();
    q.add_with_opts("foo", prio(2));
    q.add_with_opts("foo", prio(1));
    q.add_with_opts("bar", prio(1));
    assert_eq!(q.get_detached(), Some("foo"), "priority not decreased");

    let q = PriorityQueue::new_priority();
    q.add_with_opts("foo", AddOpts::new());
    q.add_with_opts("bar", AddOpts::new());
    q.add_with_opts("baz", AddOpts::new());
    q.add_with_opts("baz", prio(1));
    assert_eq!(q.get_detached(), Some("baz"));
    assert_eq!(q.len(), 2);
}

/// Mirrors "retains the lowest after duration" and "doesn't include non-ready items in
/// Len()".
#[test]
fn pq_after() {
    let (_f, m, q) = metered_priority_queue();
    q.add_with_opts("foo", AddOpts::new().after(Duration::ZERO));
    q.add_with_opts("foo", AddOpts::new().after(SEC * 3600));
    assert_eq!(q.try_get().map(|g| *g).ok(), Some("foo"));
    assert_eq!(q.len(), 0);
    assert_eq!(q.waiting_len(), 0, "the later ready time was dropped");
    assert_eq!(m.gauge("depth"), 0.0);
    assert_eq!(m.gauge("adds"), 1.0);

    let (_f, m, q) = metered_priority_queue();
    q.add_with_opts("foo", AddOpts::new().after(SEC * 60));
    q.add_with_opts("baz", AddOpts::new());
    q.add_with_opts("bar", AddOpts::new().after(SEC * 60));
    q.add_with_opts("bal", AddOpts::new());
    assert_eq!(q.len(), 2);
    assert_eq!(m.gauge("depth"), 2.0);
}

/// Mirrors "Get from priority queue might get stuck when the priority queue is shut
/// down" (controller-runtime#3239).
#[test]
fn pq_get_after_shutdown_with_waiting_item() {
    let q = PriorityQueue::new_priority();
    q.add("baz");
    q.shut_down();
    q.add_with_opts("foo", AddOpts::new().after(SEC));
    let q2 = q.clone();
    let h = thread::spawn(move || {
        let a = q2.get().map(|g| *g);
        let b = q2.get().map(|g| *g);
        (a, b)
    });
    let (a, b) = join_within(h);
    // Documented: after shutdown `get` still hands out the remaining ready items
    // (client-go), then reports shutdown; the waiting "foo" was never accepted.
    assert_eq!(a, Some("baz"));
    assert_eq!(b, None);
}

/// Mirrors "updates metrics correctly for an item that gets initially added with after
/// and then without".
#[test]
fn pq_metrics_after_then_now() {
    let (_f, m, q) = metered_priority_queue();
    q.add_with_opts("foo", AddOpts::new().after(SEC * 3600));
    assert_eq!(q.len(), 0);
    assert_eq!(m.gauge("depth"), 0.0);
    q.add_with_opts("foo", prio(1));
    assert_eq!(q.len(), 1);
    assert_eq!(m.gauge("depth"), 1.0);
    assert_eq!(q.get_detached(), Some("foo"));
    assert_eq!(q.len(), 0);
    assert_eq!(m.gauge("depth"), 0.0);
    assert_eq!(q.waiting_len(), 0);
}

/// Mirrors "follows FIFO order in the new priority queue when item priority changes".
#[test]
fn pq_fifo_when_priority_changes() {
    let q = PriorityQueue::new_priority();
    q.add_with_opts("foo", prio(0));
    q.add_with_opts("bar", prio(1));
    q.add_with_opts("foo", prio(1));
    assert_eq!(q.len(), 2);
    assert_eq!(q.get_detached(), Some("bar"));
    assert_eq!(q.get_detached(), Some("foo"));
}

/// Mirrors "returns many items": a large mixed queue drains without trouble.
#[test]
fn pq_returns_many_items() {
    let fake = FakeClock::new();
    let q: PriorityQueue<u32> = Queue::builder().clock(fake.clock()).build_priority();
    const N: u32 = if cfg!(miri) { 200 } else { 2000 };
    let mut x: u32 = 12345;
    for i in 0..N {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let rn = (x >> 16) % 100;
        if rn < 10 {
            q.add_with_opts(i, AddOpts::new().after(MS * rn));
        } else {
            q.add_with_opts(i, prio(rn as i32));
        }
    }
    fake.advance(MS * 10);
    eventually("all ready", || q.len() == N as usize);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let mut n = 0;
                while let Ok(g) = q.try_get() {
                    g.done();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u32 = workers.into_iter().map(join_within).sum();
    assert_eq!(total, N);
}

/// Mirrors `TestHighPriorityItemsAreReturnedBeforeLowPriorityItemMultipleTimes` for
/// after = 0 and 1 s: strict priority order, FIFO within a priority, also when every
/// item became ready at the same instant.
#[test]
fn pq_high_priority_first_fifo_within() {
    for after in [Duration::ZERO, SEC] {
        let fake = FakeClock::new();
        let v = Arc::new(Recorder::default());
        let q: PriorityQueue<(i32, u32)> = Queue::builder()
            .name("test")
            .clock(fake.clock())
            .metrics_provider(provider(&v))
            .build_priority();
        let prios = [10, 5, 0, -5, -10];
        const N: u32 = if cfg!(miri) { 20 } else { 200 };
        for i in 0..N {
            for p in prios {
                q.add_with_opts((p, i), prio(p).after(after));
            }
        }
        if after > Duration::ZERO {
            fake.advance(after);
        }
        eventually("all ready", || q.len() == 5 * N as usize);
        for p in prios {
            for i in 0..N {
                assert_eq!(q.get_detached(), Some((p, i)), "after {after:?}");
            }
        }
        assert_eq!(v.gauge("depth"), 0.0);
        assert_eq!(v.gauge("adds"), f64::from(5 * N));
    }
}
