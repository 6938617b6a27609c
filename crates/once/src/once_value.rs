//! Go 1.21's `OnceFunc`, `OnceValue` and `OnceValues`.

use std::any::Any;
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};

use gosync_core::sync::UnsafeCell;

use crate::once::{DONE, DONE_PANICKED};
use crate::Once;

/// What a [`OnceValue`] holds: the function before its run, its outcome after.
enum Slot<T, F> {
    Pending(F),
    /// Transient: the function has been taken out and is running.
    Running,
    Value(T),
    Panicked(Repanic),
}

/// What later calls panic with after the function panicked.
///
/// Go re-panics with the same value. A Rust payload is a `Box<dyn Any + Send>` that cannot
/// be cloned, and the first call hands the original on, so later calls re-raise a copy:
/// the same type and value for the usual `&'static str` and `String` payloads (`panic!`),
/// and otherwise the text std's panic hook prints for an opaque payload.
enum Repanic {
    Static(&'static str),
    Owned(String),
    Opaque,
}

impl Repanic {
    fn of(payload: &(dyn Any + Send)) -> Repanic {
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            Repanic::Static(s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            Repanic::Owned(s.clone())
        } else {
            Repanic::Opaque
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn raise(&self) -> ! {
        match self {
            Repanic::Static(s) => panic::panic_any(*s),
            Repanic::Owned(s) => panic::panic_any(s.clone()),
            Repanic::Opaque => panic::panic_any(String::from("Box<dyn Any>")),
        }
    }
}

/// A lazily computed value whose function runs once, with Go's `OnceValue` semantics.
///
/// Created by [`once_value`]. The first [`get`](OnceValue::get) runs the function and
/// stores its result; every call (from any thread) returns a reference to that one value.
/// The function is dropped after its run.
///
/// If the function panics, that first `get` panics with the original payload, and every
/// later `get` panics again with the same value (Go: "the returned function will panic
/// with the same value on every call"): a `&'static str` or `String` payload (what
/// `panic!` produces) is re-raised as an equal value of the same type; any other payload
/// cannot be cloned, so later calls panic with the `String` `"Box<dyn Any>"` (what std's
/// panic hook prints for it). `std::sync::LazyLock` instead panics with a
/// generic "poisoned" message.
///
/// `get` returns `&T` rather than a clone: it costs nothing, works for any `T`, and a
/// caller who wants Go's copy semantics writes `.clone()`.
///
/// # Examples
///
/// ```
/// use gosync_once::once_value;
///
/// let config = once_value(|| {
///     println!("loading config"); // printed once
///     vec![("port", 8080)]
/// });
/// std::thread::scope(|s| {
///     for _ in 0..3 {
///         s.spawn(|| assert_eq!(config.get()[0].1, 8080));
///     }
/// });
/// ```
pub struct OnceValue<T, F = fn() -> T> {
    once: Once,
    slot: UnsafeCell<Slot<T, F>>,
}

// SAFETY: the slot is written only by the single thread that runs `once` (before it is
// marked done) and read only after `once` is done (Acquire/Release through `Once`), so
// shared access is data-race free. `&OnceValue` hands out `&T` to many threads (T: Sync),
// the value may be created on one thread and dropped on another (T: Send), and `F` moves
// to whichever thread runs it (F: Send).
unsafe impl<T: Send + Sync, F: Send> Sync for OnceValue<T, F> {}

/// Creates a [`OnceValue`]: Go's `sync.OnceValue(f)`.
///
/// # Examples
///
/// ```
/// let answer = gosync_once::once_value(|| 6 * 7);
/// assert_eq!(*answer.get(), 42);
/// ```
pub fn once_value<T, F: FnOnce() -> T>(f: F) -> OnceValue<T, F> {
    OnceValue::new(f)
}

impl<T, F: FnOnce() -> T> OnceValue<T, F> {
    gosync_core::const_fn_unless_loom! {
        /// Creates a `OnceValue` that will compute its value with `f`.
        pub fn new(f: F) -> OnceValue<T, F> {
            OnceValue { once: Once::new(), slot: UnsafeCell::new(Slot::Pending(f)) }
        }
    }

    /// Returns the value, running the function first if no call has yet.
    ///
    /// # Panics
    ///
    /// If the function panicked (now or in an earlier call), with the same panic value
    /// (see [`OnceValue`]); if called recursively from inside the function.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = gosync_once::once_value(|| String::from("hi"));
    /// assert_eq!(v.get(), "hi");
    /// ```
    #[inline]
    pub fn get(&self) -> &T {
        // One Acquire load and one test, as std's `OnceLock::get`: DONE (not
        // DONE_PANICKED) means the function returned and the slot holds its value.
        if !self.once.is_done_ok() {
            // Returns only once `once` is DONE. The paths join before the value's
            // address is formed, so the fast path reads it with one load.
            self.get_slow();
        }
        // SAFETY: `once` is DONE (seen by the Acquire load in `is_done_ok`, or by
        // `get_slow`), so `run` stored `Slot::Value` before marking it done (the
        // Release store in `Once`'s `Finish`), and the slot is never written again.
        unsafe { self.value_unchecked() }
    }

    /// The value, known to be there.
    ///
    /// # Safety
    ///
    /// `once` is DONE (seen by an Acquire load), so the slot holds `Slot::Value`.
    #[inline]
    unsafe fn value_unchecked(&self) -> &T {
        // SAFETY: done, so the slot is final and shared reads are data-race free.
        match self.slot.with(|p| unsafe { &*p }) {
            Slot::Value(v) => v,
            // Checked where it costs nothing that matters (debug, Miri, loom models).
            _ if cfg!(any(debug_assertions, loom)) => {
                unreachable!("OnceValue: DONE without a value")
            }
            // SAFETY: the caller's contract: DONE is stored only after a value.
            _ => unsafe { std::hint::unreachable_unchecked() },
        }
    }

    /// Not DONE: run the function (or wait for the thread running it), or re-panic.
    /// Returns only when `once` is DONE (the function returned a value).
    #[cold]
    #[inline(never)]
    fn get_slow(&self) {
        let mut payload = None;
        if !self.once.is_done() {
            self.once.call_once_marking(&mut || self.run(&mut payload));
        }
        // The first caller re-raises the original payload, after `once` is marked done
        // and the waiters are released (Go: the panic propagates from the first call).
        if let Some(payload) = payload {
            panic::resume_unwind(payload);
        }
        // SAFETY: `once` is done (DONE or DONE_PANICKED, seen by an Acquire load in
        // `is_done` or in `call_once_marking`'s election), so the slot holds its final
        // outcome and is never written again.
        match self.slot.with(|p| unsafe { &*p }) {
            Slot::Value(_) => {}
            Slot::Panicked(repanic) => repanic.raise(),
            Slot::Pending(_) | Slot::Running => unreachable!("OnceValue: done without an outcome"),
        }
    }

    /// Waits, as a future, until another caller's [`get`](OnceValue::get) has computed
    /// the value, and returns it; never runs the function itself (an async initialiser
    /// is not offered). See [`Once::wait_async`]: runtime-agnostic, `Send` when `T` and
    /// `F` allow sharing the `OnceValue`, cancel-safe (dropping it removes its waker).
    ///
    /// # Panics
    ///
    /// When polled to completion, as `get`: if the function panicked, with the same
    /// panic value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let config = Arc::new(gosync_once::once_value(|| String::from("loaded")));
    /// let loader = {
    ///     let config = Arc::clone(&config);
    ///     std::thread::spawn(move || config.get().len())
    /// };
    /// let value = futures::executor::block_on(config.get_async());
    /// assert_eq!(value, "loaded");
    /// loader.join().unwrap();
    /// ```
    pub async fn get_async(&self) -> &T {
        self.once.wait_async().await;
        // Done: `get` returns the stored outcome without running anything.
        self.get()
    }

    /// Returns the value if the function has already run and returned; never runs it.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = gosync_once::once_value(|| 1);
    /// assert_eq!(v.try_get(), None);
    /// v.get();
    /// assert_eq!(v.try_get(), Some(&1));
    /// ```
    pub fn try_get(&self) -> Option<&T> {
        if !self.once.is_done() {
            return None;
        }
        // SAFETY: as in `get`: done, so the slot is final (Acquire in `is_done`).
        match self.slot.with(|p| unsafe { &*p }) {
            Slot::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The one run: take `f` out, call it, store what it returned or how it panicked.
    /// Returns the done state for `once`; a panic's payload goes to `payload`, for the
    /// caller to re-raise once `once` is marked done.
    fn run(&self, payload: &mut Option<Box<dyn Any + Send>>) -> u8 {
        // SAFETY: only the thread that `once` elected runs this, and nobody reads the slot
        // before `once` is done, so this access is exclusive.
        let f = self
            .slot
            .with_mut(|p| unsafe { mem::replace(&mut *p, Slot::Running) });
        let Slot::Pending(f) = f else {
            unreachable!("OnceValue: function already taken")
        };
        // `f` is consumed by the call, so it is dropped by the time this returns.
        let (slot, state) = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => (Slot::Value(v), DONE),
            Err(p) => {
                let slot = Slot::Panicked(Repanic::of(&*p));
                *payload = Some(p);
                (slot, DONE_PANICKED)
            }
        };
        // SAFETY: still the elected runner, before `once` is marked done.
        self.slot.with_mut(|p| unsafe { *p = slot });
        state
    }
}

impl<T, F> fmt::Debug for OnceValue<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if !self.once.is_done() {
            "pending"
        } else {
            // SAFETY: done, so the slot is final (Acquire in `is_done`).
            match self.slot.with(|p| unsafe { &*p }) {
                Slot::Panicked(_) => "panicked",
                _ => "ready",
            }
        };
        f.debug_struct("OnceValue").field("state", &state).finish()
    }
}

/// A function that runs once however often it is called: Go's `sync.OnceFunc`.
///
/// Created by [`once_func`]. If the function panicked, every call panics with the same
/// value (see [`OnceValue`]).
///
/// # Examples
///
/// ```
/// use gosync_once::once_func;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let runs = AtomicU32::new(0);
/// let init = once_func(|| { runs.fetch_add(1, Ordering::Relaxed); });
/// init.call();
/// init.call();
/// assert_eq!(runs.load(Ordering::Relaxed), 1);
/// ```
pub struct OnceFunc<F> {
    inner: OnceValue<(), F>,
}

/// Creates a [`OnceFunc`]: Go's `sync.OnceFunc(f)`.
///
/// # Examples
///
/// ```
/// let hello = gosync_once::once_func(|| println!("hello, once"));
/// hello.call();
/// hello.call(); // prints nothing
/// ```
pub fn once_func<F: FnOnce()>(f: F) -> OnceFunc<F> {
    OnceFunc::new(f)
}

impl<F: FnOnce()> OnceFunc<F> {
    gosync_core::const_fn_unless_loom! {
        /// Creates a `OnceFunc` around `f`.
        pub fn new(f: F) -> OnceFunc<F> {
            OnceFunc { inner: OnceValue::new(f) }
        }
    }

