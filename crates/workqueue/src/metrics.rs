//! The seven client-go work-queue metrics and the [`MetricsProvider`] that creates them.

use std::fmt;
use std::sync::Arc;

/// A gauge that goes up and down by one (`workqueue_depth`).
pub trait GaugeMetric: Send + Sync {
    /// Adds one.
    fn inc(&self);
    /// Subtracts one.
    fn dec(&self);
}

/// A gauge set to a value (`workqueue_unfinished_work_seconds`,
/// `workqueue_longest_running_processor_seconds`).
pub trait SettableGaugeMetric: Send + Sync {
    /// Sets the value.
    fn set(&self, value: f64);
}

/// A monotonically increasing counter (`workqueue_adds_total`, `workqueue_retries_total`).
pub trait CounterMetric: Send + Sync {
    /// Adds one.
    fn inc(&self);
}

/// A distribution of observed values in seconds (`workqueue_queue_duration_seconds`,
/// `workqueue_work_duration_seconds`).
pub trait HistogramMetric: Send + Sync {
    /// Records one observation.
    fn observe(&self, value: f64);
}

/// Creates the metrics of a named queue, as client-go's `workqueue.MetricsProvider`.
///
/// Set one with [`QueueBuilder::metrics_provider`](crate::QueueBuilder::metrics_provider)
/// together with a non-empty [`name`](crate::QueueBuilder::name); a queue without both
/// keeps no metrics and pays nothing for them. The update rules are client-go's:
///
/// | metric | updated when |
/// |---|---|
/// | depth | +1 when an item becomes dirty (an `add` that was not deduplicated), −1 when `get` hands it out |
/// | adds | +1 when an item becomes dirty |
/// | queue latency | at `get`: seconds since the item became dirty |
/// | work duration | at `done`: seconds since the `get` |
/// | unfinished work seconds | every update period (queue clock; 500 ms unless [`QueueBuilder::metrics_update_period`](crate::QueueBuilder::metrics_update_period) sets another): sum of the ages of all in-flight items |
/// | longest running processor seconds | every update period: age of the oldest in-flight item |
/// | retries | +1 on every `add_after` (so every `add_rate_limited`) before shutdown |
///
/// As in client-go, the metrics are updated while the queue's lock is held, so each
/// operation has made its updates when it returns and the metrics never disagree with
/// the queue. Their methods must therefore be quick, and must not call back into the
/// queue that updates them (that would deadlock).
///
/// # Examples
///
/// ```
/// use gosync_workqueue::{CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider,
///     Queue, SettableGaugeMetric};
/// use std::sync::atomic::{AtomicI64, Ordering};
/// use std::sync::Arc;
///
/// #[derive(Default)]
/// struct Depth(Arc<AtomicI64>);
/// impl GaugeMetric for Depth {
///     fn inc(&self) { self.0.fetch_add(1, Ordering::Relaxed); }
///     fn dec(&self) { self.0.fetch_sub(1, Ordering::Relaxed); }
/// }
/// struct Nop;
/// impl CounterMetric for Nop { fn inc(&self) {} }
/// impl HistogramMetric for Nop { fn observe(&self, _: f64) {} }
/// impl SettableGaugeMetric for Nop { fn set(&self, _: f64) {} }
///
/// struct Provider(Arc<AtomicI64>);
/// impl MetricsProvider for Provider {
///     fn new_depth_metric(&self, _: &str) -> Box<dyn GaugeMetric> { Box::new(Depth(self.0.clone())) }
///     fn new_adds_metric(&self, _: &str) -> Box<dyn CounterMetric> { Box::new(Nop) }
///     fn new_latency_metric(&self, _: &str) -> Box<dyn HistogramMetric> { Box::new(Nop) }
///     fn new_work_duration_metric(&self, _: &str) -> Box<dyn HistogramMetric> { Box::new(Nop) }
///     fn new_unfinished_work_seconds_metric(&self, _: &str) -> Box<dyn SettableGaugeMetric> { Box::new(Nop) }
///     fn new_longest_running_processor_seconds_metric(&self, _: &str) -> Box<dyn SettableGaugeMetric> { Box::new(Nop) }
///     fn new_retries_metric(&self, _: &str) -> Box<dyn CounterMetric> { Box::new(Nop) }
/// }
///
/// let depth = Arc::new(AtomicI64::new(0));
/// let q = Queue::builder().name("demo").metrics_provider(Arc::new(Provider(depth.clone()))).build();
/// q.add("a");
/// q.add("b");
/// q.add("a"); // deduplicated: not counted
/// assert_eq!(depth.load(Ordering::Relaxed), 2);
/// q.shut_down();
/// ```
pub trait MetricsProvider: Send + Sync {
    /// `workqueue_depth`: items waiting to be handed out.
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric>;
    /// `workqueue_adds_total`: adds that were not deduplicated.
    fn new_adds_metric(&self, name: &str) -> Box<dyn CounterMetric>;
    /// `workqueue_queue_duration_seconds`: time from add to get.
    fn new_latency_metric(&self, name: &str) -> Box<dyn HistogramMetric>;
    /// `workqueue_work_duration_seconds`: time from get to done.
    fn new_work_duration_metric(&self, name: &str) -> Box<dyn HistogramMetric>;
    /// `workqueue_unfinished_work_seconds`: total age of the in-flight items.
    fn new_unfinished_work_seconds_metric(&self, name: &str) -> Box<dyn SettableGaugeMetric>;
    /// `workqueue_longest_running_processor_seconds`: age of the oldest in-flight item.
    fn new_longest_running_processor_seconds_metric(
        &self,
        name: &str,
    ) -> Box<dyn SettableGaugeMetric>;
    /// `workqueue_retries_total`: `add_after` calls.
    fn new_retries_metric(&self, name: &str) -> Box<dyn CounterMetric>;
}

/// The metric handles of one queue. Updated under the queue lock, as in client-go.
pub(crate) struct QueueMetrics {
    pub(crate) depth: Box<dyn GaugeMetric>,
    pub(crate) adds: Box<dyn CounterMetric>,
    pub(crate) latency: Box<dyn HistogramMetric>,
    pub(crate) work_duration: Box<dyn HistogramMetric>,
    pub(crate) unfinished: Box<dyn SettableGaugeMetric>,
    pub(crate) longest: Box<dyn SettableGaugeMetric>,
    pub(crate) retries: Box<dyn CounterMetric>,
}

impl QueueMetrics {
    pub(crate) fn new(provider: &Arc<dyn MetricsProvider>, name: &str) -> QueueMetrics {
        QueueMetrics {
            depth: provider.new_depth_metric(name),
            adds: provider.new_adds_metric(name),
            latency: provider.new_latency_metric(name),
            work_duration: provider.new_work_duration_metric(name),
            unfinished: provider.new_unfinished_work_seconds_metric(name),
            longest: provider.new_longest_running_processor_seconds_metric(name),
            retries: provider.new_retries_metric(name),
        }
    }

    /// Counts an item that became dirty: one add, one more in the depth gauge.
    #[inline]
    pub(crate) fn add(&self) {
        self.adds.inc();
        self.depth.inc();
    }
}

impl fmt::Debug for QueueMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueMetrics")
    }
}
