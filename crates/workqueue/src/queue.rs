//! `Queue`: client-go's work queue (dedup, processing set, delays) behind one lock.
//!
//! The public [`Queue`] type and its methods live here; the rest is split by
//! responsibility, one file each:
//!
//! * `queue/shared.rs`: [`Shared`], the state behind every handle — the lock and its
//!   [`StateGuard`], the parking protocol (spin on the hint, then park), the item
//!   table's prefetch, and the wake-ups owed on unwind;
//! * `queue/guard.rs`: [`Guard`] and [`OwnedGuard`], the items handed out, which call
//!   `done` when dropped;
//! * `queue/delay.rs`: the link to the clock's timer thread (delayed adds, the metrics
//!   tick);
//! * `queue/get_async.rs`: `get_async` and `wait_idle_async`, the futures of tasks
//!   that wait next to the blocking threads;
//! * `queue/stream.rs` (feature `stream`): the `Stream` of items;
//! * `queue/context.rs` (feature `context`): `get_context`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use gosync_core::sync::atomic::Ordering::Relaxed;
use gosync_core::sync::Arc;
use gosync_core::Clock;

#[cfg(feature = "context")]
mod context;
mod delay;
mod get_async;
mod guard;
mod shared;
#[cfg(feature = "stream")]
mod stream;
#[cfg(feature = "context")]
pub use context::GetContextError;
pub use get_async::{GetAsync, GetAsyncOwned, WaitIdleAsync};
pub use guard::{Guard, OwnedGuard};
use shared::{Shared, StateGuard};
#[cfg(feature = "stream")]
pub use stream::GetStream;

use crate::builder::QueueBuilder;
use crate::error::{GetTimeoutError, TryGetError};
use crate::metrics::QueueMetrics;
use crate::state::{ItemRef, Ticks, Wake};
use crate::storage::{Fifo, Priority, Storage};

/// client-go's work queue: a deduplicating FIFO of keys, each processed by at most one worker
/// at a time, with delayed adds.
///
/// * [`add`](Queue::add) marks an item *dirty* and queues it, unless it is dirty already
///   (deduplicated) or being processed (then it is queued again when its processing ends).
/// * [`get`](Queue::get) blocks for the next item and marks it *processing*; the returned
///   [`Guard`] calls [`done`](Queue::done) when dropped, even when the worker panics.
/// * [`add_after`](Queue::add_after) adds an item once a delay has passed on the queue's
///   [`Clock`]; the clock's one timer thread ([`gosync_core::timer`], shared by every
///   delaying queue of that clock) moves the item in when its time comes.
/// * [`shut_down`](Queue::shut_down) stops accepting items and wakes every getter; the
///   remaining items are still handed out. [`shut_down_with_drain`](Queue::shut_down_with_drain)
///   also waits until all of them are processed.
///
/// `Queue` is a handle: clones share one queue. Dropping the last handle shuts it down.
///
/// # Examples
///
/// ```
/// use gosync_workqueue::Queue;
///
/// let q = Queue::new();
/// q.add("pod/a");
/// q.add("pod/b");
/// q.add("pod/a"); // already queued: deduplicated
/// assert_eq!(q.len(), 2);
///
/// let worker = {
///     let q = q.clone();
///     std::thread::spawn(move || {
///         let mut seen = Vec::new();
///         while let Some(item) = q.get() {
///             seen.push(*item); // `item` is a guard: done() when it drops
///         }
///         seen
///     })
/// };
/// q.shut_down_with_drain(); // returns once both items are processed
/// assert_eq!(worker.join().unwrap(), ["pod/a", "pod/b"]);
/// ```
///
/// # Delays and deduplication
///
/// An item is in the queue at most once, ready or waiting, and the earliest time wins:
/// `add` of a waiting item makes it ready now and drops its waiting entry (client-go keeps
/// it, so the item is processed a second time when the delay ends: kubernetes#126027);
/// `add_after` of a waiting item keeps the earlier of the two times; `add_after` of an item
/// that is already dirty does nothing. An item that is processing and not dirty can wait.
///
/// # Keys: `Hash` and `Eq`
///
/// Items are keys, as in a [`HashMap`](std::collections::HashMap): the queue finds an item
/// by its `Hash` and tells items apart by `Eq`, so the two must agree. It is a logic error
/// for two items that are equal to hash differently, for `Eq` not to be an equivalence
/// relation (reflexive, symmetric, transitive: an item not equal to itself, such as one
/// holding a float NaN, is never found again), or for an item's hash or equality to change
/// while the queue holds it (which takes a `Cell`, `RefCell`, global state, I/O or
/// `unsafe` code). The behaviour that results is not specified, but it is confined to the
/// queue and is never undefined behaviour. It may include: equal items not deduplicated
/// (one key processed twice, even by two workers at once); an item handed out never, or
/// [`done`](Queue::done) not finding it, so that it stays dirty or processing and
/// [`shut_down_with_drain`](Queue::shut_down_with_drain) waits until a
/// [`shut_down`](Queue::shut_down); wrong counts ([`len`](Queue::len), metrics); panics and
/// leaks. (A `Hash`, `Eq` or `Clone` that panics is not a logic error: see
/// [Panic safety](crate#panic-safety).)
///
/// # Limits
///
/// At most 2^31 items at once (dirty, processing or waiting): an add beyond that panics.
///
/// # Bounds
///
/// The struct asks only `S: Storage<T>`: its `Drop` (the last handle shuts the queue
/// down) reaches the item table, whose entries are typed by the storage's priority and
/// tag. [`Fifo<T>`] and [`Priority<T>`] are storages for every `T`, so a generic
/// `struct Ctl<K> { q: Queue<K> }` compiles without bounds on `K`; the methods carry the
/// bounds they need (`T: Hash + Eq + Clone + Send + 'static`).
pub struct Queue<T, S: Storage<T> = Fifo<T>> {
    shared: Arc<Shared<T, S>>,
}

