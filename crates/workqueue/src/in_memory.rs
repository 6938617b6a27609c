//! `InMemoryMetrics`: a [`MetricsProvider`] that keeps the seven metrics in memory, to be
//! read with [`InMemoryMetrics::snapshot`].

use std::collections::HashMap;
use std::fmt;
// Plain `std` atomics, also under loom: the values are only counters read by the user,
// never a decision of the queue, and every update is a single RMW (`Relaxed` throughout).
use std::sync::atomic::{
    AtomicI64, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex, PoisonError};

use crate::metrics::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, SettableGaugeMetric,
};

/// A [`MetricsProvider`] that keeps each queue's seven metrics in memory: no third-party
/// recorder is needed to read them. One provider can serve several queues; each is
/// found by its [name](crate::QueueBuilder::name).
///
/// Updates are lock-free atomic operations (the queue makes them under its lock, so they
/// must be cheap); [`snapshot`](InMemoryMetrics::snapshot) reads them without touching
/// the queue.
///
/// # Examples
///
/// ```
/// use gosync_workqueue::{InMemoryMetrics, Queue};
/// use std::sync::Arc;
///
/// let metrics = Arc::new(InMemoryMetrics::new());
/// let q = Queue::builder().name("pods").metrics_provider(metrics.clone()).build();
/// q.add("a");
/// q.add("b");
/// q.add("a"); // deduplicated: not counted
/// q.get().unwrap().done();
///
/// let m = metrics.snapshot("pods").unwrap();
/// assert_eq!(m.depth, 1);
/// assert_eq!(m.adds, 2);
/// assert_eq!(m.queue_latency.count, 1);
/// assert_eq!(m.work_duration.count, 1);
/// assert_eq!(m.retries, 0);
/// assert!(metrics.snapshot("nodes").is_none());
/// q.shut_down();
/// ```
#[derive(Default)]
pub struct InMemoryMetrics {
    queues: Mutex<HashMap<String, Arc<Values>>>,
}

/// The seven client-go metrics of one queue at one moment (see [`MetricsProvider`] for
/// when each is updated). Each value is read on its own: under concurrent updates two of
/// them may be from slightly different moments.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// `workqueue_depth`: items ready to be handed out.
    pub depth: i64,
    /// `workqueue_adds_total`: adds that were not deduplicated.
    pub adds: u64,
    /// `workqueue_queue_duration_seconds`: time from add to get.
    pub queue_latency: HistogramSnapshot,
    /// `workqueue_work_duration_seconds`: time from get to done.
    pub work_duration: HistogramSnapshot,
    /// `workqueue_unfinished_work_seconds`: total age of the items in flight, as last set.
    pub unfinished_work_seconds: f64,
    /// `workqueue_longest_running_processor_seconds`: age of the oldest item in flight,
    /// as last set.
    pub longest_running_processor_seconds: f64,
    /// `workqueue_retries_total`: `add_after` calls (so `add_rate_limited` calls).
    pub retries: u64,
}

/// A histogram's observations, summarized: how many, their sum, and the last one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct HistogramSnapshot {
    /// How many values were observed.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
    /// The last value observed (0 if none).
    pub last: f64,
}

impl InMemoryMetrics {
    /// A provider with no queue yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let metrics = gosync_workqueue::InMemoryMetrics::new();
    /// assert!(metrics.snapshot("any").is_none());
    /// ```
    pub fn new() -> Self {
        InMemoryMetrics::default()
    }

    /// The metrics of the queue named `name`, or `None` if no queue of that name was
    /// built with this provider. A queue built again under the same name shares the
    /// values (as a client-go provider's metrics vectors, labelled by name, do).
    ///
    /// # Examples
    ///
    /// See [`InMemoryMetrics`].
    pub fn snapshot(&self, name: &str) -> Option<MetricsSnapshot> {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        queues.get(name).map(|v| v.snapshot())
    }

    /// The names of the queues built with this provider, sorted.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::{InMemoryMetrics, Queue};
    /// use std::sync::Arc;
    ///
    /// let metrics = Arc::new(InMemoryMetrics::new());
    /// let q: Queue<u8> = Queue::builder().name("a").metrics_provider(metrics.clone()).build();
    /// assert_eq!(metrics.names(), ["a"]);
    /// # q.shut_down();
    /// ```
    pub fn names(&self) -> Vec<String> {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = queues.keys().cloned().collect();
        names.sort();
        names
    }

