//! Context behaviour, with Go's `context/context_test.go` and `x_test.go` scenarios as
//! the checklist.
#![cfg(not(loom))]

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Poll, Wake, Waker};
use std::time::{Duration, Instant};

use gosync_context::{
    after_func, background, background_with_clock, cause, todo, with_cancel, with_cancel_cause,
    with_deadline, with_deadline_cause, with_timeout, with_timeout_cause, with_value,
    without_cancel, Context, Error, Key,
};
use gosync_core::FakeClock;

/// A real-time hang guard, never a timing assertion (Miri runs ~1000x slower).
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 10 });

fn msg(ctx: &Context) -> Option<String> {
    ctx.cause().map(|c| c.to_string())
}

/// Waits for `ctx` (fired by a timer thread) with a generous hang guard.
fn wait_done(ctx: &Context) {
    let (tx, rx) = mpsc::channel();
    let c = ctx.clone();
    std::thread::spawn(move || {
        c.wait();
        let _ = tx.send(());
    });
    rx.recv_timeout(HANG).expect("context was not cancelled");
}

#[test]
fn background_and_todo() {
    for ctx in [background(), todo()] {
        assert!(!ctx.is_done());
        assert_eq!(ctx.err(), None);
        assert_eq!(ctx.deadline(), None);
        assert!(ctx.cause().is_none());
        assert!(!ctx.wait_timeout(Duration::from_millis(1)));
    }
    assert_eq!(format!("{:?}", background()), "context.Background");
    assert_eq!(format!("{:?}", todo()), "context.TODO");
    assert!(background().same(&background()));
}

#[test]
fn debug_shows_the_chain() {
    static K: Key<u8> = Key::new("k");
    let (c, cancel) = with_cancel(&with_value(&background(), &K, 1));
    assert_eq!(format!("{c:?}"), "context.Background.WithValue.WithCancel");
    cancel.cancel();
    assert_eq!(
        format!("{c:?}"),
        "context.Background.WithValue.WithCancel (context canceled)"
    );
}

#[test]
fn cancel_propagates_to_every_depth_and_nothing_else() {
    // A tree three levels deep, two children per node, value and without_cancel nodes
    // sprinkled in. Cancel one middle node.
    static K: Key<u32> = Key::new("k");
    // A fake-clock root: the deadline below never fires, and on the real clock it would
    // start the process-wide timer thread, which never ends (Miri fails a run that
    // leaves a thread behind).
    let fake = FakeClock::new();
    let (root, _rc) = with_cancel(&background_with_clock(fake.clock()));
    let (a, _ac) = with_cancel(&root);
    let (b, cancel_b) = with_cancel(&root);
    let b_val = with_value(&b, &K, 1);
    let (b1, _b1c) = with_cancel(&b_val);
    let (b2, _b2c) = with_timeout(&b, Duration::from_secs(3600));
    let (b11, _) = with_cancel(&b1);
    let b11_val = with_value(&b11, &K, 2);
    let (b111, _) = with_cancel(&b11_val);
    let detached = without_cancel(&b1);
    let (under_detached, _) = with_cancel(&detached);
    let (a1, _a1c) = with_cancel(&a);

    cancel_b.cancel();
    for ctx in [&b, &b_val, &b1, &b2, &b11, &b11_val, &b111] {
        assert_eq!(ctx.err(), Some(Error::Canceled), "{ctx:?}");
        assert!(ctx.wait_timeout(Duration::ZERO));
    }
    for ctx in [&root, &a, &a1, &detached, &under_detached] {
        assert_eq!(ctx.err(), None, "{ctx:?}");
    }
    assert_eq!(root.registrations(), 1, "b released its registration");
}

#[test]
fn child_cancel_does_not_touch_parent_or_siblings() {
    let (parent, _pc) = with_cancel(&background());
    let (c1, cancel1) = with_cancel(&parent);
    let (c2, _c2c) = with_cancel(&parent);
    let (grand, _) = with_cancel(&c2);
    assert_eq!(parent.registrations(), 2);
    cancel1.cancel();
    assert!(c1.is_done());
    assert!(!parent.is_done() && !c2.is_done() && !grand.is_done());
    assert_eq!(parent.registrations(), 1);
}

