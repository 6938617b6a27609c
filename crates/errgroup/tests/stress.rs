//! Release-mode stress tests (`#[ignore]`; run by `./ci/test.sh` with `--ignored`): many
//! threads racing cancels, releases and panics. Each checks an end state that any
//! lost wake-up, leaked weight or leaked key would break, with a hang guard.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gosync_context::{background, with_cancel};
use gosync_errgroup::{singleflight, Group, Semaphore};

/// Keeps the deliberate panics of these tests out of the output; any other panic is
/// reported as usual.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            let expected = text.starts_with("deliberate:")
                || text.starts_with("singleflight: the call for this key panicked");
            if !expected {
                default(info);
            }
        }));
    });
}

/// Runs `f` on a thread and fails (instead of hanging) if it takes over 5 minutes.
fn with_hang_guard(name: &str, f: impl FnOnce() + Send + 'static) {
    quiet_expected_panics();
    let (done, finished) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(300)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The test thread panicked: report its panic.
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hang: {name}"),
    }
}

#[test]
#[ignore = "stress; run in release"]
fn stress_semaphore_cancels_race_releases() {
    with_hang_guard("semaphore", || {
        const SIZE: u64 = 3;
        const THREADS: usize = 6;
        const ROUNDS: usize = 10_000;
        let sem = Arc::new(Semaphore::new(SIZE));
        let acquired = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (sem, acquired) = (Arc::clone(&sem), Arc::clone(&acquired));
                s.spawn(move || {
                    for i in 0..ROUNDS {
                        let n = 1 + ((t + i) % SIZE as usize) as u64;
                        let (ctx, cancel) = with_cancel(&background());
                        // Every third acquire is cancelled by another thread at once.
                        let canceller =
                            (i % 3 == 0).then(|| std::thread::spawn(move || cancel.cancel()));
                        if sem.acquire_context(&ctx, n).is_ok() {
                            acquired.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                            sem.release(n);
                        } else {
                            // Gave up: acquire again without a context, as a retry would.
                            sem.acquire(n);
                            sem.release(n);
                        }
                        if let Some(c) = canceller {
                            c.join().unwrap();
                        }
                    }
                });
            }
        });
        assert_eq!(sem.available(), SIZE, "weight leaked");
        assert_eq!(sem.waiters(), 0, "a waiter was left queued");
        assert!(acquired.load(Ordering::Relaxed) > 0);
    });
}

#[test]
#[ignore = "stress; run in release"]
fn stress_errgroup_errors_panics_and_limits() {
    with_hang_guard("errgroup", || {
        for round in 0..300u32 {
            let (g, ctx) = Group::<Arc<std::io::Error>>::with_context(&background());
            g.set_limit(1 + (round % 4) as isize);
            let panics = round % 5 == 0;
            for i in 0..12u32 {
                let ctx = ctx.clone();
                g.go(move || {
                    if panics && i == 7 {
                        panic!("deliberate: task {i} of round {round}");
                    }
                    if i == 5 {
                        return Err(Arc::new(std::io::Error::other(format!("{i}"))));
                    }
                    let _ = ctx.is_done();
                    Ok(())
                });
            }
            let r = catch_unwind(AssertUnwindSafe(|| g.wait()));
            match (panics, r) {
                (true, Err(_)) => {}
                (false, Ok(Err(e))) => assert_eq!(e.to_string(), "5"),
                (p, other) => panic!(
                    "round {round} (panics: {p}): {:?}",
                    other.map(|r| r.map_err(|e| e.to_string()))
                ),
            }
            assert!(ctx.is_done());
            assert!(format!("{g:?}").contains("tasks: 0,"));
        }
    });
}

