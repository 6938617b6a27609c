//! [`Guard`] and [`OwnedGuard`]: an item handed out by a `get`, kept *processing* until
//! the guard is dropped, which calls [`Queue::done`].

use std::fmt;
use std::hash::Hash;
use std::ops::Deref;

use super::Queue;
use crate::state::ItemRef;
use crate::storage::{Fifo, Storage};

/// An item handed out by [`Queue::get`]: it stays *processing* until the guard is dropped
/// (or [`done`](Guard::done)), which calls [`Queue::done`]. Dereferences to the item.
///
/// # Panics
///
/// As [`Queue::done`], except that a guard queues its own item again when it was re-added,
/// so no `Clone` runs, and that nobody can retry: if the item's `Hash` or `Eq` panics in
/// the guard's `done`, the queue cannot find the item, which stays processing (a
/// [`shut_down_with_drain`](Queue::shut_down_with_drain) then waits for it until a
/// [`shut_down`](Queue::shut_down)). Keys whose `Hash` or `Eq` may panic are safer handled
/// detached ([`Queue::get_detached`], [`Queue::done`]).
///
/// # Bounds
///
/// Unlike [`Queue`], a guard's definition keeps the bounds of [`Queue::done`]: its `Drop`
/// calls it, and a `Drop` impl must have exactly the struct's bounds.
///
/// # Examples
///
/// ```
/// use gosync_workqueue::Queue;
///
/// let q = Queue::new();
/// q.add(7);
/// let item = q.get().unwrap();
/// q.add(7); // processing: remembered, not queued
/// assert_eq!(q.len(), 0);
/// item.done(); // 7 is queued again now
/// assert_eq!(q.len(), 1);
/// ```
#[must_use = "dropping the guard at once marks the item done"]
pub struct Guard<
    'a,
    T: Hash + Eq + Clone + Send + 'static,
    S: Storage<T> + Send + 'static = Fifo<T>,
> {
    pub(super) queue: &'a Queue<T, S>,
    pub(super) item: Option<T>,
}

/// An item handed out by [`Queue::get_owned`]: a [`Guard`] that owns a handle to its
/// queue instead of borrowing it, so it is `'static` and can move into
/// `std::thread::spawn` or a task. The item stays *processing* until the guard is
/// dropped (or [`done`](OwnedGuard::done)), which calls [`Queue::done`].
///
/// The handle counts as one of the queue's handles (a [`Queue::clone`]: two atomic
/// increments when handed out, two decrements when dropped): while the guard lives, the
/// queue is not shut down by the drop of its other handles.
///
/// # Bounds and panics
///
/// As [`Guard`].
///
/// # Examples
///
/// ```
/// use gosync_workqueue::Queue;
///
/// let q = Queue::new();
/// q.add("job");
/// let item = q.get_owned().unwrap();
/// let worker = std::thread::spawn(move || {
///     assert_eq!(*item, "job");
///     // `item` drops here: done.
/// });
/// worker.join().unwrap();
/// q.shut_down_with_drain(); // nothing is processing any more
/// ```
#[must_use = "dropping the guard at once marks the item done"]
pub struct OwnedGuard<
    T: Hash + Eq + Clone + Send + 'static,
    S: Storage<T> + Send + 'static = Fifo<T>,
> {
    pub(super) queue: Queue<T, S>,
    pub(super) item: Option<T>,
}

impl<'a, T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Guard<'a, T, S> {
    /// Marks the item done and gets the next one, in one acquisition of the queue's lock
    /// (see [`Queue::done_and_get_detached`]): the cheapest worker loop. Blocks like
    /// [`Queue::get`]; `None` once the queue is shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// for k in ["a", "b", "c"] {
    ///     q.add(k);
    /// }
    /// q.shut_down();
    /// let mut seen = Vec::new();
    /// let mut next = q.get();
    /// while let Some(item) = next {
    ///     seen.push(*item);
    ///     next = item.done_and_get();
    /// }
    /// assert_eq!(seen, ["a", "b", "c"]);
    /// ```
    pub fn done_and_get(self) -> Option<Guard<'a, T, S>> {
        let queue = self.queue;
        let item = self.into_inner();
        queue
            .done_then_get(ItemRef::Owned(item))
            .map(|next| queue.guard(next))
    }

    /// The item.
    pub fn item(&self) -> &T {
        self.item
            .as_ref()
            .expect("guard holds its item until dropped")
    }

    /// Marks the item done now (the same as dropping the guard).
    pub fn done(self) {
        drop(self);
    }

    /// Detaches the item from the guard: it stays processing until the caller passes it to
    /// [`Queue::done`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(5);
    /// let five = q.get().unwrap().into_inner();
    /// q.add(5);
    /// assert_eq!(q.len(), 0); // still processing
    /// q.done(&five);
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn into_inner(mut self) -> T {
        self.item
            .take()
            .expect("guard holds its item until dropped")
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Deref
    for Guard<'_, T, S>
{
    type Target = T;
    fn deref(&self) -> &T {
        self.item()
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Drop
    for Guard<'_, T, S>
{
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            // The item itself is queued again if it was re-added: no clone.
            self.queue.done_inner(ItemRef::Owned(item));
        }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> fmt::Debug
    for Guard<'_, T, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> OwnedGuard<T, S> {
    /// Marks the item done and gets the next one, in one acquisition of the queue's lock
    /// (see [`Queue::done_and_get_detached`]). Blocks like [`Queue::get`]; `None` once the
    /// queue is shut down and empty. The next guard takes over this one's queue handle.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(1);
    /// q.add(2);
    /// q.shut_down();
    /// let mut seen = Vec::new();
    /// let mut next = q.get_owned();
    /// while let Some(item) = next {
    ///     seen.push(*item);
    ///     next = item.done_and_get();
    /// }
    /// assert_eq!(seen, [1, 2]);
    /// ```
    pub fn done_and_get(mut self) -> Option<OwnedGuard<T, S>> {
        let item = self
            .item
            .take()
            .expect("guard holds its item until dropped");
        let next = self.queue.done_then_get(ItemRef::Owned(item))?;
        self.item = Some(next);
        Some(self)
    }

    /// The item.
    pub fn item(&self) -> &T {
        self.item
            .as_ref()
            .expect("guard holds its item until dropped")
    }

    /// The queue the item came from.
    pub fn queue(&self) -> &Queue<T, S> {
        &self.queue
    }

    /// Marks the item done now (the same as dropping the guard).
    pub fn done(self) {
        drop(self);
    }

    /// Detaches the item from the guard: it stays processing until the caller passes it to
    /// [`Queue::done`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = gosync_workqueue::Queue::new();
    /// q.add(5);
    /// let five = q.get_owned().unwrap().into_inner();
    /// assert!(q.done(&five));
    /// ```
    pub fn into_inner(mut self) -> T {
        self.item
            .take()
            .expect("guard holds its item until dropped")
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Deref
    for OwnedGuard<T, S>
{
    type Target = T;
    fn deref(&self) -> &T {
        self.item()
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> Drop
    for OwnedGuard<T, S>
{
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            // The item itself is queued again if it was re-added: no clone.
            self.queue.done_inner(ItemRef::Owned(item));
        }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static, S: Storage<T> + Send + 'static> fmt::Debug
    for OwnedGuard<T, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedGuard").finish_non_exhaustive()
    }
}