/// A queue that hands out the highest priority first, FIFO within a priority
/// (controller-runtime's priority queue). See [`Queue::add_with_opts`].
pub type PriorityQueue<T> = Queue<T, Priority<T>>;

impl<T: Hash + Eq + Clone + Send + 'static> Queue<T> {
    /// An unnamed FIFO queue on the real clock, without metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1u32);
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn new() -> Self {
        QueueBuilder::new().build()
    }
}

impl Queue<()> {
    /// A builder for a queue with a name, a clock, or metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::FakeClock;
    /// let fake = FakeClock::new();
    /// let q: gosync_workqueue::Queue<String> =
    ///     gosync_workqueue::Queue::builder().name("pods").clock(fake.clock()).build();
    /// assert!(!q.shutting_down());
    /// ```
    pub fn builder() -> QueueBuilder {
        QueueBuilder::new()
    }
}

impl<T: Hash + Eq + Clone + Send + 'static> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T: Hash + Eq + Clone + Send + 'static> Queue<T, Priority<T>> {
    /// An unnamed priority queue on the real clock, without metrics. (Named `new_priority`
    /// so that `Queue::new()` needs no type annotation.)
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::{AddOpts, PriorityQueue};
    ///
    /// let q = PriorityQueue::new_priority();
    /// q.add("low");
    /// q.add_with_opts("high", AddOpts::new().priority(10));
    /// assert_eq!(*q.get().unwrap(), "high");
    /// assert_eq!(*q.get().unwrap(), "low");
    /// ```
    pub fn new_priority() -> Self {
        QueueBuilder::new().build_priority()
    }

