//! Panic safety: every place the crate runs user code (see "Panic safety" in the crate
//! docs), with a function, capture, value or payload that panics on demand. After each
//! panic: the cell is done and consistent, nothing is dropped twice or lost, no waiter
//! hangs, and the panic reaches the documented caller.
#![cfg(not(loom))]

use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use gosync_once::{once_func, once_value, once_values, Once};

/// A hang guard, not a timing assertion: only a stuck thread misses it.
const HANG: Duration = Duration::from_secs(10);

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<opaque>".into())
}

/// Counts drops; panics in `drop` with `msg` when armed.
struct Bomb {
    armed: bool,
    msg: &'static str,
    drops: Arc<AtomicUsize>,
}

impl Bomb {
    fn new(armed: bool, msg: &'static str, drops: &Arc<AtomicUsize>) -> Bomb {
        Bomb {
            armed,
            msg,
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if self.armed {
            panic!("{}", self.msg);
        }
    }
}

/// An opaque panic payload (`panic_any`), with identity and a drop count.
struct Payload {
    id: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

/// Waits for a spawned thread with a hang guard.
fn join_within<R: Send + 'static>(what: &str, h: thread::JoinHandle<R>) -> thread::Result<R> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(h.join());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// Gives a thread that is about to block a moment to get there. Not an assertion: the
/// test passes whether or not it has blocked yet.
fn let_it_block() {
    thread::sleep(Duration::from_millis(20));
}

// ---- Once ----------------------------------------------------------------------------

/// Entry: the function given to `Once::call_once`, panicking with an opaque payload
/// while another caller waits. The payload reaches the caller that ran it, untouched
/// and dropped once (by that caller); the `Once` is done; the waiter returns without
/// running its function; later calls return at once.
#[test]
fn once_function_panic_is_done_releases_waiters_and_passes_the_payload_through() {
    let once = Arc::new(Once::new());
    let payload_drops = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let runner = {
        let (once, drops) = (Arc::clone(&once), Arc::clone(&payload_drops));
        thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                once.call_once(|| {
                    entered_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    panic_any(Payload { id: 7, drops });
                })
            }))
            .map_err(|p| p.downcast::<Payload>().map(|p| p.id).ok())
        })
    };
    entered_rx.recv_timeout(HANG).unwrap();
    let waiter = {
        let once = Arc::clone(&once);
        thread::spawn(move || once.call_once(|| panic!("a second function ran")))
    };
    let_it_block();
    go_tx.send(()).unwrap();
    assert_eq!(
        join_within("the runner", runner).unwrap(),
        Err(Some(7)),
        "the caller that ran the function gets the original payload"
    );
    assert_eq!(payload_drops.load(SeqCst), 1);
    join_within("the waiter", waiter).expect("the waiter was released normally");
    assert!(once.is_done());
    once.call_once(|| panic!("a function ran after the panic"));
    assert!(format!("{once:?}").contains("done"));
}

/// Entry: Drop of the function's captures, when it runs: they are dropped at the end of
/// the call, so a panic there is the run panicking (the `Once` is done, waiters
/// released, the panic reaches the caller that ran it).
#[test]
fn once_capture_drop_panic_after_the_body_is_the_run_panicking() {
    let once = Arc::new(Once::new());
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let runner = {
        let (once, ran) = (Arc::clone(&once), Arc::clone(&ran));
        let bomb = Bomb::new(true, "capture dropped", &drops);
        thread::spawn(move || {
            once.call_once(move || {
                let _bomb = bomb; // moved in: dropped when the body ends
                entered_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                ran.fetch_add(1, SeqCst);
            })
        })
    };
    entered_rx.recv_timeout(HANG).unwrap();
    let waiter = {
        let once = Arc::clone(&once);
        thread::spawn(move || once.call_once(|| panic!("a second function ran")))
    };
    let_it_block();
    go_tx.send(()).unwrap();
    let err = join_within("the runner", runner).unwrap_err();
    assert_eq!(panic_text(&*err), "capture dropped");
    join_within("the waiter", waiter).expect("the waiter was released normally");
    assert_eq!((ran.load(SeqCst), drops.load(SeqCst)), (1, 1));
    assert!(once.is_done());
}

