//! `FacadeMetricsProvider`: the client-go metrics through the `metrics` facade crate.

use std::sync::OnceLock;

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
/// # When the recorder is resolved
///
/// Each metric is registered with the `metrics` recorder at its first update, not when
/// the queue is built: a queue may be built before the application installs its
/// recorder, as long as the recorder is in place before the queue is first used (the
/// first `add`, `get`, …). An update made while no recorder is installed registers the
/// metric with `metrics`' no-op recorder, which it then keeps. (`metrics` itself
/// resolves a handle once, when it is registered.) The registration runs in that first
/// update, under the queue's lock, once per metric; a recorder whose registration
/// panics makes that update panic (see [Panic safety](crate#panic-safety): metrics
/// providers). To read the values without any recorder, use
/// [`InMemoryMetrics`](crate::InMemoryMetrics).
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
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub struct FacadeMetricsProvider;

/// A `metrics` handle registered with the recorder in place at its first update, not
/// when the queue is built: a queue built before the application installs its recorder
/// (`metrics::set_global_recorder`, an exporter's `install`) still reports to it, as long
/// as the recorder is in place before the queue is first used.
///
/// A `std` `OnceLock`, also under loom: it holds a reporting handle, never queue state.
struct Lazy<H> {
    metric: &'static str,
    queue: String,
    handle: OnceLock<H>,
    register: fn(&'static str, &str) -> H,
}

impl<H> Lazy<H> {
    fn new(metric: &'static str, queue: &str, register: fn(&'static str, &str) -> H) -> Self {
        Lazy {
            metric,
            queue: queue.to_owned(),
            handle: OnceLock::new(),
            register,
        }
    }

    #[inline]
    fn get(&self) -> &H {
        self.handle
            .get_or_init(|| (self.register)(self.metric, &self.queue))
    }
}

fn register_gauge(metric: &'static str, queue: &str) -> metrics::Gauge {
    metrics::gauge!(metric, "name" => queue.to_owned())
}

fn register_counter(metric: &'static str, queue: &str) -> metrics::Counter {
    metrics::counter!(metric, "name" => queue.to_owned())
}

fn register_histogram(metric: &'static str, queue: &str) -> metrics::Histogram {
    metrics::histogram!(metric, "name" => queue.to_owned())
}

struct Gauge(Lazy<metrics::Gauge>);
struct Counter(Lazy<metrics::Counter>);
struct Histogram(Lazy<metrics::Histogram>);

impl GaugeMetric for Gauge {
    fn inc(&self) {
        self.0.get().increment(1.0);
    }
    fn dec(&self) {
        self.0.get().decrement(1.0);
    }
}

impl SettableGaugeMetric for Gauge {
    fn set(&self, value: f64) {
        self.0.get().set(value);
    }
}

impl CounterMetric for Counter {
    fn inc(&self) {
        self.0.get().increment(1);
    }
}

impl HistogramMetric for Histogram {
    fn observe(&self, value: f64) {
        self.0.get().record(value);
    }
}

fn gauge(metric: &'static str, name: &str) -> Box<Gauge> {
    Box::new(Gauge(Lazy::new(metric, name, register_gauge)))
}

fn counter(metric: &'static str, name: &str) -> Box<Counter> {
    Box::new(Counter(Lazy::new(metric, name, register_counter)))
}

fn histogram(metric: &'static str, name: &str) -> Box<Histogram> {
    Box::new(Histogram(Lazy::new(metric, name, register_histogram)))
}

impl MetricsProvider for FacadeMetricsProvider {
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric> {
        gauge("workqueue_depth", name)
    }
    fn new_adds_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        counter("workqueue_adds_total", name)
    }
    fn new_latency_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        histogram("workqueue_queue_duration_seconds", name)
    }
    fn new_work_duration_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        histogram("workqueue_work_duration_seconds", name)
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
        counter("workqueue_retries_total", name)
    }
}