    /// Adds `item` with a priority and/or a delay (controller-runtime `AddWithOpts`).
    ///
    /// Higher priorities are handed out first, FIFO within a priority; a plain
    /// [`add`](Queue::add) uses priority 0. Re-adding an item keeps the higher of its two
    /// priorities and the earlier of its two ready times. A zero or absent delay adds now.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::{AddOpts, PriorityQueue};
    ///
    /// let q = PriorityQueue::new_priority();
    /// q.add_with_opts("a", AddOpts::new().priority(1));
    /// q.add_with_opts("b", AddOpts::new().priority(5));
    /// q.add_with_opts("a", AddOpts::new().priority(9)); // raised, not duplicated
    /// assert_eq!(q.len(), 2);
    /// assert_eq!(*q.get().unwrap(), "a");
    /// ```
    pub fn add_with_opts(&self, item: T, opts: crate::AddOpts) {
        self.add_inner(item, opts.priority, opts.after, false);
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Queue<T, S> {
    pub(crate) fn from_parts(
        clock: Clock,
        metrics: Option<QueueMetrics>,
        metrics_period: Duration,
    ) -> Self {
        let with_metrics = metrics.is_some();
        let queue = Queue {
            shared: Arc::new(Shared::new(clock, metrics, metrics_period)),
        };
        if with_metrics {
            // client-go's `updateUnfinishedWorkLoop`, a timer callback (`queue/delay.rs`).
            let mut st = queue.shared.state.lock();
            st.next_tick = queue.shared.clock.deadline_after(metrics_period);
            if let Some(at) = st.next_tick {
                queue.arm_timer(&mut st, at);
            }
        }
        queue
    }

    /// The clock this queue measures delays and metrics with.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Marks `item` as needing processing (client-go `Add`).
    ///
    /// Ignored after shutdown. If `item` is already dirty nothing changes; otherwise it
    /// becomes dirty and, unless it is being processed, is queued and one waiting getter
    /// is woken. If it was waiting for a delay, it is ready now and no longer waiting.
    ///
    /// # Panics
    ///
    /// With 2^31 items in the queue. If the item's `Hash`, `Eq` or `Clone` or the metrics
    /// provider panics, the panic propagates and the queue is as before the call; if the
    /// item's `Drop` panics (the queue already held an equal item), the add is made (see
    /// [Panic safety](crate#panic-safety)).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add("x");
    /// q.add("x");
    /// assert_eq!(q.len(), 1);
    /// ```
    #[inline]
    pub fn add(&self, item: T) {
        let hash = self.shared.hash(&item);
        self.shared.let_prefetch_land();
        let (mut st, now) = self.shared.lock_stamped();
        if st.shutting_down {
            return;
        }
        let (wake, spare) = st.insert(item, hash, S::Prio::default(), None, now);
        if wake == Wake::Getter {
            self.shared.wake_getter(st);
        } else {
            drop(st);
        }
        // The item's `Drop` (user code) after the unlock.
        drop(spare);
    }

    /// Adds `item` once `delay` has passed on the queue's clock (client-go `AddAfter`).
    ///
    /// A zero delay adds now. Ignored after shutdown. An item that is already waiting keeps
    /// the earlier ready time; an item that is already dirty stays as it is (it will be
    /// processed no later than asked). A delay beyond what `Instant` can represent means
    /// "never" and is dropped. Counts one retry in the metrics, as client-go does.
    ///
    /// # Panics
    ///
    /// As [`add`](Queue::add) (a panicking retries metric too leaves the queue as before
    /// the call).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_core::FakeClock;
    /// use std::time::Duration;
    ///
    /// let fake = FakeClock::new();
    /// let q = gosync_workqueue::Queue::builder().clock(fake.clock()).build();
    /// q.add_after("x", Duration::from_secs(10));
    /// assert_eq!((q.len(), q.waiting_len()), (0, 1));
    /// assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
    /// fake.advance(Duration::from_secs(10));
    /// assert_eq!(*q.get().unwrap(), "x");
    /// ```
    pub fn add_after(&self, item: T, delay: Duration) {
        self.add_inner(item, S::Prio::default(), Some(delay), true);
    }

    pub(crate) fn add_inner(&self, item: T, prio: S::Prio, after: Option<Duration>, retry: bool) {
        let shared = &*self.shared;
        let hash = shared.hash(&item);
        shared.let_prefetch_land();
        let (mut st, now) = shared.lock_stamped();
        if st.shutting_down {
            return;
        }
        if retry {
            if let Some(m) = &st.metrics {
                m.retries.inc();
            }
        }
        let at = match after {
            None => None,
            Some(d) if d.is_zero() => None,
            Some(d) => match shared.clock.deadline_after(d) {
                Some(at) => Some(at),
                None => return, // "never"
            },
        };
        let (wake, spare) = st.insert(item, hash, prio, at, now);
        match wake {
            Wake::None => drop(st),
            Wake::Getter => shared.wake_getter(st),
            Wake::Timer => {
                if let Some(at) = at {
                    self.arm_timer(&mut st, at);
                }
                drop(st);
            }
        }
        // The item's `Drop` (user code) after the unlock.
        drop(spare);
    }

    /// Blocks until an item is ready and hands it out, marked processing; `None` once the
    /// queue is shut down and empty (client-go `Get`).
    ///
    /// After shutdown the items still queued are handed out before `None`.
    ///
    /// # Panics
    ///
    /// If the item's `Eq` or the metrics provider panics while the item is handed out, the
    /// panic propagates and the item stays ready; another waiting getter is woken for it.
    /// The same holds for every `get` variant.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1);
    /// q.shut_down();
    /// assert_eq!(q.get().map(|g| *g), Some(1));
    /// assert!(q.get().is_none());
    /// ```
    pub fn get(&self) -> Option<Guard<'_, T, S>> {
        self.get_detached().map(|item| self.guard(item))
    }

    /// [`get`](Queue::get) without the guard: the caller must call [`done`](Queue::done)
    /// (the Go shape). `None` once shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add("k");
    /// let k = q.get_detached().unwrap();
    /// assert!(q.done(&k));
    /// assert!(!q.done(&k)); // not processing any more: a no-op
    /// ```
    pub fn get_detached(&self) -> Option<T> {
        let (st, now) = self.shared.lock_stamped();
        self.get_locked(st, now)
    }

    /// [`get`](Queue::get) returning an [`OwnedGuard`]: it holds a handle to the queue
    /// (a clone of this one), so it is `'static` and can move to another thread.
    /// `None` once the queue is shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1);
    /// let one = q.get_owned().unwrap();
    /// std::thread::spawn(move || assert_eq!(*one, 1)).join().unwrap();
    /// assert!(!q.done(&1)); // the guard's drop on the other thread was the `done`
    /// ```
    pub fn get_owned(&self) -> Option<OwnedGuard<T, S>> {
        self.get_detached().map(|item| self.owned_guard(item))
    }

    /// [`done`](Queue::done) of `item`, then [`get_detached`](Queue::get_detached), in one
    /// acquisition of the queue's lock instead of two: the worker loop of the Go shape.
    /// Blocks like `get`; `None` once shut down and empty.
    ///
    /// The effect is that of the two calls back to back: `item` stops processing (and is
    /// queued again if it was re-added meanwhile, possibly to be handed straight back),
    /// then the next ready item is handed out. A `done` of an item that is not processing
    /// is a no-op, as in [`done`](Queue::done). `item` may be a borrowed form of the key,
    /// as for `done`.
    ///
    /// [`Guard::done_and_get`] is the same with guards.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1);
    /// q.add(2);
    /// q.shut_down(); // queued items are still handed out
    /// let mut seen = Vec::new();
    /// let mut next = q.get_detached();
    /// while let Some(item) = next {
    ///     seen.push(item);
    ///     next = q.done_and_get_detached(&item);
    /// }
    /// assert_eq!(seen, [1, 2]);
    /// ```
    pub fn done_and_get_detached<Q>(&self, item: &Q) -> Option<T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.done_then_get(ItemRef::Borrowed(item))
    }

