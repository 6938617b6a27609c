//! errgroup: Go's errgroup_test.go mirrored (each test named after its Go counterpart),
//! then the Rust-specific behaviour (panics, scoped tasks, limit changes).
#![cfg(not(loom))]
// Tasks written `move || Ok(gate.recv().unwrap())`: block, then succeed.
#![allow(clippy::unit_arg)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use gosync_context::{background, Error as CtxError};
use gosync_errgroup::{Group, TaskPanicked};

#[derive(Debug, Clone, PartialEq, Eq)]
struct TestErr(&'static str);

impl std::fmt::Display for TestErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for TestErr {}

const ERR1: TestErr = TestErr("errgroup_test: 1");
const ERR2: TestErr = TestErr("errgroup_test: 2");
const DOOM: TestErr = TestErr("group_test: doomed");

/// Go's ExampleGroup_parallel: three searches in parallel, results by index.
#[test]
fn example_group_parallel() {
    fn google(query: &str) -> Result<Vec<String>, TestErr> {
        let (g, _ctx) = Group::with_context(&background());
        let results: Vec<_> = (0..3)
            .map(|_| Arc::new(std::sync::Mutex::new(String::new())))
            .collect();
        for (kind, slot) in ["web", "image", "video"].into_iter().zip(&results) {
            let (slot, query) = (Arc::clone(slot), query.to_owned());
            g.go(move || {
                *slot.lock().unwrap() = format!("{kind} result for {query:?}");
                Ok(())
            });
        }
        g.wait()?;
        Ok(results.iter().map(|r| r.lock().unwrap().clone()).collect())
    }
    assert_eq!(
        google("golang").unwrap(),
        [
            r#"web result for "golang""#,
            r#"image result for "golang""#,
            r#"video result for "golang""#
        ]
    );
}

/// Go's TestZeroGroup. Difference from Go (documented): `wait` hands the error over, so
/// each round's `wait` returns the first error of the tasks started since the previous
/// `wait` (Go keeps returning the very first error).
#[test]
fn zero_group() {
    let cases: [&[Option<TestErr>]; 5] = [
        &[],
        &[None],
        &[Some(ERR1)],
        &[Some(ERR1), None],
        &[Some(ERR1), None, Some(ERR2)],
    ];
    for errs in cases {
        let g = Group::new();
        for err in errs {
            let err = err.clone();
            g.go({
                let err = err.clone();
                move || err.map_or(Ok(()), Err)
            });
            assert_eq!(
                g.wait(),
                err_of(err.clone()),
                "after go for {err:?} in {errs:?}"
            );
        }
    }

    // Within one round, the first error wins and later ones are dropped.
    let g = Group::new();
    g.go(|| Err(ERR1));
    // The second task starts once the first has recorded ERR1: its `done` runs after the
    // error is recorded. (Waiting for the closure to return, as this test once did, raced
    // the recording, which follows the return.)
    gosync_testkit::wait_until("ERR1 recorded", || format!("{g:?}").contains("tasks: 0"));
    g.go(|| Err(ERR2));
    assert_eq!(g.wait(), Err(ERR1));
}

fn err_of(e: Option<TestErr>) -> Result<(), TestErr> {
    e.map_or(Ok(()), Err)
}

/// Go's TestWithContext: whatever the tasks return, the context is done after `wait`.
#[test]
fn with_context() {
    let cases: [(&[Option<TestErr>], Option<TestErr>); 4] = [
        (&[], None),
        (&[None], None),
        (&[Some(DOOM)], Some(DOOM)),
        (&[Some(DOOM), None], Some(DOOM)),
    ];
    for (errs, want) in cases {
        let (g, ctx) = Group::with_context(&background());
        for err in errs {
            let err = err.clone();
            g.go(move || err.map_or(Ok(()), Err));
        }
        assert_eq!(g.wait(), err_of(want));
        assert!(ctx.is_done(), "ctx not done after wait for {errs:?}");
    }
}

/// Go's TestTryGo.
#[test]
fn try_go() {
    let g = Group::<()>::new();
    let n = 42;
    g.set_limit(42);
    let (tx, rx) = mpsc::sync_channel::<()>(0);
    let task = |tx: mpsc::SyncSender<()>| move || Ok(tx.send(()).unwrap());
    for i in 0..n {
        assert!(
            g.try_go(task(tx.clone())),
            "TryGo should succeed but got fail at {i}-th call"
        );
    }
    assert!(
        !g.try_go(task(tx.clone())),
        "TryGo is expected to fail but succeeded"
    );
    for _ in 0..n {
        rx.recv().unwrap();
    }
    g.wait().unwrap();

    assert!(
        g.try_go(task(tx.clone())),
        "TryGo should succeed after all goroutines"
    );
    rx.recv().unwrap();
    g.wait().unwrap();

    // Switch limit.
    g.set_limit(1);
    assert!(g.try_go(task(tx.clone())));
    assert!(!g.try_go(task(tx.clone())));
    rx.recv().unwrap();
    g.wait().unwrap();

    // Block all calls.
    g.set_limit(0);
    for _ in 0..1 << 10 {
        assert!(
            !g.try_go(task(tx.clone())),
            "TryGo should fail but succeeded"
        );
    }
    g.wait().unwrap();
}

/// Go's TestGoLimit: never more than the limit running at once.
#[test]
fn go_limit() {
    const LIMIT: i32 = 10;
    let g = Group::<String>::new();
    g.set_limit(LIMIT as isize);
    let active = Arc::new(AtomicI32::new(0));
    for _ in 0..=1 << 10 {
        let active = Arc::clone(&active);
        g.go(move || {
            let n = active.fetch_add(1, Ordering::SeqCst) + 1;
            if n > LIMIT {
                return Err(format!("saw {n} active goroutines; want ≤ {LIMIT}"));
            }
            std::thread::sleep(Duration::from_micros(1)); // let others increment active
            active.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }
    g.wait().unwrap();
}

/// Go's TestCancelCause: the context's cause is the first error, or `Canceled`.
#[test]
fn cancel_cause() {
    let cases: [(&[Option<TestErr>], Option<TestErr>); 4] = [
        (&[], None),
        (&[None], None),
        (&[Some(DOOM)], Some(DOOM)),
        (&[Some(DOOM), None], Some(DOOM)),
    ];
    for (errs, want) in cases {
        let (g, ctx) = Group::with_context(&background());
        for err in errs {
            let err = err.clone();
            assert!(g.try_go(move || err.map_or(Ok(()), Err)));
        }
        assert_eq!(g.wait(), err_of(want.clone()));
        let cause = ctx.cause().expect("done after wait");
        match want {
            Some(want) => assert_eq!(cause.downcast_ref::<TestErr>(), Some(&want)),
            None => assert_eq!(cause.downcast_ref::<CtxError>(), Some(&CtxError::Canceled)),
        }
    }
}

/// The first error cancels the context before `wait` is called, so the other tasks can
/// stop early (Go's "The first call to return a non-nil error cancels the group").
#[test]
fn first_error_cancels_context_for_the_others() {
    let (g, ctx) = Group::with_context(&background());
    let stopped_early = Arc::new(AtomicBool::new(false));
    {
        let (ctx, stopped) = (ctx.clone(), Arc::clone(&stopped_early));
        g.go(move || {
            ctx.wait(); // blocks until the other task fails
            stopped.store(true, Ordering::SeqCst);
            Ok(())
        });
    }
    g.go(|| Err(DOOM));
    assert_eq!(g.wait(), Err(DOOM));
    assert!(stopped_early.load(Ordering::SeqCst));
    assert_eq!(ctx.cause().unwrap().downcast_ref::<TestErr>(), Some(&DOOM));
}

/// Go's panic message when the limit changes while tasks started under it run; the
/// limit is unchanged after the panic, and removing the limit never panics.
#[test]
fn set_limit_while_active_panics_with_gos_message() {
    let g = Group::<()>::new();
    g.set_limit(2);
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    for _ in 0..2 {
        let gate = Arc::clone(&gate);
        g.go(move || Ok(gate.lock().unwrap().recv().unwrap()));
    }
    let err = catch_unwind(AssertUnwindSafe(|| g.set_limit(5))).unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("errgroup: modify limit while 2 goroutines in the group are still active")
    );
    assert!(!g.try_go(|| Ok(())), "the limit of 2 is still in force");
    g.set_limit(-1); // removing the limit is always allowed
    assert!(g.try_go(|| Ok(())));
    release.send(()).unwrap();
    release.send(()).unwrap();
    g.wait().unwrap();
    g.set_limit(3); // nothing runs: allowed
}

/// A task started under a replaced limit does not give its slot to the new limit.
#[test]
fn old_tasks_do_not_free_slots_of_a_new_limit() {
    let g = Group::<()>::new();
    g.set_limit(1);
    let (release, gate) = mpsc::channel::<()>();
    g.go(move || Ok(gate.recv().unwrap()));
    g.set_limit(-1);
    g.set_limit(1); // no task holds a slot of this limit
    let (release2, gate2) = mpsc::channel::<()>();
    assert!(g.try_go(move || Ok(gate2.recv().unwrap())));
    release.send(()).unwrap(); // the old task ends...
    while !format!("{g:?}").contains("tasks: 1,") {
        std::thread::yield_now();
    }
    // ...and gave no slot to the new limit, which the second task still holds.
    assert!(!g.try_go(|| Ok(())));
    release2.send(()).unwrap();
    g.wait().unwrap();
    assert!(g.try_go(|| Ok(())));
    g.wait().unwrap();
}

/// A `go` blocked on a full limit proceeds when the limit is removed.
#[test]
fn blocked_go_proceeds_when_the_limit_is_removed() {
    let g = Group::<()>::new();
    g.set_limit(1);
    let (release, gate) = mpsc::channel::<()>();
    g.go(move || Ok(gate.recv().unwrap()));
    let ran = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let blocked = s.spawn(|| {
            let ran = Arc::clone(&ran);
            g.go(move || Ok(ran.store(true, Ordering::SeqCst)));
        });
        // Whether or not the spawner is already blocked, removing the limit lets it go.
        g.set_limit(-1);
        blocked.join().unwrap();
    });
    release.send(()).unwrap();
    g.wait().unwrap();
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn go_with_limit_zero_panics_instead_of_blocking_forever() {
    let g = Group::<()>::new();
    g.set_limit(0);
    let err = catch_unwind(AssertUnwindSafe(|| g.go(|| Ok(())))).unwrap_err();
    assert!(err.downcast_ref::<String>().unwrap().contains("limit of 0"));
    g.wait().unwrap();
}

/// A panicking task: `wait` returns (no hang) by resuming the first panic after every
/// task has finished; the slot is given back, the context cancelled with
/// `TaskPanicked`, the other tasks run to completion.
#[test]
fn task_panic_is_resumed_by_wait_after_all_tasks() {
    let (g, ctx) = Group::<TestErr>::with_context(&background());
    g.set_limit(1);
    let others_ran = Arc::new(AtomicUsize::new(0));
    g.go(|| panic!("task exploded"));
    for _ in 0..3 {
        // With a limit of 1, these start only after the panicked task gave its slot back.
        let others = Arc::clone(&others_ran);
        let ctx = ctx.clone();
        g.go(move || {
            assert!(ctx.is_done(), "the panic cancelled the context first");
            others.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    let payload = catch_unwind(AssertUnwindSafe(|| g.wait())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"task exploded"));
    assert_eq!(others_ran.load(Ordering::SeqCst), 3);
    let cause = ctx.cause().unwrap();
    assert_eq!(
        cause.downcast_ref::<TaskPanicked>().unwrap().message(),
        "task exploded"
    );
    // The round is over: the group is usable again, and the panic was handed over.
    assert!(g.try_go(|| Ok(())));
    assert_eq!(g.wait(), Ok(()));
}

/// An error before the panic keeps the context's cause; `wait` still resumes the panic.
#[test]
fn panic_after_error_keeps_the_errors_cause() {
    let (g, ctx) = Group::with_context(&background());
    g.set_limit(1);
    g.go(|| Err(DOOM));
    g.go(|| panic!("later"));
    assert!(catch_unwind(AssertUnwindSafe(|| g.wait())).is_err());
    assert_eq!(ctx.cause().unwrap().downcast_ref::<TestErr>(), Some(&DOOM));
}

/// A panic in the error's `Clone` (made for the context's cause) is the task's panic.
#[test]
fn panicking_error_clone_is_a_task_panic() {
    #[derive(Debug)]
    struct BadClone;
    impl Clone for BadClone {
        fn clone(&self) -> BadClone {
            panic!("clone failed")
        }
    }
    impl std::fmt::Display for BadClone {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bad clone")
        }
    }
    impl std::error::Error for BadClone {}

    let (g, ctx) = Group::with_context(&background());
    g.go(|| Err(BadClone));
    let payload = catch_unwind(AssertUnwindSafe(|| g.wait())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"clone failed"));
    assert!(ctx
        .cause()
        .unwrap()
        .downcast_ref::<TaskPanicked>()
        .is_some());
}

/// Scoped tasks borrow from the stack; a panicking scoped task is resumed by `wait`
/// and does not make the scope itself panic.
#[test]
fn scoped_tasks_borrow_and_report_the_first_error() {
    let words = ["alpha", "beta", "", "delta"];
    let lengths: Vec<AtomicUsize> = words.iter().map(|_| AtomicUsize::new(0)).collect();
    let g = Group::new();
    g.set_limit(2);
    let result = std::thread::scope(|s| {
        for (word, len) in words.iter().zip(&lengths) {
            g.go_scoped(s, move || {
                if word.is_empty() {
                    return Err("empty word");
                }
                len.store(word.len(), Ordering::SeqCst);
                Ok(())
            });
        }
        g.wait()
    });
    assert_eq!(result, Err("empty word"));
    assert_eq!(lengths[0].load(Ordering::SeqCst), 5);
    assert_eq!(lengths[3].load(Ordering::SeqCst), 5);

    let g = Group::<()>::new();
    let caught = std::thread::scope(|s| {
        g.go_scoped(s, || panic!("scoped boom"));
        catch_unwind(AssertUnwindSafe(|| g.wait()))
    });
    assert!(caught.is_err());
}

#[test]
fn try_go_scoped_respects_the_limit() {
    let g = Group::<()>::new();
    g.set_limit(1);
    let (release, gate) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        assert!(g.try_go_scoped(s, move || Ok(gate.recv().unwrap())));
        assert!(!g.try_go_scoped(s, || Ok(())));
        release.send(()).unwrap();
        g.wait().unwrap();
    });
}

