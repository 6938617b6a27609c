//! Loom models of the Once protocol (run with `RUSTFLAGS="--cfg loom"`).
#![cfg(loom)]

use gosync_core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use gosync_core::sync::{thread, Arc, UnsafeCell};
use gosync_once::{once_value, Once};
use std::panic::{catch_unwind, AssertUnwindSafe};

struct Data(UnsafeCell<usize>);
// SAFETY: written only inside the `Once` function, read only after `call_once`
// returned; loom checks that this is race free.
unsafe impl Sync for Data {}

/// Three racing first callers: the function runs exactly once, and every caller sees its
/// (plain, non-atomic) write when `call_once` returns.
#[test]
fn loom_once_racing_first_callers() {
    loom::model(|| {
        let once = Arc::new(Once::new());
        let data = Arc::new(Data(UnsafeCell::new(0)));
        let runs = Arc::new(AtomicUsize::new(0));
        let call = {
            let (once, data, runs) = (Arc::clone(&once), Arc::clone(&data), Arc::clone(&runs));
            move || {
                once.call_once(|| {
                    runs.fetch_add(1, Relaxed);
                    // SAFETY: only the elected runner writes.
                    data.0.with_mut(|p| unsafe { *p = 7 });
                });
                // SAFETY: `call_once` returned: the write happened-before.
                assert_eq!(data.0.with(|p| unsafe { *p }), 7);
            }
        };
        let a = thread::spawn(call.clone());
        let b = thread::spawn(call.clone());
        call();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(runs.load(Relaxed), 1);
    });
}

/// The function panics while another caller waits: the waiter is released, runs
/// nothing, and the `Once` is done.
#[test]
fn loom_once_panic_with_concurrent_waiter() {
    loom::model(|| {
        let once = Arc::new(Once::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let (o, r) = (Arc::clone(&once), Arc::clone(&runs));
        let other = thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                o.call_once(|| {
                    r.fetch_add(1, Relaxed);
                    panic!("f panics");
                })
            }));
            result.is_err()
        });
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            once.call_once(|| {
                runs.fetch_add(1, Relaxed);
                panic!("f panics");
            })
        }))
        .is_err();
        let theirs = other.join().unwrap();
        assert_eq!(runs.load(Relaxed), 1);
        assert!(mine ^ theirs, "exactly the runner sees the panic");
        assert!(once.is_done());
    });
}

/// `OnceValue` from two threads: one computation, one value.
#[test]
fn loom_once_value_shared() {
    loom::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let v = Arc::new(once_value(move || {
            r.fetch_add(1, Relaxed);
            String::from("v")
        }));
        let v2 = Arc::clone(&v);
        let t = thread::spawn(move || assert_eq!(v2.get(), "v"));
        assert_eq!(v.get(), "v");
        t.join().unwrap();
        assert_eq!(runs.load(Relaxed), 1);
    });
}

/// The message of a `get` that panicked, or `None` if it returned.
fn panic_message(f: impl FnOnce() -> u32) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// `OnceValue` whose function panics, with a concurrent `get`: the panic is recorded
/// (DONE_PANICKED, not DONE), so every `get` from either thread, before or after, panics
/// with the function's message and none reads a value that was never stored.
#[test]
fn loom_once_value_panic_with_concurrent_get() {
    loom::model(|| {
        let v = Arc::new(once_value(|| -> u32 { panic!("boom") }));
        let v2 = Arc::clone(&v);
        let t = thread::spawn(move || [panic_message(|| *v2.get()), panic_message(|| *v2.get())]);
        let boom = Some(String::from("boom"));
        assert_eq!(panic_message(|| *v.get()), boom);
        assert_eq!(t.join().unwrap(), [boom.clone(), boom.clone()]);
        assert_eq!(panic_message(|| *v.get()), boom);
        assert_eq!(v.try_get(), None);
    });
}
