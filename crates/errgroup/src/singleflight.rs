//! `singleflight::Group`: Go's `golang.org/x/sync/singleflight` — concurrent calls for
//! the same key share one execution and its result.
//!
//! Locks: the group's map lock, then a call's slot lock (never the other way round).
//! Invariants:
//!
//! 1. A call is in the map from its leader's insert until its leader finishes (or a
//!    [`Group::forget`]); followers join only while it is in the map, and increment its
//!    `dups` under the map lock.
//! 2. The leader reads `dups`, publishes the outcome and removes the key in one critical
//!    section of the map lock, so every follower that joined finds the outcome, and every
//!    caller after it starts a new call.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use gosync_core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use gosync_core::sync::{Arc, Condvar, Mutex};
use gosync_core::waiters::{WaiterKey, WakeBatch, WakerList};

use crate::panic::message;

/// Collapses concurrent calls for the same key into one execution (Go's
/// `singleflight.Group`).
///
/// [`run`](Group::run) (Go's `Do`) executes `f` unless a call for the same key is in
/// flight, in which case it waits for that call and returns a clone of its value. The
/// `bool` it returns tells whether the value was given to more than one caller. Nothing
/// is cached: once a call finishes, the next `run` for its key executes again.
///
/// Errors are part of the value: use `V = Result<T, E>` (with `E: Clone`, or an
/// `Arc<E>`).
///
/// A `Group` is a handle: clones share the same calls.
///
/// # Examples
///
/// ```
/// use gosync_errgroup::singleflight::Group;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Barrier;
///
/// let group = Group::new();
/// let lookups = AtomicUsize::new(0);
/// let started = Barrier::new(2);
/// std::thread::scope(|s| {
///     let leader = s.spawn(|| {
///         group.run("config", || {
///             lookups.fetch_add(1, Ordering::Relaxed);
///             started.wait(); // the follower arrives while this call is in flight
///             std::thread::sleep(std::time::Duration::from_millis(50));
///             "v1".to_string()
///         })
///     });
///     started.wait();
///     let (value, _shared) = group.run("config", || {
///         // Runs only if the follower arrived after the leader finished.
///         lookups.fetch_add(1, Ordering::Relaxed);
///         "v1".to_string()
///     });
///     assert_eq!(value, "v1");
///     assert_eq!(leader.join().unwrap().0, "v1");
/// });
/// assert!(lookups.load(Ordering::Relaxed) >= 1);
/// ```
///
/// # Panics
///
/// If the leader's `f` panics, the key is removed (no leak), every follower that joined
/// the call panics with `singleflight: the call for this key panicked in its leader: MSG`
/// (Go re-panics in every caller), and the leader's own panic continues to unwind with
/// its original payload.
pub struct Group<K, V> {
    calls: Arc<Mutex<HashMap<K, Arc<Call<V>>>>>,
}

/// One in-flight execution.
struct Call<V> {
    /// Followers that joined (Go's `dups`); written under the group's map lock.
    dups: AtomicUsize,
    slot: Mutex<Slot<V>>,
    /// Blocked threads ([`Handle::wait`], followers in `run`) sleep here.
    finished: Condvar,
}

/// A call's outcome, and the tasks awaiting a [`Handle`] for it (woken, by name, by the
/// `publish` that sets the outcome, under this same lock).
struct Slot<V> {
    outcome: Option<Outcome<V>>,
    tasks: WakerList,
}

/// What a finished call hands its followers. The value is behind a std `Arc` in every
/// build: it is only reached through the slot's lock, which loom does check.
enum Outcome<V> {
    Value {
        value: std::sync::Arc<V>,
        shared: bool,
    },
    Panicked(std::sync::Arc<str>),
}

impl<V> Clone for Outcome<V> {
    fn clone(&self) -> Outcome<V> {
        match self {
            Outcome::Value { value, shared } => Outcome::Value {
                value: std::sync::Arc::clone(value),
                shared: *shared,
            },
            Outcome::Panicked(msg) => Outcome::Panicked(std::sync::Arc::clone(msg)),
        }
    }
}