#[test]
#[ignore = "stress; run in release"]
fn stress_singleflight_panics_and_forgets_leak_no_key() {
    with_hang_guard("singleflight", || {
        let g = singleflight::Group::<u8, u64>::new();
        let runs = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..6u64 {
                let (g, runs) = (g.clone(), Arc::clone(&runs));
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let key = (i % 3) as u8;
                        if i % 97 == t {
                            g.forget(&key);
                        }
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            g.run(key, || {
                                runs.fetch_add(1, Ordering::Relaxed);
                                if i % 50 == 0 {
                                    panic!("deliberate: leader {t}/{i}");
                                }
                                u64::from(key)
                            })
                        }));
                        if let Ok((v, _)) = r {
                            assert_eq!(v, u64::from(key));
                        }
                    }
                });
            }
        });
        assert!(g.is_empty(), "a key leaked");
        assert!(runs.load(Ordering::Relaxed) > 0);
    });
}

/// Threads in `acquire` / `acquire_context` and tokio tasks in `acquire_owned_async`
/// (a third of them raced against a yield in `select!`, so they are dropped at every
/// point: queued, at the head, granted but not yet polled) on one semaphore: no weight
/// leaked or lost, nobody left queued, nobody left asleep.
#[test]
#[ignore = "stress; run in release"]
fn stress_semaphore_threads_and_cancelled_tasks() {
    with_hang_guard("semaphore async", || {
        const SIZE: u64 = 3;
        const ROUNDS: u64 = 5_000;
        let sem = Arc::new(Semaphore::new(SIZE));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..6u64)
            .map(|t| {
                let sem = Arc::clone(&sem);
                rt.spawn(async move {
                    for i in 0..ROUNDS {
                        let n = 1 + (t + i) % SIZE;
                        if i % 3 == 0 {
                            tokio::select! {
                                g = sem.acquire_owned_async(n) => drop(g),
                                () = tokio::task::yield_now() => {}
                            }
                        } else {
                            let g = sem.acquire_owned_async(n).await;
                            tokio::task::yield_now().await;
                            drop(g);
                        }
                    }
                })
            })
            .collect();
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let sem = &sem;
                s.spawn(move || {
                    for i in 0..ROUNDS {
                        let n = 1 + (t + i) % SIZE;
                        let (ctx, cancel) = with_cancel(&background());
                        if i % 4 == 0 {
                            cancel.cancel();
                        }
                        if sem.acquire_context(&ctx, n).is_ok() {
                            sem.release(n);
                        }
                        drop(sem.acquire_guard(n));
                    }
                });
            }
        });
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(sem.available(), SIZE, "weight leaked");
        assert_eq!(sem.waiters(), 0, "a waiter was left queued");
    });
}

/// Tasks await `Group::wait_async` and singleflight handles while threads run the
/// group's tasks and the calls: every round's first error reaches exactly one waiter,
/// every handle gets its call's value, no key leaks.
#[test]
#[ignore = "stress; run in release"]
fn stress_group_and_singleflight_awaited() {
    with_hang_guard("errgroup and singleflight async", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let flights = singleflight::Group::<u8, u64>::new();
        rt.block_on(async {
            for round in 0..300u64 {
                let g = Group::<u64>::new();
                for i in 0..4u64 {
                    g.go(move || if i == 2 { Err(round) } else { Ok(()) });
                }
                let handles: Vec<_> = (0..4u8)
                    .map(|k| flights.spawn(k % 2, move || round * 10 + u64::from(k % 2)))
                    .collect();
                let waiter = {
                    let g = g.clone();
                    tokio::spawn(async move { g.wait_async().await })
                };
                let (a, b) = (waiter.await.unwrap(), g.wait_async().await);
                assert!(
                    (a == Err(round) && b.is_ok()) || (b == Err(round) && a.is_ok()),
                    "round {round}: {a:?} {b:?}"
                );
                for h in handles {
                    let (v, _) = h.await;
                    assert_eq!(v / 10, round);
                }
            }
        });
        while !flights.is_empty() {
            std::thread::yield_now(); // a spawned leader removes its key after publishing
        }
    });
}