#[test]
fn child_of_cancelled_parent_is_born_cancelled_with_its_cause() {
    let (parent, cancel) = with_cancel_cause(&background());
    cancel.cancel(io::Error::other("boom"));
    let (child, _c) = with_cancel(&parent);
    let (dl, _c2) = with_timeout(&parent, Duration::from_secs(60));
    for c in [&child, &dl] {
        assert_eq!(c.err(), Some(Error::Canceled));
        assert_eq!(msg(c).as_deref(), Some("boom"));
    }
    assert_eq!(parent.registrations(), 0);
}

#[test]
fn first_cancel_wins() {
    let (parent, cancel_parent) = with_cancel_cause(&background());
    let (child, cancel_child) = with_cancel_cause(&parent);
    cancel_child.cancel(io::Error::other("child first"));
    cancel_parent.cancel(io::Error::other("parent second"));
    cancel_child.cancel(io::Error::other("child again"));
    assert_eq!(msg(&child).as_deref(), Some("child first"));
    assert_eq!(msg(&parent).as_deref(), Some("parent second"));
}

#[test]
fn causes_follow_go() {
    // Go's TestCause table, case by case.
    // WithCancel: cause is Canceled.
    let (c, cancel) = with_cancel(&background());
    assert!(cause(&c).is_none());
    cancel.cancel();
    assert_eq!(msg(&c).as_deref(), Some("context canceled"));
    assert!(c.cause().unwrap().downcast_ref::<Error>() == Some(&Error::Canceled));

    // WithCancelCause(nil): Canceled.
    let (c, cancel) = with_cancel_cause(&background());
    cancel.cancel_with(None);
    assert_eq!(msg(&c).as_deref(), Some("context canceled"));

    // Parent cause reaches a value child and a cancel child.
    static K: Key<()> = Key::new("k");
    let (p, cancel) = with_cancel_cause(&background());
    let v = with_value(&p, &K, ());
    let (c, _) = with_cancel(&v);
    cancel.cancel(io::Error::other("parent cause"));
    assert_eq!(msg(&v).as_deref(), Some("parent cause"));
    assert_eq!(msg(&c).as_deref(), Some("parent cause"));

    // Deadline with a cause; and cancelled before the deadline: Canceled.
    let (c, _) = with_deadline_cause(&background(), Instant::now(), io::Error::other("late"));
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    assert_eq!(msg(&c).as_deref(), Some("late"));
    // A fake-clock root, as in `cancel_propagates_to_every_depth_and_nothing_else`.
    let fake = FakeClock::new();
    let (c, cancel) = with_timeout_cause(
        &background_with_clock(fake.clock()),
        Duration::from_secs(3600),
        io::Error::other("late"),
    );
    cancel.cancel();
    assert_eq!(c.err(), Some(Error::Canceled));
    assert_eq!(msg(&c).as_deref(), Some("context canceled"));

    // A deadline without a cause: DeadlineExceeded is the cause.
    let (c, _) = with_timeout(&background(), Duration::ZERO);
    assert_eq!(msg(&c).as_deref(), Some("context deadline exceeded"));

    // WithoutCancel: no cause, ever; and a value child of it neither.
    let (p, cancel) = with_cancel_cause(&background());
    let w = without_cancel(&p);
    let wv = with_value(&w, &K, ());
    cancel.cancel(io::Error::other("x"));
    assert!(w.cause().is_none() && wv.cause().is_none());
}

#[test]
fn deadline_ordering_with_fake_clock() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let t0 = fake.now();
    let (parent, _) = with_timeout_cause(&root, Duration::from_secs(10), io::Error::other("p"));
    let (early, _) = with_timeout_cause(&parent, Duration::from_secs(5), io::Error::other("e"));
    let (late, _) = with_timeout_cause(&parent, Duration::from_secs(20), io::Error::other("l"));
    let (plain, _) = with_cancel(&parent);

    assert_eq!(parent.deadline(), Some(t0 + Duration::from_secs(10)));
    assert_eq!(early.deadline(), Some(t0 + Duration::from_secs(5)));
    assert_eq!(
        late.deadline(),
        parent.deadline(),
        "never extends the parent's"
    );
    assert_eq!(plain.deadline(), parent.deadline());

    fake.advance(Duration::from_secs(4));
    assert!(!early.is_done());
    fake.advance(Duration::from_secs(1));
    wait_done(&early);
    assert_eq!(early.err(), Some(Error::DeadlineExceeded));
    assert_eq!(msg(&early).as_deref(), Some("e"));
    assert!(!parent.is_done() && !late.is_done());

    fake.advance(Duration::from_secs(5));
    // Each context is waited for: the parent is done before its cancel walk reaches the
    // children (as in Go, where `Done` closes before the children are cancelled).
    for c in [&parent, &late, &plain] {
        wait_done(c);
        assert_eq!(c.err(), Some(Error::DeadlineExceeded));
        assert_eq!(msg(c).as_deref(), Some("p"), "{c:?}");
    }
}