    fn done_then_get<Q>(&self, item: ItemRef<'_, T, Q>) -> Option<T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shared = &*self.shared;
        let hash = shared.hash(item.get());
        let (mut st, now) = shared.lock_stamped();
        // A re-queued item needs no wake-up (protocol rule 3): the `take` below runs in the
        // same lock hold, so the number of ready items does not grow. (If the metrics panic
        // before that `take`, `finished` wakes a getter for it.)
        if let Some(finished) = shared.finish(&mut st, item, hash) {
            shared.finished(&mut st, finished, now);
        }
        self.get_locked(st, now)
    }

    /// The blocking `get` under the lock `st` (stamped `now`): takes the next ready item, or
    /// spins and parks until there is one or the queue is shut down.
    fn get_locked<'a>(&'a self, mut st: StateGuard<'a, T, S>, mut now: Ticks) -> Option<T> {
        let shared = &*self.shared;
        let mut spun = false;
        loop {
            if let Some(item) = shared.take(&mut st, now) {
                shared.sync_hint(&mut st);
                return Some(item);
            }
            if st.shutting_down {
                return None;
            }
            if !spun {
                // Protocol rule 1: spin unlocked, then re-check under the lock.
                spun = true;
                drop(st);
                shared.spin();
                (st, now) = shared.lock_stamped();
                continue;
            }
            // Protocol rule 2.
            st.parked += 1;
            shared.ready.wait(st.raw());
            st.parked -= 1;
            now = 0;
        }
    }

    /// Hands out a ready item without blocking.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if no item is ready, [`TryGetError::ShutDown`] if the queue is
    /// shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::{Queue, TryGetError};
    /// let q: Queue<u8> = Queue::new();
    /// assert_eq!(q.try_get().err(), Some(TryGetError::Empty));
    /// q.shut_down();
    /// assert_eq!(q.try_get().err(), Some(TryGetError::ShutDown));
    /// ```
    pub fn try_get(&self) -> Result<Guard<'_, T, S>, TryGetError> {
        let shared = &*self.shared;
        let (mut st, now) = shared.lock_stamped();
        match shared.take(&mut st, now) {
            Some(item) => {
                shared.sync_hint(&mut st);
                drop(st);
                Ok(self.guard(item))
            }
            None if st.shutting_down => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    /// [`try_get`](Queue::try_get) returning an [`OwnedGuard`] (see
    /// [`get_owned`](Queue::get_owned)).
    ///
    /// # Errors
    ///
    /// As [`try_get`](Queue::try_get).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add('x');
    /// let x = q.try_get_owned().unwrap();
    /// assert_eq!(*x, 'x');
    /// ```
    pub fn try_get_owned(&self) -> Result<OwnedGuard<T, S>, TryGetError> {
        self.try_get()
            .map(|guard| self.owned_guard(guard.into_inner()))
    }

    /// [`get`](Queue::get) that gives up after `timeout` of the queue's clock.
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] if no item became ready in time,
    /// [`GetTimeoutError::ShutDown`] if the queue is shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_workqueue::{GetTimeoutError, Queue};
    /// use std::time::Duration;
    /// let q: Queue<u8> = Queue::new();
    /// assert_eq!(q.get_timeout(Duration::from_millis(1)).err(), Some(GetTimeoutError::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<Guard<'_, T, S>, GetTimeoutError> {
        let shared = &*self.shared;
        let deadline = shared.clock.deadline_after(timeout);
        let (mut st, mut now) = shared.lock_stamped();
        loop {
            if let Some(item) = shared.take(&mut st, now) {
                shared.sync_hint(&mut st);
                drop(st);
                return Ok(self.guard(item));
            }
            if st.shutting_down {
                return Err(GetTimeoutError::ShutDown);
            }
            // Protocol rule 2, for the timed wait too.
            st.parked += 1;
            let timed_out = match deadline {
                None => {
                    shared.ready.wait(st.raw());
                    false
                }
                Some(deadline) => shared.clock.wait_until(&shared.ready, st.raw(), deadline),
            };
            st.parked -= 1;
            now = 0;
            if timed_out {
                // An item that arrived meanwhile is still taken.
                if let Some(item) = shared.take(&mut st, now) {
                    shared.sync_hint(&mut st);
                    drop(st);
                    return Ok(self.guard(item));
                }
                return Err(if st.shutting_down {
                    GetTimeoutError::ShutDown
                } else {
                    GetTimeoutError::Timeout
                });
            }
        }
    }

    /// [`get_timeout`](Queue::get_timeout) returning an [`OwnedGuard`] (see
    /// [`get_owned`](Queue::get_owned)).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Queue::get_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(3u8);
    /// let three = q.get_timeout_owned(Duration::from_secs(1)).unwrap();
    /// assert_eq!(three.into_inner(), 3);
    /// ```
    pub fn get_timeout_owned(
        &self,
        timeout: Duration,
    ) -> Result<OwnedGuard<T, S>, GetTimeoutError> {
        self.get_timeout(timeout)
            .map(|guard| self.owned_guard(guard.into_inner()))
    }

    /// Ends the processing of `item` (client-go `Done`); if it was added meanwhile, it is
    /// queued again now. Returns whether `item` was processing.
    ///
    /// `done` of an item that is not processing is a no-op that returns `false` (client-go
    /// would queue a duplicate if the item was dirty). Guards do the same when dropped.
    ///
    /// `item` may be any borrowed form of the key, as for `HashMap::get`: a
    /// `Queue<String>` takes a `&str`. `Hash` and `Eq` on the borrowed form must agree with
    /// those of the key (the `Borrow` contract). If the key was re-added while processing,
    /// the queue's own copy of it is cloned to queue it again.
    ///
    /// # Panics
    ///
    /// If the item's `Hash`, `Eq` or `Clone` panics (the clone is queued when the item was
    /// re-added), the panic propagates and the item stays processing: call `done` again.
    /// If the metrics provider or the `Drop` of an item the queue lets go of panics, the
    /// `done` is made (the item queued again, and a getter woken for it) before the panic
    /// propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1);
    /// assert!(!q.done(&1)); // queued, not processing
    /// assert_eq!(q.len(), 1);
    ///
    /// let names: gosync_workqueue::Queue<String> = gosync_workqueue::Queue::new();
    /// names.add("ns/pod".to_string());
    /// let _key = names.get_detached().unwrap();
    /// assert!(names.done("ns/pod")); // a `&str` finds the `String` key
    /// ```
    #[inline]
    pub fn done<Q>(&self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.done_inner(ItemRef::Borrowed(item))
    }

    /// [`done`](Queue::done) of a borrowed item, or of a guard's own item (which needs no
    /// clone to be queued again).
    #[inline]
    fn done_inner<Q>(&self, item: ItemRef<'_, T, Q>) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shared = &*self.shared;
        let hash = shared.hash(item.get());
        let (mut st, now) = shared.lock_stamped();
        let Some(finished) = shared.finish(&mut st, item, hash) else {
            return false;
        };
        let wake = finished.wake;
        shared.finished(&mut st, finished, now);
        if wake == Wake::Getter {
            shared.wake_getter(st);
        }
        true
    }

    /// The number of items ready to be handed out (client-go `Len`): dirty items that are
    /// not being processed. Waiting and processing items are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// assert_eq!(q.len(), 0);
    /// q.add('a');
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.state.lock().queued as usize
    }

    /// Whether no item is ready (`len() == 0`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: gosync_workqueue::Queue<u8> = gosync_workqueue::Queue::new();
    /// assert!(q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of items waiting for their delay to pass.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = gosync_workqueue::Queue::new();
    /// q.add_after(1, Duration::from_secs(60));
    /// q.add_after(1, Duration::from_secs(30)); // deduplicated, earlier time kept
    /// assert_eq!(q.waiting_len(), 1);
    /// q.shut_down();
    /// ```
    pub fn waiting_len(&self) -> usize {
        self.shared.state.lock().waiting_live
    }

    /// Stops the queue (client-go `ShutDown`): later adds are ignored, waiting items are
    /// dropped, the queue's timer registration is cancelled, and every blocked getter wakes. Queued items are
    /// still handed out, then [`get`](Queue::get) returns `None`. Also makes a pending
    /// [`shut_down_with_drain`](Queue::shut_down_with_drain) return at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: gosync_workqueue::Queue<u8> = gosync_workqueue::Queue::new();
    /// q.shut_down();
    /// assert!(q.shutting_down());
    /// assert!(q.get().is_none());
    /// ```
    pub fn shut_down(&self) {
        self.shut_down_inner(false);
    }

    /// Stops the queue like [`shut_down`](Queue::shut_down), then blocks until nothing is
    /// processing and nothing is dirty (client-go `ShutDownWithDrain`), or until a
    /// `shut_down` call forces it to return.
    ///
    /// Workers must keep calling `get` and finishing their items for the drain to end.
    /// Calling it from a worker that holds an item deadlocks, as in client-go.
    ///
    /// # Panics
    ///
    /// The waiting items (dropped by the shutdown) are dropped last, once the drain is
    /// over: a panic in their `Drop` propagates from a queue that is shut down and
    /// drained. The same holds for [`shut_down`](Queue::shut_down).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1);
    /// let worker = { let q = q.clone(); std::thread::spawn(move || while q.get().is_some() {}) };
    /// q.shut_down_with_drain();
    /// assert_eq!(q.len(), 0);
    /// worker.join().unwrap();
    /// ```
    pub fn shut_down_with_drain(&self) {
        self.shut_down_inner(true);
    }

    fn shut_down_inner(&self, drain: bool) {
        let shared = &*self.shared;
        let mut st = shared.state.lock();
        st.shutting_down = true;
        st.draining = drain;
        st.update_watch();
        // Dropped last (their `Drop` is user code): a panic there leaves the queue shut
        // down, every waiter woken and the drain done.
        let waiting = st.take_waiting();
        // Dropped after the unlock: that cancels the timer registration and waits for a
        // callback in progress (rule 4 of `queue/delay.rs`).
        let timer = st.timer.take();
        shared.sync_hint(&mut st);
        shared.ready.notify_all();
        shared.drained.notify_all();
        let tasks = st.tasks.notify_all();
        let idle_tasks = st.idle_tasks.notify_all();
        if !(tasks.is_empty() && idle_tasks.is_empty()) {
            // Tasks are woken with no lock held (their wakers are user code), before the
            // drain: they may be the workers it waits for.
            drop(st);
            tasks.wake();
            idle_tasks.wake();
            st = shared.state.lock();
        }
        while st.draining && !st.drained() {
            shared.drained.wait(&mut st);
        }
        drop(st);
        drop(timer);
        drop(waiting);
    }

    /// Blocks until the queue is idle: nothing ready, nothing processing, and nothing
    /// waiting for a delay or a backoff ([`add_after`](Queue::add_after),
    /// [`add_rate_limited`](crate::RateLimitingQueue::add_rate_limited)). The queue is
    /// not shut down and keeps accepting items.
    ///
    /// This is the way to finish everything, retries included, then stop:
    /// `wait_idle()` then [`shut_down_with_drain`](Queue::shut_down_with_drain) (or
    /// [`shut_down`](Queue::shut_down)). A drain alone drops the items still waiting out
    /// a delay or a backoff, as client-go's `ShutDownWithDrain` does. Stop the producers
    /// first: an item added after `wait_idle` returns is handled by the drain as usual.
    ///
    /// Workers must keep taking and finishing items, and an item that keeps failing
    /// keeps the queue busy (each retry is waiting, then ready, then processing): give
    /// such items up ([`RateLimitingQueue::forget`](crate::RateLimitingQueue::forget)
    /// and no re-add), or bound the wait with
    /// [`wait_idle_timeout`](Queue::wait_idle_timeout). Calling it from a worker that
    /// holds an item never returns. After a shutdown the waiting items are dropped, so
    /// it returns once the ready and processing ones are done.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = gosync_workqueue::Queue::new();
    /// let worker = {
    ///     let q = q.clone();
    ///     std::thread::spawn(move || {
    ///         let mut failed_once = false;
    ///         while let Some(item) = q.get() {
    ///             if !failed_once {
    ///                 failed_once = true;
    ///                 q.add_after(*item, Duration::from_millis(5)); // retry later
    ///             }
    ///         }
    ///     })
    /// };
    /// q.add("job");
    /// q.wait_idle(); // returns once the retry has run too
    /// assert_eq!((q.len(), q.waiting_len()), (0, 0));
    /// q.shut_down_with_drain();
    /// worker.join().unwrap();
    /// ```
    pub fn wait_idle(&self) {
        self.wait_idle_until(None);
    }

    /// [`wait_idle`](Queue::wait_idle) that gives up after `timeout` of the queue's
    /// clock. Returns whether the queue is idle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1);
    /// assert!(!q.wait_idle_timeout(Duration::from_millis(1))); // 1 is ready, no worker
    /// q.get().unwrap().done();
    /// assert!(q.wait_idle_timeout(Duration::ZERO));
    /// ```
    pub fn wait_idle_timeout(&self, timeout: Duration) -> bool {
        match self.shared.clock.deadline_after(timeout) {
            Some(deadline) => self.wait_idle_until(Some(deadline)),
            None => self.wait_idle_until(None),
        }
    }

    fn wait_idle_until(&self, deadline: Option<std::time::Instant>) -> bool {
        let shared = &*self.shared;
        let mut st = shared.state.lock();
        // Counted while waiting, so that `done` checks for idleness (see `finish`);
        // shutdown and the drain wake the same condvar.
        st.idle_waiters += 1;
        st.update_watch();
        let idle = loop {
            if st.idle() {
                break true;
            }
            match deadline {
                None => shared.drained.wait(&mut st),
                Some(deadline) => {
                    if shared.clock.wait_until(&shared.drained, &mut st, deadline) {
                        break st.idle();
                    }
                }
            }
        };
        st.idle_waiters -= 1;
        st.update_watch();
        idle
    }

    /// Whether the queue is shut down (client-go `ShuttingDown`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: gosync_workqueue::Queue<u8> = gosync_workqueue::Queue::new();
    /// assert!(!q.shutting_down());
    /// ```
    pub fn shutting_down(&self) -> bool {
        self.shared.state.lock().shutting_down
    }

    fn guard(&self, item: T) -> Guard<'_, T, S> {
        Guard {
            queue: self,
            item: Some(item),
        }
    }

    pub(crate) fn owned_guard(&self, item: T) -> OwnedGuard<T, S> {
        OwnedGuard {
            queue: self.clone(),
            item: Some(item),
        }
    }
}

