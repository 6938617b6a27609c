//! client-go `metrics_test.go`: exact metric values on a fake clock.
#![cfg(not(loom))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gosync_core::FakeClock;
use gosync_workqueue::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, Queue, SettableGaugeMetric,
};

/// Records every metric value by metric kind.
#[derive(Default)]
struct Recorder {
    gauges: Mutex<HashMap<&'static str, f64>>,
    observations: Mutex<HashMap<&'static str, Vec<f64>>>,
}

struct Handle(Arc<Recorder>, &'static str);

impl GaugeMetric for Handle {
    fn inc(&self) {
        *self.0.gauges.lock().unwrap().entry(self.1).or_default() += 1.0;
    }
    fn dec(&self) {
        *self.0.gauges.lock().unwrap().entry(self.1).or_default() -= 1.0;
    }
}
impl CounterMetric for Handle {
    fn inc(&self) {
        *self.0.gauges.lock().unwrap().entry(self.1).or_default() += 1.0;
    }
}
impl SettableGaugeMetric for Handle {
    fn set(&self, v: f64) {
        self.0.gauges.lock().unwrap().insert(self.1, v);
    }
}
impl HistogramMetric for Handle {
    fn observe(&self, v: f64) {
        self.0
            .observations
            .lock()
            .unwrap()
            .entry(self.1)
            .or_default()
            .push(v);
    }
}

struct Provider(Arc<Recorder>);
impl MetricsProvider for Provider {
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric> {
        assert_eq!(name, "test");
        Box::new(Handle(self.0.clone(), "depth"))
    }
    fn new_adds_metric(&self, _: &str) -> Box<dyn CounterMetric> {
        Box::new(Handle(self.0.clone(), "adds"))
    }
    fn new_latency_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
        Box::new(Handle(self.0.clone(), "latency"))
    }
    fn new_work_duration_metric(&self, _: &str) -> Box<dyn HistogramMetric> {
        Box::new(Handle(self.0.clone(), "work"))
    }
    fn new_unfinished_work_seconds_metric(&self, _: &str) -> Box<dyn SettableGaugeMetric> {
        Box::new(Handle(self.0.clone(), "unfinished"))
    }
    fn new_longest_running_processor_seconds_metric(
        &self,
        _: &str,
    ) -> Box<dyn SettableGaugeMetric> {
        Box::new(Handle(self.0.clone(), "longest"))
    }
    fn new_retries_metric(&self, _: &str) -> Box<dyn CounterMetric> {
        Box::new(Handle(self.0.clone(), "retries"))
    }
}

impl Recorder {
    fn gauge(&self, k: &str) -> f64 {
        self.gauges.lock().unwrap().get(k).copied().unwrap_or(0.0)
    }
    fn obs(&self, k: &str) -> Vec<f64> {
        self.observations
            .lock()
            .unwrap()
            .get(k)
            .cloned()
            .unwrap_or_default()
    }
}

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
        .metrics_provider(Arc::new(Provider(rec.clone())))
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
    let q = Queue::builder()
        .metrics_provider(Arc::new(Provider(rec.clone())))
        .build();
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