#[test]
fn deadline_in_the_past_cancels_at_once() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (c, _) = with_deadline(&root, fake.now());
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    let (c, _) = with_timeout(&root, Duration::ZERO);
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    // Born under a cancelled parent: the parent's error wins over the past deadline.
    let (p, cancel) = with_cancel(&root);
    cancel.cancel();
    let (c, _) = with_deadline(&p, fake.now());
    assert_eq!(c.err(), Some(Error::Canceled));
}

#[test]
fn huge_timeout_means_no_deadline() {
    let (c, _) = with_timeout(&background(), Duration::MAX);
    assert_eq!(c.deadline(), None);
    assert!(!c.is_done());
}

#[test]
#[cfg_attr(
    miri,
    ignore = "starts the process-wide timer thread, which never ends: Miri fails a run that leaves a thread at exit unless -Zmiri-ignore-leaks also turns its leak check off (rust-lang/miri#1371)"
)]
fn real_clock_deadline_fires() {
    let (c, _) = with_timeout(&background(), Duration::from_millis(5));
    wait_done(&c);
    assert_eq!(c.err(), Some(Error::DeadlineExceeded));
    assert!(c.err().unwrap().is_timeout());
}

#[test]
fn many_deadlines_one_timer() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let ctxs: Vec<_> = (1..=200u64)
        .map(|i| with_timeout(&root, Duration::from_millis(i)).0)
        .collect();
    fake.advance(Duration::from_millis(100));
    wait_done(&ctxs[99]);
    for (i, c) in ctxs.iter().enumerate() {
        assert_eq!(c.is_done(), i < 100, "ctx {i}");
    }
    fake.advance(Duration::from_millis(100));
    wait_done(&ctxs[199]);
    assert!(ctxs.iter().all(Context::is_done));
}

#[test]
fn values_shadow_and_look_up_through_ancestors() {
    static A: Key<u32> = Key::new("a");
    static B: Key<u32> = Key::new("b");
    static S: Key<String> = Key::new("a"); // same name, different key
    let c1 = with_value(&background(), &A, 1);
    let (c2, cancel) = with_cancel(&c1);
    let c3 = with_value(&c2, &B, 2);
    let c4 = with_value(&c3, &A, 3);
    let c5 = without_cancel(&c4);
    let c6 = with_value(&c5, &S, "s".into());
    cancel.cancel();
    assert_eq!(background().value(&A), None);
    assert_eq!(c1.value(&A), Some(&1));
    assert_eq!(c1.value(&B), None);
    assert_eq!(c2.value(&A), Some(&1));
    assert_eq!(c3.value(&A), Some(&1));
    assert_eq!(c3.value(&B), Some(&2));
    assert_eq!(c4.value(&A), Some(&3));
    assert_eq!(c6.value(&A), Some(&3));
    assert_eq!(c6.value(&B), Some(&2));
    assert_eq!(c6.value(&S).map(String::as_str), Some("s"));
    assert_eq!(c4.value(&S), None);
}

#[test]
fn without_cancel_keeps_values_only() {
    static K: Key<&str> = Key::new("k");
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (p, cancel) = with_timeout(&with_value(&root, &K, "v"), Duration::from_secs(1));
    let w = without_cancel(&p);
    assert_eq!(w.deadline(), None);
    let (wc, _) = with_cancel(&w);
    cancel.cancel();
    assert!(p.is_done());
    assert!(!w.is_done() && !wc.is_done());
    assert_eq!(w.err(), None);
    assert_eq!(wc.value(&K), Some(&"v"));
    assert_eq!(
        format!("{w:?}"),
        "context.Background.WithValue.WithDeadline.WithoutCancel"
    );
}

#[test]
fn after_func_runs_once_after_cancel() {
    let (ctx, cancel) = with_cancel(&background());
    let (tx, rx) = mpsc::channel();
    let stop = after_func(&ctx, move || tx.send(()).unwrap());
    assert!(rx.recv_timeout(Duration::from_millis(10)).is_err());
    cancel.cancel();
    cancel.cancel();
    rx.recv_timeout(HANG).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(10)).is_err());
    assert!(!stop.stop());
}