impl<T, S: Storage<T>> Clone for Queue<T, S> {
    fn clone(&self) -> Self {
        // Relaxed: the count only elects the last handle; the state lock orders the rest.
        self.shared.handles.fetch_add(1, Relaxed);
        Queue {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, S: Storage<T>> Drop for Queue<T, S> {
    fn drop(&mut self) {
        // Relaxed: see `clone`; the RMW order alone decides who is last.
        if self.shared.handles.fetch_sub(1, Relaxed) == 1 {
            let shared = &*self.shared;
            let mut st = shared.state.lock();
            st.shutting_down = true;
            shared.sync_hint(&mut st);
            // Rule 4 of `queue/delay.rs`: cancelled after the unlock; this also breaks
            // the cycle through the timer callback's `Arc`.
            let timer = st.timer.take();
            let tasks = st.tasks.notify_all();
            let idle_tasks = st.idle_tasks.notify_all();
            drop(st);
            shared.ready.notify_all();
            shared.drained.notify_all();
            drop(timer);
            // Dropped, not `wake`d: a panicking waker must not unwind out of a `drop`
            // (the batches wake every waker and drop their panics).
            drop(tasks);
            drop(idle_tasks);
        }
    }
}

impl<T, S: Storage<T>> fmt::Debug for Queue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Queue");
        match self.shared.state.try_lock() {
            Some(st) => {
                d.field("len", &st.queued)
                    .field("dirty", &st.dirty)
                    .field("processing", &st.processing)
                    .field("waiting", &st.waiting_live)
                    .field("shutting_down", &st.shutting_down);
                // The waiters, only when there are some (a leak check for tests).
                if st.parked != 0 {
                    d.field("parked", &st.parked);
                }
                if !st.tasks.is_empty() {
                    d.field("tasks", &st.tasks.len());
                }
                if st.idle_waiters != 0 {
                    d.field("idle_waiters", &st.idle_waiters);
                }
                d.finish()
            }
            None => d.finish_non_exhaustive(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod memory {
    use std::time::{Duration, Instant};

    use gosync_core::FakeClock;

    use super::*;

    /// The room the queue's containers have, in elements: the ready order, the delay heap,
    /// the item table's index slots and cells.
    fn capacities<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static>(
        q: &Queue<T, S>,
    ) -> [usize; 4] {
        let st = q.shared.state.lock();
        let (index, cells) = st.items.capacity();
        [st.ready.capacity(), st.waiting.capacity(), index, cells]
    }

    /// After a drain and a little more activity, every container is back to a small size.
    fn assert_small(caps: [usize; 4], peak: [usize; 4]) {
        let names = ["ready order", "delay heap", "index slots", "cells"];
        for ((name, cap), peak) in names.iter().zip(caps).zip(peak) {
            assert!(
                cap <= 256,
                "the {name} keeps room for {cap} items (peak {peak}) after a drain"
            );
        }
    }

    /// Enough items to grow every store far past its floor (fewer under Miri, which runs
    /// about a thousand times slower).
    const N: u64 = if cfg!(miri) { 2_000 } else { 100_000 };
    /// A real-time hang guard.
    const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

    #[test]
    fn fifo_gives_memory_back_after_a_drain() {
        let q: Queue<u64> = Queue::new();
        for k in 0..N {
            q.add(k);
        }
        let peak = capacities(&q);
        assert!(peak[0] >= N as usize);
        while let Ok(item) = q.try_get() {
            item.done();
        }
        for k in 0..10 {
            q.add(k);
            q.try_get().unwrap().done();
        }
        assert_small(capacities(&q), peak);
    }

    #[test]
    fn priority_delaying_queue_gives_memory_back_after_a_drain() {
        let fake = FakeClock::new();
        let q: PriorityQueue<u64> = Queue::builder().clock(fake.clock()).build_priority();
        for k in 0..N {
            q.add_after(k, Duration::from_secs(1));
        }
        let mut peak = capacities(&q);
        assert!(peak[1] >= N as usize);
        assert!(fake.block_until_waiters(1, HANG));
        fake.advance(Duration::from_secs(1));
        let hang = Instant::now() + HANG;
        while q.len() < N as usize {
            assert!(Instant::now() < hang, "the timer did not fire");
            std::thread::yield_now();
        }
        peak[0] = capacities(&q)[0];
        assert!(peak[0] >= N as usize);
        while let Ok(item) = q.try_get() {
            item.done();
        }
        for k in 0..10 {
            q.add_after(k, Duration::from_secs(1));
            q.add(k);
            q.try_get().unwrap().done();
        }
        assert_small(capacities(&q), peak);
        q.shut_down();
    }
}
