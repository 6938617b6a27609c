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
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(Duration::from_millis(500));
    let deadline = std::time::Instant::now() + HANG;
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