#[test]
fn after_func_stopped_never_runs() {
    let (ctx, cancel) = with_cancel(&background());
    let stop = after_func(&ctx, || panic!("must not run"));
    assert_eq!(ctx.registrations(), 1);
    assert!(stop.stop());
    assert!(!stop.stop());
    assert_eq!(ctx.registrations(), 0);
    cancel.cancel();
}

#[test]
fn after_func_on_done_context_runs_at_once() {
    let (ctx, cancel) = with_cancel(&background());
    cancel.cancel();
    let (tx, rx) = mpsc::channel();
    let stop = after_func(&ctx, move || tx.send(()).unwrap());
    rx.recv_timeout(HANG).unwrap();
    assert!(!stop.stop());
}

#[test]
fn after_func_on_never_cancelled_context() {
    let stop = after_func(&background(), || panic!("never"));
    assert!(stop.stop());
    assert!(!stop.stop());
}

#[test]
fn after_func_survives_dropped_handles() {
    // Go: AfterFunc keeps the context reachable; f runs when an ancestor cancels.
    let (parent, cancel) = with_cancel(&background());
    let (tx, rx) = mpsc::channel();
    {
        let (child, _child_cancel) = with_cancel(&parent);
        drop(after_func(&child, move || tx.send(()).unwrap()));
    }
    assert_eq!(parent.registrations(), 1);
    cancel.cancel();
    rx.recv_timeout(HANG).unwrap();
}

#[test]
fn after_func_stop_vs_cancel_exactly_once() {
    for _ in 0..if cfg!(miri) { 50 } else { 500 } {
        let (ctx, cancel) = with_cancel(&background());
        let ran = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let stop = {
            let ran = Arc::clone(&ran);
            after_func(&ctx, move || {
                ran.fetch_add(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            })
        };
        let t = std::thread::spawn(move || cancel.cancel());
        let stopped = stop.stop();
        t.join().unwrap();
        if !stopped {
            rx.recv_timeout(HANG).unwrap();
        }
        assert_eq!(ran.load(Ordering::SeqCst), usize::from(!stopped));
    }
}

#[test]
fn on_cancel_runs_once_and_guard_deregisters() {
    let (ctx, cancel) = with_cancel(&background());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let g1 = ctx.on_cancel(move || {
        h.fetch_add(1, Ordering::SeqCst);
    });
    let h = Arc::clone(&hits);
    let g2 = ctx.on_cancel(move || {
        h.fetch_add(100, Ordering::SeqCst);
    });
    assert_eq!(ctx.registrations(), 2);
    drop(g2);
    assert_eq!(ctx.registrations(), 1);
    cancel.cancel();
    drop(g1);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Already done: runs at once.
    let h = Arc::clone(&hits);
    ctx.on_cancel(move || {
        h.fetch_add(10, Ordering::SeqCst);
    })
    .forget();
    assert_eq!(hits.load(Ordering::SeqCst), 11);
}

#[test]
fn panicking_hook_does_not_break_the_cancel() {
    let (ctx, cancel) = with_cancel(&background());
    let (child, _) = with_cancel(&ctx);
    let hits = Arc::new(AtomicUsize::new(0));
    ctx.on_cancel(|| panic!("hook panics")).forget();
    let h = Arc::clone(&hits);
    child
        .on_cancel(move || {
            h.fetch_add(1, Ordering::SeqCst);
        })
        .forget();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cancel.cancel()));
    assert!(r.is_err());
    assert!(ctx.is_done() && child.is_done());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn wait_wakes_blocked_threads() {
    let (ctx, cancel) = with_cancel(&background());
    let (child, _) = with_cancel(&with_value(&ctx, &ANY_KEY, 0));
    let (tx, rx) = mpsc::channel();
    for c in [ctx.clone(), child.clone()] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            c.wait();
            tx.send(c.err()).unwrap();
        });
    }
    cancel.cancel();
    for _ in 0..2 {
        assert_eq!(rx.recv_timeout(HANG).unwrap(), Some(Error::Canceled));
    }
}

/// A key for tests that need one but not its name. (It used to be a fresh key leaked
/// per call, which Miri's leak check reports at exit.)
static ANY_KEY: Key<u8> = Key::new("any");

