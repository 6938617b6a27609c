//! `Once::wait_async`, `OnceValue::get_async`, `OnceFunc::wait_async` and
//! `OnceValues::get_async`: under two executors (tokio,
//! `futures::executor`), cancelled at every poll point, next to blocking callers.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};

use gosync_once::{once_value, Once, OnceWait};
use gosync_testkit::{counting, poll_pinned as poll};

#[test]
fn the_futures_are_send() {
    fn check<T: Send>(_: &T) {}
    let once = Once::new();
    check::<OnceWait<'_>>(&once.wait_async());
    let v = once_value(|| 1u32);
    check(&v.get_async());
    let f = gosync_once::once_func(|| ());
    check(&f.wait_async());
    let r = gosync_once::once_values(|| Ok::<u8, String>(1));
    check(&r.get_async());
}

#[test]
fn done_once_is_ready_at_once() {
    let once = Once::new();
    once.call_once(|| {});
    let (c, waker) = counting();
    assert_eq!(poll(pin!(once.wait_async()), &waker), Poll::Ready(()));
    assert_eq!(c.count(), 0);
}

/// The waiting task does not run anything: it is woken by the `call_once` whose
/// function completes, and sees that function's write.
#[test]
fn woken_by_the_completing_call_once_and_never_runs_a_function() {
    let once = Once::new();
    let (c, waker) = counting();
    let mut fut = pin!(once.wait_async());
    assert_eq!(poll(fut.as_mut(), &waker), Poll::Pending);
    assert_eq!(poll(fut.as_mut(), &waker), Poll::Pending);
    assert!(!once.is_done(), "waiting runs nothing");
    let mut x = 0;
    once.call_once(|| x = 5);
    assert_eq!(c.count(), 1);
    assert_eq!(poll(fut, &waker), Poll::Ready(()));
    assert_eq!(x, 5);
}

/// Drop the future at every poll point (unpolled, registered once, registered twice,
/// after the completion but before a poll, after `Ready`): the other waiter is still
/// woken and the list is left empty (a second round of registrations works).
#[test]
fn cancel_at_every_poll_point() {
    for drop_at in 0..5 {
        let once = Once::new();
        let (_, waker) = counting();
        let (other_c, other_w) = counting();
        let mut other = Box::pin(once.wait_async());
        assert_eq!(poll(other.as_mut(), &other_w), Poll::Pending);
        let mut fut = Box::pin(once.wait_async());
        let mut completed = false;
        for step in 0..drop_at {
            match step {
                0 | 1 => assert_eq!(poll(fut.as_mut(), &waker), Poll::Pending),
                2 => {
                    once.call_once(|| {});
                    completed = true;
                }
                _ => assert_eq!(poll(fut.as_mut(), &waker), Poll::Ready(())),
            }
        }
        drop(fut);
        if !completed {
            once.call_once(|| {});
        }
        assert_eq!(other_c.count(), 1, "drop_at {drop_at}");
        assert_eq!(poll(other.as_mut(), &other_w), Poll::Ready(()));
        assert!(format!("{:?}", other).contains("registered: false"));
    }
}

/// The function panics: the `Once` is done (Go's rule) and the waiting task completes.
#[test]
fn a_panicking_function_still_releases_the_task() {
    let once = Once::new();
    let (c, waker) = counting();
    let mut fut = pin!(once.wait_async());
    assert_eq!(poll(fut.as_mut(), &waker), Poll::Pending);
    let r = catch_unwind(AssertUnwindSafe(|| {
        once.call_once(|| panic!("init failed"))
    }));
    assert!(r.is_err());
    assert_eq!(c.count(), 1);
    assert_eq!(poll(fut, &waker), Poll::Ready(()));
}

/// A waker that panics on wake: `call_once` panics with it, after the `Once` is done
/// and the other tasks and a blocked thread were woken.
#[test]
fn a_panicking_waker_leaves_the_once_done() {
    struct Bad;
    impl Wake for Bad {
        fn wake(self: Arc<Self>) {
            panic!("waker panics on wake");
        }
    }
    let once = Once::new();
    let bad = Waker::from(Arc::new(Bad));
    let (good_c, good_w) = counting();
    let mut f1 = Box::pin(once.wait_async());
    let mut f2 = Box::pin(once.wait_async());
    assert_eq!(poll(f1.as_mut(), &bad), Poll::Pending);
    assert_eq!(poll(f2.as_mut(), &good_w), Poll::Pending);
    let r = catch_unwind(AssertUnwindSafe(|| once.call_once(|| {})));
    assert!(
        r.is_err(),
        "the waker's panic reaches the completing call_once"
    );
    assert!(once.is_done());
    assert_eq!(good_c.count(), 1);
    assert_eq!(poll(f1.as_mut(), &bad), Poll::Ready(()));
    assert_eq!(poll(f2.as_mut(), &good_w), Poll::Ready(()));
    once.call_once(|| unreachable!());
}