impl<V> Call<V> {
    fn new() -> Call<V> {
        Call {
            dups: AtomicUsize::new(0),
            slot: Mutex::new(Slot {
                outcome: None,
                tasks: WakerList::new(),
            }),
            finished: Condvar::new(),
        }
    }

    /// Sets the outcome and wakes the threads; returns the tasks' wakers, to wake once
    /// the caller holds no lock (a waker is user code).
    #[must_use = "the tasks awaiting the call are woken only when the batch is woken"]
    fn publish(&self, outcome: Outcome<V>) -> WakeBatch {
        let mut slot = self.slot.lock();
        slot.outcome = Some(outcome);
        let tasks = slot.tasks.notify_all();
        drop(slot);
        self.finished.notify_all();
        tasks
    }

    fn wait(&self) -> Outcome<V> {
        let mut slot = self.slot.lock();
        loop {
            if let Some(outcome) = &slot.outcome {
                return outcome.clone();
            }
            self.finished.wait(&mut slot);
        }
    }
}

fn follower_panic(msg: &str) -> ! {
    panic!("singleflight: the call for this key panicked in its leader: {msg}")
}

impl<K, V> Group<K, V> {
    /// Creates a group with no calls in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group: Group<u32, String> = Group::new();
    /// assert_eq!(group.run(1, || "one".to_string()), ("one".to_string(), false));
    /// ```
    pub fn new() -> Group<K, V> {
        Group {
            calls: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Group<K, V> {
    /// Executes `f` and returns its value, unless a call for `key` is already in flight:
    /// then waits for it and returns a clone of its value (Go's `Do`; named `run`
    /// because `do` is a Rust keyword).
    ///
    /// The `bool` is Go's `shared`: `true` if the value was given to more than one
    /// caller (always `true` for a caller that joined another's call).
    ///
    /// # Panics
    ///
    /// If `f` panics, its panic continues here after the key is removed and the
    /// followers are released; a follower of a call whose `f` panicked panics (see
    /// [the type's docs](Group#panics)).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::new();
    /// let (v, shared) = group.run("key", || Ok::<_, String>("bar"));
    /// assert_eq!((v, shared), (Ok("bar"), false));
    /// ```
    pub fn run<F: FnOnce() -> V>(&self, key: K, f: F) -> (V, bool) {
        let mut calls = self.calls.lock();
        if let Some(call) = calls.get(&key) {
            call.dups.fetch_add(1, Relaxed); // Relaxed: the map lock orders it (invariant 1)
            let call = Arc::clone(call);
            drop(calls);
            return follow(&call);
        }
        let call = Arc::new(Call::new());
        calls.insert(key.clone(), Arc::clone(&call));
        drop(calls);
        let (result, payload) = split(catch_unwind(AssertUnwindSafe(f)));
        let kept = self.complete(&key, &call, result, false);
        if let Some(payload) = payload {
            resume_unwind(payload);
        }
        match kept {
            // Nobody joined: the leader keeps its value, never cloned.
            Some(value) => (value, false),
            // Shared: the value was published; the leader clones it like a follower.
            None => follow(&call),
        }
    }

    /// Finishes `call`: reads its followers and, if there are any (or `always_publish`),
    /// publishes the result to them; then removes `key` if it still maps to `call` (a
    /// [`forget`](Group::forget) may have replaced it). All under the map lock
    /// (invariant 2). Returns the value when it was not published (nobody joined, and
    /// nobody can once the key is gone), so the leader gets it without a clone.
    fn complete(
        &self,
        key: &K,
        call: &Call<V>,
        result: Result<V, std::sync::Arc<str>>,
        always_publish: bool,
    ) -> Option<V> {
        let mut calls = self.calls.lock();
        let shared = call.dups.load(Relaxed) > 0; // Relaxed: the map lock orders it
        let mut tasks = None;
        let kept = if shared || always_publish {
            tasks = Some(call.publish(match result {
                Ok(value) => Outcome::Value {
                    value: std::sync::Arc::new(value),
                    shared,
                },
                Err(msg) => Outcome::Panicked(msg),
            }));
            None
        } else {
            Some(result)
        };
        // User code (Hash, Eq) runs in the removal. If it panics, the entry stays in the
        // map: a published call hands its value to whoever joins it later; an unpublished
        // one gets a panic outcome from this guard, so no later joiner waits forever.
        let guard = PublishOnUnwind {
            call,
            armed: kept.is_some(),
        };
        // One lookup in the common case: take the entry out, and put it back in the rare
        // case that it is a newer call (after a `forget`).
        if let Some(other) = calls.remove(key) {
            if !std::ptr::eq(&*other, call) {
                calls.insert(key.clone(), other);
            }
        }
        std::mem::forget(guard);
        drop(calls);
        // Every lock released: wake the tasks awaiting a handle. A waker that panics does
        // so here, after the call is published, the key removed and every other task
        // woken (if this unwinds first, the batch's drop still wakes them all).
        if let Some(tasks) = tasks {
            tasks.wake();
        }
        kept.and_then(Result::ok)
    }

    /// Tells the group to forget `key`: the next [`run`](Group::run) for it executes
    /// its closure instead of joining a call in flight (Go's `Forget`). Callers that
    /// already joined still get the in-flight call's value.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::new();
    /// group.forget(&"absent"); // forgetting an unknown key is a no-op
    /// assert_eq!(group.run("k", || 1), (1, false));
    /// ```
    pub fn forget(&self, key: &K) {
        let removed = self.calls.lock().remove(key);
        drop(removed); // the call's last handle may go here, outside the lock
    }

    /// Whether a call for `key` is in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::new();
    /// group.run(7, || assert!(group.in_flight(&7)));
    /// assert!(!group.in_flight(&7)); // finished calls are not kept
    /// ```
    pub fn in_flight(&self, key: &K) -> bool {
        self.calls.lock().contains_key(key)
    }

    /// The number of callers that joined the call in flight for `key` and wait for its
    /// value (Go's `dups`), or `None` if no call for `key` is in flight: a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::new();
    /// let (_, shared) = group.run("k", || {
    ///     assert_eq!(group.followers(&"k"), Some(0)); // only the leader so far
    /// });
    /// assert!(!shared);
    /// assert_eq!(group.followers(&"k"), None);
    /// ```
    pub fn followers(&self, key: &K) -> Option<usize> {
        // Relaxed: read under the map lock that orders every increment (invariant 1).
        self.calls.lock().get(key).map(|c| c.dups.load(Relaxed))
    }

    /// Whether no call is in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::<&str, u8>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.calls.lock().is_empty()
    }
}

impl<K, V> Group<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Starts `f` for `key` on a new thread, unless a call for `key` is in flight, and
    /// returns a [`Handle`] to its result (Go's `DoChan`). The handle of a caller that
    /// joined another's call receives that call's value.
    ///
    /// # Panics
    ///
    /// If the OS refuses to spawn a thread (the key is removed first). A panic in `f`
    /// does not panic here or end the process (as Go's does): it ends the spawned
    /// thread, and every handle's [`wait`](Handle::wait) panics (see
    /// [the type's docs](Group#panics)).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::new();
    /// let (gate, opened) = std::sync::mpsc::channel::<()>();
    /// let first = group.spawn("key", move || {
    ///     opened.recv().unwrap();
    ///     "func 1"
    /// });
    /// let second = group.spawn("key", || "func 2"); // joins the first call
    /// gate.send(()).unwrap();
    /// assert_eq!(first.wait(), ("func 1", true));
    /// assert_eq!(second.wait(), ("func 1", true));
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, key: K, f: F) -> Handle<V>
    where
        F: FnOnce() -> V + Send + 'static,
    {
        let mut calls = self.calls.lock();
        if let Some(call) = calls.get(&key) {
            call.dups.fetch_add(1, Relaxed); // Relaxed: the map lock orders it (invariant 1)
            return Handle {
                call: Arc::clone(call),
                key: None,
            };
        }
        let call = Arc::new(Call::new());
        calls.insert(key.clone(), Arc::clone(&call));
        drop(calls);
        let (group, leader_call) = (self.clone(), Arc::clone(&call));
        let spawn_key = key.clone();
        let leader = move || {
            let (result, payload) = split(catch_unwind(AssertUnwindSafe(f)));
            group.complete(&spawn_key, &leader_call, result, true);
            // The panic was reported by the panic hook; the handles carry its message.
            drop(payload);
        };
        #[cfg(not(loom))]
        if let Err(e) = std::thread::Builder::new().spawn(leader) {
            self.complete(
                &key,
                &call,
                Err(std::sync::Arc::from(format!(
                    "failed to spawn a thread: {e}"
                ))),
                true,
            );
            panic!("singleflight: failed to spawn a thread: {e}");
        }
        #[cfg(loom)]
        drop(gosync_core::sync::thread::spawn(leader));
        Handle { call, key: None }
    }
}

