//! client-go `metrics_test.go`: exact metric values on a fake clock.
#![cfg(not(loom))]

use std::sync::Arc;
use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::{InMemoryMetrics, MetricsSnapshot, Queue};

#[path = "support/recorder.rs"]
#[allow(dead_code)] // each test binary uses part of it
mod recorder;
use recorder::{provider, Recorder};

/// A real-time hang guard (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

#[test]
fn metric_values() {
    let fake = FakeClock::new();
    let rec = Arc::new(Recorder::default());
    let q = Queue::builder()
        .name("test")
        .clock(fake.clock())
        .metrics_provider(provider(&rec))
        .build();

    q.add("foo");
    assert_eq!(rec.gauge("adds"), 1.0);
    assert_eq!(rec.gauge("depth"), 1.0);
    fake.advance(us(50));
    let foo = q.get_detached().unwrap();
    assert_eq!(rec.gauge("depth"), 0.0);
    assert_eq!(rec.obs("latency").len(), 1);
    assert!(close(rec.obs("latency")[0], 50e-6));

    // Re-add while processing: counted as an add (dirty), not a duplicate.
    q.add("foo");
    q.add("foo");
    assert_eq!(rec.gauge("adds"), 2.0);
    assert_eq!(rec.gauge("depth"), 1.0);
    fake.advance(us(25));
    q.done(&foo);
    assert!(close(rec.obs("work")[0], 25e-6));

    fake.advance(us(10));
    let foo = q.get_detached().unwrap();
    // Latency counts from the add while processing: 25 + 10 µs.
    assert!(close(rec.obs("latency")[1], 35e-6));

    // Unfinished work: the loop ticks every 500 ms of the queue clock.
    // The update sets two gauges, one after the other: wait for both `set` calls (waiting
    // for the first gauge's value alone raced the second's).
    assert!(fake.block_until_waiters(1, HANG));
    let sets = rec.sets();
    fake.advance(Duration::from_millis(500));
    let deadline = std::time::Instant::now() + HANG;
    while rec.sets() < sets + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no unfinished-work tick"
        );
        std::thread::yield_now();
    }
    assert!(
        close(rec.gauge("unfinished"), 0.5),
        "{}",
        rec.gauge("unfinished")
    );
    assert!(close(rec.gauge("longest"), 0.5), "{}", rec.gauge("longest"));
    q.done(&foo);
    assert!(close(rec.obs("work")[1], 0.5));

    // Retries: every add_after, including a zero delay.
    q.add_after("bar", Duration::ZERO);
    q.add_after("baz", Duration::from_secs(1));
    assert_eq!(rec.gauge("retries"), 2.0);
    assert_eq!(rec.gauge("adds"), 3.0, "baz is only waiting: not added yet");
    q.shut_down();
    q.add("late");
    assert_eq!(rec.gauge("adds"), 3.0);
}

/// A provider without a queue name used to be dropped without a word (as client-go
/// does); the build now says so.
#[test]
#[should_panic(expected = "needs a name")]
fn a_provider_without_a_name_panics_at_build() {
    let rec = Arc::new(Recorder::default());
    let _q: Queue<u8> = Queue::builder().metrics_provider(provider(&rec)).build();
}

/// The in-memory provider reports the seven metrics of client-go's scenario.
#[test]
fn in_memory_metrics_snapshot() {
    let fake = FakeClock::new();
    let metrics = Arc::new(InMemoryMetrics::new());
    let q = Queue::builder()
        .name("test")
        .clock(fake.clock())
        .metrics_provider(metrics.clone())
        .metrics_update_period(Duration::from_millis(1))
        .build();
    assert!(fake.block_until_waiters(1, Duration::from_secs(20)));
    let snap = || metrics.snapshot("test").unwrap();
    assert_eq!(snap(), MetricsSnapshot::default());
    q.add("foo");
    fake.advance(us(50));
    let foo = q.get_detached().unwrap();
    q.add("foo");
    fake.advance(us(25));
    q.done(&foo);
    let foo = q.get_detached().unwrap();
    fake.advance(Duration::from_millis(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while snap().longest_running_processor_seconds == 0.0 {
        assert!(std::time::Instant::now() < deadline, "no update");
        std::thread::yield_now();
    }
    let m = snap();
    assert_eq!(m.unfinished_work_seconds, 0.001);
    assert_eq!(m.longest_running_processor_seconds, 0.001);
    q.done(&foo);
    q.add_after("bar", Duration::from_secs(1));
    let m = snap();
    assert_eq!((m.depth, m.adds, m.retries), (0, 2, 1));
    assert_eq!(m.queue_latency.count, 2);
    assert!(close(m.queue_latency.sum, 75e-6));
    assert_eq!(m.queue_latency.last, 2.5e-05);
    assert_eq!(m.work_duration.count, 2);
    assert!(close(m.work_duration.sum, 0.001025));
    assert_eq!(m.work_duration.last, 0.001);
    assert_eq!(metrics.names(), ["test"]);
    q.shut_down();
}

/// `FacadeMetricsProvider` registers each metric at its first update: a queue built
/// before the recorder is installed reports to it. (Before, the handles were resolved at
/// build, to the no-op recorder, and this queue reported nothing.) A thread-local recorder
/// stands in for the global one, which a test binary can set only once.
#[cfg(feature = "metrics")]
#[test]
fn facade_provider_resolves_the_recorder_at_first_update() {
    use metrics_probe::Probe;
    let q: Queue<u8> = Queue::builder()
        .name("late-recorder")
        .metrics_provider(Arc::new(gosync_workqueue::FacadeMetricsProvider))
        .build();
    let probe = Probe::default();
    metrics::with_local_recorder(&probe, || {
        q.add(1);
        q.add(2);
    });
    assert_eq!(probe.counter("workqueue_adds_total"), 2);
    q.shut_down();
}

#[cfg(feature = "metrics")]
mod metrics_probe {
    use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder};
    use metrics::{SharedString, Unit};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// A recorder that counts its counters.
    #[derive(Default)]
    pub(crate) struct Probe {
        counters: Mutex<HashMap<String, Arc<Count>>>,
    }

    #[derive(Default)]
    pub(crate) struct Count(AtomicU64);

    impl CounterFn for Count {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.store(value, Ordering::Relaxed);
        }
    }

    impl Probe {
        pub(crate) fn counter(&self, name: &str) -> u64 {
            let counters = self.counters.lock().unwrap();
            counters
                .get(name)
                .map_or(0, |c| c.0.load(Ordering::Relaxed))
        }
    }

    impl Recorder for Probe {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let mut counters = self.counters.lock().unwrap();
            let c = counters.entry(key.name().to_owned()).or_default();
            Counter::from_arc(Arc::clone(c))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }
}

