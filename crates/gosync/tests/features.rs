//! The default features: every primitive is there, the context integration of each is on,
//! and the types are the member crates' own.
#![cfg(all(
    feature = "waitgroup",
    feature = "once",
    feature = "context",
    feature = "pool",
    feature = "pipe",
    feature = "workqueue",
    feature = "ratelimit"
))]

use std::time::Duration;

use gosync::context::{background, with_cancel, Error};
use gosync::pipe::pipe;
use gosync::ratelimit::{Limit, TokenBucket, WaitContextError};
use gosync::workqueue::{GetContextError, Queue};
use gosync::{once_value, Clock, FakeClock, Pool, WaitGroup};

#[test]
fn context_integration_is_on_in_every_crate() {
    let (ctx, cancel) = with_cancel(&background());
    cancel.cancel();

    let wg = WaitGroup::new();
    wg.add(1);
    assert_eq!(wg.wait_context(&ctx), Err(Error::Canceled));
    wg.done();

    let q: Queue<u8> = Queue::new();
    assert_eq!(
        q.get_context(&ctx).err(),
        Some(GetContextError::Context(Error::Canceled))
    );

    let (r, _w) = pipe();
    assert!(r.read_context(&mut [0; 4], &ctx).is_err());

    let bucket = TokenBucket::new(Limit::per_second(1), 1).unwrap();
    assert_eq!(
        bucket.wait_context(&ctx, 1),
        Err(WaitContextError::Done(Error::Canceled))
    );
}

#[test]
fn the_other_primitives_and_the_clock() {
    let pool = Pool::new(Vec::<u8>::new);
    drop(pool.get());
    assert_eq!(pool.stats().idle, 1);

    let v = once_value(|| 42);
    assert_eq!(*v.get(), 42);

    let fake = FakeClock::new();
    let clock: Clock = fake.clock();
    let start = clock.now();
    fake.advance(Duration::from_secs(3));
    assert_eq!(clock.now() - start, Duration::from_secs(3));
}