/// Entry: Drop of the captures of a function that does not run (the `Once` is done, or
/// became done while this caller waited): dropped on that caller's thread, with no lock
/// held, after `call_once` has decided; the panic reaches that caller only.
#[test]
fn once_unrun_function_drop_panic_reaches_that_caller_only() {
    let drops = Arc::new(AtomicUsize::new(0));
    // Fast path: already done.
    let once = Arc::new(Once::new());
    once.call_once(|| {});
    let bomb = Bomb::new(true, "unrun capture dropped", &drops);
    let r = catch_unwind(AssertUnwindSafe(|| {
        once.call_once(move || drop(bomb));
    }));
    assert_eq!(panic_text(&*r.unwrap_err()), "unrun capture dropped");
    assert_eq!(drops.load(SeqCst), 1);
    assert!(once.is_done());

    // Slow path: the caller waited for a run that then finished.
    let once = Arc::new(Once::new());
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let runner = {
        let once = Arc::clone(&once);
        thread::spawn(move || {
            once.call_once(|| {
                entered_tx.send(()).unwrap();
                go_rx.recv().unwrap();
            })
        })
    };
    entered_rx.recv_timeout(HANG).unwrap();
    let waiter = {
        let once = Arc::clone(&once);
        let bomb = Bomb::new(true, "waiter's capture dropped", &drops);
        thread::spawn(move || once.call_once(move || drop(bomb)))
    };
    let_it_block();
    go_tx.send(()).unwrap();
    join_within("the runner", runner).expect("the runner is not affected");
    let err = join_within("the waiter", waiter).unwrap_err();
    assert_eq!(panic_text(&*err), "waiter's capture dropped");
    assert_eq!(drops.load(SeqCst), 2);
    assert!(once.is_done());
    once.call_once(|| panic!("a function ran after the run"));
}

// ---- OnceValue, OnceFunc, OnceValues --------------------------------------------------

/// Entry: the function of `once_value`, panicking while another caller waits in `get`.
/// The first caller gets the original payload; the waiter and every later caller panic
/// with an equal message; nothing else runs.
#[test]
fn once_value_function_panic_reaches_the_first_caller_and_waiters_repanic() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let cell = Arc::new(once_value(move || -> u32 {
        entered_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        panic!("config {} is bad", 7);
    }));
    let runner = {
        let cell = Arc::clone(&cell);
        thread::spawn(move || *cell.get())
    };
    entered_rx.recv_timeout(HANG).unwrap();
    let waiter = {
        let cell = Arc::clone(&cell);
        thread::spawn(move || *cell.get())
    };
    let_it_block();
    go_tx.send(()).unwrap();
    let first = join_within("the runner", runner).unwrap_err();
    assert_eq!(panic_text(&*first), "config 7 is bad");
    let second = join_within("the waiter", waiter).unwrap_err();
    assert_eq!(panic_text(&*second), "config 7 is bad");
    for _ in 0..2 {
        let later = catch_unwind(AssertUnwindSafe(|| *cell.get())).unwrap_err();
        assert_eq!(panic_text(&*later), "config 7 is bad");
    }
    assert_eq!(cell.try_get(), None);
    assert!(format!("{cell:?}").contains("panicked"));
}

/// Entry: the panic payload of `once_value`'s function. An opaque payload is handed to
/// the first caller itself (read, not kept: dropped once, by that caller); later calls
/// panic with the `String` "Box<dyn Any>".
#[test]
fn once_value_opaque_payload_goes_to_the_first_caller_and_is_not_kept() {
    let drops = Arc::new(AtomicUsize::new(0));
    let cell = {
        let drops = Arc::clone(&drops);
        once_value(move || -> u8 { panic_any(Payload { id: 3, drops }) })
    };
    let first = catch_unwind(AssertUnwindSafe(|| *cell.get())).unwrap_err();
    assert_eq!(first.downcast_ref::<Payload>().map(|p| p.id), Some(3));
    assert_eq!(drops.load(SeqCst), 0, "the payload is the caller's");
    drop(first);
    assert_eq!(drops.load(SeqCst), 1);
    let later = catch_unwind(AssertUnwindSafe(|| *cell.get())).unwrap_err();
    assert_eq!(later.downcast_ref::<String>().unwrap(), "Box<dyn Any>");
    drop(cell);
    assert_eq!(drops.load(SeqCst), 1, "no copy of the payload was kept");
}