    /// Runs the function if it has not run yet; otherwise waits for that run to finish.
    ///
    /// # Panics
    ///
    /// If the function panicked, now or before, with the same value (see [`OnceValue`]).
    pub fn call(&self) {
        self.inner.get();
    }

    /// Waits, as a future, until another caller's [`call`](OnceFunc::call) has run the
    /// function; never runs it itself (the async twin of a `call` that finds the
    /// function running). As [`OnceValue::get_async`]: runtime-agnostic, cancel-safe
    /// (dropping it removes its waker), `Send` when the `OnceFunc` may be shared.
    ///
    /// # Panics
    ///
    /// When polled to completion, as `call`: if the function panicked, with the same
    /// panic value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// static READY: AtomicBool = AtomicBool::new(false);
    /// let init = Arc::new(gosync_once::once_func(|| READY.store(true, Ordering::Relaxed)));
    /// let starter = {
    ///     let init = Arc::clone(&init);
    ///     std::thread::spawn(move || init.call())
    /// };
    /// futures::executor::block_on(init.wait_async());
    /// assert!(READY.load(Ordering::Relaxed)); // the run happens-before the wake-up
    /// starter.join().unwrap();
    /// ```
    pub async fn wait_async(&self) {
        self.inner.get_async().await;
    }

    /// Whether the function has run (returned or panicked).
    pub fn is_done(&self) -> bool {
        self.inner.once.is_done()
    }
}

impl<F> fmt::Debug for OnceFunc<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceFunc")
            .field("inner", &self.inner)
            .finish()
    }
}