/// Tasks can start tasks through a clone of the group (Go: `g.Go` inside a goroutine).
#[test]
fn tasks_start_more_tasks_through_a_clone() {
    let g = Group::<u32>::new();
    let count = Arc::new(AtomicUsize::new(0));
    fn spawn_tree(g: &Group<u32>, depth: u32, count: &Arc<AtomicUsize>) {
        let (child, count) = (g.clone(), Arc::clone(count));
        g.go(move || {
            count.fetch_add(1, Ordering::SeqCst);
            if depth == 0 {
                return if count.load(Ordering::SeqCst) > 0 {
                    Ok(())
                } else {
                    Err(0)
                };
            }
            spawn_tree(&child, depth - 1, &count);
            spawn_tree(&child, depth - 1, &count);
            Ok(())
        });
    }
    spawn_tree(&g, 4, &count);
    g.wait().unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 31);
}

#[test]
fn debug_shows_the_state() {
    let g = Group::<()>::new();
    g.set_limit(3);
    let text = format!("{g:?}");
    assert!(text.contains("limit: Some(3)"), "{text}");
    assert!(text.contains("tasks: 0"), "{text}");
}

/// The types can be used across `catch_unwind` without `AssertUnwindSafe` (a panic
/// never leaves them half-updated), like a std `Mutex`.
#[test]
fn types_are_unwind_safe() {
    fn check<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    check::<Group<std::cell::Cell<u8>>>();
    check::<gosync_errgroup::Semaphore>();
    check::<gosync_errgroup::singleflight::Group<String, std::cell::Cell<u8>>>();
    check::<gosync_errgroup::singleflight::Handle<std::cell::Cell<u8>>>();
}
