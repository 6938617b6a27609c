//! `AddOpts`: the options of a priority queue's `add_with_opts`.

use std::time::Duration;

/// Options for [`PriorityQueue::add_with_opts`](crate::Queue::add_with_opts) and
/// [`RateLimitingQueue::add_with_opts`](crate::RateLimitingQueue::add_with_opts)
/// (controller-runtime's `AddOpts`).
///
/// # Examples
///
/// ```
/// use gosync_workqueue::AddOpts;
/// use std::time::Duration;
///
/// let opts = AddOpts::new().priority(-1).after(Duration::from_secs(5));
/// assert_eq!(opts.get_priority(), -1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "options do nothing until passed to add_with_opts"]
pub struct AddOpts {
    pub(crate) priority: i32,
    pub(crate) after: Option<Duration>,
    pub(crate) rate_limited: bool,
}

impl AddOpts {
    /// Priority 0, no delay, not rate limited: a plain add.
    pub const fn new() -> Self {
        AddOpts {
            priority: 0,
            after: None,
            rate_limited: false,
        }
    }

    /// Higher is handed out first; the default is 0.
    pub const fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Adds the item once `after` has passed on the queue's clock; zero adds it now.
    ///
    /// Together with [`rate_limited`](AddOpts::rate_limited), the item waits the shorter
    /// of `after` and its limiter's delay, and an `after` of zero counts as unset: the
    /// limiter's delay applies, as in controller-runtime (whose `After` is a plain
    /// duration, 0 when unset). So `after(Duration::ZERO)` never bypasses a backoff.
    pub const fn after(mut self, after: Duration) -> Self {
        self.after = Some(after);
        self
    }

    /// Delays the item by its rate limiter's `when` (only on a
    /// [`RateLimitingQueue`](crate::RateLimitingQueue); ignored by a plain priority queue),
    /// or by a shorter non-zero [`after`](AddOpts::after).
    pub const fn rate_limited(mut self, rate_limited: bool) -> Self {
        self.rate_limited = rate_limited;
        self
    }

    /// The priority set.
    pub const fn get_priority(&self) -> i32 {
        self.priority
    }
}