/// The pending result of [`Group::spawn`] (Go's `DoChan` channel).
///
/// # Examples
///
/// ```
/// use gosync_errgroup::singleflight::Group;
///
/// let group = Group::new();
/// let handle = group.spawn(1, || 42);
/// assert_eq!(handle.wait(), (42, false));
/// ```
#[must_use = "a handle does nothing unless waited on or awaited"]
pub struct Handle<V> {
    call: Arc<Call<V>>,
    /// The awaiting task's entry in the call's waker list, while registered.
    key: Option<WaiterKey>,
}

impl<V: Clone> Handle<V> {
    /// Blocks until the call finishes and returns a clone of its value and Go's
    /// `Shared` flag (whether the value went to more than one caller).
    ///
    /// # Panics
    ///
    /// If the call's closure panicked, with the message
    /// `singleflight: the call for this key panicked in its leader: MSG`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::new();
    /// let handle = group.spawn("k", || vec![1, 2, 3]);
    /// let (value, shared) = handle.wait();
    /// assert_eq!((value, shared), (vec![1, 2, 3], false));
    ///
    /// let failing = group.spawn("k", || -> Vec<i32> { panic!("lookup failed") });
    /// let err = std::panic::catch_unwind(|| failing.wait()).unwrap_err();
    /// assert!(err.downcast_ref::<String>().unwrap().ends_with("lookup failed"));
    /// ```
    pub fn wait(self) -> (V, bool) {
        match self.call.wait() {
            Outcome::Value { value, shared } => (V::clone(&value), shared),
            Outcome::Panicked(msg) => follower_panic(&msg),
        }
    }

