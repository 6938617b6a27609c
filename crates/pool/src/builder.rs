//! `Builder`: the options of a [`Pool`].

use std::fmt;
use std::time::Duration;

use gosync_core::clock::Clock;

use crate::pool::{New, Reset, DEFAULT_BURST, DEFAULT_CAPACITY, MAX_CAPACITY};
use crate::Pool;

/// Configures a [`Pool`]: reset hook, per-CPU capacity, burst capacity, automatic
/// trimming. Made by [`Pool::builder`].
///
/// # Examples
///
/// ```
/// use gosync_pool::Pool;
/// use std::time::Duration;
///
/// let pool = Pool::builder(|| Vec::<u8>::with_capacity(4096))
///     .reset(Vec::clear)
///     .per_cpu_capacity(4)
///     .auto_trim(Duration::from_secs(30))
///     .build();
/// assert_eq!(pool.stats().capacity, 4);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<T> {
    new: New<T>,
    reset: Option<Reset<T>>,
    capacity: usize,
    burst: usize,
    auto_trim: Option<Duration>,
    clock: Clock,
}

impl<T> Builder<T> {
    pub(crate) fn new<F>(new: F) -> Builder<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        Builder {
            new: Box::new(new),
            reset: None,
            capacity: DEFAULT_CAPACITY,
            burst: DEFAULT_BURST,
            auto_trim: None,
            clock: Clock::default(),
        }
    }

    /// Runs `reset` on every object given back to the pool (by a guard or
    /// [`Pool::put`]), before it is stored, so that [`Pool::get`] never sees a used
    /// object's contents. Any `Fn(&mut T)`: a method such as `Vec::clear`, or a closure,
    /// capturing or not.
    ///
    /// If `reset` panics, the object is dropped and counted in
    /// [`PoolStats::dropped`](crate::PoolStats::dropped), and the panic propagates out of
    /// the guard's drop or `put` (a guard dropped while the thread is already unwinding
    /// then aborts the process, like any panic in `Drop` during unwinding).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::builder(String::new).reset(String::clear).build();
    /// pool.get().push_str("secret");
    /// assert_eq!(*pool.get(), "");
    ///
    /// // A capturing closure: keep at most `max` bytes of capacity.
    /// let max = 4096;
    /// let pool = Pool::builder(Vec::<u8>::new)
    ///     .reset(move |v: &mut Vec<u8>| {
    ///         v.clear();
    ///         v.shrink_to(max);
    ///     })
    ///     .build();
    /// # drop(pool);
    /// ```
    pub fn reset<R>(mut self, reset: R) -> Self
    where
        R: Fn(&mut T) + Send + Sync + 'static,
    {
        self.reset = Some(Box::new(reset));
        self
    }

    /// Gives each CPU `capacity` slots (default [`DEFAULT_CAPACITY`]): the lock-free
    /// places for idle objects and for objects checked out in place. An object given back
    /// to a CPU whose slots are all full or busy goes to the burst store
    /// ([`burst_capacity`](Builder::burst_capacity)).
    ///
    /// The slots are allocated by [`build`](Builder::build): `capacity` × (possible
    /// CPUs) slots of `max(128, size_of::<T>() + 8)` bytes rounded up to 128 (each slot
    /// has its own cache lines). A few slots per CPU are the intended use; returns and
    /// gets scan a shard's slots in order.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 or above [`MAX_CAPACITY`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::builder(|| 0u32).per_cpu_capacity(1).build();
    /// let s = pool.stats();
    /// assert_eq!(s.capacity * s.shards, s.shards); // one slot per CPU
    /// ```
    pub fn per_cpu_capacity(mut self, capacity: usize) -> Self {
        assert!(
            (1..=MAX_CAPACITY).contains(&capacity),
            "gosync_pool: per-CPU capacity must be in 1..={MAX_CAPACITY}, got {capacity}"
        );
        self.capacity = capacity;
        self
    }

    /// Keeps up to `burst` × (possible CPUs) idle objects beyond the slots, in one
    /// shared store (default [`DEFAULT_BURST`] per CPU): a burst of returns (hundreds of
    /// objects put back at once) is kept for reuse, as Go keeps it, instead of being
    /// dropped. The store is a mutex-guarded stack used only when a CPU's slots are full
    /// (returns) or nothing is idle in any slot (gets), and the victim rule of
    /// [`Pool::trim`] empties it like the slots. `0` turns it off: an object given back
    /// to a full CPU shard is then dropped at once.
    ///
    /// The pool holds at most (`capacity` + `burst`) × (possible CPUs) idle objects.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::builder(|| vec![0u8; 1024]).burst_capacity(16).build();
    /// let burst: Vec<_> = (0..100).map(|_| pool.take()).collect();
    /// for buf in burst {
    ///     pool.put(buf); // the slots of this CPU, then 16 × CPUs in the store
    /// }
    /// let s = pool.stats();
    /// assert!(s.burst <= 16 * s.shards);
    /// assert_eq!(s.idle + s.dropped, 100);
    /// ```
    pub fn burst_capacity(mut self, burst: usize) -> Self {
        self.burst = burst;
        self
    }

    /// Trims automatically: [`Pool::trim`] runs at most once per `interval` of the
    /// builder's [`clock`](Builder::clock), checked when a `get` misses (before the
    /// constructor runs), when an object is dropped because its shard is full, and on
    /// every 256th `get`/`take` of each thread. So an idle object is dropped between one
    /// and about two intervals after its last use, *provided the pool is used*: a pool
    /// nobody touches checks nothing, and keeps its idle objects until [`Pool::trim`] is
    /// called (for example from a timer thread) or it is dropped.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_pool::Pool;
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let pool = Pool::builder(|| 0u8)
    ///     .auto_trim(Duration::from_secs(1))
    ///     .clock(fake.clock())
    ///     .build();
    /// for round in 1..=2 {
    ///     fake.advance(Duration::from_secs(1));
    ///     for _ in 0..256 {
    ///         drop(pool.get()); // the 256th get of this thread checks the clock
    ///     }
    ///     assert_eq!(pool.stats().trims, round);
    /// }
    /// ```
    pub fn auto_trim(mut self, interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "gosync_pool: auto_trim interval must be positive"
        );
        self.auto_trim = Some(interval);
        self
    }

    /// The time source of [`auto_trim`](Builder::auto_trim) (the real clock by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::clock::FakeClock;
    /// use gosync_pool::Pool;
    ///
    /// let fake = FakeClock::new();
    /// let pool = Pool::builder(|| 0u8).clock(fake.clock()).build();
    /// # drop(pool);
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the pool, allocating its slots (`capacity` per possible CPU). No object is
    /// constructed until the first `get`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_pool::Pool;
    ///
    /// let pool = Pool::builder(|| 1).build();
    /// assert_eq!(pool.stats().created, 0);
    /// ```
    pub fn build(self) -> Pool<T> {
        Pool::from_builder(
            self.new,
            self.reset,
            self.capacity,
            self.burst,
            self.auto_trim.map(|d| (d, self.clock)),
        )
    }
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("reset", &self.reset.is_some())
            .field("capacity", &self.capacity)
            .field("burst", &self.burst)
            .field("auto_trim", &self.auto_trim)
            .finish_non_exhaustive()
    }
}
