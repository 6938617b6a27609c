//! `Context`: the public handle to one node of the tree (a thin `Arc<Node>`), the roots,
//! the constructors that return no cancel function (`with_value`, `without_cancel`),
//! and the observing and blocking methods.
//!
//! The layers below do the work: `node.rs` (the node a handle points to), `timer.rs`
//! (deadlines) and `tree.rs` (cancellation). The public adapters on top add the rest of
//! the API: `cancel.rs` (the cancellable constructors and their cancel functions),
//! `done.rs` (the `done()` futures), `hook.rs` (`on_cancel`, `after_func`).

use std::fmt;
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::sync::{Arc, Condvar, Mutex};

use crate::error::{Cause, Error};
use crate::key::Key;
use crate::node::{Kind, Links, Node};
use crate::timer::TimerHandle;
use crate::tree::{state_error, Core, Deferred, CANCELED, DEADLINE_EXCEEDED};

/// A cancellation signal, a deadline and request-scoped values, carried across API
/// boundaries and threads: Go's `context.Context`.
///
/// A `Context` is a cheap handle (cloning is one reference-count increment) to a node of
/// a tree. Make a root with [`background`] (or [`background_with_clock`] in tests), and
/// derive children with [`with_cancel`](crate::with_cancel),
/// [`with_deadline`](crate::with_deadline), [`with_timeout`](crate::with_timeout),
/// [`with_value`] and [`without_cancel`]. Cancelling a context cancels every descendant,
/// at any depth, and nothing else.
///
/// Observe it with [`is_done`](Context::is_done) (one atomic load),
/// [`err`](Context::err), [`cause`](Context::cause), [`deadline`](Context::deadline), and
/// wait for it with [`wait`](Context::wait), [`wait_timeout`](Context::wait_timeout),
/// `.done().await` ([`done`](Context::done)), a channel in a `select!`
/// (`done_chan`, feature `crossbeam`), or a callback ([`on_cancel`](Context::on_cancel),
/// [`after_func`](crate::after_func)).
///
/// # Lifetime: no lost cancel
///
/// A cancellable child is registered with its nearest cancellable ancestor, so that the
/// ancestor's cancel reaches it. It leaves that registry when it is cancelled, **or**
/// when every handle to it is dropped (its `Context` clones, its cancel function, its
/// children, its pending futures, hooks and `after_func` registrations). So a child
/// whose cancel function is never called costs nothing once it is dropped: Go's
/// `go vet` "lostcancel" leak cannot happen. Calling the cancel function still releases
/// the registration (and a deadline's timer entry) early.
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_cancel, Error};
///
/// let (ctx, cancel) = with_cancel(&background());
/// let worker = {
///     let ctx = ctx.clone();
///     std::thread::spawn(move || {
///         ctx.wait(); // parks until cancelled
///         ctx.err()
///     })
/// };
/// cancel.cancel();
/// assert_eq!(worker.join().unwrap(), Some(Error::Canceled));
/// ```
pub struct Context(pub(crate) Arc<Node>);

impl Clone for Context {
    /// One reference-count increment.
    #[inline]
    fn clone(&self) -> Context {
        Context(Arc::clone(&self.0))
    }
}

/// A root context: never cancelled, no deadline, no values; deadlines of its
/// descendants are measured by the real clock (Go's `context.Background()`).
///
/// # Examples
///
/// ```
/// let ctx = gosync_context::background();
/// assert!(!ctx.is_done());
/// assert_eq!(ctx.err(), None);
/// assert_eq!(ctx.deadline(), None);
/// ```
pub fn background() -> Context {
    #[cfg(not(loom))]
    {
        static BACKGROUND: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
        BACKGROUND
            .get_or_init(|| root("context.Background", TimerHandle::real()))
            .clone()
    }
    #[cfg(loom)]
    root("context.Background", TimerHandle::real())
}

