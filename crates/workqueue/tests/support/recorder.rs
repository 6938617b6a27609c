//! A metrics provider that records every update, for the tests of the metrics
//! (`tests/metrics.rs`, `tests/conformance.rs`, `tests/loom_workqueue.rs`). The queues
//! under test are named "test".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gosync_workqueue::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, SettableGaugeMetric,
};

/// Every metric's value, by kind: "depth", "adds", "latency", "work", "unfinished",
/// "longest", "retries". Counters and gauges are values; histograms keep every
/// observation. (`std` locks, held for no loom operation, so loom models can use it too.)
#[derive(Default)]
pub(crate) struct Recorder {
    gauges: Mutex<HashMap<&'static str, f64>>,
    observations: Mutex<HashMap<&'static str, Vec<f64>>>,
    sets: Mutex<usize>,
}

impl Recorder {
    /// The value of a counter or gauge (0 if never updated).
    pub(crate) fn gauge(&self, k: &str) -> f64 {
        self.gauges.lock().unwrap().get(k).copied().unwrap_or(0.0)
    }

    /// Every observation of a histogram, in order.
    pub(crate) fn obs(&self, k: &str) -> Vec<f64> {
        self.observations
            .lock()
            .unwrap()
            .get(k)
            .cloned()
            .unwrap_or_default()
    }

    /// The last observation of a histogram and how many there were ((0, 0) if none).
    pub(crate) fn last_obs(&self, k: &str) -> (f64, usize) {
        let obs = self.obs(k);
        (obs.last().copied().unwrap_or(0.0), obs.len())
    }

    /// How many times a settable gauge was set (the unfinished-work ticks).
    pub(crate) fn sets(&self) -> usize {
        *self.sets.lock().unwrap()
    }

    fn bump(&self, k: &'static str, by: f64) {
        *self.gauges.lock().unwrap().entry(k).or_default() += by;
    }
}

/// A provider whose metrics update `rec`.
pub(crate) fn provider(rec: &Arc<Recorder>) -> Arc<dyn MetricsProvider> {
    Arc::new(Provider(rec.clone()))
}

struct Handle(Arc<Recorder>, &'static str);

impl GaugeMetric for Handle {
    fn inc(&self) {
        self.0.bump(self.1, 1.0);
    }
    fn dec(&self) {
        self.0.bump(self.1, -1.0);
    }
}
impl CounterMetric for Handle {
    fn inc(&self) {
        self.0.bump(self.1, 1.0);
    }
}
impl SettableGaugeMetric for Handle {
    fn set(&self, v: f64) {
        self.0.gauges.lock().unwrap().insert(self.1, v);
        *self.0.sets.lock().unwrap() += 1;
    }
}
impl HistogramMetric for Handle {
    fn observe(&self, v: f64) {
        let mut obs = self.0.observations.lock().unwrap();
        obs.entry(self.1).or_default().push(v);
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
