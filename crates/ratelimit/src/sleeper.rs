//! [`Sleeper`]: the timer behind the async waits ([`TokenBucket::wait_async`] and
//! [`Backoff::retry_async`]), and its adapters: the gosync [`Clock`] (the default),
//! tokio (feature `tokio`) and smol (feature `smol`).
//!
//! [`TokenBucket::wait_async`]: crate::TokenBucket::wait_async
//! [`Backoff::retry_async`]: crate::Backoff::retry_async

use std::future::Future;
use std::time::Instant;

use gosync_core::clock::Clock;

/// A timer for the async waits: makes a future that completes at a deadline.
///
/// The async waits of this crate ([`TokenBucket::wait_async`] and its siblings,
/// [`Backoff::retry_async`]) need a timer but bring no runtime of their own. By default
/// they sleep on the limiter's gosync [`Clock`] (the implementation for `Clock` below:
/// its timer thread wakes the task, under any executor, and a
/// [`FakeClock`](gosync_core::clock::FakeClock) drives it in tests). Hand them another
/// `Sleeper` to use the runtime's own timer instead: `TokioSleeper` (feature `tokio`),
/// `SmolSleeper` (feature `smol`), or an implementation of your own.
///
/// The deadline is an instant of the limiter's clock. A sleeper other than the clock
/// must measure the same time: the real clock's instants are `std::time::Instant`s, so
/// any runtime timer works with a limiter on the real clock, and none of them knows a
/// fake clock's time. The wait completes when the sleep does: a sleeper that wakes
/// early lets the tokens be used early.
///
/// # Why an associated type
///
/// `sleep_until` returns `Self::Sleep`, not a `Pin<Box<dyn Future>>`: the futures are
/// generic over the sleeper, so the gosync clock's sleep and smol's `Timer` are stored
/// inline and a pending wait allocates nothing for them (a boxed sleep would cost an
/// allocation per wait that has to sleep, on every runtime). The sleep must be `Unpin`
/// so that the wait futures stay `Unpin` (usable in `select!` and through `&mut`
/// without pinning) with no `unsafe` pin projection; tokio's `Sleep` is not, so
/// `TokioSleeper` boxes it, one allocation per wait that sleeps (next to tokio's own
/// timer registration, which costs more). A sleeper that must be a trait object can
/// set `type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>`.
///
/// The trait does not require `Send`: a wait future is `Send` exactly when its sleeper
/// and the sleeper's `Sleep` are (all the sleepers here are).
///
/// # Examples
///
/// A sleeper of one's own, driving a token bucket's wait:
///
/// ```
/// use gosync_core::clock::Clock;
/// use gosync_ratelimit::{Limit, Sleeper, TokenBucket};
/// use std::time::Instant;
///
/// /// Sleeps on the real clock and counts the sleeps.
/// struct Counting(std::sync::atomic::AtomicUsize);
/// impl Sleeper for Counting {
///     type Sleep = gosync_core::timer::Sleep;
///     fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         Clock::real().sleep_until_async(deadline)
///     }
/// }
///
/// let bucket = TokenBucket::new(Limit::per_second(1000), 1).unwrap();
/// let sleeper = Counting(Default::default());
/// futures::executor::block_on(async {
///     bucket.wait_async().with_sleeper(&sleeper).await.unwrap(); // the burst: no sleep
///     bucket.wait_async().with_sleeper(&sleeper).await.unwrap(); // about 1 ms
/// });
/// assert_eq!(sleeper.0.into_inner(), 1);
/// ```
///
/// [`TokenBucket::wait_async`]: crate::TokenBucket::wait_async
/// [`Backoff::retry_async`]: crate::Backoff::retry_async
pub trait Sleeper {
    /// The future [`sleep_until`](Sleeper::sleep_until) returns.
    type Sleep: Future<Output = ()> + Unpin;

    /// A future that completes once `deadline` is reached. Called when a wait must
    /// sleep (never on a wait that finds its tokens there), from inside the waiting
    /// task's poll, so a runtime's timer finds its runtime.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;
}

/// The default: sleeps on the gosync clock, woken by the clock's timer thread
/// ([`Clock::sleep_until_async`]). Runs under any executor; a fake clock's
/// [`advance`](gosync_core::clock::FakeClock::advance) completes it.
impl Sleeper for Clock {
    type Sleep = gosync_core::timer::Sleep;

