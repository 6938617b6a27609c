//! `QueueBuilder`: a queue's name, clock and metrics provider.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use gosync_core::Clock;

use crate::metrics::{MetricsProvider, QueueMetrics};
use crate::queue::{PriorityQueue, Queue};
use crate::state::UNFINISHED_WORK_PERIOD;
use crate::storage::Storage;

/// Configures a [`Queue`] or [`PriorityQueue`] (client-go `QueueConfig`).
///
/// # Examples
///
/// ```
/// use gosync_core::FakeClock;
/// use gosync_workqueue::Queue;
///
/// let fake = FakeClock::new();
/// let q: Queue<String> = Queue::builder().name("secrets").clock(fake.clock()).build();
/// q.add("ns/name".to_string());
/// assert_eq!(q.len(), 1);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct QueueBuilder {
    name: String,
    clock: Clock,
    provider: Option<Arc<dyn MetricsProvider>>,
    metrics_period: Duration,
}

impl Default for QueueBuilder {
    fn default() -> Self {
        QueueBuilder {
            name: String::new(),
            clock: Clock::default(),
            provider: None,
            metrics_period: UNFINISHED_WORK_PERIOD,
        }
    }
}

impl QueueBuilder {
    /// The defaults: unnamed, real clock, no metrics, metrics gauges set every 500 ms.
    pub fn new() -> Self {
        QueueBuilder::default()
    }

    /// The queue's name: the `name` label of its metrics. Metrics need a non-empty name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The clock for delays, timeouts and metrics (default: the real clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Where the queue's metrics go. Without it the queue keeps none. A queue with a
    /// provider needs a [`name`](QueueBuilder::name): `build` panics without one
    /// (client-go silently keeps no metrics then).
    ///
    /// To read the values without a third-party recorder, use
    /// [`InMemoryMetrics`](crate::InMemoryMetrics).
    pub fn metrics_provider(mut self, provider: Arc<dyn MetricsProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// How often the two gauges of work in flight, `unfinished_work_seconds` and
    /// `longest_running_processor_seconds`, are computed and set, on the queue's clock
    /// (client-go's `unfinishedWorkUpdatePeriod`; default 500 ms, its
    /// `defaultUnfinishedWorkUpdatePeriod`). Each update walks the items being processed,
    /// not the whole queue. Only a queue with metrics has the periodic update.
    ///
    /// # Panics
    ///
    /// If `period` is zero (as Go's `time.NewTicker`, which client-go uses).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::Queue;
    /// use std::time::Duration;
    ///
    /// let q: Queue<&str> = Queue::builder()
    ///     .name("fast")
    ///     .metrics_update_period(Duration::from_millis(1))
    ///     .build();
    /// q.shut_down();
    /// ```
    pub fn metrics_update_period(mut self, period: Duration) -> Self {
        assert!(
            !period.is_zero(),
            "gosync_workqueue: the metrics update period must be positive"
        );
        self.metrics_period = period;
        self
    }

    /// Builds a FIFO [`Queue`].
    ///
    /// # Panics
    ///
    /// If a [metrics provider](QueueBuilder::metrics_provider) is set without a
    /// [name](QueueBuilder::name): the metrics would otherwise vanish without a trace.
    pub fn build<T: Hash + Eq + Clone + Send + 'static>(self) -> Queue<T> {
        self.build_with()
    }

    /// Builds a [`PriorityQueue`].
    ///
    /// # Panics
    ///
    /// As [`build`](QueueBuilder::build).
    pub fn build_priority<T: Hash + Eq + Clone + Send + 'static>(self) -> PriorityQueue<T> {
        self.build_with()
    }

    pub(crate) fn build_with<
        T: Hash + Eq + Clone + Send + 'static,
        S: Storage<T> + Send + 'static,
    >(
        self,
    ) -> Queue<T, S> {
        let metrics = self.provider.as_ref().map(|p| {
            assert!(
                !self.name.is_empty(),
                "gosync_workqueue: a queue with a metrics provider needs a name \
                 (QueueBuilder::name): its metrics are labelled by it"
            );
            QueueMetrics::new(p, &self.name)
        });
        Queue::from_parts(self.clock, metrics, self.metrics_period)
    }
}

impl fmt::Debug for QueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("name", &self.name)
            .field("clock", &self.clock)
            .field("metrics", &self.provider.is_some())
            .field("metrics_update_period", &self.metrics_period)
            .finish()
    }
}