/// Like [`background`], for code that has not decided which context to use yet
/// (Go's `context.TODO()`).
///
/// # Examples
///
/// ```
/// let ctx = gosync_context::todo();
/// assert!(!ctx.is_done());
/// assert_eq!(format!("{ctx:?}"), "context.TODO");
/// ```
pub fn todo() -> Context {
    #[cfg(not(loom))]
    {
        static TODO: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
        TODO.get_or_init(|| root("context.TODO", TimerHandle::real()))
            .clone()
    }
    #[cfg(loom)]
    root("context.TODO", TimerHandle::real())
}

/// A root like [`background`] whose descendants measure time by `clock`: deadlines
/// fire, and [`Context::wait_timeout`] times out, when `clock` says so. With a
/// [`FakeClock`](gosync_core::FakeClock), advancing it fires deadlines deterministically.
///
/// Each such root has its own timer thread, started by its first deadline and ended
/// when the root and all its descendants are dropped.
///
/// # Examples
///
/// ```
/// use gosync_context::{background_with_clock, with_timeout, Error};
/// use gosync_core::FakeClock;
/// use std::time::Duration;
///
/// let fake = FakeClock::new();
/// let root = background_with_clock(fake.clock());
/// let (ctx, _cancel) = with_timeout(&root, Duration::from_secs(30));
/// fake.advance(Duration::from_secs(29));
/// assert!(!ctx.is_done());
/// fake.advance(Duration::from_secs(1));
/// ctx.wait(); // the timer thread fires the deadline
/// assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
/// ```
pub fn background_with_clock(clock: Clock) -> Context {
    root("context.Background", TimerHandle::with_clock(clock))
}

fn root(name: &'static str, timer: TimerHandle) -> Context {
    Context(Arc::new(Node {
        parent: None,
        kind: Kind::Root { name, timer },
        links: Links::ROOT,
    }))
}

/// A child of `parent` that carries `value` under `key`; everything else (cancellation,
/// deadline, other values) comes from `parent` (Go's `WithValue`). A value set here
/// shadows the same key's value in ancestors.
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_value, Key};
///
/// static LEVEL: Key<u8> = Key::new("level");
/// let outer = with_value(&background(), &LEVEL, 1);
/// let inner = with_value(&outer, &LEVEL, 2);
/// assert_eq!(inner.value(&LEVEL), Some(&2)); // shadowed
/// assert_eq!(outer.value(&LEVEL), Some(&1));
/// assert_eq!(background().value(&LEVEL), None);
/// ```
pub fn with_value<T: Send + Sync + 'static>(
    parent: &Context,
    key: &'static Key<T>,
    value: T,
) -> Context {
    Context(Arc::new(Node {
        parent: Some(Arc::clone(&parent.0)),
        kind: Kind::Value {
            key: key.id(),
            value: Box::new(value),
            core: parent.0.core_ptr(),
        },
        links: Links::child_of(&parent.0, true),
    }))
}

/// A child of `parent` that keeps `parent`'s values but is never cancelled and has no
/// deadline, even when `parent` is cancelled (Go's `WithoutCancel`). Its [`cause`]
/// is `None`.
///
/// # Examples
///
/// ```
/// use gosync_context::{background, with_cancel, with_value, without_cancel, Key};
///
/// static ID: Key<u32> = Key::new("id");
/// let (ctx, cancel) = with_cancel(&with_value(&background(), &ID, 7));
/// let detached = without_cancel(&ctx);
/// cancel.cancel();
/// assert!(ctx.is_done());
/// assert!(!detached.is_done());
/// assert_eq!(detached.value(&ID), Some(&7));
/// ```
pub fn without_cancel(parent: &Context) -> Context {
    Context(Arc::new(Node {
        parent: Some(Arc::clone(&parent.0)),
        kind: Kind::WithoutCancel,
        links: Links::child_of(&parent.0, false),
    }))
}

/// [`Context::cause`] as a function (Go's `context.Cause`).
///
/// # Examples
///
/// ```
/// use gosync_context::{background, cause, with_cancel};
///
/// let (ctx, cancel) = with_cancel(&background());
/// assert!(cause(&ctx).is_none());
/// cancel.cancel();
/// assert_eq!(cause(&ctx).unwrap().to_string(), "context canceled");
/// ```
pub fn cause(ctx: &Context) -> Option<Cause> {
    ctx.cause()
}

