//! WaitGroup behaviour, with Go's `sync/waitgroup_test.go` scenarios as the checklist.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use gosync_waitgroup::WaitGroup;

fn panic_text(r: std::thread::Result<()>) -> String {
    let p = r.expect_err("expected a panic");
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

/// Go's `testWaitGroup`: wg1 releases the main thread only after all n workers called
/// Done; wg2 holds the workers until the main thread has called Done n times.
fn ping_pong(wg1: &WaitGroup, wg2: &WaitGroup) {
    let n = 16;
    wg1.add(n);
    wg2.add(n);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..n {
            let tx = tx.clone();
            s.spawn(move || {
                wg1.done();
                wg2.wait();
                tx.send(()).unwrap();
            });
        }
        wg1.wait();
        for _ in 0..n {
            assert!(rx.try_recv().is_err(), "WaitGroup released group too soon");
            wg2.done();
        }
        for _ in 0..n {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("barrier failed to unlock someone");
        }
    });
}

#[test]
fn go_wait_group_reused_eight_times() {
    let (wg1, wg2) = (WaitGroup::new(), WaitGroup::new());
    for _ in 0..8 {
        ping_pong(&wg1, &wg2);
    }
}

#[test]
fn go_misuse_negative_counter() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    let r = catch_unwind(AssertUnwindSafe(|| wg.done()));
    assert_eq!(panic_text(r), "sync: negative WaitGroup counter");
}

#[test]
fn negative_add_panics_with_go_message() {
    let wg = WaitGroup::new();
    let r = catch_unwind(AssertUnwindSafe(|| wg.add(-1)));
    assert_eq!(panic_text(r), "sync: negative WaitGroup counter");
    let wg = WaitGroup::new();
    let r = catch_unwind(AssertUnwindSafe(|| wg.add(isize::MIN)));
    assert_eq!(panic_text(r), "sync: negative WaitGroup counter");
}

#[test]
fn counter_overflow_panics() {
    let wg = WaitGroup::new();
    wg.add(i32::MAX as isize);
    let r = catch_unwind(AssertUnwindSafe(|| wg.add(1)));
    assert_eq!(panic_text(r), "sync: WaitGroup counter overflow");
    let wg = WaitGroup::new();
    let r = catch_unwind(AssertUnwindSafe(|| wg.add(i32::MAX as isize + 1)));
    assert_eq!(panic_text(r), "sync: WaitGroup counter overflow");
}

#[test]
fn largest_counter_is_usable() {
    let wg = WaitGroup::new();
    wg.add(i32::MAX as isize);
    assert_eq!(wg.count(), i32::MAX as isize);
    wg.add(-(i32::MAX as isize));
    wg.wait();
}

/// Go's `TestWaitGroupRace`: the workers' writes are visible after Wait.
#[test]
fn go_wait_group_race() {
    for _ in 0..1000 {
        let wg = WaitGroup::new();
        let n = AtomicUsize::new(0);
        wg.add(2);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    n.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(n.load(Ordering::Relaxed), 2, "spurious wakeup from Wait");
        });
    }
}

#[test]
fn wait_on_zero_returns_at_once() {
    let wg = WaitGroup::new();
    wg.wait();
    assert!(wg.wait_timeout(Duration::ZERO));
}

#[test]
fn many_waiters_are_all_released() {
    let wg = WaitGroup::new();
    wg.add(1);
    let released = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                wg.wait();
                released.fetch_add(1, Ordering::SeqCst);
            });
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(released.load(Ordering::SeqCst), 0);
        wg.done();
    });
    assert_eq!(released.load(Ordering::SeqCst), 8);
}

#[test]
fn wait_timeout_times_out_then_group_still_works() {
    let wg = WaitGroup::new();
    wg.add(1);
    assert!(!wg.wait_timeout(Duration::from_millis(10)));
    // The timed-out waiter withdrew: the release finds no stale waiter and the group is
    // reusable round after round.
    assert!(format!("{wg:?}").contains("waiters: 0"), "{wg:?}");
    wg.done();
    assert!(wg.wait_timeout(Duration::from_secs(1)));
    for _ in 0..3 {
        wg.add(1);
        std::thread::scope(|s| {
            s.spawn(|| wg.done());
            wg.wait();
        });
    }
}

