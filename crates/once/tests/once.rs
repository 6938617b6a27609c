//! Once/OnceFunc/OnceValue(s) behaviour, with Go's `sync/once_test.go` and
//! `oncefunc_test.go` scenarios as the checklist.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use gosync_once::{once_func, once_value, once_values, Once};

fn panic_text<T>(r: std::thread::Result<T>) -> String {
    let p = r.err().expect("expected a panic");
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

/// Go's `TestOnce`: 10 goroutines, one run, and every caller sees it finished.
#[test]
fn go_once_runs_once_and_callers_see_it_finished() {
    let once = Once::new();
    let runs = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..10 {
            s.spawn(|| {
                once.call_once(|| {
                    std::thread::sleep(Duration::from_millis(5));
                    runs.fetch_add(1, Ordering::Relaxed);
                });
                assert_eq!(runs.load(Ordering::Relaxed), 1, "once failed inside run");
            });
        }
    });
    assert_eq!(runs.load(Ordering::Relaxed), 1);
}

/// Go's `TestOncePanic`: the panicking run counts as done.
#[test]
fn go_once_panic_counts_as_done() {
    let once = Once::new();
    let r = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("failed"))));
    assert_eq!(panic_text(r), "failed");
    assert!(once.is_done());
    once.call_once(|| panic!("Once.Do called twice"));
}

#[test]
fn waiter_is_released_when_run_panics() {
    let once = Arc::new(Once::new());
    let barrier = Arc::new(Barrier::new(2));
    let (o, b) = (Arc::clone(&once), Arc::clone(&barrier));
    let runner = std::thread::spawn(move || {
        o.call_once(|| {
            b.wait();
            std::thread::sleep(Duration::from_millis(20));
            panic!("runner panics");
        })
    });
    barrier.wait();
    let ran = AtomicUsize::new(0);
    once.call_once(|| {
        ran.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(ran.load(Ordering::Relaxed), 0);
    assert!(runner.join().is_err());
}

#[test]
fn recursive_call_panics_instead_of_deadlocking() {
    let once = Once::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        once.call_once(|| once.call_once(|| {}))
    }));
    assert!(panic_text(r).contains("recursively"));
    assert!(once.is_done());
}

#[test]
fn once_debug_and_default() {
    let once = Once::default();
    assert_eq!(format!("{once:?}"), "Once { state: \"incomplete\" }");
    once.call_once(|| {});
    assert_eq!(format!("{once:?}"), "Once { state: \"done\" }");
}

/// Go's `TestOnceFunc`: calls f once.
#[test]
fn go_once_func_calls_once() {
    let calls = AtomicUsize::new(0);
    let f = once_func(|| {
        calls.fetch_add(1, Ordering::Relaxed);
    });
    assert!(!f.is_done());
    f.call();
    f.call();
    assert!(f.is_done());
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go's `TestOnceFuncPanic` etc.: every call panics with the same value.
#[test]
fn go_once_func_panics_every_call() {
    let calls = AtomicUsize::new(0);
    let f = once_func(|| {
        calls.fetch_add(1, Ordering::Relaxed);
        panic!("x");
    });
    for _ in 0..3 {
        assert_eq!(panic_text(catch_unwind(AssertUnwindSafe(|| f.call()))), "x");
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn go_once_value_computes_once() {
    let calls = AtomicUsize::new(0);
    let v = once_value(|| {
        calls.fetch_add(1, Ordering::Relaxed);
        42
    });
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| assert_eq!(*v.get(), 42));
        }
    });
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(v.try_get(), Some(&42));
}

#[test]
fn go_once_value_panics_every_call_with_same_message() {
    let v = once_value(|| -> u32 { panic!("bad config: {}", 7) });
    assert_eq!(v.try_get(), None);
    for _ in 0..3 {
        assert_eq!(
            panic_text(catch_unwind(AssertUnwindSafe(|| *v.get()))),
            "bad config: 7"
        );
    }
    assert_eq!(v.try_get(), None);
    assert!(format!("{v:?}").contains("panicked"));
}

#[test]
fn go_once_values_returns_the_pair() {
    let ok = once_values(|| "17".parse::<u8>());
    assert_eq!(ok.get(), Ok(&17));
    let err = once_values(|| "x".parse::<u8>());
    let e = err.get().unwrap_err();
    assert_eq!(e, err.get().unwrap_err(), "the same error every call");
    let p = once_values(|| -> Result<u8, ()> { panic!("boom") });
    assert_eq!(
        panic_text(catch_unwind(AssertUnwindSafe(|| p.get().is_ok()))),
        "boom"
    );
    assert_eq!(
        panic_text(catch_unwind(AssertUnwindSafe(|| p.get().is_ok()))),
        "boom"
    );
}

/// Go's `TestOnceXGC`: the function (and what it captures) is dropped after its run.
#[test]
fn function_is_dropped_after_run() {
    let captured = Arc::new(());
    let c = Arc::clone(&captured);
    let v = once_value(move || Arc::strong_count(&c));
    assert_eq!(Arc::strong_count(&captured), 2);
    assert_eq!(*v.get(), 2);
    assert_eq!(
        Arc::strong_count(&captured),
        1,
        "the closure was not dropped after its run"
    );

    let c = Arc::clone(&captured);
    let f = once_func(move || {
        let _keep = &c;
        panic!("and on panic");
    });
    let _ = catch_unwind(AssertUnwindSafe(|| f.call()));
    assert_eq!(
        Arc::strong_count(&captured),
        1,
        "the closure was not dropped after a panic"
    );
}

#[test]
fn once_value_recursion_panics() {
    use std::sync::OnceLock;
    static V: OnceLock<gosync_once::OnceValue<u32, fn() -> u32>> = OnceLock::new();
    fn f() -> u32 {
        *V.get().unwrap().get() + 1
    }
    V.get_or_init(|| gosync_once::OnceValue::new(f as fn() -> u32));
    let r = catch_unwind(|| *V.get().unwrap().get());
    assert!(panic_text(r).contains("recursively"));
    // And it stays panicked with that message.
    assert!(panic_text(catch_unwind(|| *V.get().unwrap().get())).contains("recursively"));
}

#[test]
fn statics_work() {
    static CONFIG: gosync_once::OnceValue<u64> = gosync_once::OnceValue::new(|| 9);
    static INIT: Once = Once::new();
    assert_eq!(*CONFIG.get(), 9);
    INIT.call_once(|| {});
    assert!(INIT.is_done());
}

#[test]
fn values_drop_with_the_cell() {
    let token = Arc::new(());
    let t = Arc::clone(&token);
    let v = once_value(move || t);
    v.get();
    drop(v);
    assert_eq!(Arc::strong_count(&token), 1);
}