#[test]
fn wait_timeout_uses_the_context_clock() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (ctx, _cancel) = with_cancel(&root);
    let waiter = {
        let ctx = ctx.clone();
        std::thread::spawn(move || ctx.wait_timeout(Duration::from_secs(60)))
    };
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(Duration::from_secs(60));
    assert!(!waiter.join().unwrap());
    // A never-cancelled context times out through the clock too.
    let waiter = {
        let root = root.clone();
        std::thread::spawn(move || root.wait_timeout(Duration::from_secs(5)))
    };
    assert!(fake.block_until_waiters(1, HANG));
    fake.advance(Duration::from_secs(5));
    assert!(!waiter.join().unwrap());
}

struct ThreadWaker(std::thread::Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: poll, park until woken.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = pin!(f);
    let start = Instant::now();
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(start.elapsed() < HANG, "future never completed");
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

#[test]
fn done_future_wakes_on_cancel() {
    let (ctx, cancel) = with_cancel(&background());
    let (child, _) = with_cancel(&ctx);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        cancel.cancel();
    });
    block_on(child.done());
    assert!(child.is_done());
    t.join().unwrap();
}

#[test]
fn dropped_future_deregisters() {
    let (ctx, _cancel) = with_cancel(&background());
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    {
        let mut f = pin!(ctx.done());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert_eq!(ctx.registrations(), 1);
    }
    assert_eq!(ctx.registrations(), 0);
}

#[cfg(feature = "crossbeam")]
#[test]
fn done_chan_disconnects_on_cancel() {
    use crossbeam_channel::{select, unbounded, RecvTimeoutError};
    let (ctx, cancel) = with_cancel(&background());
    let done = ctx.done_chan();
    let done2 = ctx.done_chan();
    assert_eq!(
        done.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
    let (_tx, jobs) = unbounded::<u32>();
    let t = std::thread::spawn(move || {
        select! {
            recv(jobs) -> _ => false,
            recv(done2) -> r => r.is_err(),
        }
    });
    cancel.cancel();
    assert!(t.join().unwrap());
    assert!(done.recv().is_err());
    assert!(ctx.done_chan().recv().is_err());
    assert_eq!(
        background()
            .done_chan()
            .recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn dropped_children_leave_the_parent_registry() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (parent, _cancel) = with_cancel(&root);
    // Under Miri still every kind of child, many times over.
    for i in 0..if cfg!(miri) { 200 } else { 10_000 } {
        match i % 4 {
            0 => drop(with_cancel(&parent)),
            1 => drop(with_timeout(&parent, Duration::from_secs(1))),
            2 => {
                let (c, cancel) = with_cancel(&parent);
                let _g = c.on_cancel(|| ());
                cancel.cancel();
            }
            _ => {
                let (c, _) = with_cancel(&with_value(&parent, &ANY_KEY, 1));
                let (gc, _) = with_cancel(&c);
                drop(c);
                assert_eq!(parent.registrations(), 1);
                drop(gc);
            }
        }
    }
    assert_eq!(parent.registrations(), 0);
    // The dropped deadline contexts left the timer too: advancing fires nothing stale.
    fake.advance(Duration::from_secs(2));
    assert!(!parent.is_done());
}

/// The leak test: a million children of a long-lived parent, created and dropped
/// without cancel; the parent's registry returns to empty.
#[test]
#[ignore = "stress: run in release by ci/test.sh"]
fn million_dropped_children_leak_nothing() {
    let (parent, _cancel) = with_cancel(&background());
    let mut live = Vec::new();
    for i in 0..1_000_000 {
        let child = with_cancel(&parent);
        if i % 1000 == 0 {
            live.push(child); // some outlive the loop for a while
        }
    }
    assert_eq!(parent.registrations(), 1000);
    drop(live);
    assert_eq!(parent.registrations(), 0);
}

#[test]
fn errors_display_and_convert() {
    assert_eq!(Error::Canceled.to_string(), "context canceled");
    assert_eq!(
        Error::DeadlineExceeded.to_string(),
        "context deadline exceeded"
    );
    assert!(!Error::Canceled.is_timeout());
    let e: io::Error = Error::DeadlineExceeded.into();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    let e: io::Error = Error::Canceled.into();
    assert_eq!(e.kind(), io::ErrorKind::Other);
}

/// A cancel walk (by a cancel function on another thread, or by the timer thread when
/// a deadline fires) races the drop of the last handles of the children it walks: the
/// walk's last touch of a child (its `DETACHED` store) and the child's drop must not
/// overlap. Miri found them overlapping while the core was inline in the `Arc`'s node
/// (`Arc`'s drop makes a `&mut Node` before `Node::drop` can synchronize).
#[test]
fn children_dropped_while_a_cancel_walks_them() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    for round in 0..if cfg!(miri) { 20 } else { 200 } {
        let by_timer = round % 2 == 1;
        let (parent, cancel) = if by_timer {
            with_timeout(&root, Duration::from_secs(1))
        } else {
            with_cancel(&root)
        };
        // Each kept handle is the only one of a chain: child, value node, grandchild.
        let kids: Vec<Context> = (0..3)
            .map(|_| {
                let (child, _) = with_cancel(&parent);
                with_cancel(&with_value(&child, &ANY_KEY, 0)).0
            })
            .collect();
        assert_eq!(parent.registrations(), 3);
        std::thread::scope(|s| {
            s.spawn(move || drop(kids));
            if by_timer {
                fake.advance(Duration::from_secs(1));
            } else {
                cancel.cancel();
            }
        });
        wait_done(&parent);
        assert_eq!(parent.registrations(), 0);
    }
}

#[test]
fn concurrent_cancels_and_creations() {
    // Parent cancel racing child creation from several threads: every child ends
    // cancelled, and the registry ends empty.
    for _ in 0..if cfg!(miri) { 10 } else { 200 } {
        let (parent, cancel) = with_cancel(&background());
        let kids: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..3)
                .map(|_| s.spawn(|| (0..20).map(|_| with_cancel(&parent).0).collect::<Vec<_>>()))
                .collect();
            cancel.cancel();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.iter().all(Context::is_done));
        assert_eq!(parent.registrations(), 0);
    }
}

