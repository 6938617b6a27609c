//! `Queue::get_context` (feature `context`).
#![cfg(all(not(loom), feature = "context"))]

use std::thread;
use std::time::{Duration, Instant};

use gosync_context::{background, background_with_clock, with_cancel, with_timeout, Error};
use gosync_core::FakeClock;
use gosync_workqueue::{GetContextError, Queue};

/// Spins until `cond` holds, with a generous real-time hang guard.
fn eventually(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(if cfg!(miri) { 600 } else { 10 }),
            "condition never held"
        );
        thread::yield_now();
    }
}

#[test]
fn parked_getter_is_released_by_cancel_and_queue_still_works() {
    let q: Queue<u32> = Queue::new();
    let (ctx, cancel) = with_cancel(&background());
    thread::scope(|s| {
        let getter = s.spawn(|| q.get_context(&ctx).map(|g| *g));
        eventually(|| ctx.registrations() == 1); // the getter's hook: it is about to park
        cancel.cancel();
        assert_eq!(
            getter.join().unwrap(),
            Err(GetContextError::Context(Error::Canceled))
        );
    });
    assert_eq!(ctx.registrations(), 0, "the hook is deregistered");
    q.add(1);
    assert_eq!(q.get().map(|g| *g), Some(1));
}

#[test]
fn add_wakes_a_context_getter() {
    let q: Queue<&str> = Queue::new();
    let (ctx, _cancel) = with_cancel(&background());
    thread::scope(|s| {
        let getter = s.spawn(|| q.get_context_detached(&ctx));
        eventually(|| ctx.registrations() == 1);
        q.add("x");
        assert_eq!(getter.join().unwrap(), Ok("x"));
    });
    assert!(q.done(&"x"));
}

#[test]
fn ready_item_wins_over_done_context() {
    let q = Queue::new();
    let (ctx, cancel) = with_cancel(&background());
    cancel.cancel();
    q.add(5u8);
    assert_eq!(q.get_context(&ctx).map(|g| *g), Ok(5));
    assert_eq!(
        q.get_context(&ctx).err(),
        Some(GetContextError::Context(Error::Canceled))
    );
}

#[test]
fn deadline_on_a_fake_clock() {
    let fake = FakeClock::new();
    let q: Queue<u8> = Queue::builder().clock(fake.clock()).build();
    let (ctx, _cancel) = with_timeout(
        &background_with_clock(fake.clock()),
        Duration::from_secs(30),
    );
    thread::scope(|s| {
        let getter = s.spawn(|| q.get_context(&ctx).map(|g| *g));
        eventually(|| ctx.registrations() == 1);
        fake.advance(Duration::from_secs(30));
        assert_eq!(
            getter.join().unwrap(),
            Err(GetContextError::Context(Error::DeadlineExceeded))
        );
    });
}

#[test]
fn shutdown_releases_a_context_getter_and_remaining_items_are_handed_out() {
    let q: Queue<u8> = Queue::new();
    let (ctx, _cancel) = with_cancel(&background());
    thread::scope(|s| {
        let getter = s.spawn(|| q.get_context(&ctx).map(|g| *g));
        eventually(|| ctx.registrations() == 1);
        q.shut_down();
        assert_eq!(getter.join().unwrap(), Err(GetContextError::ShutDown));
    });
    let q: Queue<u8> = Queue::new();
    q.add(3);
    q.shut_down();
    assert_eq!(q.get_context(&ctx).map(|g| *g), Ok(3));
    assert_eq!(q.get_context(&ctx).err(), Some(GetContextError::ShutDown));
}

#[test]
fn errors_display_and_source() {
    use std::error::Error as _;
    let e = GetContextError::Context(Error::DeadlineExceeded);
    assert!(e.to_string().contains("deadline"), "{e}");
    assert!(e.source().is_some());
    assert_eq!(
        GetContextError::ShutDown.to_string(),
        "work queue is shut down"
    );
}

#[test]
fn many_rounds_of_add_racing_cancel_lose_nothing() {
    let q: Queue<u32> = Queue::new();
    for i in 0..if cfg!(miri) { 50 } else { 200 } {
        let (ctx, cancel) = with_cancel(&background());
        thread::scope(|s| {
            let getter = s.spawn(|| q.get_context_detached(&ctx));
            s.spawn(|| q.add(i));
            s.spawn(|| cancel.cancel());
            match getter.join().unwrap() {
                Ok(item) => assert!(q.done(&item)),
                Err(e) => {
                    assert_eq!(e, GetContextError::Context(Error::Canceled));
                    // The add was not lost: the item is still queued (or about to be).
                    let g = q.get().unwrap();
                    assert_eq!(*g, i);
                }
            }
        });
        assert_eq!(q.len(), 0);
    }
}