/// `get_async` on tokio: tasks wait for a thread's `get`, and all see the value.
#[test]
fn tokio_tasks_get_the_value_a_thread_computed() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let value = {
        let calls = Arc::clone(&calls);
        Arc::new(once_value(move || {
            calls.fetch_add(1, SeqCst);
            String::from("ready")
        }))
    };
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let value = Arc::clone(&value);
            rt.spawn(async move { value.get_async().await.clone() })
        })
        .collect();
    let thread = {
        let value = Arc::clone(&value);
        std::thread::spawn(move || value.get().len())
    };
    rt.block_on(async {
        for t in tasks {
            assert_eq!(t.await.unwrap(), "ready");
        }
    });
    assert_eq!(thread.join().unwrap(), 5);
    assert_eq!(calls.load(SeqCst), 1);
}

/// `get_async` under `futures::executor::block_on`, after a
/// race lost by a first waiter (the dropped future leaves nothing behind).
#[test]
fn futures_executor_get_async() {
    let value = Arc::new(once_value(|| 42u64));
    let (_, waker) = counting();
    {
        let mut lost = Box::pin(value.get_async());
        assert!(poll(lost.as_mut(), &waker).is_pending());
    }
    let getter = {
        let value = Arc::clone(&value);
        std::thread::spawn(move || *value.get())
    };
    assert_eq!(*futures::executor::block_on(value.get_async()), 42);
    assert_eq!(getter.join().unwrap(), 42);
}

/// `get_async` after the function panicked re-raises its panic, as `get` does.
#[test]
fn get_async_after_a_panic_repanics() {
    let value = once_value(|| -> u8 { panic!("no value") });
    assert!(catch_unwind(AssertUnwindSafe(|| value.get())).is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(value.get_async());
    }));
    assert!(r.is_err());
}

#[test]
fn a_task_waiting_for_a_value_whose_function_panics_is_woken_and_repanics() {
    // The function's panic leaves the `OnceValue` done-with-a-panic (its own done state):
    // a task registered before the run must be woken by it and see the panic, not wait.
    let value = once_value(|| -> u8 { panic!("no value") });
    let (count, waker) = counting();
    let mut fut = pin!(value.get_async());
    assert!(poll(fut.as_mut(), &waker).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| value.get())).is_err());
    assert_eq!(count.count(), 1, "the task was not woken");
    let r = catch_unwind(AssertUnwindSafe(|| poll(fut.as_mut(), &waker)));
    assert!(
        r.is_err(),
        "the woken task must re-raise the function's panic"
    );
}

/// `OnceFunc::wait_async`: pending until a `call` runs the function (it never runs it),
/// woken by that call, and completed by a later poll; a second future is ready at once.
#[test]
fn once_func_wait_async_waits_for_a_call() {
    let runs = AtomicUsize::new(0);
    let f = gosync_once::once_func(|| {
        runs.fetch_add(1, SeqCst);
    });
    let (count, waker) = counting();
    let mut fut = pin!(f.wait_async());
    assert!(poll(fut.as_mut(), &waker).is_pending());
    assert!(poll(fut.as_mut(), &waker).is_pending());
    assert_eq!(runs.load(SeqCst), 0, "waiting must not run the function");
    f.call();
    assert_eq!(count.count(), 1, "the call did not wake the task");
    assert!(poll(fut.as_mut(), &waker).is_ready());
    assert!(poll(pin!(f.wait_async()), &waker).is_ready());
    assert_eq!(runs.load(SeqCst), 1);
}

/// `OnceFunc::wait_async` after a panicking function re-raises its panic, as `call` does.
#[test]
fn once_func_wait_async_after_a_panic_repanics() {
    let f = gosync_once::once_func(|| panic!("boom"));
    assert!(catch_unwind(AssertUnwindSafe(|| f.call())).is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(f.wait_async());
    }));
    assert!(r.is_err());
}

/// `OnceValues::get_async`: tokio tasks wait for a thread's `get` and all see the same
/// outcome, success or error; dropping a registered future leaves nothing behind.
#[test]
fn once_values_get_async_on_tokio_sees_the_outcome() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for input in ["8080", "port"] {
        let parsed = Arc::new(gosync_once::once_values(move || input.parse::<u16>()));
        let (_count, waker) = counting();
        {
            // Registered, then dropped before the outcome exists.
            let mut dropped = Box::pin(parsed.get_async());
            assert!(poll(dropped.as_mut(), &waker).is_pending());
        }
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let parsed = Arc::clone(&parsed);
                rt.spawn(async move { parsed.get_async().await.copied().map_err(|_| ()) })
            })
            .collect();
        let expected = parsed.get().copied().map_err(|_| ());
        assert_eq!(expected.is_ok(), input == "8080");
        for t in tasks {
            assert_eq!(rt.block_on(t).unwrap(), expected);
        }
    }
}