/// A new cancellable child of `parent`, registered (or born cancelled).
pub(crate) fn new_cancel(parent: &Context, own: Option<(Instant, Option<Cause>)>) -> Context {
    // The core is boxed (invariant 7 in `tree.rs`) before the link to its deadline is
    // taken: moving a `Core` by value would reborrow its deadline box uniquely and
    // invalidate the link. The deadline is boxed too, so its address survives the
    // move of `core` into the node.
    let core = Box::new(Core::new(parent.0.core_ptr(), own));
    let links = Links::with_own(&parent.0, core.own.as_deref());
    let ctx = Context(Arc::new(Node {
        parent: Some(Arc::clone(&parent.0)),
        kind: Kind::Cancel(core),
        links,
    }));
    ctx.own_core().attach(parent.core());
    ctx
}

/// A new cancellable child of `parent` that is also cancelled at `deadline`: in its
/// tree's timer, or cancelled at once if `deadline` has passed; a plain cancellable
/// child if `parent`'s deadline is earlier.
pub(crate) fn new_deadline(parent: &Context, deadline: Instant, cause: Option<Cause>) -> Context {
    if parent.deadline().is_some_and(|cur| cur < deadline) {
        // The parent's deadline is earlier: it will cancel the child in time.
        return new_cancel(parent, None);
    }
    let ctx = new_cancel(parent, Some((deadline, cause)));
    let core = ctx.own_core();
    if !core.is_done() {
        let timer = parent.timer();
        if timer.clock().now() >= deadline {
            let mut d = Deferred::default();
            let cause = core.own.as_ref().and_then(|o| o.cause.clone());
            if core.cancel(DEADLINE_EXCEEDED, cause, &mut d) {
                core.detach(parent.core());
            }
            d.run();
        } else {
            timer.insert(core);
        }
    }
    ctx
}

impl Context {
    /// The nearest cancellable node's core: this one's, or an ancestor's, or none.
    #[inline]
    pub(crate) fn core(&self) -> Option<&Core> {
        self.0.core()
    }

    /// The core of a node made by `new_cancel`.
    pub(crate) fn own_core(&self) -> &Core {
        match &self.0.kind {
            Kind::Cancel(core) => core,
            _ => unreachable!("not a cancellable context"),
        }
    }

    /// The timer of the tree (the root's), in one step.
    #[inline]
    pub(crate) fn timer(&self) -> &TimerHandle {
        self.0.timer()
    }

    /// Cancels this (cancellable) context with `state` and `cause`, then releases its
    /// registration and timer entry.
    pub(crate) fn cancel_own(&self, cause: Option<Cause>) {
        let core = self.own_core();
        let parent_core = self.0.parent.as_deref().and_then(Node::core);
        let mut d = Deferred::default();
        if core.cancel(CANCELED, cause, &mut d) {
            core.detach(parent_core);
        }
        // No lock is held here (lock order: timer before cores).
        if core.own.is_some() {
            self.timer().remove(core);
        }
        d.run();
    }

    /// Whether the context is done (cancelled or past its deadline): one atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// assert!(!ctx.is_done());
    /// cancel.cancel();
    /// assert!(ctx.is_done());
    /// ```
    #[inline]
    pub fn is_done(&self) -> bool {
        match self.core() {
            Some(core) => core.is_done(),
            None => false,
        }
    }

    /// `None` while the context is live; then why it is done (Go's `Err()`). Once set,
    /// it never changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, Error};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// cancel.cancel();
    /// assert_eq!(ctx.err(), Some(Error::Canceled));
    /// ```
    #[inline]
    pub fn err(&self) -> Option<Error> {
        // Acquire: as in `Core::is_done`.
        state_error(
            self.core()?
                .state
                .load(gosync_core::sync::atomic::Ordering::Acquire),
        )
    }

