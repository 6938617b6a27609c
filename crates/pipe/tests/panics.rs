//! Panic safety: every place the pipe runs user code (see "Panic safety" in the crate
//! docs) with a user error whose conversion, `Drop`, `Display`, `Debug` or `source`
//! panics on demand. After each panic: the pipe is consistent (closed or not as
//! documented), no call is left blocked, and the panic reaches the documented thread.
#![cfg(not(loom))]

use std::error::Error;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use gosync_pipe::{pipe, CloseError, ClosedPipe, PipeReader};

/// A hang guard, not a timing assertion: only a stuck thread misses it.
const HANG: Duration = Duration::from_secs(10);

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<opaque>".into())
}

/// Runs `f` on its own thread and waits at most [`HANG`] for it: a stuck `f` fails the
/// test (and is left behind) instead of hanging it.
fn within<R: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> thread::Result<R> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// Polls `cond` until it holds, at most [`HANG`].
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + HANG;
    while !cond() {
        assert!(Instant::now() < give_up, "never: {what}");
        thread::yield_now();
    }
}

/// Spins until a write is offered to readers (the reader's `Debug` shows it).
fn until_write_pending(r: &PipeReader) {
    until("a write is offered", || {
        format!("{r:?}").contains("write_pending: true")
    });
}

/// What a [`UserError`] does when a trait method or its drop runs.
#[derive(Default)]
struct Traps {
    display: AtomicBool,
    debug: AtomicBool,
    source: AtomicBool,
    drop: AtomicBool,
    drops: AtomicUsize,
    /// Run (once) by `drop`, before the drop counts: user code that uses the pipe.
    on_drop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

/// A user error type whose every method can panic on demand.
struct UserError {
    name: &'static str,
    traps: Arc<Traps>,
}

impl UserError {
    fn new(name: &'static str, traps: &Arc<Traps>) -> UserError {
        UserError {
            name,
            traps: Arc::clone(traps),
        }
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.traps.display.load(SeqCst) {
            panic!("Display of {}", self.name);
        }
        f.write_str(self.name)
    }
}

impl fmt::Debug for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.traps.debug.load(SeqCst) {
            panic!("Debug of {}", self.name);
        }
        write!(f, "UserError({})", self.name)
    }
}

impl Error for UserError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        if self.traps.source.load(SeqCst) {
            panic!("source of {}", self.name);
        }
        None
    }
}

impl Drop for UserError {
    fn drop(&mut self) {
        let hook = self.traps.on_drop.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.traps.drops.fetch_add(1, SeqCst);
        if self.traps.drop.load(SeqCst) && !thread::panicking() {
            panic!("Drop of {}", self.name);
        }
    }
}

fn user_error(err: &io::Error) -> Option<&UserError> {
    CloseError::from_io(err)?.downcast_ref::<UserError>()
}

/// A value whose conversion into the boxed error panics.
struct BadConversion;

impl From<BadConversion> for Box<dyn Error + Send + Sync> {
    fn from(_: BadConversion) -> Self {
        panic!("conversion failed");
    }
}

/// Entry: the conversion of `close_with_error`'s argument (`Into<Box<dyn Error>>`). It
/// runs before the pipe is touched: the end stays open, a blocked reader keeps waiting
/// and then gets the data, and a later close works.
#[test]
fn conversion_panic_leaves_the_end_open() {
    let (r, w) = pipe();
    let (r, w) = (Arc::new(r), Arc::new(w));
    let reader = {
        let r = Arc::clone(&r);
        thread::spawn(move || {
            let mut buf = [0; 8];
            let n = (&*r).read(&mut buf)?;
            Ok::<_, io::Error>(buf[..n].to_vec())
        })
    };
    let rr = catch_unwind(AssertUnwindSafe(|| w.close_with_error(BadConversion)));
    assert_eq!(panic_text(&*rr.unwrap_err()), "conversion failed");
    let rr = catch_unwind(AssertUnwindSafe(|| r.close_with_error(BadConversion)));
    assert_eq!(panic_text(&*rr.unwrap_err()), "conversion failed");
    assert!(!format!("{w:?}").contains("closed: true"));
    let w2 = Arc::clone(&w);
    within("the write", move || (&*w2).write_all(b"data").unwrap()).unwrap();
    let got = within("the reader", move || reader.join().unwrap()).unwrap();
    assert_eq!(got.unwrap(), b"data");
    w.close();
    assert_eq!((&*r).read(&mut [0; 4]).unwrap(), 0);
}