/// Runs `f` on a thread with a small stack, so that a recursion per level of a deep
/// chain would overflow it.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// Miri does not model a thread's stack size, so under it the deep-chain tests check
/// the iterative cancel and drop loops (and every tenth level a value node).
const DEEP: usize = if cfg!(miri) { 1_000 } else { 100_000 };

/// A chain `DEEP` levels deep below `root` (every tenth level a value node); returns
/// the leaf. Only the leaf is kept: it holds the whole chain.
fn deep_chain(root: &Context) -> Context {
    static LEVEL: Key<usize> = Key::new("level");
    let mut ctx = root.clone();
    for i in 0..DEEP {
        ctx = if i % 10 == 9 {
            with_value(&ctx, &LEVEL, i)
        } else {
            with_cancel(&ctx).0
        };
    }
    assert_eq!(ctx.value(&LEVEL), Some(&(DEEP - 1)));
    ctx
}

#[test]
fn cancelling_a_deep_chain_does_not_overflow() {
    on_small_stack(|| {
        let (root, cancel) = with_cancel_cause(&background());
        let leaf = deep_chain(&root);
        assert!(!leaf.is_done());
        cancel.cancel(io::Error::other("deep"));
        assert_eq!(leaf.err(), Some(Error::Canceled));
        assert_eq!(msg(&leaf).as_deref(), Some("deep"));
        assert_eq!(root.registrations(), 0);
        drop(leaf); // a cancelled chain drops too
    });
}

#[test]
fn dropping_a_deep_chain_does_not_overflow() {
    on_small_stack(|| {
        let (root, _cancel) = with_cancel(&background());
        let leaf = deep_chain(&root);
        assert_eq!(root.registrations(), 1);
        let debug = format!("{leaf:?}"); // the chain's name, in a loop too
        assert!(debug.starts_with("context.Background.WithCancel.WithCancel."));
        drop(leaf); // uncancelled: every level detaches from its parent
        assert_eq!(root.registrations(), 0);
    });
}

#[test]
fn a_deadline_cancels_a_deep_chain() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (top, _cancel) = with_timeout(&root, Duration::from_secs(1));
    let leaf = deep_chain(&top);
    fake.advance(Duration::from_secs(1));
    wait_done(&leaf);
    assert_eq!(leaf.err(), Some(Error::DeadlineExceeded));
    on_small_stack(move || drop(leaf));
}