    /// Whether the call has finished ([`wait`](Handle::wait) would not block).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_errgroup::singleflight::Group;
    ///
    /// let group = Group::new();
    /// let handle = group.spawn((), || 1);
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(handle.wait().0, 1);
    /// ```
    pub fn is_finished(&self) -> bool {
        self.call.slot.lock().outcome.is_some()
    }
}

/// Awaiting a handle is the async twin of [`Handle::wait`]: it completes with a clone of
/// the call's value and Go's `Shared` flag once the call finishes. A thread blocked in
/// `wait` and tasks awaiting handles of the same call are all released by the call's
/// end. A handle of a caller that joined an in-flight call (a follower) waits for that
/// call, so a task can follow another's call without blocking its thread.
///
/// Runtime-agnostic, `Unpin`, `Send` when `V: Send + Sync`.
///
/// # Cancel safety
///
/// Dropping the handle (awaited or not) never affects the call: the leader runs to the
/// end, and other handles and followers get its value; a dropped handle only removes its
/// own waker. Polling again after `Ready` returns another clone of the value.
///
/// # Panics
///
/// If the call's closure panicked, the poll that sees it panics as
/// [`wait`](Handle::wait) does. A task waker that panics in `clone` panics out of `poll`
/// with the call unchanged; one that panics in `wake` does so on the leader's thread
/// after the call was published and every other waiter woken.
///
/// # Examples
///
/// ```
/// use gosync_errgroup::singleflight::Group;
///
/// let group = Group::new();
/// let (gate, opened) = std::sync::mpsc::channel::<()>();
/// let leader = group.spawn("key", move || {
///     opened.recv().unwrap();
///     7
/// });
/// let follower = group.spawn("key", || unreachable!()); // joins the call in flight
/// gate.send(()).unwrap();
/// // Any executor: here the `futures` crate's `block_on`.
/// assert_eq!(futures::executor::block_on(follower), (7, true));
/// assert_eq!(futures::executor::block_on(leader), (7, true));
/// ```
impl<V: Clone> Future for Handle<V> {
    type Output = (V, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(V, bool)> {
        let this = &mut *self;
        // User code, before the lock (and only for the first poll): a panicking clone
        // leaves the call as it was.
        let waker = this.key.is_none().then(|| cx.waker().clone());
        let mut slot = this.call.slot.lock();
        if let Some(outcome) = &slot.outcome {
            // Set under this lock by `publish`: the leader's value happened-before.
            let outcome = outcome.clone();
            let removed = this.key.take().map(|key| slot.tasks.remove(key));
            drop(slot);
            drop((removed, waker)); // user code: dropped with no lock held
            return Poll::Ready(match outcome {
                Outcome::Value { value, shared } => (V::clone(&value), shared),
                Outcome::Panicked(msg) => follower_panic(&msg),
            });
        }
        let old = match (&this.key, waker) {
            (None, Some(waker)) => {
                this.key = Some(slot.tasks.insert(waker));
                None
            }
            (Some(key), _) => slot.tasks.update(key, cx.waker()),
            (None, None) => unreachable!("a waker is cloned while unregistered"),
        };
        drop(slot);
        drop(old); // user code: dropped with no lock held
        Poll::Pending
    }
}

impl<V> Drop for Handle<V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let removed = self.call.slot.lock().tasks.remove(key);
            drop(removed); // user code: dropped with no lock held
        }
    }
}

