//! Test scaffolding shared by the gosync crates' async tests: a waker that counts its
//! wake-ups (and can be told to panic in them), and a one-line `poll`. Not published: a
//! dev-dependency by path only, which `cargo package` drops from the packaged crates.

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

/// Polls a pinned future once with `waker`.
pub fn poll_pinned<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
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
    }
}