/// A lazily computed `Result` whose function runs once: Go's `sync.OnceValues`, whose
/// usual use is a `(value, error)` pair.
///
/// Created by [`once_values`]. [`get`](OnceValues::get) returns `Result<&T, &E>`; the
/// same outcome, success or error, is returned to every caller. (For other pairs, use
/// [`once_value`] with a tuple.)
///
/// # Examples
///
/// ```
/// use gosync_once::once_values;
///
/// let parsed = once_values(|| "8080".parse::<u16>());
/// assert_eq!(parsed.get(), Ok(&8080));
///
/// let broken = once_values(|| "port".parse::<u16>());
/// assert!(broken.get().is_err());
/// ```
pub struct OnceValues<T, E, F> {
    inner: OnceValue<Result<T, E>, F>,
}

/// Creates a [`OnceValues`]: Go's `sync.OnceValues(f)` for a function returning `Result`.
///
/// # Examples
///
/// ```
/// let file_len = gosync_once::once_values(|| std::fs::metadata("/definitely/not/here").map(|m| m.len()));
/// assert!(file_len.get().is_err());
/// ```
pub fn once_values<T, E, F: FnOnce() -> Result<T, E>>(f: F) -> OnceValues<T, E, F> {
    OnceValues::new(f)
}

impl<T, E, F: FnOnce() -> Result<T, E>> OnceValues<T, E, F> {
    gosync_core::const_fn_unless_loom! {
        /// Creates a `OnceValues` around `f`.
        pub fn new(f: F) -> OnceValues<T, E, F> {
            OnceValues { inner: OnceValue::new(f) }
        }
    }