    fn values(&self, name: &str) -> Arc<Values> {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(queues.entry(name.to_owned()).or_default())
    }
}

impl fmt::Debug for InMemoryMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock`: never blocks (a provider is locked only while a queue is built).
        let mut d = f.debug_struct("InMemoryMetrics");
        match self.queues.try_lock() {
            Ok(queues) => d.field("queues", &queues.len()).finish(),
            Err(_) => d.finish_non_exhaustive(),
        }
    }
}

/// The values of one queue.
#[derive(Default)]
struct Values {
    depth: AtomicI64,
    adds: AtomicU64,
    latency: Hist,
    work: Hist,
    /// `f64` bits.
    unfinished: AtomicU64,
    /// `f64` bits.
    longest: AtomicU64,
    retries: AtomicU64,
}

impl Values {
    fn snapshot(&self) -> MetricsSnapshot {
        // The tick sets `unfinished`, then `longest`. Acquire pairs with the Release in
        // `Handle::set`: a snapshot that sees a tick's `longest` sees its `unfinished`
        // (or a later one) too, so the two gauges never come from two different ticks in
        // the wrong order.
        let longest = f64::from_bits(self.longest.load(Acquire));
        MetricsSnapshot {
            depth: self.depth.load(Relaxed),
            adds: self.adds.load(Relaxed),
            queue_latency: self.latency.snapshot(),
            work_duration: self.work.snapshot(),
            unfinished_work_seconds: f64::from_bits(self.unfinished.load(Relaxed)),
            longest_running_processor_seconds: longest,
            retries: self.retries.load(Relaxed),
        }
    }
}

#[derive(Default)]
struct Hist {
    count: AtomicU64,
    /// `f64` bits.
    sum: AtomicU64,
    /// `f64` bits.
    last: AtomicU64,
}

impl Hist {
    fn observe(&self, value: f64) {
        let _ = self.sum.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + value).to_bits())
        });
        self.last.store(value.to_bits(), Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            count: self.count.load(Relaxed),
            sum: f64::from_bits(self.sum.load(Relaxed)),
            last: f64::from_bits(self.last.load(Relaxed)),
        }
    }
}

/// Which value of a queue a handle updates.
#[derive(Clone, Copy)]
enum Which {
    Depth,
    Adds,
    Latency,
    Work,
    Unfinished,
    Longest,
    Retries,
}

struct Handle(Arc<Values>, Which);

impl GaugeMetric for Handle {
    fn inc(&self) {
        self.0.depth.fetch_add(1, Relaxed);
    }
    fn dec(&self) {
        self.0.depth.fetch_sub(1, Relaxed);
    }
}

impl CounterMetric for Handle {
    fn inc(&self) {
        match self.1 {
            Which::Adds => &self.0.adds,
            _ => &self.0.retries,
        }
        .fetch_add(1, Relaxed);
    }
}

impl HistogramMetric for Handle {
    fn observe(&self, value: f64) {
        match self.1 {
            Which::Latency => &self.0.latency,
            _ => &self.0.work,
        }
        .observe(value);
    }
}

impl SettableGaugeMetric for Handle {
    fn set(&self, value: f64) {
        match self.1 {
            Which::Unfinished => &self.0.unfinished,
            _ => &self.0.longest,
        }
        // Release: pairs with the Acquire in `Values::snapshot`.
        .store(value.to_bits(), Release);
    }
}

impl InMemoryMetrics {
    fn handle(&self, name: &str, which: Which) -> Box<Handle> {
        Box::new(Handle(self.values(name), which))
    }
}

impl MetricsProvider for InMemoryMetrics {
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric> {
        self.handle(name, Which::Depth)
    }
    fn new_adds_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        self.handle(name, Which::Adds)
    }
    fn new_latency_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        self.handle(name, Which::Latency)
    }
    fn new_work_duration_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        self.handle(name, Which::Work)
    }
    fn new_unfinished_work_seconds_metric(&self, name: &str) -> Box<dyn SettableGaugeMetric> {
        self.handle(name, Which::Unfinished)
    }
    fn new_longest_running_processor_seconds_metric(
        &self,
        name: &str,
    ) -> Box<dyn SettableGaugeMetric> {
        self.handle(name, Which::Longest)
    }
    fn new_retries_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        self.handle(name, Which::Retries)
    }
}