#[cfg(feature = "metrics")]
#[test]
fn facade_provider_builds() {
    let q: Queue<u8> = Queue::builder()
        .name("facade")
        .metrics_provider(Arc::new(gosync_workqueue::FacadeMetricsProvider))
        .build();
    q.add(1);
    q.get().unwrap().done();
    q.shut_down();
}

/// client-go's `TestMetrics` (queue/metrics_test.go): a queue whose unfinished-work
/// gauges are updated every 1 ms, and a fake clock stepped by 1 ms.
#[test]
fn client_go_test_metrics_with_a_1ms_update_period() {
    let fake = FakeClock::new();
    let rec = Arc::new(Recorder::default());
    let q = Queue::builder()
        .name("test")
        .clock(fake.clock())
        .metrics_provider(provider(&rec))
        .metrics_update_period(Duration::from_millis(1))
        .build();
    // The update loop waits on the fake clock.
    assert!(fake.block_until_waiters(1, Duration::from_secs(20)));

    q.add("foo");
    assert_eq!(rec.gauge("adds"), 1.0);
    assert_eq!(rec.gauge("depth"), 1.0);

    fake.advance(us(50));
    // Start processing.
    let i = q.get_detached().unwrap();
    assert_eq!(i, "foo");
    assert_eq!(rec.last_obs("latency"), (5e-05, 1));
    assert_eq!(rec.gauge("depth"), 0.0);

    // Add it back while processing; multiple adds of the same item are de-duped.
    for _ in 0..5 {
        q.add(i);
    }
    assert_eq!(rec.gauge("adds"), 2.0);
    // One thing remains in the queue.
    assert_eq!(rec.gauge("depth"), 1.0);

    fake.advance(us(25));
    // Finish it up.
    q.done(&i);
    assert_eq!(rec.last_obs("work"), (2.5e-05, 1));
    // One thing remains in the queue.
    assert_eq!(rec.gauge("depth"), 1.0);

    // It should be back on the queue.
    let i = q.get_detached().unwrap();
    assert_eq!(i, "foo");
    assert_eq!(rec.last_obs("latency"), (2.5e-05, 2));

    // One step of the update period sets both gauges (client-go waits on a channel the
    // gauges notify; here, on the count of `set` calls).
    let sets = rec.sets();
    fake.advance(Duration::from_millis(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rec.sets() < sets + 2 {
        assert!(std::time::Instant::now() < deadline, "no update after 1 ms");
        std::thread::yield_now();
    }
    assert_eq!(rec.gauge("unfinished"), 0.001);
    assert_eq!(rec.gauge("longest"), 0.001);

    // Finish that one up.
    q.done(&i);
    assert_eq!(rec.last_obs("work"), (0.001, 2));
    q.shut_down();
}

/// The update walks the processing items only; several at once, finished in another
/// order than they started, give the sum and the oldest age.
#[test]
fn unfinished_work_over_several_processing_items() {
    let fake = FakeClock::new();
    let rec = Arc::new(Recorder::default());
    let q = Queue::builder()
        .name("test")
        .clock(fake.clock())
        .metrics_provider(provider(&rec))
        .metrics_update_period(Duration::from_millis(1))
        .build();
    assert!(fake.block_until_waiters(1, Duration::from_secs(20)));
    let tick = |want_total: f64, want_oldest: f64| {
        let sets = rec.sets();
        fake.advance(Duration::from_millis(1));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while rec.sets() < sets + 2 {
            assert!(std::time::Instant::now() < deadline, "no update");
            std::thread::yield_now();
        }
        assert!(
            close(rec.gauge("unfinished"), want_total),
            "{}",
            rec.gauge("unfinished")
        );
        assert!(
            close(rec.gauge("longest"), want_oldest),
            "{}",
            rec.gauge("longest")
        );
    };
    for k in 0..100 {
        q.add(k); // queued, not processing: not counted
    }
    let a = q.get_detached().unwrap(); // starts at 0
    tick(0.001, 0.001);
    let b = q.get_detached().unwrap(); // starts at 1 ms
    let c = q.get_detached().unwrap();
    tick(0.002 + 0.001 + 0.001, 0.002);
    q.done(&a); // the oldest ends: its slot is reused
    let d = q.get_detached().unwrap(); // starts at 2 ms
    tick(0.002 + 0.002 + 0.001, 0.002);
    for k in [b, c, d] {
        q.done(&k);
    }
    tick(0.0, 0.0);
    q.shut_down();
}
