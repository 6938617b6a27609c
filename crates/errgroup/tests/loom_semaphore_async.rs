//! Loom models of `Semaphore::acquire_async` (the waker paths) and of an awaited
//! `singleflight::Handle`: a task registering while a release grants (alone, and next
//! to a blocked thread waiting for the same unit), a queued task
//! dropped while a release grants it (the handed-off permit passes on to a blocked
//! thread behind it), a task that gives up and acquires again while the release races
//! it, and a handle registering while its call publishes.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p gosync-errgroup --test loom_semaphore_async`.
//!
//! Shown able to fail (each mutation applied locally, the model run, then reverted):
//! registering without re-checking the fast path under the lock (`Core::register`
//! enqueues though a release freed the weight since the first check) deadlocks
//! `loom_semaphore_async_register_vs_release`,
//! `loom_semaphore_async_thread_and_task_vs_release` and
//! `loom_semaphore_async_give_up_then_acquire_again`; a dropped, granted future that puts
//! its weight back without `notify_waiters` (`Semaphore::give_up`) deadlocks
//! `loom_semaphore_async_drop_vs_release`; one that does not put it back at all deadlocks
//! `loom_semaphore_async_give_up_then_acquire_again`; `publish` that notifies the task
//! wakers before setting the outcome (two critical sections) deadlocks
//! `loom_singleflight_handle_register_vs_publish`.
#![cfg(loom)]

use std::task::Poll;

use gosync_core::sync::{thread, Arc, UnsafeCell};
use gosync_errgroup::singleflight;
use gosync_errgroup::Semaphore;
use gosync_testkit::{block_on, poll_once};

/// Written by the releaser before its release: loom reports a data race if the task
/// completed its acquire without a happens-before edge from that release.
struct Slot(UnsafeCell<usize>);
// SAFETY: the releaser writes before `release`, the task reads after acquiring; loom
// checks that this really is race free.
unsafe impl Sync for Slot {}

/// A task acquires (fast path or queued) while another thread releases the only unit:
/// it completes (a lost wake-up leaves `block_on` parked: a deadlock) and sees the
/// releaser's write; the whole weight is free at the end and nobody is queued.
#[test]
fn loom_semaphore_async_register_vs_release() {
    loom::model(|| {
        let sem = std::sync::Arc::new(Semaphore::new(1));
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        sem.acquire(1);
        let releaser = {
            let (sem, slot) = (std::sync::Arc::clone(&sem), Arc::clone(&slot));
            thread::spawn(move || {
                // SAFETY: only the releaser writes, before its release.
                slot.0.with_mut(|p| unsafe { *p = 7 });
                sem.release(1);
            })
        };
        let guard = block_on(sem.acquire_owned_async(1));
        // SAFETY: the acquire completed, so the release (and the write) happened-before.
        assert_eq!(slot.0.with(|p| unsafe { *p }), 7);
        drop(guard);
        releaser.join().unwrap();
        assert_eq!((sem.available(), sem.waiters()), (1, 0));
    });
}

/// A blocked thread and a task both wait for the only unit while it is released: in
/// whichever order they queued, each gets it in turn (the first releases it to the
/// other), so neither sleeps forever.
#[test]
fn loom_semaphore_async_thread_and_task_vs_release() {
    loom::model(|| {
        let sem = std::sync::Arc::new(Semaphore::new(1));
        sem.acquire(1);
        let thread_waiter = {
            let sem = std::sync::Arc::clone(&sem);
            thread::spawn(move || {
                sem.acquire(1);
                sem.release(1);
            })
        };
        let releaser = {
            let sem = std::sync::Arc::clone(&sem);
            thread::spawn(move || sem.release(1))
        };
        block_on(sem.acquire_async(1));
        sem.release(1);
        thread_waiter.join().unwrap();
        releaser.join().unwrap();
        assert_eq!((sem.available(), sem.waiters()), (1, 0));
    });
}

/// A task queued at the head is dropped while a release grants it; a blocked thread is
/// queued behind it. Whether the drop withdrew the task before the grant (the release
/// then grants the thread) or came after it (the weight is put back and handed on), the
/// thread acquires: without the hand-on it sleeps forever (a deadlock).
#[test]
fn loom_semaphore_async_drop_vs_release() {
    loom::model(|| {
        let sem = std::sync::Arc::new(Semaphore::new(1));
        sem.acquire(1);
        let mut head = sem.acquire_async(1);
        assert_eq!(poll_once(&mut head), Poll::Pending);
        let behind = {
            let sem = std::sync::Arc::clone(&sem);
            thread::spawn(move || {
                sem.acquire(1);
                sem.release(1);
            })
        };
        let releaser = {
            let sem = std::sync::Arc::clone(&sem);
            thread::spawn(move || sem.release(1))
        };
        drop(head);
        releaser.join().unwrap();
        behind.join().unwrap();
        assert_eq!((sem.available(), sem.waiters()), (1, 0));
    });
}

/// Adversarial follow-up: a queued task gives up while a release races it, then the same
/// thread acquires again as a task. Whatever the order, the second acquire completes,
/// no weight is lost or leaked, and nothing stays queued.
#[test]
fn loom_semaphore_async_give_up_then_acquire_again() {
    loom::model(|| {
        let sem = std::sync::Arc::new(Semaphore::new(1));
        sem.acquire(1);
        let mut first = sem.acquire_async(1);
        assert_eq!(poll_once(&mut first), Poll::Pending);
        let releaser = {
            let sem = std::sync::Arc::clone(&sem);
            thread::spawn(move || sem.release(1))
        };
        drop(first);
        let guard = block_on(sem.acquire_guard_async(1));
        drop(guard);
        releaser.join().unwrap();
        assert_eq!((sem.available(), sem.waiters()), (1, 0));
    });
}

/// A task awaits a spawned call's handle while the call (its leader on another thread)
/// publishes: the task completes with the value (a lost wake-up is a deadlock).
#[test]
fn loom_singleflight_handle_register_vs_publish() {
    loom::model(|| {
        let g = singleflight::Group::<u8, u8>::new();
        let handle = g.spawn(0, || 5);
        assert_eq!(block_on(handle), (5, false));
    });
}