/// Entry: `Drop` of the user error of a later close of an end already closed (the
/// first cause wins, the later one is dropped). It runs in that `close_with_error`,
/// after the pipe's lock is released: a `Drop` that uses the same pipe does not
/// deadlock, and one that panics leaves the first cause in place.
#[test]
fn rejected_error_is_dropped_without_the_pipes_lock() {
    let traps = Arc::new(Traps::default());
    let (r, w) = pipe();
    let (r, w) = (Arc::new(r), Arc::new(w));
    w.close_with_error(UserError::new("first", &traps));

    // The later error's `Drop` reads from and closes this pipe.
    let late = Arc::new(Traps::default());
    let used_pipe = Arc::new(AtomicBool::new(false));
    *late.on_drop.lock().unwrap() = Some(Box::new({
        let (r, used_pipe) = (Arc::clone(&r), Arc::clone(&used_pipe));
        move || {
            let err = (&*r).read(&mut [0; 4]).unwrap_err();
            assert_eq!(user_error(&err).unwrap().name, "first");
            r.close();
            used_pipe.store(true, SeqCst);
        }
    }));
    let (w2, late2) = (Arc::clone(&w), Arc::clone(&late));
    within(
        "close_with_error whose rejected error uses the pipe",
        move || w2.close_with_error(UserError::new("second", &late2)),
    )
    .unwrap();
    assert!(used_pipe.load(SeqCst));
    assert_eq!(late.drops.load(SeqCst), 1);

    // A rejected error whose `Drop` panics: the panic reaches that closer; the first
    // cause stays, and reads and writes still answer at once.
    late.drop.store(true, SeqCst);
    let rr = catch_unwind(AssertUnwindSafe(|| {
        w.close_with_error(UserError::new("third", &late))
    }));
    assert_eq!(panic_text(&*rr.unwrap_err()), "Drop of third");
    let rr = catch_unwind(AssertUnwindSafe(|| {
        r.close_with_error(UserError::new("fourth", &late))
    }));
    assert_eq!(panic_text(&*rr.unwrap_err()), "Drop of fourth");
    assert_eq!(late.drops.load(SeqCst), 3);
    let (r2, w2) = (Arc::clone(&r), Arc::clone(&w));
    within("calls after the panics", move || {
        assert!(ClosedPipe::is(&(&*r2).read(&mut [0; 4]).unwrap_err()));
        assert!(ClosedPipe::is(&(&*w2).write(b"x").unwrap_err()));
    })
    .unwrap();
    assert_eq!(traps.drops.load(SeqCst), 0, "the first cause is kept");
}

