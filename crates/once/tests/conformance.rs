//! Conformance with Go's `sync.Once`, `OnceFunc`, `OnceValue` and `OnceValues`: one test
//! per test of Go's `src/sync/once_test.go` and `src/sync/oncefunc_test.go` (each names
//! the Go test it mirrors).
//!
//! Not mirrored, being runtime-internal: the `testing.AllocsPerRun` halves of
//! `TestOnceFunc` / `TestOnceValue` / `TestOnceValues` (their call-count halves are
//! mirrored), and the benchmarks. `TestOnceXGC` (the function is collected after its run)
//! is mirrored with a drop counter instead of the garbage collector.
//!
//! Documented differences (crate docs, "Differences from Go") tested as documented:
//! `OnceValue::get` returns `&T`; `once_values` takes a `Result`-returning function;
//! recursion panics instead of deadlocking; later calls re-raise an equal `&str`/`String`
//! payload, and `"Box<dyn Any>"` for any other payload; Go's `Goexit` and `panic(nil)`
//! have no Rust counterpart (the nearest scenarios are tested).
#![cfg(not(loom))]

use std::any::Any;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use gosync_once::{once_func, once_value, once_values, Once};

type Payload = Box<dyn Any + Send>;

fn payload_str(p: &Payload) -> Option<&str> {
    p.downcast_ref::<&'static str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

// ---------------------------------------------------------------------------------------
// src/sync/once_test.go
// ---------------------------------------------------------------------------------------

/// Go's `TestOnce`: 10 goroutines call `Do` with the same increment; each sees the count
/// at 1 when its `Do` returns, and it is 1 at the end.
#[test]
fn go_test_once() {
    let once = Once::new();
    let o = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        for _ in 0..10 {
            let tx = tx.clone();
            let (once, o) = (&once, &o);
            s.spawn(move || {
                once.call_once(|| {
                    o.fetch_add(1, Ordering::Relaxed);
                });
                assert_eq!(o.load(Ordering::Relaxed), 1, "once failed inside run");
                tx.send(()).unwrap();
            });
        }
        for _ in 0..10 {
            rx.recv().unwrap();
        }
    });
    assert_eq!(o.load(Ordering::Relaxed), 1, "once failed outside run");
}

/// Go's `TestOncePanic`: the first `Do` panics (and propagates), the second does not
/// (the panicking run counts as done), and no later function runs.
#[test]
fn go_test_once_panic() {
    let once = Once::new();
    for i in 0..2 {
        let r = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("failed"))));
        match i {
            0 => assert_eq!(
                payload_str(&r.expect_err("Do has not panicked")),
                Some("failed")
            ),
            _ => assert!(r.is_ok(), "Do has panicked on second iteration"),
        }
    }
    once.call_once(|| {});
    once.call_once(|| panic!("Once called twice"));
    assert!(once.is_done());
}

// ---------------------------------------------------------------------------------------
// src/sync/oncefunc_test.go
// ---------------------------------------------------------------------------------------

