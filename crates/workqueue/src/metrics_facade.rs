//! `FacadeMetricsProvider`: the client-go metrics through the `metrics` facade crate.

use crate::metrics::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, SettableGaugeMetric,
};

/// A [`MetricsProvider`] that reports to the [`metrics`] facade under client-go's names
/// (`workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds`,
/// `workqueue_work_duration_seconds`, `workqueue_unfinished_work_seconds`,
/// `workqueue_longest_running_processor_seconds`, `workqueue_retries_total`), each with a
/// `name` label holding the queue's name. Install any `metrics` recorder (for example a
/// Prometheus exporter) to see them. Needs the cargo feature `metrics`.
///
/// # Examples
///
/// ```
/// use gosync_workqueue::{FacadeMetricsProvider, Queue};
/// use std::sync::Arc;
///
/// let q: Queue<u32> = Queue::builder()
///     .name("pods")
///     .metrics_provider(Arc::new(FacadeMetricsProvider))
///     .build();
/// q.add(1);
/// q.shut_down();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FacadeMetricsProvider;

struct Gauge(metrics::Gauge);
struct Counter(metrics::Counter);
struct Histogram(metrics::Histogram);

impl GaugeMetric for Gauge {
    fn inc(&self) {
        self.0.increment(1.0);
    }
    fn dec(&self) {
        self.0.decrement(1.0);
    }
}

impl SettableGaugeMetric for Gauge {
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl CounterMetric for Counter {
    fn inc(&self) {
        self.0.increment(1);
    }
}

impl HistogramMetric for Histogram {
    fn observe(&self, value: f64) {
        self.0.record(value);
    }
}

fn gauge(metric: &'static str, name: &str) -> Box<Gauge> {
    Box::new(Gauge(metrics::gauge!(metric, "name" => name.to_owned())))
}

impl MetricsProvider for FacadeMetricsProvider {
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric> {
        gauge("workqueue_depth", name)
    }
    fn new_adds_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        Box::new(Counter(
            metrics::counter!("workqueue_adds_total", "name" => name.to_owned()),
        ))
    }
    fn new_latency_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        Box::new(Histogram(
            metrics::histogram!("workqueue_queue_duration_seconds", "name" => name.to_owned()),
        ))
    }
    fn new_work_duration_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        Box::new(Histogram(
            metrics::histogram!("workqueue_work_duration_seconds", "name" => name.to_owned()),
        ))
    }
    fn new_unfinished_work_seconds_metric(&self, name: &str) -> Box<dyn SettableGaugeMetric> {
        gauge("workqueue_unfinished_work_seconds", name)
    }
    fn new_longest_running_processor_seconds_metric(
        &self,
        name: &str,
    ) -> Box<dyn SettableGaugeMetric> {
        gauge("workqueue_longest_running_processor_seconds", name)
    }
    fn new_retries_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        Box::new(Counter(
            metrics::counter!("workqueue_retries_total", "name" => name.to_owned()),
        ))
    }
}
