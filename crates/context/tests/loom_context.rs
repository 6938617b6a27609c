//! Loom models of the cancellation tree (run with `RUSTFLAGS="--cfg loom"`).
#![cfg(loom)]

use gosync_context::{after_func, background, with_cancel, with_cancel_cause, Error};
use gosync_core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use gosync_core::sync::{thread, Arc};
use gosync_testkit::block_on;

/// A parent's cancel races a child's creation: the child ends cancelled either way
/// (registered and reached by the walk, or born cancelled), and the parent's registry
/// ends empty.
#[test]
fn loom_context_cancel_vs_create() {
    loom::model(|| {
        let (parent, cancel) = with_cancel(&background());
        let t = thread::spawn(move || cancel.cancel());
        let (child, _c) = with_cancel(&parent);
        t.join().unwrap();
        assert_eq!(child.err(), Some(Error::Canceled));
        assert_eq!(parent.registrations(), 0);
    });
}

/// The parent and the child are cancelled concurrently, each with its own cause: both
/// end cancelled, the child's cause is one of the two, the parent's is its own.
#[test]
fn loom_context_parent_and_child_cancel() {
    loom::model(|| {
        let (parent, cancel_parent) = with_cancel_cause(&background());
        let (child, cancel_child) = with_cancel_cause(&parent);
        let t = thread::spawn(move || cancel_parent.cancel(std::io::Error::other("parent")));
        cancel_child.cancel(std::io::Error::other("child"));
        t.join().unwrap();
        assert!(child.is_done() && parent.is_done());
        let c = child.cause().unwrap().to_string();
        assert!(c == "parent" || c == "child", "{c}");
        assert_eq!(parent.cause().unwrap().to_string(), "parent");
        assert_eq!(parent.registrations(), 0);
    });
}

/// The last handle of a child is dropped while its parent is being cancelled: the walk
/// and the drop hand the child over without a use after free (invariant 3).
#[test]
fn loom_context_drop_vs_parent_cancel() {
    loom::model(|| {
        let (parent, cancel) = with_cancel(&background());
        let (child, child_cancel) = with_cancel(&parent);
        let t = thread::spawn(move || drop((child, child_cancel)));
        cancel.cancel();
        t.join().unwrap();
        assert_eq!(parent.registrations(), 0);
    });
}

/// `after_func` registered, then `stop` racing the cancel: `f` runs exactly when
/// `stop` returned false.
#[test]
fn loom_context_after_func_vs_cancel() {
    loom::model(|| {
        let (ctx, cancel) = with_cancel(&background());
        let ran = Arc::new(AtomicUsize::new(0));
        let stop = {
            let ran = Arc::clone(&ran);
            after_func(&ctx, move || {
                ran.fetch_add(1, SeqCst);
            })
        };
        let t = thread::spawn(move || cancel.cancel());
        let stopped = stop.stop();
        t.join().unwrap();
        if stopped {
            assert_eq!(ran.load(SeqCst), 0);
        } else {
            while ran.load(SeqCst) == 0 {
                thread::yield_now();
            }
            assert_eq!(ran.load(SeqCst), 1);
        }
    });
}

/// A thread blocked in `wait` on a grandchild while the root is cancelled: no lost
/// wake-up (loom reports a deadlock if the waiter is never woken).
#[test]
fn loom_context_wait_vs_cancel() {
    loom::model(|| {
        let (parent, cancel) = with_cancel(&background());
        let (child, _c) = with_cancel(&parent);
        let t = thread::spawn(move || {
            child.wait();
            child.err()
        });
        cancel.cancel();
        assert_eq!(t.join().unwrap(), Some(Error::Canceled));
    });
}

/// A task awaiting `done()` while the context is cancelled: the stored waker is woken.
#[test]
fn loom_context_future_vs_cancel() {
    loom::model(|| {
        let (ctx, cancel) = with_cancel(&background());
        let t = {
            let ctx = ctx.clone();
            thread::spawn(move || block_on(ctx.done()))
        };
        cancel.cancel();
        t.join().unwrap();
        assert_eq!(ctx.registrations(), 0);
    });
}

/// The last handle of a grandchild (which holds the only handle of its parent) is
/// dropped while the root is cancelled: the iterative drop releases both levels while
/// the iterative walk holds their parents' locks, without a use after free.
#[test]
fn loom_context_chain_drop_vs_root_cancel() {
    loom::model(|| {
        let (root, cancel) = with_cancel(&background());
        let (grandchild, _c) = with_cancel(&with_cancel(&root).0);
        let t = thread::spawn(move || drop(grandchild));
        cancel.cancel();
        t.join().unwrap();
        assert_eq!(root.registrations(), 0);
    });
}

/// Two children leave their parent's list (a removal moves the last child into the
/// hole and rewrites its slot) while the parent is cancelled: every removal finds its
/// own entry, and the list ends empty.
#[test]
fn loom_context_sibling_removal_vs_cancel() {
    loom::model(|| {
        let (parent, cancel) = with_cancel(&background());
        let first = with_cancel(&parent);
        let last = with_cancel(&parent);
        let t1 = thread::spawn(move || drop(first));
        let t2 = thread::spawn(move || cancel.cancel());
        drop(last);
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(parent.registrations(), 0);
    });
}