    fn sleep_until(&self, deadline: Instant) -> gosync_core::timer::Sleep {
        self.sleep_until_async(deadline)
    }
}

impl<S: Sleeper + ?Sized> Sleeper for &S {
    type Sleep = S::Sleep;

    fn sleep_until(&self, deadline: Instant) -> S::Sleep {
        (**self).sleep_until(deadline)
    }
}

impl<S: Sleeper + ?Sized> Sleeper for std::sync::Arc<S> {
    type Sleep = S::Sleep;

    fn sleep_until(&self, deadline: Instant) -> S::Sleep {
        (**self).sleep_until(deadline)
    }
}

impl<S: Sleeper + ?Sized> Sleeper for Box<S> {
    type Sleep = S::Sleep;

    fn sleep_until(&self, deadline: Instant) -> S::Sleep {
        (**self).sleep_until(deadline)
    }
}

#[cfg(all(feature = "tokio", not(loom)))]
pub use self::tokio_sleeper::{TokioSleep, TokioSleeper};

#[cfg(all(feature = "tokio", not(loom)))]
mod tokio_sleeper {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use super::Sleeper;

    /// A [`Sleeper`] on tokio's timer (`tokio::time::sleep_until`). Requires the
    /// `tokio` feature, which builds tokio with its `time` feature only.
    ///
    /// # Panics
    ///
    /// A wait that has to sleep panics if it is polled outside a tokio runtime with the
    /// time driver enabled (`Builder::enable_time`; `#[tokio::main]` enables it), as
    /// `tokio::time::sleep_until` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, TokenBucket, TokioSleeper};
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let bucket = TokenBucket::new(Limit::per_second(1000), 1).unwrap();
    /// rt.block_on(async {
    ///     bucket.wait_async().with_sleeper(TokioSleeper).await.unwrap();
    ///     bucket.wait_async().with_sleeper(TokioSleeper).await.unwrap(); // tokio's timer
    /// });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct TokioSleeper;

    /// The sleep of a [`TokioSleeper`]: tokio's `Sleep`, boxed so that it is `Unpin`.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    #[derive(Debug)]
    #[must_use = "a sleep does nothing unless polled"]
    pub struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

    impl Future for TokioSleep {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.as_mut().poll(cx)
        }
    }

    impl Sleeper for TokioSleeper {
        type Sleep = TokioSleep;

        fn sleep_until(&self, deadline: Instant) -> TokioSleep {
            TokioSleep(Box::pin(tokio::time::sleep_until(deadline.into())))
        }
    }
}

#[cfg(all(feature = "smol", not(loom)))]
pub use self::smol_sleeper::{SmolSleep, SmolSleeper};

#[cfg(all(feature = "smol", not(loom)))]
mod smol_sleeper {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use super::Sleeper;

    /// A [`Sleeper`] on smol's timer: `async_io::Timer`, which smol re-exports as
    /// `smol::Timer`. Requires the `smol` feature, which depends on `async-io` alone
    /// (not on the whole of smol: its executor, file and process crates are not
    /// needed for a timer).
    ///
    /// It works under any executor: `async-io`'s reactor is driven by
    /// `async_io::block_on` (and so by `smol::block_on`), and otherwise by the
    /// `async-io` thread it starts on first use.
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_ratelimit::{Limit, SmolSleeper, TokenBucket};
    ///
    /// let bucket = TokenBucket::new(Limit::per_second(1000), 1).unwrap();
    /// async_io::block_on(async {
    ///     bucket.wait_async().with_sleeper(SmolSleeper).await.unwrap();
    ///     bucket.wait_async().with_sleeper(SmolSleeper).await.unwrap(); // async-io's timer
    /// });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct SmolSleeper;

    /// The sleep of a [`SmolSleeper`]: an `async_io::Timer`, stored inline.
    #[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
    #[derive(Debug)]
    #[must_use = "a sleep does nothing unless polled"]
    pub struct SmolSleep(async_io::Timer);

    impl Future for SmolSleep {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            Pin::new(&mut self.0).poll(cx).map(|_| ())
        }
    }

    impl Sleeper for SmolSleeper {
        type Sleep = SmolSleep;

        fn sleep_until(&self, deadline: Instant) -> SmolSleep {
            SmolSleep(async_io::Timer::at(deadline))
        }
    }
}