    /// The cause of the cancellation (Go's `context.Cause`): the error given to
    /// [`CancelCauseFunc::cancel`](crate::CancelCauseFunc::cancel) or
    /// [`with_deadline_cause`](crate::with_deadline_cause), inherited from the ancestor
    /// whose cancel reached this context; otherwise the [`Error`] itself.
    /// `None` while the context is live, and always for a [`without_cancel`] context
    /// and its value children.
    ///
    /// The first cancel wins: later causes are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, with_cancel_cause, Error};
    /// use std::io;
    ///
    /// let (parent, cancel) = with_cancel_cause(&background());
    /// let (child, _c) = with_cancel(&parent);
    /// cancel.cancel(io::Error::other("shutting down"));
    /// cancel.cancel(io::Error::other("ignored: second cancel"));
    /// assert_eq!(child.err(), Some(Error::Canceled));
    /// assert_eq!(child.cause().unwrap().to_string(), "shutting down");
    /// ```
    pub fn cause(&self) -> Option<Cause> {
        self.core()?.cause()
    }

    /// The time at which the context will be cancelled by a deadline, its own or an
    /// ancestor's (Go's `Deadline()`). One load at any depth: each context links to the
    /// nearest deadline when it is made.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_timeout};
    /// use std::time::Duration;
    ///
    /// assert_eq!(background().deadline(), None);
    /// let (ctx, _cancel) = with_timeout(&background(), Duration::from_secs(1));
    /// assert!(ctx.deadline().is_some());
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        // Each node links to the nearest deadline: one step at any depth.
        self.0.deadline()
    }

    /// The value stored under `key` by the nearest [`with_value`] ancestor (or this
    /// context), if any (Go's `Value`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel, with_value, Key};
    ///
    /// static TRACE: Key<&'static str> = Key::new("trace");
    /// let ctx = with_value(&background(), &TRACE, "abc123");
    /// let (child, _cancel) = with_cancel(&ctx);
    /// assert_eq!(child.value(&TRACE), Some(&"abc123")); // found through ancestors
    /// ```
    pub fn value<T: 'static>(&self, key: &'static Key<T>) -> Option<&T> {
        let id = key.id();
        let mut node: &Node = &self.0;
        loop {
            if let Kind::Value { key, value, .. } = &node.kind {
                if *key == id {
                    return value.downcast_ref::<T>();
                }
            }
            node = node.parent.as_deref()?;
        }
    }

    /// The clock of this context's tree: the real clock, or the one given to
    /// [`background_with_clock`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!gosync_context::background().clock().is_fake());
    /// ```
    pub fn clock(&self) -> &Clock {
        self.timer().clock()
    }

    /// Blocks until the context is done. A context that can never be cancelled
    /// ([`background`], [`without_cancel`]) blocks forever, as receiving from Go's nil
    /// `Done()` channel does.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// std::thread::spawn(move || cancel.cancel());
    /// ctx.wait();
    /// assert!(ctx.is_done());
    /// ```
    pub fn wait(&self) {
        let Some(core) = self.core() else {
            let (lock, cv) = (Mutex::new(()), Condvar::new());
            let mut g = lock.lock();
            loop {
                cv.wait(&mut g);
            }
        };
        if core.is_done() {
            return;
        }
        let mut g = core.lock();
        let cv = Core::waiter_cv(&mut g);
        while !core.is_done() {
            cv.wait(&mut g);
        }
    }

    /// Blocks until the context is done or `timeout` of the tree's clock has passed;
    /// returns whether it is done. A timeout too large to represent waits without one.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    /// use std::time::Duration;
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// assert!(!ctx.wait_timeout(Duration::from_millis(1)));
    /// cancel.cancel();
    /// assert!(ctx.wait_timeout(Duration::from_millis(1)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.is_done() {
            return true;
        }
        match self.clock().deadline_after(timeout) {
            Some(deadline) => self.wait_until(deadline),
            None => {
                self.wait();
                true
            }
        }
    }

    /// Blocks until the context is done or the tree's clock reaches `deadline`; returns
    /// whether it is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::background;
    /// use std::time::{Duration, Instant};
    ///
    /// assert!(!background().wait_until(Instant::now() + Duration::from_millis(1)));
    /// ```
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let clock = self.clock();
        let Some(core) = self.core() else {
            let (lock, cv) = (Mutex::new(()), Condvar::new());
            let mut g = lock.lock();
            while !clock.wait_until(&cv, &mut g, deadline) {}
            return false;
        };
        let mut g = core.lock();
        let cv = Core::waiter_cv(&mut g);
        loop {
            if core.is_done() {
                return true;
            }
            if clock.wait_until(&cv, &mut g, deadline) {
                return core.is_done();
            }
        }
    }

    /// A channel receiver that disconnects when the context is done: Go's `Done()`
    /// channel, for `crossbeam_channel::select!`. Nothing is ever sent on it; a receive
    /// returns `Err(RecvError)` once the context is done. For a context that can never
    /// be cancelled it is `crossbeam_channel::never()`.
    ///
    /// The channel is created on first use and shared by every call on the same
    /// cancellable context.
    ///
    /// # Examples
    ///
    /// ```
    /// use crossbeam_channel::{select, unbounded};
    /// use gosync_context::{background, with_cancel};
    ///
    /// let (ctx, cancel) = with_cancel(&background());
    /// let (_tx, jobs) = unbounded::<u32>();
    /// let done = ctx.done_chan();
    /// std::thread::spawn(move || cancel.cancel());
    /// select! {
    ///     recv(jobs) -> job => unreachable!("no job was sent: {job:?}"),
    ///     recv(done) -> closed => assert!(closed.is_err()), // disconnected: cancelled
    /// }
    /// assert!(ctx.is_done());
    /// ```
    #[cfg(feature = "crossbeam")]
    #[cfg_attr(docsrs, doc(cfg(feature = "crossbeam")))]
    pub fn done_chan(&self) -> crossbeam_channel::Receiver<()> {
        let Some(core) = self.core() else {
            return crossbeam_channel::never();
        };
        let mut g = core.lock();
        if core.is_done() {
            drop(g);
            return crossbeam_channel::bounded(0).1; // its sender is gone: disconnected
        }
        g.extra()
            .chan
            .get_or_insert_with(|| crossbeam_channel::bounded(0))
            .1
            .clone()
    }

    /// How many registrations the context's cancellable node holds: live cancellable
    /// children, pending [`done`](Context::done) futures, `on_cancel` hooks and
    /// `after_func`s (for diagnostics and leak tests). A value or `without_cancel`
    /// context reports its nearest cancellable ancestor's; a root reports 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::{background, with_cancel};
    ///
    /// let (parent, _cancel) = with_cancel(&background());
    /// let child = with_cancel(&parent);
    /// assert_eq!(parent.registrations(), 1);
    /// drop(child); // all handles dropped: detached, no cancel needed
    /// assert_eq!(parent.registrations(), 0);
    /// ```
    pub fn registrations(&self) -> usize {
        self.core().map_or(0, Core::registrations)
    }

    /// Whether `self` and `other` are handles to the same context.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = gosync_context::todo();
    /// assert!(ctx.same(&ctx.clone()));
    /// ```
    pub fn same(&self, other: &Context) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Context {
    /// Like Go's `String()`: the chain of constructors, e.g.
    /// `context.Background.WithCancel.WithValue(id)`, plus the error once done.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Root first; collected in a loop so that a deep chain cannot overflow.
        let mut names = Vec::new();
        let mut node: Option<&Node> = Some(&self.0);
        while let Some(n) = node {
            names.push(match &n.kind {
                Kind::Root { name, .. } => name,
                Kind::Cancel(core) if core.own.is_some() => "WithDeadline",
                Kind::Cancel(_) => "WithCancel",
                Kind::Value { .. } => "WithValue",
                Kind::WithoutCancel => "WithoutCancel",
            });
            node = n.parent.as_deref();
        }
        for (i, name) in names.iter().rev().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(name)?;
        }
        if let Some(err) = self
            .core()
            .and_then(|c| state_error(c.state.load(gosync_core::sync::atomic::Ordering::Relaxed)))
        {
            write!(f, " ({err})")?;
        }
        Ok(())
    }
}
