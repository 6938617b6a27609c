//! client-go `metrics_test.go`: exact metric values on a fake clock.
#![cfg(not(loom))]

use std::sync::Arc;
use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::Queue;

#[path = "support/recorder.rs"]
#[allow(dead_code)] // each test binary uses part of it
mod recorder;
use recorder::{provider, Recorder};

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
    assert!(fake.block_until_waiters(1, Duration::from_secs(20)));
    fake.advance(Duration::from_millis(500));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !close(rec.gauge("unfinished"), 0.5) {
        assert!(
            std::time::Instant::now() < deadline,
            "no unfinished-work tick"
        );
        std::thread::yield_now();
    }
    assert!(close(rec.gauge("longest"), 0.5));
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

#[test]
fn no_metrics_without_a_name() {
    let rec = Arc::new(Recorder::default());
    let q = Queue::builder().metrics_provider(provider(&rec)).build();
    q.add(1);
    assert_eq!(rec.gauge("adds"), 0.0);
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