#[test]
fn wait_timeout_succeeds_when_released_in_time() {
    let wg = Arc::new(WaitGroup::new());
    let g = wg.guard_owned();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        g.done();
    });
    assert!(wg.wait_timeout(Duration::from_secs(30)));
    assert!(wg.wait_timeout(Duration::MAX));
}

#[test]
fn mixed_timed_and_untimed_waiters() {
    let wg = WaitGroup::new();
    wg.add(1);
    std::thread::scope(|s| {
        let untimed = s.spawn(|| wg.wait());
        let short = s.spawn(|| wg.wait_timeout(Duration::from_millis(5)));
        // An hour: never reached, even interpreted by Miri (whose clock is real time
        // while the test runs a thousand times slower: 30 s timed out there).
        let long = s.spawn(|| {
            let t = std::time::Instant::now();
            let r = wg.wait_timeout(Duration::from_secs(3600));
            (r, t.elapsed())
        });
        assert!(!short.join().unwrap());
        wg.done();
        untimed.join().unwrap();
        let (r, el) = long.join().unwrap();
        assert!(r, "the hour-long wait reported a time-out after {el:?}");
    });
}

/// Go 1.25's `TestWaitGroupGo`.
#[test]
fn go_helper_counts_down() {
    let wg = Arc::new(WaitGroup::new());
    let n = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let n = Arc::clone(&n);
        wg.go(move || n.fetch_add(1, Ordering::Relaxed));
    }
    wg.wait();
    assert_eq!(n.load(Ordering::Relaxed), 10);
}

#[test]
fn go_helper_counts_down_when_task_panics() {
    let wg = Arc::new(WaitGroup::new());
    let h = wg.go(|| panic!("task blew up"));
    assert!(
        wg.wait_timeout(Duration::from_secs(30)),
        "wait must not hang on a panicked task"
    );
    assert_eq!(panic_text(h.join()), "task blew up");
    assert_eq!(wg.count(), 0);
}

#[test]
fn go_static_and_scoped() {
    static WG: WaitGroup = WaitGroup::new();
    static HITS: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..4 {
        WG.go_static(|| HITS.fetch_add(1, Ordering::Relaxed));
    }
    WG.wait();
    assert_eq!(HITS.load(Ordering::Relaxed), 4);

    let wg = WaitGroup::new();
    let flag = AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = wg.go_scoped(s, || flag.store(true, Ordering::Relaxed));
        wg.wait();
        assert!(flag.load(Ordering::Relaxed));
        h.join().unwrap();
    });
}

#[test]
fn guard_calls_done_on_drop_and_unwind() {
    let wg = WaitGroup::new();
    {
        let _g = wg.guard();
        assert_eq!(wg.count(), 1);
    }
    assert_eq!(wg.count(), 0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = wg.guard();
        panic!("worker failed");
    }));
    assert!(r.is_err());
    assert_eq!(wg.count(), 0);
    wg.wait();
}

#[test]
fn debug_shows_counter_and_waiters() {
    let wg = WaitGroup::default();
    wg.add(3);
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 3, waiters: 0 }");
    let g = wg.guard();
    assert!(format!("{g:?}").contains("count: 4"));
    drop(g);
    wg.add(-3);
}

#[test]
fn shared_by_reference_arc_and_static() {
    fn assert_sync_send<T: Sync + Send>() {}
    assert_sync_send::<WaitGroup>();
    assert_sync_send::<gosync_waitgroup::OwnedDoneGuard>();
    static WG: WaitGroup = WaitGroup::new();
    WG.add(1);
    std::thread::spawn(|| WG.done());
    WG.wait();
}

/// Go's `BenchmarkWaitGroupUncontended`-style stress: many threads, many rounds.
#[test]
#[ignore = "stress: run in release by ci/test.sh"]
fn stress_many_rounds_many_threads() {
    let wg = WaitGroup::new();
    let work = AtomicUsize::new(0);
    for round in 0..2_000 {
        let threads = 1 + round % 7;
        wg.add(threads as isize);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    work.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            if round % 2 == 0 {
                wg.wait();
            } else {
                while !wg.wait_timeout(Duration::from_micros(50)) {}
            }
        });
    }
    let expected: usize = (0..2_000).map(|r| 1 + r % 7).sum();
    assert_eq!(work.load(Ordering::Relaxed), expected);
}