#[test]
fn siblings_removed_in_any_order_stay_reachable() {
    let (parent, cancel) = with_cancel(&background());
    let mut kids: Vec<_> = (0..6).map(|_| with_cancel(&parent)).collect();
    // Remove the first (the last one moves into its place), then the moved one, then
    // one cancelled by itself.
    drop(kids.remove(0));
    drop(kids.pop());
    kids[1].1.cancel();
    assert_eq!(parent.registrations(), 3);
    cancel.cancel();
    assert!(kids.iter().all(|(c, _)| c.is_done()));
    assert_eq!(parent.registrations(), 0);
}

#[test]
fn deadlines_are_inherited_through_every_kind_of_node() {
    static K: Key<u8> = Key::new("k");
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let early = fake.clock().now() + Duration::from_secs(10);
    let late = early + Duration::from_secs(10);
    let (top, _c) = with_deadline(&root, early);
    let val = with_value(&top, &K, 1);
    let (mid, _c) = with_cancel(&val);
    assert_eq!(val.deadline(), Some(early));
    assert_eq!(mid.deadline(), Some(early));
    // A later deadline never extends the parent's (Go returns WithCancel(parent)).
    let (later, _c) = with_deadline_cause(&mid, late, io::Error::other("lost"));
    assert_eq!(later.deadline(), Some(early));
    // Below `without_cancel` there is no deadline, so a later one is honoured.
    let free = without_cancel(&mid);
    assert_eq!(free.deadline(), None);
    let (own, _c) = with_deadline(&with_value(&free, &K, 2), late);
    assert_eq!(own.deadline(), Some(late));
    fake.advance(Duration::from_secs(10));
    wait_done(&later);
    assert_eq!(later.err(), Some(Error::DeadlineExceeded));
    assert_eq!(msg(&later).as_deref(), Some("context deadline exceeded"));
    assert!(!own.is_done());
    fake.advance(Duration::from_secs(10));
    wait_done(&own);
}

/// Go's `WithDeadline` costs O(1) per node. A chain of contexts that each have their own
/// deadline must build, cancel and drop in time linear in its length (it used to walk to
/// the root for the timer at every level: 40,000 levels took 30 s to build and 14 s to
/// drop). The bound is a hang guard, far above the linear cost.
#[test]
#[ignore = "stress: run in release by ci/test.sh"]
fn a_long_chain_of_deadlines_is_linear() {
    let started = Instant::now();
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let far = fake.clock().now() + Duration::from_secs(3600);
    let mut leaf = root.clone();
    let n = 200_000;
    for i in 0..n {
        // Each deadline a little earlier than its parent's, so each node has its own.
        leaf = with_deadline(&leaf, far - Duration::from_nanos(i)).0;
    }
    assert_eq!(leaf.deadline(), Some(far - Duration::from_nanos(n - 1)));
    let (tip, _c) = with_timeout(&leaf, Duration::from_secs(1));
    assert!(tip.deadline().is_some());
    on_small_stack(move || drop((tip, leaf)));
    // And a deep chain of plain cancel nodes with a deadline at its leaf.
    let (top, _cancel) = with_cancel(&root);
    let mut leaf = top.clone();
    for _ in 0..1_000_000 {
        leaf = with_cancel(&leaf).0;
    }
    for _ in 0..1000 {
        let (t, _c) = with_timeout(&leaf, Duration::from_secs(1));
        assert!(t.deadline().is_some());
    }
    on_small_stack(move || drop(leaf));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "quadratic: {:?}",
        started.elapsed()
    );
}

#[test]
fn drop_guard_cancels_on_drop_and_on_unwind_unless_disarmed() {
    let (ctx, cancel) = with_cancel(&background());
    drop(cancel.drop_guard());
    assert_eq!(ctx.err(), Some(Error::Canceled));

    let (ctx, cancel) = with_cancel(&background());
    let guard = cancel.drop_guard();
    assert!(guard.context().same(&ctx));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _guard = guard;
        panic!("the scope fails");
    }));
    assert!(r.is_err());
    assert!(ctx.is_done(), "the guard cancels while unwinding");

    let (ctx, cancel) = with_cancel(&background());
    let guard = cancel.drop_guard();
    assert_eq!(format!("{guard:?}"), "DropGuard { armed: true }");
    let cancel = guard.disarm();
    assert!(!ctx.is_done(), "a disarmed guard does not cancel");
    cancel.cancel();
    assert!(ctx.is_done());
}