/// Entry: Drop of the captures of `once_value`'s function, when it runs: dropped at the
/// end of the call, inside the run, so a panic there after the function returned makes
/// the cell panicked (the returned value is not stored).
#[test]
fn once_value_capture_drop_panic_after_returning_makes_the_cell_panicked() {
    let drops = Arc::new(AtomicUsize::new(0));
    let bomb = Bomb::new(true, "capture dropped", &drops);
    let cell = once_value(move || {
        let _bomb = bomb;
        5u32
    });
    let first = catch_unwind(AssertUnwindSafe(|| *cell.get())).unwrap_err();
    assert_eq!(panic_text(&*first), "capture dropped");
    assert_eq!(drops.load(SeqCst), 1);
    let later = catch_unwind(AssertUnwindSafe(|| *cell.get())).unwrap_err();
    assert_eq!(panic_text(&*later), "capture dropped");
    assert_eq!(cell.try_get(), None);
}

/// Entry: Drop of a function that never ran: dropped with the cell, on the thread that
/// drops it; the panic propagates out of that drop, and the cell's other parts are
/// still dropped.
#[test]
fn once_value_unrun_function_drop_panic_propagates_from_the_cells_drop() {
    let drops = Arc::new(AtomicUsize::new(0));
    let bomb = Bomb::new(true, "unrun function dropped", &drops);
    let cell = once_value(move || {
        let _bomb = bomb;
        1u8
    });
    assert_eq!(cell.try_get(), None);
    let r = catch_unwind(AssertUnwindSafe(move || drop(cell)));
    assert_eq!(panic_text(&*r.unwrap_err()), "unrun function dropped");
    assert_eq!(drops.load(SeqCst), 1);

    let bomb = Bomb::new(true, "unrun once_func dropped", &drops);
    let f = once_func(move || drop(bomb));
    let r = catch_unwind(AssertUnwindSafe(move || drop(f)));
    assert_eq!(panic_text(&*r.unwrap_err()), "unrun once_func dropped");
    assert_eq!(drops.load(SeqCst), 2);
}

/// Entry: Drop of the stored value (`once_value`'s `T`, `once_values`' `T` or `E`):
/// dropped with the cell, on the thread that drops it, once; the panic propagates out
/// of that drop.
#[test]
fn stored_value_drop_panic_propagates_from_the_cells_drop() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&drops);
    let cell = once_value(move || Bomb::new(true, "value dropped", &d));
    let shared = Arc::new(cell);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| assert!(shared.get().armed));
        }
    });
    assert_eq!(drops.load(SeqCst), 0);
    let cell = Arc::into_inner(shared).unwrap();
    let r = catch_unwind(AssertUnwindSafe(move || drop(cell)));
    assert_eq!(panic_text(&*r.unwrap_err()), "value dropped");
    assert_eq!(drops.load(SeqCst), 1);

    let d = Arc::clone(&drops);
    let ok = once_values(move || Ok::<_, Bomb>(Bomb::new(true, "T dropped", &d)));
    assert!(ok.get().is_ok());
    let r = catch_unwind(AssertUnwindSafe(move || drop(ok)));
    assert_eq!(panic_text(&*r.unwrap_err()), "T dropped");
    let d = Arc::clone(&drops);
    let err = once_values(move || Err::<u8, _>(Bomb::new(true, "E dropped", &d)));
    assert!(err.get().is_err());
    let r = catch_unwind(AssertUnwindSafe(move || drop(err)));
    assert_eq!(panic_text(&*r.unwrap_err()), "E dropped");
    assert_eq!(drops.load(SeqCst), 3);
}

/// Entries: the functions of `once_func` and `once_values` (the same cell as
/// `once_value`): a panic reaches the first caller, a waiter and later callers panic
/// again with the same message, and the function is dropped after the panicking run.
#[test]
fn once_func_and_once_values_panics_follow_once_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let bomb = Bomb::new(false, "", &drops);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let f = Arc::new(once_func(move || {
        let _bomb = bomb;
        go_rx.recv().unwrap();
        panic!("once_func failed");
    }));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let f = Arc::clone(&f);
            thread::spawn(move || f.call())
        })
        .collect();
    let_it_block();
    go_tx.send(()).unwrap();
    for c in callers {
        let p = join_within("a caller", c).unwrap_err();
        assert_eq!(panic_text(&*p), "once_func failed");
    }
    assert!(f.is_done());
    assert_eq!(drops.load(SeqCst), 1, "the function was dropped by its run");
    let p = catch_unwind(AssertUnwindSafe(|| f.call())).unwrap_err();
    assert_eq!(panic_text(&*p), "once_func failed");

    let v = once_values(|| -> Result<u8, std::io::Error> { panic!("once_values failed") });
    for _ in 0..2 {
        let p = catch_unwind(AssertUnwindSafe(|| v.get().is_ok())).unwrap_err();
        assert_eq!(panic_text(&*p), "once_values failed");
    }
}
