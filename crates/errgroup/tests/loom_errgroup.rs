//! Loom models of the errgroup: the first error racing the limit and `wait`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p gosync-errgroup --test loom_errgroup`.
//!
//! Shown able to fail: giving the slot back before recording the error makes
//! `loom_first_error_vs_limit_vs_wait` see `Err(E(2))`; marking the task done before
//! recording the error makes both models fail (`wait` returns before the error lands).
//! Marking a panicked task done before recording its panic makes
//! `loom_panicking_task_vs_wait` see `wait` return `Ok(())`.
#![cfg(loom)]

use gosync_context::background;
use gosync_errgroup::Group;

#[derive(Debug, Clone, PartialEq)]
struct E(u8);

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error {}", self.0)
    }
}

impl std::error::Error for E {}

/// Limit 1: the second task starts only when the first has given its slot back, which
/// it does after recording its error and cancelling the context. So the second task
/// always sees the context cancelled, and `wait` returns the first task's error, which
/// is also the context's cause.
#[test]
fn loom_first_error_vs_limit_vs_wait() {
    loom::model(|| {
        let (g, ctx) = Group::with_context(&background());
        g.set_limit(1);
        g.go(|| Err(E(1)));
        let ctx2 = ctx.clone();
        g.go(move || {
            if ctx2.is_done() {
                Ok(())
            } else {
                Err(E(2)) // only if the limit let it run before the first error
            }
        });
        assert_eq!(g.wait(), Err(E(1)));
        let cause = ctx.cause().expect("wait cancels the context");
        assert_eq!(cause.downcast_ref::<E>(), Some(&E(1)));
    });
}

/// No limit: two failing tasks race; `wait` returns exactly the error the context was
/// cancelled with, and a second round starts clean.
#[test]
fn loom_racing_errors_agree_with_the_cause() {
    loom::model(|| {
        let (g, ctx) = Group::with_context(&background());
        g.go(|| Err(E(1)));
        g.go(|| Err(E(2)));
        let err = g.wait().unwrap_err();
        let cause = ctx.cause().expect("an error cancels the context");
        assert_eq!(cause.downcast_ref::<E>(), Some(&err));
        assert_eq!(g.wait(), Ok(()), "the error was handed over");
    });
}

/// A task panics while another returns: `wait` never hangs and always resumes the panic
/// (it is recorded before the task counts as done).
#[test]
fn loom_panicking_task_vs_wait() {
    // Keep the deliberate panic of every explored execution out of the output.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"deliberate") {
            default(info);
        }
    }));
    loom::model(|| {
        let g = Group::<E>::new();
        g.go(|| panic!("deliberate"));
        g.go(|| Ok(()));
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait()));
        let payload = waited.expect_err("wait resumes the task's panic");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"deliberate"));
        assert_eq!(g.wait(), Ok(()), "the panic was handed over");
    });
}