    /// Returns the function's outcome, running it first if no call has yet.
    ///
    /// # Panics
    ///
    /// If the function panicked, now or before, with the same value (see [`OnceValue`]).
    pub fn get(&self) -> Result<&T, &E> {
        self.inner.get().as_ref()
    }

    /// Waits, as a future, until another caller's [`get`](OnceValues::get) has run the
    /// function, and returns its outcome; never runs the function itself. As
    /// [`OnceValue::get_async`]: runtime-agnostic, cancel-safe (dropping it removes its
    /// waker), `Send` when the `OnceValues` may be shared.
    ///
    /// # Panics
    ///
    /// When polled to completion, as `get`: if the function panicked, with the same
    /// panic value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let port = Arc::new(gosync_once::once_values(|| "8080".parse::<u16>()));
    /// let parser = {
    ///     let port = Arc::clone(&port);
    ///     std::thread::spawn(move || port.get().is_ok())
    /// };
    /// assert_eq!(futures::executor::block_on(port.get_async()), Ok(&8080));
    /// assert!(parser.join().unwrap());
    /// ```
    pub async fn get_async(&self) -> Result<&T, &E> {
        self.inner.get_async().await.as_ref()
    }
}

impl<T, E, F> fmt::Debug for OnceValues<T, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceValues")
            .field("inner", &self.inner)
            .finish()
    }
}