#[test]
fn wait_deadline_on_a_fake_clock_times_out_only_when_advanced() {
    use gosync_core::clock::FakeClock;
    let fake = FakeClock::new();
    let clock = fake.clock();
    let wg = WaitGroup::new();
    wg.add(1);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| wg.wait_deadline(&clock, clock.now() + Duration::from_secs(3600)));
        assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
        fake.advance(Duration::from_secs(3599));
        assert_eq!(fake.waiters(), 1, "not due yet: still waiting");
        fake.advance(Duration::from_secs(1));
        assert!(!waiter.join().unwrap());
    });
    // The timed-out waiter withdrew; a released waiter on the same clock succeeds.
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1, waiters: 0 }");
    std::thread::scope(|s| {
        let waiter = s.spawn(|| wg.wait_deadline(&clock, clock.now() + Duration::from_secs(1)));
        assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
        wg.done();
        assert!(waiter.join().unwrap());
    });
}

/// Real threads: a timed waiter gives up while the last `done` is releasing waiters and
/// at once starts the next round with `add(1)` (legal: its wait returned). The new
/// round's count must survive the release: no panic in `done`, and the final `wait`
/// waits for the new round.
#[test]
#[ignore = "stress: run in release by the test command"]
fn stress_timed_waiter_gives_up_then_adds_racing_the_release() {
    let rounds = 20_000;
    let wg = Arc::new(WaitGroup::new());
    let mut gave_up = 0;
    for _ in 0..rounds {
        wg.add(1);
        let start = Arc::new(std::sync::Barrier::new(2));
        let worker = {
            let (wg, start) = (Arc::clone(&wg), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                wg.done();
            })
        };
        start.wait();
        let released = wg.wait_timeout(Duration::from_nanos(200));
        if !released {
            gave_up += 1;
            wg.add(1); // the next round, started by the waiter that gave up
        }
        worker
            .join()
            .expect("`done` panicked: the release erased the new round");
        if !released {
            assert_eq!(wg.count(), 1, "the new round's add was lost");
            wg.done();
        }
        assert!(wg.wait_timeout(Duration::from_secs(10)));
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    }
    assert!(gave_up > 0, "no round gave up: the race was never tried");
}

/// Go's misuse panics end the process; here a caller may catch them, so they must not
/// leave the counter changed: a later `wait` returns, and the group stays usable.
#[test]
fn caught_misuse_leaves_the_group_usable() {
    let wg = WaitGroup::new();
    assert!(catch_unwind(AssertUnwindSafe(|| wg.done())).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| wg.add(-2))).is_err());
    assert_eq!(wg.count(), 0);
    assert!(
        wg.wait_timeout(Duration::from_secs(5)),
        "wedged by a caught misuse"
    );
    wg.add(i32::MAX as isize);
    assert!(catch_unwind(AssertUnwindSafe(|| wg.add(1))).is_err());
    assert_eq!(wg.count(), i32::MAX as isize);
    wg.add(-(i32::MAX as isize));
    wg.add(1);
    wg.done();
    wg.wait();
}

/// Panic safety, for every place the group runs user code: the closures of `go_static`
/// and `go_scoped` (as `go` above) count down while unwinding, the panic reaches the
/// handle, and the group is reusable at once.
#[test]
fn go_static_and_go_scoped_count_down_when_the_task_panics() {
    static WG: WaitGroup = WaitGroup::new();
    let h = WG.go_static(|| panic!("static task blew up"));
    assert!(WG.wait_timeout(Duration::from_secs(30)));
    assert_eq!(panic_text(h.join()), "static task blew up");
    assert_eq!(WG.count(), 0);

    let wg = WaitGroup::new();
    std::thread::scope(|s| {
        let h = wg.go_scoped(s, || panic!("scoped task blew up"));
        assert!(wg.wait_timeout(Duration::from_secs(30)));
        assert_eq!(panic_text(h.join()), "scoped task blew up");
    });
    assert_eq!(wg.count(), 0);
    wg.add(1);
    wg.done();
    wg.wait();
}