/// Entry: `Drop` of the stored user error (the first cause). It runs where the last
/// handle of it goes: the `io::Error`s and `CloseError`s handed out, or the pipe's last
/// end (after that end's own close, with no lock held). A panic propagates out of that
/// drop, once.
#[test]
fn stored_error_drop_panic_propagates_out_of_the_last_handle() {
    // The last handle is an `io::Error` a reader got.
    let traps = Arc::new(Traps::default());
    let (mut r, w) = pipe();
    w.close_with_error(UserError::new("stored", &traps));
    let err = r.read(&mut [0; 4]).unwrap_err();
    traps.drop.store(true, SeqCst);
    drop(w);
    drop(r);
    assert_eq!(traps.drops.load(SeqCst), 0);
    let rr = catch_unwind(AssertUnwindSafe(move || drop(err)));
    assert_eq!(panic_text(&*rr.unwrap_err()), "Drop of stored");
    assert_eq!(traps.drops.load(SeqCst), 1);

    // The last handle is the writer end, dropped after the reader.
    let traps = Arc::new(Traps::default());
    let (r, w) = pipe();
    r.close_with_error(UserError::new("stored by the reader", &traps));
    traps.drop.store(true, SeqCst);
    drop(r);
    let rr = catch_unwind(AssertUnwindSafe(move || drop(w)));
    assert_eq!(
        panic_text(&*rr.unwrap_err()),
        "Drop of stored by the reader"
    );
    assert_eq!(traps.drops.load(SeqCst), 1);

    // Closing with an error while a writer is blocked: no user code runs then; the
    // writer wakes with the error.
    let traps = Arc::new(Traps::default());
    traps.drop.store(true, SeqCst); // would panic if the pipe dropped it early
    let (r, w) = pipe();
    let writer = thread::spawn(move || {
        let res = (&w).write(b"never read");
        (w, res)
    });
    until_write_pending(&r);
    r.close_with_error(UserError::new("reader gone", &traps));
    let (w, res) = within("the blocked writer", move || writer.join().unwrap()).unwrap();
    let err = res.unwrap_err();
    assert_eq!(user_error(&err).unwrap().name, "reader gone");
    assert_eq!(traps.drops.load(SeqCst), 0);
    traps.drop.store(false, SeqCst);
    drop((err, r, w));
    assert_eq!(traps.drops.load(SeqCst), 1);
}

