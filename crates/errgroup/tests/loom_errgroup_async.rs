//! Loom models of the errgroup's futures: `go_async` waiting for a slot of the limit
//! while the running task gives it back, and `wait_async` registering while the last
//! task finishes with an error.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p gosync-errgroup --test loom_errgroup_async`.
//!
//! Shown able to fail (mutation applied locally, the model run, then reverted): a
//! `release_slot` that does not notify `slot_tasks` deadlocks
//! `loom_errgroup_go_async_vs_slot_release` (the task sleeps with the slot free);
//! registering in a second critical section after the one that found no slot deadlocks
//! it too.
#![cfg(loom)]

use gosync_errgroup::Group;
use gosync_testkit::block_on;

/// A limit of 1 held by a running task: `go_async` waits for the slot while the task
/// ends and gives it back. The future starts its task (a lost wake-up is a deadlock);
/// `wait_async` then returns the second task's error, the only one.
#[test]
fn loom_errgroup_go_async_vs_slot_release() {
    loom::model(|| {
        let g = Group::<u8>::new();
        g.set_limit(1);
        g.go(|| Ok(()));
        block_on(g.go_async(|| Err(2)));
        assert_eq!(block_on(g.wait_async()), Err(2));
    });
}

/// `wait_async` registers while the last task records its error and finishes: the
/// future completes with that error (the error recorded before `done` is seen).
#[test]
fn loom_errgroup_wait_async_vs_last_task() {
    loom::model(|| {
        let g = Group::<u8>::new();
        g.go(|| Err(7));
        assert_eq!(block_on(g.wait_async()), Err(7));
        assert_eq!(block_on(g.wait_async()), Ok(()));
    });
}
