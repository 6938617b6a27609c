//! The std/loom switch shared by the gosync crates.
//!
//! Every atomic, lock, `Arc`, `UnsafeCell` and thread used by a gosync primitive is
//! imported from here, never from `std` or `parking_lot` directly. A normal build gets
//! std atomics, `parking_lot` locks and std threads; a build with
//! `RUSTFLAGS="--cfg loom"` gets [loom]'s model-checked versions behind the same API, so
//! the racy logic of every primitive is byte-for-byte the same code in both builds.
//!
//! The API shape is `parking_lot`'s: `lock()` returns the guard directly (no poisoning),
//! and [`Condvar`] waits on `&mut MutexGuard`. [`UnsafeCell`] has loom's
//! `with`/`with_mut` shape on both sides.
//!
//! Loom has no clock. Under loom, a timed wait ([`Condvar::wait_until`]) times out at
//! once without blocking, as if the deadline had already passed: that is a legal outcome
//! of a real timed wait, and it lets a model explore the time-out paths. Deterministic
//! deadlines are modelled with a [`FakeClock`](crate::FakeClock) instead.
//!
//! This module is `pub` and `#[doc(hidden)]` for the sibling gosync crates only: it is
//! not public API and is exempt from semver (see the crate docs, "API stability"). Its
//! re-exports are `parking_lot`'s types, so a `parking_lot` major upgrade changes them;
//! no documented item of `gosync-core` names them.
//!
//! [loom]: https://docs.rs/loom

pub use imp::*;

#[cfg(not(loom))]
mod imp {
    pub use parking_lot::{Condvar, Mutex, MutexGuard, WaitTimeoutResult};
    pub use std::sync::Arc;

    /// Atomics: `std::sync::atomic`, or loom's under `--cfg loom`.
    pub mod atomic {
        pub use std::sync::atomic::{
            fence, AtomicBool, AtomicI64, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicU8,
            AtomicUsize, Ordering,
        };
    }

    /// Threads: `std::thread`, or loom's under `--cfg loom`.
    pub mod thread {
        pub use std::thread::{
            current, park, sleep, spawn, yield_now, JoinHandle, Thread, ThreadId,
        };
    }

    /// Spin hints: `std::hint`, or loom's under `--cfg loom`.
    pub mod hint {
        pub use std::hint::spin_loop;
    }

    /// `std::cell::UnsafeCell` with loom's access API.
    ///
    /// Access goes through closures so that loom can track every read and write.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Creates a cell holding `data`.
        #[inline]
        pub const fn new(data: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(data))
        }

        /// Consumes the cell and returns its value.
        #[inline]
        pub fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Calls `f` with a shared pointer to the contents.
        #[inline]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with a mutable pointer to the contents.
        #[inline]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        /// Returns a mutable reference to the contents; the `&mut self` proves exclusivity.
        #[inline]
        pub fn get_mut(&mut self) -> &mut T {
            self.0.get_mut()
        }
    }
}

#[cfg(loom)]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::time::{Duration, Instant};

    pub use loom::cell::UnsafeCell;
    pub use loom::sync::Arc;

    /// Atomics: `std::sync::atomic`, or loom's under `--cfg loom`.
    pub mod atomic {
        pub use loom::sync::atomic::{
            fence, AtomicBool, AtomicI64, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicU8,
            AtomicUsize, Ordering,
        };
    }

    /// Threads: `std::thread`, or loom's under `--cfg loom`.
    pub mod thread {
        pub use loom::thread::{current, park, spawn, yield_now, JoinHandle, Thread, ThreadId};

        /// Loom has no clock: sleeping only yields to the other modelled threads.
        pub fn sleep(_: std::time::Duration) {
            yield_now();
        }
    }

    /// Spin hints: `std::hint`, or loom's under `--cfg loom`.
    pub mod hint {
        pub use loom::hint::spin_loop;
    }

    /// loom's `Mutex` with `parking_lot`'s API: `lock()` returns the guard, no poisoning.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard of [`Mutex`]. It remembers its mutex, so that a timed wait can release
    /// the lock and take it again (see [`Condvar::wait_until`]).
    #[derive(Debug)]
    pub struct MutexGuard<'a, T>(
        Option<loom::sync::MutexGuard<'a, T>>,
        &'a loom::sync::Mutex<T>,
    );

    impl<T> Mutex<T> {
        /// Creates a mutex holding `value`.
        pub fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        /// Locks the mutex, blocking the modelled thread until it is free.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(
                Some(self.0.lock().unwrap_or_else(|e| e.into_inner())),
                &self.0,
            )
        }

        /// Locks the mutex if it is free.
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.0.try_lock() {
                Ok(g) => Some(MutexGuard(Some(g), &self.0)),
                Err(std::sync::TryLockError::Poisoned(e)) => {
                    Some(MutexGuard(Some(e.into_inner()), &self.0))
                }
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }

        /// Returns a mutable reference to the value; the `&mut self` proves exclusivity.
        pub fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }

        /// Consumes the mutex and returns its value.
        pub fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T> MutexGuard<'_, T> {
        /// Releases the lock, runs `f`, and takes the lock back, also when `f` unwinds:
        /// `parking_lot::MutexGuard::unlocked`.
        pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
            struct Relock<'b, 'a, T>(&'b mut MutexGuard<'a, T>);
            impl<T> Drop for Relock<'_, '_, T> {
                fn drop(&mut self) {
                    let g = &mut *self.0;
                    g.0 = Some(g.1.lock().unwrap_or_else(|e| e.into_inner()));
                }
            }
            drop(s.0.take().expect("guard present"));
            let _relock = Relock(s);
            f()
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0
                .as_ref()
                .expect("guard present outside Condvar::wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0
                .as_mut()
                .expect("guard present outside Condvar::wait")
        }
    }

    /// The result of a timed wait, as `parking_lot::WaitTimeoutResult`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        /// Whether the wait returned because its deadline passed.
        pub fn timed_out(self) -> bool {
            self.0
        }
    }

    /// loom's `Condvar` with `parking_lot`'s API (waits take `&mut MutexGuard`).
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);

    impl Condvar {
        /// Creates a condition variable.
        pub fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        /// Blocks until notified, releasing the guard's lock meanwhile.
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard present");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
        }

        /// Under loom, time passes instantly: a timed wait times out at once. As a real
        /// wait does, it releases the lock meanwhile, so the other modelled threads can
        /// change the state before the waiter takes the lock back and sees its time-out
        /// (the window a waiter's give-up path must handle).
        pub fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            drop(guard.0.take().expect("guard present"));
            loom::thread::yield_now();
            guard.0 = Some(guard.1.lock().unwrap_or_else(|e| e.into_inner()));
            WaitTimeoutResult(true)
        }

        /// Under loom, time passes instantly: as [`wait_until`](Condvar::wait_until).
        pub fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: Duration,
        ) -> WaitTimeoutResult {
            self.wait_until(guard, Instant::now())
        }

        /// Wakes one waiter.
        pub fn notify_one(&self) {
            self.0.notify_one();
        }

        /// Wakes every waiter.
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}
