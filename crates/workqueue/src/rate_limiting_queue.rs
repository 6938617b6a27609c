//! `RateLimitingQueue`: a [`Queue`] whose retries are delayed by a [`RateLimiter`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;

use gosync_ratelimit::{default_controller_rate_limiter_with_clock, Borrowed, MaxOf, RateLimiter};

use crate::add_opts::AddOpts;
use crate::builder::QueueBuilder;
use crate::queue::Queue;
use crate::storage::{Fifo, Priority, Storage};

/// client-go's rate-limiting queue: a [`Queue`] plus a per-item [`RateLimiter`] that decides
/// how long a failed item waits before it is retried.
///
/// It dereferences to the [`Queue`], so `add`, `get`, `add_after`, `shut_down`, … are all
/// there. Clones share the queue and the limiter.
///
/// # Examples
///
/// ```
/// use gosync_core::FakeClock;
/// use gosync_workqueue::ratelimit::ExponentialLimiter;
/// use gosync_workqueue::{Queue, RateLimitingQueue};
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let limiter = ExponentialLimiter::new(Duration::from_millis(5), Duration::from_secs(1));
/// let q = RateLimitingQueue::with_limiter(Queue::builder().clock(fake.clock()), limiter);
/// q.add_rate_limited("job"); // failure #1: retry in 5 ms
/// assert_eq!(q.num_requeues(&"job"), 1);
/// assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
/// fake.advance(Duration::from_millis(5));
/// let job = q.get().unwrap();
/// q.forget(&*job); // it succeeded: reset its backoff (`&*`: the key, not the guard)
/// assert_eq!(q.num_requeues(&"job"), 0);
/// ```
///
/// # Bounds
///
/// The struct asks only `S: Storage<T>`, which its [`Queue`] field needs and which holds
/// for every `T` with the storages the crate has ([`Fifo`], [`Priority`]): a generic
/// `struct Ctl<K> { q: RateLimitingQueue<K> }` compiles without bounds on `K`; the
/// methods carry the bounds they need.
pub struct RateLimitingQueue<T, R = MaxOf<T>, S = Fifo<T>>
where
    S: Storage<T>,
{
    queue: Queue<T, S>,
    limiter: Arc<R>,
}

impl<T: Hash + Eq + Clone + Send + Sync + 'static> RateLimitingQueue<T> {
    /// A FIFO queue on the real clock with client-go's `DefaultControllerRateLimiter`
    /// (per-item exponential 5 ms … 1000 s, and an overall 10 qps / 100 burst bucket).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::RateLimitingQueue::new();
    /// q.add_rate_limited(1u32); // the first failure waits 5 ms
    /// assert_eq!(*q.get().unwrap(), 1);
    /// ```
    pub fn new() -> Self {
        Self::from_builder(QueueBuilder::new())
    }

    /// A FIFO queue from `builder` with the default controller limiter on the builder's clock.
    pub fn from_builder(builder: QueueBuilder) -> Self {
        let queue: Queue<T> = builder.build();
        let limiter = default_controller_rate_limiter_with_clock(queue.clock().clone());
        RateLimitingQueue {
            queue,
            limiter: Arc::new(limiter),
        }
    }
}

