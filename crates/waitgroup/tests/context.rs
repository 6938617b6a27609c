//! `WaitGroup::wait_context` (feature `context`): the counter or the context, whichever
//! comes first, and a clean withdrawal when the context wins.
#![cfg(all(not(loom), feature = "context"))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gosync_context::{background, background_with_clock, with_cancel, with_timeout, Error};
use gosync_core::clock::FakeClock;
use gosync_waitgroup::WaitGroup;

/// The number of registered waiters, from `Debug` (never blocks).
fn waiters(wg: &WaitGroup) -> u32 {
    let s = format!("{wg:?}");
    let rest = &s[s.find("waiters: ").expect("waiters field") + 9..];
    rest.trim_end_matches(" }").parse().unwrap()
}

/// Spins (yielding) until `wg` has `n` registered waiters; a generous hang guard only.
fn until_waiters(wg: &WaitGroup, n: u32) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while waiters(wg) != n {
        assert!(
            Instant::now() < give_up,
            "waiters never reached {n}: {wg:?}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn zero_counter_is_ok_even_with_a_done_context() {
    let wg = WaitGroup::new();
    let (ctx, cancel) = with_cancel(&background());
    assert_eq!(wg.wait_context(&ctx), Ok(()));
    cancel.cancel();
    assert_eq!(wg.wait_context(&ctx), Ok(())); // the counter wins
}

#[test]
fn done_context_and_busy_group_fail_at_once() {
    let wg = WaitGroup::new();
    wg.add(2);
    let (ctx, cancel) = with_cancel(&background());
    cancel.cancel();
    assert_eq!(wg.wait_context(&ctx), Err(Error::Canceled));
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 2, waiters: 0 }");
    assert_eq!(ctx.registrations(), 0);
}

#[test]
fn cancel_unblocks_a_parked_waiter_which_withdraws() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (ctx, cancel) = with_cancel(&background());
    std::thread::scope(|s| {
        let t = s.spawn(|| wg.wait_context(&ctx));
        until_waiters(&wg, 1); // parked (or about to park) in the group
        cancel.cancel();
        assert_eq!(t.join().unwrap(), Err(Error::Canceled));
    });
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1, waiters: 0 }");
    // The group is unaffected: the round completes and the next one works.
    wg.done();
    wg.wait();
    wg.add(1);
    wg.done();
    wg.wait();
}

#[test]
fn counter_reaching_zero_wins_and_deregisters_the_hook() {
    let wg = WaitGroup::new();
    wg.add(3);
    let (ctx, cancel) = with_cancel(&background());
    std::thread::scope(|s| {
        let t = s.spawn(|| wg.wait_context(&ctx));
        until_waiters(&wg, 1);
        assert_eq!(ctx.registrations(), 1); // the waiter's wake-up hook
        for _ in 0..3 {
            wg.done();
        }
        assert_eq!(t.join().unwrap(), Ok(()));
    });
    assert_eq!(ctx.registrations(), 0, "the hook left with the waiter");
    cancel.cancel(); // nothing left to wake
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
}

#[test]
fn deadline_of_the_context_ends_the_wait() {
    let fake = FakeClock::new();
    let root = background_with_clock(fake.clock());
    let (ctx, _cancel) = with_timeout(&root, Duration::from_secs(30));
    let wg = WaitGroup::new();
    wg.add(1);
    std::thread::scope(|s| {
        let t = s.spawn(|| wg.wait_context(&ctx));
        until_waiters(&wg, 1);
        // The context's timer thread sleeps on the fake clock until the deadline.
        assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
        fake.advance(Duration::from_secs(30));
        assert_eq!(t.join().unwrap(), Err(Error::DeadlineExceeded));
    });
    wg.done();
    wg.wait();
}

#[test]
fn parent_cancel_reaches_a_child_context_waiter() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (parent, cancel) = with_cancel(&background());
    let (child, _c) = with_cancel(&parent);
    std::thread::scope(|s| {
        let t = s.spawn(|| wg.wait_context(&child));
        until_waiters(&wg, 1);
        cancel.cancel();
        assert_eq!(t.join().unwrap(), Err(Error::Canceled));
    });
    wg.done();
}

#[test]
fn plain_and_context_waiters_are_independent() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (ctx, cancel) = with_cancel(&background());
    let plain_done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let plain = s.spawn(|| {
            wg.wait();
            plain_done.store(true, Ordering::SeqCst);
        });
        until_waiters(&wg, 1);
        let with_ctx = s.spawn(|| wg.wait_context(&ctx));
        until_waiters(&wg, 2);
        cancel.cancel();
        assert_eq!(with_ctx.join().unwrap(), Err(Error::Canceled));
        // The cancel woke the plain waiter too (one condition variable), but it found
        // no permit and parked again, still registered.
        assert_eq!(waiters(&wg), 1);
        assert!(!plain_done.load(Ordering::SeqCst));
        wg.done();
        plain.join().unwrap();
    });
    assert!(plain_done.load(Ordering::SeqCst));
}

#[test]
fn background_context_waits_like_wait() {
    let wg = WaitGroup::new();
    wg.add(1);
    std::thread::scope(|s| {
        let t = s.spawn(|| wg.wait_context(&background()));
        until_waiters(&wg, 1);
        wg.done();
        assert_eq!(t.join().unwrap(), Ok(()));
    });
}

#[test]
fn real_timeout_context_fails_a_stuck_wait() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (ctx, _cancel) = with_timeout(&background(), Duration::from_millis(1));
    assert_eq!(wg.wait_context(&ctx), Err(Error::DeadlineExceeded));
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1, waiters: 0 }");
}

/// `done` and `cancel` race a context waiter, round after round: either outcome is
/// allowed, and the group is always left clean and reusable.
#[test]
fn done_racing_cancel_leaves_the_group_clean() {
    let wg = WaitGroup::new();
    for _ in 0..200 {
        wg.add(1);
        let (ctx, cancel) = with_cancel(&background());
        std::thread::scope(|s| {
            s.spawn(|| cancel.cancel());
            s.spawn(|| wg.done());
            let r = wg.wait_context(&ctx);
            assert!(r == Ok(()) || r == Err(Error::Canceled), "{r:?}");
        });
        wg.wait();
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
        assert_eq!(ctx.registrations(), 0);
    }
}

/// Many context waiters and plain waiters, with cancels and dones interleaved, in
/// release: no waiter hangs, no registration leaks.
#[test]
#[ignore = "stress: run in release by ci/test.sh"]
fn stress_context_waiters() {
    let wg = WaitGroup::new();
    let start = Instant::now();
    let mut rounds = 0u32;
    while start.elapsed() < Duration::from_secs(3) {
        rounds += 1;
        wg.add(4);
        let (parent, cancel) = with_cancel(&background());
        std::thread::scope(|s| {
            for i in 0..4 {
                let (wg, parent) = (&wg, &parent);
                s.spawn(move || {
                    let (ctx, _c) = with_cancel(parent);
                    let _ = wg.wait_context(&ctx);
                    if i == 0 {
                        wg.wait();
                    }
                });
            }
            s.spawn(|| cancel.cancel());
            for _ in 0..4 {
                s.spawn(|| wg.done());
            }
        });
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    }
    assert!(rounds > 0);
}