/// Go's `TestOnceFunc` (call-count half; the zero-allocation half is runtime-internal).
#[test]
fn go_test_once_func() {
    let calls = AtomicUsize::new(0);
    let f = once_func(|| {
        calls.fetch_add(1, Ordering::Relaxed);
    });
    for _ in 0..10 {
        f.call();
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go's `TestOnceValue`: one call, and every call returns its value (here `&T`).
#[test]
fn go_test_once_value() {
    let calls = AtomicUsize::new(0);
    let f = once_value(|| calls.fetch_add(1, Ordering::Relaxed) + 1);
    for _ in 0..10 {
        f.get();
    }
    assert_eq!(*f.get(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go's `TestOnceValues`: a two-value function. Go's pair is `(int, int)`; here a pair
/// is a tuple through `once_value`, and Go's `(T, error)` idiom is `once_values` with a
/// `Result` (documented).
#[test]
fn go_test_once_values() {
    let calls = AtomicUsize::new(0);
    let f = once_value(|| {
        let c = calls.fetch_add(1, Ordering::Relaxed) + 1;
        (c, c + 1)
    });
    for _ in 0..10 {
        f.get();
    }
    assert_eq!(*f.get(), (1, 2));
    assert_eq!(calls.load(Ordering::Relaxed), 1);

    let calls = AtomicUsize::new(0);
    let ok = once_values(|| Ok::<_, String>(calls.fetch_add(1, Ordering::Relaxed) + 1));
    let err = once_values(|| Err::<u32, _>(String::from("boom")));
    for _ in 0..10 {
        assert_eq!(ok.get(), Ok(&1));
        assert_eq!(err.get(), Err(&String::from("boom")));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go's `testOncePanicWith`: call `f` twice; both calls panic, `check` approves each
/// payload, and the wrapped function ran once.
fn test_once_panic_with(calls: &AtomicUsize, f: impl Fn(), check: impl Fn(&str, Payload)) {
    for label in ["first time", "second time"] {
        let p = catch_unwind(AssertUnwindSafe(&f))
            .err()
            .unwrap_or_else(|| panic!("{label}: f did not panic"));
        check(label, p);
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go's `testOncePanicX`: both panics are the value `"x"` (here: the same `&'static str`
/// payload both times, as `panic!("x")` makes it).
fn test_once_panic_x(calls: &AtomicUsize, f: impl Fn()) {
    test_once_panic_with(calls, f, |label, p| {
        assert_eq!(p.downcast_ref::<&'static str>(), Some(&"x"), "{label}");
    });
}

/// Go's `TestOnceFuncPanic`.
#[test]
fn go_test_once_func_panic() {
    let calls = AtomicUsize::new(0);
    let f = once_func(|| {
        calls.fetch_add(1, Ordering::Relaxed);
        panic!("x");
    });
    test_once_panic_x(&calls, || f.call());
}

/// Go's `TestOnceValuePanic`.
#[test]
fn go_test_once_value_panic() {
    let calls = AtomicUsize::new(0);
    let f = once_value(|| -> u32 {
        calls.fetch_add(1, Ordering::Relaxed);
        panic!("x");
    });
    test_once_panic_x(&calls, || {
        f.get();
    });
}

/// Go's `TestOnceValuesPanic`.
#[test]
fn go_test_once_values_panic() {
    let calls = AtomicUsize::new(0);
    let f = once_values(|| -> Result<u32, ()> {
        calls.fetch_add(1, Ordering::Relaxed);
        panic!("x");
    });
    test_once_panic_x(&calls, || {
        let _ = f.get();
    });
}

/// `testOncePanicX` with a formatted message: a `String` payload is re-raised as an
/// equal `String` on every call.
#[test]
fn once_func_panic_with_string_payload_repeats_it() {
    let calls = AtomicUsize::new(0);
    let f = once_func(|| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        panic!("x{n}");
    });
    test_once_panic_with(
        &calls,
        || f.call(),
        |label, p| {
            assert_eq!(
                p.downcast_ref::<String>().map(String::as_str),
                Some("x0"),
                "{label}"
            );
        },
    );
}

/// Go's `TestOnceFuncPanicNil`: Rust has no nil panic. The nearest is a payload that is
/// neither `&str` nor `String` (here `()`): every call panics, the first with the
/// original payload, later ones with `"Box<dyn Any>"` (documented: a payload cannot be
/// cloned).
#[test]
fn go_test_once_func_panic_nil() {
    let calls = AtomicUsize::new(0);
    let f = once_func(|| {
        calls.fetch_add(1, Ordering::Relaxed);
        panic_any(());
    });
    test_once_panic_with(
        &calls,
        || f.call(),
        |label, p| match label {
            "first time" => assert!(p.is::<()>(), "the original payload"),
            _ => assert_eq!(p.downcast_ref::<String>().unwrap(), "Box<dyn Any>"),
        },
    );
}

/// Go's `TestOnceFuncGoexit`: "if f calls Goexit, the results are unspecified, but f is
/// not called twice". Rust has no `Goexit`; the nearest is a function that ends its
/// thread's work abnormally (unwinds) on one thread, then a call on another thread,
/// each caller recovering: `f` still ran once.
#[test]
fn go_test_once_func_goexit() {
    let calls = Arc::new(AtomicUsize::new(0));
    let f = {
        let calls = Arc::clone(&calls);
        Arc::new(once_func(move || {
            calls.fetch_add(1, Ordering::Relaxed);
            panic_any(());
        }))
    };
    for _ in 0..2 {
        let f = Arc::clone(&f);
        let r = thread::spawn(move || catch_unwind(AssertUnwindSafe(|| f.call())).is_err());
        assert!(r.join().unwrap(), "every call panics");
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[derive(Debug, PartialEq)]
struct Origin(u32);

/// Go's `TestOnceFuncPanicTraceback`: the first call's panic comes from the function
/// itself. In Rust the panic hook reports the original site (it runs before the unwind
/// reaches the wrapper), and the first call propagates the original payload unchanged.
#[test]
fn go_test_once_func_panic_traceback() {
    let f = once_func(|| panic_any(Origin(7)));
    let p = catch_unwind(AssertUnwindSafe(|| f.call())).unwrap_err();
    assert_eq!(p.downcast_ref::<Origin>(), Some(&Origin(7)));
    let v = once_value(|| -> u8 { panic_any(Origin(8)) });
    let p = catch_unwind(AssertUnwindSafe(|| v.get())).unwrap_err();
    assert_eq!(p.downcast_ref::<Origin>(), Some(&Origin(8)));
}

/// Counts drops of what the wrapped function captures (Go's `buf`).
struct Captured(Arc<AtomicUsize>);
impl Drop for Captured {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Go's `TestOnceXGC`, each of its six cases: the function (and what it captures) is
/// kept until the first call, released after it (also when it panicked), even while the
/// wrapper lives on, and a second call still behaves.
#[test]
fn go_test_once_x_gc() {
    type Case = fn(Captured) -> Box<dyn Fn()>;
    let cases: [(&str, Case); 6] = [
        ("OnceFunc", |buf| {
            let f = once_func(move || {
                let _ = &buf;
            });
            Box::new(move || f.call())
        }),
        ("OnceValue", |buf| {
            let f = once_value(move || {
                let _ = &buf;
            });
            Box::new(move || *f.get())
        }),
        ("OnceValues", |buf| {
            let f = once_values(move || {
                let _ = &buf;
                Ok::<(), ()>(())
            });
            Box::new(move || {
                let _ = f.get();
            })
        }),
        ("OnceFunc panic", |buf| {
            let f = once_func(move || {
                let _ = &buf;
                panic!("test panic");
            });
            Box::new(move || f.call())
        }),
        ("OnceValue panic", |buf| {
            let f = once_value(move || -> u8 {
                let _ = &buf;
                panic!("test panic");
            });
            Box::new(move || {
                f.get();
            })
        }),
        ("OnceValues panic", |buf| {
            let f = once_values(move || -> Result<u8, ()> {
                let _ = &buf;
                panic!("test panic");
            });
            Box::new(move || {
                let _ = f.get();
            })
        }),
    ];
    for (name, make) in cases {
        let dropped = Arc::new(AtomicUsize::new(0));
        let f = make(Captured(Arc::clone(&dropped)));
        assert_eq!(
            dropped.load(Ordering::Relaxed),
            0,
            "{name}: released too early"
        );
        let _ = catch_unwind(AssertUnwindSafe(&f));
        assert_eq!(
            dropped.load(Ordering::Relaxed),
            1,
            "{name}: still held after the call"
        );
        let _ = catch_unwind(AssertUnwindSafe(&f));
        assert_eq!(dropped.load(Ordering::Relaxed), 1, "{name}: released twice");
        drop(f);
        assert_eq!(dropped.load(Ordering::Relaxed), 1, "{name}");
    }
}

/// A wrapper dropped without ever being called releases its function once.
#[test]
fn uncalled_wrapper_drops_its_function() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let captured = Captured(Arc::clone(&dropped));
    let f = once_func(move || drop(captured));
    drop(f);
    assert_eq!(dropped.load(Ordering::Relaxed), 1);
}

/// The panic of `Once`'s function with a concurrent waiter (Go: the waiter blocks on the
/// mutex until the deferred `done.Store(1)` and unlock, then returns normally without
/// running its own function); with the `OnceFunc` wrapper the waiter re-panics instead.
#[test]
fn panic_with_concurrent_waiter_releases_it() {
    let once = Once::new();
    let started = std::sync::Barrier::new(2);
    let release = std::sync::Barrier::new(2);
    thread::scope(|s| {
        let runner = s.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                once.call_once(|| {
                    started.wait();
                    release.wait();
                    panic!("boom");
                })
            }))
        });
        started.wait();
        let waiter = s.spawn(|| once.call_once(|| panic!("must not run")));
        release.wait();
        assert!(runner.join().unwrap().is_err());
        waiter.join().expect("the waiter returns normally");
    });

    let f = once_func(|| {
        thread::sleep(std::time::Duration::from_millis(10));
        panic!("x")
    });
    thread::scope(|s| {
        let a = s.spawn(|| catch_unwind(AssertUnwindSafe(|| f.call())).unwrap_err());
        let b = s.spawn(|| catch_unwind(AssertUnwindSafe(|| f.call())).unwrap_err());
        for p in [a.join().unwrap(), b.join().unwrap()] {
            assert_eq!(p.downcast_ref::<&'static str>(), Some(&"x"));
        }
    });
}

/// Documented difference: calling a `Once` from inside its own function deadlocks in Go;
/// here it panics with a clear message, and the `Once` then counts as done.
#[test]
fn recursive_call_panics_instead_of_deadlocking() {
    let once = Once::new();
    let p = catch_unwind(AssertUnwindSafe(|| {
        once.call_once(|| once.call_once(|| {}))
    }))
    .unwrap_err();
    assert!(payload_str(&p).unwrap().contains("recursively"));
    assert!(once.is_done());
}