/// Entries: `Display`, `Debug` and `source` of the user error. The pipe never calls
/// them (not even in the ends' `Debug`): they run only when the caller formats or
/// inspects the error it got, and a panic there leaves the pipe as it was.
#[test]
fn display_debug_and_source_run_only_in_the_callers_code() {
    let traps = Arc::new(Traps::default());
    traps.display.store(true, SeqCst);
    traps.debug.store(true, SeqCst);
    traps.source.store(true, SeqCst);
    let (mut r, w) = pipe();
    w.close_with_error(UserError::new("trapped", &traps));
    // Everything the pipe does with the error: store, report (kind, downcast), Debug.
    let err = r.read(&mut [0; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(!ClosedPipe::is(&err));
    let close = CloseError::from_io(&err).unwrap();
    assert!(close.downcast_ref::<UserError>().is_some());
    let ends = format!("{r:?} {w:?}");
    assert!(ends.contains("closed: true"), "{ends}");

    let rr = catch_unwind(AssertUnwindSafe(|| err.to_string()));
    assert_eq!(panic_text(&*rr.unwrap_err()), "Display of trapped");
    let rr = catch_unwind(AssertUnwindSafe(|| format!("{err:?}")));
    assert_eq!(panic_text(&*rr.unwrap_err()), "Debug of trapped");
    let rr = catch_unwind(AssertUnwindSafe(|| close.source().is_none()));
    assert_eq!(panic_text(&*rr.unwrap_err()), "source of trapped");

    // The pipe answers as before, from any thread.
    let again = within("a read after the panics", move || {
        let e = r.read(&mut [0; 4]).unwrap_err();
        (user_error(&e).map(|u| u.name), r)
    })
    .unwrap();
    assert_eq!(again.0, Some("trapped"));
    traps.display.store(false, SeqCst);
    assert_eq!(err.to_string(), "trapped");
}

#[cfg(feature = "context")]
mod context {
    use super::*;
    use gosync_context::{background_with_clock, with_cancel, with_timeout, Context};
    use gosync_core::clock::FakeClock;
    use gosync_pipe::PipeWriter;

    /// Registers, first on `ctx`, a hook that blocks the thread running the cancel
    /// until `release` is sent; `entered` reports that it is running.
    fn blocking_hook(ctx: &Context) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        ctx.on_cancel(move || {
            entered_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(HANG);
        })
        .forget();
        (entered_rx, release_tx)
    }

    /// Parks a `read_context` on `ctx` and returns once its wake-up hook is registered
    /// (after the blocking hook); the handle yields the read's result and the reader.
    fn parked_read(
        ctx: &Context,
        r: PipeReader,
    ) -> thread::JoinHandle<(io::Result<usize>, PipeReader)> {
        let before = ctx.registrations();
        let h = {
            let ctx = ctx.clone();
            thread::spawn(move || {
                let res = r.read_context(&mut [0; 8], &ctx);
                (res, r)
            })
        };
        until("the read parks", || ctx.registrations() > before);
        h
    }

    /// While a cancel is stuck in the blocking hook, before it reaches the pipe's hook:
    /// the writer closes with a user error, which wakes the read, and every handle of
    /// the pipe but the hook is dropped, with the error's `Drop` armed.
    fn leave_the_hook_as_last_handle(
        traps: &Arc<Traps>,
        name: &'static str,
        reader: thread::JoinHandle<(io::Result<usize>, PipeReader)>,
        w: PipeWriter,
    ) {
        w.close_with_error(UserError::new(name, traps));
        let (res, r) = within("the read", move || reader.join().unwrap()).unwrap();
        let err = res.unwrap_err();
        // `parked_read` knows the read's hook is registered, not that the read has parked:
        // if the cancel lands before the read parks, the read sees the context's error
        // first. Either way the user error is stored in the pipe, which the hook keeps.
        match user_error(&err) {
            Some(e) => assert_eq!(e.name, name),
            None => assert!(
                err.get_ref()
                    .and_then(|e| e.downcast_ref::<gosync_context::Error>())
                    .is_some(),
                "{err}"
            ),
        }
        drop(err);
        traps.drop.store(true, SeqCst);
        drop((r, w));
        assert_eq!(traps.drops.load(SeqCst), 0, "the hook still holds the pipe");
    }

    /// Entry (feature `context`): the pipe's wake-up hook runs on the thread that
    /// cancels, and the hook's drop may drop the last handle of the pipe, and so the
    /// stored user error. Here its `Drop` panics on the cancelling thread: the context
    /// catches it, runs the rest of the cancel, and resumes it on that thread once the
    /// cancel is complete. The read returned long before; nothing hangs.
    #[test]
    fn last_handle_dropped_by_the_hook_on_the_cancelling_thread() {
        let traps = Arc::new(Traps::default());
        let (ctx, cancel) = with_cancel(&gosync_context::background());
        let (entered, release) = blocking_hook(&ctx);
        let (r, w) = pipe();
        let reader = parked_read(&ctx, r);
        let canceller = thread::spawn(move || cancel.cancel());
        entered
            .recv_timeout(HANG)
            .expect("the cancel never ran the hooks");
        leave_the_hook_as_last_handle(&traps, "hook's", reader, w);
        release.send(()).unwrap();
        let p = within("the canceller", move || canceller.join())
            .unwrap()
            .unwrap_err();
        assert_eq!(panic_text(&*p), "Drop of hook's");
        assert_eq!(traps.drops.load(SeqCst), 1);
        assert!(ctx.is_done());
    }

    /// Entry (feature `context`): the same on the context's timer thread (a deadline):
    /// the panic is reported and swallowed there, and the thread keeps serving the
    /// clock's other deadlines.
    #[test]
    fn last_handle_dropped_by_the_hook_on_the_timer_thread() {
        let fake = FakeClock::new();
        let root = background_with_clock(fake.clock());
        let traps = Arc::new(Traps::default());
        let (ctx, _cancel) = with_timeout(&root, Duration::from_secs(1));
        let (entered, release) = blocking_hook(&ctx);
        let (r, w) = pipe();
        let reader = parked_read(&ctx, r);
        let f = fake.clone();
        within("advance", move || f.advance(Duration::from_secs(1))).unwrap();
        entered.recv_timeout(HANG).expect("the timer never fired");
        leave_the_hook_as_last_handle(&traps, "timer's", reader, w);
        release.send(()).unwrap();
        until("the hook drops the pipe", || traps.drops.load(SeqCst) == 1);

        // The timer thread survived: a later deadline of the same clock still fires.
        let (later, _cancel) = with_timeout(&root, Duration::from_secs(1));
        let (fired_tx, fired_rx) = mpsc::channel();
        later.on_cancel(move || fired_tx.send(()).unwrap()).forget();
        let f = fake.clone();
        within("advance", move || f.advance(Duration::from_secs(1))).unwrap();
        fired_rx
            .recv_timeout(HANG)
            .expect("the timer thread died with the panic");
    }
}