impl<V> fmt::Debug for Handle<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let finished = self.call.slot.try_lock().map(|s| s.outcome.is_some());
        f.debug_struct("Handle")
            .field("finished", &finished)
            .field("awaiting", &self.key.is_some())
            .finish()
    }
}

type Payload = Box<dyn std::any::Any + Send>;

/// A leader's result, its panic reduced to a message for the followers, and the panic
/// payload to resume on the leader's thread.
fn split<V>(result: Result<V, Payload>) -> (Result<V, std::sync::Arc<str>>, Option<Payload>) {
    match result {
        Ok(value) => (Ok(value), None),
        Err(payload) => (Err(std::sync::Arc::from(message(&*payload))), Some(payload)),
    }
}

/// Publishes a panic outcome if the leader unwinds before it could publish (a panicking
/// `Hash` or `Eq` of the key while the leader removes it).
struct PublishOnUnwind<'a, V> {
    call: &'a Call<V>,
    armed: bool,
}

impl<V> Drop for PublishOnUnwind<'_, V> {
    fn drop(&mut self) {
        if self.armed {
            // Unwinding: the batch is dropped at once, which wakes the awaiting tasks
            // (there are none unless the call was shared, and then it was published
            // before; kept for completeness).
            drop(self.call.publish(Outcome::Panicked(std::sync::Arc::from(
                "the key's Hash or Eq panicked while the leader removed it",
            ))));
        }
    }
}

fn follow<V: Clone>(call: &Call<V>) -> (V, bool) {
    match call.wait() {
        Outcome::Value { value, .. } => (V::clone(&value), true),
        Outcome::Panicked(msg) => follower_panic(&msg),
    }
}

// A panic never leaves the group half-updated (see the crate's "Panic safety"): it may
// be used across `catch_unwind`, like a std `Mutex`.
impl<K, V> std::panic::UnwindSafe for Group<K, V> {}
impl<K, V> std::panic::RefUnwindSafe for Group<K, V> {}
impl<V> std::panic::UnwindSafe for Handle<V> {}
impl<V> std::panic::RefUnwindSafe for Handle<V> {}

impl<K, V> Clone for Group<K, V> {
    /// Another handle to the same group.
    fn clone(&self) -> Group<K, V> {
        Group {
            calls: Arc::clone(&self.calls),
        }
    }
}

impl<K, V> Default for Group<K, V> {
    fn default() -> Group<K, V> {
        Group::new()
    }
}

impl<K, V> fmt::Debug for Group<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Group");
        match self.calls.try_lock() {
            Some(calls) => d.field("in_flight", &calls.len()),
            None => d.field("in_flight", &format_args!("<locked>")),
        };
        d.finish()
    }
}
