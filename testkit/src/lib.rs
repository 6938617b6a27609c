//! Test scaffolding shared by the gosync crates' async tests: a waker that counts its
//! wake-ups (and can be told to panic in them), one-line polls, and a `block_on` that
//! parks the (modelled) thread between polls, for the loom models of the waker paths.
//! Not published: a dev-dependency by path only, which `cargo package` drops from the
//! packaged crates.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts its wakes, and panics in them once `panic_on_wake` is set.
#[derive(Debug, Default)]
pub struct Counting {
    /// Wake-ups so far (`wake` and `wake_by_ref` alike).
    pub wakes: AtomicUsize,
    /// When set, every wake-up panics (after it is counted).
    pub panic_on_wake: AtomicBool,
}

impl Counting {
    /// Wake-ups so far.
    pub fn count(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        if self.panic_on_wake.load(SeqCst) {
            panic!("waker panics on wake");
        }
    }
}

/// A fresh counting waker: the counter, and a `Waker` that counts into it.
pub fn counting() -> (Arc<Counting>, Waker) {
    let c = Arc::new(Counting::default());
    (Arc::clone(&c), Waker::from(Arc::clone(&c)))
}

/// Polls an `Unpin` future once with `waker`.
pub fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Polls an `Unpin` future once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    poll(fut, &Waker::from(Arc::new(Noop)))
}

/// Polls `fut` to completion on the current thread, parking between polls; the waker
/// unparks it. Threads are `gosync_core::sync::thread`, so under `--cfg loom` this is a
/// modelled thread, and a lost wake-up leaves it parked forever: loom reports a
/// deadlock.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = unpark_waker();
    loop {
        if let Poll::Ready(v) = poll_pinned(fut.as_mut(), &waker) {
            return v;
        }
        gosync_core::sync::thread::park();
    }
}

/// A waker that unparks the current thread (a `gosync_core::sync::thread`: a modelled
/// thread under `--cfg loom`).
pub fn unpark_waker() -> Waker {
    use gosync_core::sync::thread;
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    Waker::from(Arc::new(Unpark(thread::current())))
}

/// Polls a pinned future once with `waker`.
pub fn poll_pinned<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// Waits until `cond` holds, yielding the CPU between checks. No timing assumption: the
/// only limit is a generous hang guard (60 s), which fails the test with `hang: {what}`.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "hang: {what}");
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_panics_when_told() {
        let (c, w) = counting();
        w.wake_by_ref();
        let other = w.clone();
        other.wake(); // by value: `Wake::wake`
        assert_eq!(c.count(), 2);
        c.panic_on_wake.store(true, SeqCst);
        assert!(std::panic::catch_unwind(|| w.wake_by_ref()).is_err());
        assert_eq!(c.count(), 3);
        assert!(poll(&mut std::future::ready(7), &w).is_ready());
        assert!(poll_once(&mut std::future::ready(7)).is_ready());
    }

    #[test]
    fn block_on_parks_until_woken() {
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let mut first = true;
        let fut = std::future::poll_fn(move |cx| {
            if first {
                first = false;
                tx.send(cx.waker().clone()).unwrap();
                Poll::Pending
            } else {
                Poll::Ready(5)
            }
        });
        let waker = std::thread::spawn(move || rx.recv().unwrap().wake());
        assert_eq!(block_on(fut), 5);
        waker.join().unwrap();
    }
}