impl<T: Hash + Eq + Clone + Send + Sync + 'static> Default for RateLimitingQueue<T> {
    fn default() -> Self {
        RateLimitingQueue::new()
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, R: RateLimiter<T>> RateLimitingQueue<T, R> {
    /// A FIFO queue from `builder` with any limiter.
    pub fn with_limiter(builder: QueueBuilder, limiter: R) -> Self {
        RateLimitingQueue {
            queue: builder.build(),
            limiter: Arc::new(limiter),
        }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, R: RateLimiter<T>>
    RateLimitingQueue<T, R, Priority<T>>
{
    /// A priority queue from `builder` with any limiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::ratelimit::ExponentialLimiter;
    /// use gosync_workqueue::{AddOpts, Queue, RateLimitingQueue};
    /// use std::time::Duration;
    ///
    /// let limiter = ExponentialLimiter::new(Duration::ZERO, Duration::ZERO);
    /// let q = RateLimitingQueue::priority_with_limiter(Queue::builder(), limiter);
    /// q.add_with_opts("retry", AddOpts::new().rate_limited(true)); // zero delay: now
    /// q.add_with_opts("urgent", AddOpts::new().priority(100));
    /// assert_eq!(*q.get().unwrap(), "urgent");
    /// ```
    pub fn priority_with_limiter(builder: QueueBuilder, limiter: R) -> Self {
        RateLimitingQueue {
            queue: builder.build_priority(),
            limiter: Arc::new(limiter),
        }
    }

    /// Adds with options (controller-runtime `AddWithOpts`). With `rate_limited`, the delay
    /// is the limiter's `when` (one failure recorded), or the `after` given if that is
    /// shorter, as controller-runtime does. An `after` of zero counts as no `after` there
    /// (controller-runtime: `if after == 0 || rlAfter < after`), so it never bypasses the
    /// limiter's delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::FakeClock;
    /// use gosync_workqueue::ratelimit::ExponentialLimiter;
    /// use gosync_workqueue::{AddOpts, Queue, RateLimitingQueue};
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let limiter = ExponentialLimiter::new(Duration::from_millis(10), Duration::from_secs(1));
    /// let q = RateLimitingQueue::priority_with_limiter(Queue::builder().clock(fake.clock()), limiter);
    /// // The shorter of `after` and the limiter's 10 ms...
    /// q.add_with_opts("a", AddOpts::new().rate_limited(true).after(Duration::from_millis(3)));
    /// // ...but an `after` of zero is no `after`: the limiter's 10 ms apply.
    /// q.add_with_opts("b", AddOpts::new().rate_limited(true).after(Duration::ZERO));
    /// assert_eq!(q.len(), 0);
    /// assert_eq!(q.waiting_len(), 2);
    /// # q.shut_down();
    /// ```
    pub fn add_with_opts(&self, item: T, opts: AddOpts) {
        let mut after = opts.after;
        if opts.rate_limited {
            let when = self.limiter.when(&item);
            after = Some(match after {
                Some(a) if !a.is_zero() => a.min(when),
                _ => when,
            });
        }
        self.queue
            .add_inner(item, opts.priority, after, opts.rate_limited);
    }
}

impl<T, R, S> RateLimitingQueue<T, R, S>
where
    T: Hash + Eq + Clone + Send + 'static,
    R: RateLimiter<T>,
    S: Storage<T> + Send + 'static,
{
    /// Adds `item` after the delay its limiter gives it now (client-go `AddRateLimited`):
    /// `add_after(item, limiter.when(&item))`. Records one failure of `item`.
    pub fn add_rate_limited(&self, item: T) {
        let delay = self.limiter.when(&item);
        self.queue.add_after(item, delay);
    }

    /// Tells the limiter that `item` succeeded: its failures are forgotten (client-go
    /// `Forget`). It does not remove the item from the queue.
    ///
    /// Takes any borrowed form of the key, as [`Queue::done`] does (`&str` for a
    /// `String` key): the limiter looks it up through [`RateLimiter::forget_key`], which
    /// the limiters of `gosync_ratelimit` answer without making an owned key (a limiter
    /// of your own that keeps the trait's default makes one with `Q::to_owned`).
    ///
    /// With a [`Guard`](crate::Guard), pass the key it dereferences to: `q.forget(&*guard)`
    /// (or `guard.item()`). Like `HashMap::get`, a generic borrowed form gets no deref
    /// coercion, so `&guard` is not accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::RateLimitingQueue;
    ///
    /// let q: RateLimitingQueue<String> = RateLimitingQueue::new();
    /// q.add_rate_limited("ns/pod".to_string());
    /// assert_eq!(q.num_requeues("ns/pod"), 1);
    /// q.forget("ns/pod");
    /// assert_eq!(q.num_requeues("ns/pod"), 0);
    /// q.shut_down();
    /// ```
    pub fn forget<Q>(&self, item: &Q)
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = T> + ?Sized,
    {
        self.limiter.forget_key(&Borrowed(item));
    }

    /// How many failures of `item` the limiter has recorded (client-go `NumRequeues`).
    /// Takes any borrowed form of the key, as [`forget`](RateLimitingQueue::forget) does.
    pub fn num_requeues<Q>(&self, item: &Q) -> u32
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = T> + ?Sized,
    {
        self.limiter.num_requeues_key(&Borrowed(item))
    }

    /// The limiter.
    pub fn limiter(&self) -> &R {
        &self.limiter
    }

    /// The underlying queue (also reachable through `Deref`).
    pub fn queue(&self) -> &Queue<T, S> {
        &self.queue
    }
}

impl<T, R, S: Storage<T>> Deref for RateLimitingQueue<T, R, S> {
    type Target = Queue<T, S>;
    fn deref(&self) -> &Queue<T, S> {
        &self.queue
    }
}

impl<T, R, S: Storage<T>> Clone for RateLimitingQueue<T, R, S> {
    fn clone(&self) -> Self {
        RateLimitingQueue {
            queue: self.queue.clone(),
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<T, R, S: Storage<T>> fmt::Debug for RateLimitingQueue<T, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitingQueue")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}
